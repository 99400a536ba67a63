//! Lease-based leader election (coordination.k8s.io/v1), so that of several replicas exactly
//! one reconciles. A replica that loses its lease exits; its Pod restarts and queues up again.
//!
//! Fencing: the leader acts (provider calls, Kubernetes writes) only while its [`Fence`] holds,
//! which is until `lease duration - (provider timeout + margin)` after the start of its last
//! successful renewal. A candidate treats a lease as expired only after it has seen the same
//! lease record unchanged for the lease duration on its own monotonic clock, never from the
//! holder's timestamp, so clock skew between nodes cannot make two replicas act at once: a
//! call the old leader started before its fence closed has ended before anyone else may start.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, Client, api::PostParams};
use parking_lot::Mutex;
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
    /// How long before the lease could pass to another replica the leader stops starting
    /// work: the longest a provider call can take, plus [`FENCE_MARGIN`].
    pub guard: Duration,
}

/// Added to the provider timeout in [`LeaderConfig::guard`]: covers a Kubernetes write in
/// flight and clocks that run at slightly different rates.
pub const FENCE_MARGIN: Duration = Duration::from_secs(2);

impl LeaderConfig {
    /// The lease duration and retry period for a provider timeout: `lease_duration` must leave
    /// a window after each renewal in which the leader may act, longer than one retry period.
    pub fn timing(
        lease_duration: Duration,
        provider_timeout: Duration,
    ) -> Result<(Duration, Duration), String> {
        let guard = provider_timeout + FENCE_MARGIN;
        let window = lease_duration.saturating_sub(guard);
        if window < Duration::from_secs(1) {
            return Err(format!(
                "--lease-duration ({}s) must be longer than the provider timeout ({}s) plus {}s: \
                 a provider call a leader starts must end before its lease can pass to another replica",
                lease_duration.as_secs_f64(),
                provider_timeout.as_secs_f64(),
                FENCE_MARGIN.as_secs()
            ));
        }
        // Renew at least twice per window, so the fence never closes between renewals.
        let retry = (lease_duration / 3)
            .min(window / 2)
            .max(Duration::from_millis(200));
        Ok((guard, retry))
    }
}

/// Whether this replica may act now. Shared by the leader-election loop, which moves the
/// deadline, and the reconciler, which checks it before every provider call and write.
#[derive(Debug)]
pub struct Fence {
    /// `None` without leader election: always open.
    deadline: Option<Mutex<Option<tokio::time::Instant>>>,
}

/// The fence is closed: this replica is not (or no longer surely) the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not the leader (or the lease may have passed to another replica): not acting")]
pub struct NotLeader;

impl Fence {
    /// A fence for a single replica, without leader election: always open.
    pub fn open() -> Self {
        Fence { deadline: None }
    }

    /// A fence for leader election: closed until the first successful acquisition.
    pub fn closed() -> Self {
        Fence {
            deadline: Some(Mutex::new(None)),
        }
    }

    /// A renewal that started at `started` succeeded: open until `started + lease - guard`.
    pub fn renewed(&self, started: tokio::time::Instant, cfg: &LeaderConfig) {
        if let Some(d) = &self.deadline {
            let until = started + cfg.lease_duration.saturating_sub(cfg.guard);
            *d.lock() = Some(until);
        }
    }

    /// Leadership is lost or given up: closed.
    pub fn close(&self) {
        if let Some(d) = &self.deadline {
            *d.lock() = None;
        }
    }

    /// `Ok` while this replica may start a provider call or a write.
    pub fn check(&self) -> Result<(), NotLeader> {
        let Some(d) = &self.deadline else {
            return Ok(());
        };
        match *d.lock() {
            Some(until) if tokio::time::Instant::now() < until => Ok(()),
            _ => Err(NotLeader),
        }
    }
}

/// What one attempt found.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// This replica holds the lease now.
    Held,
    /// Another replica holds a valid lease.
    Taken(String),
}

/// What a candidate has seen of the lease: the record (its resourceVersion) and since when, on
/// the candidate's own monotonic clock, and when it last saw the record change (someone
/// renewing it).
#[derive(Debug, Default)]
pub struct Observed {
    record: Option<(String, tokio::time::Instant)>,
    changed: Option<tokio::time::Instant>,
}

impl Observed {
    /// How long the record `version` has been seen unchanged, starting the clock when it is new.
    fn unchanged_for(&mut self, version: &str, now: tokio::time::Instant) -> Duration {
        match &self.record {
            Some((v, since)) if v == version => now.duration_since(*since),
            seen => {
                if seen.is_some() {
                    self.changed = Some(now);
                }
                self.record = Some((version.to_string(), now));
                Duration::ZERO
            }
        }
    }

    /// Whether the record was seen to change (a leader renewing it) within `within`.
    fn renewed_within(&self, within: Duration, now: tokio::time::Instant) -> bool {
        self.changed
            .is_some_and(|at| now.duration_since(at) < within)
    }
}

/// Where a replica with leader election stands, for `/readyz`.
#[derive(Debug)]
pub struct Standing {
    standby: AtomicBool,
    leader_seen: AtomicBool,
}

impl Standing {
    /// Waiting for leadership, no leader seen yet.
    pub fn standby() -> Self {
        Standing {
            standby: AtomicBool::new(true),
            leader_seen: AtomicBool::new(false),
        }
    }

    /// Acting (the leader, or a replica without leader election).
    pub fn active() -> Self {
        Standing {
            standby: AtomicBool::new(false),
            leader_seen: AtomicBool::new(true),
        }
    }

    pub fn is_standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }

    /// A standby that saw the leader renew its lease lately (within two renewal periods):
    /// someone acts, and it is ready to take over. One that saw no renewal (the lease is held
    /// by a replica that is gone) is not ready until it has taken over.
    pub fn leader_seen(&self) -> bool {
        self.leader_seen.load(Ordering::Relaxed)
    }

    fn set_active(&self) {
        self.standby.store(false, Ordering::Relaxed);
        self.leader_seen.store(true, Ordering::Relaxed);
    }
}

/// Decides whether `me` may hold `lease`, which has been seen unchanged for `unchanged_for`.
/// The holder's timestamps are not compared with this replica's clock: a lease is expired only
/// once this replica has watched it go unrenewed for the whole lease duration. Pure, for tests.
fn may_hold(lease: Option<&LeaseSpec>, me: &str, unchanged_for: Duration) -> Result<(), String> {
    let Some(spec) = lease else {
        return Ok(());
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == me {
        return Ok(());
    }
    let duration = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64);
    if unchanged_for >= duration {
        Ok(())
    } else {
        Err(holder.to_string())
    }
}

async fn try_acquire(
    api: &Api<Lease>,
    cfg: &LeaderConfig,
    observed: &mut Observed,
) -> kube::Result<Attempt> {
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.name).await?;
    let version = current
        .as_ref()
        .and_then(|l| l.metadata.resource_version.clone())
        .unwrap_or_default();
    let unchanged_for = observed.unchanged_for(&version, tokio::time::Instant::now());
    if let Err(holder) = may_hold(
        current.as_ref().and_then(|l| l.spec.as_ref()),
        &cfg.identity,
        unchanged_for,
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

/// Waits until this replica holds the lease, opens `fence` and marks `standing` active.
/// Meanwhile `standing` says whether a leader was seen renewing the lease. Never tries again
/// once `stopping` is set (a process shutting down must not become the leader), and returns
/// `false` then.
pub async fn acquire(
    client: Client,
    cfg: &LeaderConfig,
    fence: &Fence,
    standing: &Standing,
    stopping: &AtomicBool,
) -> bool {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut announced = false;
    let mut observed = Observed::default();
    loop {
        if stopping.load(Ordering::Relaxed) {
            return false;
        }
        let started = tokio::time::Instant::now();
        match try_acquire(&api, cfg, &mut observed).await {
            Ok(Attempt::Held) => {
                if stopping.load(Ordering::Relaxed) {
                    // Taken while the stop came: it is given back, never used.
                    return false;
                }
                fence.renewed(started, cfg);
                standing.set_active();
                info!(lease = %cfg.name, identity = %cfg.identity, "acquired leadership");
                return true;
            }
            Ok(Attempt::Taken(holder)) => {
                if !announced {
                    info!(lease = %cfg.name, %holder, "waiting for leadership");
                    announced = true;
                }
                // A leader renews every retry period: none seen for two of them means it is
                // probably gone (the lease then passes once the lease duration is over).
                let seen =
                    observed.renewed_within(cfg.retry_period * 2, tokio::time::Instant::now());
                standing.leader_seen.store(seen, Ordering::Relaxed);
            }
            Err(e) => warn!(error = %e, "leader election request failed"),
        }
        tokio::time::sleep(cfg.retry_period).await;
    }
}

/// Renews the lease, moving `fence` on with every renewal (from the moment the renewal was
/// sent, not when its answer came), until renewal has failed for so long that the fence has
/// closed; then closes it and returns.
pub async fn hold(client: Client, cfg: &LeaderConfig, fence: &Fence) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut observed = Observed::default();
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.retry_period).await;
        let started = tokio::time::Instant::now();
        // A renewal that hangs must not outlive the fence: bound it by the time left.
        let left = cfg
            .lease_duration
            .saturating_sub(cfg.guard)
            .saturating_sub(last_renewed.elapsed())
            .max(Duration::from_millis(100));
        let attempt = match tokio::time::timeout(left, try_acquire(&api, cfg, &mut observed)).await
        {
            Ok(r) => r,
            Err(_) => {
                warn!("renewing leadership timed out");
                fence.close();
                return;
            }
        };
        match attempt {
            Ok(Attempt::Held) => {
                debug!("renewed leadership");
                fence.renewed(started, cfg);
                last_renewed = started;
            }
            Ok(Attempt::Taken(holder)) => {
                warn!(%holder, "leadership lost to another replica");
                fence.close();
                return;
            }
            Err(e) => {
                warn!(error = %e, "could not renew leadership");
                if fence.check().is_err() {
                    fence.close();
                    return;
                }
            }
        }
    }
}

/// How often giving the lease up is tried at shutdown before the process ends anyway.
const RELEASE_ATTEMPTS: u32 = 5;

/// Gives the lease up at shutdown, if this replica holds it, so another replica takes over at
/// once instead of after the lease duration. Tried a few times (a conflict with a renewal, an
/// API server briefly away); a failure is logged, never dropped.
pub async fn release(client: Client, cfg: &LeaderConfig) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    for attempt in 1..=RELEASE_ATTEMPTS {
        let result = async {
            let Some(mut lease) = api.get_opt(&cfg.name).await? else {
                return Ok(false);
            };
            let Some(spec) = lease.spec.as_mut() else {
                return Ok(false);
            };
            if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
                return Ok(false);
            }
            spec.holder_identity = None;
            spec.renew_time = None;
            api.replace(&cfg.name, &PostParams::default(), &lease)
                .await
                .map(|_| true)
        }
        .await;
        match result {
            Ok(true) => {
                info!(lease = %cfg.name, "gave up leadership");
                return;
            }
            Ok(false) => return,
            Err(e) if attempt < RELEASE_ATTEMPTS => {
                debug!(error = %e, attempt, "giving up leadership failed; trying again");
                tokio::time::sleep(Duration::from_millis(200) * attempt).await;
            }
            Err(e) => warn!(
                error = %e,
                lease = %cfg.name,
                "could not give up leadership: another replica takes over once the lease expires"
            ),
        }
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
    fn a_renewal_is_a_change_of_the_record_seen_after_the_first_look() {
        let t0 = tokio::time::Instant::now();
        let s = Duration::from_secs;
        let mut seen = Observed::default();
        seen.unchanged_for("rv1", t0);
        assert!(
            !seen.renewed_within(s(10), t0),
            "a first look is no renewal"
        );
        seen.unchanged_for("rv2", t0 + s(3));
        assert!(seen.renewed_within(s(10), t0 + s(5)));
        assert!(!seen.renewed_within(s(2), t0 + s(5)), "not lately");
        seen.unchanged_for("rv2", t0 + s(20));
        assert!(!seen.renewed_within(s(10), t0 + s(20)), "unchanged since");
    }

    #[test]
    fn who_may_hold_the_lease() {
        let s = Duration::from_secs;
        assert_eq!(may_hold(None, "a", s(0)), Ok(()));
        assert_eq!(may_hold(Some(&lease("a", 995, 15)), "a", s(0)), Ok(()));
        assert_eq!(
            may_hold(Some(&lease("b", 995, 15)), "a", s(14)),
            Err("b".to_string())
        );
        assert_eq!(
            may_hold(Some(&lease("b", 995, 15)), "a", s(15)),
            Ok(()),
            "unrenewed for the whole lease duration"
        );
        assert_eq!(
            may_hold(Some(&lease("", 999, 15)), "a", s(0)),
            Ok(()),
            "released"
        );
    }

    #[test]
    fn expiry_is_judged_on_the_candidates_clock_not_the_holders_timestamp() {
        // The holder's clock is an hour behind: its renewTime looks long expired. A candidate
        // that has just seen the record must still wait the whole lease duration.
        let skewed = lease("b", 1_000 - 3_600, 15);
        let t0 = tokio::time::Instant::now();
        let mut seen = Observed::default();
        let for0 = seen.unchanged_for("rv1", t0);
        assert_eq!(may_hold(Some(&skewed), "a", for0), Err("b".to_string()));
        let for14 = seen.unchanged_for("rv1", t0 + Duration::from_secs(14));
        assert_eq!(may_hold(Some(&skewed), "a", for14), Err("b".to_string()));
        // A renewal (new resourceVersion) restarts the candidate's clock.
        let renewed = seen.unchanged_for("rv2", t0 + Duration::from_secs(14));
        assert_eq!(renewed, Duration::ZERO);
        let later = seen.unchanged_for("rv2", t0 + Duration::from_secs(29));
        assert_eq!(may_hold(Some(&skewed), "a", later), Ok(()));
    }

    fn config(lease_s: u64, timeout_s: u64) -> LeaderConfig {
        let (guard, retry_period) =
            LeaderConfig::timing(Duration::from_secs(lease_s), Duration::from_secs(timeout_s))
                .unwrap();
        LeaderConfig {
            namespace: "ns".into(),
            name: "l".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(lease_s),
            retry_period,
            guard,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_fence_closes_a_provider_timeout_before_the_lease_could_pass() {
        let cfg = config(60, 30);
        assert_eq!(cfg.guard, Duration::from_secs(32));
        let fence = Fence::closed();
        assert_eq!(
            fence.check(),
            Err(NotLeader),
            "closed before the first acquisition"
        );
        // The renewal was sent at t0; its answer came 5 s later. The fence counts from t0.
        let t0 = tokio::time::Instant::now();
        tokio::time::advance(Duration::from_secs(5)).await;
        fence.renewed(t0, &cfg);
        assert_eq!(fence.check(), Ok(()));
        tokio::time::advance(Duration::from_secs(22)).await; // t0 + 27 s
        assert_eq!(fence.check(), Ok(()));
        tokio::time::advance(Duration::from_secs(1)).await; // t0 + 28 = 60 - 32
        assert_eq!(
            fence.check(),
            Err(NotLeader),
            "a call started now could outlast the lease"
        );
        fence.renewed(tokio::time::Instant::now(), &cfg);
        assert_eq!(fence.check(), Ok(()));
        fence.close();
        assert_eq!(fence.check(), Err(NotLeader));
        assert_eq!(
            Fence::open().check(),
            Ok(()),
            "no leader election: always open"
        );
    }

    #[test]
    fn the_lease_must_outlast_a_provider_call() {
        let err =
            LeaderConfig::timing(Duration::from_secs(15), Duration::from_secs(30)).unwrap_err();
        assert!(err.contains("--lease-duration (15s)"), "{err}");
        let (guard, retry) =
            LeaderConfig::timing(Duration::from_secs(60), Duration::from_secs(30)).unwrap();
        assert_eq!(guard, Duration::from_secs(32));
        // Renewed at least twice in the 28 s window after each renewal.
        assert_eq!(retry, Duration::from_secs(14));
        let (_, retry) =
            LeaderConfig::timing(Duration::from_secs(6), Duration::from_secs(1)).unwrap();
        assert_eq!(retry, Duration::from_millis(1500));
    }
}
