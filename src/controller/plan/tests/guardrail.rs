//! The cost guardrail: quantity increases above a limit wait for an approval of their hash.

use super::*;
use crate::controller::plan::ProviderLimit;
use proxy_order_api::APPROVE_ANNOTATION;

/// An applied ProxyOrder (2 proxies) on an expired order, asking for `want` with a limit of 3.
fn over_the_limit(want: u32) -> (Res, Observed) {
    let (res, data) = applied(base_spec());
    let res = res.edit(|s| {
        s.quantity = Some(want);
        s.max_quantity = Some(3);
    });
    let obs = Observed {
        listed: Some(Ok(Some(listed(expired_order())))),
        ..with_secret(&data)
    };
    (res, obs)
}

#[test]
fn an_increase_above_the_limit_waits_for_approval_then_goes_in_one_call() {
    let (res, obs) = over_the_limit(5);
    let s = expect_settle(res.plan(&obs));
    let [planned] = s.status.planned_changes.as_slice() else {
        panic!("one planned change: {:#?}", s.status.planned_changes);
    };
    assert_eq!(
        (
            planned.field.as_str(),
            planned.from,
            planned.to,
            planned.limit
        ),
        ("quantity", 2, 5, 3)
    );
    assert_eq!(planned.approve_on, "ProxyOrder");
    assert_cond(&s.status, READY, "True", "Applied");
    assert_cond(&s.status, SYNCED, "False", "AwaitingApproval");
    let msg = &cond(&s.status, SYNCED).message;
    assert!(
        msg.contains(&planned.hash) && msg.contains(APPROVE_ANNOTATION),
        "{msg}"
    );

    // Approved: exactly that change is sent, and nothing is left planned.
    let hash = planned.hash.clone();
    let res = res
        .with_status(s.status.clone())
        .annotate(APPROVE_ANNOTATION, &hash);
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.quantity = Some(5)));
    let s = res.after(&obs, &call, Ok(&with_quantity(expired_order(), 5)));
    assert!(s.status.planned_changes.is_empty());
    assert_cond(&s.status, SYNCED, "True", "Applied");
}

#[test]
fn a_stale_approval_does_nothing() {
    let (res, obs) = over_the_limit(5);
    let hash = expect_settle(res.plan(&obs)).status.planned_changes[0]
        .hash
        .clone();
    // The spec now asks for 6: the approval of 2 -> 5 does not carry over.
    let res = res
        .annotate(APPROVE_ANNOTATION, &hash)
        .edit(|s| s.quantity = Some(6));
    let s = expect_settle(res.plan(&obs));
    assert_eq!(s.status.planned_changes.len(), 1);
    assert_ne!(s.status.planned_changes[0].hash, hash);
    // Nor does an approval of another ProxyOrder's change (another UID).
    let mut other = res.clone();
    other.annotations.clear();
    let theirs = expect_settle(other.plan(&obs)).status.planned_changes[0]
        .hash
        .clone();
    assert_eq!(
        theirs, s.status.planned_changes[0].hash,
        "same inputs, same hash"
    );
}

#[test]
fn decreases_and_increases_within_the_limit_need_no_approval() {
    for want in [1, 3] {
        let (res, obs) = over_the_limit(want);
        let call = expect_call(res.plan(&obs));
        assert_eq!(call.request.quantity, Some(want));
        assert!(expect_apply(&call).planned.is_empty());
    }
}

#[test]
fn other_changes_go_through_while_the_quantity_waits() {
    let (res, obs) = over_the_limit(5);
    let res = res.edit(|s| s.port = Some(8001));
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request, request(|r| r.port = Some(8001)));
    let s = res.after(&obs, &call, Ok(&with_port(expired_order(), 8001)));
    assert_eq!(s.status.planned_changes.len(), 1, "still planned");
    assert_cond(&s.status, SYNCED, "False", "AwaitingApproval");
}

#[test]
fn the_providers_limit_is_approved_on_the_provider_only() {
    let (res, obs) = over_the_limit(5);
    let res = res.edit(|s| s.max_quantity = None);
    let limited = |approvals: Vec<String>| Observed {
        provider_limit: Some(ProviderLimit {
            provider: "shared".into(),
            max_quantity: 4,
            approvals,
        }),
        ..obs.clone()
    };
    let s = expect_settle(res.plan(&limited(vec![])));
    let planned = s.status.planned_changes[0].clone();
    assert_eq!(
        (planned.limit, planned.approve_on.as_str()),
        (4, "ProxyProvider shared")
    );
    // The tenant's own annotation does not approve it.
    let tenant = res.clone().annotate(APPROVE_ANNOTATION, &planned.hash);
    expect_settle(tenant.plan(&limited(vec![])));
    // The ProxyProvider's does.
    let call = expect_call(res.plan(&limited(vec!["other".into(), planned.hash.clone()])));
    assert_eq!(call.request.quantity, Some(5));
}

/// `obs` seen `secs` seconds later.
fn later(obs: &Observed, secs: i64) -> Observed {
    let at = obs.now.0.as_second() + secs;
    Observed {
        now: Time(k8s_openapi::jiff::Timestamp::from_second(at).unwrap()),
        ..obs.clone()
    }
}

#[test]
fn a_held_change_keeps_its_hash_while_held_and_through_a_failed_call() {
    let (res, obs) = over_the_limit(5);
    let first = expect_settle(res.plan(&obs)).status;
    let held = first.planned_changes[0].clone();
    assert!(held.held_since.is_some());
    // Reconciled again a minute later: the same change, the same time, the same hash.
    let res = res.with_status(first.clone());
    let again = expect_settle(res.plan(&later(&obs, 60))).status;
    assert_eq!(again.planned_changes, vec![held.clone()]);

    // Approved, but the call fails: the retry is still approved.
    let res = res.annotate(APPROVE_ANNOTATION, &held.hash);
    let obs = later(&obs, 120);
    let call = expect_call(res.plan(&obs));
    assert_eq!(call.request.quantity, Some(5));
    let failed = res.after(&obs, &call, Err(&ProviderError::Transport("reset".into())));
    assert_eq!(failed.status.planned_changes, vec![held]);
    let res = res.with_status(failed.status);
    let retry = expect_call(res.plan(&later(&obs, 30)));
    assert_eq!(retry.request.quantity, Some(5));
}

#[test]
fn an_approval_is_used_once() {
    let (res, obs) = over_the_limit(5);
    let held = expect_settle(res.plan(&obs)).status;
    let hash = held.planned_changes[0].hash.clone();
    let res = res.with_status(held).annotate(APPROVE_ANNOTATION, &hash);
    let obs = later(&obs, 10);
    let call = expect_call(res.plan(&obs));
    let sent = res.after(&obs, &call, Ok(&with_quantity(expired_order(), 5)));
    assert!(sent.status.planned_changes.is_empty());

    // Later the order is back at 2 proxies (a decrease, or someone else's change) and the
    // spec still asks for 5, the approval still on the ProxyOrder: the same increase is a new
    // change and waits for a new approval.
    let res = res.with_status(sent.status);
    let back = later(&obs, 3600);
    let s = expect_settle(res.plan(&back));
    let [again] = s.status.planned_changes.as_slice() else {
        panic!("held again: {:#?}", s.status.planned_changes);
    };
    assert_eq!((again.from, again.to), (2, 5));
    assert_ne!(again.hash, hash, "the used approval does not carry over");
    assert_cond(&s.status, SYNCED, "False", "AwaitingApproval");
    // Its own approval sends it.
    let res = res
        .with_status(s.status.clone())
        .annotate(APPROVE_ANNOTATION, &again.hash);
    assert_eq!(expect_call(res.plan(&back)).request.quantity, Some(5));
}

#[test]
fn a_change_held_before_held_since_existed_keeps_its_approval() {
    let (res, obs) = over_the_limit(5);
    let mut status = expect_settle(res.plan(&obs)).status;
    // As an older operator wrote it: no time, and the hash over the rest.
    status.planned_changes[0].held_since = None;
    let res = res.with_status(status);
    let s = expect_settle(res.plan(&later(&obs, 60)));
    let kept = &s.status.planned_changes[0];
    assert_eq!(kept.held_since, None);
    let res = res.annotate(APPROVE_ANNOTATION, &kept.hash.clone());
    assert_eq!(expect_call(res.plan(&obs)).request.quantity, Some(5));
}

#[test]
fn an_approval_waits_with_its_change_for_the_orders_term() {
    // On an active order: held for approval first, then, approved, for the order's term.
    let (res, obs) = over_the_limit(5);
    let obs = Observed {
        listed: Some(Ok(Some(listed(active_order())))),
        ..obs
    };
    let held = expect_settle(res.plan(&obs)).status;
    let hash = held.planned_changes[0].hash.clone();
    let res = res.with_status(held).annotate(APPROVE_ANNOTATION, &hash);
    let waiting = expect_settle(res.plan(&later(&obs, 10))).status;
    assert_cond(&waiting, SYNCED, "False", "WaitingForExpiry");
    let [kept] = waiting.planned_changes.as_slice() else {
        panic!(
            "the approved change stays listed: {:#?}",
            waiting.planned_changes
        );
    };
    assert_eq!((kept.hash.as_str(), kept.approved), (hash.as_str(), true));

    // Reconciled again an hour later: still the same approved change, not held anew.
    let res = res.with_status(waiting);
    let still = expect_settle(res.plan(&later(&obs, 3600))).status;
    assert_cond(&still, SYNCED, "False", "WaitingForExpiry");
    assert_eq!(still.planned_changes[0].hash, hash);

    // The order expires: the approval sends it, and nothing is left listed.
    let res = res.with_status(still);
    let expired = Observed {
        listed: Some(Ok(Some(listed(expired_order())))),
        ..later(&obs, 7200)
    };
    let call = expect_call(res.plan(&expired));
    assert_eq!(call.request.quantity, Some(5));
    let sent = res.after(&expired, &call, Ok(&with_quantity(expired_order(), 5)));
    assert!(sent.status.planned_changes.is_empty());
}

#[test]
fn one_limits_approval_waits_for_the_others() {
    // Above the ProxyOrder's limit (3) and the ProxyProvider's (4).
    let (res, obs) = over_the_limit(5);
    let obs = Observed {
        provider_limit: Some(ProviderLimit {
            provider: "shared".into(),
            max_quantity: 4,
            approvals: vec![],
        }),
        ..obs
    };
    let held = expect_settle(res.plan(&obs)).status;
    assert_eq!(held.planned_changes.len(), 2);
    let own = held
        .planned_changes
        .iter()
        .find(|p| p.approve_on == "ProxyOrder")
        .unwrap();
    let own_hash = own.hash.clone();
    let res = res
        .with_status(held)
        .annotate(APPROVE_ANNOTATION, &own_hash);

    // The ProxyOrder's approval is kept while the ProxyProvider's is missing.
    let s = expect_settle(res.plan(&later(&obs, 10))).status;
    assert_cond(&s, SYNCED, "False", "AwaitingApproval");
    let own = s
        .planned_changes
        .iter()
        .find(|p| p.approve_on == "ProxyOrder")
        .unwrap();
    assert_eq!((own.hash.as_str(), own.approved), (own_hash.as_str(), true));
    let provider_hash = s
        .planned_changes
        .iter()
        .find(|p| p.approve_on == "ProxyProvider shared")
        .map(|p| p.hash.clone())
        .unwrap();
    assert!(cond(&s, SYNCED).message.contains(&provider_hash));
    assert!(
        !cond(&s, SYNCED).message.contains(&own_hash),
        "only what waits is named"
    );

    // A reconcile later, then the ProxyProvider's approval: one call.
    let res = res.with_status(s);
    let s = expect_settle(res.plan(&later(&obs, 600))).status;
    let res = res.with_status(s);
    let approved = Observed {
        provider_limit: Some(ProviderLimit {
            provider: "shared".into(),
            max_quantity: 4,
            approvals: vec![provider_hash],
        }),
        ..later(&obs, 1200)
    };
    assert_eq!(expect_call(res.plan(&approved)).request.quantity, Some(5));
}
