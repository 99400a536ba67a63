//! IO: read what a decision needs: the referenced Secrets, the credentials Secret and the
//! provider's order list.

use std::{collections::BTreeMap, time::Instant};

use k8s_openapi::{api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time};
use kube::{Api, ResourceExt};
use secrecy::SecretString;

use super::{
    cache::SecretCache,
    claim,
    conditions::{self, READY, Reason, SYNCED},
    context::Context,
    gateway::{Account, Throttled},
    plan::{MissingSecret, Observed, OwnedSecret, is_paused},
    tenancy::{self, KeyLocation, Resolved},
};
use crate::{
    credentials::{self, SecretData},
    error::{Error, Result},
    provider::{ApiKey, QueryOptions},
};
use proxy_order_api::{FINGERPRINT_SALT_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, ProxyOrder};

/// The credentials Secret as read, with what the write decision needs beyond its data.
pub struct SecretSnapshot {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The version read: a write is conditional on it.
    pub resource_version: Option<String>,
}

pub struct Observation {
    pub observed: Observed,
    /// The provider and API key to call with, when the ProxyOrder may use one and its key
    /// was found.
    pub account: Option<Account>,
    pub secret: Option<SecretSnapshot>,
    /// Whether this reconcile asked for a fresh order list (a new sync-requested-at value).
    pub sync_requested: Option<String>,
    /// The order list was needed but the API key's rate limit has no token for this long: the
    /// reconcile comes back then instead of deciding without it.
    pub throttled: Option<std::time::Duration>,
    /// When the order list in `observed.listed` was fetched.
    pub listed_at: Option<Instant>,
    /// The order list was not read: this process has not listed the key yet, the ProxyOrder
    /// is settled, and its first list comes after this long (see [`first_list_deferred`]).
    pub list_deferred: Option<std::time::Duration>,
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
    let uid = po
        .metadata
        .uid
        .as_deref()
        .ok_or(Error::MissingMetadata("uid"))?;

    let mut provider_limit = None;
    let (target, denied, api_key) = match tenancy::resolve(po, ctx, ns).await? {
        Resolved::Allowed { target, key, limit } => {
            match read_api_key(ctx, key.as_ref(), ns).await? {
                // The administrators' Secret is not named to the tenant.
                Err(_) if key.as_ref().is_some_and(|k| k.owner.is_some()) => {
                    let owner = key.and_then(|k| k.owner).unwrap_or_default();
                    let why = format!(
                        "the API key of {owner} is missing (its Secret or key does not exist): ask the \
                     cluster's administrators"
                    );
                    (None, Some((Reason::SecretNotFound, why)), Err(no_key(ns)))
                }
                api_key => {
                    provider_limit = limit;
                    (Some(target), None, api_key)
                }
            }
        }
        // Nothing else is read for a ProxyOrder that may not use the provider.
        Resolved::Denied(reason, why) => (None, Some((reason, why)), Err(no_key(ns))),
    };
    let password = match po
        .spec
        .password
        .as_ref()
        .and_then(|p| p.secret_key_ref.as_ref())
        .filter(|_| denied.is_none())
    {
        Some(r) => Some(
            read_key(&ctx.secrets, &secrets, "password", ns, &r.name, &r.key)
                .await?
                .map(SecretString::from),
        ),
        None => None,
    };

    let secret_name = po.secret_name();
    let (owned, snapshot) = match ctx.secrets.get(&secrets, ns, &secret_name).await? {
        None => (OwnedSecret::Missing, None),
        Some(s) => {
            if !made_by_us(&s, uid) {
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

    let sync_requested = sync_requested(po);

    let account = match (&target, &api_key) {
        (Some(target), Ok((fp, key))) => {
            Some(Account::new(target.clone(), fp, key.clone()).for_namespace(ns))
        }
        _ => None,
    };
    let force = sync_requested.as_ref().map(|_| started);
    let list_deferred = account
        .as_ref()
        .filter(|_| sync_requested.is_none() && matches!(owned, OwnedSecret::Present(_)))
        .and_then(|a| first_list_deferred(po, ctx, a));
    let listing = if list_deferred.is_some() {
        Listing::default()
    } else {
        list_and_claim(po, ctx, ns, Some(uid), account.as_ref(), force).await?
    };
    let kept_salt = snapshot
        .as_ref()
        .and_then(|s| s.annotations.get(FINGERPRINT_SALT_ANNOTATION))
        .filter(|s| !s.is_empty())
        .cloned();
    let answer_grace = target
        .as_ref()
        .unwrap_or(ctx.gateway.default_target())
        .client
        .config()
        .request_timeout;
    Ok(Observation {
        observed: Observed {
            api_key: api_key.map(|(fp, _)| fp),
            password,
            secret: owned,
            listed: listing.listed,
            empty_change_read: ctx.settings.empty_change_read,
            conflict: listing.conflict,
            denied,
            fingerprint_salt: kept_salt.clone(),
            new_salt: match kept_salt {
                Some(_) => {
                    ctx.forget_salt(uid);
                    String::new()
                }
                None => ctx.salt_for(uid),
            },
            answer_grace,
            provider_limit,
            now,
        },
        account,
        secret: snapshot,
        sync_requested,
        throttled: listing.throttled,
        listed_at: listing.listed_at,
        list_deferred,
    })
}

/// How long `po`'s first order list in this process waits, if it does: this process has not
/// listed its key yet (it just started: an upgrade, a restart, a new leader) and `po` is settled
/// for its current spec (Ready and Synced, nothing pending, its credentials Secret present), as
/// the previous process left it. Its first read of the list then comes at a point of the first
/// refresh interval since the start that its UID picks (spread evenly, the same on every
/// reconcile), as a refresh would have come anyway: a restart costs no provider request, and
/// the first lists of a restarted operator are spread out instead of all at once.
pub fn first_list_deferred(
    po: &ProxyOrder,
    ctx: &Context,
    account: &Account,
) -> Option<std::time::Duration> {
    let status = po.status.as_ref()?;
    let current = status.observed_generation == po.metadata.generation;
    let settled = [READY, SYNCED].iter().all(|t| {
        conditions::get(&status.conditions, t)
            .is_some_and(|c| c.status == "True" && c.observed_generation == po.metadata.generation)
    });
    if !current
        || !settled
        || status.pending_request.is_some()
        || is_paused(po.annotations())
        || ctx.gateway.has_listed(&account.cache_key)
    {
        return None;
    }
    ctx.first_list_wait(po.metadata.uid.as_deref().unwrap_or_default())
}

/// What the order list says of the order, and who claimed it.
#[derive(Default)]
struct Listing {
    listed: Option<Result<Option<crate::provider::Order>, crate::provider::ProviderError>>,
    listed_at: Option<Instant>,
    throttled: Option<std::time::Duration>,
    conflict: Option<String>,
}

/// The order as `account`'s order list shows it (fetched anew when older than the refresh
/// interval, or than `force` when set), and when it is listed and `claim` names the
/// ProxyOrder's UID, its claim: this ProxyOrder's, or someone else's (a conflict). Nothing is
/// listed without an account or while paused.
async fn list_and_claim(
    po: &ProxyOrder,
    ctx: &Context,
    ns: &str,
    claim: Option<&str>,
    account: Option<&Account>,
    force: Option<Instant>,
) -> Result<Listing> {
    let mut listing = Listing {
        listed: None,
        listed_at: None,
        throttled: None,
        conflict: None,
    };
    let Some(acc) = account.filter(|_| !is_paused(po.annotations())) else {
        return Ok(listing);
    };
    let query = QueryOptions {
        lang: po.spec.lang,
        currency: po.spec.currency,
    };
    match ctx
        .gateway
        .list(acc, query, ctx.settings.refresh_interval, force)
        .await
    {
        Ok(list) => {
            listing.listed = Some(list.map(|l| {
                listing.listed_at = Some(l.fetched_at);
                l.get(po.spec.order_id).cloned()
            }));
        }
        Err(Throttled(wait)) => listing.throttled = Some(wait),
    }
    // The order is in this key's account: claim it before anything is decided for it. Another
    // ProxyOrder's claim, in any namespace, makes this one a conflict (no call, no Secret).
    if let (Some(Ok(Some(_))), Some(uid)) = (&listing.listed, claim) {
        listing.conflict = claim::ensure(ctx, po, ns, uid, &acc.target.scope).await?;
    }
    Ok(listing)
}

impl Observation {
    /// This observation for another copy of the same ProxyOrder with the same spec and
    /// annotations (read again from the API server): only what depends on its status differs.
    pub fn again_for(mut self: Box<Self>, po: &ProxyOrder) -> Box<Self> {
        self.sync_requested = sync_requested(po);
        self
    }

    /// The order list (and the claim) read again, from a list fetched after `since`; the
    /// Secrets read for this observation still hold. `throttled` says when to come back if the
    /// list cannot be fetched yet.
    pub async fn relist(
        &mut self,
        po: &ProxyOrder,
        ctx: &Context,
        ns: &str,
        since: Instant,
    ) -> Result<()> {
        let uid = po
            .metadata
            .uid
            .as_deref()
            .ok_or(Error::MissingMetadata("uid"))?;
        // The claim was settled when the order was listed before: not asked again.
        let claimed = matches!(self.observed.listed, Some(Ok(Some(_))));
        let claim = (!claimed).then_some(uid);
        let listing =
            list_and_claim(po, ctx, ns, claim, self.account.as_ref(), Some(since)).await?;
        self.observed.listed = listing.listed;
        if !claimed {
            self.observed.conflict = listing.conflict;
        }
        self.listed_at = listing.listed_at;
        self.throttled = listing.throttled;
        Ok(())
    }
}

/// Whether `secret` is the credentials Secret the operator made for the ProxyOrder with `uid`:
/// controlled by it, labelled as the operator's, of type `Opaque`. An owner reference alone
/// proves nothing (anyone who may create Secrets in the namespace can set one), and a Secret of
/// another type could never be written (its type is immutable).
fn made_by_us(secret: &Secret, uid: &str) -> bool {
    let controlled = secret
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid);
    let labelled = secret.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY);
    let opaque = secret.type_.as_deref().unwrap_or("Opaque") == "Opaque";
    controlled && labelled && opaque
}

/// A refresh asked for with the sync-requested annotation and not yet recorded in status.
fn sync_requested(po: &ProxyOrder) -> Option<String> {
    po.requested_sync().map(str::to_string)
}

/// Why there is no API key when none is configured at all.
fn no_key(ns: &str) -> MissingSecret {
    MissingSecret::no_api_key(ns)
}

/// The API key at `loc` and its fingerprint.
async fn read_api_key(
    ctx: &Context,
    loc: Option<&KeyLocation>,
    ns: &str,
) -> Result<Result<(String, ApiKey), MissingSecret>> {
    let Some(loc) = loc else {
        return Ok(Err(no_key(ns)));
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &loc.namespace);
    Ok(read_key(
        &ctx.secrets,
        &api,
        "API key",
        &loc.namespace,
        &loc.name,
        &loc.key,
    )
    .await?
    .map(|value| {
        let fp = credentials::fingerprint(["api-key", value.as_str()]);
        (fp, ApiKey::new(value))
    }))
}

/// One key of a Secret, trimmed of surrounding whitespace (a trailing newline from
/// `echo > file` is the most common way a key goes wrong).
pub(super) async fn read_key(
    cache: &SecretCache,
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
    let Some(secret) = cache.get_key(api, ns, name, key).await? else {
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
