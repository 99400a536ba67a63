//! The ProxyOrder controller. `run` wires the watches to the ProxyOrder and ProxyProvider
//! controllers; what a watched change wakes is in `mappers`, the stream helpers in `streams`.

pub mod cache;
pub mod claim;
pub mod conditions;
pub mod context;
pub mod gateway;
pub mod observe;
pub mod plan;
pub mod providers;
pub mod reconcile;
pub mod rollout;
pub mod tenancy;
pub mod validate;
pub mod verify;
pub mod watch;

mod mappers;
mod streams;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt, channel::mpsc};
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    coordination::v1::Lease,
    core::v1::{Namespace, Secret},
};
use kube::{
    Api, Client, ResourceExt,
    api::DynamicObject,
    core::PartialObjectMeta,
    discovery::ApiResource,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config as ControllerConfig,
        events::{Recorder, Reporter},
        predicates,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use parking_lot::Mutex;
use tracing::{info, warn};

use crate::{config::Config, leader::Fence, metrics::Metrics};
use context::{Context, Settings};
use gateway::ProviderGateway;
use mappers::{
    KeySecrets, SecretUsers, namespace_to_orders, provider_to_orders, secret_to_orders_of,
    secret_to_providers, workload_to_orders,
};
use proxy_order_api::ProxyProvider;
use proxy_order_api::{ProxyOrder, RELEASE_ORDER_ANNOTATION, WorkloadKind};
use streams::{applied_once_stored, logging_errors, metadata_watch, trigger_hash};

/// What the health and metrics server needs from a running controller.
#[derive(Clone)]
pub struct Handle {
    pub store: Store<ProxyOrder>,
    pub metrics: Arc<Metrics>,
}

/// Builds the controllers (ProxyOrders, and ProxyProviders' status) and returns their future
/// plus a handle for the health server. `fence` says when this replica may act (always,
/// without leader election).
pub async fn run(
    config: Config,
    client: Client,
    fence: Arc<Fence>,
) -> anyhow::Result<(Handle, impl std::future::Future<Output = ()>)> {
    let operator_ns = config.operator_namespace();
    if config.operator_namespace.is_none() && std::env::var_os("POD_NAMESPACE").is_none() {
        warn!(namespace = %operator_ns, "neither --operator-namespace nor POD_NAMESPACE is set: order claims are kept in this namespace; in a shared cluster set it to a namespace tenants cannot write to");
    }
    let metrics = Arc::new(Metrics::default());
    let gateway =
        ProviderGateway::new(config.provider.config(), config.rate_limit, metrics.clone())?;
    let (reader, writer) = reflector::store();
    // Every ProxyProvider and the watched namespaces' metadata: read by reconciles from these
    // stores (once listed) instead of from the API server.
    let (all_providers, all_providers_writer) = reflector::store::<ProxyProvider>();
    let (namespace_store, namespace_writer) = reflector::store::<PartialObjectMeta<Namespace>>();
    let reporter = Reporter {
        controller: proxy_order_api::EVENT_REPORTER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        gateway,
        recorder: Recorder::new(client.clone(), reporter.clone()),
        reporter,
        metrics: metrics.clone(),
        settings: Settings {
            refresh_interval: config.refresh_interval,
            default_api_key_secret: config.default_api_key_secret.clone(),
            empty_change_read: config.empty_change_read,
            terminal_recheck: config.terminal_recheck,
            backoff_base: Duration::from_secs(1),
            backoff_max: config.backoff_max,
            kube_backoff_max: Duration::from_secs(30),
            operator_namespace: operator_ns.clone(),
            allow_api_key_secret_ref: config.allow_api_key_secret_ref,
            rollout_targets: config.rollout_targets,
            sharded: config.selector.is_some(),
            claim_reservation: config.claim_reservation,
            rotation_min_interval: config.rotation_min_interval,
        },
        backoff: Mutex::default(),
        terminal: Mutex::default(),
        unsaved: Mutex::default(),
        store: Some(reader.clone()),
        fence,
        secrets: Arc::default(),
        claims: cache::VersionIndex::new(Some(claim::HOLDER_UID_LABEL)),
        holders: cache::Holders::default(),
        providers: Some(all_providers.clone()),
        namespaces: Some(namespace_store),
        written: cache::Written::default(),
        verifier: config.probe().map(verify::Verifier::new),
        listing_needed: Mutex::default(),
        new_salts: Mutex::default(),
        rotations: Mutex::default(),
        slots: context::Slots::new(config.concurrency.into()),
        started: std::time::Instant::now(),
    });

    // ProxyOrders are read untyped and decoded one by one (watch.rs): one that does not decode
    // must not stop the list and watch for all the others.
    let order_type = ApiResource::erase::<ProxyOrder>(&());
    let scoped_secrets = |ns: Option<&str>| scoped::<PartialObjectMeta<Secret>>(&client, ns);
    let orders_api: Api<DynamicObject> = match &config.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &order_type),
        None => Api::all_with(client.clone(), &order_type),
    };
    let mut wc = watcher::Config::default().any_semantic();
    if let Some(sel) = &config.selector {
        wc = wc.labels(sel);
    }
    let invalid = watch::Reporter::new(ctx.recorder.clone());
    let forget = ctx.clone();
    // A deleted ProxyOrder may have held an order others wait for: they are looked at again
    // at once (and take the claim over), not at their next re-check. So are those whose order
    // shows differently in a newly fetched order list (gateway::ListWaiters).
    let (wake, woken) = mpsc::unbounded::<ObjectRef<ProxyOrder>>();
    ctx.gateway.waiters.wake_into(wake.clone());
    let deleted_store = reader.clone();
    let secret_users = Arc::new(SecretUsers::default());
    let users = secret_users.clone();
    let orders = watcher(orders_api, wc)
        .default_backoff()
        .try_filter_map(move |ev| {
            // Not an object that stopped decoding (which is dropped from the cache like a
            // deleted one, but still exists and keeps its claim).
            let gone = matches!(ev, watcher::Event::Delete(_));
            let ev = watch::decode_event(ev, invalid.as_ref());
            if let Some(watcher::Event::Apply(po) | watcher::Event::InitApply(po)) = &ev {
                users.add(po);
                if let (Some(uid), Some(ns), Some(name)) = (
                    &po.metadata.uid,
                    &po.metadata.namespace,
                    &po.metadata.name,
                ) {
                    forget.holders.add(uid, ns, name);
                }
            }
            // A deleted ProxyOrder's retry bookkeeping, Secret names and order claims go with it.
            if let Some(watcher::Event::Delete(po)) = &ev {
                users.remove(po);
                forget.forget(&ObjectRef::from_obj(po));
                if let Some(uid) = &po.metadata.uid {
                    forget.forget_uid(uid);
                    if let Some(v) = &forget.verifier {
                        v.forget(uid);
                    }
                }
            }
            if let Some(watcher::Event::Delete(po)) = ev.as_ref().filter(|_| gone)
                && let Some(uid) = po.metadata.uid.clone()
            {
                // A deleted ProxyOrder's claim is reserved for its namespace (or released), and
                // then only the next claimant that can take it is woken: the oldest ProxyOrder
                // waiting for the order in that namespace (or anywhere, when released), not
                // every one (a tenant's hundreds of waiters would cost every tenant).
                let ctx = forget.clone();
                let (store, wake) = (deleted_store.clone(), wake.clone());
                let order_id = po.spec.order_id;
                let release_now =
                    po.annotations().get(RELEASE_ORDER_ANNOTATION).map(String::as_str)
                        == Some("true");
                tokio::spawn(async move {
                    let freed = match claim::release(&ctx, &uid, order_id, release_now).await {
                        Ok(freed) => freed,
                        Err(e) => {
                            warn!(error = %e, "could not free the order claim of a deleted ProxyOrder");
                            return;
                        }
                    };
                    if let Some(next) = freed.and_then(|f| next_claimant(&store, order_id, &uid, &f)) {
                        let _ = wake.unbounded_send(next);
                    }
                });
            }
            futures::future::ready(Ok(ev))
        })
        .modify(|po: &mut ProxyOrder| {
            // The cache keeps only what decisions read: not the managed fields, not labels
            // (--selector is applied by the API server), not annotations other than the
            // operator's own (`kubectl apply` leaves a copy of the whole object in one, and a
            // tenant could fill them with up to 256 KiB per object), so that what a namespace
            // makes the operator hold is bounded by the spec's own limits.
            po.managed_fields_mut().clear();
            po.labels_mut().clear();
            po.annotations_mut()
                .retain(|k, _| k.starts_with(proxy_order_api::ANNOTATION_PREFIX));
        })
        .reflect(writer);
    let orders = applied_once_stored(orders, reader.clone())
        .predicate_filter(trigger_hash, Default::default());

    // Secrets are watched by metadata only: every Secret in the watched scope (the credentials
    // Secrets it owns, and the API-key and password Secrets ProxyOrders name, labelled or not:
    // a Secret created or fixed after the ProxyOrder that names it is used at once), and,
    // where that scope does not cover them, the operator's namespace (ProxyProvider and
    // default API keys), the default key's Secret and the namespaces of ProxyProvider keys.
    // Only the resourceVersions are kept (cache.rs), and a Secret's data only once a
    // reconcile has read it.
    let watch_ns = config.namespace.as_deref();
    let covered = |ns: &str| watch_ns.is_none_or(|w| w == ns);
    // Each also tells the Secret cache which versions are current (cache.rs).
    let secret_watch = |api, wc| {
        metadata_watch(
            api,
            wc,
            ctx.secrets.index.tracker().purging(ctx.secrets.clone()),
        )
    };
    let mut secret_streams = vec![secret_watch(
        scoped_secrets(watch_ns),
        watcher::Config::default(),
    )];
    let mut key_namespaces: Vec<&str> = std::iter::once(operator_ns.as_str())
        .chain(config.provider_key_namespaces.iter().map(String::as_str))
        .filter(|ns| !ns.is_empty() && !covered(ns))
        .collect();
    key_namespaces.sort_unstable();
    key_namespaces.dedup();
    for ns in &key_namespaces {
        secret_streams.push(secret_watch(
            scoped_secrets(Some(ns)),
            watcher::Config::default(),
        ));
    }
    if let Some(d) = &config.default_api_key_secret
        && !covered(&d.namespace)
        && !key_namespaces.contains(&d.namespace.as_str())
    {
        // The default key lives outside what is watched: watch just that Secret.
        let wc = watcher::Config::default().fields(&format!("metadata.name={}", d.name));
        secret_streams.push(secret_watch(scoped_secrets(Some(&d.namespace)), wc));
    }

    // ProxyProviders: a change re-checks every ProxyOrder using it (it may have lost or gained
    // access), and namespaces' labels, for namespaceSelectors.
    let providers_api: Api<ProxyProvider> = Api::all(client.clone());
    // Spec changes (of the same object: a re-created one counts as changed), approvals and
    // deletions only, not the status the operator writes itself. Every ProxyProvider, whatever
    // --selector says: a ProxyOrder of this instance may name any.
    // The approve annotation counts as a change too: it releases held quantity increases.
    type Version = (Option<String>, Option<i64>, Option<String>);
    let mut seen: HashMap<String, Version> = HashMap::new();
    let provider_changes = watcher(
        providers_api.clone(),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(all_providers_writer)
    .try_filter_map(move |ev| {
        let changed = match ev {
            watcher::Event::Apply(pp) | watcher::Event::InitApply(pp) => {
                let approvals = pp
                    .annotations()
                    .get(proxy_order_api::APPROVE_ANNOTATION)
                    .cloned();
                let version = (pp.metadata.uid.clone(), pp.metadata.generation, approvals);
                (seen.insert(pp.name_any(), version.clone()) != Some(version)).then_some(pp)
            }
            watcher::Event::Delete(pp) => {
                seen.remove(&pp.name_any());
                Some(pp)
            }
            watcher::Event::Init | watcher::Event::InitDone => None,
        };
        futures::future::ready(Ok(changed))
    });
    let namespaces_api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
    let mut nwc = watcher::Config::default().any_semantic();
    if let Some(ns) = watch_ns {
        nwc = nwc.fields(&format!("metadata.name={ns}"));
    }
    let namespace_changes = watcher(namespaces_api, nwc)
        .default_backoff()
        .modify(|n: &mut PartialObjectMeta<Namespace>| {
            n.managed_fields_mut().clear();
            n.annotations_mut().clear();
        })
        .reflect(namespace_writer)
        .touched_objects()
        .predicate_filter(predicates::labels, Default::default());

    let (provider_reader, provider_writer) = reflector::store::<ProxyProvider>();
    let keys = Arc::new(KeySecrets {
        default_key: config.default_api_key_secret.clone(),
        operator_namespace: operator_ns.clone(),
        providers: all_providers,
    });
    let store = reader.clone();
    let mut controller = Controller::for_stream(orders, reader.clone())
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        .reconcile_on(woken)
        .watches_stream(logging_errors("ProxyProviders", provider_changes), {
            let store = store.clone();
            move |pp: ProxyProvider| provider_to_orders(&pp.name_any(), &store)
        })
        .watches_stream(logging_errors("Namespaces", namespace_changes), {
            let store = store.clone();
            move |n: PartialObjectMeta<Namespace>| namespace_to_orders(&n.name_any(), &store)
        });
    // A ProxyProvider's key Secret that changes has its status checked again at once too.
    let (provider_wake, provider_woken) = mpsc::unbounded::<ObjectRef<ProxyProvider>>();
    for stream in secret_streams {
        let store = store.clone();
        let (keys, users) = (keys.clone(), secret_users.clone());
        let provider_wake = provider_wake.clone();
        controller = controller.watches_stream(logging_errors("Secrets", stream), move |s| {
            let providers = secret_to_providers(&s, &keys.providers, &keys.operator_namespace);
            for pp in &providers {
                let _ = provider_wake.unbounded_send(pp.clone());
            }
            secret_to_orders_of(&s, &store, &keys, &users, &providers)
        });
    }

    // With --rollout-targets, the workloads (metadata only, creations and label changes): one
    // a ProxyOrder names that is created after it (TargetNotFound) is annotated at once.
    if config.rollout_targets {
        controller = watch_workloads::<Deployment>(
            controller,
            scoped(&client, watch_ns),
            WorkloadKind::Deployment,
            &store,
        );
        controller = watch_workloads::<StatefulSet>(
            controller,
            scoped(&client, watch_ns),
            WorkloadKind::StatefulSet,
            &store,
        );
        controller = watch_workloads::<DaemonSet>(
            controller,
            scoped(&client, watch_ns),
            WorkloadKind::DaemonSet,
            &store,
        );
    }

    // The ProxyProviders' status: those matching --selector, like the ProxyOrders.
    let mut pwc = watcher::Config::default().any_semantic();
    if let Some(sel) = &config.selector {
        pwc = pwc.labels(sel);
    }
    let provider_stream = watcher(providers_api, pwc)
        .default_backoff()
        .modify(|pp: &mut ProxyProvider| pp.managed_fields_mut().clear())
        .reflect(provider_writer);
    let provider_stream = applied_once_stored(provider_stream, provider_reader.clone())
        .predicate_filter(predicates::generation, Default::default());
    // The order claims, so that a claim this ProxyOrder holds is known without a read.
    let claims_api: Api<PartialObjectMeta<Lease>> = Api::namespaced(client.clone(), &operator_ns);
    let claim_changes = metadata_watch(
        claims_api,
        watcher::Config::default().labels(&format!("{}=true", claim::CLAIM_LABEL)),
        ctx.claims.tracker(),
    );
    controller = controller.watches_stream(logging_errors("order claims", claim_changes), |_| {
        std::iter::empty()
    });
    let provider_controller = Controller::for_stream(provider_stream, provider_reader.clone())
        .with_config(ControllerConfig::default().concurrency(2))
        .reconcile_on(provider_woken);

    let handle = Handle {
        store: reader,
        metrics,
    };
    let provider_ctx = ctx.clone();
    // ProxyProviders are cluster-wide: their status is written by an operator that watches
    // all namespaces. One watching a single namespace would report its own view of the key
    // (read from its own namespace) and overwrite the cluster-wide one's.
    let manage_providers = config.namespace.is_none();
    let migrate_ctx = ctx.clone();
    let fut = async move {
        // Claims named by an earlier version are renamed before any reconcile decides from
        // claims (two of them on one order would each let their holder manage it).
        let mut wait = Duration::from_secs(1);
        while let Err(e) = claim::migrate(&migrate_ctx).await {
            warn!(error = %e, "could not rename the order claims of an earlier version; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
        info!("controller started");
        let orders = controller
            .shutdown_on_signal()
            .run(reconcile::reconcile, reconcile::error_policy, ctx)
            .for_each(|res| async move {
                match res {
                    // A ProxyOrder deleted while a reconcile was queued: nothing to do.
                    Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                        tracing::debug!(%obj, "queued ProxyOrder no longer exists")
                    }
                    Err(e) => warn!(error = %e, "reconcile dispatch failed"),
                    Ok(_) => {}
                }
            });
        if !manage_providers {
            orders.await;
            info!("controller stopped");
            return;
        }
        let providers = provider_controller
            .shutdown_on_signal()
            .run(providers::reconcile, providers::error_policy, provider_ctx)
            .for_each(|res| async move {
                if let Err(e) = res
                    && !matches!(e, kube::runtime::controller::Error::ObjectNotFound(_))
                {
                    warn!(error = %e, "ProxyProvider reconcile dispatch failed");
                }
            });
        futures::future::join(orders, providers).await;
        info!("controller stopped");
    };
    Ok((handle, fut))
}

/// `controller` also woken by the creation (or a label change) of a workload of `kind`, seen
/// through `api` by metadata only: the ProxyOrders whose rollout targets name or select it.
fn watch_workloads<K>(
    controller: Controller<ProxyOrder>,
    api: Api<PartialObjectMeta<K>>,
    kind: WorkloadKind,
    store: &Store<ProxyOrder>,
) -> Controller<ProxyOrder>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: serde::de::DeserializeOwned,
{
    use std::hash::{Hash, Hasher};
    // Status updates change a workload's resourceVersion all the time; only a new object (a
    // new UID) or new labels can make it a target.
    let identity = |w: &PartialObjectMeta<K>| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        w.metadata.uid.hash(&mut h);
        w.metadata.labels.hash(&mut h);
        Some(h.finish())
    };
    let changes = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .touched_objects()
        .predicate_filter(identity, Default::default());
    let store = store.clone();
    controller.watches_stream(
        logging_errors(rollout::kind_name(kind), changes),
        move |w: PartialObjectMeta<K>| {
            let ns = w.namespace().unwrap_or_default();
            workload_to_orders(kind, &ns, &w.name_any(), w.labels(), &store)
        },
    )
}

/// The ProxyOrder to wake after the claim of `order_id` was freed (`freed`) by the deletion of
/// the one with `uid`: the oldest other one naming the order that may take it (in the reserved
/// namespace, or anywhere once released), if this instance has one.
fn next_claimant(
    store: &Store<ProxyOrder>,
    order_id: u64,
    uid: &str,
    freed: &claim::Freed,
) -> Option<ObjectRef<ProxyOrder>> {
    store
        .state_filter(|o| {
            o.spec.order_id == order_id
                && o.metadata.uid.as_deref() != Some(uid)
                && match freed {
                    claim::Freed::Reserved(ns) => o.metadata.namespace.as_deref() == Some(ns),
                    claim::Freed::Released => true,
                }
        })
        .iter()
        .min_by_key(|o| {
            (
                o.metadata.creation_timestamp.as_ref().map(|t| t.0),
                o.metadata.namespace.clone(),
                o.metadata.name.clone(),
            )
        })
        .map(|o| ObjectRef::from_obj(&**o))
}

/// `K` in namespace `ns`, or in all namespaces.
fn scoped<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}
