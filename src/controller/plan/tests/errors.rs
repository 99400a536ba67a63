//! Provider errors: the conditions and requeue they lead to, and lost answers.

use super::*;

// ---------------------------------------------------------------------------------------------
// 8: provider errors
// ---------------------------------------------------------------------------------------------

#[test]
fn provider_errors_set_conditions_and_requeue() {
    struct Case {
        name: &'static str,
        error: ProviderError,
        reason: &'static str,
        message: &'static str,
        requeue: Requeue,
    }
    let table = [
        Case {
            name: "401",
            error: http_error(401, None, ""),
            reason: "Unauthorized",
            message: "401",
            requeue: Requeue::Terminal,
        },
        Case {
            name: "404",
            error: http_error(404, None, ""),
            reason: "OrderNotFound",
            message: "404",
            requeue: Requeue::Terminal,
        },
        Case {
            name: "422",
            error: http_error(422, None, r#"{"message":"Only auth data can be changed"}"#),
            reason: "ProviderRejected",
            message: "Only auth data can be changed",
            requeue: Requeue::Terminal,
        },
        Case {
            name: "503",
            error: http_error(503, Some(7), ""),
            reason: "ProviderUnavailable",
            message: "503",
            requeue: Requeue::Backoff {
                retry_after: Some(Duration::from_secs(7)),
            },
        },
        Case {
            name: "429",
            error: http_error(429, Some(30), ""),
            reason: "ProviderUnavailable",
            message: "429",
            requeue: Requeue::Backoff {
                retry_after: Some(Duration::from_secs(30)),
            },
        },
        Case {
            name: "timeout",
            error: ProviderError::Timeout(Duration::from_secs(10)),
            reason: "ProviderUnavailable",
            message: "did not answer",
            requeue: Requeue::Backoff { retry_after: None },
        },
    ];
    let res = Res::new(base_spec());
    let obs = observed();
    let call = expect_call(res.plan(&obs));
    for c in table {
        let s = res.after(&obs, &call, Err(&c.error));
        assert_eq!(s.secret, None, "{}", c.name);
        assert_eq!(s.requeue, c.requeue, "{}", c.name);
        assert_cond(&s.status, READY, "False", c.reason);
        assert_cond(&s.status, SYNCED, "False", c.reason);
        let msg = &cond(&s.status, SYNCED).message;
        assert!(msg.contains(c.message), "{}: {msg}", c.name);
        assert_eq!(s.status.last_applied_hash, None, "{}", c.name);
        assert_eq!(s.status.access, None, "{}", c.name);
    }
}

#[test]
fn transient_errors_keep_a_ready_resource_ready_terminal_ones_do_not() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.port = Some(8001));
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));

    // A 503 on the change call: the provider may have acted on it, so the Secret may be
    // stale and the resource is not Ready.
    let s = res.after(&obs, &call, Err(&http_error(503, None, "")));
    assert_cond(&s.status, READY, "False", "ProviderUnavailable");
    assert_cond(&s.status, SYNCED, "False", "ProviderUnavailable");

    // A 503 on the order list changes nothing at the provider: the Secret, still current,
    // keeps the resource Ready.
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Err(http_error(503, None, ""))),
        ..with_secret(&data)
    }));
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "ProviderUnavailable");
    assert_eq!(
        cond(&s.status, READY).last_transition_time,
        cond(&res.status, READY).last_transition_time
    );
    // Without the Secret it is not.
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Err(http_error(503, None, ""))),
        ..observed()
    }));
    assert_cond(&s.status, READY, "False", "ProviderUnavailable");
    let s = res.after(&obs, &call, Err(&http_error(503, None, "")));
    // What was last applied is still what was last applied.
    assert_eq!(s.status.last_applied_hash, res.status.last_applied_hash);
    assert_eq!(s.status.access, res.status.access);

    let s = res.after(&obs, &call, Err(&http_error(401, None, "")));
    assert_cond(&s.status, READY, "False", "Unauthorized");
    assert_cond(&s.status, SYNCED, "False", "Unauthorized");
    assert_eq!(s.requeue, Requeue::Terminal);
}

#[test]
fn a_lost_answer_keeps_the_pending_intent_an_http_answer_clears_it() {
    let (res, data) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let pending = expect_apply(&call)
        .pending
        .clone()
        .expect("gen_password is recorded");
    // The reconciler records the intent before calling.
    let mut recorded = res.status.clone();
    recorded.pending_request = Some(pending.clone());
    let res = res.with_status(recorded);

    let table = [
        (ProviderError::Transport("connection reset".into()), true),
        (ProviderError::Timeout(Duration::from_secs(10)), true),
        // A gateway may answer 5xx after the provider acted: the intent stays.
        (http_error(503, None, ""), true),
        (http_error(422, None, r#"{"message":"no"}"#), false),
    ];
    // A kept intent is not read back while the provider could still be carrying the request
    // out: two request timeouts (`answer_grace`, 30 s here) and a second after `now`, which
    // is from before the call.
    let lost = PendingRequest {
        read_not_before: Some(at(61)),
        ..pending.clone()
    };
    for (error, kept) in table {
        let s = res.after(&obs, &call, Err(&error));
        let want = if kept { Some(lost.clone()) } else { None };
        assert_eq!(s.status.pending_request, want, "{error}");
        assert_eq!(s.status.password_rotation, None, "{error}");
    }

    // Even when the intent was not yet in the status the reconciler passed, a lost answer
    // records it.
    let (res, _) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let s = res.after(&obs, &call, Err(&ProviderError::Transport("reset".into())));
    assert_eq!(s.status.pending_request, Some(lost));
}

#[test]
fn a_lost_answer_is_read_back_only_after_the_grace() {
    let (res, data) = applied(base_spec());
    let res = res.annotate(ROTATE_PASSWORD_ANNOTATION, "t1");
    let obs = with_secret(&data);
    let call = expect_call(res.plan(&obs));
    let mut recorded = res.status.clone();
    recorded.pending_request = expect_apply(&call).pending.clone();
    let s = res.with_status(recorded).after(
        &obs,
        &call,
        Err(&ProviderError::Timeout(Duration::from_secs(30))),
    );
    let res = Res::new(base_spec())
        .annotate(ROTATE_PASSWORD_ANNOTATION, "t1")
        .with_status(s.status);

    // 10 s later: no call, wait the remaining 51 s.
    let early = Observed {
        now: at(10),
        ..with_secret(&data)
    };
    match res.plan(&early) {
        Plan::Settle(s) => assert_eq!(s.requeue, Requeue::NotBefore(Duration::from_secs(51))),
        Plan::Call(c) => panic!("read before the grace ended: {:?}", c.request),
    }
    // Once it has passed: the read that resolves the intent.
    let late = Observed {
        now: at(61),
        ..with_secret(&data)
    };
    let read = expect_call(res.plan(&late));
    assert_eq!(read.kind, CallKind::Read);
}

#[test]
fn a_success_without_access_is_a_transient_failure() {
    let res = Res::new(base_spec());
    let obs = observed();
    let call = expect_call(res.plan(&obs));
    let s = res.after(&obs, &call, Ok(&listed(active_order())));
    assert_eq!(s.secret, None);
    assert_cond(&s.status, READY, "False", "ProviderUnavailable");
    assert!(matches!(s.requeue, Requeue::Backoff { .. }));
}
