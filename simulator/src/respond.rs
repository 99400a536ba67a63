//! Response bodies and request-body parsing shared by the provider and admin APIs.
//!
//! The provider does not document its error bodies. The simulator answers 422 with
//! [`ValidationErrorBody`] (`{"message": "...", "errors": {"field": ["..."]}}`, Laravel's shape),
//! built only in [`validation_body`], and other errors with [`MessageBody`] (`{"message":
//! "..."}`), built only in [`message`]. Change those two functions (and the types in `wire/`) to
//! change the shapes everywhere.

use axum::{
    Json,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    rules::ValidationErrors,
    wire::{MessageBody, ValidationErrorBody},
};

/// The one place the 422 body is built.
pub fn validation_body(errors: &ValidationErrors) -> ValidationErrorBody {
    let total: usize = errors.0.values().map(Vec::len).sum();
    let first = errors
        .0
        .values()
        .flatten()
        .next()
        .cloned()
        .unwrap_or_else(|| "The given data was invalid.".to_string());
    let message = match total {
        0 | 1 => first,
        2 => format!("{first} (and 1 more error)"),
        n => format!("{first} (and {} more errors)", n - 1),
    };
    ValidationErrorBody {
        message,
        errors: errors.0.clone(),
    }
}

/// 422 with the validation body.
pub fn validation_error(errors: &ValidationErrors) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(validation_body(errors)),
    )
        .into_response()
}

/// Any other error: `{"message": "..."}`.
pub fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(MessageBody { message: text })).into_response()
}

pub fn unauthorized() -> Response {
    message(StatusCode::UNAUTHORIZED, "Unauthorized")
}

pub fn order_not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Order not found")
}

pub fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found")
}

pub fn method_not_allowed() -> Response {
    message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

pub fn ok<T: Serialize>(value: &T) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

/// Parses a JSON request body into `T`, turning every problem into field errors instead of a
/// panic or a plain-text rejection:
/// - a `Content-Type` other than JSON (`application/json`, `*+json`) → `body`;
/// - an empty body counts as `{}`;
/// - malformed JSON or a non-object → `body`;
/// - wrong types, missing or unknown fields → the field's name (from the error path).
pub fn parse_json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, ValidationErrors> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(ValidationErrors::single(
                "body",
                format!(
                    "The request body must be JSON (Content-Type: application/json), not `{ct}`."
                ),
            ));
        }
    }
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ValidationErrors::single("body", format!("Malformed JSON: {e}.")))?;
    if !value.is_object() {
        return Err(ValidationErrors::single(
            "body",
            "The request body must be a JSON object.",
        ));
    }
    from_json_value(value)
}

/// Deserializes a JSON value into `T`; errors are keyed by the failing field.
pub fn from_json_value<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ValidationErrors> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        let field = if path.is_empty() || path == "." {
            backticked(&msg).unwrap_or_else(|| "body".to_string())
        } else {
            path
        };
        ValidationErrors::single(field, format!("Invalid value: {msg}."))
    })
}

/// The first `` `name` `` in a serde message ("unknown field `colour`, expected ...").
fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ChangeRequest, ChargeRequest};
    use axum::http::HeaderValue;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    #[test]
    fn body_message_counts_errors() {
        let mut e = ValidationErrors::new();
        e.add("quantity", "Q bad.");
        assert_eq!(validation_body(&e).message, "Q bad.");
        e.add("port", "P bad.");
        e.add("port", "P worse.");
        let b = validation_body(&e);
        assert_eq!(b.message, "P bad. (and 2 more errors)");
        assert_eq!(b.errors["quantity"], vec!["Q bad."]);
    }

    #[test]
    fn parse_errors_name_fields() {
        let h = json_headers();
        let e = parse_json_body::<ChangeRequest>(&h, br#"{"quantity": "six"}"#).unwrap_err();
        assert_eq!(e.0.keys().collect::<Vec<_>>(), vec!["quantity"]);
        let e = parse_json_body::<ChangeRequest>(&h, br#"{"colour": 1}"#).unwrap_err();
        assert_eq!(e.0.keys().collect::<Vec<_>>(), vec!["colour"]);
        let e = parse_json_body::<ChargeRequest>(&h, br#"{"currency": "USD"}"#).unwrap_err();
        assert_eq!(e.0.keys().collect::<Vec<_>>(), vec!["merchant"]);
        let e = parse_json_body::<ChangeRequest>(&h, b"{nope").unwrap_err();
        assert!(e.field("body")[0].starts_with("Malformed JSON"));
        let e = parse_json_body::<ChangeRequest>(&h, b"[1]").unwrap_err();
        assert_eq!(e.field("body").len(), 1);
        let e = parse_json_body::<ChangeRequest>(&h, br#"{"ip_auth": "everything"}"#).unwrap_err();
        assert_eq!(e.field("ip_auth").len(), 1);
    }

    #[test]
    fn content_type_and_empty_body() {
        let mut h = HeaderMap::new();
        assert!(
            parse_json_body::<ChangeRequest>(&h, b"")
                .unwrap()
                .is_empty()
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let e = parse_json_body::<ChangeRequest>(&h, b"{}").unwrap_err();
        assert!(e.field("body")[0].contains("text/plain"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/merge-patch+json"),
        );
        assert!(parse_json_body::<ChangeRequest>(&h, b"{}").is_ok());
    }
}
