//! The reconcile end to end but for the cluster: the Kubernetes API server is scripted
//! (mock.rs: each expected request in order, its body checked), the provider is the real
//! simulator over HTTP. The tests pin down which requests a reconcile makes, in which order,
//! and what it does when a write fails. The fixtures are here; the tests are in one file per
//! topic.

mod apply;
mod claims;
mod finalize;
mod listing;
mod mock;
mod observe;
mod retries;
mod rollout;

use std::{sync::Arc, time::Duration};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    api::ObjectMeta,
    runtime::{
        controller::Action,
        events::{Recorder, Reporter},
        reflector::ObjectRef,
    },
};
use parking_lot::Mutex;
use proxy_solutions_sim::{RequestRecord, SimConfig, Simulator};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::reconcile;
use crate::{
    config::NamespacedName,
    controller::{
        cache::{VersionIndex, Written},
        claim,
        context::{Context, Settings},
        gateway::ProviderGateway,
    },
    credentials,
    error::Result,
    leader::Fence,
    metrics::Metrics,
    provider::ProviderConfig,
};
use mock::{ApiServer, Received, Step};
use proxy_order_api::{FIELD_MANAGER, ProxyOrder, ProxyOrderSpec};

const NS: &str = "team-a";
const NAME: &str = "web";
const UID: &str = "6c1f3e0a-uid-web";
const OPERATOR_NS: &str = "operator";
const KEY_SECRET: &str = "proxy-api-key";
/// The simulator's active City order: port 8000, login `user10000`, two proxies.
const ORDER_ID: u64 = 10000;
/// A port the order does not have yet.
const NEW_PORT: u16 = 8100;
/// The resourceVersion of the ProxyOrder the tests start from.
const RV: &str = "100";
/// Every key of a credentials Secret without a template.
const SECRET_KEYS: [&str; 6] = [
    credentials::KEY_IPS,
    credentials::KEY_LOGIN,
    credentials::KEY_PASSWORD,
    credentials::KEY_PORT,
    credentials::KEY_PROXIES,
    credentials::KEY_URLS,
];

/// The simulator, the scripted API server and a context wired to both.
struct World {
    sim: Simulator,
    api: ApiServer,
    ctx: Arc<Context>,
}

async fn world() -> World {
    world_with(|gateway| gateway).await
}

/// [`world`] with the context changed by `adapt`.
async fn world_with(adapt: impl FnOnce(Context) -> Context) -> World {
    let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (client, api) = ApiServer::client();
    let metrics = Arc::new(Metrics::default());
    let config = ProviderConfig {
        base_url: sim.base_url(),
        ..ProviderConfig::default()
    };
    let gateway = ProviderGateway::new(config, 100.0, metrics.clone()).unwrap();
    let reporter = Reporter {
        controller: "proxy-order-operator".into(),
        instance: None,
    };
    let ctx = Context {
        client: client.clone(),
        gateway,
        recorder: Recorder::new(client, reporter.clone()),
        reporter,
        metrics,
        settings: Settings {
            refresh_interval: Duration::from_secs(300),
            default_api_key_secret: Some(NamespacedName {
                namespace: OPERATOR_NS.into(),
                name: KEY_SECRET.into(),
            }),
            empty_change_read: true,
            terminal_recheck: Duration::from_secs(600),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            kube_backoff_max: Duration::from_secs(30),
            operator_namespace: OPERATOR_NS.into(),
            allow_api_key_secret_ref: true,
            rollout_targets: true,
            sharded: false,
            claim_reservation: Duration::from_secs(3600),
            rotation_min_interval: Duration::from_secs(60),
        },
        backoff: Mutex::default(),
        terminal: Mutex::default(),
        unsaved: Mutex::default(),
        store: None,
        fence: Arc::new(Fence::open()),
        secrets: Arc::default(),
        claims: VersionIndex::new(Some(claim::HOLDER_UID_LABEL)),
        holders: Default::default(),
        providers: None,
        namespaces: None,
        written: Written::default(),
        verifier: None,
        listing_needed: Mutex::default(),
        new_salts: Mutex::default(),
        rotations: Mutex::default(),
        slots: crate::controller::context::Slots::new(8),
        started: std::time::Instant::now(),
    };
    World {
        sim,
        api,
        ctx: Arc::new(adapt(ctx)),
    }
}

impl World {
    /// One reconcile of `po` (as the controller's cache holds it), answered by `steps`.
    async fn reconcile(&mut self, po: &ProxyOrder, steps: Vec<Step>) -> Result<Action> {
        let work = reconcile(Arc::new(po.clone()), self.ctx.clone());
        self.api.serve(steps, work).await
    }

    /// The change calls the provider received for the order.
    fn change_calls(&self) -> Vec<RequestRecord> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.order_id == Some(ORDER_ID))
            .collect()
    }

    /// The order-list calls the provider received.
    fn list_calls(&self) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count()
    }

    /// The order's password at the provider now.
    fn live_password(&self) -> String {
        let order = self.sim.order(ORDER_ID).expect("the order exists");
        let access = order.access.expect("the order has access data");
        access.password.expose_secret().to_string()
    }

    /// Whether a provider answer waits to be saved for the ProxyOrder.
    fn has_unsaved(&self, po: &ProxyOrder) -> bool {
        self.ctx
            .unsaved
            .lock()
            .contains_key(&ObjectRef::from_obj(po))
    }

    /// The reasons of the Events written so far.
    fn event_reasons(&self) -> Vec<String> {
        self.api
            .events()
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Fails if the password the provider holds now shows up in any request the API server
    /// received other than the credentials Secret's own writes.
    fn assert_password_only_in_secret(&self) {
        let password = self.live_password();
        for r in &self.api.received {
            let secret_write = r
                .path
                .starts_with(&format!("/api/v1/namespaces/{NS}/secrets"));
            let text = r.body.to_string();
            assert!(
                secret_write || !text.contains(&password),
                "the password appears in {}",
                r.line()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ProxyOrder and the objects the API server answers with
// ---------------------------------------------------------------------------------------------

/// A ProxyOrder in [`NS`] at resourceVersion [`RV`], as the controller's cache holds it.
fn proxy_order(spec: ProxyOrderSpec) -> ProxyOrder {
    let mut po = ProxyOrder::new(NAME, spec);
    po.metadata.namespace = Some(NS.into());
    po.metadata.uid = Some(UID.into());
    po.metadata.resource_version = Some(RV.into());
    po.metadata.generation = Some(1);
    po
}

/// A port change of [`ORDER_ID`].
fn port_spec() -> ProxyOrderSpec {
    ProxyOrderSpec {
        order_id: ORDER_ID,
        port: Some(NEW_PORT),
        ..Default::default()
    }
}

/// `po` at another resourceVersion.
fn at_version(po: &ProxyOrder, rv: &str) -> ProxyOrder {
    let mut po = po.clone();
    po.metadata.resource_version = Some(rv.into());
    po
}

fn to_json(po: &ProxyOrder) -> Value {
    serde_json::to_value(po).unwrap()
}

/// A JSON object at resourceVersion `rv`.
fn with_version(mut obj: Value, rv: &str) -> Value {
    obj["metadata"]["resourceVersion"] = json!(rv);
    obj
}

fn api_key_secret() -> Value {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(KEY_SECRET.into()),
            namespace: Some(OPERATOR_NS.into()),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        data: Some(
            [(
                "api-key".to_string(),
                ByteString(proxy_solutions_sim::DEFAULT_API_KEY.as_bytes().to_vec()),
            )]
            .into(),
        ),
        ..Default::default()
    };
    let mut value = serde_json::to_value(secret).unwrap();
    value["apiVersion"] = json!("v1");
    value["kind"] = json!("Secret");
    value
}

/// A Secret as a request body carried it, decoded.
fn secret_of(req: &Received) -> Secret {
    serde_json::from_value(req.body.clone()).expect("a Secret")
}

/// The credentials Secret a reconcile created, as the API server stores it ([`secret_created`]).
fn created_secret(api: &ApiServer) -> Value {
    api.received
        .iter()
        .find(|r| r.method == "POST" && r.path == secrets_path())
        .map(|r| with_version(r.body.clone(), "7"))
        .expect("the Secret was created")
}

/// The data keys of a Secret, sorted.
fn data_keys(secret: &Secret) -> Vec<String> {
    secret
        .data
        .as_ref()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn data_value(secret: &Secret, key: &str) -> String {
    let value = secret.data.as_ref().and_then(|d| d.get(key));
    String::from_utf8(value.expect("the key is set").0.clone()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

fn po_path() -> String {
    format!("/apis/proxy-solutions.net/v1alpha1/namespaces/{NS}/proxyorders/{NAME}")
}

fn status_path() -> String {
    format!("{}/status", po_path())
}

fn secrets_path() -> String {
    format!("/api/v1/namespaces/{NS}/secrets")
}

fn credentials_path() -> String {
    format!("{}/{NAME}-proxy", secrets_path())
}

fn key_secret_path() -> String {
    format!("/api/v1/namespaces/{OPERATOR_NS}/secrets/{KEY_SECRET}")
}

fn leases_path() -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NS}/leases")
}

/// The name of the order's claim at the simulator `sim`.
fn claim(sim: &Simulator) -> String {
    let _ = sim;
    claim::claim_name(ORDER_ID)
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

/// The operator's default API-key Secret is read.
fn read_api_key() -> Step {
    Step::get(key_secret_path()).reply(200, api_key_secret())
}

/// The credentials Secret is read and does not exist.
fn credentials_missing() -> Step {
    Step::get(credentials_path()).fail(404, "NotFound")
}

/// The credentials Secret is read and is `secret`.
fn credentials_are(secret: Value) -> Step {
    Step::get(credentials_path()).reply(200, secret)
}

/// The order's claim is created for this ProxyOrder (the claim watch has not reported it).
fn claim_created(sim: &Simulator) -> Step {
    let name = claim(sim);
    Step::post(leases_path())
        .check(move |req| {
            assert_eq!(req.body["metadata"]["name"], json!(name));
            assert_eq!(
                req.body["spec"]["holderIdentity"],
                json!(format!("{NS}/{NAME}/{UID}"))
            );
        })
        .reply_with(|req| (201, with_version(req.body.clone(), "1")))
}

/// The order's claim is created again and exists already.
fn claim_exists(sim: &Simulator) -> Step {
    let name = claim(sim);
    Step::post(leases_path())
        .check(move |req| assert_eq!(req.body["metadata"]["name"], json!(name)))
        .fail(409, "AlreadyExists")
}

/// The order's claim is read and held by this ProxyOrder.
fn claim_held(sim: &Simulator) -> Step {
    let name = claim(sim);
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": OPERATOR_NS,
            "resourceVersion": "1",
            "labels": { claim::HOLDER_UID_LABEL: UID, claim::CLAIM_LABEL: "true" },
        },
        "spec": { "holderIdentity": format!("{NS}/{NAME}/{UID}") },
    });
    Step::get(format!("{}/{}", leases_path(), claim(sim))).reply(200, lease)
}

/// The ProxyOrder is read from the API server and is `po`.
fn read_order(po: &ProxyOrder) -> Step {
    Step::get(po_path()).reply(200, to_json(po))
}

/// The credentials Secret is created, owned by the ProxyOrder, with every key; the API server
/// stores it at resourceVersion 7.
fn secret_created() -> Step {
    Step::post(secrets_path())
        .check(|req| {
            let secret = secret_of(req);
            assert_eq!(secret.metadata.name.as_deref(), Some("web-proxy"));
            assert_eq!(data_keys(&secret), SECRET_KEYS);
            let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!((owner.uid.as_str(), owner.controller), (UID, Some(true)));
            assert!(req.query.contains(&format!("fieldManager={FIELD_MANAGER}")));
        })
        .reply_with(|req| (201, with_version(req.body.clone(), "7")))
}

/// A server-side apply of the status, by the operator's field manager, whose status passes
/// `check`; the API server answers with `po` carrying that status at resourceVersion `rv`.
fn status_applied(
    po: &ProxyOrder,
    rv: &'static str,
    check: impl FnOnce(&Value) + Send + 'static,
) -> Step {
    let stored = to_json(po);
    Step::patch(status_path())
        .check(move |req| {
            assert!(req.query.contains(&format!("fieldManager={FIELD_MANAGER}")));
            assert!(req.query.contains("force=true"));
            check(&req.body);
        })
        .reply_with(move |req| {
            let mut stored = with_version(stored, rv);
            stored["status"] = req.body["status"].clone();
            (200, stored)
        })
}

/// The condition `type_` of a status as written.
fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

/// Fails unless the status says Ready with the new port applied.
fn assert_ready(status: &Value) {
    assert_eq!(condition(status, "Ready")["status"], "True", "{status}");
    assert_eq!(condition(status, "Synced")["status"], "True", "{status}");
    assert_eq!(status["access"]["port"], json!(NEW_PORT));
    assert_eq!(status["secretName"], "web-proxy");
    assert!(status.get("pendingRequest").is_none(), "{status}");
}

/// The requests a first reconcile of a ProxyOrder makes before anything is decided: the API
/// key, the credentials Secret (missing), the claim.
fn first_observation(sim: &Simulator) -> Vec<Step> {
    vec![read_api_key(), credentials_missing(), claim_created(sim)]
}

/// When `action` looks again (`None`: only on a change). `Action` keeps it private, so it is
/// read from its `Debug` form, e.g. `Action { requeue_after: Some(291.5s) }`.
fn requeue_after(action: &Action) -> Option<Duration> {
    let text = format!("{action:?}");
    let inner = text.split("Some(").nth(1)?.split(')').next()?;
    let (number, unit) = inner.split_at(inner.find(|c: char| c.is_alphabetic() || c == 'µ')?);
    let value: f64 = number.parse().ok()?;
    let secs = match unit {
        "s" => value,
        "ms" => value / 1e3,
        "µs" => value / 1e6,
        "ns" => value / 1e9,
        _ => panic!("unknown unit in {text}"),
    };
    Some(Duration::from_secs_f64(secs))
}

/// Fails unless `action` comes back at the periodic refresh (300 s, jittered by ±10%).
fn assert_refresh(action: &Action) {
    let after = requeue_after(action).unwrap_or_else(|| panic!("no requeue: {action:?}"));
    assert!(
        (Duration::from_secs(270)..=Duration::from_secs(330)).contains(&after),
        "{action:?}"
    );
}
