//! Each error class the client returns: unauthorized, not found, validation, rate limit, server
//! errors, timeouts, lost connections, unreachable provider, undecodable and oversized bodies.

use std::time::Duration;

use proxy_order_operator::provider::{
    ApiKey, AuthScheme, ChangeRequest, ProviderClient, ProviderConfig, ProviderError, QueryOptions,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{ACTIVE, admin_post, client_for, client_with, key, sim, sim_with};

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
