//! The provider client against the simulator, over real HTTP: every endpoint and every error
//! class. Each test starts its own simulator on a free loopback port.

use std::time::Duration;

use proxy_order_operator::provider::{
    ApiKey, AuthScheme, ChangeRequest, ChargeRequest, Currency, IpAuth, IpAuthClear, Lang,
    OrderStatus, PerformRequest, ProviderApi, ProviderClient, ProviderConfig, ProviderError,
    QueryOptions,
};
use proxy_solutions_sim::{SimConfig, Simulator};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "test-api-key";
const ACTIVE: u64 = 10000;
const EXPIRED: u64 = 10001;
const MOBILE: u64 = 10002;

async fn sim_with(auth: AuthScheme) -> Simulator {
    // Every test builds reqwest clients of its own (admin calls) besides the provider client.
    proxy_order_operator::provider::client::install_crypto_provider();
    let config = SimConfig {
        api_keys: vec![KEY.to_string()],
        auth,
        ..SimConfig::default()
    };
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

async fn sim() -> Simulator {
    sim_with(AuthScheme::default()).await
}

fn client_for(sim: &Simulator) -> ProviderClient {
    client_with(sim, |_| {})
}

fn client_with(sim: &Simulator, f: impl FnOnce(&mut ProviderConfig)) -> ProviderClient {
    let mut config = ProviderConfig {
        base_url: sim.base_url(),
        request_timeout: Duration::from_secs(5),
        ..ProviderConfig::default()
    };
    f(&mut config);
    ProviderClient::new(config).unwrap()
}

fn key() -> ApiKey {
    ApiKey::new(KEY)
}

async fn admin_get(sim: &Simulator, path: &str) -> Value {
    reqwest::get(format!("{}{path}", sim.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn admin_post(sim: &Simulator, path: &str, body: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.admin_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

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
async fn wrong_or_missing_key_is_unauthorized() {
    let sim = sim().await;
    let client = client_for(&sim);
    let err = client
        .list_orders(&ApiKey::new("wrong-key-canary"), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-key-canary"));
    // Right key, wrong header: still 401.
    let other_header = client_with(&sim, |c| {
        c.auth = AuthScheme::Header {
            name: "X-API-KEY".into(),
            prefix: String::new(),
        }
    });
    let err = other_header
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn query_parameter_auth_scheme_works_end_to_end() {
    let scheme = AuthScheme::Query {
        param: "api_key".into(),
    };
    let sim = sim_with(scheme.clone()).await;
    let client = client_with(&sim, |c| c.auth = scheme);
    client
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap();
    let header_client = client_for(&sim);
    let err = header_client
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn unknown_order_is_not_found() {
    let sim = sim().await;
    let err = client_for(&sim)
        .change_order(
            &key(),
            999_999,
            &ChangeRequest {
                port: Some(8000),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn quantity_on_an_active_order_is_rejected_with_the_providers_message() {
    let sim = sim().await;
    let err = client_for(&sim)
        .change_order(
            &key(),
            ACTIVE,
            &ChangeRequest {
                quantity: Some(5),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .unwrap_err();
    match &err {
        ProviderError::Rejected {
            status,
            message,
            errors,
        } => {
            assert_eq!(*status, 422);
            assert!(!message.is_empty());
            assert!(errors.contains_key("quantity"), "{errors:?}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!err.is_transient());
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let sim = sim().await;
    admin_post(
        &sim,
        "/faults",
        json!({"endpoint": "list", "status": 429, "retry_after_s": 2, "count": 1}),
    )
    .await;
    let client = client_for(&sim);
    let err = client
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert!(err.is_transient());
    // The fault fired once; the next call succeeds.
    client
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn server_errors_are_unavailable() {
    let sim = sim().await;
    admin_post(
        &sim,
        "/faults",
        json!({"endpoint": "change", "status": 503, "count": 1}),
    )
    .await;
    let err = client_for(&sim)
        .change_order(
            &key(),
            ACTIVE,
            &ChangeRequest {
                port: Some(8001),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn slow_answers_time_out() {
    let sim = sim().await;
    admin_post(
        &sim,
        "/faults",
        json!({"endpoint": "list", "latency_ms": 3000, "count": 1}),
    )
    .await;
    let client = client_with(&sim, |c| c.request_timeout = Duration::from_millis(300));
    let err = client
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn dropped_connections_are_transport_errors() {
    let sim = sim().await;
    admin_post(
        &sim,
        "/faults",
        json!({"endpoint": "list", "drop_connection": true, "count": 1}),
    )
    .await;
    let err = client_for(&sim)
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn unreachable_provider_is_a_transport_error_without_the_key() {
    proxy_order_operator::provider::client::install_crypto_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = ProviderClient::new(ProviderConfig {
        base_url: format!("http://{addr}/api"),
        auth: AuthScheme::Query {
            param: "api_key".into(),
        },
        ..Default::default()
    })
    .unwrap();
    let err = client
        .list_orders(&ApiKey::new("query-key-canary"), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("query-key-canary"));
}

/// An HTTP server answering every request with `content_type` and `body`, for response
/// bodies the simulator never produces.
async fn raw_server(content_type: &'static str, body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(response.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    format!("http://{addr}/api")
}

#[tokio::test]
async fn undecodable_bodies_are_decode_errors() {
    for (content_type, body) in [
        ("application/json", r#"{"orders""#),
        ("application/json", r#"{"orders": "no"}"#),
        ("application/json", r#"{"orders": [{"id": 1}]}"#),
        ("text/html", "<html>"),
    ] {
        let base_url = raw_server(content_type, body).await;
        let client = ProviderClient::new(ProviderConfig {
            base_url,
            ..Default::default()
        })
        .unwrap();
        let err = client
            .list_orders(&key(), QueryOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Decode(_)), "{body}: {err:?}");
        assert!(err.is_transient());
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let sim = sim().await;
    let client = client_with(&sim, |c| c.max_body_bytes = 64);
    let err = client
        .list_orders(&key(), QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("larger than 64 bytes"), "{err}");
}

// ------------------------------------------------------------------------------------------
// Bad bodies from the simulator's body faults (POST /_sim/faults with body, huge_body_bytes,
// truncate): what the client returns for each, and that no secret the body held gets into
// the error.
// ------------------------------------------------------------------------------------------

const PW_CANARY: &str = "pw-canary-body-Qx71";

/// Registers `fault` on the change endpoint (once), sends a change carrying [`PW_CANARY`] and
/// returns the error, after checking that neither the password nor the API key is in it.
async fn change_error(sim: &Simulator, client: &ProviderClient, fault: Value) -> ProviderError {
    let mut fault = fault;
    fault["endpoint"] = json!("change");
    fault["count"] = json!(1);
    admin_post(sim, "/faults", fault.clone()).await;
    let err = client
        .change_order(
            &key(),
            ACTIVE,
            &ChangeRequest {
                password: Some(SecretString::from(PW_CANARY)),
                ..Default::default()
            },
            QueryOptions::default(),
        )
        .await
        .expect_err("a bad body is an error");
    let text = format!("{err} {err:?}");
    for secret in [PW_CANARY, KEY] {
        assert!(!text.contains(secret), "{fault}: {secret} in {text}");
    }
    err
}

/// A change answer as the simulator sends it, with [`PW_CANARY`] and the API key in it.
fn canary_change_body() -> Value {
    json!({"lang": "EN", "currency": "USD", "order": {
        "id": ACTIVE, "status": "active", "service": {"id": 4, "provider": "server-proxies",
        "name": "City proxies"}, "period": 30, "quantity": 2, "amount": 3.62,
        "access": {"port": 8000, "login": KEY, "password": PW_CANARY, "ip_list": []},
        "proxies": [{"ip": "198.51.100.1"}]}})
}

#[tokio::test]
async fn malformed_2xx_bodies_are_decode_errors_without_secrets() {
    let sim = sim().await;
    let client = client_for(&sim);
    let valid = canary_change_body().to_string();
    let cases: Vec<(String, &str)> = vec![
        (format!("{valid} trailing {PW_CANARY}"), "invalid JSON"),
        (format!("{{'order': '{PW_CANARY}'}}"), "invalid JSON"),
        (valid.replace(':', "=").clone(), "invalid JSON"),
        (valid[..valid.len() - 3].to_string(), "truncated JSON"),
        (String::new(), "truncated JSON"),
        ("   ".to_string(), "truncated JSON"),
        (r#"{"id":"abc"}"#.to_string(), "unexpected JSON shape"),
        ("[]".to_string(), "unexpected JSON shape"),
        ("null".to_string(), "unexpected JSON shape"),
        (format!("\"{PW_CANARY}\""), "unexpected JSON shape"),
        (
            format!(r#"{{"order": {{"id": "{PW_CANARY}"}}}}"#),
            "unexpected JSON shape",
        ),
        (
            valid.replace(&format!(r#""password":"{PW_CANARY}""#), r#""password":5"#),
            "unexpected JSON shape",
        ),
        (
            {
                let mut v = canary_change_body();
                v["order"]["access"] = json!(5);
                v.to_string()
            },
            "unexpected JSON shape",
        ),
        (
            {
                let mut v = canary_change_body();
                v["order"]["access"]["port"] = json!(PW_CANARY);
                v.to_string()
            },
            "unexpected JSON shape",
        ),
        (
            {
                let mut v = canary_change_body();
                v["order"]["access"]["port"] = json!(70000);
                v.to_string()
            },
            "unexpected JSON shape",
        ),
    ];
    for (body, what) in cases {
        let err = change_error(&sim, &client, json!({ "body": body })).await;
        assert!(matches!(err, ProviderError::Decode(_)), "{body}: {err:?}");
        assert!(err.to_string().contains(what), "{body}: {err}");
        assert!(err.to_string().contains("200 response"), "{err}");
        assert!(err.is_transient(), "{err}");
    }
    // The same through the list endpoint.
    for body in [r#"{"orders": {}}"#, r#"{"orders": [{"id": 1}]}"#, "<html>"] {
        admin_post(
            &sim,
            "/faults",
            json!({"endpoint": "list", "body": body, "content_type": "text/html", "count": 1}),
        )
        .await;
        let err = client
            .list_orders(&key(), QueryOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Decode(_)), "{body}: {err:?}");
    }
    // The valid body itself decodes, and its Debug output hides the password.
    admin_post(
        &sim,
        "/faults",
        json!({"endpoint": "change", "body": valid, "count": 1}),
    )
    .await;
    let ok = client
        .change_order(
            &key(),
            ACTIVE,
            &ChangeRequest::default(),
            QueryOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        ok.order.access.as_ref().unwrap().password.expose_secret(),
        PW_CANARY
    );
    assert!(!format!("{ok:?}").contains(PW_CANARY));
}

#[tokio::test]
async fn truncated_bodies_are_transport_errors_without_secrets() {
    let sim = sim().await;
    let client = client_for(&sim);
    // A fault body cut after half: the password is in the half that arrived.
    let body = format!("{}{}", canary_change_body(), " ".repeat(200));
    assert!(body.find(PW_CANARY).unwrap() < body.len() / 2);
    let err = change_error(&sim, &client, json!({"body": body, "truncate": true})).await;
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
    // The simulator's own change answer, cut: the change took effect, the answer is lost.
    let err = change_error(&sim, &client, json!({"truncate": true})).await;
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    let order = admin_get(&sim, &format!("/orders/{ACTIVE}")).await;
    assert_eq!(order["access"]["password"], PW_CANARY);
    // A cut error answer is a transport error too (the status alone is not trusted).
    let err = change_error(&sim, &client, json!({"status": 422, "truncate": true})).await;
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
    // A cut huge body under the client's limit.
    let err = change_error(
        &sim,
        &client,
        json!({"huge_body_bytes": 100_000, "truncate": true}),
    )
    .await;
    assert!(matches!(err, ProviderError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn huge_bodies_are_decode_errors() {
    let sim = sim().await;
    // The client's default limit (32 MiB), one byte over.
    let client = client_for(&sim);
    let limit = ProviderConfig::default().max_body_bytes;
    let err = change_error(&sim, &client, json!({"huge_body_bytes": limit + 1})).await;
    assert!(matches!(err, ProviderError::Decode(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("larger than {limit} bytes")),
        "{err}"
    );
    // Exactly at the limit it is read, and then it is the wrong shape.
    let small = client_with(&sim, |c| c.max_body_bytes = 4096);
    let err = change_error(&sim, &small, json!({"huge_body_bytes": 4096})).await;
    assert!(err.to_string().contains("unexpected JSON shape"), "{err}");
    let err = change_error(&sim, &small, json!({"huge_body_bytes": 4097})).await;
    assert!(err.to_string().contains("larger than 4096 bytes"), "{err}");
    // Truncated beyond the limit: the limit is hit first.
    let err = change_error(
        &sim,
        &small,
        json!({"huge_body_bytes": 100_000, "truncate": true}),
    )
    .await;
    assert!(err.to_string().contains("larger than 4096 bytes"), "{err}");
}

#[tokio::test]
async fn error_pages_and_echoed_secrets_in_error_bodies() {
    let sim = sim().await;
    let client = client_for(&sim);
    let html = format!(
        "<html><head><title>502 Bad Gateway</title></head><body>upstream said \
         {{\"message\": \"{PW_CANARY}\"}} for key {KEY}</body></html>"
    );
    let err = change_error(
        &sim,
        &client,
        json!({"status": 502, "body": html, "content_type": "text/html"}),
    )
    .await;
    assert!(
        matches!(
            err,
            ProviderError::Unavailable {
                status: 502,
                retry_after: None
            }
        ),
        "{err:?}"
    );
    // JSON error bodies echoing what the request carried: kept, minus the secrets.
    let echo = format!(
        r#"{{"message": "password {PW_CANARY} rejected for key {KEY}",
             "errors": {{"password": ["{PW_CANARY} is weak"], "{PW_CANARY}": ["x"]}}}}"#
    );
    for (status, kind) in [
        (422, "rejected"),
        (400, "rejected"),
        (401, "unauthorized"),
        (404, "not_found"),
        (418, "unexpected_status"),
        (503, "unavailable"),
    ] {
        let err = change_error(&sim, &client, json!({"status": status, "body": echo})).await;
        assert_eq!(err.kind(), kind, "{status}: {err:?}");
        if status != 503 {
            assert!(err.to_string().contains("[REDACTED]"), "{status}: {err}");
        }
    }
    // A 2xx that is not 200 with the wrong body is still a decode error.
    let err = change_error(&sim, &client, json!({"status": 204, "body": ""})).await;
    assert!(matches!(err, ProviderError::Decode(_)), "{err:?}");
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
