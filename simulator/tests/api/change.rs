//! The change endpoint: authentication fields, quantity changes, `ip_auth`, bad bodies, empty
//! changes, and the `lang` / `currency` query parameters.

use proxy_solutions_sim::{SimConfig, example_orders};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Api, KEY, assert_422, config, four_proxy_waiting_order, ips};

#[tokio::test]
async fn unknown_order_is_404() {
    let api = Api::new().await;
    for path in [
        "/user/orders/99999",
        "/user/orders/abc",
        "/user/orders/0",
        "/user/orders/99999/perform",
        "/user/orders/99999/charge",
    ] {
        let (status, body) = api.post(path, json!({"port": 8000})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"message": "Order not found"}), "{path}");
    }
    let (status, body) = api.admin_get("/orders/99999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Order not found");
}

#[tokio::test]
async fn gen_password_returns_the_new_password() {
    let api = Api::new().await;
    let before = api.order(10000).await;
    let old = before["access"]["password"].as_str().unwrap().to_string();
    assert_eq!(old, "bfQQKiIOM0jT2dOJvBQh");

    let (status, body) = api
        .post(
            "/user/orders/10000",
            json!({"gen_password": true, "password": "ignored-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["order"]["access"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    assert_ne!(new, "ignored-pw");
    assert!(
        new.len() >= 12 && new.chars().all(|c| c.is_ascii_alphanumeric()),
        "{new}"
    );
    assert_eq!(api.order(10000).await["access"]["password"], new.as_str());
    // The change response carries the proxies as well.
    assert_eq!(ips(&body["order"]), vec!["198.51.100.1", "198.51.100.2"]);

    // An explicit password is taken as given.
    let (status, body) = api
        .post("/user/orders/10000", json!({"password": "Chosen pass 1"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["order"]["access"]["password"], "Chosen pass 1");
    assert_eq!(
        api.order(10000).await["access"]["password"],
        "Chosen pass 1"
    );
}

#[tokio::test]
async fn auth_fields_are_validated_and_applied() {
    let api = Api::new().await;
    let (status, body) = api
        .post(
            "/user/orders/10000",
            json!({"port": 9001, "login": "newlogin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["access"]["port"], 9001);
    assert_eq!(body["order"]["access"]["login"], "newlogin");

    let (status, body) = api.post("/user/orders/10000", json!({"port": 0})).await;
    assert_422(status, &body, "port");
    let (status, body) = api.post("/user/orders/10000", json!({"port": 70000})).await;
    assert_422(status, &body, "port");
    let (status, body) = api
        .post("/user/orders/10000", json!({"login": "a:b"}))
        .await;
    assert_422(status, &body, "login");
    let (status, body) = api
        .post("/user/orders/10000", json!({"password": ""}))
        .await;
    assert_422(status, &body, "password");
    // Nothing of the rejected requests was applied.
    let o = api.order(10000).await;
    assert_eq!(o["access"]["port"], 9001);
    assert_eq!(o["access"]["login"], "newlogin");
}

#[tokio::test]
async fn quantity_on_active_order_is_422_with_documented_shape() {
    let api = Api::new().await;
    let (status, body) = api.post("/user/orders/10000", json!({"quantity": 3})).await;
    let msgs = assert_422(status, &body, "quantity");
    assert!(msgs[0].contains("only authentication data"), "{body}");
    assert_eq!(body["message"], msgs[0].as_str());
    assert_eq!(api.order(10000).await["quantity"], 2);
}

#[tokio::test]
async fn remove_proxies_ip_not_in_order_is_422() {
    let api = Api::new().await;
    let (status, body) = api
        .post(
            "/user/orders/10001",
            json!({"remove_proxies": ["10.9.9.9"], "quantity": 3}),
        )
        .await;
    let msgs = assert_422(status, &body, "remove_proxies");
    assert!(msgs[0].contains("10.9.9.9"), "{body}");
    assert_eq!(ips(&api.order(10001).await).len(), 3);
}

#[tokio::test]
async fn expired_order_quantity_change_follows_the_worked_example() {
    let api = Api::with(SimConfig {
        orders: {
            let mut o = example_orders();
            o.push(four_proxy_waiting_order(20000));
            o
        },
        ..config()
    })
    .await;
    let before = ips(&api.order(20000).await);
    assert_eq!(before.len(), 4);
    let (status, body) = api
        .post(
            "/user/orders/20000",
            json!({"remove_proxies": [before[0], before[1]], "quantity": 6}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = ips(&body["order"]);
    assert_eq!(body["order"]["quantity"], 6);
    assert_eq!(after.len(), 6);
    assert!(!after.contains(&before[0]) && !after.contains(&before[1]));
    assert!(after.contains(&before[2]) && after.contains(&before[3]));
    let new: Vec<&String> = after.iter().filter(|ip| !before.contains(ip)).collect();
    assert_eq!(new.len(), 4);
    // New addresses are unique and not held by any other order.
    let (_, all) = api.admin_get("/orders").await;
    let mut every: Vec<String> = all.as_array().unwrap().iter().flat_map(ips).collect();
    let total = every.len();
    every.sort();
    every.dedup();
    assert_eq!(every.len(), total, "an address is held twice");
    assert_eq!(ips(&api.order(20000).await), after);

    // Implicitly dropping addresses is refused.
    let (status, body) = api.post("/user/orders/20000", json!({"quantity": 5})).await;
    assert_422(status, &body, "quantity");
}

#[tokio::test]
async fn mobile_orders_take_quantity_only() {
    let api = Api::new().await;
    // Active: no quantity change.
    let (status, body) = api.post("/user/orders/10002", json!({"quantity": 3})).await;
    assert_422(status, &body, "quantity");

    let (status, body) = api
        .admin_post("/orders/10002/status", json!({"status": "waiting"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "waiting");

    let (status, body) = api.post("/user/orders/10002", json!({"quantity": 3})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["quantity"], 3);
    assert_eq!(ips(&body["order"]).len(), 3);
    assert_eq!(ips(&body["order"])[0], "198.51.100.6");

    let (status, body) = api
        .post(
            "/user/orders/10002",
            json!({"quantity": 1, "remove_proxies": ["198.51.100.6"]}),
        )
        .await;
    assert_422(status, &body, "remove_proxies");

    let (status, body) = api.post("/user/orders/10002", json!({"quantity": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ips(&body["order"]), vec!["198.51.100.6"]);
}

#[tokio::test]
async fn ip_auth_set_clear_and_reject() {
    let api = Api::new().await;
    assert_eq!(
        api.order(10000).await["access"]["ip_list"],
        json!(["192.168.1.1"])
    );
    let (status, body) = api.post("/user/orders/10000", json!({"ip_auth": []})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["access"]["ip_list"], json!([]));

    for clear in [json!("clear"), json!(["clear"])] {
        let (status, _) = api
            .post(
                "/user/orders/10000",
                json!({"ip_auth": ["10.1.1.1", "2001:db8::1"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            api.order(10000).await["access"]["ip_list"],
            json!(["10.1.1.1", "2001:db8::1"])
        );
        let (status, body) = api
            .post("/user/orders/10000", json!({"ip_auth": clear}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["order"]["access"]["ip_list"], json!([]));
    }

    let (status, body) = api
        .post(
            "/user/orders/10000",
            json!({"ip_auth": ["10.1.1.1", "999.1.1.1"]}),
        )
        .await;
    let msgs = assert_422(status, &body, "ip_auth");
    assert!(msgs.iter().any(|m| m.contains("999.1.1.1")), "{body}");
    let (status, body) = api
        .post("/user/orders/10000", json!({"ip_auth": "everyone"}))
        .await;
    assert_422(status, &body, "ip_auth");
    assert_eq!(api.order(10000).await["access"]["ip_list"], json!([]));
}

#[tokio::test]
async fn bad_bodies_are_422_json_and_the_server_survives() {
    let api = Api::new().await;
    let cases: [(&str, &str, &str); 6] = [
        ("application/json", "{\"port\": 8000", "body"),
        ("application/json", "{\"quantity\": \"six\"}", "quantity"),
        (
            "application/json",
            "{\"port\": 8000, \"colour\": \"red\"}",
            "colour",
        ),
        ("application/json", "[1, 2]", "body"),
        ("application/json", "\u{0}\u{1}binary", "body"),
        ("text/plain", "{\"port\": 8000}", "body"),
    ];
    for (ct, body_text, field) in cases {
        let (status, body) = api.post_raw("/user/orders/10000", ct, body_text).await;
        assert_422(status, &body, field);
    }
    // Perform and charge too.
    let (status, body) = api
        .post_raw("/user/orders/10002/perform", "application/json", "{oops")
        .await;
    assert_422(status, &body, "body");
    let (status, body) = api
        .post(
            "/user/orders/10000/charge",
            json!({"merchant": 5, "currency": "USD"}),
        )
        .await;
    assert_422(status, &body, "merchant");

    // Wrong method → 405 with a JSON body.
    let (status, body) = api.get("/user/orders/10000").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["message"].is_string());
    let (status, _) = api
        .send(api.http.delete(api.url("/user/orders")).bearer_auth(KEY))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = api.get("/services").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].is_string());

    let (status, text) = api.admin_get("/healthz").await;
    assert_eq!((status, text), (StatusCode::OK, json!("ok")));
    let (status, _) = api.post("/user/orders/10000", json!({"port": 8123})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn empty_change_reads_or_is_rejected() {
    let api = Api::new().await;
    let (status, body) = api.post("/user/orders/10000", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order"]["access"]["password"], "bfQQKiIOM0jT2dOJvBQh");
    assert_eq!(body["order"]["id"], 10000);

    let strict = Api::with(SimConfig {
        empty_change_is_read: false,
        ..config()
    })
    .await;
    let (status, body) = strict.post("/user/orders/10000", json!({})).await;
    assert_422(status, &body, "body");
}

#[tokio::test]
async fn lang_and_currency_are_echoed_and_validated() {
    let api = Api::new().await;
    let (status, body) = api.get("/user/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["lang"].as_str(), body["currency"].as_str()),
        (Some("EN"), Some("USD"))
    );
    // The list does not include access or proxies by default.
    let first = &body["orders"][0];
    assert_eq!(first["id"], 10000);
    assert!(
        first.get("access").is_none() && first.get("proxies").is_none(),
        "{first}"
    );

    let (status, body) = api.get("/user/orders?lang=UA&currency=EUR").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["lang"].as_str(), body["currency"].as_str()),
        (Some("UA"), Some("EUR"))
    );
    assert_eq!(body["orders"][0]["converted_amount"], json!(3.33));

    let (status, body) = api.get("/user/orders?lang=DE").await;
    assert_422(status, &body, "lang");
    let (status, body) = api.get("/user/orders?currency=GBP").await;
    assert_422(status, &body, "currency");

    let (status, body) = api
        .post(
            "/user/orders/10000?lang=RU&currency=UAH",
            json!({"port": 8000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["lang"].as_str(), body["currency"].as_str()),
        (Some("RU"), Some("UAH"))
    );
    let (status, body) = api
        .post("/user/orders/10000?lang=xx", json!({"port": 8000}))
        .await;
    assert_422(status, &body, "lang");

    let with_access = Api::with(SimConfig {
        list_includes_access: true,
        ..config()
    })
    .await;
    let (_, body) = with_access.get("/user/orders").await;
    assert_eq!(body["orders"][0]["access"]["login"], "user10000");
    assert_eq!(ips(&body["orders"][0]).len(), 2);
}
