//! Crash recovery: interrupted password generations and proxy removals, resolved by a read.

use super::*;

// ---------------------------------------------------------------------------------------------
// 12: crash recovery
// ---------------------------------------------------------------------------------------------

/// A resource whose generated password was last rotated for `t0`, asked to rotate for `t1`,
/// with the `t1` generation interrupted before its outcome was recorded.
fn interrupted_rotation() -> (Res, SecretData) {
    let (res, data) = applied(base_spec());
    let res = res
        .edit(|s| s.password = generate())
        .annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let mut status = res.status.clone();
    status.password_origin = Some(PasswordOrigin::Generated);
    status.password_rotation = Some("t0".into());
    status.pending_request = Some(PendingRequest {
        hash: request_hash(
            &request(|r| r.gen_password = Some(true)),
            &res.inputs(),
            &observed(),
        ),
        gen_password: true,
        remove_proxies: vec![],
        previous_password_fingerprint: Some(fp(PASSWORD)),
        rotation: Some("t1".into()),
        // Long enough ago that the provider can no longer be carrying it out.
        started_at: at(-61),
        read_not_before: None,
    });
    (res.with_status(status), data)
}

#[test]
fn an_interrupted_request_is_resolved_by_a_read() {
    let (res, data) = interrupted_rotation();
    for (empty_change_read, body) in [(true, json!({})), (false, json!({"port": 8000}))] {
        let obs = Observed {
            empty_change_read,
            ..with_secret(&data)
        };
        let call = expect_call(res.plan(&obs));
        // A read carries no intent to record and no applied hash: `CallKind::Read` has none.
        assert_eq!(call.kind, CallKind::Read);
        assert_eq!(serde_json::to_value(&call.request).unwrap(), body);
        assert_eq!(call.pending(), None);
    }
}

#[test]
fn an_intent_left_by_a_dead_process_is_read_only_after_the_answer_grace() {
    // Only the intent was recorded (no readNotBefore): the process died during the call. A
    // new process must not read before started_at + 2 x timeout + 1 s, or it could read the
    // old password while the provider is still generating and then generate a second time.
    let (res, data) = interrupted_rotation();
    let mut status = res.status.clone();
    let pending = status.pending_request.as_mut().unwrap();
    pending.started_at = at(-10);
    assert_eq!(pending.read_not_before, None);
    let res = res.with_status(status);
    for now in [0, 30, 50] {
        let obs = Observed {
            now: at(now),
            ..with_secret(&data)
        };
        let s = expect_settle(res.plan(&obs));
        assert_eq!(
            s.requeue,
            Requeue::NotBefore(Duration::from_secs((51 - now) as u64)),
            "at {now}s"
        );
        assert_eq!(s.status.pending_request, res.status.pending_request);
        assert_eq!(s.secret, None);
        // Status does not claim the spec applied or the Secret current meanwhile.
        assert_cond(&s.status, SYNCED, "False", "Progressing");
        assert_cond(&s.status, READY, "False", "Progressing");
        assert!(
            cond(&s.status, SYNCED)
                .message
                .contains("password generation"),
            "{:?}",
            cond(&s.status, SYNCED)
        );
    }
    let obs = Observed {
        now: at(51),
        ..with_secret(&data)
    };
    assert_eq!(expect_call(res.plan(&obs)).kind, CallKind::Read);

    // A recorded readNotBefore later than that still wins.
    let mut status = res.status.clone();
    status.pending_request.as_mut().unwrap().read_not_before = Some(at(90));
    let res = res.with_status(status);
    assert!(matches!(res.plan(&obs), Plan::Settle(_)));
}

#[test]
fn a_read_after_a_generation_that_happened_records_it() {
    let (res, data) = interrupted_rotation();
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let s = res.after(&obs, &call, Ok(&with_password(active_order(), "gen-new")));
    assert_eq!(s.status.pending_request, None);
    assert_eq!(s.status.password_origin, Some(PasswordOrigin::Generated));
    assert_eq!(s.status.password_rotation.as_deref(), Some("t1"));
    assert_eq!(s.status.password_fingerprint, Some(fp("gen-new")));
    assert_eq!(s.requeue, Requeue::Soon);
    assert_eq!(s.status.last_applied_hash, res.status.last_applied_hash);
    let data = s.secret.expect("the new password is published");
    assert_eq!(data.0["password"], "gen-new");

    // And the rotation is not repeated.
    let res = res.with_status(s.status);
    let s = expect_settle(res.plan(&with_secret(&data)));
    assert_eq!(s.secret, None);
}

#[test]
fn a_rotated_api_key_does_not_make_a_lost_generation_look_done() {
    // The t1 generation was interrupted; meanwhile the API-key Secret was rotated (same
    // account, new key). The read shows the old password: the generation did not happen, and
    // must not be recorded as done just because the key changed.
    let (res, data) = interrupted_rotation();
    let obs = Observed {
        api_key: Ok("sha256:rotated-key".into()),
        ..with_secret(&data)
    };
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.kind, CallKind::Read);
    let s = res.after(&obs, &call, Ok(&active_order()));
    assert_eq!(
        s.status.password_rotation.as_deref(),
        Some("t0"),
        "not done"
    );
    assert_eq!(
        s.status.password_fingerprint,
        Some(fp(PASSWORD)),
        "same password, same fingerprint under the Secret's salt"
    );
    let res = res.with_status(s.status);
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(expect_apply(&call).rotation.as_deref(), Some("t1"));
}

#[test]
fn without_the_secrets_salt_a_generation_cannot_be_confirmed() {
    // The Secret (and with it the salt the earlier fingerprint was made with) is gone: the
    // read cannot tell, so the generation is asked for again (the documented worst case)
    // rather than assumed.
    let (res, _) = interrupted_rotation();
    let obs = Observed {
        api_key: Ok("sha256:rotated-key".into()),
        ..observed()
    };
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.kind, CallKind::Read);
    let s = res.after(&obs, &call, Ok(&with_password(active_order(), "other")));
    assert_eq!(s.status.password_rotation.as_deref(), Some("t0"));
}

#[test]
fn the_fingerprint_salt_comes_from_the_secret_and_is_never_in_status() {
    let (res, data) = applied(base_spec());
    let fresh = crate::controller::plan::fingerprint_salt(&observed());
    assert_eq!(fresh, salt(), "the operator's own before there is a Secret");
    let kept = Observed {
        api_key: Ok("sha256:rotated-key".into()),
        fingerprint_salt: Some("salt-from-secret".into()),
        ..with_secret(&data)
    };
    assert_eq!(
        crate::controller::plan::fingerprint_salt(&kept),
        "salt-from-secret"
    );
    let status = serde_json::to_string(&res.status).unwrap();
    assert!(!status.contains(&salt()), "{status}");
}

#[test]
fn a_read_after_a_generation_that_never_happened_generates_again() {
    let (res, data) = interrupted_rotation();
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let s = res.after(&obs, &call, Ok(&active_order()));
    assert_eq!(s.status.pending_request, None);
    assert_eq!(s.status.password_origin, Some(PasswordOrigin::Generated));
    assert_eq!(s.status.password_rotation.as_deref(), Some("t0"));
    assert_eq!(s.secret, None, "the Secret already holds that password");

    let res = res.with_status(s.status);
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
    assert_eq!(expect_apply(&call).rotation.as_deref(), Some("t1"));
}

#[test]
fn a_read_cannot_confirm_a_generation_when_the_old_password_was_unknown() {
    // First reconcile with generate: true, interrupted. The password before it is unknown.
    let mut spec = base_spec();
    spec.password = generate();
    let res = Res::new(spec);
    let obs = Observed {
        empty_change_read: true,
        ..observed()
    };
    let call = expect_call(res.plan(&obs));
    let pending = expect_apply(&call).pending.clone().unwrap();
    assert_eq!(pending.previous_password_fingerprint, None);
    let s = res.after(&obs, &call, Err(&ProviderError::Transport("reset".into())));
    assert_eq!(
        s.status.pending_request,
        Some(PendingRequest {
            read_not_before: Some(at(61)),
            ..pending
        })
    );
    let res = res.with_status(s.status);

    // Read back once the provider can no longer be carrying the lost request out.
    let obs = Observed { now: at(61), ..obs };
    let read = expect_call(res.plan(&obs));
    assert_eq!(read.kind, CallKind::Read);
    // The read shows the order's password; whether it is a generated one cannot be told, so
    // the generation is asked for again (at worst one extra rotation) rather than assumed.
    let s = res.after(&obs, &read, Ok(&active_order()));
    assert_eq!(s.status.pending_request, None);
    assert_ne!(s.status.password_origin, Some(PasswordOrigin::Generated));
    let res = res.with_status(s.status);
    let obs = Observed {
        secret: OwnedSecret::Present(s.secret.unwrap()),
        ..obs
    };
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.gen_password = Some(true)));
}

#[test]
fn a_failed_recovery_read_keeps_the_intent() {
    let (res, data) = interrupted_rotation();
    let obs = with_secret(&data);
    let read = expect_call(res.plan(&obs));
    assert_eq!(read.kind, CallKind::Read);
    for error in [
        http_error(503, None, ""),
        http_error(401, None, ""),
        ProviderError::Transport("reset".into()),
    ] {
        let s = res.after(&obs, &read, Err(&error));
        assert_eq!(
            s.status.pending_request, res.status.pending_request,
            "{error}: the interrupted request is still unresolved"
        );
        // So the next reconcile reads again instead of generating again.
        let next = res.clone().with_status(s.status);
        assert_eq!(expect_call(next.plan(&obs)).kind, CallKind::Read, "{error}");
    }
}

#[test]
fn an_interrupted_request_without_a_way_to_read_is_repeated() {
    // Nothing known about access, no empty reads: the intent is dropped and the plan repeats
    // what is still missing.
    let mut spec = base_spec();
    spec.password = generate();
    let res = Res::new(spec);
    let status = ProxyOrderStatus {
        pending_request: Some(PendingRequest {
            hash: "sha256:x".into(),
            gen_password: true,
            remove_proxies: vec![],
            previous_password_fingerprint: None,
            rotation: None,
            started_at: at(-61),
            read_not_before: None,
        }),
        ..Default::default()
    };
    let res = res.with_status(status);
    let call = expect_call(res.plan(&observed()));
    expect_apply(&call);
    assert_eq!(call.request.gen_password, Some(true));
    assert_eq!(call.request.port, Some(8000));
}

#[test]
fn an_interrupted_proxy_removal_is_read_not_repeated() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| {
        s.quantity = Some(3);
        s.remove_proxies = Some(vec![PROXY_B.into()]);
    });
    let obs = Observed {
        listed: Some(Ok(Some(listed(expired_order())))),
        ..with_secret(&data)
    };
    let call = expect_call(res.plan(&obs));
    let mut recorded = res.status.clone();
    recorded.pending_request = expect_apply(&call).pending.clone();
    assert!(recorded.pending_request.is_some());
    let res = res.with_status(recorded);

    // The process died with the call in flight: the outcome is read only once the provider can
    // no longer be carrying it out (two timeouts and a second after it started).
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.requeue, Requeue::NotBefore(Duration::from_secs(61)));
    let obs = Observed { now: at(61), ..obs };
    let read = expect_call(res.plan(&obs));
    assert_eq!(read.kind, CallKind::Read);
    assert_eq!(read.request, request(|r| r.port = Some(8000)));

    // The removal had happened: the order has 3 proxies, PROXY_B gone.
    let mut done = with_quantity(expired_order(), 3);
    done.proxies = Some(vec![
        Proxy { ip: PROXY_A.into() },
        Proxy {
            ip: "10.0.0.3".into(),
        },
        Proxy {
            ip: "10.0.0.4".into(),
        },
    ]);
    let s = res.after(&obs, &read, Ok(&done));
    assert_eq!(s.status.pending_request, None);
    assert_eq!(
        s.status.proxies,
        Some(vec![PROXY_A.into(), "10.0.0.3".into(), "10.0.0.4".into()])
    );
    let res = res.with_status(s.status);
    let obs = Observed {
        listed: Some(Ok(Some(listed(done)))),
        secret: OwnedSecret::Present(s.secret.unwrap()),
        ..obs
    };
    let s = expect_settle(res.plan(&obs));
    assert_cond(&s.status, SYNCED, "True", "Applied");
}
