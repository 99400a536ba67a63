//! IO: read what a decision needs: the referenced Secrets, the credentials Secret and the
//! provider's order list.

use std::{collections::BTreeMap, time::Instant};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time};
use kube::{Api, ResourceExt};
use secrecy::SecretString;

use super::{
    context::{Context, Throttled},
    plan::{MissingSecret, Observed, OwnedSecret, conflicting_owner, is_paused},
};
use crate::{
    crd::{FINGERPRINT_SALT_ANNOTATION, ProxyOrder, SYNC_REQUESTED_ANNOTATION},
    credentials::{self, SecretData},
    error::Result,
    provider::{ApiKey, QueryOptions},
};

/// Key of the API key in the operator's default API-key Secret.
pub const DEFAULT_API_KEY_KEY: &str = "api-key";

/// The credentials Secret as read, with what the write decision needs beyond its data.
pub struct SecretSnapshot {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The version read: a write is conditional on it.
    pub resource_version: Option<String>,
}

pub struct Observation {
    pub observed: Observed,
    pub api_key: Option<(String, ApiKey)>,
    pub secret: Option<SecretSnapshot>,
    /// Whether this reconcile asked for a fresh order list (a new sync-requested-at value).
    pub sync_requested: Option<String>,
    /// The order list was needed but the API key's rate limit has no token for this long: the
    /// reconcile comes back then instead of deciding without it.
    pub throttled: Option<std::time::Duration>,
}

/// `started` is when the reconcile began: a requested refresh is satisfied by any order list
/// fetched since then.
pub async fn observe(
    po: &ProxyOrder,
    ctx: &Context,
    ns: &str,
    started: Instant,
) -> Result<Observation> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);

    let api_key = read_api_key(po, ctx, ns).await?;
    let password = match po
        .spec
        .password
        .as_ref()
        .and_then(|p| p.secret_key_ref.as_ref())
    {
        Some(r) => Some(
            read_key(&secrets, "password", ns, &r.name, &r.key)
                .await?
                .map(SecretString::from),
        ),
        None => None,
    };

    let (owned, snapshot) = match secrets.get_opt(&po.secret_name()).await? {
        None => (OwnedSecret::Missing, None),
        Some(s) => {
            let ours = s
                .owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && Some(&o.uid) == po.metadata.uid.as_ref());
            if !ours {
                (OwnedSecret::Foreign, None)
            } else {
                let data = s
                    .data
                    .as_ref()
                    .map(|d| {
                        d.iter()
                            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let snap = SecretSnapshot {
                    labels: s.labels().clone(),
                    annotations: s.annotations().clone(),
                    resource_version: s.resource_version(),
                };
                (OwnedSecret::Present(SecretData(data)), Some(snap))
            }
        }
    };

    let sync_requested = po
        .annotations()
        .get(SYNC_REQUESTED_ANNOTATION)
        .filter(|v| !v.is_empty())
        .filter(|v| po.status.as_ref().and_then(|s| s.sync_requested.as_ref()) != Some(*v))
        .cloned();

    let mut throttled = None;
    let listed = match &api_key {
        Ok((fp, key)) if !is_paused(po.annotations()) => {
            let query = QueryOptions {
                lang: po.spec.lang,
                currency: po.spec.currency,
            };
            let force = sync_requested.as_ref().map(|_| started);
            let list = ctx
                .orders
                .get(
                    &ctx.provider,
                    &ctx.limiter,
                    &ctx.metrics,
                    fp,
                    key,
                    query,
                    ctx.settings.refresh_interval,
                    force,
                )
                .await;
            match list {
                Ok(list) => Some(list.map(|l| l.get(po.spec.order_id).cloned())),
                Err(Throttled(wait)) => {
                    throttled = Some(wait);
                    None
                }
            }
        }
        _ => None,
    };

    let (api_key_fp, api_key) = match api_key {
        Ok((fp, key)) => (Ok(fp.clone()), Some((fp, key))),
        Err(m) => (Err(m), None),
    };
    Ok(Observation {
        observed: Observed {
            api_key: api_key_fp,
            password,
            secret: owned,
            listed,
            empty_change_read: ctx.settings.empty_change_read,
            conflict: conflict(po, ctx, ns),
            fingerprint_salt: snapshot
                .as_ref()
                .and_then(|s| s.annotations.get(FINGERPRINT_SALT_ANNOTATION))
                .filter(|s| !s.is_empty())
                .cloned(),
            answer_grace: ctx.provider.config().request_timeout,
            now,
        },
        api_key,
        secret: snapshot,
        sync_requested,
        throttled,
    })
}

/// An older ProxyOrder in the namespace (as the cache knows it) naming the same order.
fn conflict(po: &ProxyOrder, ctx: &Context, ns: &str) -> Option<String> {
    let store = ctx.store.as_ref()?;
    let me = po.metadata.name.as_deref().unwrap_or_default();
    let names_same_order = |o: &ProxyOrder| {
        o.spec.order_id == po.spec.order_id
            && o.metadata.namespace.as_deref() == Some(ns)
            && o.metadata.name.as_deref() != Some(me)
    };
    // Almost always no other resource names the order: look without copying the cache, which
    // holds every ProxyOrder the operator watches.
    store.find(names_same_order)?;
    let others = store.state();
    conflicting_owner(
        me,
        po.spec.order_id,
        others.iter().filter(|o| names_same_order(o)).map(|o| {
            (
                o.metadata.name.as_deref().unwrap_or_default(),
                o.metadata.creation_timestamp.as_ref(),
                o.spec.order_id,
            )
        }),
        po.metadata.creation_timestamp.as_ref(),
    )
}

async fn read_api_key(
    po: &ProxyOrder,
    ctx: &Context,
    ns: &str,
) -> Result<Result<(String, ApiKey), MissingSecret>> {
    let (namespace, name, key) = match (
        &po.spec.api_key_secret_ref,
        &ctx.settings.default_api_key_secret,
    ) {
        (Some(r), _) => (ns.to_string(), r.name.clone(), r.key.clone()),
        (None, Some(d)) => (
            d.namespace.clone(),
            d.name.clone(),
            DEFAULT_API_KEY_KEY.to_string(),
        ),
        (None, None) => {
            return Ok(Err(MissingSecret {
                purpose: "API key",
                namespace: ns.to_string(),
                name: "<none>".to_string(),
                key: "<none>".to_string(),
                key_missing: false,
            }));
        }
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    Ok(read_key(&api, "API key", &namespace, &name, &key)
        .await?
        .map(|value| {
            let fp = credentials::fingerprint(["api-key", value.as_str()]);
            (fp, ApiKey::new(value))
        }))
}

/// One key of a Secret, trimmed of surrounding whitespace (a trailing newline from
/// `echo > file` is the most common way a key goes wrong).
async fn read_key(
    api: &Api<Secret>,
    purpose: &'static str,
    ns: &str,
    name: &str,
    key: &str,
) -> Result<Result<String, MissingSecret>> {
    let missing = |key_missing| MissingSecret {
        purpose,
        namespace: ns.to_string(),
        name: name.to_string(),
        key: key.to_string(),
        key_missing,
    };
    let Some(secret) = api.get_opt(name).await? else {
        return Ok(Err(missing(false)));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| v.trim().to_string())
        });
    Ok(match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(missing(true)),
    })
}
