//! What the operator remembers between reconciles so that a ProxyOrder whose world did not
//! change costs no API-server read:
//!
//! - [`VersionIndex`]: the resourceVersion (and one label) of every object a metadata-only
//!   watch delivers, kept up to date by the watch streams themselves.
//! - [`SecretCache`]: Secrets as last read or written, used only while the watch still reports
//!   the same resourceVersion, so a change by anyone is read again.
//! - [`Written`]: the resourceVersions before and after each ProxyOrder's last write by this
//!   process, so a cached copy that already shows that write counts as current, and one that
//!   is still the version the write replaced is known to lag.
//!
//! A Secret no watch covers (an unlabelled one in a tenant's namespace) is never served from
//! memory: it is read each time, as before.

use std::{collections::HashMap, sync::Arc};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::{Api, ResourceExt, core::PartialObjectMeta, runtime::watcher};
use parking_lot::Mutex;

use crate::error::Result;

/// The annotation `kubectl apply` keeps its last applied manifest in.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `namespace/name` (neither may contain a `/`), one allocation per object.
type Key = Box<str>;

/// The largest value of a referenced Secret's key that is kept between reconciles (API keys
/// and passwords are far smaller); a larger one is read each time.
pub const MAX_KEPT_VALUE: usize = 16 * 1024;

/// The largest Secret (data, labels and annotations) whose copy is kept between reconciles; a
/// larger one is read each time it is needed.
pub const MAX_KEPT_SECRET: usize = 64 * 1024;

/// About how many bytes `secret`'s data, labels and annotations take.
fn size_of(secret: &Secret) -> usize {
    let pairs = |m: Option<&std::collections::BTreeMap<String, String>>| {
        m.into_iter()
            .flatten()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
    };
    let data: usize = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.0.len())
        .sum();
    data + pairs(secret.metadata.labels.as_ref()) + pairs(secret.metadata.annotations.as_ref())
}

/// Whether `secret` carries the operator's label (one it made, or a forgery of one, which
/// observe tells apart: either way it is not a Secret a tenant merely names).
fn made_by_operator(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(proxy_order_api::MANAGED_BY_LABEL))
        .is_some_and(|v| v == proxy_order_api::MANAGED_BY)
}

/// Whether `secret` has `key` in its data.
fn has_key(secret: &Secret, key: &str) -> bool {
    secret.data.as_ref().is_some_and(|d| d.contains_key(key))
}

fn key(ns: &str, name: &str) -> Key {
    let mut k = String::with_capacity(ns.len() + 1 + name.len());
    k.push_str(ns);
    k.push('/');
    k.push_str(name);
    k.into_boxed_str()
}

/// A resourceVersion as the index keeps it: the decimal numbers the API server hands out
/// inline, anything else (they are opaque strings) as text. Only compared for equality, and
/// only a canonical number is stored as one, so two different strings never compare equal.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Version {
    Number(u64),
    Text(Box<str>),
}

impl Version {
    fn of(rv: &str) -> Self {
        match rv.parse::<u64>() {
            Ok(n) if n.to_string() == rv => Version::Number(n),
            _ => Version::Text(rv.into()),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Version::Number(n) => write!(f, "{n}"),
            Version::Text(t) => f.write_str(t),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    resource_version: Version,
    label: Option<Box<str>>,
}

#[derive(Default)]
struct StreamIndex {
    live: HashMap<Key, Entry>,
    /// A re-list in progress: replaces `live` when it is complete.
    building: Option<HashMap<Key, Entry>>,
}

/// The resourceVersions (and the value of one label) of the objects some metadata-only watches
/// deliver. Each watch stream feeds its own part, so one stream's re-list never hides what
/// another one reported.
pub struct VersionIndex {
    label: Option<&'static str>,
    streams: Mutex<Vec<Arc<Mutex<StreamIndex>>>>,
}

/// One watch stream's feed into a [`VersionIndex`].
#[derive(Clone)]
pub struct Tracker {
    label: Option<&'static str>,
    part: Arc<Mutex<StreamIndex>>,
    on_delete: Option<Arc<SecretCache>>,
}

impl VersionIndex {
    /// An index that also keeps the value of `label` of each object.
    pub fn new(label: Option<&'static str>) -> Self {
        VersionIndex {
            label,
            streams: Mutex::default(),
        }
    }

    /// A feed for one more watch stream.
    pub fn tracker(&self) -> Tracker {
        let part = Arc::new(Mutex::new(StreamIndex::default()));
        self.streams.lock().push(part.clone());
        Tracker {
            label: self.label,
            part,
            on_delete: None,
        }
    }

    /// What the streams that cover `ns/name` report, when they agree. Several streams can cover
    /// one object (the operator's namespace is watched whole and by label), and each is polled on
    /// its own: the one that just woke a reconcile may be ahead of another that has not yet
    /// delivered the same change. Disagreement therefore means "changing": no version is
    /// vouched for, so the object is read from the API server rather than served stale.
    fn entry(&self, ns: &str, name: &str) -> Option<Entry> {
        let key = key(ns, name);
        let streams = self.streams.lock();
        let mut found: Option<Entry> = None;
        for s in streams.iter() {
            let Some(e) = s.lock().live.get(&key).cloned() else {
                continue;
            };
            match &found {
                Some(f) if *f != e => return None,
                Some(_) => {}
                None => found = Some(e),
            }
        }
        found
    }

    /// The resourceVersion the watches covering `ns/name` report, if one covers it and all that
    /// do agree.
    pub fn version(&self, ns: &str, name: &str) -> Option<String> {
        self.entry(ns, name).map(|e| e.resource_version.to_string())
    }

    /// Whether a watch reports `ns/name`, and the value of the index's label on it.
    pub fn label(&self, ns: &str, name: &str) -> Option<Option<String>> {
        self.entry(ns, name).map(|e| e.label.map(String::from))
    }
}

impl Tracker {
    /// Also drops a deleted Secret's copy from `cache`.
    pub fn purging(mut self, cache: Arc<SecretCache>) -> Self {
        self.on_delete = Some(cache);
        self
    }

    fn entry<K: kube::Resource>(&self, obj: &PartialObjectMeta<K>) -> Option<(Key, Entry)> {
        let resource_version = Version::of(obj.metadata.resource_version.as_deref()?);
        let label = self
            .label
            .and_then(|l| obj.labels().get(l))
            .map(|v| v.as_str().into());
        let meta = &obj.metadata;
        Some((
            key(
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            ),
            Entry {
                resource_version,
                label,
            },
        ))
    }

    /// Applies one watch event. True when its object is news to the controller: first seen,
    /// at another resourceVersion than the stream last reported, or deleted. A re-list
    /// repeats every object, and only those that changed meanwhile are news.
    pub fn apply<K: kube::Resource>(&self, event: &watcher::Event<PartialObjectMeta<K>>) -> bool {
        let mut part = self.part.lock();
        let changed = |part: &StreamIndex, key: &Key, entry: &Entry| {
            part.live.get(key).map(|e| &e.resource_version) != Some(&entry.resource_version)
        };
        match event {
            watcher::Event::Init => {
                part.building = Some(HashMap::new());
                false
            }
            watcher::Event::InitApply(obj) => {
                let Some((key, entry)) = self.entry(obj) else {
                    return true;
                };
                let news = changed(&part, &key, &entry);
                part.building
                    .get_or_insert_with(HashMap::new)
                    .insert(key, entry);
                news
            }
            watcher::Event::InitDone => {
                if let Some(built) = part.building.take() {
                    part.live = built;
                }
                false
            }
            watcher::Event::Apply(obj) => {
                let Some((key, entry)) = self.entry(obj) else {
                    return true;
                };
                let news = changed(&part, &key, &entry);
                part.live.insert(key, entry);
                news
            }
            watcher::Event::Delete(obj) => {
                let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
                part.live.remove(&key(&ns, &name));
                if let Some(cache) = &self.on_delete {
                    cache.forget(&ns, &name);
                }
                true
            }
        }
    }
}

/// Secrets as last read or written, by `(namespace, name)`, each served only while the
/// [`VersionIndex`] of the Secret watches reports the same resourceVersion.
pub struct SecretCache {
    pub index: VersionIndex,
    copies: Mutex<HashMap<Key, Arc<Secret>>>,
}

impl Default for SecretCache {
    fn default() -> Self {
        SecretCache {
            index: VersionIndex::new(None),
            copies: Mutex::default(),
        }
    }
}

impl SecretCache {
    /// The Secret `ns/name`: the kept copy when a watch reports its version unchanged,
    /// otherwise read from the API server (and kept). `Ok(None)`: it does not exist.
    pub async fn get(
        &self,
        api: &Api<Secret>,
        ns: &str,
        name: &str,
    ) -> Result<Option<Arc<Secret>>> {
        if let Some(copy) = self.current(ns, name) {
            return Ok(Some(copy));
        }
        let read = api.get_opt(name).await?;
        Ok(read.map(|s| self.admit(ns, s)))
    }

    /// Key `key` of the Secret `ns/name`, for a reference to it (an API key, a password): the
    /// Secret as [`Self::get`] would give it, except that of a Secret the operator did not make
    /// only the keys asked for are kept, each only up to [`MAX_KEPT_VALUE`] bytes, so that a
    /// tenant naming large Secrets (or many, in turn) makes the operator hold next to nothing.
    /// The Secret returned holds `key` if the Secret has it.
    pub async fn get_key(
        &self,
        api: &Api<Secret>,
        ns: &str,
        name: &str,
        key: &str,
    ) -> Result<Option<Arc<Secret>>> {
        if let Some(copy) = self.current(ns, name).filter(|s| has_key(s, key)) {
            return Ok(Some(copy));
        }
        let Some(read) = api.get_opt(name).await? else {
            return Ok(None);
        };
        if made_by_operator(&read) {
            return Ok(Some(self.admit(ns, read)));
        }
        let read = Arc::new(read);
        if self.index.version(ns, name).is_some() {
            self.keep_keys(ns, &read, key);
        }
        Ok(Some(read))
    }

    /// Keeps of `secret` (not the operator's) only `key`, when small enough, beside the keys
    /// already kept of the same version.
    fn keep_keys(&self, ns: &str, secret: &Secret, key: &str) {
        let Some(value) = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .filter(|v| v.0.len() <= MAX_KEPT_VALUE)
        else {
            return;
        };
        let mut copies = self.copies.lock();
        let k = self::key(ns, &secret.name_any());
        let mut data = copies
            .get(&k)
            .filter(|c| c.metadata.resource_version == secret.metadata.resource_version)
            .and_then(|c| c.data.clone())
            .unwrap_or_default();
        data.insert(key.to_string(), value.clone());
        let kept = Secret {
            metadata: ObjectMeta {
                name: secret.metadata.name.clone(),
                namespace: secret.metadata.namespace.clone(),
                resource_version: secret.metadata.resource_version.clone(),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        if kept.metadata.resource_version.is_some() {
            copies.insert(k, Arc::new(kept));
        }
    }

    /// A Secret just read: kept when a watch covers it (so the copy can be served and is
    /// dropped when the Secret is deleted), passed through otherwise.
    fn admit(&self, ns: &str, secret: Secret) -> Arc<Secret> {
        if self.index.version(ns, &secret.name_any()).is_some() {
            self.keep(ns, secret)
        } else {
            Arc::new(secret)
        }
    }

    /// The kept copy of `ns/name`, if a watch reports the same version.
    fn current(&self, ns: &str, name: &str) -> Option<Arc<Secret>> {
        let version = self.index.version(ns, name)?;
        let copies = self.copies.lock();
        copies
            .get(&key(ns, name))
            .filter(|s| s.metadata.resource_version.as_deref() == Some(version.as_str()))
            .cloned()
    }

    /// Keeps `secret` (as the API server returned it after a read or a write) for `ns`,
    /// without the metadata no reconcile reads.
    pub fn keep(&self, ns: &str, mut secret: Secret) -> Arc<Secret> {
        let meta = &mut secret.metadata;
        meta.managed_fields = None;
        meta.creation_timestamp = None;
        meta.generate_name = None;
        meta.self_link = None;
        if let Some(annotations) = meta.annotations.as_mut() {
            annotations.remove(LAST_APPLIED_ANNOTATION);
        }
        let secret = Arc::new(secret);
        let k = key(ns, &secret.name_any());
        if secret.metadata.resource_version.is_none() {
            return secret;
        }
        if size_of(&secret) > MAX_KEPT_SECRET {
            // Read again each time instead: a tenant's large templates and annotations are not
            // the operator's to hold for every ProxyOrder.
            self.copies.lock().remove(&k);
            return secret;
        }
        self.copies.lock().insert(k, secret.clone());
        secret
    }

    pub fn forget(&self, ns: &str, name: &str) {
        self.copies.lock().remove(&key(ns, name));
    }

    /// How many copies are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.copies.lock().len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The ProxyOrders the controller's watch holds, by UID: `namespace/name` of each. Whether an
/// order claim's holder (a UID on the claim) still exists is answered from here, without a
/// read, when the holder is in this instance's cache.
#[derive(Default)]
pub struct Holders(Mutex<HashMap<Box<str>, Box<str>>>);

impl Holders {
    /// Notes a ProxyOrder the watch reported.
    pub fn add(&self, uid: &str, ns: &str, name: &str) {
        let mut map = self.0.lock();
        if !map.contains_key(uid) {
            map.insert(uid.into(), key(ns, name));
        }
    }

    /// Forgets a ProxyOrder the watch no longer reports.
    pub fn remove(&self, uid: &str) {
        self.0.lock().remove(uid);
    }

    /// `namespace/name` of the ProxyOrder with `uid`, if the watch reports it.
    pub fn get(&self, uid: &str) -> Option<String> {
        self.0.lock().get(uid).map(|k| k.to_string())
    }
}

/// The resourceVersions each ProxyOrder (by UID) had before and after this process last
/// wrote it.
#[derive(Default)]
pub struct Written(Mutex<HashMap<Box<str>, Write>>);

/// The version a write replaced (if known) and the one it left.
type Write = (Option<Version>, Version);

impl Written {
    /// A write of `uid` that replaced version `before` and left version `after`.
    pub fn note(&self, uid: &str, before: Option<String>, after: Option<String>) {
        let mut map = self.0.lock();
        match after {
            Some(after) => map.insert(
                uid.into(),
                (before.as_deref().map(Version::of), Version::of(&after)),
            ),
            None => map.remove(uid),
        };
    }

    /// Whether `resource_version` is the version this process's last write of `uid` left:
    /// then a cached copy at that version is as current as a fresh read.
    pub fn is_last(&self, uid: &str, resource_version: Option<&str>) -> bool {
        let Some(rv) = resource_version.map(Version::of) else {
            return false;
        };
        self.0
            .lock()
            .get(uid)
            .is_some_and(|(_, after)| *after == rv)
    }

    /// Whether `resource_version` is the version this process's last write of `uid` replaced:
    /// then a cached copy at that version lags that write, and the watch will bring it.
    pub fn is_replaced(&self, uid: &str, resource_version: Option<&str>) -> bool {
        let Some(rv) = resource_version.map(Version::of) else {
            return false;
        };
        self.0
            .lock()
            .get(uid)
            .is_some_and(|(before, _)| before.as_ref() == Some(&rv))
    }

    pub fn forget(&self, uid: &str) {
        self.0.lock().remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(ns: &str, name: &str, rv: &str, holder: Option<&str>) -> PartialObjectMeta<Secret> {
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                labels: holder.map(|h| [("holder".to_string(), h.to_string())].into()),
                ..Default::default()
            },
            _phantom: Default::default(),
        }
    }

    fn secret(ns: &str, name: &str, rv: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    type Ev = watcher::Event<PartialObjectMeta<Secret>>;

    #[test]
    fn the_index_follows_applies_deletes_and_relists() {
        let index = VersionIndex::new(Some("holder"));
        let t = index.tracker();
        t.apply(&watcher::Event::Apply(meta("a", "s", "1", Some("u1"))));
        assert_eq!(index.version("a", "s").as_deref(), Some("1"));
        assert_eq!(index.label("a", "s"), Some(Some("u1".to_string())));
        t.apply(&watcher::Event::Apply(meta("a", "s", "2", None)));
        assert_eq!(index.version("a", "s").as_deref(), Some("2"));
        assert_eq!(index.label("a", "s"), Some(None));
        // A re-list replaces what the stream reported only when it is complete.
        t.apply(&Ev::Init);
        t.apply(&watcher::Event::InitApply(meta("a", "t", "5", None)));
        assert_eq!(index.version("a", "s").as_deref(), Some("2"));
        t.apply(&Ev::InitDone);
        assert_eq!(index.version("a", "s"), None);
        assert_eq!(index.version("a", "t").as_deref(), Some("5"));
        t.apply(&watcher::Event::Delete(meta("a", "t", "6", None)));
        assert_eq!(index.version("a", "t"), None);
        assert_eq!(index.label("a", "t"), None);
    }

    #[test]
    fn only_new_changed_and_deleted_objects_are_news() {
        let index = VersionIndex::new(None);
        let t = index.tracker();
        assert!(t.apply(&watcher::Event::Apply(meta("a", "s", "1", None))));
        assert!(!t.apply(&watcher::Event::Apply(meta("a", "s", "1", None))));
        assert!(t.apply(&watcher::Event::Apply(meta("a", "s", "2", None))));
        // A re-list: the unchanged object is not news, the changed and the new one are.
        assert!(t.apply(&watcher::Event::Apply(meta("a", "u", "3", None))));
        assert!(!t.apply(&Ev::Init));
        assert!(!t.apply(&watcher::Event::InitApply(meta("a", "s", "2", None))));
        assert!(t.apply(&watcher::Event::InitApply(meta("a", "u", "4", None))));
        assert!(t.apply(&watcher::Event::InitApply(meta("a", "v", "5", None))));
        assert!(!t.apply(&Ev::InitDone));
        assert!(t.apply(&watcher::Event::Delete(meta("a", "s", "6", None))));
        assert!(!t.apply(&watcher::Event::Apply(meta("a", "v", "5", None))));
    }

    #[test]
    fn one_streams_relist_does_not_hide_another_streams_objects() {
        let index = VersionIndex::new(None);
        let (one, two) = (index.tracker(), index.tracker());
        one.apply(&watcher::Event::Apply(meta("a", "s", "1", None)));
        two.apply(&Ev::Init);
        two.apply(&Ev::InitDone);
        assert_eq!(index.version("a", "s").as_deref(), Some("1"));
    }

    #[test]
    fn versions_are_kept_exactly_numbers_or_not() {
        for rv in [
            "0",
            "7",
            "18446744073709551615",
            "007",
            "+7",
            "18446744073709551616",
            "a1",
            "",
        ] {
            assert_eq!(Version::of(rv).to_string(), rv);
        }
        assert_eq!(Version::of("42"), Version::Number(42));
        assert_ne!(Version::of("007"), Version::of("7"));
        assert_ne!(Version::of("+7"), Version::of("7"));
        let index = VersionIndex::new(Some("holder"));
        let t = index.tracker();
        t.apply(&watcher::Event::Apply(meta("a", "s", "0012", Some("u1"))));
        assert_eq!(index.version("a", "s").as_deref(), Some("0012"));
        assert!(!t.apply(&watcher::Event::Apply(meta("a", "s", "0012", Some("u1")))));
        assert!(t.apply(&watcher::Event::Apply(meta("a", "s", "12", Some("u1")))));
        assert_eq!(index.label("a", "s"), Some(Some("u1".to_string())));
        // Keys do not run into each other.
        t.apply(&watcher::Event::Apply(meta("a", "b-c", "1", None)));
        t.apply(&watcher::Event::Apply(meta("a-b", "c", "2", None)));
        assert_eq!(index.version("a", "b-c").as_deref(), Some("1"));
        assert_eq!(index.version("a-b", "c").as_deref(), Some("2"));
    }

    #[test]
    fn streams_that_disagree_vouch_for_no_version() {
        let cache = Arc::new(SecretCache::default());
        let (one, two) = (cache.index.tracker(), cache.index.tracker());
        one.apply(&watcher::Event::Apply(meta("a", "key", "1", None)));
        two.apply(&watcher::Event::Apply(meta("a", "key", "1", None)));
        cache.keep("a", secret("a", "key", "1"));
        assert!(cache.current("a", "key").is_some());
        // The second stream delivers a change first (and wakes a reconcile); the first has not
        // caught up yet. The old copy must not be served, whichever stream is asked first.
        two.apply(&watcher::Event::Apply(meta("a", "key", "2", None)));
        assert_eq!(cache.index.version("a", "key"), None);
        assert!(cache.current("a", "key").is_none());
        // Read from the API server meanwhile: passed through, not kept as current.
        cache.admit("a", secret("a", "key", "2"));
        one.apply(&watcher::Event::Apply(meta("a", "key", "2", None)));
        assert_eq!(cache.index.version("a", "key").as_deref(), Some("2"));
        // A stream that does not cover the object at all does not count as disagreeing.
        let three = cache.index.tracker();
        three.apply(&watcher::Event::Apply(meta("a", "other", "9", None)));
        assert_eq!(cache.index.version("a", "key").as_deref(), Some("2"));
    }

    #[test]
    fn a_copy_is_served_only_at_the_version_the_watch_reports() {
        let cache = Arc::new(SecretCache::default());
        let t = cache.index.tracker().purging(cache.clone());
        cache.keep("a", secret("a", "s", "1"));
        // No watch reports it: not served (a Secret no watch covers is always read).
        assert!(cache.current("a", "s").is_none());
        t.apply(&watcher::Event::Apply(meta("a", "s", "1", None)));
        assert!(cache.current("a", "s").is_some());
        // Someone changed it: read again.
        t.apply(&watcher::Event::Apply(meta("a", "s", "2", None)));
        assert!(cache.current("a", "s").is_none());
        cache.keep("a", secret("a", "s", "2"));
        assert!(cache.current("a", "s").is_some());
        // Deleted: the copy goes.
        t.apply(&watcher::Event::Delete(meta("a", "s", "2", None)));
        assert!(cache.current("a", "s").is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_secret_no_watch_covers_is_not_kept() {
        let cache = SecretCache::default();
        let t = cache.index.tracker();
        cache.admit("a", secret("a", "unwatched", "1"));
        assert!(cache.is_empty());
        t.apply(&watcher::Event::Apply(meta("a", "watched", "1", None)));
        cache.admit("a", secret("a", "watched", "1"));
        assert_eq!(cache.len(), 1);
        assert!(cache.current("a", "watched").is_some());
    }

    #[test]
    fn of_a_referenced_secret_only_the_keys_asked_for_are_kept_and_only_small_ones() {
        use k8s_openapi::ByteString;
        let cache = SecretCache::default();
        let t = cache.index.tracker();
        t.apply(&watcher::Event::Apply(meta("a", "big", "3", None)));
        let mut big = secret("a", "big", "3");
        big.data = Some(
            [
                ("password", vec![b'p'; 20]),
                ("api-key", vec![b'k'; 40]),
                ("blob", vec![b'x'; 700 * 1024]),
                ("huge-key", vec![b'h'; MAX_KEPT_VALUE + 1]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), ByteString(v)))
            .collect(),
        );
        cache.keep_keys("a", &big, "password");
        let kept = cache.current("a", "big").expect("kept");
        assert_eq!(
            kept.data.as_ref().unwrap().keys().collect::<Vec<_>>(),
            ["password"]
        );
        // Another key of the same version joins it; a value too large is not kept.
        cache.keep_keys("a", &big, "api-key");
        cache.keep_keys("a", &big, "huge-key");
        let kept = cache.current("a", "big").unwrap();
        let mut keys: Vec<_> = kept.data.as_ref().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["api-key", "password"]);
        let held: usize = kept
            .data
            .as_ref()
            .unwrap()
            .values()
            .map(|v| v.0.len())
            .sum();
        assert_eq!(held, 60, "the 700 KiB blob is not held");
        // A new version starts afresh.
        t.apply(&watcher::Event::Apply(meta("a", "big", "4", None)));
        assert!(cache.current("a", "big").is_none());
        // A Secret of the operator's own larger than the limit is read each time, not held.
        t.apply(&watcher::Event::Apply(meta("a", "own", "1", None)));
        let mut own = secret("a", "own", "1");
        own.data = Some([("k".to_string(), ByteString(vec![b'x'; MAX_KEPT_SECRET + 1]))].into());
        cache.keep("a", own);
        assert!(cache.current("a", "own").is_none());
    }

    #[test]
    fn only_the_last_written_version_counts_as_current() {
        let w = Written::default();
        assert!(!w.is_last("u", Some("1")));
        w.note("u", Some("0".into()), Some("1".into()));
        assert!(w.is_last("u", Some("1")));
        assert!(w.is_replaced("u", Some("0")));
        assert!(!w.is_last("u", Some("2")));
        assert!(!w.is_replaced("u", Some("2")));
        assert!(!w.is_last("u", None));
        assert!(!w.is_replaced("u", None));
        w.note("u", Some("1".into()), Some("3".into()));
        assert!(!w.is_last("u", Some("1")));
        assert!(!w.is_replaced("u", Some("0")));
        w.forget("u");
        assert!(!w.is_last("u", Some("3")));
        assert!(!w.is_replaced("u", Some("1")));
    }
}
