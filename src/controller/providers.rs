//! The ProxyProvider controller: tells the cluster's administrators whether a provider account
//! works, from one order-list call per refresh interval (shared with the ProxyOrders that use
//! the same key), in `status` (condition `Ready`, the number of orders listed). It makes no
//! change call and writes the status only when it changed.

use std::{sync::Arc, time::Duration};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;
use tracing::{debug, warn};

use super::{
    conditions::{self, READY, Reason},
    context::{Context, jitter},
    gateway::{Account, Throttled},
    observe::read_key,
    plan::reason_for,
    tenancy::target_for,
};
use crate::{
    credentials,
    error::{Error, Result},
    provider::{ApiKey, QueryOptions},
};
use proxy_order_api::FIELD_MANAGER;
use proxy_order_api::{DEFAULT_KEY, ProxyProvider, ProxyProviderStatus};

/// What one check found.
struct Check {
    ready: bool,
    reason: Reason,
    message: String,
    orders: Option<u32>,
    next: Duration,
}

async fn check(pp: &ProxyProvider, ctx: &Context) -> Result<Result<Check, Throttled>> {
    let target = match target_for(ctx, &pp.spec) {
        Ok(t) => t,
        Err(why) => {
            return Ok(Ok(Check {
                ready: false,
                reason: Reason::InvalidSpec,
                message: format!("cannot be used: {why}"),
                orders: None,
                next: ctx.settings.terminal_recheck,
            }));
        }
    };
    let r = &pp.spec.api_key_secret_ref;
    let ns = r
        .namespace
        .clone()
        .unwrap_or_else(|| ctx.settings.operator_namespace.clone());
    let secrets = Api::namespaced(ctx.client.clone(), &ns);
    let key = r.key.as_deref().unwrap_or(DEFAULT_KEY);
    let value = match read_key(&ctx.secrets, &secrets, "API key", &ns, &r.name, key).await? {
        Ok(v) => v,
        Err(missing) => {
            return Ok(Ok(Check {
                ready: false,
                reason: Reason::SecretNotFound,
                message: missing.to_string(),
                orders: None,
                next: ctx.settings.terminal_recheck,
            }));
        }
    };
    let fp = credentials::fingerprint(["api-key", value.as_str()]);
    let account = Account::new(target.clone(), &fp, ApiKey::new(value));
    // Available for its current spec, as the previous process left it, and this process has
    // not listed the key yet: the first check comes within the refresh interval, as it would
    // have anyway (a restart costs no provider request).
    let available = pp.status.as_ref().and_then(|s| {
        let c = conditions::get(&s.conditions, READY)?;
        (s.observed_generation == pp.metadata.generation
            && c.status == "True"
            && c.reason == Reason::Available.as_str())
        .then(|| c.message.clone())
    });
    if let Some(message) = available
        && !ctx.gateway.has_listed(&account.cache_key)
        && let Some(wait) = ctx.first_list_wait(pp.metadata.uid.as_deref().unwrap_or_default())
    {
        return Ok(Ok(Check {
            ready: true,
            reason: Reason::Available,
            message,
            orders: None,
            next: wait,
        }));
    }
    let list = ctx
        .gateway
        .list(
            &account,
            QueryOptions::default(),
            ctx.settings.refresh_interval,
            None,
        )
        .await;
    Ok(match list {
        Err(t) => Err(t),
        Ok(Ok(index)) => {
            let n = index.orders.len();
            Ok(Check {
                ready: true,
                reason: Reason::Available,
                message: format!("the API key lists {n} orders at {}", target.scope),
                orders: Some(u32::try_from(n).unwrap_or(u32::MAX)),
                next: jitter(ctx.settings.refresh_interval),
            })
        }
        Ok(Err(e)) => Ok(Check {
            ready: false,
            reason: reason_for(&e),
            message: format!("listing the orders failed: {e}"),
            orders: None,
            next: if e.is_transient() {
                ctx.backoff_delay(2, e.retry_after())
            } else {
                ctx.settings.terminal_recheck
            },
        }),
    })
}

pub async fn reconcile(pp: Arc<ProxyProvider>, ctx: Arc<Context>) -> Result<Action> {
    let c = match check(&pp, &ctx).await? {
        Ok(c) => c,
        Err(Throttled(wait)) => return Ok(Action::requeue(wait)),
    };
    let old = pp.status.clone().unwrap_or_default();
    let mut status = ProxyProviderStatus {
        observed_generation: pp.metadata.generation,
        conditions: old.conditions.clone(),
        // A failed check keeps the last count: it says what the key listed when it worked.
        orders: c.orders.or(old.orders),
    };
    conditions::set(
        &mut status.conditions,
        READY,
        c.ready,
        c.reason,
        c.message,
        pp.metadata.generation,
        &Time(k8s_openapi::jiff::Timestamp::now()),
    );
    if status != old {
        ctx.fence.check()?;
        let api: Api<ProxyProvider> = Api::all(ctx.client.clone());
        let patch = json!({
            "apiVersion": ProxyProvider::api_version(&()),
            "kind": ProxyProvider::kind(&()),
            "status": status,
        });
        api.patch_status(
            &pp.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
        debug!(provider = %pp.name_any(), ready = c.ready, "ProxyProvider status written");
    }
    Ok(Action::requeue(c.next))
}

pub fn error_policy(pp: Arc<ProxyProvider>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(provider = %pp.name_any(), %error, "ProxyProvider check failed");
    Action::requeue(Duration::from_secs(30))
}
