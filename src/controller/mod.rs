//! The ProxyOrder controller.

pub mod conditions;
pub mod context;
pub mod observe;
pub mod plan;
#[cfg(test)]
mod plan_tests;
pub mod reconcile;
pub mod validate;
pub mod watch;

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, Resource, ResourceExt,
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
use tracing::{info, warn};

use crate::{
    config::{Config, NamespacedName},
    crd::ProxyOrder,
    leader::Fence,
    metrics::Metrics,
    provider::ProviderClient,
};
use context::{Context, OrderCache, RateLimiter, Settings};

/// What the health and metrics server needs from a running controller.
#[derive(Clone)]
pub struct Handle {
    pub store: Store<ProxyOrder>,
    pub metrics: Arc<Metrics>,
}

/// Hash of what should trigger a reconcile: the spec (generation), annotations, finalizers and
/// deletion. Status writes, including the operator's own, change none of these.
fn trigger_hash(po: &ProxyOrder) -> Option<u64> {
    let mut h = DefaultHasher::new();
    po.metadata.generation.hash(&mut h);
    po.metadata.annotations.hash(&mut h);
    po.metadata.finalizers.hash(&mut h);
    po.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut h);
    po.metadata.uid.hash(&mut h);
    Some(h.finish())
}

/// ProxyOrders affected by a change of a Secret: the one that owns it, those that reference it
/// for the API key or the password, and those that want to write their credentials under its
/// name (so removing a Secret that blocked one, `SecretConflict`, is picked up at once).
fn secret_to_orders(
    secret: &PartialObjectMeta<Secret>,
    store: &Store<ProxyOrder>,
    default_key: Option<&NamespacedName>,
) -> Vec<ObjectRef<ProxyOrder>> {
    let ns = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    let mut out: Vec<ObjectRef<ProxyOrder>> = secret
        .owner_references()
        .iter()
        .filter(|o| o.controller == Some(true) && o.kind == ProxyOrder::kind(&()))
        .map(|o| ObjectRef::new(&o.name).within(&ns))
        .collect();
    let is_default = default_key.is_some_and(|d| d.namespace == ns && d.name == name);
    for po in store.state() {
        let same_ns = po.metadata.namespace.as_deref() == Some(ns.as_str());
        let api_key = match &po.spec.api_key_secret_ref {
            Some(r) => same_ns && r.name == name,
            None => is_default,
        };
        let password = same_ns
            && po
                .spec
                .password
                .as_ref()
                .and_then(|p| p.secret_key_ref.as_ref())
                .is_some_and(|r| r.name == name);
        let target = same_ns && po.writes_secret(&name);
        if api_key || password || target {
            out.push(ObjectRef::from_obj(&*po));
        }
    }
    out
}

/// Builds the controller and returns its future plus a handle for the health server.
/// `fence` says when this replica may act (always, without leader election).
pub async fn run(
    config: Config,
    client: Client,
    fence: Arc<Fence>,
) -> anyhow::Result<(Handle, impl std::future::Future<Output = ()>)> {
    let provider = ProviderClient::new(config.provider.config())?;
    let metrics = Arc::new(Metrics::default());
    let (reader, writer) = reflector::store();
    let reporter = Reporter {
        controller: "proxy-order-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        provider,
        recorder: Recorder::new(client.clone(), reporter),
        metrics: metrics.clone(),
        settings: Settings {
            refresh_interval: config.refresh_interval,
            default_api_key_secret: config.default_api_key_secret.clone(),
            empty_change_read: config.empty_change_read,
            terminal_recheck: config.terminal_recheck,
            backoff_base: Duration::from_secs(1),
            backoff_max: config.backoff_max,
            kube_backoff_max: Duration::from_secs(30),
        },
        orders: OrderCache::default(),
        limiter: RateLimiter::new(config.rate_limit),
        backoff: Mutex::default(),
        terminal: Mutex::default(),
        unsaved: Mutex::default(),
        store: Some(reader.clone()),
        fence,
    });

    // ProxyOrders are read untyped and decoded one by one (watch.rs): one that does not decode
    // must not stop the list and watch for all the others.
    let order_type = ApiResource::erase::<ProxyOrder>(&());
    let (orders_api, secrets_api): (Api<DynamicObject>, Api<PartialObjectMeta<Secret>>) =
        match &config.namespace {
            Some(ns) => (
                Api::namespaced_with(client.clone(), ns, &order_type),
                Api::namespaced(client.clone(), ns),
            ),
            None => (
                Api::all_with(client.clone(), &order_type),
                Api::all(client.clone()),
            ),
        };
    let mut wc = watcher::Config::default().any_semantic();
    if let Some(sel) = &config.selector {
        wc = wc.labels(sel);
    }
    let invalid = watch::Reporter::new(ctx.recorder.clone());
    let forget = ctx.clone();
    let orders = watcher(orders_api, wc)
        .default_backoff()
        .try_filter_map(move |ev| {
            let ev = watch::decode_event(ev, invalid.as_ref());
            // A deleted ProxyOrder's retry bookkeeping goes with it.
            if let Some(watcher::Event::Delete(po)) = &ev {
                forget.forget(&ObjectRef::from_obj(po));
            }
            futures::future::ready(Ok(ev))
        })
        .modify(|po: &mut ProxyOrder| po.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(trigger_hash, Default::default());

    let secrets = watcher(secrets_api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|s: &mut PartialObjectMeta<Secret>| s.managed_fields_mut().clear())
        .touched_objects()
        .predicate_filter(predicates::resource_version, Default::default());
    let mut default_keys = Vec::new();
    if let Some(d) = &config.default_api_key_secret
        && config
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != d.namespace)
    {
        // The default key lives outside the watched namespace: watch just that Secret.
        let api: Api<PartialObjectMeta<Secret>> = Api::namespaced(client.clone(), &d.namespace);
        let wc = watcher::Config::default().fields(&format!("metadata.name={}", d.name));
        default_keys.push(
            watcher(api, wc)
                .default_backoff()
                .touched_objects()
                .predicate_filter(predicates::resource_version, Default::default())
                .boxed(),
        );
    }

    let store = reader.clone();
    let default_key = config.default_api_key_secret.clone();
    let mut controller = Controller::for_stream(orders, reader.clone())
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        .watches_stream(secrets, {
            let store = store.clone();
            let default_key = default_key.clone();
            move |s| secret_to_orders(&s, &store, default_key.as_ref())
        });
    for stream in default_keys {
        let store = store.clone();
        let default_key = default_key.clone();
        controller = controller.watches_stream(stream, move |s| {
            secret_to_orders(&s, &store, default_key.as_ref())
        });
    }
    let handle = Handle {
        store: reader,
        metrics,
    };
    let fut = async move {
        info!("controller started");
        controller
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
            })
            .await;
        info!("controller stopped");
    };
    Ok((handle, fut))
}
