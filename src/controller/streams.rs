//! Building blocks of the controller's watch streams: the filter that lets only spec,
//! annotation, finalizer and deletion changes of a ProxyOrder through, metadata-only watches
//! that keep an index of resourceVersions, and secondary watches that log their errors instead of passing them on.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
};

use futures::{StreamExt, TryStreamExt};
use kube::{
    Api, ResourceExt,
    core::PartialObjectMeta,
    runtime::{WatchStreamExt, watcher},
};
use tracing::warn;

use super::cache::Tracker;
use crate::crd::ProxyOrder;

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
}
