//! Quantity changes: held while the order is active, sent once it expired, read first when
//! the current quantity is unknown.

use super::*;

// ---------------------------------------------------------------------------------------------
// 7: quantity
// ---------------------------------------------------------------------------------------------

#[test]
fn quantity_change_waits_while_the_order_is_active() {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| s.quantity = Some(3));
    let obs = Observed {
        listed: Some(Ok(Some(listed(active_order())))),
        ..with_secret(&data)
    };
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.secret, None);
    assert_eq!(s.requeue, Requeue::Refresh);
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "WaitingForExpiry");
    let msg = &cond(&s.status, SYNCED).message;
    assert!(
        msg.contains("from 2 to 3") && msg.contains("active"),
        "{msg}"
    );

    // The order status known from status works the same without a list.
    let s = expect_settle(res.plan(&with_secret(&data)));
    assert_cond(&s.status, SYNCED, "False", "WaitingForExpiry");

    // Other changes still go through, without the quantity.
    let res = res.edit(|s| s.port = Some(8001));
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.port = Some(8001)));
    let held = expect_apply(&call).held.as_deref().unwrap();
    assert!(held.contains("from 2 to 3"), "{held}");
    let s = res.after(&obs, &call, Ok(&with_port(active_order(), 8001)));
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "WaitingForExpiry");
}

#[test]
fn quantity_change_on_an_expired_order() {
    let (res, data) = applied(base_spec());
    let some_ips = |ips: &[&str]| Some(ips.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    struct Case {
        name: &'static str,
        order: Order,
        remove: Option<Vec<String>>,
        want: ChangeRequest,
    }
    let table = [
        Case {
            name: "city, removals filtered to the order's proxies",
            order: expired_order(),
            remove: some_ips(&["203.0.113.9", PROXY_B]),
            want: request(|r| {
                r.quantity = Some(3);
                r.remove_proxies = some_ips(&[PROXY_B]);
            }),
        },
        Case {
            name: "city, no removals",
            order: expired_order(),
            remove: None,
            want: request(|r| r.quantity = Some(3)),
        },
        Case {
            name: "city, no removal in the order",
            order: expired_order(),
            remove: some_ips(&["203.0.113.9"]),
            want: request(|r| r.quantity = Some(3)),
        },
        Case {
            name: "mobile: quantity only",
            order: mobile_order(),
            remove: some_ips(&[PROXY_A]),
            want: request(|r| r.quantity = Some(3)),
        },
    ];
    for c in table {
        let res = res.clone().edit(|s| {
            s.quantity = Some(3);
            s.remove_proxies = c.remove.clone();
        });
        let obs = Observed {
            listed: Some(Ok(Some(listed(c.order.clone())))),
            ..with_secret(&data)
        };
        let call = expect_call(res.plan(&obs));
        let CallKind::Apply(apply) = &call.kind else {
            panic!(
                "{}: expected a call that carries out the spec, got {call:#?}",
                c.name
            );
        };
        assert_eq!(call.request, c.want, "{}", c.name);
        assert_eq!(apply.held, None, "{}", c.name);
        match &c.want.remove_proxies {
            Some(removed) => assert_eq!(
                apply.pending,
                Some(PendingRequest {
                    hash: request_hash(&call.request, &res.inputs(), &obs),
                    gen_password: false,
                    remove_proxies: removed.clone(),
                    previous_password_fingerprint: Some(fp(PASSWORD)),
                    rotation: None,
                    started_at: now(),
                    read_not_before: None,
                }),
                "{}",
                c.name
            ),
            None => assert_eq!(apply.pending, None, "{}", c.name),
        }
    }
}

#[test]
fn quantity_uses_the_known_order_when_the_list_was_not_fetched() {
    // A mobile order, last seen expired: quantity only, judged from status.order.
    let res = Res::new(base_spec());
    let (_, s) = call_ok(&res, &observed(), &mobile_order());
    let data = s.secret.unwrap();
    let res = res.with_status(s.status).edit(|s| {
        s.quantity = Some(5);
        s.remove_proxies = Some(vec![PROXY_A.into()]);
    });
    let call = expect_call(res.plan(&with_secret(&data)));
    assert_eq!(call.request, request(|r| r.quantity = Some(5)));

    // Reaching the quantity settles as Synced.
    let s = res.after(
        &with_secret(&data),
        &call,
        Ok(&with_quantity(mobile_order(), 5)),
    );
    assert_cond(&s.status, SYNCED, "True", "Applied");
    let res = res.with_status(s.status);
    expect_settle(res.plan(&with_secret(&data)));
}

#[test]
fn quantity_with_nothing_known_reads_first() {
    let mut spec = base_spec();
    spec.quantity = Some(3);
    spec.port = None;
    spec.login = None;
    spec.ip_auth = None;
    let res = Res::new(spec);
    // Without a way to read, the credentials stay unknown.
    let s = expect_settle(res.plan(&observed()));
    assert_cond(&s.status, READY, "False", "CredentialsUnknown");
    let call = expect_call(res.plan(&Observed {
        empty_change_read: true,
        ..observed()
    }));
    assert_eq!(call.kind, CallKind::Read);
    assert!(call.request.is_empty());
}
