//! The client's models against the provider's published examples (`tests/golden/`, see its
//! README): every response parses with the published values, and every request the client
//! builds serializes to the published request.

use std::{collections::BTreeSet, fs, path::PathBuf};

use proxy_solutions_wire::{
    ChangeRequest, ChargeRequest, ChargeResponse, Currency, IpAuth, Lang, OrderList, OrderResponse,
    OrderStatus, PerformRequest, PerformResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

/// Every golden file and the test that covers it ("operator": `golden_errors.rs` of the
/// operator's `provider_client` tests, which read the error bodies with the client's error
/// reader). A file in the directory but not here, or the other way round, fails
/// `every_golden_file_is_covered`.
const FILES: [(&str, &str); 15] = [
    ("responses/list-orders.json", "list_answer_parses"),
    ("responses/change-order.json", "change_answer_parses"),
    ("responses/charge.json", "charge_answer_parses"),
    ("responses/perform.json", "perform_answer_parses"),
    ("responses/merchants.json", "reference only"),
    ("requests/change-order.json", "change_requests"),
    ("requests/change-quantity.json", "change_requests"),
    ("requests/change-ip-auth-empty.json", "change_requests"),
    ("requests/change-ip-auth-clear.json", "change_requests"),
    ("requests/charge.json", "charge_request_serializes"),
    ("requests/perform.json", "perform_request_serializes"),
    ("requests/create-order.json", "reference only"),
    ("errors/validation-422.json", "operator"),
    ("errors/message.json", "operator"),
    ("errors/legacy-error.json", "operator"),
];

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn golden(name: &str) -> Value {
    let path = golden_dir().join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(golden(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `request` serializes to exactly the golden request, and the golden request parses back into
/// an equal value.
fn assert_serializes_to<T>(request: &T, name: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let want = golden(name);
    let got = serde_json::to_value(request).unwrap();
    assert_eq!(got, want, "{name}");
    let back: T = parse(name);
    assert_eq!(&back, request, "{name}");
}

/// `value` with every number as a float, so that `100` and `100.0` compare equal.
fn floats(value: Value) -> Value {
    match value {
        Value::Number(n) => Value::from(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(floats).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

#[test]
fn every_golden_file_is_covered() {
    let mut on_disk = BTreeSet::new();
    for dir in ["requests", "responses", "errors"] {
        for entry in fs::read_dir(golden_dir().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            on_disk.insert(format!("{dir}/{name}"));
        }
    }
    let listed: BTreeSet<String> = FILES.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(on_disk, listed);
    // Every file is valid JSON, the reference-only ones included.
    for (name, _) in FILES {
        assert!(golden(name).is_object(), "{name}");
    }
}

#[test]
fn list_answer_parses() {
    let list: OrderList = parse("responses/list-orders.json");
    assert_eq!(list.lang, Some(Lang::En));
    assert_eq!(list.currency, Some(Currency::Usd));
    assert_eq!(list.orders.len(), 1);
    let o = &list.orders[0];
    assert_eq!(o.id, 10000);
    assert_eq!(o.status, OrderStatus::Active);
    assert_eq!(
        (
            o.service.id,
            o.service.provider.as_str(),
            o.service.name.as_str()
        ),
        (4, "server-proxies", "City proxies")
    );
    let location = o.location.as_ref().expect("location");
    assert_eq!(
        (
            location.id,
            location.kind.as_str(),
            location.name.as_str(),
            location.country_name.as_str()
        ),
        (24, "city", "New York", "USA")
    );
    let operator = o.operator.as_ref().expect("operator");
    assert_eq!((operator.id, operator.name.as_str()), (37, "Orange"));
    assert_eq!((o.period, o.quantity), (30, 1));
    assert_eq!(o.minimal_payment, Some(1.81));
    assert_eq!(o.amount, 1.81);
    assert_eq!(o.converted_amount, Some(100.0));
    assert!(o.auto_continuation);
    assert!(o.allowed_operations.is_empty());
    assert!(o.resources_allocated);
    // The list example carries no credentials and no addresses.
    assert!(o.access.is_none());
    assert!(o.proxies.is_none());
    assert!(!o.status.is_expired());
    assert!(!o.is_mobile());
}

#[test]
fn change_answer_parses() {
    let answer: OrderResponse = parse("responses/change-order.json");
    assert_eq!(answer.lang, None);
    assert_eq!(answer.currency, Some(Currency::Usd));
    let o = &answer.order;
    assert_eq!(o.id, 10000);
    assert_eq!(o.status, OrderStatus::Active);
    assert_eq!(o.service.name, "City proxies");
    assert_eq!(o.location.as_ref().unwrap().kind, "city");
    assert_eq!(o.operator.as_ref().unwrap().id, 37);
    assert_eq!(o.converted_amount, Some(100.0));
    let access = o.access.as_ref().expect("access");
    assert_eq!(access.port, 8000);
    assert_eq!(access.login, "text");
    assert_eq!(access.password.expose_secret(), "text");
    assert_eq!(access.ip_list, vec!["192.168.1.1"]);
    assert_eq!(o.proxy_ips(), vec!["10.0.0.1", "10.0.0.2"]);
    // The model writes the answer back out with nothing lost or added (`100` comes back as
    // `100.0`: money is a float).
    assert_eq!(
        floats(serde_json::to_value(&answer).unwrap()),
        floats(golden("responses/change-order.json"))
    );
}

#[test]
fn perform_answer_parses() {
    let answer: PerformResponse = parse("responses/perform.json");
    assert_eq!(answer.operation_status, "complete");
    assert_eq!(answer.order.id, 10000);
    assert_eq!(answer.order.status, OrderStatus::Active);
    assert_eq!(answer.order.access.as_ref().unwrap().port, 8000);
    assert_eq!(answer.order.proxy_ips().len(), 2);
}

#[test]
fn charge_answer_parses() {
    let answer: ChargeResponse = parse("responses/charge.json");
    let p = &answer.payment;
    assert_eq!(p.discount, 10.0);
    assert_eq!(p.merchant, "freekassa");
    assert_eq!(p.payer_currency, Currency::Rub);
    assert_eq!(p.payer_amount, 90.0);
    assert_eq!(
        p.url.as_deref(),
        Some(
            "https://pay.freekassa.ru?m=545&oa=250.00&currency=RUB&o=53951&s=9e9607935d6c6567f731118931070455"
        )
    );
}

#[test]
fn change_requests() {
    let every_field = ChangeRequest {
        quantity: Some(1),
        remove_proxies: Some(vec!["0.0.0.0".into(), "1.1.1.1".into()]),
        port: Some(8000),
        login: Some("ps10000".into()),
        password: Some(SecretString::from("bfQQKiIOM0jT2dOJvBQh")),
        gen_password: Some(true),
        ip_auth: Some(IpAuth::List(vec!["192.168.1.1".into()])),
    };
    assert_serializes_to(&every_field, "requests/change-order.json");

    let worked_example = ChangeRequest {
        remove_proxies: Some(vec!["0.0.0.0".into(), "1.1.1.1".into()]),
        quantity: Some(6),
        ..Default::default()
    };
    assert_serializes_to(&worked_example, "requests/change-quantity.json");
    assert!(!worked_example.is_auth_only());

    let empty_list = ChangeRequest {
        ip_auth: Some(IpAuth::List(vec![])),
        ..Default::default()
    };
    assert_serializes_to(&empty_list, "requests/change-ip-auth-empty.json");
    let clear = ChangeRequest {
        ip_auth: Some(IpAuth::Clear),
        ..Default::default()
    };
    assert_serializes_to(&clear, "requests/change-ip-auth-clear.json");
}

#[test]
fn charge_request_serializes() {
    let request = ChargeRequest {
        merchant: "freekassa".into(),
        currency: Currency::Rub,
        period: Some(60),
        promocode: Some("PSPromo".into()),
    };
    assert_serializes_to(&request, "requests/charge.json");
}

#[test]
fn perform_request_serializes() {
    let request = PerformRequest {
        operation: "channels-reset".into(),
        channels: Some(vec![1401, 1402]),
        location_id: Some(8),
        operator_id: Some(8),
        interval: Some(60),
    };
    assert_serializes_to(&request, "requests/perform.json");
}
