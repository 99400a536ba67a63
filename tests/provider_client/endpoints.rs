//! Each endpoint through the client: list, change (authentication fields, `ip_auth`, quantity),
//! perform and charge.

use proxy_order_operator::provider::{
    ChangeRequest, ChargeRequest, Currency, IpAuth, IpAuthClear, Lang, OrderStatus, PerformRequest,
    ProviderError, QueryOptions,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::support::{
    ACTIVE, EXPIRED, MOBILE, admin_get, admin_post, client_for, client_with, key, sim,
};

#[tokio::test]
async fn lists_orders_and_echoes_lang_and_currency() {
    let sim = sim().await;
    let client = client_for(&sim);
    let list = client
        .list_orders(
            &key(),
            QueryOptions {
                lang: Some(Lang::Ru),
                currency: Some(Currency::Eur),
            },
        )
        .await
        .unwrap();
    assert_eq!(list.lang, Some(Lang::Ru));
    assert_eq!(list.currency, Some(Currency::Eur));
    let ids: Vec<u64> = list.orders.iter().map(|o| o.id).collect();
    assert!(ids.contains(&ACTIVE) && ids.contains(&EXPIRED) && ids.contains(&MOBILE));
    let requests = admin_get(&sim, "/requests").await;
    assert_eq!(requests[0]["method"], "GET");
    assert_eq!(requests[0]["query"]["lang"], "RU");
}

#[tokio::test]
async fn gen_password_returns_the_new_live_password() {
    let sim = sim().await;
    let client = client_for(&sim);
    let before = admin_get(&sim, &format!("/orders/{ACTIVE}")).await;
    let resp = client
        .change_order(
            &key(),
            ACTIVE,
            &ChangeRequest {
                gen_password: Some(true),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .unwrap();
    let access = resp
        .order
        .access
        .clone()
        .expect("change response carries access");
    let new_password = access.password.expose_secret().to_string();
    assert_ne!(
        Value::String(new_password.clone()),
        before["access"]["password"]
    );
    let after = admin_get(&sim, &format!("/orders/{ACTIVE}")).await;
    assert_eq!(after["access"]["password"], Value::String(new_password));
    assert!(!resp.order.proxy_ips().is_empty());
}

#[tokio::test]
async fn auth_fields_are_applied() {
    let sim = sim().await;
    let client = client_for(&sim);
    let resp = client
        .change_order(
            &key(),
            ACTIVE,
            &ChangeRequest {
                port: Some(8123),
                login: Some("team-a".into()),
                password: Some(SecretString::from("Chosen-Pass-1")),
                ip_auth: Some(IpAuth::List(vec!["192.0.2.7".into(), "2001:db8::1".into()])),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .unwrap();
    let access = resp.order.access.unwrap();
    assert_eq!(access.port, 8123);
    assert_eq!(access.login, "team-a");
    assert_eq!(access.password.expose_secret(), "Chosen-Pass-1");
    assert_eq!(access.ip_list, vec!["192.0.2.7", "2001:db8::1"]);
    // The request log shows exactly the fields sent, with the password redacted.
    let requests = admin_get(&sim, "/requests").await;
    let body = &requests.as_array().unwrap().last().unwrap()["body"];
    assert_eq!(body["port"], 8123);
    assert_ne!(body["password"], "Chosen-Pass-1");
    assert!(body.get("quantity").is_none());
}

#[tokio::test]
async fn empty_ip_auth_clears_the_allow_list_in_both_spellings() {
    for clear in [IpAuthClear::EmptyList, IpAuthClear::ClearString] {
        let sim = sim().await;
        let client = client_with(&sim, |c| c.ip_auth_clear = clear);
        let set = ChangeRequest {
            ip_auth: Some(IpAuth::List(vec!["192.0.2.1".into()])),
            ..Default::default()
        };
        let r = client
            .change_order(&key(), ACTIVE, &set, QueryOptions::default())
            .await
            .unwrap();
        assert_eq!(r.order.access.unwrap().ip_list, vec!["192.0.2.1"]);
        let empty = ChangeRequest {
            ip_auth: Some(IpAuth::List(vec![])),
            ..Default::default()
        };
        let r = client
            .change_order(&key(), ACTIVE, &empty, QueryOptions::default())
            .await
            .unwrap();
        assert!(r.order.access.unwrap().ip_list.is_empty(), "{clear:?}");
        let requests = admin_get(&sim, "/requests").await;
        let sent = &requests.as_array().unwrap().last().unwrap()["body"]["ip_auth"];
        match clear {
            IpAuthClear::EmptyList => assert_eq!(sent, &json!([])),
            IpAuthClear::ClearString => assert_eq!(sent, &json!("clear")),
        }
    }
}

#[tokio::test]
async fn quantity_change_on_an_expired_order_replaces_the_removed_ips() {
    let sim = sim().await;
    let client = client_for(&sim);
    let before = admin_get(&sim, &format!("/orders/{EXPIRED}")).await;
    let ips: Vec<String> = before["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ip"].as_str().unwrap().to_string())
        .collect();
    let quantity = ips.len() as u32 + 2;
    let resp = client
        .change_order(
            &key(),
            EXPIRED,
            &ChangeRequest {
                quantity: Some(quantity),
                remove_proxies: Some(vec![ips[0].clone()]),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .unwrap();
    let now = resp.order.proxy_ips();
    assert_eq!(now.len() as u32, quantity);
    assert_eq!(resp.order.quantity, quantity);
    assert!(!now.contains(&ips[0]), "removed IP is gone");
    assert!(ips[1..].iter().all(|ip| now.contains(ip)), "kept IPs stay");
}

#[tokio::test]
async fn mobile_quantity_change_sends_quantity_only() {
    let sim = sim().await;
    let client = client_for(&sim);
    admin_post(
        &sim,
        &format!("/orders/{MOBILE}/status"),
        json!({"status": "waiting"}),
    )
    .await;
    let resp = client
        .change_order(
            &key(),
            MOBILE,
            &ChangeRequest {
                quantity: Some(3),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(resp.order.quantity, 3);
    assert_eq!(resp.order.status, OrderStatus::Waiting);
}

#[tokio::test]
async fn perform_and_charge() {
    let sim = sim().await;
    let client = client_for(&sim);
    let r = client
        .perform(
            &key(),
            MOBILE,
            &PerformRequest {
                operation: "channels-reset".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.operation_status, "complete");
    assert_eq!(r.order.id, MOBILE);
    let err = client
        .perform(
            &key(),
            ACTIVE,
            &PerformRequest {
                operation: "channels-reset".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err:?}");

    let c = client
        .charge(
            &key(),
            EXPIRED,
            &ChargeRequest {
                merchant: "balance".into(),
                currency: Currency::Usd,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(c.payment.merchant, "balance");
    let order = admin_get(&sim, &format!("/orders/{EXPIRED}")).await;
    assert_eq!(order["status"], "active");
}
