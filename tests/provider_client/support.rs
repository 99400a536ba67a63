//! What the tests share: a simulator with the test key and the example orders, provider
//! clients for it, and calls to its admin API.

use std::time::Duration;

use proxy_order_operator::provider::{ApiKey, AuthScheme, ProviderClient, ProviderConfig};
use proxy_solutions_sim::{SimConfig, Simulator};
use serde_json::Value;

pub(crate) const KEY: &str = "test-api-key";
pub(crate) const ACTIVE: u64 = 10000;
pub(crate) const EXPIRED: u64 = 10001;
pub(crate) const MOBILE: u64 = 10002;

pub(crate) async fn sim_with(auth: AuthScheme) -> Simulator {
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

pub(crate) async fn sim() -> Simulator {
    sim_with(AuthScheme::default()).await
}

/// A simulator whose active orders are real proxies on loopback addresses.
pub(crate) async fn sim_with_proxies() -> Simulator {
    proxy_order_operator::provider::client::install_crypto_provider();
    let config = SimConfig {
        api_keys: vec![KEY.to_string()],
        proxy_listeners: true,
        ..SimConfig::default()
    };
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

pub(crate) fn client_for(sim: &Simulator) -> ProviderClient {
    client_with(sim, |_| {})
}

pub(crate) fn client_with(sim: &Simulator, f: impl FnOnce(&mut ProviderConfig)) -> ProviderClient {
    let mut config = ProviderConfig {
        base_url: sim.base_url(),
        request_timeout: Duration::from_secs(5),
        ..ProviderConfig::default()
    };
    f(&mut config);
    ProviderClient::new(config).unwrap()
}

pub(crate) fn key() -> ApiKey {
    ApiKey::new(KEY)
}

pub(crate) async fn admin_get(sim: &Simulator, path: &str) -> Value {
    reqwest::get(format!("{}{path}", sim.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn admin_post(sim: &Simulator, path: &str, body: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.admin_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}
