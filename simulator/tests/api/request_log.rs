//! The request log: what is recorded, in which order, with passwords redacted, and clearing it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Api, KEY, assert_422};

#[tokio::test]
async fn request_log_lists_calls_in_order_redacted_and_clears() {
    let api = Api::new().await;
    api.get("/user/orders?lang=UA").await;
    api.post(
        "/user/orders/10000",
        json!({"password": "Secret-Canary-77", "port": 8000}),
    )
    .await;
    api.post(
        "/user/orders/10002/perform",
        json!({"operation": "channels-reset"}),
    )
    .await;
    api.post_raw(
        "/user/orders/10000",
        "application/json",
        "{\"password\": \"Raw-Canary-88\"",
    )
    .await;

    let (status, log) = api.admin_get("/requests").await;
    assert_eq!(status, StatusCode::OK);
    let text = log.to_string();
    assert!(
        !text.contains("Secret-Canary-77") && !text.contains("Raw-Canary-88"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
    let log = log.as_array().unwrap();
    let summary: Vec<(String, String, Value, u64)> = log
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["order_id"].clone(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GET".into(), "/api/user/orders".into(), Value::Null, 200),
            (
                "POST".into(),
                "/api/user/orders/10000".into(),
                json!(10000),
                200
            ),
            (
                "POST".into(),
                "/api/user/orders/10002/perform".into(),
                json!(10002),
                200
            ),
            (
                "POST".into(),
                "/api/user/orders/10000".into(),
                json!(10000),
                422
            ),
        ]
    );
    assert_eq!(log[0]["query"], json!({"lang": "UA"}));
    assert_eq!(log[0]["body"], Value::Null);
    assert_eq!(
        log[1]["body"],
        json!({"password": "[REDACTED]", "port": 8000})
    );
    assert_eq!(log[2]["body"], json!({"operation": "channels-reset"}));
    assert!(log[3]["body"].is_string());

    let (_, only) = api.admin_get("/requests?order_id=10000").await;
    assert_eq!(only.as_array().unwrap().len(), 2);
    let (status, body) = api.admin_get("/requests?order_id=x").await;
    assert_422(status, &body, "order_id");

    let (status, _) = api.admin_delete("/requests").await;
    assert_eq!(status, StatusCode::OK);
    let (_, log) = api.admin_get("/requests").await;
    assert_eq!(log, json!([]));
    // Admin calls are not recorded.
    api.admin_get("/orders").await;
    assert_eq!(api.admin_get("/requests").await.1, json!([]));
}
