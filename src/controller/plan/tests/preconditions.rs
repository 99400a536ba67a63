//! What ends the decision before any change call: missing Secrets, pause, the order list,
//! another resource for the order, a provider that denies access, an unwritable Secret.

use super::*;

// ---------------------------------------------------------------------------------------------
// 9-11: missing Secrets, paused, the order list
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_referenced_secrets_stop_before_any_call() {
    let missing = |purpose: &'static str, name: &str, key: &str, key_missing: bool| MissingSecret {
        purpose,
        namespace: "team".into(),
        name: name.into(),
        key: key.into(),
        key_missing,
    };
    let (applied_res, data) = applied(base_spec());
    let mut ref_spec = base_spec();
    ref_spec.password = secret_key_ref();
    let table = [
        (
            "API key Secret",
            Res::new(base_spec()),
            Observed {
                api_key: Err(missing("API key", "px-key", "api-key", false)),
                ..observed()
            },
            "team/px-key",
            "api-key",
        ),
        (
            "API key of a Ready resource",
            applied_res.clone(),
            Observed {
                api_key: Err(missing("API key", "px-key", "api-key", true)),
                ..with_secret(&data)
            },
            "team/px-key",
            "api-key",
        ),
        (
            "password Secret",
            Res::new(ref_spec),
            Observed {
                password: Some(Err(missing("password", "px-pass", "pw", true))),
                ..observed()
            },
            "team/px-pass",
            "pw",
        ),
    ];
    for (name, res, obs, secret, key) in table {
        let s = expect_settle(res.plan(&obs));
        assert_eq!(s.secret, None, "{name}");
        assert_eq!(s.requeue, Requeue::Terminal, "{name}");
        assert_cond(&s.status, READY, "False", "SecretNotFound");
        assert_cond(&s.status, SYNCED, "False", "SecretNotFound");
        let msg = &cond(&s.status, READY).message;
        assert!(msg.contains(secret) && msg.contains(key), "{name}: {msg}");
    }
}

#[test]
fn no_api_key_configured_at_all_says_so_and_how_to_set_one() {
    let res = Res::new(base_spec());
    let obs = Observed {
        api_key: Err(crate::controller::plan::MissingSecret::no_api_key("team")),
        ..observed()
    };
    let s = expect_settle(res.plan(&obs));
    assert_cond(&s.status, READY, "False", "SecretNotFound");
    let msg = &cond(&s.status, READY).message;
    assert!(msg.starts_with("no API key is configured"), "{msg}");
    for how in [
        "spec.providerRef",
        "spec.apiKeySecretRef",
        "defaultApiKeySecret",
    ] {
        assert!(msg.contains(how), "{how}: {msg}");
    }
    assert!(!msg.contains("<none>"), "{msg}");
}

#[test]
fn paused_makes_no_call_and_changes_only_synced() {
    let (res, data) = applied(base_spec());
    let res = res
        .edit(|s| s.port = Some(8001))
        .annotate(ROTATE_PASSWORD_ANNOTATION, "t1")
        .annotate(PAUSED_ANNOTATION, "true");
    let obs = Observed {
        now: at(60),
        ..with_ref_password(with_secret(&data), "whatever")
    };
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.secret, None);
    assert_eq!(s.requeue, Requeue::AwaitChange);
    assert_cond(&s.status, SYNCED, "False", "Paused");
    assert!(cond(&s.status, SYNCED).message.contains(PAUSED_ANNOTATION));
    assert_eq!(cond(&s.status, READY), cond(&res.status, READY));

    let strip = |st: &ProxyOrderStatus| ProxyOrderStatus {
        conditions: vec![],
        observed_generation: None,
        ..st.clone()
    };
    assert_eq!(strip(&s.status), strip(&res.status));

    // While paused nothing is called or fixed, but Ready does not claim a Secret it cannot
    // confirm: a missing API key or a foreign Secret turn it False.
    let obs = Observed {
        api_key: Err(MissingSecret {
            purpose: "API key",
            namespace: "team".into(),
            name: "k".into(),
            key: "k".into(),
            key_missing: false,
        }),
        secret: OwnedSecret::Foreign,
        ..observed()
    };
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.secret, None);
    assert_cond(&s.status, READY, "False", "Paused");
    assert_cond(&s.status, SYNCED, "False", "Paused");

    // Any other value is not paused.
    let res = res.annotate(PAUSED_ANNOTATION, "false");
    expect_call(res.plan(&with_secret(&data)));
}

#[test]
fn the_order_list_can_end_the_decision_without_a_call() {
    let (res, data) = applied(base_spec());
    let table = [
        (
            "not in the list",
            Some(Ok(None)),
            "OrderNotFound",
            Requeue::Terminal,
        ),
        (
            "401 on the list",
            Some(Err(http_error(401, None, ""))),
            "Unauthorized",
            Requeue::Terminal,
        ),
    ];
    for (name, listed, reason, requeue) in table {
        for res in [Res::new(base_spec()), res.clone()] {
            let obs = Observed {
                listed: listed.clone(),
                ..with_secret(&data)
            };
            let s = expect_settle(res.plan(&obs));
            assert_eq!(s.secret, None, "{name}");
            assert_eq!(s.requeue, requeue, "{name}");
            assert_cond(&s.status, READY, "False", reason);
            assert_cond(&s.status, SYNCED, "False", reason);
            if reason == "OrderNotFound" {
                let msg = &cond(&s.status, READY).message;
                assert!(msg.contains(&ORDER_ID.to_string()), "{msg}");
            }
        }
    }

    // A transient failure of the list on a Ready resource: Ready stays, back off.
    let obs = Observed {
        listed: Some(Err(http_error(503, Some(5), ""))),
        ..with_secret(&data)
    };
    let s = expect_settle(res.plan(&obs));
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "ProviderUnavailable");
    assert_eq!(
        s.requeue,
        Requeue::Backoff {
            retry_after: Some(Duration::from_secs(5))
        }
    );
}

#[test]
fn the_listed_order_refreshes_the_order_summary() {
    let (res, data) = applied(base_spec());
    let mut renewed = listed(active_order());
    renewed.auto_continuation = false;
    renewed.amount = 2.5;
    let obs = Observed {
        listed: Some(Ok(Some(renewed))),
        ..with_secret(&data)
    };
    let s = expect_settle(res.plan(&obs));
    let order = s.status.order.as_ref().unwrap();
    assert!(!order.auto_continuation);
    assert_eq!(order.amount, "2.5");
    assert_eq!(s.secret, None);
}

// ---------------------------------------------------------------------------------------------
// Another resource for the same order, and a provider that denies access
// ---------------------------------------------------------------------------------------------

#[test]
fn a_second_resource_for_the_same_order_is_refused() {
    let res = Res::new(base_spec());
    let s = expect_settle(res.plan(&Observed {
        conflict: Some("ProxyOrder first in this namespace".into()),
        ..observed()
    }));
    assert_eq!(s.secret, None);
    assert_eq!(s.requeue, Requeue::Terminal);
    assert_cond(&s.status, READY, "False", "OrderConflict");
    assert!(cond(&s.status, READY).message.contains("first"));
}

#[test]
fn a_provider_that_denies_access_gets_no_call_and_names_why() {
    for reason in [
        Reason::ProviderNotFound,
        Reason::NamespaceNotAllowed,
        Reason::ApiKeySecretRefDisabled,
    ] {
        // Even with credentials to publish and a spec change to make: nothing is sent and the
        // Secret is not touched.
        let (res, data) = applied(base_spec());
        let mut res = res;
        res.spec.port = Some(9999);
        let s = expect_settle(res.plan(&Observed {
            denied: Some((reason, "ProxyProvider shared does not allow it".into())),
            ..with_secret(&data)
        }));
        assert_eq!(s.secret, None, "{reason:?}");
        assert_eq!(s.requeue, Requeue::Terminal, "{reason:?}");
        assert_cond(&s.status, READY, "False", reason.as_str());
        assert_cond(&s.status, SYNCED, "False", reason.as_str());
        assert!(
            cond(&s.status, SYNCED)
                .message
                .contains("ProxyProvider shared")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The Secret must be writable before any call
// ---------------------------------------------------------------------------------------------

#[test]
fn a_secret_the_api_server_would_refuse_is_refused_before_any_call() {
    use proxy_order_api::SecretTarget;
    let target = |f: &dyn Fn(&mut SecretTarget)| {
        let mut t = SecretTarget::default();
        f(&mut t);
        let mut spec = base_spec();
        spec.password = generate();
        spec.secret = Some(t);
        spec
    };
    let urls = "{{ url }}".repeat(455);
    let cases: Vec<(&str, ProxyOrderSpec, &str, &str)> = vec![
        (
            "label key",
            target(&|t| t.labels = Some([("bad key".into(), "v".into())].into())),
            "InvalidSpec",
            "bad key",
        ),
        (
            "label key prefix over 253",
            target(&|t| t.labels = Some([(format!("{}/n", "a".repeat(254)), "v".into())].into())),
            "InvalidSpec",
            "prefix",
        ),
        (
            "annotation key",
            target(&|t| t.annotations = Some([("a/b/c".into(), "v".into())].into())),
            "InvalidSpec",
            "a/b/c",
        ),
        (
            "template",
            target(&|t| {
                t.template = Some((0..8).map(|i| (format!("K{i}"), urls.clone())).collect())
            }),
            "SecretTooLarge",
            "spec.secret.template",
        ),
        (
            "quantity",
            {
                let mut s = base_spec();
                s.quantity = Some(1_000_000);
                s
            },
            "SecretTooLarge",
            "1000000 proxies",
        ),
    ];
    for (name, spec, reason, names) in cases {
        // A first reconcile and one of an applied resource alike: no call, both conditions
        // False with the reason, the offending part named.
        let fresh = Res::new(spec.clone());
        let (applied_res, data) = applied(base_spec());
        let edited = applied_res.edit(|s| *s = spec.clone());
        for (res, obs) in [(fresh, observed()), (edited, with_secret(&data))] {
            let s = expect_settle(res.plan(&obs));
            assert_cond(&s.status, READY, "False", reason);
            assert_cond(&s.status, SYNCED, "False", reason);
            let msg = &cond(&s.status, READY).message;
            assert!(msg.contains(names), "{name}: {msg}");
            assert_eq!(s.secret, None, "{name}");
            assert_eq!(s.requeue, Requeue::Terminal, "{name}");
        }
    }
}
