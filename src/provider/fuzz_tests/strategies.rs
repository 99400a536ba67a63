//! Strategies of the property tests: arbitrary JSON, texts carrying secrets, and mutations
//! of real bodies.

use super::*;

/// Field names the models and error bodies use, so that generated objects hit real paths.
pub(super) const FIELDS: &[&str] = &[
    "order",
    "orders",
    "lang",
    "currency",
    "id",
    "status",
    "service",
    "provider",
    "name",
    "location",
    "type",
    "operator",
    "period",
    "quantity",
    "amount",
    "minimal_payment",
    "converted_amount",
    "auto_continuation",
    "allowed_operations",
    "resources_allocated",
    "access",
    "port",
    "login",
    "password",
    "ip_list",
    "proxies",
    "ip",
    "operation_status",
    "payment",
    "merchant",
    "payer_currency",
    "payer_amount",
    "message",
    "error",
    "detail",
    "errors",
];

/// Strings, often carrying a secret: alone, inside other text, after a long run (around the
/// message length limit), percent-encoded, or JSON-escaped in the body.
pub(super) fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,24}",
        2 => any::<String>(),
        1 => select(FIELDS).prop_map(String::from),
        1 => Just("EN".to_string()),
        1 => Just("USD".to_string()),
        2 => select(SECRETS).prop_map(String::from),
        2 => ("[ -~]{0,16}", select(SECRETS), "[ -~\n\t]{0,16}")
            .prop_map(|(a, s, b)| format!("{a}{s}{b}")),
        1 => (0usize..700, select(SECRETS)).prop_map(|(n, s)| format!("{}{s}", "x".repeat(n))),
        1 => Just(
            percent_encoding::utf8_percent_encode(KEY, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        ),
    ]
}

pub(super) fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..70_000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

/// Any JSON value, up to a few levels deep, with keys mostly from [`FIELDS`].
pub(super) fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![3 => select(FIELDS).prop_map(String::from), 1 => text()];
    leaf().prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Values shaped like the documented bodies at the top, anything below.
pub(super) fn shaped_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value().prop_map(|v| json!({"lang": "EN", "order": v})),
        vec(json_value(), 0..4).prop_map(|v| json!({"orders": v})),
        (
            text(),
            btree_map(text(), vec(text(), 0..10), 0..40),
            json_value()
        )
            .prop_map(|(m, errors, detail)| json!({
                "message": m, "errors": errors, "detail": detail
            })),
        (select(&["message", "error", "detail"][..]), json_value())
            .prop_map(|(k, v)| json!({ k: v })),
        json_value(),
    ]
}

/// One edit of a body's bytes.
#[derive(Clone, Debug)]
pub(super) enum Edit {
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Token(Index, &'static str),
    Truncate(Index),
    Repeat(Index, Index),
}

/// JSON fragments that make for interesting breakage.
pub(super) const TOKENS: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\\",
    "null",
    "true",
    "-",
    "-0",
    "1e999",
    "0.5",
    "18446744073709551616",
    "-1",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\u{feff}",
    "\u{0}",
    "é",
    " ",
    "\n",
    "/*",
    PW,
    KEY,
];

pub(super) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), select(TOKENS)).prop_map(|(i, t)| Edit::Token(i, t)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Repeat(a, b)),
    ]
}

pub(super) fn apply(body: &mut Vec<u8>, edit: &Edit) {
    // Positions in 0..=len (so the end is reachable).
    let at = |i: &Index, len: usize| i.index(len + 1);
    match edit {
        Edit::Set(i, b) if !body.is_empty() => {
            let n = i.index(body.len());
            body[n] = *b;
        }
        Edit::Insert(i, b) => body.insert(at(i, body.len()), *b),
        Edit::Delete(i) if !body.is_empty() => {
            body.remove(i.index(body.len()));
        }
        Edit::Token(i, t) => {
            let n = at(i, body.len());
            body.splice(n..n, t.bytes());
        }
        Edit::Truncate(i) => body.truncate(at(i, body.len())),
        Edit::Repeat(a, b) => {
            let (x, y) = (at(a, body.len()), at(b, body.len()));
            let (x, y) = (x.min(y), x.max(y).min(x.min(y) + 256));
            let part = body[x..y].to_vec();
            body.splice(y..y, part);
        }
        _ => {}
    }
}

/// A real body with a few byte-level edits.
pub(super) fn mutated_body() -> impl Strategy<Value = Vec<u8>> {
    (select(real_bodies()), vec(edit(), 1..8)).prop_map(|(mut body, edits)| {
        for e in &edits {
            apply(&mut body, e);
        }
        body
    })
}

/// Every JSON pointer in `v`, parents before children.
pub(super) fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(c, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A real body with one node (or a few) replaced by an arbitrary value: wrong types, missing
/// parts, extra nesting. Half of the time the result is also cut at a random byte.
pub(super) fn retyped_body() -> impl Strategy<Value = Vec<u8>> {
    let bodies: Vec<Value> = real_bodies()
        .iter()
        .map(|b| serde_json::from_slice(b).unwrap())
        .collect();
    (
        select(bodies),
        vec((any::<Index>(), json_value()), 1..4),
        any::<bool>(),
        any::<Index>(),
    )
        .prop_map(|(mut v, swaps, cut, at)| {
            for (i, new) in swaps {
                let mut all = Vec::new();
                pointers(&v, String::new(), &mut all);
                let p = i.get(&all).clone();
                match v.pointer_mut(&p) {
                    Some(node) => *node = new,
                    None => v = new,
                }
            }
            let mut body = serde_json::to_vec(&v).unwrap();
            if cut {
                body.truncate(at.index(body.len() + 1));
            }
            body
        })
}

pub(super) fn status_code() -> impl Strategy<Value = u16> {
    prop_oneof![
        any::<u16>(),
        100u16..600,
        select(
            &[
                400u16, 401, 403, 404, 409, 418, 422, 429, 500, 502, 503, 504
            ][..]
        ),
    ]
}

pub(super) fn retry_after() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(|s| Some(Duration::from_secs(s))),
        (0u64..3600).prop_map(|s| Some(Duration::from_secs(s))),
    ]
}
