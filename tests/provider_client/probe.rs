//! The credentials probe (`proxy_order_operator::probe`) through the simulator's proxy
//! listeners: the credentials the change endpoint returns verify, and a password changed
//! behind the operator's back is rejected.

use std::{net::SocketAddr, time::Duration};

use proxy_order_operator::{
    probe::{ProbeAuth, ProbeOutcome, probe},
    provider::{ChangeRequest, IpAuth, QueryOptions},
};
use proxy_solutions_sim::Simulator;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::support::{ACTIVE, client_for, key, sim_with_proxies};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A target that accepts connections (and does nothing with them).
async fn target() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr.to_string()
}

/// The order's first proxy and its credentials, as the change endpoint returns them.
async fn read_order(sim: &Simulator, change: ChangeRequest) -> (SocketAddr, ProbeAuth) {
    let order = client_for(sim)
        .change_order(&key(), ACTIVE, &change, QueryOptions::default())
        .await
        .unwrap()
        .order;
    let access = order.access.expect("access");
    let ip = &order.proxies.expect("proxies")[0].ip;
    let proxy = SocketAddr::new(ip.parse().unwrap(), access.port);
    let auth = ProbeAuth::Basic {
        login: access.login,
        password: access.password,
    };
    (proxy, auth)
}

#[tokio::test]
async fn fresh_credentials_verify_and_a_password_changed_behind_the_operators_back_is_rejected() {
    let sim = sim_with_proxies().await;
    let target = target().await;
    let (proxy, published) = read_order(&sim, ChangeRequest::default()).await;
    assert!(proxy.ip().is_loopback(), "{proxy}");

    let outcome = probe(proxy, &target, published.clone(), TIMEOUT).await;
    assert_eq!(outcome, ProbeOutcome::Verified);

    // Someone changes the password on the provider's side; the published one is now stale.
    let mut changed = sim.order(ACTIVE).unwrap();
    changed.access.as_mut().unwrap().password = SecretString::from("changed-Elsewhere-1");
    sim.put_order(changed).await.unwrap();

    let outcome = probe(proxy, &target, published.clone(), TIMEOUT).await;
    assert_eq!(outcome, ProbeOutcome::Rejected);
    assert!(outcome.to_string().contains("407"), "{outcome}");

    // A re-read gets the live password, which verifies.
    let (_, reread) = read_order(&sim, ChangeRequest::default()).await;
    let ProbeAuth::Basic { password, .. } = &reread else {
        unreachable!()
    };
    assert_eq!(password.expose_secret(), "changed-Elsewhere-1");
    assert_eq!(
        probe(proxy, &target, reread, TIMEOUT).await,
        ProbeOutcome::Verified
    );

    let counts = sim.proxy_connects(ACTIVE).unwrap();
    assert_eq!(
        (counts.attempts, counts.established, counts.rejected),
        (3, 2, 1)
    );
}

#[tokio::test]
async fn the_allow_list_verifies_and_other_outcomes_say_nothing_about_credentials() {
    let sim = sim_with_proxies().await;
    let target = target().await;
    let (proxy, _) = read_order(&sim, ChangeRequest::default()).await;
    assert_eq!(
        probe(proxy, &target, ProbeAuth::AllowList, TIMEOUT).await,
        ProbeOutcome::Rejected
    );
    let (proxy, published) = read_order(
        &sim,
        ChangeRequest {
            ip_auth: Some(IpAuth::List(vec!["127.0.0.1".into()])),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        probe(proxy, &target, ProbeAuth::AllowList, TIMEOUT).await,
        ProbeOutcome::Verified
    );

    // The proxy takes the credentials but cannot reach a closed port: not a verdict on them.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let outcome = probe(proxy, &closed.to_string(), published.clone(), TIMEOUT).await;
    assert_eq!(outcome, ProbeOutcome::TargetUnreachable { status: 502 });
    assert!(!outcome.is_conclusive());

    // A port change: the old address no longer answers at all.
    let (moved, _) = read_order(
        &sim,
        ChangeRequest {
            port: Some(proxy.port() + 1),
            ..Default::default()
        },
    )
    .await;
    let outcome = probe(proxy, &target, published.clone(), TIMEOUT).await;
    assert!(
        matches!(outcome, ProbeOutcome::Unreachable(_)),
        "{outcome:?}"
    );
    assert_eq!(
        probe(moved, &target, published, TIMEOUT).await,
        ProbeOutcome::Verified
    );
}
