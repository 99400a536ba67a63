//! Bad bodies from the simulator's body faults (POST /_sim/faults with body, huge_body_bytes,
//! truncate): what the client returns for each, and that no secret the body held gets into
//! the error.

use proxy_order_operator::provider::{
    ChangeRequest, ProviderClient, ProviderConfig, ProviderError, QueryOptions,
};
use proxy_solutions_sim::Simulator;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::support::{ACTIVE, KEY, admin_get, admin_post, client_for, client_with, key, sim};

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
