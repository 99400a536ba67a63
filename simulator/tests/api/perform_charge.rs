//! The perform and charge endpoints.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Api, assert_422, ips};

#[tokio::test]
async fn perform_happy_and_error_paths() {
    let api = Api::new().await;
    let (status, body) = api
        .post(
            "/user/orders/10002/perform",
            json!({"operation": "channels-reset"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["operation_status"], "complete");
    assert_eq!(body["order"]["id"], 10002);

    let (status, body) = api
        .post(
            "/user/orders/10002/perform",
            json!({"operation": "channels-change-ip"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_ips = ips(&body["order"]);
    assert_eq!(new_ips.len(), 1);
    assert_ne!(new_ips[0], "198.51.100.6");

    for (interval, ok) in [(0, true), (30, false), (60, true)] {
        let (status, body) = api
            .post(
                "/user/orders/10002/perform",
                json!({"operation": "channels-set-autoreset", "interval": interval}),
            )
            .await;
        if ok {
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            assert_422(status, &body, "interval");
        }
    }
    let (status, body) = api
        .post(
            "/user/orders/10000/perform",
            json!({"operation": "channels-reset"}),
        )
        .await;
    let msgs = assert_422(status, &body, "operation");
    assert!(msgs[0].contains("channels-reset"));
    let (status, body) = api.post("/user/orders/10002/perform", json!({})).await;
    assert_422(status, &body, "operation");
}

#[tokio::test]
async fn charge_from_balance_extends_other_merchants_return_url() {
    let api = Api::new().await;
    let (status, body) = api
        .post(
            "/user/orders/10001/charge",
            json!({"merchant": "balance", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["payment"]["merchant"], "balance");
    assert_eq!(body["payment"]["payer_currency"], "USD");
    assert_eq!(body["payment"]["payer_amount"], 4.5);
    assert!(body["payment"].get("url").is_none(), "{body}");
    let o = api.order(10001).await;
    assert_eq!(o["status"], "active");
    assert_eq!(o["resources_allocated"], true);

    api.admin_post("/orders/10000/status", json!({"status": "waiting"}))
        .await;
    let (status, body) = api
        .post(
            "/user/orders/10000/charge",
            json!({"merchant": "freekassa", "currency": "RUB", "period": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["payment"]["url"].as_str().unwrap();
    assert!(url.starts_with("https://pay.example.invalid/"), "{url}");
    assert_eq!(body["payment"]["payer_amount"], json!(666.08));
    assert_eq!(api.order(10000).await["status"], "waiting");

    let (status, body) = api
        .post("/user/orders/10000/charge", json!({"currency": "USD"}))
        .await;
    assert_422(status, &body, "merchant");
    let (status, body) = api
        .post("/user/orders/10000/charge", json!({"merchant": "balance"}))
        .await;
    assert_422(status, &body, "currency");
    let (status, body) = api
        .post(
            "/user/orders/10000/charge",
            json!({"merchant": "balance", "currency": "GBP"}),
        )
        .await;
    assert_422(status, &body, "currency");
    let (status, body) = api
        .post(
            "/user/orders/10000/charge",
            json!({"merchant": "balance", "currency": "USD", "period": 45}),
        )
        .await;
    assert_422(status, &body, "period");
    assert_eq!(api.order(10000).await["status"], "waiting");
}
