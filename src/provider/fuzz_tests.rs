//! Property tests ("fuzzing") of how provider responses are read: the 2xx decoder
//! (`client::decode`), the classification of other answers (`ProviderError::from_response`)
//! and `parse_retry_after`, fed arbitrary bytes, arbitrary JSON values, and mutated,
//! truncated or retyped copies of real bodies as the simulator sends them.
//!
//! Properties: nothing panics; a failed decode is a `Decode` error; no error's `Display` or
//! `Debug` output contains a secret the body held (a password, or the API key the request
//! carried); a decoded order's `Debug` output does not depend on its password.
//!
//! The default of 512 cases per property keeps this module to about 3 s of a debug
//! `cargo test` on two cores (`make test` runs it). `PROPTEST_CASES` overrides every count
//! here; the long run is
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --lib provider::fuzz_tests
//! ```
//!
//! A failing case is saved under `proptest-regressions/` and replayed first from then on;
//! commit that file with the fix.

use std::{
    fmt::Debug,
    time::{Duration, UNIX_EPOCH},
};

use proptest::{
    collection::{btree_map, vec},
    prelude::*,
    sample::{Index, select},
    test_runner::TestCaseError,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    client::decode,
    error::{MAX_MESSAGE_CHARS, ProviderError, parse_retry_after},
    models::{
        Access, ChargeResponse, Currency, Lang, Order, OrderList, OrderResponse, PerformResponse,
        Proxy,
    },
};

/// The live password in the bodies (alphanumeric, so that no fixed text contains it).
const PW: &str = "pwCanary7Hq2LzR";
/// The API key the request carried: passed as a secret, and planted in bodies.
const KEY: &str = "keyCanary4Rt9VbX";
/// Secrets handed to `from_response`, as `ProviderClient` does for a change request.
const SECRETS: &[&str] = &[KEY, PW];

/// Cases per property unless `PROPTEST_CASES` is set.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

// ---------------------------------------------------------------------------------------------
// Real bodies
// ---------------------------------------------------------------------------------------------

/// Orders as the simulator holds them (generated and seeded), each with access data carrying
/// [`PW`] and proxies; the first one's login is the API key (a body may echo anything).
fn sim_orders() -> Vec<Order> {
    let mut orders = proxy_solutions_sim::generate_orders(2);
    orders.extend(proxy_solutions_sim::example_orders());
    for (i, o) in orders.iter_mut().enumerate() {
        let access = o.access.get_or_insert_with(|| Access {
            port: 8000,
            login: format!("user{}", o.id),
            password: SecretString::from(String::new()),
            ip_list: vec!["192.0.2.7".into()],
        });
        access.password = SecretString::from(PW);
        if i == 0 {
            access.login = KEY.to_string();
        }
        o.proxies.get_or_insert_with(|| {
            vec![Proxy {
                ip: format!("198.51.100.{}", i + 1),
            }]
        });
        o.converted_amount = Some(o.amount);
    }
    orders
}

/// A change answer, list answers with and without access data, and a perform answer.
fn real_bodies() -> Vec<Vec<u8>> {
    let orders = sim_orders();
    let change = OrderResponse {
        lang: Some(Lang::En),
        currency: Some(Currency::Usd),
        order: orders[0].clone(),
    };
    let list = OrderList {
        lang: Some(Lang::Ru),
        currency: Some(Currency::Eur),
        orders: orders.clone(),
    };
    let bare = OrderList {
        orders: orders
            .iter()
            .cloned()
            .map(|mut o| {
                o.access = None;
                o.proxies = None;
                o
            })
            .collect(),
        ..list.clone()
    };
    let perform = PerformResponse {
        operation_status: "complete".into(),
        order: orders[orders.len() - 1].clone(),
    };
    let bodies = vec![
        serde_json::to_vec(&change).unwrap(),
        serde_json::to_vec(&list).unwrap(),
        serde_json::to_vec(&bare).unwrap(),
        serde_json::to_vec_pretty(&perform).unwrap(),
    ];
    for b in &bodies[..2] {
        assert!(String::from_utf8_lossy(b).contains(PW));
    }
    bodies
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Field names the models and error bodies use, so that generated objects hit real paths.
const FIELDS: &[&str] = &[
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
fn text() -> impl Strategy<Value = String> {
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

fn leaf() -> impl Strategy<Value = Value> {
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
fn json_value() -> impl Strategy<Value = Value> {
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
fn shaped_value() -> impl Strategy<Value = Value> {
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
enum Edit {
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Token(Index, &'static str),
    Truncate(Index),
    Repeat(Index, Index),
}

/// JSON fragments that make for interesting breakage.
const TOKENS: &[&str] = &[
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

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), select(TOKENS)).prop_map(|(i, t)| Edit::Token(i, t)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Repeat(a, b)),
    ]
}

fn apply(body: &mut Vec<u8>, edit: &Edit) {
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
fn mutated_body() -> impl Strategy<Value = Vec<u8>> {
    (select(real_bodies()), vec(edit(), 1..8)).prop_map(|(mut body, edits)| {
        for e in &edits {
            apply(&mut body, e);
        }
        body
    })
}

/// Every JSON pointer in `v`, parents before children.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
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
fn retyped_body() -> impl Strategy<Value = Vec<u8>> {
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

fn status_code() -> impl Strategy<Value = u16> {
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

fn retry_after() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(|s| Some(Duration::from_secs(s))),
        (0u64..3600).prop_map(|s| Some(Duration::from_secs(s))),
    ]
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn no_secret(text: &str) -> Result<(), TestCaseError> {
    for s in SECRETS {
        prop_assert!(!text.contains(s), "secret {s} in {text}");
    }
    Ok(())
}

/// `Debug` of an order shows nothing of its password: it is the same with an empty one.
fn password_hidden(order: &Order) -> Result<(), TestCaseError> {
    if let Some(access) = &order.access
        && !access.password.expose_secret().is_empty()
    {
        let mut blank = order.clone();
        if let Some(a) = blank.access.as_mut() {
            a.password = SecretString::from(String::new());
        }
        prop_assert_eq!(format!("{order:?}"), format!("{blank:?}"));
    }
    Ok(())
}

/// Decodes `body` as `T`: never a panic; an error is a short `Decode` error without secrets;
/// a success hides the passwords of the orders `orders` returns.
fn check_decode_as<T: DeserializeOwned + Debug>(
    status: StatusCode,
    body: &[u8],
    orders: impl Fn(&T) -> Vec<&Order>,
) -> Result<(), TestCaseError> {
    match decode::<T>(status, body) {
        Err(e) => {
            prop_assert!(matches!(e, ProviderError::Decode(_)), "{e:?}");
            prop_assert!(e.is_transient());
            let text = format!("{e} {e:?}");
            no_secret(&text)?;
            prop_assert!(text.len() < 300, "{text}");
        }
        Ok(value) => {
            for order in orders(&value) {
                password_hidden(order)?;
            }
        }
    }
    Ok(())
}

fn check_decode(status: StatusCode, body: &[u8]) -> Result<(), TestCaseError> {
    check_decode_as::<OrderResponse>(status, body, |r| vec![&r.order])?;
    check_decode_as::<OrderList>(status, body, |l| l.orders.iter().collect())?;
    check_decode_as::<PerformResponse>(status, body, |r| vec![&r.order])?;
    check_decode_as::<ChargeResponse>(status, body, |_| vec![])
}

/// Classifies `body` as the answer of a change request that carried [`SECRETS`]: never a
/// panic, the status kept, no secret in the output, the message bounded.
fn check_from_response(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), TestCaseError> {
    let e = ProviderError::from_response(status, retry_after, body, SECRETS);
    let shown = e.to_string();
    let debug = format!("{e:?}");
    no_secret(&shown)?;
    no_secret(&debug)?;
    prop_assert_eq!(e.status(), Some(status));
    let retried = status == 429 || (500..=599).contains(&status);
    prop_assert_eq!(e.retry_after(), if retried { retry_after } else { None });
    prop_assert!(shown.chars().count() <= MAX_MESSAGE_CHARS + 100, "{shown}");
    // At most 32 fields of at most 8 messages, each cut at the limit.
    prop_assert!(debug.len() < 32 * 9 * (MAX_MESSAGE_CHARS + 8) * 4 + 1000);
    Ok(())
}

fn check_body(
    status2xx: u16,
    status: u16,
    ra: Option<Duration>,
    body: &[u8],
) -> Result<(), TestCaseError> {
    check_decode(StatusCode::from_u16(status2xx).unwrap(), body)?;
    check_from_response(status, ra, body)
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

#[test]
fn real_bodies_decode_and_hide_the_password() {
    let bodies = real_bodies();
    let change: OrderResponse = decode(StatusCode::OK, &bodies[0]).unwrap();
    assert_eq!(
        change
            .order
            .access
            .as_ref()
            .unwrap()
            .password
            .expose_secret(),
        PW
    );
    let list: OrderList = decode(StatusCode::OK, &bodies[1]).unwrap();
    assert!(list.orders.len() >= 5);
    assert!(!format!("{change:?} {list:?}").contains(PW));
    let _: OrderList = decode(StatusCode::OK, &bodies[2]).unwrap();
    let _: PerformResponse = decode(StatusCode::OK, &bodies[3]).unwrap();
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes(
        body in vec(any::<u8>(), 0..512),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn arbitrary_json_values(
        v in shaped_value(),
        pretty in any::<bool>(),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        let body = if pretty {
            serde_json::to_vec_pretty(&v).unwrap()
        } else {
            serde_json::to_vec(&v).unwrap()
        };
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn mutated_real_bodies(
        body in mutated_body(),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn retyped_real_bodies(
        body in retyped_body(),
        ok in 200u16..300,
        status in status_code(),
        ra in retry_after(),
    ) {
        check_body(ok, status, ra, &body)?;
    }

    #[test]
    fn truncated_real_bodies(body in select(real_bodies()), at in any::<Index>()) {
        let cut = &body[..at.index(body.len())];
        check_body(200, 422, None, cut)?;
        let e = decode::<OrderList>(StatusCode::OK, cut).unwrap_err();
        prop_assert!(e.to_string().contains("JSON"), "{e}");
    }

    #[test]
    fn retry_after_never_panics(
        value in prop_oneof![
            any::<String>(),
            "[ -~]{0,40}",
            "[ \t]*-?[0-9]{0,30}[ \t]*",
            "[0-9]{1,5}\\.[0-9]{1,3}",
            "(Mon|Sun|Xyz), [0-9]{1,3} (Jan|Dec|Foo) [0-9]{1,6} [0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3} (GMT|UTC|)",
            "[A-Za-z]{3,9},? [0-9]{1,2}[ -][A-Za-z]{3}[ -][0-9]{2,4} [0-9:]{8} GMT",
        ],
        now in 0u64..(1 << 40),
    ) {
        let _ = parse_retry_after(&value, UNIX_EPOCH + Duration::from_secs(now));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates(
        secs in any::<u64>(),
        ahead in 0u64..100_000_000,
        now in 0u64..(1 << 34),
    ) {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        prop_assert_eq!(
            parse_retry_after(&format!(" {secs}\t"), at(now)),
            Some(Duration::from_secs(secs))
        );
        let date = httpdate::fmt_http_date(at(now + ahead));
        prop_assert_eq!(parse_retry_after(&date, at(now)), Some(Duration::from_secs(ahead)));
        // A date in the past is no delay.
        if now > ahead {
            let past = httpdate::fmt_http_date(at(now - ahead - 1));
            prop_assert_eq!(parse_retry_after(&past, at(now)), Some(Duration::ZERO));
        }
    }
}
