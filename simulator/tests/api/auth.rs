//! Where the API key may travel and what is refused, and that a query key is not recorded.

use proxy_solutions_sim::SimConfig;
use proxy_solutions_wire::AuthScheme;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Api, KEY, config};

#[tokio::test]
async fn header_auth_rejects_missing_wrong_key_and_wrong_prefix() {
    let api = Api::new().await;
    let url = api.url("/user/orders");
    for req in [
        api.http.get(&url),
        api.http.get(&url).bearer_auth("wrong-key"),
        api.http
            .get(&url)
            .header("Authorization", format!("Token {KEY}")),
        api.http.get(&url).header("Authorization", KEY),
        api.http.get(format!("{url}?api_key={KEY}")),
    ] {
        let (status, body) = api.send(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({"message": "Unauthorized"}));
    }
    // Auth comes before the 404 of an unknown order.
    let (status, _) = api
        .send(
            api.http
                .post(api.url("/user/orders/99999"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = api.get("/user/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["orders"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn bare_key_header_scheme() {
    let api = Api::with(SimConfig {
        auth: AuthScheme::Header {
            name: "X-Api-Key".into(),
            prefix: String::new(),
        },
        ..config()
    })
    .await;
    let url = api.url("/user/orders");
    let (status, _) = api.send(api.http.get(&url).bearer_auth(KEY)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.send(api.http.get(&url).header("X-Api-Key", KEY)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn query_param_scheme_and_key_not_recorded() {
    let api = Api::with(SimConfig {
        auth: AuthScheme::Query {
            param: "api_key".into(),
        },
        ..config()
    })
    .await;
    let url = api.url("/user/orders");
    let (status, _) = api.send(api.http.get(&url).bearer_auth(KEY)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.send(api.http.get(format!("{url}?api_key=nope"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = api
        .send(api.http.get(format!("{url}?api_key={KEY}&lang=RU")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lang"], "RU");

    let (_, log) = api.admin_get("/requests").await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[2]["query"], json!({"lang": "RU"}));
    assert!(!serde_json::to_string(&log).unwrap().contains(KEY));
    assert_eq!(
        log.iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![401, 401, 200]
    );
}
