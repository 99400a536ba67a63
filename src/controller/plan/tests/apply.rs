//! Sending the managed fields, publishing the credentials, the steady state and a changed
//! field.

use super::*;

// ---------------------------------------------------------------------------------------------
// 1-4: first apply, publish, steady state, a managed field changes
// ---------------------------------------------------------------------------------------------

#[test]
fn first_reconcile_sends_exactly_the_managed_auth_fields() {
    let res = Res::new(base_spec());
    let call = expect_call(res.plan(&observed()));
    let apply = expect_apply(&call);
    assert_eq!(
        call.request,
        request(|r| {
            r.port = Some(8000);
            r.login = Some("team-a".into());
            r.ip_auth = Some(IpAuth::List(vec![CLIENT_IP.into()]));
        })
    );
    assert_eq!(
        serde_json::to_value(&call.request).unwrap(),
        json!({"port": 8000, "login": "team-a", "ip_auth": [CLIENT_IP]})
    );
    assert_eq!(apply.pending, None, "an auth-only change is idempotent");
    assert_eq!(apply.rotation, None);
    assert_eq!(apply.origin, None);
    assert_eq!(apply.held, None);
    assert!(apply.applied_hash.starts_with("sha256:"));
}

#[test]
fn first_success_publishes_credentials_and_mirrors_status_without_the_password() {
    let res = Res::new(base_spec());
    let obs = observed();
    let (call, s) = call_ok(&res, &obs, &active_order());
    let st = &s.status;

    assert_eq!(s.requeue, Requeue::Refresh);
    assert_eq!(st.observed_generation, Some(1));
    let access = st.access.as_ref().unwrap();
    assert_eq!(
        (access.port, access.login.as_str(), access.ip_list.clone()),
        (8000, "team-a", vec![CLIENT_IP.to_string()])
    );
    assert_eq!(st.proxies, Some(vec![PROXY_A.into(), PROXY_B.into()]));
    let order = st.order.as_ref().unwrap();
    assert_eq!(order.status, "active");
    assert_eq!(order.service.as_deref(), Some("City proxies"));
    assert_eq!(order.location.as_deref(), Some("New York, USA"));
    assert_eq!(order.operator.as_deref(), Some("Orange"));
    assert_eq!((order.period, order.quantity), (30, 2));
    assert_eq!(order.amount, "1.81");
    assert_eq!(order.converted_amount.as_deref(), Some("100"));
    assert_eq!(order.currency.as_deref(), Some("USD"));
    assert!(order.auto_continuation && order.resources_allocated);

    assert_eq!(st.password_fingerprint, Some(fp(PASSWORD)));
    assert_eq!(st.password_origin, Some(PasswordOrigin::Provider));
    assert_eq!(
        st.last_applied_hash.as_ref(),
        Some(&expect_apply(&call).applied_hash)
    );
    assert!(st.last_applied_hash.is_some());
    assert_eq!(st.last_sync_time, Some(now()));
    assert_eq!(st.secret_name.as_deref(), Some("web-proxy"));
    assert_eq!(st.pending_request, None);
    assert_cond(st, READY, "True", "Applied");
    assert_cond(st, SYNCED, "True", "Applied");
    assert!(cond(st, READY).message.contains("web-proxy"));
    assert_eq!(cond(st, READY).observed_generation, Some(1));

    let json = serde_json::to_string(st).unwrap();
    assert!(
        !json.contains(PASSWORD),
        "password leaked into status: {json}"
    );

    let data = s.secret.expect("Secret data").0;
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["ips", "login", "password", "port", "proxies.txt", "urls"]
    );
    assert_eq!(data["password"], PASSWORD);
    assert_eq!(data["port"], "8000");
    assert_eq!(data["ips"], format!("{PROXY_A}\n{PROXY_B}\n"));
}

#[test]
fn an_unchanged_resource_costs_no_call_and_no_write() {
    let (res, data) = applied(base_spec());
    let later = |obs: Observed| Observed {
        now: at(3600),
        ..obs
    };
    let table = [
        ("not fetched", later(with_secret(&data))),
        (
            "listed and unchanged",
            Observed {
                listed: Some(Ok(Some(listed(active_order())))),
                ..later(with_secret(&data))
            },
        ),
    ];
    for (name, obs) in table {
        let s = expect_settle(res.plan(&obs));
        assert_eq!(s.secret, None, "{name}");
        assert_eq!(s.status, res.status, "{name}: status must not change");
        assert_eq!(s.requeue, Requeue::Refresh, "{name}");
    }
}

#[test]
fn a_changed_managed_field_sends_only_that_field() {
    let (res, data) = applied(base_spec());
    type Edit = fn(&mut ProxyOrderSpec);
    let table: [(&str, Edit, ChangeRequest); 5] = [
        (
            "port",
            |s| s.port = Some(8001),
            request(|r| r.port = Some(8001)),
        ),
        (
            "login",
            |s| s.login = Some("team-b".into()),
            request(|r| r.login = Some("team-b".into())),
        ),
        (
            "ipAuth added",
            |s| s.ip_auth = Some(vec!["198.51.100.7".into(), CLIENT_IP.into()]),
            request(|r| {
                r.ip_auth = Some(IpAuth::List(vec!["198.51.100.7".into(), CLIENT_IP.into()]))
            }),
        ),
        (
            "ipAuth cleared",
            |s| s.ip_auth = Some(vec![]),
            request(|r| r.ip_auth = Some(IpAuth::List(vec![]))),
        ),
        (
            "port and login",
            |s| {
                s.port = Some(9000);
                s.login = Some("x".into());
            },
            request(|r| {
                r.port = Some(9000);
                r.login = Some("x".into());
            }),
        ),
    ];
    for (name, edit, want) in table {
        let res = res.clone().edit(edit);
        let call = expect_call(res.plan(&with_secret(&data)));
        let CallKind::Apply(apply) = &call.kind else {
            panic!("{name}: expected a call that carries out the spec, got {call:#?}");
        };
        assert_eq!(call.request, want, "{name}");
        assert_eq!(apply.pending, None, "{name}");
        assert_ne!(
            Some(&apply.applied_hash),
            res.status.last_applied_hash.as_ref(),
            "{name}"
        );
    }

    // Fields that are no longer managed send nothing.
    let table: [(&str, Edit); 3] = [
        ("port unmanaged", |s| s.port = None),
        ("login unmanaged", |s| s.login = None),
        ("ipAuth unmanaged", |s| s.ip_auth = None),
    ];
    for (name, edit) in table {
        let res = res.clone().edit(edit);
        let s = expect_settle(res.plan(&with_secret(&data)));
        assert_eq!(s.secret, None, "{name}");
        assert_cond(&s.status, SYNCED, "True", "Applied");
    }
}

#[test]
fn ip_auth_order_does_not_matter() {
    let mut spec = base_spec();
    spec.ip_auth = Some(vec![CLIENT_IP.into(), "198.51.100.7".into()]);
    let res = Res::new(spec);
    let mut response = active_order();
    response.access.as_mut().unwrap().ip_list = vec!["198.51.100.7".into(), CLIENT_IP.into()];
    let (_, s) = call_ok(&res, &observed(), &response);
    let data = s.secret.unwrap();
    let res = res.with_status(s.status);
    expect_settle(res.plan(&with_secret(&data)));
}
