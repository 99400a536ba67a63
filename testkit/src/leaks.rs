//! The check that no secret (a canary or the test API key) leaked into the operator's log, an
//! Event or a status.

use kube::{Api, api::ListParams};
use serde_json::Value;

use crate::{API_KEY, Env};

impl Env {
    /// Fails when any canary appears in the operator's log, in an Event or in a status.
    pub async fn assert_no_leaks(&self, canaries: &[&str]) {
        let log = self.log_text();
        let events = serde_json::to_string(&self.events_all().await).unwrap();
        let statuses: Vec<Value> = self
            .orders()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|po| serde_json::to_value(&po.status).unwrap())
            .collect();
        assert_none_leaked(
            canaries,
            &log,
            &events,
            &serde_json::to_string(&statuses).unwrap(),
        );
    }

    async fn events_all(&self) -> Vec<k8s_openapi::api::events::v1::Event> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        api.list(&ListParams::default()).await.unwrap().items
    }
}

/// Fails when a canary or the test API key appears in the operator's log, the serialized
/// Events or the serialized statuses.
pub fn assert_none_leaked(canaries: &[&str], log: &str, events: &str, statuses: &str) {
    for c in canaries.iter().chain([&API_KEY]) {
        assert!(
            !log.contains(c),
            "secret {c:?} leaked into the operator log"
        );
        assert!(!events.contains(c), "secret {c:?} leaked into an Event");
        assert!(!statuses.contains(c), "secret {c:?} leaked into a status");
    }
}
