//! Which ProxyOrders (or ProxyProviders) a change of a watched Secret, ProxyProvider or
//! Namespace sends to reconcile: the mappers of the controller's secondary watches.

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::reflector::{ObjectRef, Store},
};

use parking_lot::Mutex;

use super::rollout::{self, Workload, WorkloadRef};
use crate::config::NamespacedName;
use proxy_order_api::ProxyProvider;
use proxy_order_api::{ProxyOrder, WorkloadKind, default_secret_writer};

/// Where the operator looks for API keys outside ProxyOrders' own namespaces.
pub(super) struct KeySecrets {
    pub(super) default_key: Option<NamespacedName>,
    pub(super) operator_namespace: String,
    pub(super) providers: Store<ProxyProvider>,
}

/// [`secret_to_orders_of`] with the ProxyProviders whose key the Secret is looked up.
#[cfg(test)]
fn secret_to_orders(
    secret: &PartialObjectMeta<Secret>,
    store: &Store<ProxyOrder>,
    keys: &KeySecrets,
    users: &SecretUsers,
) -> Vec<ObjectRef<ProxyOrder>> {
    let providers = secret_to_providers(secret, &keys.providers, &keys.operator_namespace);
    secret_to_orders_of(secret, store, keys, users, &providers)
}

/// ProxyOrders affected by a change of a Secret that is the API key of `providers` (usually
/// none): the one that owns it, those that reference it for the API key (their own, the default
/// one, or their ProxyProvider's) or the password, and those that want to write their
/// credentials under its name (so removing a Secret that blocked one, `SecretConflict`, is
/// picked up at once).
///
/// Every Secret the operator writes comes back through this on its watches, so it must not look
/// at every cached ProxyOrder: the ones that name the Secret in their own namespace come from
/// `users`, the one that writes it by default from its name, and only a change of the default
/// API key or of a ProxyProvider's key (rare) goes through all of them.
pub(super) fn secret_to_orders_of(
    secret: &PartialObjectMeta<Secret>,
    store: &Store<ProxyOrder>,
    keys: &KeySecrets,
    users: &SecretUsers,
    providers: &[ObjectRef<ProxyProvider>],
) -> Vec<ObjectRef<ProxyOrder>> {
    let ns = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    let mut out: Vec<ObjectRef<ProxyOrder>> = secret
        .owner_references()
        .iter()
        .filter(|o| o.controller == Some(true) && o.kind == ProxyOrder::kind(&()))
        .map(|o| ObjectRef::new(&o.name).within(&ns))
        // Only ProxyOrders this instance reconciles (another shard's are not in its cache).
        .filter(|r| store.get(r).is_some())
        .collect();
    let is_default = keys
        .default_key
        .as_ref()
        .is_some_and(|d| d.namespace == ns && d.name == name);
    let uses = |po: &ProxyOrder| {
        let same_ns = po.metadata.namespace.as_deref() == Some(ns.as_str());
        let api_key = match (&po.spec.provider_ref, &po.spec.api_key_secret_ref) {
            (Some(p), _) => providers.iter().any(|pp| pp.name == p.name),
            (None, Some(r)) => same_ns && r.name == name,
            (None, None) => is_default,
        };
        let password = same_ns
            && po
                .spec
                .password
                .as_ref()
                .and_then(|p| p.secret_key_ref.as_ref())
                .is_some_and(|r| r.name == name);
        let target = same_ns && po.writes_secret(&name);
        api_key || password || target
    };
    if is_default || !providers.is_empty() {
        out.extend(
            store
                .state_filter(|po| uses(po))
                .iter()
                .map(|po| ObjectRef::from_obj(&**po)),
        );
        return out;
    }
    // The candidates are checked against the cache as the scan above would: `users` may
    // still list a ProxyOrder that has stopped naming the Secret.
    let candidates = users
        .naming(&ns, &name)
        .into_iter()
        .chain(default_secret_writer(&name).map(str::to_string));
    for candidate in candidates {
        let r = ObjectRef::new(&candidate).within(&ns);
        if let Some(po) = store.get(&r).filter(|po| uses(po)) {
            out.push(ObjectRef::from_obj(&*po));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup();
    out
}

/// The ProxyOrders that name each Secret of their own namespace: for the API key, for the
/// password, or as where their credentials go (when not the default `<name>-proxy`). Kept from
/// the ProxyOrder watch, so a Secret's change finds them without looking at every ProxyOrder.
/// An entry is added for each name a ProxyOrder's spec holds and removed when the ProxyOrder is
/// deleted. A ProxyOrder whose spec stopped naming a Secret stays listed for it until then, and
/// one deleted while the watch was down (so no deletion was seen) stays listed: lookups check
/// every candidate against the cache, so such entries cost memory, never a reconcile.
#[derive(Default)]
pub struct SecretUsers(Mutex<HashMap<Box<str>, HashSet<Box<str>>>>);

impl SecretUsers {
    /// Notes the Secrets `po` names.
    pub fn add(&self, po: &ProxyOrder) {
        let Some((ns, name)) = namespaced_name(po) else {
            return;
        };
        let mut map = self.0.lock();
        for secret in named_secrets(po) {
            let users = map.entry(key(ns, secret)).or_default();
            if !users.contains(name) {
                users.insert(name.into());
            }
        }
    }

    /// Forgets the deleted `po`.
    pub fn remove(&self, po: &ProxyOrder) {
        let Some((ns, name)) = namespaced_name(po) else {
            return;
        };
        let mut map = self.0.lock();
        for secret in named_secrets(po) {
            let k = key(ns, secret);
            if let Some(users) = map.get_mut(&k) {
                users.remove(name);
                if users.is_empty() {
                    map.remove(&k);
                }
            }
        }
    }

    /// The ProxyOrders of `ns` noted as naming Secret `secret`.
    fn naming(&self, ns: &str, secret: &str) -> Vec<String> {
        self.0
            .lock()
            .get(&key(ns, secret))
            .map(|users| users.iter().map(|u| u.to_string()).collect())
            .unwrap_or_default()
    }
}

fn namespaced_name(po: &ProxyOrder) -> Option<(&str, &str)> {
    Some((
        po.metadata.namespace.as_deref()?,
        po.metadata.name.as_deref()?,
    ))
}

/// The Secrets of its own namespace `po`'s spec names (a name its credentials go to only when
/// it is not the default).
fn named_secrets(po: &ProxyOrder) -> impl Iterator<Item = &str> {
    let spec = &po.spec;
    let api_key = spec
        .api_key_secret_ref
        .as_ref()
        .filter(|_| spec.provider_ref.is_none())
        .map(|r| r.name.as_str());
    let password = spec
        .password
        .as_ref()
        .and_then(|p| p.secret_key_ref.as_ref())
        .map(|r| r.name.as_str());
    let target = spec.secret.as_ref().and_then(|s| s.name.as_deref());
    [api_key, password, target].into_iter().flatten()
}

fn key(ns: &str, secret: &str) -> Box<str> {
    format!("{ns}/{secret}").into_boxed_str()
}

/// ProxyOrders of namespace `ns` whose `spec.secret.rolloutTargets` name or select the
/// workload of `kind` named `name` with `labels` (it was just created, or its labels changed):
/// one that waited for it (`TargetNotFound`) annotates it now, not at its next refresh.
pub(super) fn workload_to_orders(
    kind: WorkloadKind,
    ns: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    store: &Store<ProxyOrder>,
) -> Vec<ObjectRef<ProxyOrder>> {
    let workload = Workload {
        id: WorkloadRef {
            kind,
            name: name.to_string(),
        },
        labels: labels.clone(),
        hash: None,
    };
    store
        .state_filter(|po| {
            po.metadata.namespace.as_deref() == Some(ns)
                && rollout::targets(&po.spec)
                    .iter()
                    .any(|t| rollout::target_matches(t, &workload))
        })
        .iter()
        .map(|po| ObjectRef::from_obj(&**po))
        .collect()
}

/// ProxyOrders that use ProxyProvider `name`.
pub(super) fn provider_to_orders(
    name: &str,
    store: &Store<ProxyOrder>,
) -> Vec<ObjectRef<ProxyOrder>> {
    store
        .state_filter(|po| {
            po.spec
                .provider_ref
                .as_ref()
                .is_some_and(|r| r.name == name)
        })
        .iter()
        .map(|po| ObjectRef::from_obj(&**po))
        .collect()
}

/// ProxyOrders in namespace `ns` that use a ProxyProvider (whose namespaceSelector may have
/// started or stopped matching the namespace's labels).
pub(super) fn namespace_to_orders(
    ns: &str,
    store: &Store<ProxyOrder>,
) -> Vec<ObjectRef<ProxyOrder>> {
    store
        .state_filter(|po| {
            po.spec.provider_ref.is_some() && po.metadata.namespace.as_deref() == Some(ns)
        })
        .iter()
        .map(|po| ObjectRef::from_obj(&**po))
        .collect()
}

/// ProxyProviders whose API key is Secret `ns/name`.
pub(super) fn secret_to_providers(
    secret: &PartialObjectMeta<Secret>,
    store: &Store<ProxyProvider>,
    operator_ns: &str,
) -> Vec<ObjectRef<ProxyProvider>> {
    let ns = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    store
        .state_filter(|pp| {
            let r = &pp.spec.api_key_secret_ref;
            r.name == name && r.namespace.as_deref().unwrap_or(operator_ns) == ns
        })
        .iter()
        .map(|pp| ObjectRef::from_obj(&**pp))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector::store::Writer, watcher};
    use proxy_order_api::{
        PasswordSource, ProviderRef, ProxyOrderSpec, SecretKeyRef, SecretTarget,
    };
    use proxy_order_api::{ProviderSecretRef, ProxyProviderSpec};

    fn po(ns: &str, name: &str, spec: ProxyOrderSpec) -> ProxyOrder {
        let mut po = ProxyOrder::new(name, spec);
        po.metadata.namespace = Some(ns.into());
        po.metadata.uid = Some(format!("{ns}-{name}"));
        po
    }

    fn via(provider: &str) -> ProxyOrderSpec {
        ProxyOrderSpec {
            order_id: 1,
            provider_ref: Some(ProviderRef {
                name: provider.into(),
            }),
            ..Default::default()
        }
    }

    fn orders(items: Vec<ProxyOrder>) -> Store<ProxyOrder> {
        indexed(items).0
    }

    /// The cache of `items` and the Secrets they name, as the ProxyOrder watch keeps them.
    fn indexed(items: Vec<ProxyOrder>) -> (Store<ProxyOrder>, SecretUsers) {
        let mut w = Writer::<ProxyOrder>::default();
        let users = SecretUsers::default();
        for o in items {
            users.add(&o);
            w.apply_watcher_event(&watcher::Event::Apply(o));
        }
        (w.as_reader(), users)
    }

    fn providers(items: Vec<(&str, ProviderSecretRef)>) -> Store<ProxyProvider> {
        let mut w = Writer::<ProxyProvider>::default();
        for (name, r) in items {
            let spec = ProxyProviderSpec {
                max_quantity: None,
                api_key_secret_ref: r,
                ..Default::default()
            };
            w.apply_watcher_event(&watcher::Event::Apply(ProxyProvider::new(name, spec)));
        }
        w.as_reader()
    }

    fn secret(ns: &str, name: &str) -> PartialObjectMeta<Secret> {
        let mut s = PartialObjectMeta::<Secret>::default();
        s.metadata.namespace = Some(ns.into());
        s.metadata.name = Some(name.into());
        s
    }

    fn names(refs: Vec<ObjectRef<ProxyOrder>>) -> Vec<String> {
        let mut v: Vec<String> = refs
            .into_iter()
            .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_created_workload_wakes_the_orders_of_its_namespace_that_target_it() {
        let targeting = |targets: serde_json::Value| {
            let secret: SecretTarget =
                serde_json::from_value(serde_json::json!({"rolloutTargets": targets})).unwrap();
            ProxyOrderSpec {
                secret: Some(secret),
                ..Default::default()
            }
        };
        let store = orders(vec![
            po(
                "a",
                "named",
                targeting(serde_json::json!([{"kind": "Deployment", "name": "web"}])),
            ),
            po(
                "a",
                "selected",
                targeting(
                    serde_json::json!([{"kind": "Deployment", "selector": {"matchLabels": {"app": "web"}}}]),
                ),
            ),
            po(
                "a",
                "other-kind",
                targeting(serde_json::json!([{"kind": "StatefulSet", "name": "web"}])),
            ),
            po(
                "b",
                "other-ns",
                targeting(serde_json::json!([{"kind": "Deployment", "name": "web"}])),
            ),
            po("a", "none", ProxyOrderSpec::default()),
        ]);
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let wakes = |kind, name: &str, labels: &BTreeMap<String, String>| {
            names(workload_to_orders(kind, "a", name, labels, &store))
        };
        assert_eq!(
            wakes(WorkloadKind::Deployment, "web", &labels),
            ["a/named", "a/selected"]
        );
        assert_eq!(
            wakes(WorkloadKind::Deployment, "web", &BTreeMap::new()),
            ["a/named"]
        );
        assert_eq!(
            wakes(WorkloadKind::StatefulSet, "web", &labels),
            ["a/other-kind"]
        );
        assert!(wakes(WorkloadKind::DaemonSet, "web", &labels).is_empty());
    }

    #[test]
    fn provider_and_namespace_changes_wake_only_their_orders() {
        let store = orders(vec![
            po("a", "x", via("shared")),
            po("b", "y", via("shared")),
            po("b", "z", via("other")),
            po("b", "own-key", ProxyOrderSpec::default()),
        ]);
        assert_eq!(names(provider_to_orders("shared", &store)), ["a/x", "b/y"]);
        assert_eq!(names(namespace_to_orders("b", &store)), ["b/y", "b/z"]);
    }

    #[test]
    fn a_provider_key_wakes_the_orders_of_that_provider() {
        let key = |name: &str, ns: Option<&str>| ProviderSecretRef {
            name: name.into(),
            key: None,
            namespace: ns.map(Into::into),
        };
        let keys = KeySecrets {
            default_key: None,
            operator_namespace: "ops".into(),
            providers: providers(vec![
                ("shared", key("provider-key", None)),
                ("other", key("provider-key", Some("vault"))),
            ]),
        };
        let (store, users) = indexed(vec![
            po("a", "x", via("shared")),
            po("b", "y", via("other")),
            po(
                "ops",
                "own",
                ProxyOrderSpec {
                    api_key_secret_ref: Some(SecretKeyRef {
                        name: "provider-key".into(),
                        key: "api-key".into(),
                    }),
                    ..Default::default()
                },
            ),
        ]);
        assert_eq!(
            names(secret_to_orders(
                &secret("ops", "provider-key"),
                &store,
                &keys,
                &users
            )),
            ["a/x", "ops/own"]
        );
        assert_eq!(
            names(secret_to_orders(
                &secret("vault", "provider-key"),
                &store,
                &keys,
                &users
            )),
            ["b/y"]
        );
        assert!(secret_to_orders(&secret("a", "provider-key"), &store, &keys, &users).is_empty());
    }

    fn key_ref(name: &str) -> SecretKeyRef {
        SecretKeyRef {
            name: name.into(),
            key: "k".into(),
        }
    }

    fn own_key(key: &str) -> ProxyOrderSpec {
        ProxyOrderSpec {
            order_id: 1,
            api_key_secret_ref: Some(key_ref(key)),
            ..Default::default()
        }
    }

    #[test]
    fn a_secret_wakes_the_orders_of_its_namespace_that_name_it_or_write_it() {
        let keys = KeySecrets {
            default_key: Some(NamespacedName {
                namespace: "ops".into(),
                name: "default-key".into(),
            }),
            operator_namespace: "ops".into(),
            providers: providers(vec![]),
        };
        let mut password = own_key("key");
        password.password = Some(PasswordSource {
            secret_key_ref: Some(key_ref("pw")),
            generate: None,
        });
        let mut custom = own_key("key");
        custom.secret = Some(SecretTarget {
            name: Some("creds".into()),
            ..Default::default()
        });
        let default_keyed = ProxyOrderSpec {
            order_id: 1,
            ..Default::default()
        };
        let (store, users) = indexed(vec![
            po("a", "x", own_key("key")),
            po("a", "y", password),
            po("a", "z", custom),
            po("b", "x", own_key("key")),
            po("b", "w", default_keyed),
        ]);
        let wakes = |ns: &str, name: &str| {
            names(secret_to_orders(&secret(ns, name), &store, &keys, &users))
        };
        assert_eq!(wakes("a", "key"), ["a/x", "a/y", "a/z"]);
        assert_eq!(wakes("b", "key"), ["b/x"]);
        assert_eq!(wakes("a", "pw"), ["a/y"]);
        // The default name of x's credentials, and z's own.
        assert_eq!(wakes("a", "x-proxy"), ["a/x"]);
        assert_eq!(wakes("a", "z-proxy"), Vec::<String>::new());
        assert_eq!(wakes("a", "creds"), ["a/z"]);
        assert_eq!(wakes("a", "unrelated"), Vec::<String>::new());
        // The default API key reaches every ProxyOrder without a key of its own.
        assert_eq!(wakes("ops", "default-key"), ["b/w"]);
    }

    #[test]
    fn a_secret_no_longer_named_or_whose_user_is_gone_wakes_nothing() {
        let keys = KeySecrets {
            default_key: None,
            operator_namespace: "ops".into(),
            providers: providers(vec![]),
        };
        let mut w = Writer::<ProxyOrder>::default();
        let users = SecretUsers::default();
        let mut apply = |o: ProxyOrder| {
            users.add(&o);
            w.apply_watcher_event(&watcher::Event::Apply(o));
        };
        apply(po("a", "x", own_key("old")));
        apply(po("a", "y", own_key("old")));
        // x now takes its key from another Secret; y is deleted.
        apply(po("a", "x", own_key("new")));
        let gone = po("a", "y", own_key("old"));
        users.remove(&gone);
        w.apply_watcher_event(&watcher::Event::Delete(gone));
        let store = w.as_reader();
        let wakes = |name: &str| names(secret_to_orders(&secret("a", name), &store, &keys, &users));
        assert_eq!(wakes("old"), Vec::<String>::new());
        assert_eq!(wakes("new"), ["a/x"]);
        // The deleted one is forgotten, the one that moved on is still listed (and filtered).
        assert_eq!(users.naming("a", "old"), ["x"]);
    }
}
