//! Reading the API server's own request counters (`/metrics`, `apiserver_request_total`): the
//! requests it served for the operator's resources, by verb and resource, so that a phase's
//! writes and reads can be counted and broken down.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use kube::Client;

/// Resources the operator reads or writes (its own and the ones it watches).
const RESOURCES: &[&str] = &[
    "proxyorders",
    "secrets",
    "events",
    "leases",
    "proxyproviders",
    "namespaces",
];

/// Write verbs as `apiserver_request_total` spells them.
const WRITES: &[&str] = &[
    "POST",
    "PUT",
    "PATCH",
    "APPLY",
    "DELETE",
    "DELETECOLLECTION",
];

type Key = (String, String, String);

/// Request counts by (verb, resource, subresource), for [`RESOURCES`], and the seconds the API
/// server spent serving them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Requests(BTreeMap<Key, f64>, BTreeMap<Key, f64>);

impl Requests {
    /// What was served since `before`.
    pub(crate) fn since(&self, before: &Requests) -> Requests {
        let diff = |now: &BTreeMap<Key, f64>, then: &BTreeMap<Key, f64>| {
            now.iter()
                .map(|(k, v)| (k.clone(), v - then.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect()
        };
        Requests(diff(&self.0, &before.0), diff(&self.1, &before.1))
    }

    /// `(verb resource[/subresource], count, seconds served)`, most time first.
    pub(crate) fn time_breakdown(&self) -> Vec<(String, f64, f64)> {
        let mut out: Vec<(String, f64, f64)> = self
            .0
            .iter()
            .map(|(k, count)| (label_of(k), *count, self.1.get(k).copied().unwrap_or(0.0)))
            .collect();
        out.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        out
    }

    fn sum(&self, keep: impl Fn(&str, &str) -> bool) -> f64 {
        self.0
            .iter()
            .filter(|((verb, resource, _), _)| keep(verb, resource))
            // From +0.0 (an empty `sum()` of floats is -0.0, printed as "-0").
            .fold(0.0, |total, (_, v)| total + v)
    }

    /// Write requests for ProxyOrders, Secrets and Events (what the idle window must not see).
    pub(crate) fn object_writes(&self) -> f64 {
        self.sum(|verb, resource| {
            WRITES.contains(&verb) && matches!(resource, "proxyorders" | "secrets" | "events")
        })
    }

    /// Write requests for every resource counted.
    pub(crate) fn writes(&self) -> f64 {
        self.sum(|verb, _| WRITES.contains(&verb))
    }

    /// Single-object reads (GET). Lists and watches are the watches' own set-up, not reads a
    /// reconcile makes.
    pub(crate) fn gets(&self) -> f64 {
        self.sum(|verb, _| verb == "GET")
    }

    /// `label count` pieces, largest first, for the requests `keep` selects: e.g.
    /// `POST secrets 1000`, `APPLY proxyorders/status 1000`.
    pub(crate) fn breakdown(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = self
            .0
            .iter()
            .filter(|((verb, _, _), _)| keep(verb))
            .map(|(k, v)| (label_of(k), *v))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    pub(crate) fn write_breakdown(&self) -> Vec<(String, f64)> {
        self.breakdown(|verb| WRITES.contains(&verb))
    }

    pub(crate) fn get_breakdown(&self) -> Vec<(String, f64)> {
        self.breakdown(|verb| verb == "GET")
    }
}

/// `verb resource[/subresource]`.
fn label_of((verb, resource, sub): &Key) -> String {
    if sub.is_empty() {
        format!("{verb} {resource}")
    } else {
        format!("{verb} {resource}/{sub}")
    }
}

/// The API server's request counters now.
pub(crate) async fn requests(client: &Client) -> Result<Requests> {
    let req = axum::http::Request::get("/metrics").body(Vec::new())?;
    let text = client
        .request_text(req)
        .await
        .context("reading the API server's /metrics")?;
    let mut out = Requests::default();
    for line in text.lines() {
        // Counts, and the seconds spent (the latency histogram's sum).
        let (rest, durations) = if let Some(rest) = line.strip_prefix("apiserver_request_total{") {
            (rest, false)
        } else if let Some(rest) = line.strip_prefix("apiserver_request_duration_seconds_sum{") {
            (rest, true)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let resource = label("resource");
        if !RESOURCES.contains(&resource.as_str()) {
            continue;
        }
        let into = if durations { &mut out.1 } else { &mut out.0 };
        *into
            .entry((label("verb"), resource, label("subresource")))
            .or_default() += value.trim().parse::<f64>().unwrap_or(0.0);
    }
    Ok(out)
}
