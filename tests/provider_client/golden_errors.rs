//! The client's error reader against the error bodies of `wire/tests/golden/errors/` (see its
//! README): it gets the message, and the field errors where there are any, out of each shape.

use proxy_order_operator::provider::ProviderError;

fn golden(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/wire/tests/golden/errors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const ACTIVE_ORDER: &str = "Order 10000 is active: only authentication data (port, login, \
                            password, gen_password, ip_auth) can be changed; the quantity can be \
                            changed once the order has expired.";

#[test]
fn validation_body_gives_message_and_field_errors() {
    let err = ProviderError::from_response(422, None, &golden("validation-422.json"), &[]);
    match &err {
        ProviderError::Rejected {
            status,
            message,
            errors,
        } => {
            assert_eq!(*status, 422);
            assert_eq!(message, ACTIVE_ORDER);
            assert_eq!(errors.keys().collect::<Vec<_>>(), vec!["quantity"]);
            assert_eq!(errors["quantity"], vec![ACTIVE_ORDER.to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn message_body_gives_the_message() {
    let err = ProviderError::from_response(404, None, &golden("message.json"), &[]);
    match &err {
        ProviderError::NotFound { message } => {
            assert_eq!(message.as_deref(), Some("Order not found"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn legacy_body_gives_its_error_text() {
    let err = ProviderError::from_response(422, None, &golden("legacy-error.json"), &[]);
    match &err {
        ProviderError::Rejected {
            message, errors, ..
        } => {
            assert_eq!(message, "<text>");
            assert!(errors.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let err = ProviderError::from_response(401, None, &golden("legacy-error.json"), &[]);
    assert!(
        matches!(&err, ProviderError::Unauthorized { message: Some(m), .. } if m == "<text>"),
        "{err:?}"
    );
}
