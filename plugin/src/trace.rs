//! `kubectl pxo status` / `trace`: a ProxyOrder and everything it depends on, read with the
//! user's rights. A part the user may not read (a ProxyProvider, the claim in the operator's
//! namespace) is shown as such, and the rest is still shown. Values of Secrets are never read
//! into the output: only their keys.

use std::collections::BTreeMap;
use std::io::Write;

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    coordination::v1::Lease,
    core::v1::{Event, Secret},
};
use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, ObjectList},
};
use proxy_order_api::{
    AccessSummary, CLAIM_LABEL, CREDENTIALS_HASH_ANNOTATION, HOLDER_ANNOTATION, HOLDER_UID_LABEL,
    MANAGED_BY_LABEL, ORDER_ID_ANNOTATION, OrderSummary, PAUSED_ANNOTATION, PendingRequest,
    PlannedChange, ProxyOrder, ProxyProvider, RESERVED_FOR_LABEL, RESERVED_UNTIL_ANNOTATION,
    ROTATE_PASSWORD_ANNOTATION, RolloutTarget, SYNC_REQUESTED_ANNOTATION, WorkloadKind,
    conditions::READY, proxy_provider::DEFAULT_KEY,
};
use serde::Serialize;

use crate::cluster::{self, Cluster, DEFAULT_OPERATOR_NAMESPACE, Request};

/// How `status` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Tree,
    Json,
    Yaml,
}

/// Everything `status` shows.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub proxy_order: OrderView,
    pub provider: ProviderView,
    pub claim: ClaimView,
    /// The order as the operator last read it from the provider (`status.order`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessSummary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<String>,
    pub secret: SecretView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutView>,
    pub conditions: Vec<ConditionView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_changes: Vec<PlannedChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_request: Option<PendingRequest>,
    pub events: EventsView,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub namespace: String,
    pub name: String,
    pub order_id: u64,
    pub management_policy: String,
    pub deletion_policy: String,
    pub paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// The operator's annotations on the ProxyOrder (rotate, sync, approve, paused, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// A rotate or sync token not yet carried out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
}

/// Which provider account the ProxyOrder uses. Never the API key.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    /// `ProxyProvider`, `Secret` (the ProxyOrder's own `apiKeySecretRef`) or `OperatorDefault`
    /// (the operator's `--default-api-key-secret`).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where the API key is: `namespace/name`, and the key's name in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<ConditionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The Lease that reserves the order for this ProxyOrder.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Lease's namespace (the operator's), or where it was looked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The credentials Secret: its keys, never their values.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub name: String,
    pub exists: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    /// The hash every target carried when `RolloutsUpdated` last became True.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub targets: Vec<TargetView>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    pub kind: String,
    /// The name, or the selector as a list query.
    pub target: String,
    pub workloads: Vec<WorkloadView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadView {
    pub name: String,
    /// The credentials hash on its Pod template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Whether that is the hash the operator last rolled out.
    pub current: bool,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConditionView {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventsView {
    pub latest: Vec<EventView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub time: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
}

/// `kubectl pxo status NAME`.
pub async fn run(
    cluster: &Cluster,
    name: &str,
    format: Format,
    events: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let trace = gather(cluster, name, events).await?;
    match format {
        Format::Tree => out.write_all(render(&trace).as_bytes())?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&trace)?)?,
        Format::Yaml => out.write_all(serde_yaml::to_string(&trace)?.as_bytes())?,
    }
    Ok(())
}

/// Reads the ProxyOrder (which must be readable) and each part it depends on (each may fail
/// alone).
pub async fn gather(cluster: &Cluster, name: &str, events: usize) -> anyhow::Result<Trace> {
    let ns = cluster.namespace.as_str();
    let client = &cluster.client;
    let po = get_proxy_order(client, ns, name).await?;
    let st = po.status.clone().unwrap_or_default();
    let annotations: BTreeMap<String, String> = po
        .annotations()
        .iter()
        .filter(|(k, _)| k.starts_with(proxy_order_api::ANNOTATION_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut waiting = Vec::new();
    if let Some(token) = annotations.get(ROTATE_PASSWORD_ANNOTATION)
        && !token.is_empty()
        && st.password_rotation.as_ref() != Some(token)
    {
        waiting.push(format!("password rotation {token}"));
    }
    if let Some(token) = annotations.get(SYNC_REQUESTED_ANNOTATION)
        && !token.is_empty()
        && st.sync_requested.as_ref() != Some(token)
    {
        waiting.push(format!("sync {token}"));
    }
    let proxy_order = OrderView {
        namespace: ns.to_string(),
        name: name.to_string(),
        order_id: po.spec.order_id,
        management_policy: format!("{:?}", po.spec.management_policy.unwrap_or_default()),
        deletion_policy: format!("{:?}", po.spec.deletion_policy.unwrap_or_default()),
        paused: annotations.get(PAUSED_ANNOTATION).map(String::as_str) == Some("true"),
        generation: po.metadata.generation,
        observed_generation: st.observed_generation,
        last_sync_time: st.last_sync_time.as_ref().map(|t| t.0.to_string()),
        annotations,
        waiting,
    };
    let claim = claim(cluster, &po).await;
    // Where a ProxyProvider's key Secret is when it names no namespace: the operator's.
    let operator_ns = cluster
        .operator_namespace
        .clone()
        .or_else(|| claim.name.as_ref().and(claim.namespace.clone()));
    let provider = provider(cluster, &po, operator_ns.as_deref()).await;
    let secret = secret(client, ns, &po.secret_name()).await;
    let rollout = rollout(client, ns, &po, st.rollout_hash.clone()).await;
    let events = latest_events(client, ns, &po, events).await;
    Ok(Trace {
        proxy_order,
        provider,
        claim,
        order: st.order,
        access: st.access,
        proxies: st.proxies.unwrap_or_default(),
        secret,
        rollout,
        conditions: st.conditions.iter().map(condition).collect(),
        held_changes: st.planned_changes,
        pending_request: st.pending_request,
        events,
    })
}

/// The ProxyOrder, or an error that says why it cannot be read.
pub async fn get_proxy_order(client: &Client, ns: &str, name: &str) -> anyhow::Result<ProxyOrder> {
    match Api::<ProxyOrder>::namespaced(client.clone(), ns)
        .get(name)
        .await
    {
        Ok(po) => Ok(po),
        Err(e) => Err(cluster::explain(client, e, proxy_order_request("get", ns, name)).await),
    }
}

/// The request to read or patch one ProxyOrder, for error messages.
pub fn proxy_order_request<'a>(verb: &'a str, ns: &'a str, name: &'a str) -> Request<'a> {
    Request {
        verb,
        resource: "proxyorders.proxy-solutions.net",
        kind: "ProxyOrder",
        namespace: Some(ns),
        name: Some(name),
    }
}

async fn provider(cluster: &Cluster, po: &ProxyOrder, operator_ns: Option<&str>) -> ProviderView {
    let client = &cluster.client;
    if let Some(reference) = &po.spec.provider_ref {
        let mut view = ProviderView {
            kind: "ProxyProvider".into(),
            name: Some(reference.name.clone()),
            ..ProviderView::default()
        };
        match Api::<ProxyProvider>::all(client.clone())
            .get(&reference.name)
            .await
        {
            Ok(pp) => {
                let key = &pp.spec.api_key_secret_ref;
                view.url = pp.spec.url.clone();
                view.key_secret = Some(format!(
                    "{}/{}",
                    key.namespace
                        .as_deref()
                        .or(operator_ns)
                        .unwrap_or("<the operator's namespace>"),
                    key.name
                ));
                view.key = Some(key.key.clone().unwrap_or_else(|| DEFAULT_KEY.to_string()));
                view.max_quantity = pp.spec.max_quantity;
                view.ready = pp
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
                    .map(condition);
            }
            Err(e) => {
                let req = Request {
                    verb: "get",
                    resource: "proxyproviders.proxy-solutions.net",
                    kind: "ProxyProvider",
                    namespace: None,
                    name: Some(&reference.name),
                };
                view.error = Some(format!("{:#}", cluster::explain(client, e, req).await));
            }
        }
        view
    } else if let Some(key) = &po.spec.api_key_secret_ref {
        let ns = po.namespace().unwrap_or_default();
        let secret = secret(client, &ns, &key.name).await;
        ProviderView {
            kind: "Secret".into(),
            key_secret: Some(format!("{ns}/{}", key.name)),
            key: Some(key.key.clone()),
            error: secret.error.or_else(|| {
                if !secret.exists {
                    Some(format!("Secret {ns}/{} not found", key.name))
                } else if !secret.keys.contains(&key.key) {
                    Some(format!("Secret {ns}/{} has no key {}", key.name, key.key))
                } else {
                    None
                }
            }),
            ..ProviderView::default()
        }
    } else {
        ProviderView {
            kind: "OperatorDefault".into(),
            ..ProviderView::default()
        }
    }
}

/// The order claim: in `--operator-namespace` if given, else in every namespace (one list, if
/// the user may), else in the default operator namespace.
async fn claim(cluster: &Cluster, po: &ProxyOrder) -> ClaimView {
    let client = &cluster.client;
    let uid = po.uid().unwrap_or_default();
    let params =
        ListParams::default().labels(&format!("{CLAIM_LABEL}=true,{HOLDER_UID_LABEL}={uid}"));
    // The list, and the namespace it was made in (None: all of them).
    let in_ns = async |ns: &str| {
        Api::<Lease>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map(|list| (list, Some(ns.to_string())))
            .map_err(|e| (e, Some(ns.to_string())))
    };
    let listed = match &cluster.operator_namespace {
        Some(ns) => in_ns(ns).await,
        None => match Api::<Lease>::all(client.clone()).list(&params).await {
            Ok(list) => Ok((list, None)),
            Err(kube::Error::Api(s)) if s.code == 403 => in_ns(DEFAULT_OPERATOR_NAMESPACE).await,
            Err(e) => Err((e, None)),
        },
    };
    let mut view = ClaimView::default();
    match listed {
        Ok((list, searched)) => match list.items.into_iter().next() {
            Some(lease) => {
                let a = lease.annotations();
                view.holder = a.get(HOLDER_ANNOTATION).cloned();
                view.order_id = a.get(ORDER_ID_ANNOTATION).cloned();
                view.reserved_until = a.get(RESERVED_UNTIL_ANNOTATION).cloned();
                view.reserved_for = lease.labels().get(RESERVED_FOR_LABEL).cloned();
                view.namespace = lease.namespace();
                view.name = Some(lease.name_any());
            }
            None => {
                let place = match &searched {
                    Some(ns) => format!("in namespace {ns}"),
                    None => "in any namespace".to_string(),
                };
                view.namespace = searched;
                view.error = Some(format!(
                    "no order claim {place}: the operator has not claimed the order yet, or \
                     another ProxyOrder holds it (see the conditions){}",
                    if view.namespace.is_some() {
                        ", or the operator runs in another namespace (--operator-namespace)"
                    } else {
                        ""
                    }
                ));
            }
        },
        Err((e, ns)) => {
            let req = Request {
                verb: "list",
                resource: "leases.coordination.k8s.io",
                kind: "Lease",
                namespace: ns.as_deref(),
                name: None,
            };
            view.namespace = ns.clone();
            view.error = Some(format!("{:#}", cluster::explain(client, e, req).await));
        }
    }
    view
}

async fn secret(client: &Client, ns: &str, name: &str) -> SecretView {
    let mut view = SecretView {
        name: name.to_string(),
        ..SecretView::default()
    };
    match Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
    {
        Ok(secret) => {
            view.exists = true;
            view.managed_by = secret.labels().get(MANAGED_BY_LABEL).cloned();
            // Keys only: the values are dropped with `secret`.
            view.keys = secret
                .data
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            view.keys
                .extend(secret.string_data.iter().flatten().map(|(k, _)| k.clone()));
        }
        Err(e) if cluster::is_not_found(&e) => {}
        Err(e) => {
            let req = Request {
                verb: "get",
                resource: "secrets",
                kind: "Secret",
                namespace: Some(ns),
                name: Some(name),
            };
            view.error = Some(format!("{:#}", cluster::explain(client, e, req).await));
        }
    }
    view
}

async fn rollout(
    client: &Client,
    ns: &str,
    po: &ProxyOrder,
    hash: Option<String>,
) -> Option<RolloutView> {
    let targets = po
        .spec
        .secret
        .as_ref()
        .and_then(|s| s.rollout_targets.clone())
        .filter(|t| !t.is_empty())?;
    let mut views = Vec::new();
    for target in &targets {
        views.push(rollout_target(client, ns, target, hash.as_deref()).await);
    }
    Some(RolloutView {
        hash,
        targets: views,
    })
}

async fn rollout_target(
    client: &Client,
    ns: &str,
    target: &RolloutTarget,
    hash: Option<&str>,
) -> TargetView {
    let (resource, kind) = match target.kind {
        WorkloadKind::Deployment => ("deployments.apps", "Deployment"),
        WorkloadKind::StatefulSet => ("statefulsets.apps", "StatefulSet"),
        WorkloadKind::DaemonSet => ("daemonsets.apps", "DaemonSet"),
    };
    let mut view = TargetView {
        kind: kind.to_string(),
        target: match (&target.name, &target.selector) {
            (Some(name), _) => name.clone(),
            (None, Some(sel)) => sel.query(),
            (None, None) => String::new(),
        },
        workloads: Vec::new(),
        error: None,
    };
    let templates = match &target.name {
        Some(name) => workload_templates(client, ns, target.kind, Some(name), None).await,
        None => {
            let query = view.target.clone();
            workload_templates(client, ns, target.kind, None, Some(&query)).await
        }
    };
    match templates {
        Ok(found) => {
            view.workloads = found
                .into_iter()
                .map(|(name, workload_hash)| WorkloadView {
                    current: workload_hash.is_some() && workload_hash.as_deref() == hash,
                    name,
                    hash: workload_hash,
                })
                .collect();
            if view.workloads.is_empty() {
                view.error = Some(format!("no {kind} matches"));
            }
        }
        Err(e) => {
            let req = Request {
                verb: if target.name.is_some() { "get" } else { "list" },
                resource,
                kind,
                namespace: Some(ns),
                name: target.name.as_deref(),
            };
            view.error = Some(if cluster::is_not_found(&e) {
                format!(
                    "{kind} {ns}/{} not found",
                    target.name.as_deref().unwrap_or_default()
                )
            } else {
                format!("{:#}", cluster::explain(client, e, req).await)
            });
        }
    }
    view
}

/// Each matching workload's name and the credentials hash on its Pod template.
async fn workload_templates(
    client: &Client,
    ns: &str,
    kind: WorkloadKind,
    name: Option<&str>,
    query: Option<&str>,
) -> Result<Vec<(String, Option<String>)>, kube::Error> {
    async fn read<K>(
        api: Api<K>,
        name: Option<&str>,
        query: Option<&str>,
        template: fn(&K) -> Option<&BTreeMap<String, String>>,
    ) -> Result<Vec<(String, Option<String>)>, kube::Error>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let items: Vec<K> = match name {
            Some(name) => vec![api.get(name).await?],
            None => {
                let list: ObjectList<K> = api
                    .list(&ListParams::default().labels(query.unwrap_or_default()))
                    .await?;
                list.items
            }
        };
        Ok(items
            .iter()
            .map(|w| {
                let hash = template(w)
                    .and_then(|a| a.get(CREDENTIALS_HASH_ANNOTATION))
                    .cloned();
                (w.meta().name.clone().unwrap_or_default(), hash)
            })
            .collect())
    }
    let c = client.clone();
    match kind {
        WorkloadKind::Deployment => {
            read(Api::<Deployment>::namespaced(c, ns), name, query, |d| {
                d.spec.template.metadata.as_ref()?.annotations.as_ref()
            })
            .await
        }
        WorkloadKind::StatefulSet => {
            read(Api::<StatefulSet>::namespaced(c, ns), name, query, |d| {
                d.spec.template.metadata.as_ref()?.annotations.as_ref()
            })
            .await
        }
        WorkloadKind::DaemonSet => {
            read(Api::<DaemonSet>::namespaced(c, ns), name, query, |d| {
                d.spec.template.metadata.as_ref()?.annotations.as_ref()
            })
            .await
        }
    }
}

async fn latest_events(client: &Client, ns: &str, po: &ProxyOrder, n: usize) -> EventsView {
    let uid = po.uid().unwrap_or_default();
    let params = ListParams::default().fields(&format!("involvedObject.uid={uid}"));
    match Api::<Event>::namespaced(client.clone(), ns)
        .list(&params)
        .await
    {
        Ok(list) => {
            let mut events: Vec<(Option<Timestamp>, EventView)> =
                list.items.iter().map(event).collect();
            events.sort_by_key(|e| e.0);
            let skip = events.len().saturating_sub(n);
            EventsView {
                latest: events.split_off(skip).into_iter().map(|(_, e)| e).collect(),
                error: None,
            }
        }
        Err(e) => {
            let req = Request {
                verb: "list",
                resource: "events",
                kind: "Event",
                namespace: Some(ns),
                name: None,
            };
            EventsView {
                latest: Vec::new(),
                error: Some(format!("{:#}", cluster::explain(client, e, req).await)),
            }
        }
    }
}

/// An Event as shown, with the time it last happened: a repeated Event's series says when
/// (the operator's recorder keeps `eventTime` at the first occurrence), else `lastTimestamp`,
/// `eventTime`, `firstTimestamp`.
fn event(e: &Event) -> (Option<Timestamp>, EventView) {
    let time = e
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| t.0)
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0));
    let view = EventView {
        time: time
            .map(|t| {
                t.round(k8s_openapi::jiff::Unit::Second)
                    .unwrap_or(t)
                    .to_string()
            })
            .unwrap_or_default(),
        type_: e.type_.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        count: e
            .series
            .as_ref()
            .and_then(|s| s.count)
            .or(e.count)
            .unwrap_or(1),
    };
    (time, view)
}

fn condition(c: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition) -> ConditionView {
    ConditionView {
        type_: c.type_.clone(),
        status: c.status.clone(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_transition_time: c.last_transition_time.0.to_string(),
    }
}

/// The trace as a tree, for people.
pub fn render(t: &Trace) -> String {
    let mut out = String::new();
    let po = &t.proxy_order;
    let paused = if po.paused { ", PAUSED" } else { "" };
    out.push_str(&format!(
        "ProxyOrder {}/{}  order {}  {}, deletion {}{paused}\n",
        po.namespace, po.name, po.order_id, po.management_policy, po.deletion_policy
    ));
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();

    let p = &t.provider;
    let mut provider = match p.kind.as_str() {
        "ProxyProvider" => format!(
            "ProxyProvider {}{}",
            p.name.as_deref().unwrap_or_default(),
            p.url
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        ),
        "Secret" => "the ProxyOrder's own API key".to_string(),
        _ => "the operator's default API key (--default-api-key-secret)".to_string(),
    };
    if let Some(c) = &p.ready {
        provider.push_str(&format!("  {}={} {}", c.type_, c.status, c.reason));
    }
    let mut lines = Vec::new();
    if let Some(secret) = &p.key_secret {
        lines.push(format!(
            "API key: Secret {secret}, key {}",
            p.key.as_deref().unwrap_or(DEFAULT_KEY)
        ));
    }
    if let Some(max) = p.max_quantity {
        lines.push(format!("maxQuantity {max}"));
    }
    if let Some(e) = &p.error {
        lines.push(format!("! {e}"));
    }
    sections.push((format!("Provider: {provider}"), lines));

    let c = &t.claim;
    let head = match &c.name {
        Some(name) => format!(
            "Claim: Lease {}/{name}, held by {}",
            c.namespace.as_deref().unwrap_or_default(),
            c.holder.as_deref().unwrap_or("nobody")
        ),
        None => "Claim: none found".to_string(),
    };
    let mut lines = Vec::new();
    if let Some(ns) = &c.reserved_for {
        lines.push(format!(
            "reserved for namespace {ns} until {}",
            c.reserved_until.as_deref().unwrap_or("?")
        ));
    }
    if let Some(e) = &c.error {
        lines.push(format!("! {e}"));
    }
    sections.push((head, lines));

    let head = match &po.last_sync_time {
        Some(at) => format!("Order (last read {at})"),
        None => "Order: not read yet".to_string(),
    };
    let mut lines = Vec::new();
    if let Some(o) = &t.order {
        lines.push(format!(
            "{}, {} proxies, period {} days, {} {}{}",
            o.status,
            o.quantity,
            o.period,
            o.amount,
            o.currency.as_deref().unwrap_or_default(),
            if o.auto_continuation {
                ", renews automatically"
            } else {
                ""
            }
        ));
        let place: Vec<&str> = [&o.service, &o.location, &o.operator]
            .into_iter()
            .filter_map(|s| s.as_deref())
            .collect();
        if !place.is_empty() {
            lines.push(place.join(", "));
        }
    }
    if let Some(a) = &t.access {
        lines.push(format!("port {}, login {}", a.port, a.login));
        if !a.ip_list.is_empty() {
            lines.push(format!("allow-list {}", a.ip_list.join(", ")));
        }
    }
    if !t.proxies.is_empty() {
        lines.push(format!("proxies {}", t.proxies.join(", ")));
    }
    sections.push((head, lines));

    let s = &t.secret;
    let head = if s.exists {
        format!("Secret {}", s.name)
    } else {
        format!("Secret {}: not found", s.name)
    };
    let mut lines = Vec::new();
    if !s.keys.is_empty() {
        lines.push(format!("keys: {}", s.keys.join(", ")));
    }
    if s.exists && s.managed_by.is_none() {
        lines.push("! not labelled as the operator's (app.kubernetes.io/managed-by)".into());
    }
    if let Some(e) = &s.error {
        lines.push(format!("! {e}"));
    }
    sections.push((head, lines));

    if let Some(r) = &t.rollout {
        let head = format!(
            "Rollout targets (last rolled-out hash {})",
            r.hash.as_deref().unwrap_or("none yet")
        );
        let mut lines = Vec::new();
        for target in &r.targets {
            lines.push(format!("{} {}", target.kind, target.target));
            for w in &target.workloads {
                lines.push(format!(
                    "  {}: {}{}",
                    w.name,
                    w.hash.as_deref().unwrap_or("no hash"),
                    if w.current {
                        " (current)"
                    } else {
                        " (not current)"
                    }
                ));
            }
            if let Some(e) = &target.error {
                lines.push(format!("  ! {e}"));
            }
        }
        sections.push((head, lines));
    }

    let lines = t
        .conditions
        .iter()
        .map(|c| {
            format!(
                "{:<20} {:<7} {:<22} {}",
                c.type_, c.status, c.reason, c.message
            )
        })
        .collect();
    sections.push(("Conditions".to_string(), lines));

    if !t.held_changes.is_empty() {
        let lines = t
            .held_changes
            .iter()
            .map(|h| {
                format!(
                    "{} {} -> {} (limit {}), approve on {}: hash {}",
                    h.field, h.from, h.to, h.limit, h.approve_on, h.hash
                )
            })
            .collect();
        sections.push((
            format!("Held changes (kubectl pxo approve {})", po.name),
            lines,
        ));
    }
    if let Some(p) = &t.pending_request {
        sections.push((
            format!("Pending request since {}", p.started_at.0),
            vec![format!(
                "{}{}",
                if p.gen_password {
                    "password generation"
                } else {
                    "change"
                },
                p.read_not_before
                    .as_ref()
                    .map(|t| format!(", answer lost: read back after {}", t.0))
                    .unwrap_or_default()
            )],
        ));
    }
    if !po.waiting.is_empty() {
        sections.push(("Waiting".to_string(), po.waiting.clone()));
    }

    let mut lines: Vec<String> = t
        .events
        .latest
        .iter()
        .map(|e| {
            let count = if e.count > 1 {
                format!(" (x{})", e.count)
            } else {
                String::new()
            };
            format!(
                "{} {:<7} {}{count}: {}",
                e.time, e.type_, e.reason, e.message
            )
        })
        .collect();
    if let Some(e) = &t.events.error {
        lines.push(format!("! {e}"));
    }
    sections.push((format!("Events (latest {})", t.events.latest.len()), lines));

    let last = sections.len() - 1;
    for (i, (head, lines)) in sections.into_iter().enumerate() {
        let (branch, indent) = if i == last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        out.push_str(&format!("{branch}{head}\n"));
        for line in lines {
            out.push_str(&format!("{indent}  {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> Trace {
        Trace {
            proxy_order: OrderView {
                namespace: "team-a".into(),
                name: "web".into(),
                order_id: 10000,
                management_policy: "Manage".into(),
                deletion_policy: "Orphan".into(),
                paused: false,
                generation: Some(2),
                observed_generation: Some(2),
                last_sync_time: Some("2026-12-07T12:00:00Z".into()),
                annotations: BTreeMap::new(),
                waiting: vec![],
            },
            provider: ProviderView {
                kind: "ProxyProvider".into(),
                name: Some("shared".into()),
                url: Some("https://example.test/api".into()),
                key_secret: Some("ops/key".into()),
                key: Some("api-key".into()),
                ..ProviderView::default()
            },
            claim: ClaimView {
                name: Some("pxo-claim-1".into()),
                namespace: Some("ops".into()),
                holder: Some("team-a/web".into()),
                ..ClaimView::default()
            },
            order: None,
            access: Some(AccessSummary {
                port: 8000,
                login: "scraper".into(),
                ip_list: vec![],
            }),
            proxies: vec!["10.0.0.1".into()],
            secret: SecretView {
                name: "web-proxy".into(),
                exists: true,
                keys: vec!["login".into(), "password".into()],
                managed_by: Some("proxy-order-operator".into()),
                error: None,
            },
            rollout: Some(RolloutView {
                hash: Some("sha256:aa".into()),
                targets: vec![TargetView {
                    kind: "Deployment".into(),
                    target: "web".into(),
                    workloads: vec![WorkloadView {
                        name: "web".into(),
                        hash: Some("sha256:aa".into()),
                        current: true,
                    }],
                    error: None,
                }],
            }),
            conditions: vec![ConditionView {
                type_: "Ready".into(),
                status: "True".into(),
                reason: "Applied".into(),
                message: "ok".into(),
                last_transition_time: "2026-12-07T12:00:00Z".into(),
            }],
            held_changes: vec![],
            pending_request: None,
            events: EventsView {
                latest: vec![],
                error: Some("forbidden: you may not list events".into()),
            },
        }
    }

    #[test]
    fn the_tree_shows_each_part_and_each_problem() {
        let text = render(&trace());
        for want in [
            "ProxyOrder team-a/web  order 10000  Manage, deletion Orphan\n",
            "├─ Provider: ProxyProvider shared (https://example.test/api)",
            "API key: Secret ops/key, key api-key",
            "Claim: Lease ops/pxo-claim-1, held by team-a/web",
            "Secret web-proxy",
            "keys: login, password",
            "web: sha256:aa (current)",
            "Ready                True    Applied",
            "└─ Events (latest 0)\n     ! forbidden: you may not list events",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert!(!text.contains("Held changes"), "{text}");
    }

    #[test]
    fn a_repeated_event_counts_from_its_latest_occurrence() {
        use k8s_openapi::api::core::v1::EventSeries;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
        let at = |s: &str| MicroTime(s.parse().unwrap());
        let repeated = Event {
            event_time: Some(at("2026-12-07T12:51:54Z")),
            series: Some(EventSeries {
                count: Some(5),
                last_observed_time: Some(at("2026-12-07T13:01:54.5Z")),
            }),
            reason: Some("ProviderUnavailable".into()),
            ..Event::default()
        };
        let once = Event {
            event_time: Some(at("2026-12-07T12:56:54.25Z")),
            reason: Some("Applied".into()),
            ..Event::default()
        };
        let (t_repeated, view) = event(&repeated);
        assert_eq!(view.count, 5);
        assert_eq!(view.time, "2026-12-07T13:01:55Z");
        let (t_once, _) = event(&once);
        assert!(t_repeated > t_once, "the repeated one is the latest");
    }

    #[test]
    fn json_uses_the_api_spelling() {
        let value = serde_json::to_value(trace()).unwrap();
        assert_eq!(value["proxyOrder"]["orderId"], 10000);
        assert_eq!(value["secret"]["keys"][1], "password");
        assert_eq!(value["conditions"][0]["type"], "Ready");
        assert!(value.get("heldChanges").is_none());
    }
}
