//! Which ProxyOrders (or ProxyProviders) a change of a watched Secret, ProxyProvider or
//! Namespace sends to reconcile: the mappers of the controller's secondary watches.

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::reflector::{ObjectRef, Store},
};

use crate::{config::NamespacedName, crd::ProxyOrder, proxy_provider::ProxyProvider};

/// Where the operator looks for API keys outside ProxyOrders' own namespaces.
pub(super) struct KeySecrets {
    pub(super) default_key: Option<NamespacedName>,
    pub(super) operator_namespace: String,
    pub(super) providers: Store<ProxyProvider>,
}

/// ProxyOrders affected by a change of a Secret: the one that owns it, those that reference it
/// for the API key (their own, the default one, or their ProxyProvider's) or the password, and
/// those that want to write their credentials under its name (so removing a Secret that
/// blocked one, `SecretConflict`, is picked up at once).
pub(super) fn secret_to_orders(
    secret: &PartialObjectMeta<Secret>,
    store: &Store<ProxyOrder>,
    keys: &KeySecrets,
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
    // The ProxyProviders whose key this is (usually none).
    let providers: Vec<String> =
        secret_to_providers(secret, &keys.providers, &keys.operator_namespace)
            .into_iter()
            .map(|p| p.name)
            .collect();
    for po in store.state() {
        let same_ns = po.metadata.namespace.as_deref() == Some(ns.as_str());
        let api_key = match (&po.spec.provider_ref, &po.spec.api_key_secret_ref) {
            (Some(p), _) => providers.contains(&p.name),
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
        if api_key || password || target {
            out.push(ObjectRef::from_obj(&*po));
        }
    }
    out
}

/// ProxyOrders that use ProxyProvider `name`.
pub(super) fn provider_to_orders(
    name: &str,
    store: &Store<ProxyOrder>,
) -> Vec<ObjectRef<ProxyOrder>> {
    store
        .state()
        .iter()
        .filter(|po| {
            po.spec
                .provider_ref
                .as_ref()
                .is_some_and(|r| r.name == name)
        })
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
        .state()
        .iter()
        .filter(|po| po.spec.provider_ref.is_some() && po.metadata.namespace.as_deref() == Some(ns))
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
        .state()
        .iter()
        .filter(|pp| {
            let r = &pp.spec.api_key_secret_ref;
            r.name == name && r.namespace.as_deref().unwrap_or(operator_ns) == ns
        })
        .map(|pp| ObjectRef::from_obj(&**pp))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ProviderRef, ProxyOrderSpec, SecretKeyRef};
    use crate::proxy_provider::{ProviderSecretRef, ProxyProviderSpec};
    use kube::runtime::{reflector::store::Writer, watcher};

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
        let mut w = Writer::<ProxyOrder>::default();
        for o in items {
            w.apply_watcher_event(&watcher::Event::Apply(o));
        }
        w.as_reader()
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
        let store = orders(vec![
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
                &keys
            )),
            ["a/x", "ops/own"]
        );
        assert_eq!(
            names(secret_to_orders(
                &secret("vault", "provider-key"),
                &store,
                &keys
            )),
            ["b/y"]
        );
        assert!(secret_to_orders(&secret("a", "provider-key"), &store, &keys).is_empty());
    }
}
