//! Building blocks of the controller's watch streams: the filter that lets only spec,
//! annotation, finalizer and deletion changes of a ProxyOrder through, the objects to reconcile
//! once the store holds them, metadata-only watches that keep an index of resourceVersions,
//! and secondary watches that log their errors instead of passing them on.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
};

use futures::{StreamExt, TryStreamExt};
use kube::{
    Api, Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use tracing::warn;

use super::cache::Tracker;
use proxy_order_api::ProxyOrder;

/// Hash of what should trigger a reconcile: the spec (generation), annotations, finalizers and
/// deletion. Status writes, including the operator's own, change none of these.
pub(super) fn trigger_hash(po: &ProxyOrder) -> Option<u64> {
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

/// The objects of `events` to reconcile, as kube's `applied_objects` gives them, except in a
/// relist after the first list: an object the relist brings that the store does not hold at
/// that resourceVersion (one created or changed while the watch was down) is held back until
/// the relist is done. `events` must have passed the reflector that fills `store`.
///
/// kube-runtime swaps a relist into the store only at its end, and the controller looks each
/// triggered object up in the store: one it cannot find is dropped (`ObjectNotFound`), one
/// changed is reconciled from its older copy, and neither is triggered again until it changes.
/// (During the first list the controller waits for the store, so nothing is held then.)
pub(super) fn applied_once_stored<K>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    store: Store<K>,
) -> futures::stream::BoxStream<'static, Result<K, watcher::Error>>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let mut listed = false;
    let mut held: Vec<K> = Vec::new();
    events
        .map(move |ev| {
            let out = match ev {
                Ok(watcher::Event::Apply(o)) => vec![Ok(o)],
                Ok(watcher::Event::InitApply(o)) => {
                    let stored = store
                        .get(&ObjectRef::from_obj(&o))
                        .is_some_and(|s| s.resource_version() == o.resource_version());
                    if listed && !stored {
                        held.push(o);
                        Vec::new()
                    } else {
                        vec![Ok(o)]
                    }
                }
                // A relist starts (again): what an interrupted one held comes again in it.
                Ok(watcher::Event::Init) => {
                    held.clear();
                    Vec::new()
                }
                Ok(watcher::Event::InitDone) => {
                    listed = true;
                    held.drain(..).map(Ok).collect()
                }
                Ok(watcher::Event::Delete(_)) => Vec::new(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(out)
        })
        .flatten()
        .boxed()
}

/// A secondary watch whose failures are logged and dropped instead of reaching the controller:
/// one that keeps failing (a CRD not installed, a permission missing) retries with its own
/// backoff and must not hold up the reconciles the other watches trigger.
pub(super) fn logging_errors<T: Send + 'static>(
    what: &'static str,
    stream: impl futures::Stream<Item = Result<T, watcher::Error>> + Send + 'static,
) -> futures::stream::BoxStream<'static, Result<T, watcher::Error>> {
    stream
        .filter_map(move |r| {
            futures::future::ready(match r {
                Ok(v) => Some(Ok(v)),
                Err(e) => {
                    warn!(watch = what, error = %e, "watch failed; retrying");
                    None
                }
            })
        })
        .boxed()
}

/// A metadata-only watch of `K`, changes only, that keeps `tracker`'s part of an index of
/// resourceVersions up to date. The index also says which objects changed, so no second
/// per-object cache (kube's predicate filter) is kept for these watches.
pub(super) fn metadata_watch<K>(
    api: Api<PartialObjectMeta<K>>,
    wc: watcher::Config,
    tracker: Tracker,
) -> futures::stream::BoxStream<'static, Result<PartialObjectMeta<K>, watcher::Error>>
where
    K: kube::Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    watcher(api, wc.any_semantic())
        .default_backoff()
        .modify(|s: &mut PartialObjectMeta<K>| s.managed_fields_mut().clear())
        .try_filter_map(move |ev| {
            let news = tracker.apply(&ev);
            futures::future::ready(Ok(match ev {
                watcher::Event::Apply(o)
                | watcher::Event::InitApply(o)
                | watcher::Event::Delete(o)
                    if news =>
                {
                    Some(o)
                }
                _ => None,
            }))
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_watch_reaches_the_controller_only_with_its_objects() {
        let items: Vec<Result<u32, watcher::Error>> = vec![
            Ok(1),
            Err(watcher::Error::NoResourceVersion),
            Ok(2),
            Err(watcher::Error::NoResourceVersion),
        ];
        let out: Vec<u32> = logging_errors("test", futures::stream::iter(items))
            .map(|r| r.expect("errors are dropped"))
            .collect()
            .await;
        assert_eq!(out, [1, 2]);
    }

    #[tokio::test]
    async fn a_relist_triggers_new_and_changed_objects_once_the_store_holds_them() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::{api::ObjectMeta, runtime::reflector};
        use watcher::Event::{Apply, Init, InitApply, InitDone};

        let cm = |name: &str, rv: &str| ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let events = vec![
            Ok(Init),
            Ok(InitApply(cm("a", "1"))),
            Ok(InitDone),
            Ok(Apply(cm("b", "2"))),
            // The watch expired: a relist, interrupted, then again. `a` is unchanged, `c` was
            // created and `b` changed meanwhile.
            Ok(Init),
            Ok(InitApply(cm("c", "3"))),
            Err(watcher::Error::NoResourceVersion),
            Ok(Init),
            Ok(InitApply(cm("a", "1"))),
            Ok(InitApply(cm("c", "3"))),
            Ok(InitApply(cm("b", "4"))),
            Ok(InitDone),
        ];
        let (reader, writer) = reflector::store::<ConfigMap>();
        let store = reader.clone();
        // Each object as it is triggered, and whether the store holds that version then.
        let out: Vec<(String, String, bool)> =
            applied_once_stored(futures::stream::iter(events).reflect(writer), reader)
                .filter_map(|r| futures::future::ready(r.ok()))
                .map(|o| {
                    let stored = store
                        .get(&ObjectRef::from_obj(&o))
                        .is_some_and(|s| s.resource_version() == o.resource_version());
                    (o.name_any(), o.resource_version().unwrap(), stored)
                })
                .collect()
                .await;
        let expect = |name: &str, rv: &str, stored| (name.to_string(), rv.to_string(), stored);
        assert_eq!(
            out,
            [
                // The first list: the controller waits for the store itself.
                expect("a", "1", false),
                expect("b", "2", true),
                expect("a", "1", true),
                expect("c", "3", true),
                expect("b", "4", true),
            ]
        );
    }
}
