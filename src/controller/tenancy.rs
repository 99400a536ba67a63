//! IO: which provider account a ProxyOrder may use. `spec.providerRef` names a cluster-scoped
//! ProxyProvider that must allow the ProxyOrder's namespace; `spec.apiKeySecretRef` names a key
//! in the ProxyOrder's own namespace (unless switched off); otherwise the operator's default key.
//! The base URL is never the tenant's to choose: it comes from a ProxyProvider or the flags.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, core::PartialObjectMeta, runtime::reflector::ObjectRef};

use super::{
    conditions::Reason,
    context::{Context, listed},
    gateway::Target,
    plan::{ProviderLimit, approvals},
};
use crate::{
    error::Result,
    provider::{AuthScheme, ProviderConfig},
};
use proxy_order_api::{APPROVE_ANNOTATION, ProxyOrder};
use proxy_order_api::{DEFAULT_KEY, ProxyProvider, ProxyProviderSpec};

/// Key of the API key in the operator's default API-key Secret.
const DEFAULT_API_KEY_KEY: &str = "api-key";

/// Where the API key of a ProxyOrder is, and who may tell the tenant about a missing one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLocation {
    pub namespace: String,
    pub name: String,
    pub key: String,
    /// Whose key it is when it is not the tenant's own (`ProxyProvider <name>`, the operator's
    /// default): then a missing key is reported without naming the administrators' Secret.
    pub owner: Option<String>,
}

/// The account a ProxyOrder may use, or why it may use none.
pub enum Resolved {
    /// This provider, with the key at this location (`None`: no key is configured at all).
    Allowed {
        target: Arc<Target>,
        key: Option<KeyLocation>,
        /// The ProxyProvider's quantity limit, if it sets one.
        limit: Option<ProviderLimit>,
    },
    Denied(Reason, String),
}

/// The provider settings of a ProxyProvider, the operator's flags filling what it leaves out.
/// The timeout never exceeds the operator's own (leader election's timing rests on it).
pub fn provider_config(defaults: &ProviderConfig, spec: &ProxyProviderSpec) -> ProviderConfig {
    let auth = match (&spec.auth, &defaults.auth) {
        (None, d) => d.clone(),
        (Some(a), d) => match &a.query_param {
            Some(param) => AuthScheme::Query {
                param: param.clone(),
            },
            None => {
                let (dname, dprefix) = match d {
                    AuthScheme::Header { name, prefix } => (name.clone(), prefix.clone()),
                    AuthScheme::Query { .. } => (
                        crate::provider::config::DEFAULT_AUTH_HEADER.to_string(),
                        crate::provider::config::DEFAULT_AUTH_SCHEME.to_string(),
                    ),
                };
                match (&a.header, &a.scheme, d) {
                    // Nothing about headers said, and the operator sends the key as a query
                    // parameter: keep doing that.
                    (None, None, AuthScheme::Query { .. }) => d.clone(),
                    _ => AuthScheme::Header {
                        name: a.header.clone().unwrap_or(dname),
                        prefix: a.scheme.clone().unwrap_or(dprefix),
                    },
                }
            }
        },
    };
    let timeout = spec
        .timeout_seconds
        .map(|s| Duration::from_secs(s.into()).min(defaults.request_timeout))
        .unwrap_or(defaults.request_timeout);
    ProviderConfig {
        base_url: spec
            .url
            .clone()
            .unwrap_or_else(|| defaults.base_url.clone()),
        auth,
        request_timeout: timeout,
        ..defaults.clone()
    }
}

/// The (shared) target for a ProxyProvider's settings, or why there can be none.
pub fn target_for(ctx: &Context, spec: &ProxyProviderSpec) -> Result<Arc<Target>, String> {
    let defaults = ctx.gateway.default_target();
    let config = provider_config(defaults.client.config(), spec);
    let rate = spec.rate_limit.unwrap_or(defaults.rate);
    ctx.gateway.target(config, rate).map_err(|e| e.to_string())
}

/// The account ProxyOrder `po` in namespace `ns` may use.
pub async fn resolve(po: &ProxyOrder, ctx: &Context, ns: &str) -> Result<Resolved> {
    if let Some(r) = &po.spec.provider_ref {
        let pp = match listed(ctx.providers.as_ref()) {
            Some(store) => store.get(&ObjectRef::new(&r.name)),
            None => {
                let providers: Api<ProxyProvider> = Api::all(ctx.client.clone());
                providers.get_opt(&r.name).await?.map(Arc::new)
            }
        };
        let Some(pp) = pp else {
            return Ok(Resolved::Denied(
                Reason::ProviderNotFound,
                format!("ProxyProvider {} not found", r.name),
            ));
        };
        // Only a selector needs the namespace's labels.
        let in_list = pp
            .spec
            .namespaces
            .as_ref()
            .is_some_and(|l| l.iter().any(|n| n == ns));
        let labels = if in_list || pp.spec.namespace_selector.is_none() {
            Default::default()
        } else if let Some(store) = listed(ctx.namespaces.as_ref()) {
            store
                .get(&ObjectRef::new(ns))
                .and_then(|n| n.metadata.labels.clone())
                .unwrap_or_default()
        } else {
            let nss: Api<PartialObjectMeta<Namespace>> = Api::all(ctx.client.clone());
            nss.get_metadata_opt(ns)
                .await?
                .and_then(|n| n.metadata.labels)
                .unwrap_or_default()
        };
        if let Err(why) = pp.spec.allows(ns, &labels) {
            return Ok(Resolved::Denied(
                Reason::NamespaceNotAllowed,
                format!(
                    "ProxyProvider {} does not allow namespace {ns}: {why}",
                    r.name
                ),
            ));
        }
        if !pp.spec.assigns(ns, po.spec.order_id) {
            return Ok(Resolved::Denied(
                Reason::OrderNotAssigned,
                format!(
                    "order {} is not assigned to namespace {ns} on ProxyProvider {} (its \
                     spec.orderAssignments): ask the cluster's administrators",
                    po.spec.order_id, r.name
                ),
            ));
        }
        let target = match target_for(ctx, &pp.spec) {
            Ok(t) => t,
            Err(why) => {
                return Ok(Resolved::Denied(
                    Reason::InvalidSpec,
                    format!("ProxyProvider {} cannot be used: {why}", r.name),
                ));
            }
        };
        let secret = &pp.spec.api_key_secret_ref;
        let limit = pp.spec.max_quantity.map(|max_quantity| ProviderLimit {
            provider: r.name.clone(),
            max_quantity,
            approvals: approvals(
                pp.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(APPROVE_ANNOTATION))
                    .map(String::as_str),
            ),
        });
        return Ok(Resolved::Allowed {
            target,
            limit,
            key: Some(KeyLocation {
                namespace: secret
                    .namespace
                    .clone()
                    .unwrap_or_else(|| ctx.settings.operator_namespace.clone()),
                name: secret.name.clone(),
                key: secret
                    .key
                    .clone()
                    .unwrap_or_else(|| DEFAULT_KEY.to_string()),
                owner: Some(format!("ProxyProvider {}", r.name)),
            }),
        });
    }
    let target = ctx.gateway.default_target().clone();
    if let Some(r) = &po.spec.api_key_secret_ref {
        if !ctx.settings.allow_api_key_secret_ref {
            return Ok(Resolved::Denied(
                Reason::ApiKeySecretRefDisabled,
                "spec.apiKeySecretRef is switched off on this cluster \
                 (--allow-api-key-secret-ref=false): use spec.providerRef with a ProxyProvider \
                 that allows this namespace"
                    .to_string(),
            ));
        }
        return Ok(Resolved::Allowed {
            target,
            limit: None,
            key: Some(KeyLocation {
                namespace: ns.to_string(),
                name: r.name.clone(),
                key: r.key.clone(),
                owner: None,
            }),
        });
    }
    let key = ctx
        .settings
        .default_api_key_secret
        .as_ref()
        .map(|d| KeyLocation {
            namespace: d.namespace.clone(),
            name: d.name.clone(),
            key: DEFAULT_API_KEY_KEY.to_string(),
            owner: Some("the operator's default API key".to_string()),
        });
    Ok(Resolved::Allowed {
        target,
        key,
        limit: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_order_api::ProviderAuth;

    fn defaults() -> ProviderConfig {
        ProviderConfig {
            base_url: "https://default.example/api".into(),
            request_timeout: Duration::from_secs(30),
            ..ProviderConfig::default()
        }
    }

    #[test]
    fn a_provider_fills_what_it_leaves_out_from_the_flags() {
        let c = provider_config(&defaults(), &ProxyProviderSpec::default());
        assert_eq!(c.base_url, "https://default.example/api");
        assert_eq!(c.auth, AuthScheme::default());
        assert_eq!(c.request_timeout, Duration::from_secs(30));

        let spec = ProxyProviderSpec {
            max_quantity: None,
            url: Some("http://127.0.0.1:9/api".into()),
            auth: Some(ProviderAuth {
                header: Some("X-Api-Key".into()),
                scheme: Some(String::new()),
                query_param: None,
            }),
            timeout_seconds: Some(5),
            ..Default::default()
        };
        let c = provider_config(&defaults(), &spec);
        assert_eq!(c.base_url, "http://127.0.0.1:9/api");
        assert_eq!(
            c.auth,
            AuthScheme::Header {
                name: "X-Api-Key".into(),
                prefix: String::new()
            }
        );
        assert_eq!(c.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn a_query_parameter_wins_and_the_timeout_is_capped_at_the_operators() {
        let spec = ProxyProviderSpec {
            max_quantity: None,
            auth: Some(ProviderAuth {
                query_param: Some("api_key".into()),
                ..Default::default()
            }),
            timeout_seconds: Some(300),
            ..Default::default()
        };
        let c = provider_config(&defaults(), &spec);
        assert_eq!(
            c.auth,
            AuthScheme::Query {
                param: "api_key".into()
            }
        );
        assert_eq!(c.request_timeout, Duration::from_secs(30));
    }
}
