//! Integration tests of `proxy-solutions-sim` over real HTTP: each test starts its own
//! simulator on 127.0.0.1:0 and talks to it with raw reqwest requests.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use proxy_solutions_sim::{SimConfig, Simulator, example_orders, load_orders_file};
use proxy_solutions_wire::{AuthScheme, Order, OrderStatus, Proxy};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "test-key-1";

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn config() -> SimConfig {
    SimConfig {
        api_keys: vec![KEY.to_string()],
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, local())
        .await
        .expect("simulator starts")
}

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

struct Api {
    sim: Simulator,
    http: Client,
}

impl Api {
    async fn new() -> Api {
        Api::with(config()).await
    }

    async fn with(config: SimConfig) -> Api {
        Api {
            sim: start(config).await,
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    fn admin(&self, path: &str) -> String {
        format!("{}{path}", self.sim.admin_url())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.expect("response");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path)).bearer_auth(KEY))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).bearer_auth(KEY).json(&body))
            .await
    }

    async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(KEY)
                .header("content-type", content_type)
                .body(body.to_string()),
        )
        .await
    }

    async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.admin(path))).await
    }

    async fn admin_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.admin(path)).json(&body))
            .await
    }

    async fn admin_put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.put(self.admin(path)).json(&body)).await
    }

    async fn admin_delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(self.admin(path))).await
    }

    async fn order(&self, id: u64) -> Value {
        let (status, body) = self.admin_get(&format!("/orders/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn ips(order: &Value) -> Vec<String> {
    order["proxies"]
        .as_array()
        .expect("proxies")
        .iter()
        .map(|p| p["ip"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts the documented 422 shape and returns the messages of `field`.
fn assert_422(status: StatusCode, body: &Value, field: &str) -> Vec<String> {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let obj = body.as_object().expect("JSON object body");
    assert!(
        obj.keys().all(|k| k == "message" || k == "errors"),
        "{body}"
    );
    assert!(!body["message"].as_str().unwrap().is_empty(), "{body}");
    let msgs: Vec<String> = body["errors"][field]
        .as_array()
        .unwrap_or_else(|| panic!("errors.{field} in {body}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    assert!(!msgs.is_empty(), "{body}");
    msgs
}

fn four_proxy_waiting_order(id: u64) -> Order {
    let mut o = example_orders().remove(1);
    o.id = id;
    o.quantity = 4;
    o.proxies = Some(
        [
            "203.0.113.10",
            "203.0.113.11",
            "203.0.113.12",
            "203.0.113.13",
        ]
        .iter()
        .map(|ip| Proxy { ip: ip.to_string() })
        .collect(),
    );
    o
}

// ------------------------------------------------------------------------------------------
// Auth
// ------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------
// Change
// ------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------
// Request log
// ------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------
// Faults
// ------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------
// Perform / charge
// ------------------------------------------------------------------------------------------

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

// ------------------------------------------------------------------------------------------
// Admin API and seeding
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_put_status_and_delete() {
    let api = Api::new().await;
    let mut order = serde_json::to_value(four_proxy_waiting_order(1)).unwrap();
    order["access"]["password"] = json!("Admin-Put-Pw");
    let (status, body) = api.admin_put("/orders/30000", order.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], 30000);
    let stored = api.order(30000).await;
    assert_eq!(stored["access"]["password"], "Admin-Put-Pw");
    assert_eq!(ips(&stored).len(), 4);
    let (status, _) = api.admin_get("/orders/1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Replace: 200, and the change endpoint sees it.
    order["access"]["port"] = json!(9999);
    let (status, _) = api.admin_put("/orders/30000", order).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = api.post("/user/orders/30000", json!({})).await;
    assert_eq!(body["order"]["access"]["port"], 9999);

    let (status, body) = api
        .admin_put("/orders/30001", json!({"status": "active"}))
        .await;
    assert_422(status, &body, "service");

    let (status, body) = api
        .admin_post("/orders/30000/status", json!({"status": "frozen"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "frozen");
    let (status, body) = api.admin_post("/orders/30000/status", json!({})).await;
    assert_422(status, &body, "status");
    let (status, _) = api
        .admin_post("/orders/31234/status", json!({"status": "waiting"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = api.admin_delete("/orders/30000").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.post("/user/orders/30000", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = api.admin_get("/orders").await;
    assert_eq!(all.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn orders_file_loads_yaml_and_json() {
    let dir = std::env::temp_dir().join(format!("sim-orders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml_path = dir.join("orders.yaml");
    let json_path = dir.join("orders.json");
    let bad_path = dir.join("bad.yaml");
    let yaml = r#"
- id: 555
  status: waiting
  service: { id: 4, provider: server-proxies, name: City proxies }
  period: 30
  quantity: 2
  amount: 3.62
  allowed_operations: []
  resources_allocated: false
  access: { port: 8100, login: yamluser, password: "yaml-pw-1", ip_list: ["192.0.2.7"] }
  proxies: [ { ip: "198.51.100.200" }, { ip: "198.51.100.201" } ]
"#;
    std::fs::write(&yaml_path, yaml).unwrap();
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&example_orders()).unwrap(),
    )
    .unwrap();
    std::fs::write(&bad_path, "- id: 1\n  status: active\n  period: thirty\n").unwrap();

    let from_yaml = load_orders_file(&yaml_path).unwrap();
    assert_eq!(from_yaml.len(), 1);
    assert_eq!(from_yaml[0].id, 555);
    assert_eq!(from_yaml[0].status, OrderStatus::Waiting);
    assert_eq!(
        from_yaml[0].proxy_ips(),
        vec!["198.51.100.200", "198.51.100.201"]
    );
    assert_eq!(load_orders_file(&json_path).unwrap(), example_orders());

    let err = load_orders_file(&bad_path).unwrap_err().to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    let err = load_orders_file(&dir.join("missing.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing.yaml") && err.contains("cannot read"),
        "{err}"
    );

    // The loaded orders are what the simulator serves.
    let api = Api::with(SimConfig {
        orders: from_yaml,
        ..config()
    })
    .await;
    let o = api.order(555).await;
    assert_eq!(o["access"]["password"], "yaml-pw-1");
    assert_eq!(o["access"]["login"], "yamluser");
    let (_, list) = api.get("/user/orders").await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start(config()).await;
    let url = format!("{}/healthz", sim.admin_url());
    let http = client();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let addr = sim.addr();
    sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
