//! What the tests share: a simulator started with a test key, and [`Api`], which calls its
//! provider and admin APIs and reads the answers as JSON.

use std::{net::SocketAddr, time::Duration};

use proxy_solutions_sim::wire::{Order, Proxy};
use proxy_solutions_sim::{SimConfig, Simulator, example_orders};
use reqwest::{Client, StatusCode};
use serde_json::Value;

pub(crate) const KEY: &str = "test-key-1";

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub(crate) fn config() -> SimConfig {
    SimConfig {
        api_keys: vec![KEY.to_string()],
        ..SimConfig::default()
    }
}

pub(crate) async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, local())
        .await
        .expect("simulator starts")
}

pub(crate) fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub(crate) struct Api {
    pub(crate) sim: Simulator,
    pub(crate) http: Client,
}

impl Api {
    pub(crate) async fn new() -> Api {
        Api::with(config()).await
    }

    pub(crate) async fn with(config: SimConfig) -> Api {
        Api {
            sim: start(config).await,
            http: client(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    pub(crate) fn admin(&self, path: &str) -> String {
        format!("{}{path}", self.sim.admin_url())
    }

    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
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

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path)).bearer_auth(KEY))
            .await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).bearer_auth(KEY).json(&body))
            .await
    }

    pub(crate) async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(KEY)
                .header("content-type", content_type)
                .body(body.to_string()),
        )
        .await
    }

    pub(crate) async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.admin(path))).await
    }

    pub(crate) async fn admin_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.admin(path)).json(&body))
            .await
    }

    pub(crate) async fn admin_put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.put(self.admin(path)).json(&body)).await
    }

    pub(crate) async fn admin_delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(self.admin(path))).await
    }

    pub(crate) async fn order(&self, id: u64) -> Value {
        let (status, body) = self.admin_get(&format!("/orders/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

pub(crate) fn ips(order: &Value) -> Vec<String> {
    order["proxies"]
        .as_array()
        .expect("proxies")
        .iter()
        .map(|p| p["ip"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts the documented 422 shape and returns the messages of `field`.
pub(crate) fn assert_422(status: StatusCode, body: &Value, field: &str) -> Vec<String> {
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

pub(crate) fn four_proxy_waiting_order(id: u64) -> Order {
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
