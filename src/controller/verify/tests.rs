use super::*;
use crate::controller::conditions::SYNCED;
use proxy_order_api::ProxyOrderStatus;

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
}

fn data(login: &str, password: &str, port: &str) -> SecretData {
    SecretData(
        [
            (KEY_LOGIN, login),
            (KEY_PASSWORD, password),
            (KEY_PORT, port),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    )
}

fn ready_settle(secret: Option<SecretData>) -> Settle {
    let mut status = ProxyOrderStatus {
        proxies: Some(vec!["127.0.0.1".into()]),
        password_fingerprint: Some("sha256:live".into()),
        ..Default::default()
    };
    for t in [READY, SYNCED] {
        conditions::set(
            &mut status.conditions,
            t,
            true,
            Reason::Applied,
            "ok",
            Some(1),
            &now(),
        );
    }
    Settle {
        status,
        secret,
        requeue: Requeue::Refresh,
    }
}

/// Checks credentials `settle` publishes for `uid` before any Secret holds them, where a
/// rejection may have them read again.
async fn check_new(v: &Verifier, uid: &str, settle: &mut Settle) -> Option<ProbeOutcome> {
    v.check(uid, Some(1), &OwnedSecret::Missing, settle, true, &now())
        .await
}

fn verifier(interval: Duration) -> Verifier {
    Verifier::new(ProbeSettings {
        target: "127.0.0.1:9".into(),
        timeout: Duration::from_secs(2),
        interval,
        rate: 1000.0,
    })
}

/// A proxy on loopback answering every CONNECT with `answer`, counting the requests.
async fn proxy(answer: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    (port, count)
}

#[tokio::test]
async fn verified_credentials_are_probed_again_only_when_they_change_or_are_due() {
    let (port, count) = proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
    let v = verifier(Duration::from_secs(3600));
    let pw = data("team-a", "pw-1", &port.to_string());
    let mut s = ready_settle(Some(pw.clone()));
    let out = check_new(&v, "uid", &mut s).await;
    assert_eq!(out, Some(ProbeOutcome::Verified));
    let c = conditions::get(&s.status.conditions, CREDENTIALS_VERIFIED).unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Verified"));
    assert!(!c.message.contains("pw-1"));

    // The same credentials (now in the Secret): not due.
    let mut again = ready_settle(None);
    let present = OwnedSecret::Present(pw);
    assert_eq!(
        v.check("uid", Some(1), &present, &mut again, true, &now())
            .await,
        None
    );
    // New credentials: probed at once.
    let mut changed = ready_settle(Some(data("team-a", "pw-2", &port.to_string())));
    assert!(
        v.check("uid", Some(1), &present, &mut changed, true, &now())
            .await
            .is_some()
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_rejection_marks_the_password_unknown_and_asks_for_a_read_now() {
    let (port, _) = proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
    let v = verifier(Duration::from_secs(3600));
    let mut s = ready_settle(Some(data("team-a", "stale-pw", &port.to_string())));
    let out = check_new(&v, "uid", &mut s).await;
    assert_eq!(out, Some(ProbeOutcome::Rejected));
    for t in [CREDENTIALS_VERIFIED, READY] {
        let c = conditions::get(&s.status.conditions, t).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "CredentialsRejected"),
            "{t}"
        );
        assert!(!c.message.contains("stale-pw"));
    }
    assert_eq!(s.status.password_fingerprint, None);
    assert_eq!(s.requeue, Requeue::Soon);
}

#[tokio::test]
async fn an_unreachable_target_is_unknown_and_changes_nothing_else() {
    let (port, _) = proxy("HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
    let v = verifier(Duration::from_secs(3600));
    let mut s = ready_settle(Some(data("team-a", "pw", &port.to_string())));
    check_new(&v, "uid", &mut s).await;
    let c = conditions::get(&s.status.conditions, CREDENTIALS_VERIFIED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("Unknown", "ProbeTargetUnreachable")
    );
    assert!(conditions::is_true(&s.status.conditions, READY));
    assert_eq!(s.requeue, Requeue::Refresh);
}

#[tokio::test]
async fn nothing_is_probed_before_the_credentials_are_published() {
    let v = verifier(Duration::from_secs(3600));
    let mut s = ready_settle(None);
    s.status.conditions.clear();
    let present = OwnedSecret::Present(data("a", "b", "1"));
    assert_eq!(
        v.check("uid", Some(1), &present, &mut s, true, &now())
            .await,
        None
    );
    assert!(conditions::get(&s.status.conditions, CREDENTIALS_VERIFIED).is_none());
}

#[tokio::test]
async fn the_same_credentials_refused_again_are_not_read_again() {
    let (port, _) = proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
    // Due again at once, to see the second rejection.
    let v = verifier(Duration::ZERO);
    let creds = data("team-a", "pw", &port.to_string());
    let mut first = ready_settle(Some(creds.clone()));
    check_new(&v, "uid", &mut first).await;
    assert_eq!(first.status.password_fingerprint, None, "read again once");
    // The read brought the same credentials, and the proxy still refuses them.
    let mut second = ready_settle(None);
    let out = v
        .check(
            "uid",
            Some(1),
            &OwnedSecret::Present(creds),
            &mut second,
            true,
            &now(),
        )
        .await;
    assert_eq!(out, Some(ProbeOutcome::Rejected));
    let c = conditions::get(&second.status.conditions, CREDENTIALS_VERIFIED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "CredentialsRejected")
    );
    assert!(c.message.contains("not read again"), "{}", c.message);
    assert!(
        second.status.password_fingerprint.is_some(),
        "no second read"
    );
    assert!(conditions::is_true(&second.status.conditions, READY));
    assert_eq!(second.requeue, Requeue::Refresh);
}

#[tokio::test]
async fn a_refused_allow_list_or_an_order_that_cannot_be_read_is_not_read_again() {
    let (port, _) = proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
    let v = verifier(Duration::from_secs(3600));
    // No login and password: an allow-list probe.
    let mut allow = ready_settle(Some(SecretData(
        [(KEY_PORT.to_string(), port.to_string())]
            .into_iter()
            .collect(),
    )));
    check_new(&v, "a", &mut allow).await;
    // An observed order without empty reads.
    let mut observed = ready_settle(Some(data("team-a", "pw", &port.to_string())));
    v.check(
        "b",
        Some(1),
        &OwnedSecret::Missing,
        &mut observed,
        false,
        &now(),
    )
    .await;
    for s in [allow, observed] {
        let c = conditions::get(&s.status.conditions, CREDENTIALS_VERIFIED).unwrap();
        assert_eq!(c.status, "False");
        assert!(s.status.password_fingerprint.is_some());
        assert!(conditions::is_true(&s.status.conditions, READY));
        assert_eq!(s.requeue, Requeue::Refresh);
    }
}

#[tokio::test]
async fn a_probe_that_finds_no_token_comes_back_within_the_span_the_waiting_probes_need() {
    let (port, count) = proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
    // One probe every 2 s, a burst of one.
    let v = Verifier::new(ProbeSettings {
        target: "127.0.0.1:9".into(),
        timeout: Duration::from_secs(2),
        interval: Duration::from_secs(3600),
        rate: 0.5,
    });
    let pw = data("team-a", "pw-1", &port.to_string());
    let mut first = ready_settle(Some(pw.clone()));
    let out = check_new(&v, "a", &mut first).await;
    assert_eq!(out, Some(ProbeOutcome::Verified));
    assert_eq!(first.requeue, Requeue::Refresh);
    let period = Duration::from_secs(2);
    for (uid, waiting) in [("b", 1), ("c", 2)] {
        let mut s = ready_settle(Some(pw.clone()));
        let out = check_new(&v, uid, &mut s).await;
        assert_eq!(out, None, "{uid} was probed without a token");
        assert!(conditions::get(&s.status.conditions, CREDENTIALS_VERIFIED).is_none());
        match s.requeue {
            Requeue::After(d) => assert!(
                d > Duration::ZERO && d <= period + period * waiting,
                "{uid}: back after {d:?}"
            ),
            other => panic!("{uid}: {other:?}"),
        }
    }
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The returns are spread over the time the waiting probes need: three waiting, 6 s.
    let wait = Duration::from_millis(1500);
    assert_eq!(v.throttled("d", wait, 0.0), wait);
    assert_eq!(v.throttled("d", wait, 1.0), wait + 3 * period);
    v.forget("d");
    assert_eq!(v.throttled("e", wait, 1.0), wait + 3 * period);
    // One that has nothing to probe any more (no credentials published) no longer waits.
    let mut nothing = ready_settle(None);
    let out = check_new(&v, "e", &mut nothing).await;
    assert_eq!(out, None);
    assert_eq!(v.throttled("f", wait, 1.0), wait + 3 * period);
    // Never later than the probe interval.
    let slow = Verifier::new(ProbeSettings {
        rate: 0.0001,
        interval: Duration::from_secs(60),
        ..v.settings.clone()
    });
    assert_eq!(
        slow.throttled("a", wait, 1.0),
        wait + Duration::from_secs(60)
    );
}
