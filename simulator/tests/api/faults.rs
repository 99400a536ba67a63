//! Injected faults over the wire: statuses, latency, dropped connections, raw, huge and
//! truncated bodies, and the validation of fault specs.

use std::time::{Duration, Instant};

use proxy_solutions_sim::Simulator;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, KEY, assert_422};

#[tokio::test]
async fn fault_503_with_retry_after_fires_count_times_then_stops() {
    let api = Api::new().await;
    let (status, fault) = api
        .admin_post(
            "/faults",
            json!({"endpoint": "change", "status": 503, "retry_after_s": 2, "count": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fault}");
    assert_eq!(fault["remaining"], 1);

    // Other endpoints are not affected.
    assert_eq!(api.get("/user/orders").await.0, StatusCode::OK);

    let resp = api
        .http
        .post(api.url("/user/orders/10000"))
        .bearer_auth(KEY)
        .json(&json!({"port": 8000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Service Unavailable"),
        "{body}"
    );

    let (status, _) = api.post("/user/orders/10000", json!({"port": 8000})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.admin_get("/faults").await.1, json!([]));
}

#[tokio::test]
async fn faults_apply_before_auth() {
    let api = Api::new().await;
    api.admin_post("/faults", json!({"endpoint": "list", "status": 500}))
        .await;
    let (status, body) = api.send(api.http.get(api.url("/user/orders"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body["message"].is_string());
    let (status, body) = api.admin_delete("/faults").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["cleared"], 1);
    let (status, _) = api.send(api.http.get(api.url("/user/orders"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fault_with_rate_zero_never_fires() {
    let api = Api::new().await;
    api.admin_post("/faults", json!({"status": 500, "rate": 0.0}))
        .await;
    for _ in 0..20 {
        assert_eq!(api.get("/user/orders").await.0, StatusCode::OK);
    }
    let (_, faults) = api.admin_get("/faults").await;
    assert_eq!(faults[0]["fired"], 0);
    assert_eq!(faults[0]["rate"], 0.0);
}

#[tokio::test]
async fn latency_fault_delays_then_the_handler_runs() {
    let api = Api::new().await;
    api.admin_post(
        "/faults",
        json!({"endpoint": "list", "latency_ms": 300, "count": 1}),
    )
    .await;
    let t = Instant::now();
    let (status, body) = api.get("/user/orders").await;
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["orders"].as_array().unwrap().len(), 3);
    let t = Instant::now();
    api.get("/user/orders").await;
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn drop_connection_gives_a_connection_error() {
    let api = Api::new().await;
    api.admin_post(
        "/faults",
        json!({"endpoint": "change", "drop_connection": true, "count": 1}),
    )
    .await;
    let fresh = Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = fresh
        .post(api.url("/user/orders/10000"))
        .bearer_auth(KEY)
        .json(&json!({"port": 8000}))
        .send()
        .await
        .expect_err("the connection is dropped without a response");
    assert!(err.status().is_none(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");

    // The server is fine afterwards, and the dropped call is logged with status 0.
    let (status, _) = api.post("/user/orders/10000", json!({"port": 8000})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, log) = api.admin_get("/requests").await;
    let statuses: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![0, 200]);
}

#[tokio::test]
async fn invalid_faults_are_rejected() {
    let api = Api::new().await;
    let (status, body) = api
        .admin_post("/faults", json!({"endpoint": "change"}))
        .await;
    assert_422(status, &body, "fault");
    let (status, body) = api
        .admin_post("/faults", json!({"status": 503, "rate": 2}))
        .await;
    assert_422(status, &body, "rate");
    let (status, body) = api
        .admin_post("/faults", json!({"endpoint": "everything", "status": 503}))
        .await;
    assert_422(status, &body, "endpoint");
    assert_eq!(api.admin_get("/faults").await.1, json!([]));
}

/// Sends one raw HTTP/1.1 request and reads until the server closes the connection (or 5 s
/// pass): the response head, and the body bytes that arrived.
async fn raw_exchange(sim: &Simulator, request: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server did not close the connection");
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(got[..split].to_vec()).unwrap();
    (head, got[split + 4..].to_vec())
}

fn change_request(body: &str) -> String {
    format!(
        "POST /api/user/orders/10000 HTTP/1.1\r\nhost: sim\r\nauthorization: Bearer {KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no content-length in {head}"))
}

#[tokio::test]
async fn body_fault_answers_with_the_raw_body() {
    let api = Api::new().await;
    let (status, fault) = api
        .admin_post(
            "/faults",
            json!({"endpoint": "change", "body": "{\"order\": [", "count": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fault}");
    assert_eq!(fault["body"], "{\"order\": [");
    // The list is not affected.
    assert_eq!(api.get("/user/orders").await.0, StatusCode::OK);
    let resp = api
        .http
        .post(api.url("/user/orders/10000"))
        .json(&json!({"port": 8123}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), "{\"order\": [");
    // Instead of the handler (and before auth): the order did not change.
    assert_eq!(api.order(10000).await["access"]["port"], 8000);

    // An HTML error page, with a status and a content type of its own.
    api.admin_post(
        "/faults",
        json!({"status": 502, "body": "<html><body>Bad Gateway</body></html>",
               "content_type": "text/html; charset=utf-8", "retry_after_s": 3, "count": 1}),
    )
    .await;
    let resp = api
        .http
        .get(api.url("/user/orders"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(resp.headers()["retry-after"], "3");
    assert!(resp.text().await.unwrap().contains("Bad Gateway"));

    // An empty 200.
    api.admin_post("/faults", json!({"body": "", "count": 1}))
        .await;
    let resp = api
        .http
        .get(api.url("/user/orders"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], "0");
    assert_eq!(resp.text().await.unwrap(), "");

    let (_, log) = api.admin_get("/requests").await;
    let statuses: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![200, 200, 502, 200]);
    assert_eq!(api.admin_get("/faults").await.1, json!([]));
}

#[tokio::test]
async fn huge_body_fault_streams_that_many_bytes() {
    let api = Api::new().await;
    let n: usize = 5 * 1024 * 1024 + 3;
    api.admin_post(
        "/faults",
        json!({"endpoint": "list", "huge_body_bytes": n, "count": 1}),
    )
    .await;
    let resp = api
        .http
        .get(api.url("/user/orders"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], n.to_string().as_str());
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), n);
    // It reads as JSON, just not as any answer the API documents.
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("huge body"),
        "{}",
        v["message"]
    );
    let padding = v["padding"].as_str().unwrap();
    assert!(n - padding.len() < 100 && padding.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn truncate_sends_about_half_then_closes_the_connection() {
    let api = Api::new().await;

    // A fault body: the full length is announced, half of it arrives.
    let text = format!("{{\"message\": \"{}\"}}", "y".repeat(1000));
    api.admin_post(
        "/faults",
        json!({"endpoint": "change", "body": text, "truncate": true, "count": 1}),
    )
    .await;
    let (head, body) = raw_exchange(&api.sim, &change_request(r#"{"port": 8124}"#)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(content_length(&head), text.len());
    assert_eq!(body, text.as_bytes()[..text.len() / 2]);
    assert_eq!(api.order(10000).await["access"]["port"], 8000);

    // Alone, it cuts the API's own answer: the change is carried out, its answer (with the
    // new password) arrives only in part.
    api.admin_post(
        "/faults",
        json!({"endpoint": "change", "truncate": true, "count": 1}),
    )
    .await;
    let (head, body) = raw_exchange(
        &api.sim,
        &change_request(r#"{"port": 8125, "gen_password": true}"#),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let full = content_length(&head);
    assert!(
        body.len() < full && body.len() >= full / 2 - 1,
        "{} of {full}",
        body.len()
    );
    assert!(body.starts_with(b"{"), "{}", String::from_utf8_lossy(&body));
    let order = api.order(10000).await;
    assert_eq!(order["access"]["port"], 8125);

    // With a status: the injected message, cut.
    api.admin_post(
        "/faults",
        json!({"status": 503, "truncate": true, "count": 1}),
    )
    .await;
    let (head, body) = raw_exchange(&api.sim, &change_request("{}")).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(body.len() < content_length(&head));

    // A huge body, cut.
    api.admin_post(
        "/faults",
        json!({"huge_body_bytes": 1_000_000, "truncate": true, "count": 1}),
    )
    .await;
    let (head, body) = raw_exchange(&api.sim, &change_request("{}")).await;
    assert_eq!(content_length(&head), 1_000_000);
    assert_eq!(body.len(), 500_000);

    // The server is fine afterwards; truncated answers are logged with the status they
    // announced.
    let (status, _) = api.post("/user/orders/10000", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, log) = api.admin_get("/requests").await;
    let statuses: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![200, 200, 503, 200, 200]);
}

#[tokio::test]
async fn invalid_body_faults_are_rejected() {
    let api = Api::new().await;
    for (fault, field) in [
        (
            json!({"body": "x", "huge_body_bytes": 5}),
            "huge_body_bytes",
        ),
        (json!({"huge_body_bytes": 0}), "huge_body_bytes"),
        (
            json!({"huge_body_bytes": 300_000_000u64}),
            "huge_body_bytes",
        ),
        (
            json!({"status": 500, "content_type": "text/html"}),
            "content_type",
        ),
        (
            json!({"drop_connection": true, "body": "x"}),
            "drop_connection",
        ),
        (json!({"body": "", "truncate": true}), "truncate"),
        (json!({"body": 5}), "body"),
        (json!({"body_bytes": 5}), "body_bytes"),
    ] {
        let (status, body) = api.admin_post("/faults", fault.clone()).await;
        assert_422(status, &body, field);
    }
    assert_eq!(api.admin_get("/faults").await.1, json!([]));
}
