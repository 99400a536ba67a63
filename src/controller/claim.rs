//! Order claims: which ProxyOrder, cluster-wide, manages an order. The API server is the
//! arbiter, not a cache: a claim is a `coordination.k8s.io` Lease in the operator's namespace
//! whose name is derived from the order id alone, so two ProxyOrders that claim one order at the
//! same instant, in any namespaces and through any provider settings (two spellings of one
//! account's URL, two ProxyProviders with one key), race for one create and exactly one wins.
//! A claim whose holder no longer exists is taken over with an update conditional on its
//! resourceVersion; a deleted ProxyOrder's claims are deleted.
//!
//! Tenants cannot touch claims: they live in the operator's namespace.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, PostParams, Preconditions},
};
use tracing::{debug, info, warn};

use super::context::Context;
use crate::{
    credentials,
    error::{Error, Result},
};
use proxy_order_api::{MANAGED_BY, MANAGED_BY_LABEL, ORDER_ID_ANNOTATION, ProxyOrder};

pub use proxy_order_api::names::{
    CLAIM_LABEL, HOLDER_ANNOTATION, HOLDER_UID_LABEL, PROVIDER_URL_ANNOTATION, RESERVED_FOR_LABEL,
    RESERVED_UNTIL_ANNOTATION,
};

/// What became of a deleted holder's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freed {
    /// Reserved for the holder's namespace (named) for `--claim-reservation`.
    Reserved(String),
    /// Deleted: any ProxyOrder may claim the order.
    Released,
}

/// The namespace a claim is reserved for and until when, if it is a reservation.
fn reservation_of(l: &Lease) -> Option<(String, Timestamp)> {
    let ns = l.labels().get(RESERVED_FOR_LABEL)?;
    let until = l
        .annotations()
        .get(RESERVED_UNTIL_ANNOTATION)?
        .parse()
        .ok()?;
    Some((ns.clone(), until))
}

/// `current` turned into a reservation for namespace `ns` until `until`: no holder, the same
/// order, conditional on `current`'s version.
fn reserve(current: &Lease, ns: &str, until: Timestamp) -> Lease {
    let mut next = current.clone();
    let meta = &mut next.metadata;
    meta.managed_fields = None;
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    labels.remove(HOLDER_UID_LABEL);
    labels.insert(RESERVED_FOR_LABEL.to_string(), ns.to_string());
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    annotations.remove(HOLDER_ANNOTATION);
    annotations.insert(RESERVED_UNTIL_ANNOTATION.to_string(), until.to_string());
    next.spec = Some(LeaseSpec::default());
    next
}

/// What a ProxyOrder in another namespace is told of a reservation.
fn describe_reservation(until: Timestamp) -> String {
    format!(
        "a ProxyOrder in another namespace managed it, and it stays reserved for that namespace \
         until {until}"
    )
}

/// The namespace of a holder `namespace/name/uid`.
fn holder_namespace(holder: &str) -> &str {
    holder.split('/').next().unwrap_or_default()
}

/// How often a claim that keeps changing hands under us is read again before giving up for
/// this reconcile.
const ATTEMPTS: usize = 5;

/// The claim's name: the same for every ProxyOrder naming this order, however it reaches the
/// provider. Order ids are the provider's own; two providers that happened to use one id would
/// share a claim (a conflict where there is none), which is the safe way to be wrong: two
/// ProxyOrders managing one order through two spellings of its URL is the unsafe one.
pub fn claim_name(order_id: u64) -> String {
    let fp = credentials::fingerprint(["order-claim", &order_id.to_string()]);
    format!("pxo-claim-{}", fp.trim_start_matches("sha256:"))
}

/// `namespace/name/uid`: who holds a claim.
fn holder_identity(ns: &str, name: &str, uid: &str) -> String {
    format!("{ns}/{name}/{uid}")
}

/// The holder as the claimant `my_ns` may be told: the name only within its own namespace,
/// never another tenant's namespace or name.
fn describe(holder: &str, my_ns: &str) -> String {
    let mut parts = holder.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(ns), Some(name)) if ns == my_ns => format!("ProxyOrder {name} in this namespace"),
        _ => "a ProxyOrder in another namespace".to_string(),
    }
}

fn lease(claim: &str, po: &ProxyOrder, ns: &str, uid: &str, scope: &str) -> Lease {
    let name = po.name_any();
    Lease {
        metadata: ObjectMeta {
            name: Some(claim.to_string()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
                (CLAIM_LABEL.to_string(), "true".to_string()),
                (HOLDER_UID_LABEL.to_string(), uid.to_string()),
            ])),
            annotations: Some(BTreeMap::from([
                (
                    ORDER_ID_ANNOTATION.to_string(),
                    po.spec.order_id.to_string(),
                ),
                (PROVIDER_URL_ANNOTATION.to_string(), scope.to_string()),
                (HOLDER_ANNOTATION.to_string(), format!("{ns}/{name}")),
            ])),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder_identity(ns, &name, uid)),
            acquire_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            ..Default::default()
        }),
    }
}

/// Makes sure `po` holds the claim on its order at the provider `scope`. `None`: it does (now);
/// `Some(who)`: another ProxyOrder that still exists holds it, described for `po`'s owner.
pub async fn ensure(
    ctx: &Context,
    po: &ProxyOrder,
    ns: &str,
    uid: &str,
    scope: &str,
) -> Result<Option<String>> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.settings.operator_namespace);
    let claim = claim_name(po.spec.order_id);
    let me = holder_identity(ns, &po.name_any(), uid);
    let params = PostParams {
        field_manager: Some(proxy_order_api::FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    // The claim watch's view: a claim labelled with this ProxyOrder's UID is held by it (only
    // a holder that no longer exists loses its claim), so it needs no read. One the watch has
    // not reported is created straight away: the API server refuses it if it exists.
    let mut unseen = false;
    match ctx.claims.label(&ctx.settings.operator_namespace, &claim) {
        Some(Some(holder)) if holder == uid => return Ok(None),
        // Held by a ProxyOrder the cache holds: it exists, so this is a conflict, known
        // without a read (a claim's holder changes only when it is gone).
        Some(Some(holder)) => {
            if let Some(at) = ctx.cached_holder(&holder) {
                return Ok(Some(describe(&format!("{at}/{holder}"), ns)));
            }
        }
        None => unseen = true,
        Some(None) => {}
    }
    for _ in 0..ATTEMPTS {
        let read = if std::mem::take(&mut unseen) {
            None
        } else {
            api.get_opt(&claim).await?
        };
        let Some(current) = read else {
            ctx.fence.check()?;
            match api
                .create(&params, &lease(&claim, po, ns, uid, scope))
                .await
            {
                Ok(_) => {
                    info!(name = %po.name_any(), namespace = ns, order = po.spec.order_id, %claim, "claimed the order");
                    return Ok(None);
                }
                // Someone else created it first: read who.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let holder = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default();
        if holder == me {
            return Ok(None);
        }
        let now = Timestamp::now();
        let next = match reservation_of(&current) {
            // Reserved for another namespace: not this one's to take, until it ends.
            Some((for_ns, until)) if for_ns != ns && now < until => {
                return Ok(Some(describe_reservation(until)));
            }
            Some(_) => lease(&claim, po, ns, uid, scope),
            None if holder_exists(ctx, &holder).await? => {
                return Ok(Some(describe(&holder, ns)));
            }
            // The holder is gone (deleted while the operator was not looking): its namespace
            // keeps the order for the reservation period, counted from now, as if the deletion
            // had been seen (a re-created ProxyOrder there takes it back); its own namespace, or
            // anyone once reservations are off, takes it over.
            None => {
                let holder_ns = holder_namespace(&holder);
                let reservation = ctx.settings.claim_reservation;
                if holder_ns != ns && !holder_ns.is_empty() && !reservation.is_zero() {
                    let until = now.checked_add(reservation).unwrap_or(Timestamp::MAX);
                    ctx.fence.check()?;
                    match api
                        .replace(&claim, &params, &reserve(&current, holder_ns, until))
                        .await
                    {
                        Ok(_) => return Ok(Some(describe_reservation(until))),
                        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                lease(&claim, po, ns, uid, scope)
            }
        };
        // Take the claim over, only if nobody changed it since it was read.
        ctx.fence.check()?;
        let mut next = next;
        next.metadata.resource_version = current.resource_version();
        match api.replace(&claim, &params, &next).await {
            Ok(_) => {
                info!(name = %po.name_any(), namespace = ns, order = po.spec.order_id, %claim, "took over the claim of a ProxyOrder that no longer exists");
                return Ok(None);
            }
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    // Changing hands faster than it can be read: try again later (a transient error, not a
    // conflict that would wait for the slow re-check).
    Err(Error::ClaimContended(po.spec.order_id))
}

/// Whether `po` holds the claim on its order now (read only: nothing is claimed). Deleting
/// with `deletionPolicy: Revoke` revokes only then, whatever the order list says.
pub async fn held(ctx: &Context, po: &ProxyOrder, ns: &str, uid: &str) -> Result<bool> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.settings.operator_namespace);
    let me = holder_identity(ns, &po.name_any(), uid);
    Ok(api
        .get_opt(&claim_name(po.spec.order_id))
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .is_some_and(|h| h == me))
}

/// Whether the ProxyOrder `namespace/name/uid` still exists (the same object, not one
/// re-created with its name). One the operator may not read counts as existing.
async fn holder_exists(ctx: &Context, holder: &str) -> Result<bool> {
    let mut parts = holder.splitn(3, '/');
    let (Some(ns), Some(name), Some(uid)) = (parts.next(), parts.next(), parts.next()) else {
        warn!(%holder, "an order claim has a malformed holder; taking it over");
        return Ok(false);
    };
    let api: Api<ProxyOrder> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_metadata_opt(name).await {
        Ok(Some(m)) => Ok(m.metadata.uid.as_deref() == Some(uid)),
        Ok(None) => Ok(false),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Brings claims made by earlier versions, named after the provider URL as well as the order id
/// (so that two spellings of one URL gave two claims on one order), under their names by order
/// id alone: of the claims on one order, the one acquired first keeps it (the others' holders
/// see `OrderConflict` at their next reconcile), and the old Leases are deleted. Run once at
/// start, before any reconcile; several instances sharing the operator namespace doing it at
/// once agree (the first acquired wins in each, and every create or delete is conditional).
pub async fn migrate(ctx: &Context) -> Result<()> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.settings.operator_namespace);
    let all = api
        .list(&ListParams::default().labels(&format!("{CLAIM_LABEL}=true")))
        .await?;
    let mut by_order: BTreeMap<u64, Vec<Lease>> = BTreeMap::new();
    for l in all {
        let order = l
            .annotations()
            .get(ORDER_ID_ANNOTATION)
            .and_then(|o| o.parse::<u64>().ok());
        if let Some(order) = order {
            by_order.entry(order).or_default().push(l);
        }
    }
    for (order, mut leases) in by_order {
        let name = claim_name(order);
        if leases.iter().all(|l| l.name_any() == name) {
            continue;
        }
        if !leases.iter().any(|l| l.name_any() == name) {
            // The first acquired (then by name, so that every instance picks the same one).
            leases.sort_by_key(|l| {
                let at = l.spec.as_ref().and_then(|s| s.acquire_time.clone());
                (at.is_none(), at.map(|t| t.0), l.name_any())
            });
            let first = &leases[0];
            let mut moved = first.clone();
            moved.metadata = ObjectMeta {
                name: Some(name.clone()),
                labels: first.metadata.labels.clone(),
                annotations: first.metadata.annotations.clone(),
                ..Default::default()
            };
            ctx.fence.check()?;
            let params = PostParams {
                field_manager: Some(proxy_order_api::FIELD_MANAGER.to_string()),
                ..Default::default()
            };
            match api.create(&params, &moved).await {
                Ok(_) => {
                    info!(order, claim = %name, holder = ?first.spec.as_ref().and_then(|s| s.holder_identity.clone()), "moved an order claim to its name by order id")
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        for old in leases.iter().filter(|l| l.name_any() != name) {
            ctx.fence.check()?;
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: old.uid(),
                    resource_version: old.resource_version(),
                }),
                ..Default::default()
            };
            match api.delete(&old.name_any(), &dp).await {
                Ok(_) => {
                    debug!(order, claim = %old.name_any(), "deleted an order claim of the old naming")
                }
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Frees the claim a deleted ProxyOrder (by UID) held on order `order_id`, only if its holder is
/// really gone (a ProxyOrder that merely left this instance's `--selector` still holds its
/// order) and the claim is unchanged since it was read (so a claim taken over meanwhile stays).
/// The claim becomes a reservation for the holder's namespace for `--claim-reservation`, so that
/// deleting and re-creating a ProxyOrder (`orderId` is immutable) never hands the order to
/// another namespace in between; with `release_now` (the deleted ProxyOrder said so) or no
/// reservation period, it is deleted. `None`: it held no claim (or it changed meanwhile).
pub async fn release(
    ctx: &Context,
    uid: &str,
    order_id: u64,
    release_now: bool,
) -> Result<Option<Freed>> {
    let op_ns = &ctx.settings.operator_namespace;
    let claim = claim_name(order_id);
    // The claim watch says whether it held the claim (one claim per ProxyOrder: its order id
    // is immutable), so a deletion costs no read of the claims of others.
    if ctx.claims.label(op_ns, &claim) != Some(Some(uid.to_string())) {
        return Ok(None);
    }
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), op_ns);
    let Some(l) = api.get_opt(&claim).await? else {
        return Ok(None);
    };
    let holder = l.spec.as_ref().and_then(|s| s.holder_identity.as_deref());
    let Some(holder) = holder.filter(|h| h.ends_with(&format!("/{uid}"))) else {
        return Ok(None);
    };
    if holder_exists(ctx, holder).await? {
        return Ok(None);
    }
    let holder_ns = holder_namespace(holder).to_string();
    let reservation = ctx.settings.claim_reservation;
    ctx.fence.check()?;
    if !release_now && !reservation.is_zero() && !holder_ns.is_empty() {
        let until = Timestamp::now()
            .checked_add(reservation)
            .unwrap_or(Timestamp::MAX);
        let params = PostParams {
            field_manager: Some(proxy_order_api::FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        return match api
            .replace(&claim, &params, &reserve(&l, &holder_ns, until))
            .await
        {
            Ok(_) => {
                debug!(%claim, namespace = %holder_ns, %until, "reserved the order claim for the namespace of its deleted holder");
                Ok(Some(Freed::Reserved(holder_ns)))
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: l.uid(),
            resource_version: l.resource_version(),
        }),
        ..Default::default()
    };
    match api.delete(&claim, &dp).await {
        Ok(_) => {
            debug!(%claim, "released the order claim");
            Ok(Some(Freed::Released))
        }
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_name_per_order_however_the_provider_is_reached() {
        let a = claim_name(10000);
        assert_eq!(a, claim_name(10000));
        assert_ne!(a, claim_name(10001));
        assert!(a.starts_with("pxo-claim-") && a.len() == "pxo-claim-".len() + 32);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn another_tenant_is_never_named() {
        assert_eq!(
            describe("team-a/web/uid-1", "team-a"),
            "ProxyOrder web in this namespace"
        );
        let other = describe("team-b/secret-project/uid-2", "team-a");
        assert!(!other.contains("team-b") && !other.contains("secret-project"));
        assert_eq!(other, "a ProxyOrder in another namespace");
    }
}
