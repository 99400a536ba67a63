//! `managementPolicy: Observe`: credentials published, no change ever planned.

use super::*;
use proxy_order_api::ManagementPolicy;

fn observing(spec: ProxyOrderSpec) -> Res {
    Res::new(ProxyOrderSpec {
        management_policy: Some(ManagementPolicy::Observe),
        ..spec
    })
}

/// The spec asks for another port, login and allow-list than the provider has.
fn differing_spec() -> ProxyOrderSpec {
    ProxyOrderSpec {
        port: Some(9100),
        login: Some("someone-else".into()),
        ..base_spec()
    }
}

#[test]
fn an_order_list_with_credentials_is_published_without_a_call() {
    let res = observing(differing_spec());
    let obs = Observed {
        listed: Some(Ok(Some(active_order()))),
        ..observed()
    };
    let s = expect_settle(res.plan(&obs));
    let data = s.secret.expect("the credentials are published");
    assert_eq!(data.0[credentials::KEY_PORT], "8000", "the provider's port");
    assert_eq!(data.0[credentials::KEY_PASSWORD], PASSWORD);
    assert_eq!(s.requeue, Requeue::Refresh);
    assert_cond(&s.status, READY, "True", "Observed");
    assert_cond(&s.status, SYNCED, "False", "ObserveOnly");
    let msg = &cond(&s.status, SYNCED).message;
    assert!(
        msg.contains("port, login") && !msg.contains("ipAuth"),
        "{msg}"
    );
    assert!(!format!("{:?}", s.status).contains(PASSWORD));

    // Once published, the next refresh writes nothing and still calls nothing.
    let res = res.with_status(s.status);
    let again = expect_settle(res.plan(&Observed {
        listed: Some(Ok(Some(active_order()))),
        ..with_secret(&data)
    }));
    assert_eq!(again.secret, None);
    assert_cond(&again.status, SYNCED, "False", "ObserveOnly");
}

#[test]
fn a_spec_matching_the_provider_is_synced() {
    let res = observing(base_spec());
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Ok(Some(active_order()))),
        ..observed()
    }));
    assert_cond(&s.status, READY, "True", "Observed");
    assert_cond(&s.status, SYNCED, "True", "Observed");
}

#[test]
fn without_credentials_in_the_list_only_an_empty_body_reads_them() {
    let res = observing(differing_spec());
    let obs = Observed {
        listed: Some(Ok(Some(listed(active_order())))),
        empty_change_read: true,
        ..observed()
    };
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.kind, CallKind::Read);
    assert_eq!(call.request, ChangeRequest::default(), "changes nothing");
    let s = res.after(&obs, &call, Ok(&active_order()));
    let data = s
        .secret
        .clone()
        .expect("the read's credentials are published");
    assert_eq!(data.0[credentials::KEY_PORT], "8000");

    // The next reconcile settles on what was read, without another call.
    let res = res.with_status(s.status);
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Ok(Some(listed(active_order())))),
        empty_change_read: true,
        ..with_secret(&data)
    }));
    assert_eq!(s.secret, None);
    assert_cond(&s.status, READY, "True", "Observed");
    assert_cond(&s.status, SYNCED, "False", "ObserveOnly");

    // With empty reads off, nothing is sent (re-sending the port could change it back).
    let res = observing(differing_spec());
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Ok(Some(listed(active_order())))),
        ..observed()
    }));
    assert_cond(&s.status, READY, "False", "CredentialsUnknown");
    assert!(
        cond(&s.status, READY)
            .message
            .contains("--empty-change-read")
    );
}

#[test]
fn passwords_rotations_and_quantities_are_not_sent_while_observing() {
    let (res, data) = applied(base_spec());
    let res = res
        .edit(|s| {
            s.management_policy = Some(ManagementPolicy::Observe);
            s.password = generate();
            s.quantity = Some(5);
            s.max_quantity = Some(3);
        })
        .annotate(ROTATE_PASSWORD_ANNOTATION, "now");
    let s = expect_settle(res.plan(&Observed {
        listed: Some(Ok(Some(listed(expired_order())))),
        ..with_secret(&data)
    }));
    assert!(s.status.planned_changes.is_empty(), "nothing is planned");
    let msg = &cond(&s.status, SYNCED).message;
    assert!(msg.contains("password, quantity"), "{msg}");
}

#[test]
fn an_interrupted_request_is_not_repeated_while_observing() {
    let (res, data) = applied(base_spec());
    let mut status = res.status.clone();
    status.pending_request = Some(PendingRequest {
        hash: "sha256:req".into(),
        gen_password: true,
        remove_proxies: vec![],
        previous_password_fingerprint: None,
        rotation: None,
        started_at: at(-3600),
        read_not_before: None,
    });
    let res = res
        .with_status(status)
        .edit(|s| s.management_policy = Some(ManagementPolicy::Observe));
    // Without empty reads, the only read would re-send the port: nothing is sent.
    let s = expect_settle(res.plan(&with_secret(&data)));
    assert_eq!(s.status.pending_request, None);
    // With them, the outcome is read with an empty body.
    let call = expect_call(res.plan(&Observed {
        empty_change_read: true,
        ..with_secret(&data)
    }));
    assert_eq!(
        (call.kind, call.request),
        (CallKind::Read, ChangeRequest::default())
    );
}

#[test]
fn switching_to_manage_applies_the_difference_in_one_call() {
    let res = observing(differing_spec());
    let obs = Observed {
        listed: Some(Ok(Some(active_order()))),
        ..observed()
    };
    let s = expect_settle(res.plan(&obs));
    let data = s.secret.clone().unwrap();
    let res = res
        .with_status(s.status)
        .edit(|s| s.management_policy = Some(ManagementPolicy::Manage));
    let obs = Observed {
        listed: Some(Ok(Some(active_order()))),
        ..with_secret(&data)
    };
    let call = expect_call(res.plan(&obs));
    expect_apply(&call);
    assert_eq!(
        call.request,
        request(|r| {
            r.port = Some(9100);
            r.login = Some("someone-else".into());
        })
    );
    let mut answer = with_port(active_order(), 9100);
    answer.access.as_mut().unwrap().login = "someone-else".into();
    let s = res.after(&obs, &call, Ok(&answer));
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "True", "Applied");
}
