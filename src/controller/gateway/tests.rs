//! The gateway against the in-process provider simulator (a real HTTP server): what reaches the
//! provider, what the metrics count, where the crash points fall and how the rate limit answers.

use std::{sync::Arc, time::Duration};

use parking_lot::Mutex;
use proxy_solutions_sim::{
    SimConfig, Simulator,
    faults::{FaultSpec, FaultTarget},
};

use super::*;
use crate::{
    metrics::RequestLabels,
    provider::{AuthScheme, Lang},
};

const HOUR: Duration = Duration::from_secs(3600);
/// The simulator's active City order (2 proxies) and its expired Individual order (3 proxies),
/// whose quantity can be changed.
const ACTIVE: u64 = 10000;
const EXPIRED: u64 = 10001;

struct Setup {
    sim: Simulator,
    gateway: ProviderGateway,
    metrics: Arc<Metrics>,
    account: Account,
}

async fn setup(rate: f64) -> Setup {
    let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let metrics = Arc::new(Metrics::default());
    let config = ProviderConfig {
        base_url: sim.base_url(),
        ..ProviderConfig::default()
    };
    let gateway = ProviderGateway::new(config, rate, metrics.clone()).unwrap();
    let key = ApiKey::new(proxy_solutions_sim::DEFAULT_API_KEY);
    let account = Account::new(gateway.default_target().clone(), "fp", key);
    Setup {
        sim,
        gateway,
        metrics,
        account,
    }
}

/// Requests of this method the simulator received.
fn received(sim: &Simulator, method: &str) -> usize {
    sim.requests().iter().filter(|r| r.method == method).count()
}

/// What the metrics counted for this endpoint and status code.
fn counted(metrics: &Metrics, endpoint: &str, code: u16) -> u64 {
    metrics
        .provider_requests
        .get_or_create(&RequestLabels {
            endpoint: endpoint.into(),
            code: code.to_string(),
        })
        .get()
}

fn quantity(n: u32) -> ChangeRequest {
    ChangeRequest {
        quantity: Some(n),
        ..Default::default()
    }
}

#[tokio::test]
async fn lists_are_fetched_once_per_key_and_counted() {
    let s = setup(100.0).await;
    let q = QueryOptions::default();
    for _ in 0..3 {
        let list = s.gateway.list(&s.account, q, HOUR, None).await;
        let list = list.unwrap().unwrap();
        assert_eq!(list.get(EXPIRED).map(|o| o.quantity), Some(3));
    }
    assert_eq!(
        received(&s.sim, "GET"),
        1,
        "one list call for three callers"
    );
    assert_eq!(counted(&s.metrics, "list", 200), 1);
    // Another key (by fingerprint) has a list of its own.
    let other = Account::new(
        s.gateway.default_target().clone(),
        "other-fp",
        s.account.key.clone(),
    );
    assert!(matches!(
        s.gateway.list(&other, q, HOUR, None).await,
        Ok(Ok(_))
    ));
    assert_eq!(received(&s.sim, "GET"), 2);
    assert_eq!(counted(&s.metrics, "list", 200), 2);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn a_change_call_falls_between_its_crash_points_and_updates_the_cached_lists() {
    let s = setup(100.0).await;
    let hits = Arc::new(Mutex::new(Vec::new()));
    let (seen, metrics) = (hits.clone(), s.metrics.clone());
    // Each crash point with the number of change calls counted when it was reached.
    let gateway = s.gateway.with_failpoint_hook(move |point| {
        seen.lock().push((point, counted(&metrics, "change", 200)));
    });
    let q = QueryOptions::default();
    let before = gateway.list(&s.account, q, HOUR, None).await.unwrap();
    assert_eq!(before.unwrap().get(EXPIRED).map(|o| o.quantity), Some(3));
    assert!(hits.lock().is_empty(), "no crash point around a list call");

    let permit = gateway.permit(&s.account).unwrap();
    let resp = permit.change(EXPIRED, &quantity(4), q).await.unwrap();
    assert_eq!(resp.order.quantity, 4);
    assert!(
        resp.order.access.is_some(),
        "a change answers with credentials"
    );
    assert_eq!(
        *hits.lock(),
        [("before-provider-call", 0), ("after-provider-call", 1)]
    );
    assert_eq!(received(&s.sim, "POST"), 1);
    assert_eq!(counted(&s.metrics, "change", 200), 1);

    // The cached list has the new state without asking the provider again, and still no
    // credentials.
    let after = gateway
        .list(&s.account, q, HOUR, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.get(EXPIRED).map(|o| o.quantity), Some(4));
    assert!(after.get(EXPIRED).unwrap().access.is_none());
    assert_eq!(received(&s.sim, "GET"), 1);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_change_is_counted_by_status_and_leaves_the_lists() {
    let s = setup(100.0).await;
    let hits = Arc::new(Mutex::new(Vec::new()));
    let seen = hits.clone();
    let gateway = s
        .gateway
        .with_failpoint_hook(move |point| seen.lock().push(point));
    s.sim.add_fault(FaultSpec {
        endpoint: FaultTarget::Change,
        status: Some(503),
        count: Some(1),
        ..serde_json::from_str("{}").unwrap()
    });
    let q = QueryOptions::default();
    assert!(matches!(
        gateway.list(&s.account, q, HOUR, None).await,
        Ok(Ok(_))
    ));
    let err = gateway
        .permit(&s.account)
        .unwrap()
        .change(EXPIRED, &quantity(4), q)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(counted(&s.metrics, "change", 503), 1);
    assert_eq!(counted(&s.metrics, "change", 200), 0);
    assert_eq!(
        *hits.lock(),
        ["before-provider-call", "after-provider-call"],
        "the crash points fall around failed calls too"
    );
    // The provider refuses a quantity change of an active order: counted with its status.
    let err = gateway
        .permit(&s.account)
        .unwrap()
        .change(ACTIVE, &quantity(4), q)
        .await
        .unwrap_err();
    let status = err.status().expect("the provider answered");
    assert_eq!(counted(&s.metrics, "change", status), 1);
    let list = gateway
        .list(&s.account, q, HOUR, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list.get(EXPIRED).map(|o| o.quantity), Some(3));
    assert_eq!(list.get(ACTIVE).map(|o| o.quantity), Some(2));
    s.sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_bucket_says_when_instead_of_waiting() {
    let s = setup(1.0).await; // bursts of 2
    let started = std::time::Instant::now();
    let q = |lang| QueryOptions {
        lang,
        currency: None,
    };
    // Two different lists (language) of one key: two list calls, the burst.
    assert!(matches!(
        s.gateway.list(&s.account, q(None), HOUR, None).await,
        Ok(Ok(_))
    ));
    assert!(matches!(
        s.gateway
            .list(&s.account, q(Some(Lang::Ru)), HOUR, None)
            .await,
        Ok(Ok(_))
    ));
    // A third list and a change call of the same key find no token.
    match s
        .gateway
        .list(&s.account, q(Some(Lang::Ua)), HOUR, None)
        .await
    {
        Err(Throttled(wait)) => assert!(wait > Duration::from_millis(500), "{wait:?}"),
        other => panic!("expected Throttled, got {other:?}"),
    }
    match s.gateway.permit(&s.account) {
        Err(Throttled(wait)) => assert!(wait > Duration::from_millis(500), "{wait:?}"),
        Ok(_) => panic!("expected Throttled"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "did not sleep for the token"
    );
    assert_eq!(received(&s.sim, "GET"), 2);
    assert_eq!(received(&s.sim, "POST"), 0, "nothing sent without a token");
    // The same key at a rate of its own (another ProxyProvider) shares the key's bucket,
    // which starts empty at the new rate: no fresh burst. Another key has a bucket of its own.
    let fast = s
        .gateway
        .target(s.gateway.default_target().client.config().clone(), 100.0)
        .unwrap();
    let same_key = Account::new(fast.clone(), "fp", s.account.key.clone());
    assert!(s.gateway.permit(&same_key).is_err());
    let other_key = Account::new(fast, "other-fp", s.account.key.clone());
    assert!(s.gateway.permit(&other_key).is_ok());
    s.sim.shutdown().await;
}

#[test]
fn targets_are_shared_by_equal_settings() {
    let gateway = ProviderGateway::new(
        ProviderConfig {
            base_url: "https://default.example/api".into(),
            ..ProviderConfig::default()
        },
        1.0,
        Arc::default(),
    )
    .unwrap();
    let config = |url: &str| ProviderConfig {
        base_url: url.into(),
        ..ProviderConfig::default()
    };
    let a = gateway
        .target(config("http://a.example/api/"), 2.0)
        .unwrap();
    assert!(Arc::ptr_eq(
        &a,
        &gateway
            .target(config("http://a.example/api/"), 2.0)
            .unwrap()
    ));
    assert!(!Arc::ptr_eq(
        &a,
        &gateway
            .target(config("http://a.example/api/"), 3.0)
            .unwrap()
    ));
    assert_eq!(a.scope, "http://a.example/api");
    assert_eq!(a.rate, 2.0);
    assert_eq!(
        gateway.default_target().scope,
        "https://default.example/api"
    );
    assert!(gateway.target(config("ftp://a.example/"), 2.0).is_err());
}

#[test]
fn lists_are_shared_only_by_keys_sent_the_same_way() {
    let target = |auth| {
        Target::new(
            ProviderConfig {
                base_url: "https://default.example/api".into(),
                auth,
                ..ProviderConfig::default()
            },
            1.0,
        )
        .unwrap()
    };
    let bearer = target(AuthScheme::default());
    let query = target(AuthScheme::Query {
        param: "api_key".into(),
    });
    assert_eq!(
        bearer.cache_key("fp"),
        target(AuthScheme::default()).cache_key("fp")
    );
    assert_ne!(bearer.cache_key("fp"), query.cache_key("fp"));
    assert_ne!(bearer.cache_key("fp"), bearer.cache_key("other-fp"));
}
