//! Lease-based leader election (coordination.k8s.io/v1), so that of several replicas exactly
//! one reconciles. A replica that loses its lease exits; its Pod restarts and queues up again.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{Api, Client, api::PostParams};
use tracing::{debug, info, warn};

#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews (and others retry).
    pub retry_period: Duration,
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// This replica holds the lease now.
    Held,
    /// Another replica holds a valid lease.
    Taken(String),
}

/// Decides whether `me` may hold `lease` at `now`. Pure, for tests.
fn may_hold(lease: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Result<(), String> {
    let Some(spec) = lease else {
        return Ok(());
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == me {
        return Ok(());
    }
    let duration = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(15).into());
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match renewed {
        Some(at) if at + duration > now => Err(holder.to_string()),
        _ => Ok(()),
    }
}

async fn try_acquire(api: &Api<Lease>, cfg: &LeaderConfig) -> kube::Result<Attempt> {
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.name).await?;
    if let Err(holder) = may_hold(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        &cfg.identity,
        now,
    ) {
        return Ok(Attempt::Taken(holder));
    }
    let previous = current
        .as_ref()
        .and_then(|l| l.spec.clone())
        .unwrap_or_default();
    let taking_over = previous.holder_identity.as_deref() != Some(cfg.identity.as_str());
    let spec = LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(cfg.lease_duration.as_secs().max(1) as i32),
        acquire_time: if taking_over {
            Some(MicroTime(now))
        } else {
            previous.acquire_time.clone()
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(
            previous.lease_transitions.unwrap_or(0) + i32::from(taking_over && current.is_some()),
        ),
        ..Default::default()
    };
    let result = match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease).await
        }
        Some(mut lease) => {
            // resourceVersion makes this a compare-and-swap: a concurrent writer gets 409.
            lease.spec = Some(spec);
            api.replace(&cfg.name, &PostParams::default(), &lease).await
        }
    };
    match result {
        Ok(_) => Ok(Attempt::Held),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Taken("<conflict>".into())),
        Err(e) => Err(e),
    }
}

/// Waits until this replica holds the lease.
pub async fn acquire(client: Client, cfg: &LeaderConfig) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut announced = false;
    loop {
        match try_acquire(&api, cfg).await {
            Ok(Attempt::Held) => {
                info!(lease = %cfg.name, identity = %cfg.identity, "acquired leadership");
                return;
            }
            Ok(Attempt::Taken(holder)) => {
                if !announced {
                    info!(lease = %cfg.name, %holder, "waiting for leadership");
                    announced = true;
                }
            }
            Err(e) => warn!(error = %e, "leader election request failed"),
        }
        tokio::time::sleep(cfg.retry_period).await;
    }
}

/// Renews the lease until renewal fails for longer than the lease lasts, then returns.
pub async fn hold(client: Client, cfg: &LeaderConfig) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.retry_period).await;
        // A renewal that hangs must not outlive the lease: bound it by the time left.
        let left = cfg
            .lease_duration
            .saturating_sub(last_renewed.elapsed())
            .saturating_sub(cfg.retry_period)
            .max(Duration::from_millis(100));
        let attempt = match tokio::time::timeout(left, try_acquire(&api, cfg)).await {
            Ok(r) => r,
            Err(_) => {
                warn!("renewing leadership timed out");
                return;
            }
        };
        match attempt {
            Ok(Attempt::Held) => {
                debug!("renewed leadership");
                last_renewed = tokio::time::Instant::now();
            }
            Ok(Attempt::Taken(holder)) => {
                warn!(%holder, "leadership lost to another replica");
                return;
            }
            Err(e) => {
                warn!(error = %e, "could not renew leadership");
                // Stop before the lease can expire: past that point another replica may act.
                if last_renewed.elapsed() + cfg.retry_period >= cfg.lease_duration {
                    return;
                }
            }
        }
    }
}

/// Gives the lease up at shutdown, so another replica takes over at once.
pub async fn release(client: Client, cfg: &LeaderConfig) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    if let Ok(Some(mut lease)) = api.get_opt(&cfg.name).await
        && let Some(spec) = lease.spec.as_mut()
        && spec.holder_identity.as_deref() == Some(cfg.identity.as_str())
    {
        spec.holder_identity = None;
        spec.renew_time = None;
        let _ = api.replace(&cfg.name, &PostParams::default(), &lease).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: i64, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
            lease_duration_seconds: Some(secs),
            ..Default::default()
        }
    }

    #[test]
    fn who_may_hold_the_lease() {
        let now = Timestamp::from_second(1_000).unwrap();
        assert_eq!(may_hold(None, "a", now), Ok(()));
        assert_eq!(may_hold(Some(&lease("a", 995, 15)), "a", now), Ok(()));
        assert_eq!(
            may_hold(Some(&lease("b", 995, 15)), "a", now),
            Err("b".to_string())
        );
        assert_eq!(
            may_hold(Some(&lease("b", 980, 15)), "a", now),
            Ok(()),
            "expired"
        );
        assert_eq!(
            may_hold(Some(&lease("", 999, 15)), "a", now),
            Ok(()),
            "released"
        );
    }
}
