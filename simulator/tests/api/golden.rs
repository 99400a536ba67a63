//! The simulator against the provider's published examples (`wire/tests/golden/`, see its
//! README): what its HTTP server answers has the shape of the golden answer (the same keys, the
//! same JSON types, at every depth), and the golden requests are accepted.
//!
//! The simulator's wire types are its own (`src/wire/`), not the operator's models, which are
//! tested against the same files in `wire/tests/golden.rs`; so a shape mistake on either side
//! fails one of the two.

use std::{collections::BTreeSet, path::PathBuf};

use proxy_solutions_sim::{SimConfig, wire::Order};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Api, config, ips};

fn golden(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../wire/tests/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An order of a golden answer, read with the simulator's own order type.
fn golden_order(name: &str, pointer: &str) -> Order {
    let value = golden(name).pointer(pointer).cloned().expect(pointer);
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{name}{pointer}: {e}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// How far an answer may stray from the golden shape.
#[derive(Clone, Copy)]
struct Leeway<'a> {
    /// Keys of the golden answer the actual one may leave out (for orders the simulator holds
    /// without the optional `location` or `operator`, say). Off: every golden key is required.
    missing: bool,
    /// JSON pointers (`*` for any array index) of keys the actual answer has beyond the golden
    /// one. Each use says why.
    extra: &'a [&'a str],
}

const EXACT: Leeway = Leeway {
    missing: false,
    extra: &[],
};

/// Where `actual` differs in shape from `golden`: a golden key it lacks, a key the golden
/// answer does not have, or another JSON type (integers and decimals are both numbers). Each
/// element of an array is compared with the golden array's first element; an empty golden
/// array says nothing about its elements, and an empty actual one has none to compare (the
/// tests below check the arrays that matter are not empty).
fn shape_diff(golden: &Value, actual: &Value, at: &str, leeway: Leeway, out: &mut Vec<String>) {
    match (golden, actual) {
        (Value::Object(g), Value::Object(a)) => {
            let keys: BTreeSet<&String> = g.keys().chain(a.keys()).collect();
            for key in keys {
                let path = format!("{at}/{key}");
                match (g.get(key), a.get(key)) {
                    (Some(gv), Some(av)) => shape_diff(gv, av, &path, leeway, out),
                    (Some(_), None) if !leeway.missing => out.push(format!("{path}: missing")),
                    (None, Some(_)) if !leeway.extra.contains(&path.as_str()) => {
                        out.push(format!("{path}: not in the golden answer"))
                    }
                    _ => {}
                }
            }
        }
        (Value::Array(g), Value::Array(a)) => {
            if let Some(first) = g.first() {
                for item in a {
                    shape_diff(first, item, &format!("{at}/*"), leeway, out);
                }
            }
        }
        (g, a) if kind(g) != kind(a) => {
            out.push(format!("{at}: {} instead of {}", kind(a), kind(g)))
        }
        _ => {}
    }
}

#[track_caller]
fn assert_shape(golden_name: &str, actual: &Value, leeway: Leeway) {
    let mut diff = Vec::new();
    shape_diff(&golden(golden_name), actual, "", leeway, &mut diff);
    assert!(
        diff.is_empty(),
        "the answer differs in shape from {golden_name}:\n  {}\nanswer: {actual}",
        diff.join("\n  ")
    );
}

#[test]
fn the_shape_check_sees_missing_extra_and_retyped_keys() {
    let golden = json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}], "f": []});
    let mut diff = Vec::new();
    shape_diff(&golden, &golden, "", EXACT, &mut diff);
    shape_diff(
        &golden,
        &json!({"a": 1.5, "b": {"c": "y"}, "d": [], "f": [1]}),
        "",
        EXACT,
        &mut diff,
    );
    assert!(diff.is_empty(), "{diff:?}");
    let actual = json!({"a": "1", "b": {"z": "x"}, "d": [{"e": 1}], "f": [], "g": 0});
    shape_diff(&golden, &actual, "", EXACT, &mut diff);
    assert_eq!(
        diff,
        vec![
            "/a: string instead of number",
            "/b/c: missing",
            "/b/z: not in the golden answer",
            "/d/*/e: number instead of boolean",
            "/g: not in the golden answer",
        ]
    );
    let mut diff = Vec::new();
    let leeway = Leeway {
        missing: true,
        extra: &["/g"],
    };
    shape_diff(&golden, &json!({"a": 2, "g": 0}), "", leeway, &mut diff);
    assert!(diff.is_empty(), "{diff:?}");
}

/// Orders made from the golden answers' orders, read with the simulator's order type:
/// - 10000: the list example's order (no `access` or `proxies`: the simulator fills them in);
/// - 10001: the change example's order, expired, holding the addresses the golden change
///   request drops and one more;
/// - 10002: the same, with the four addresses of the documented worked example;
/// - 10003: the change example's order as a mobile order that allows every operation.
fn golden_seed() -> SimConfig {
    let listed = golden_order("responses/list-orders.json", "/orders/0");
    let changed = golden_order("responses/change-order.json", "/order");
    let expired = |id: u64, ips: &[&str]| {
        let mut o = changed.clone();
        o.id = id;
        o.status = "waiting".into();
        o.quantity = ips.len() as u32;
        o.proxies = Some(
            ips.iter()
                .map(|ip| proxy_solutions_sim::wire::Proxy { ip: ip.to_string() })
                .collect(),
        );
        o
    };
    let mut mobile = changed.clone();
    mobile.id = 10003;
    mobile.service.name = "Mobile proxies".into();
    mobile.service.provider = "mobile-proxies".into();
    mobile.allowed_operations = proxy_solutions_sim::rules::OPERATIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    SimConfig {
        orders: vec![
            listed,
            expired(10001, &["0.0.0.0", "1.1.1.1", "10.0.0.3"]),
            expired(10002, &["0.0.0.0", "1.1.1.1", "10.0.0.4", "10.0.0.5"]),
            mobile,
        ],
        ..config()
    }
}

#[tokio::test]
async fn list_answers_have_the_golden_shape() {
    let api = Api::with(golden_seed()).await;
    let (status, body) = api.get("/user/orders").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["orders"].as_array().unwrap().len(), 4);
    assert_eq!(body["orders"][0]["id"], 10000);
    assert_eq!(body["orders"][0]["service"]["name"], "City proxies");
    assert_shape("responses/list-orders.json", &body, EXACT);

    // The default seed has orders without the optional `operator`; nothing else may differ.
    let api = Api::new().await;
    let (status, body) = api.get("/user/orders?lang=UA&currency=EUR").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let leeway = Leeway {
        missing: true,
        extra: &[],
    };
    assert_shape("responses/list-orders.json", &body, leeway);
    assert_eq!(body["orders"].as_array().unwrap().len(), 3);
}

/// The simulator echoes `lang` in the change answer as the list does; the provider's example of
/// that answer shows `currency` only (`docs/simulator.md`).
const CHANGE_EXTRA: Leeway = Leeway {
    missing: false,
    extra: &["/lang"],
};

#[tokio::test]
async fn golden_change_requests_are_accepted_with_the_golden_answer_shape() {
    let api = Api::with(golden_seed()).await;

    // Every field of the "Order changes" page, on an expired order: the two listed addresses
    // go, the quantity ends at 1, and gen_password wins over password.
    let (status, body) = api
        .post("/user/orders/10001", golden("requests/change-order.json"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_shape("responses/change-order.json", &body, CHANGE_EXTRA);
    let order = &body["order"];
    assert_eq!(order["quantity"], 1);
    assert_eq!(ips(order), vec!["10.0.0.3"]);
    let access = &order["access"];
    assert_eq!(
        (&access["port"], &access["login"], &access["ip_list"]),
        (&json!(8000), &json!("ps10000"), &json!(["192.168.1.1"]))
    );
    let password = access["password"].as_str().unwrap();
    assert!(password != "bfQQKiIOM0jT2dOJvBQh" && password != "text");

    // The worked example: an order of 4 loses 2 addresses and ends with 6.
    let (status, body) = api
        .post(
            "/user/orders/10002",
            golden("requests/change-quantity.json"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_shape("responses/change-order.json", &body, CHANGE_EXTRA);
    let kept = ips(&body["order"]);
    assert_eq!(kept.len(), 6);
    assert!(kept.contains(&"10.0.0.4".to_string()) && !kept.contains(&"0.0.0.0".to_string()));

    // Both spellings of "clear the allow-list", on the active order.
    for name in [
        "requests/change-ip-auth-empty.json",
        "requests/change-ip-auth-clear.json",
    ] {
        let (status, body) = api
            .post("/user/orders/10000", json!({"ip_auth": ["192.0.2.1"]}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = api.post("/user/orders/10000", golden(name)).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_shape("responses/change-order.json", &body, CHANGE_EXTRA);
        assert_eq!(body["order"]["access"]["ip_list"], json!([]), "{name}");
    }
}

#[tokio::test]
async fn golden_perform_and_charge_requests_are_accepted_with_the_golden_answer_shape() {
    let api = Api::with(golden_seed()).await;
    let (status, body) = api
        .post(
            "/user/orders/10003/perform",
            golden("requests/perform.json"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["operation_status"], "complete");
    assert_eq!(body["order"]["id"], 10003);
    assert_eq!(ips(&body["order"]), vec!["10.0.0.1", "10.0.0.2"]);
    assert_shape("responses/perform.json", &body, EXACT);

    let (status, body) = api
        .post("/user/orders/10000/charge", golden("requests/charge.json"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let payment = &body["payment"];
    assert_eq!(
        (&payment["merchant"], &payment["payer_currency"]),
        (&json!("freekassa"), &json!("RUB"))
    );
    assert_shape("responses/charge.json", &body, EXACT);
}

#[tokio::test]
async fn error_answers_have_the_golden_shapes() {
    let api = Api::with(golden_seed()).await;
    // A quantity change on an active order: the 422 of the golden validation body.
    let (status, body) = api.post("/user/orders/10000", json!({"quantity": 2})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_shape("errors/validation-422.json", &body, EXACT);
    assert_eq!(body, golden("errors/validation-422.json"));

    let (status, body) = api.post("/user/orders/99999", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, golden("errors/message.json"));

    let (status, body) = api
        .send(
            api.http
                .get(api.url("/user/orders"))
                .bearer_auth("not-the-key"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_shape("errors/message.json", &body, EXACT);
}
