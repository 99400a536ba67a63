//! `kubectl pxo status` / `trace`: a ProxyOrder and everything it depends on, read with the
//! user's rights. A part the user may not read (a ProxyProvider, the claim in the operator's
//! namespace, a Secret) is shown as such, and the rest is still shown. Values of Secrets are
//! never read into the output: only their keys.
//!
//! `-o json|yaml` prints [`Trace`]: every field is always there (`null` or `[]` when empty), so
//! scripts can rely on its shape; `apiVersion` and `kind` name that shape.

use std::collections::BTreeMap;
use std::io::Write;

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    coordination::v1::Lease,
    core::v1::{Event, Secret},
};
use k8s_openapi::jiff::Timestamp;
use kube::{Api, Client, ResourceExt, api::ListParams};
use proxy_order_api::{
    AccessSummary, CLAIM_LABEL, CREDENTIALS_HASH_ANNOTATION, DeletionPolicy, HOLDER_ANNOTATION,
    HOLDER_UID_LABEL, MANAGED_BY_LABEL, ManagementPolicy, ORDER_ID_ANNOTATION, OrderSummary,
    PendingRequest, PlannedChange, ProxyOrder, ProxyProvider, RESERVED_FOR_LABEL,
    RESERVED_UNTIL_ANNOTATION, RolloutTarget, WorkloadKind, conditions::READY,
    proxy_provider::DEFAULT_KEY,
};
use serde::Serialize;

use crate::cluster::{self, Cluster, DEFAULT_OPERATOR_NAMESPACE, Request};

/// The shape of `-o json|yaml`.
const API_VERSION: &str = "pxo.proxy-solutions.net/v1alpha1";

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
    pub api_version: &'static str,
    pub kind: &'static str,
    pub proxy_order: OrderView,
    pub provider: ProviderView,
    pub claim: ClaimView,
    /// The order as the operator last read it from the provider (`status.order`).
    pub order: Option<OrderSummary>,
    pub access: Option<AccessSummary>,
    pub proxies: Vec<String>,
    pub secret: SecretView,
    /// `null` without `spec.secret.rolloutTargets`.
    pub rollout: Option<RolloutView>,
    pub conditions: Vec<ConditionView>,
    /// `status.plannedChanges`: held until approved (`approved: false`), or approved and
    /// waiting for something else (an active order's term).
    pub held_changes: Vec<PlannedChange>,
    pub pending_request: Option<PendingRequest>,
    pub events: EventsView,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub namespace: String,
    pub name: String,
    pub order_id: u64,
    pub management_policy: ManagementPolicy,
    pub deletion_policy: DeletionPolicy,
    pub paused: bool,
    pub generation: Option<i64>,
    /// The generation the status describes: `null` before the operator wrote a status.
    pub observed_generation: Option<i64>,
    pub last_sync_time: Option<String>,
    /// The ProxyOrder's `proxy-solutions.net/` annotations.
    pub annotations: BTreeMap<String, String>,
    /// Rotate or sync tokens not carried out yet.
    pub waiting: Vec<String>,
    /// Tokens the operator will not carry out, and why.
    pub ignored: Vec<String>,
}

/// Which provider account the ProxyOrder uses.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// `spec.providerRef`.
    ProxyProvider,
    /// The ProxyOrder's own `spec.apiKeySecretRef`.
    Secret,
    /// Neither: the operator's `--default-api-key-secret`.
    OperatorDefault,
}

/// The provider account. Never the API key.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub kind: ProviderKind,
    /// The ProxyProvider's name.
    pub name: Option<String>,
    pub url: Option<String>,
    /// The API key's Secret: its namespace (`null` when it is the operator's and that is not
    /// known), its name, and the key's name in it.
    pub key_secret_namespace: Option<String>,
    pub key_secret_name: Option<String>,
    pub key: Option<String>,
    pub max_quantity: Option<u32>,
    pub ready: Option<ConditionView>,
    pub error: Option<String>,
}

/// The Lease that reserves the order for this ProxyOrder.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    pub name: Option<String>,
    /// The Lease's namespace (the operator's), or where it was looked for.
    pub namespace: Option<String>,
    pub holder: Option<String>,
    pub order_id: Option<String>,
    pub reserved_for: Option<String>,
    pub reserved_until: Option<String>,
    pub error: Option<String>,
}

/// The credentials Secret: its keys, never their values.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub name: String,
    /// `null` when it could not be read (see `error`).
    pub exists: Option<bool>,
    pub keys: Vec<String>,
    pub managed_by: Option<String>,
    pub error: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    /// The hash every target carried when `RolloutsUpdated` last became True.
    pub hash: Option<String>,
    pub targets: Vec<TargetView>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    pub kind: WorkloadKind,
    /// The workload's name, for a target by name.
    pub name: Option<String>,
    /// The selector as a list query, for a target by selector.
    pub selector: Option<String>,
    pub workloads: Vec<WorkloadView>,
    pub error: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadView {
    pub name: String,
    /// The credentials hash on its Pod template.
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
    pub error: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// When it last happened.
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
    let po = cluster.proxy_order(name).await?;
    let st = po.status.clone().unwrap_or_default();
    let annotations: BTreeMap<String, String> = po
        .annotations()
        .iter()
        .filter(|(k, _)| k.starts_with(proxy_order_api::ANNOTATION_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (waiting, ignored) = requests(&po);
    let proxy_order = OrderView {
        namespace: ns.to_string(),
        name: name.to_string(),
        order_id: po.spec.order_id,
        management_policy: po.spec.management_policy.unwrap_or_default(),
        deletion_policy: po.spec.deletion_policy.unwrap_or_default(),
        paused: po.is_paused(),
        generation: po.metadata.generation,
        observed_generation: st.observed_generation,
        last_sync_time: st.last_sync_time.as_ref().map(|t| t.0.to_string()),
        annotations,
        waiting,
        ignored,
    };
    let claim = claim(cluster, &po).await;
    let provider = provider(cluster, &po).await;
    let secret = secret(client, ns, &po.secret_name()).await;
    let rollout = rollout(client, ns, &po, st.rollout_hash.clone()).await;
    let events = latest_events(client, ns, &po, events).await;
    Ok(Trace {
        api_version: API_VERSION,
        kind: "Trace",
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

/// The rotate and sync tokens not carried out yet: those the operator will carry out, and
/// those it ignores with the reason.
fn requests(po: &ProxyOrder) -> (Vec<String>, Vec<String>) {
    let (mut waiting, mut ignored) = (Vec::new(), Vec::new());
    if let Some(token) = po.requested_rotation() {
        let from_secret = po
            .spec
            .password
            .as_ref()
            .is_some_and(|p| p.secret_key_ref.is_some());
        if po.spec.observes() {
            ignored.push(format!(
                "password rotation {token}: managementPolicy Observe sends no password"
            ));
        } else if from_secret {
            ignored.push(format!(
                "password rotation {token}: the password comes from spec.password.secretKeyRef"
            ));
        } else {
            waiting.push(format!("password rotation {token}"));
        }
    }
    if let Some(token) = po.requested_sync() {
        waiting.push(format!("sync {token}"));
    }
    (waiting, ignored)
}

async fn provider(cluster: &Cluster, po: &ProxyOrder) -> ProviderView {
    let client = &cluster.client;
    let mut view = ProviderView {
        kind: ProviderKind::OperatorDefault,
        name: None,
        url: None,
        key_secret_namespace: None,
        key_secret_name: None,
        key: None,
        max_quantity: None,
        ready: None,
        error: None,
    };
    if let Some(reference) = &po.spec.provider_ref {
        view.kind = ProviderKind::ProxyProvider;
        view.name = Some(reference.name.clone());
        match Api::<ProxyProvider>::all(client.clone())
            .get(&reference.name)
            .await
        {
            Ok(pp) => {
                let key = &pp.spec.api_key_secret_ref;
                view.url = pp.spec.url.clone();
                // Without a namespace the key is in the operator's, known only when given.
                view.key_secret_namespace = key
                    .namespace
                    .clone()
                    .or_else(|| cluster.operator_namespace.clone());
                view.key_secret_name = Some(key.name.clone());
                view.key = Some(key.key.clone().unwrap_or_else(|| DEFAULT_KEY.to_string()));
                view.max_quantity = pp.spec.max_quantity;
                view.ready = pp
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
                    .map(condition);
            }
            Err(e) => {
                let req = Request::proxy_provider("get", &reference.name);
                view.error = Some(format!("{:#}", cluster::explain(client, e, req).await));
            }
        }
    } else if let Some(key) = &po.spec.api_key_secret_ref {
        let ns = po.namespace().unwrap_or_default();
        let secret = secret(client, &ns, &key.name).await;
        view.kind = ProviderKind::Secret;
        view.key_secret_namespace = Some(ns.clone());
        view.key_secret_name = Some(key.name.clone());
        view.key = Some(key.key.clone());
        view.error = secret.error.or_else(|| match secret.exists {
            Some(false) => Some(format!("Secret {ns}/{} not found", key.name)),
            Some(true) if !secret.keys.contains(&key.key) => {
                Some(format!("Secret {ns}/{} has no key {}", key.name, key.key))
            }
            _ => None,
        });
    }
    view
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
            .map(|list| (list.items, Some(ns.to_string())))
            .map_err(|e| (e, ns.to_string()))
    };
    let listed = match &cluster.operator_namespace {
        Some(ns) => in_ns(ns).await,
        None => match Api::<Lease>::all(client.clone()).list(&params).await {
            Ok(list) => Ok((list.items, None)),
            Err(kube::Error::Api(s)) if s.code == 403 => in_ns(DEFAULT_OPERATOR_NAMESPACE).await,
            Err(e) => Err((e, String::new())),
        },
    };
    let mut view = ClaimView::default();
    let (leases, searched) = match listed {
        Ok(found) => found,
        Err((e, ns)) => {
            let req = if ns.is_empty() {
                Request {
                    verb: "list",
                    resource: "leases.coordination.k8s.io",
                    kind: "Lease",
                    namespace: None,
                    name: None,
                }
            } else {
                Request::namespaced("list", "leases.coordination.k8s.io", "Lease", &ns, None)
            };
            view.namespace = (!ns.is_empty()).then(|| ns.clone());
            view.error = Some(format!("{:#}", cluster::explain(client, e, req).await));
            return view;
        }
    };
    let mut namespaces: Vec<String> = leases.iter().filter_map(|l| l.namespace()).collect();
    namespaces.sort();
    namespaces.dedup();
    match leases.as_slice() {
        [lease] => {
            let a = lease.annotations();
            view.holder = a.get(HOLDER_ANNOTATION).cloned();
            view.order_id = a.get(ORDER_ID_ANNOTATION).cloned();
            view.reserved_until = a.get(RESERVED_UNTIL_ANNOTATION).cloned();
            view.reserved_for = lease.labels().get(RESERVED_FOR_LABEL).cloned();
            view.namespace = lease.namespace();
            view.name = Some(lease.name_any());
        }
        [] => {
            let place = match &searched {
                Some(ns) => format!("in namespace {ns}"),
                None => "in any namespace".to_string(),
            };
            let elsewhere = if searched.is_some() {
                ", or the operator runs in another namespace (--operator-namespace)"
            } else {
                ""
            };
            view.namespace = searched;
            view.error = Some(format!(
                "no order claim {place}: the operator has not claimed the order yet, or another \
                 ProxyOrder holds it (see the conditions){elsewhere}"
            ));
        }
        _ => {
            // Labels anyone may set in their own namespace: several Leases name this holder.
            view.error = Some(format!(
                "{} Leases claim to be this ProxyOrder's order claim (in {}): name the \
                 operator's namespace with --operator-namespace",
                leases.len(),
                namespaces.join(", ")
            ));
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
            view.exists = Some(true);
            view.managed_by = secret.labels().get(MANAGED_BY_LABEL).cloned();
            // Keys only: the values are dropped with `secret`.
            view.keys = secret
                .data
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
        }
        Err(e) if cluster::is_not_found(&e) => view.exists = Some(false),
        Err(e) => {
            let req = Request::namespaced("get", "secrets", "Secret", ns, Some(name));
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

/// A rollout target names its workload, or selects workloads.
enum Wanted<'a> {
    Name(&'a str),
    Selector(String),
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
        kind: target.kind,
        name: target.name.clone(),
        selector: None,
        workloads: Vec::new(),
        error: None,
    };
    let wanted = match (&target.name, &target.selector) {
        (Some(name), _) => Wanted::Name(name),
        (None, Some(sel)) if !sel.query().is_empty() => Wanted::Selector(sel.query()),
        // The schema refuses both; an empty selector would list every workload of the kind.
        _ => {
            view.error = Some("neither a name nor a selector: it matches nothing".to_string());
            return view;
        }
    };
    if let Wanted::Selector(query) = &wanted {
        view.selector = Some(query.clone());
    }
    match workload_templates(client, ns, target.kind, &wanted).await {
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
        Err(e) if cluster::is_not_found(&e) => {
            let name = target.name.as_deref().unwrap_or_default();
            view.error = Some(format!("{kind} {ns}/{name} not found"));
        }
        Err(e) => {
            let (verb, name) = match &wanted {
                Wanted::Name(name) => ("get", Some(*name)),
                Wanted::Selector(_) => ("list", None),
            };
            let req = Request::namespaced(verb, resource, kind, ns, name);
            view.error = Some(format!("{:#}", cluster::explain(client, e, req).await));
        }
    }
    view
}

/// Each wanted workload's name and the credentials hash on its Pod template.
async fn workload_templates(
    client: &Client,
    ns: &str,
    kind: WorkloadKind,
    wanted: &Wanted<'_>,
) -> Result<Vec<(String, Option<String>)>, kube::Error> {
    async fn read<K>(
        api: Api<K>,
        wanted: &Wanted<'_>,
        template: fn(&K) -> Option<&BTreeMap<String, String>>,
    ) -> Result<Vec<(String, Option<String>)>, kube::Error>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let items: Vec<K> = match wanted {
            Wanted::Name(name) => vec![api.get(name).await?],
            Wanted::Selector(query) => api.list(&ListParams::default().labels(query)).await?.items,
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
            read(Api::<Deployment>::namespaced(c, ns), wanted, |d| {
                d.spec.template.metadata.as_ref()?.annotations.as_ref()
            })
            .await
        }
        WorkloadKind::StatefulSet => {
            read(Api::<StatefulSet>::namespaced(c, ns), wanted, |d| {
                d.spec.template.metadata.as_ref()?.annotations.as_ref()
            })
            .await
        }
        WorkloadKind::DaemonSet => {
            read(Api::<DaemonSet>::namespaced(c, ns), wanted, |d| {
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
            let req = Request::namespaced("list", "events", "Event", ns, None);
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
        "ProxyOrder {}/{}  order {}  {:?}, deletion {:?}{paused}\n",
        po.namespace, po.name, po.order_id, po.management_policy, po.deletion_policy
    ));
    match (po.observed_generation, po.generation) {
        (None, _) => out.push_str(
            "  ! no status yet: is the operator running, and does it watch this namespace?\n",
        ),
        (Some(seen), Some(now)) if seen != now => out.push_str(&format!(
            "  ! the status is for generation {seen}, the spec is at {now}: the operator has \
             not reconciled the latest change yet\n"
        )),
        _ => {}
    }
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();

    let p = &t.provider;
    let mut provider = match p.kind {
        ProviderKind::ProxyProvider => format!(
            "ProxyProvider {}{}",
            p.name.as_deref().unwrap_or_default(),
            p.url
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        ),
        ProviderKind::Secret => "the ProxyOrder's own API key".to_string(),
        ProviderKind::OperatorDefault => {
            "the operator's default API key (--default-api-key-secret)".to_string()
        }
    };
    if let Some(c) = &p.ready {
        provider.push_str(&format!("  {}={} {}", c.type_, c.status, c.reason));
    }
    let mut lines = Vec::new();
    if let Some(name) = &p.key_secret_name {
        lines.push(format!(
            "API key: Secret {}/{name}, key {}",
            p.key_secret_namespace
                .as_deref()
                .unwrap_or("<the operator's namespace>"),
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
    let head = match (&c.name, &c.error) {
        (Some(name), _) => format!(
            "Claim: Lease {}/{name}, held by {}",
            c.namespace.as_deref().unwrap_or_default(),
            c.holder.as_deref().unwrap_or("nobody")
        ),
        (None, Some(e)) if e.starts_with("no order claim") => "Claim: none found".to_string(),
        (None, _) => "Claim: could not be read".to_string(),
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
    let head = match s.exists {
        Some(true) => format!("Secret {}", s.name),
        Some(false) => format!("Secret {}: not found", s.name),
        None => format!("Secret {}: could not be read", s.name),
    };
    let mut lines = Vec::new();
    if !s.keys.is_empty() {
        lines.push(format!("keys: {}", s.keys.join(", ")));
    }
    if s.exists == Some(true) && s.managed_by.is_none() {
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
            let which = target
                .name
                .clone()
                .or_else(|| target.selector.as_ref().map(|s| format!("selecting {s}")))
                .unwrap_or_default();
            lines.push(format!("{:?} {which}", target.kind));
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
                let state = if h.approved {
                    "approved, waiting".to_string()
                } else {
                    format!("approve on {}", h.approve_on)
                };
                format!(
                    "{} {} -> {} (limit {}), {state}: hash {}",
                    h.field, h.from, h.to, h.limit, h.hash
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
    if !po.waiting.is_empty() || !po.ignored.is_empty() {
        let mut lines = po.waiting.clone();
        lines.extend(po.ignored.iter().map(|i| format!("ignored: {i}")));
        sections.push(("Asked for".to_string(), lines));
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
            api_version: API_VERSION,
            kind: "Trace",
            proxy_order: OrderView {
                namespace: "team-a".into(),
                name: "web".into(),
                order_id: 10000,
                management_policy: ManagementPolicy::Manage,
                deletion_policy: DeletionPolicy::Orphan,
                paused: false,
                generation: Some(2),
                observed_generation: Some(2),
                last_sync_time: Some("2026-12-07T12:00:00Z".into()),
                annotations: BTreeMap::new(),
                waiting: vec![],
                ignored: vec![],
            },
            provider: ProviderView {
                kind: ProviderKind::ProxyProvider,
                name: Some("shared".into()),
                url: Some("https://example.test/api".into()),
                key_secret_namespace: Some("ops".into()),
                key_secret_name: Some("key".into()),
                key: Some("api-key".into()),
                max_quantity: None,
                ready: None,
                error: None,
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
                exists: Some(true),
                keys: vec!["login".into(), "password".into()],
                managed_by: Some("proxy-order-operator".into()),
                error: None,
            },
            rollout: Some(RolloutView {
                hash: Some("sha256:aa".into()),
                targets: vec![TargetView {
                    kind: WorkloadKind::Deployment,
                    name: Some("web".into()),
                    selector: None,
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
            "ProxyOrder team-a/web  order 10000  Manage, deletion Orphan\n├─ Provider",
            "├─ Provider: ProxyProvider shared (https://example.test/api)",
            "API key: Secret ops/key, key api-key",
            "Claim: Lease ops/pxo-claim-1, held by team-a/web",
            "├─ Secret web-proxy\n",
            "keys: login, password",
            "web: sha256:aa (current)",
            "Ready                True    Applied",
            "└─ Events (latest 0)\n     ! forbidden: you may not list events",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert!(!text.contains("Held changes"), "{text}");
        assert!(!text.contains("! no status"), "{text}");
    }

    #[test]
    fn what_could_not_be_read_or_is_stale_is_said() {
        let mut t = trace();
        t.secret.exists = None;
        t.secret.error = Some("forbidden: you may not get secrets".into());
        t.claim = ClaimView {
            error: Some("forbidden: you may not list leases".into()),
            ..ClaimView::default()
        };
        t.proxy_order.generation = Some(3);
        let text = render(&t);
        for want in [
            "Secret web-proxy: could not be read",
            "Claim: could not be read",
            "the status is for generation 2, the spec is at 3",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        t.proxy_order.observed_generation = None;
        assert!(render(&t).contains("! no status yet"));
    }

    #[test]
    fn held_and_approved_changes_are_told_apart() {
        let mut t = trace();
        let change = |hash: &str, approved: bool| PlannedChange {
            hash: hash.into(),
            field: "quantity".into(),
            from: 2,
            to: 5,
            limit: 3,
            approve_on: "ProxyOrder".into(),
            held_since: None,
            approved,
        };
        t.held_changes = vec![change("aa", false), change("bb", true)];
        let text = render(&t);
        assert!(text.contains("approve on ProxyOrder: hash aa"), "{text}");
        assert!(text.contains("approved, waiting: hash bb"), "{text}");
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
    fn json_has_one_shape() {
        let value = serde_json::to_value(trace()).unwrap();
        assert_eq!(value["apiVersion"], API_VERSION);
        assert_eq!(value["kind"], "Trace");
        assert_eq!(value["proxyOrder"]["orderId"], 10000);
        assert_eq!(value["proxyOrder"]["managementPolicy"], "Manage");
        assert_eq!(value["provider"]["kind"], "ProxyProvider");
        assert_eq!(value["secret"]["keys"][1], "password");
        assert_eq!(value["conditions"][0]["type"], "Ready");
        // Empty parts are there, as null or [].
        assert_eq!(value["heldChanges"], serde_json::json!([]));
        assert!(value["order"].is_null() && value["pendingRequest"].is_null());
        assert!(value["claim"]["error"].is_null());
    }
}
