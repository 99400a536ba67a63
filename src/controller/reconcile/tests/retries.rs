//! Writes that fail after the provider answered: the answer is kept ("unsaved") and saved by
//! the next reconcile without a second provider call; a conflicting intent write is decided
//! again from a fresh read before anything is sent.

use super::*;

#[tokio::test]
async fn a_conflicting_status_write_is_saved_later_from_a_fresh_read_without_a_second_call() {
    let mut w = world().await;
    let po = proxy_order(port_spec());
    let mut steps = first_observation(&w.sim);
    steps.extend([
        read_order(&po),
        secret_created(),
        Step::patch(status_path()).fail(409, "Conflict"),
    ]);
    let err = w
        .reconcile(&po, steps)
        .await
        .expect_err("the status write failed");
    assert!(
        matches!(&err, crate::error::Error::Kube(kube::Error::Api(s)) if s.code == 409),
        "{err}"
    );
    assert_eq!(w.change_calls().len(), 1);
    assert!(w.has_unsaved(&po), "the provider's answer is kept");
    let secret = created_secret(&w.api);
    w.api.clear();

    // The controller retries with the copy it has cached (unchanged: nothing was written).
    // The call is planned again, so the ProxyOrder is read again first; the answer kept from
    // the first attempt stands in for the call, the Secret already holds it, and only the
    // status is written.
    let changed_meanwhile = at_version(&po, "105");
    let steps = vec![
        read_api_key(),
        credentials_are(secret),
        claim_exists(&w.sim),
        claim_held(&w.sim),
        read_order(&changed_meanwhile),
        status_applied(&changed_meanwhile, "106", |body| {
            assert_ready(&body["status"])
        }),
    ];
    let action = w.reconcile(&po, steps).await.expect("the retry succeeds");
    assert_refresh(&action);
    assert_eq!(
        w.change_calls().len(),
        1,
        "the provider is not asked again: {:?}",
        w.change_calls()
    );
    assert!(w.api.events().is_empty(), "no second Applied event");
    assert!(!w.has_unsaved(&po), "the answer is forgotten once saved");
    w.sim.shutdown().await;
}

/// A Secret write failing with `code`; `reported`: the refusal is for good (not an outage), so
/// the status says so, and nothing else.
async fn a_failed_secret_write_keeps_the_answer(code: u16, reason: &str, reported: bool) {
    let mut w = world().await;
    let po = proxy_order(port_spec());
    let mut steps = first_observation(&w.sim);
    // No status write saying Ready follows: the script ends with the failed Secret write (and
    // the refusal's report), and any further request fails the test.
    steps.extend([
        read_order(&po),
        Step::post(secrets_path()).fail(code, reason),
    ]);
    if reported {
        steps.push(status_applied(&po, "101", move |body| {
            // Conditional on the version decided from, and only the Ready condition: nothing
            // the unwritten Secret would back (no access data, no fingerprint).
            assert_eq!(body["metadata"]["resourceVersion"], RV);
            let status = &body["status"];
            let ready = condition(status, "Ready");
            assert_eq!(ready["status"], "False", "{status}");
            assert_eq!(ready["reason"], "SecretWriteFailed", "{status}");
            assert!(
                ready["message"]
                    .as_str()
                    .unwrap()
                    .contains(&code.to_string())
            );
            assert!(status.get("access").is_none(), "{status}");
            assert!(status.get("passwordFingerprint").is_none(), "{status}");
        }));
    }
    let err = w
        .reconcile(&po, steps)
        .await
        .expect_err("the Secret write failed");
    assert!(
        matches!(&err, crate::error::Error::Kube(kube::Error::Api(s)) if s.code == code),
        "{err}"
    );
    assert_eq!(w.change_calls().len(), 1);
    assert!(w.has_unsaved(&po), "the provider's answer is kept");
    let warned = w.event_reasons().contains(&"SecretWriteFailed".to_string());
    assert_eq!(warned, reported, "{:?}", w.event_reasons());
    let password = w.live_password();
    w.api.clear();

    // The next reconcile (of the version the report left, when there was one) writes the Secret
    // with the kept answer (the password the provider generated then is the one it holds now),
    // then the status.
    let po = if reported { at_version(&po, "101") } else { po };
    let steps = vec![
        read_api_key(),
        credentials_missing(),
        claim_exists(&w.sim),
        claim_held(&w.sim),
        read_order(&po),
        secret_created().check(move |req| {
            let secret = secret_of(req);
            assert_eq!(data_value(&secret, credentials::KEY_PASSWORD), password);
            assert_eq!(
                data_value(&secret, credentials::KEY_PORT),
                NEW_PORT.to_string()
            );
        }),
        status_applied(&po, "102", |body| assert_ready(&body["status"])),
    ];
    let action = w.reconcile(&po, steps).await.expect("the retry succeeds");
    assert_refresh(&action);
    assert_eq!(w.change_calls().len(), 1, "the provider is not asked again");
    assert!(!w.has_unsaved(&po));
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_secret_write_failing_with_500_keeps_the_answer_for_the_next_reconcile() {
    a_failed_secret_write_keeps_the_answer(500, "InternalError", false).await;
}

#[tokio::test]
async fn a_forbidden_secret_write_keeps_the_answer_for_the_next_reconcile() {
    a_failed_secret_write_keeps_the_answer(403, "Forbidden", true).await;
}

#[tokio::test]
async fn a_refused_secret_write_reaches_the_status_and_keeps_the_answer() {
    a_failed_secret_write_keeps_the_answer(422, "Invalid", true).await;
}

/// A password generation for [`ORDER_ID`]: a request that must not repeat.
fn generate_spec() -> ProxyOrderSpec {
    ProxyOrderSpec {
        order_id: ORDER_ID,
        password: Some(proxy_order_api::PasswordSource {
            generate: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_conflicting_intent_is_decided_again_from_a_fresh_read_before_the_call() {
    // A password generation must not repeat, so its intent is recorded first, conditional on
    // the version read. Someone changed the ProxyOrder meanwhile: the intent write fails with
    // 409, nothing is sent, the ProxyOrder is read again and the intent recorded at its new
    // version; the final status write is conditional on the version the intent left.
    let mut w = world().await;
    let po = proxy_order(generate_spec());
    let before = w.live_password();
    let intent_at = |rv: &'static str| {
        move |req: &Received| {
            assert_eq!(req.body["metadata"]["resourceVersion"], rv);
            assert_eq!(req.body["status"]["pendingRequest"]["genPassword"], true);
        }
    };
    let changed = at_version(&po, "101");
    let mut steps = first_observation(&w.sim);
    steps.extend([
        read_order(&po),
        Step::patch(status_path())
            .check(intent_at(RV))
            .fail(409, "Conflict"),
        read_order(&changed),
        status_applied(&changed, "102", |_| {}).check(intent_at("101")),
        secret_created(),
        status_applied(&changed, "103", |body| {
            assert_eq!(body["metadata"]["resourceVersion"], "102");
            let status = &body["status"];
            assert_eq!(condition(status, "Ready")["status"], "True", "{status}");
            assert_eq!(status["passwordOrigin"], "Generated");
            assert!(status.get("pendingRequest").is_none(), "{status}");
        }),
    ]);
    w.reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    let calls = w.change_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].body, json!({ "gen_password": true }));
    assert_ne!(
        w.live_password(),
        before,
        "the provider generated a password"
    );
    w.assert_password_only_in_secret();
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_generated_password_whose_secret_write_failed_is_saved_from_the_kept_answer() {
    // The provider generated a password, and the Secret write failed: the password exists only
    // in the kept answer. Once the intent may be read back, the read is answered from it: no
    // request reaches the provider, and the Secret gets the password the provider holds.
    let mut w = world().await;
    let po = proxy_order(generate_spec());
    let before = w.live_password();
    let intent = Arc::new(Mutex::new(Value::Null));
    let keep = intent.clone();
    let mut steps = first_observation(&w.sim);
    steps.extend([
        read_order(&po),
        status_applied(&po, "101", move |body| {
            *keep.lock() = body["status"].clone()
        }),
        Step::post(secrets_path()).fail(500, "InternalError"),
    ]);
    w.reconcile(&po, steps)
        .await
        .expect_err("the Secret write failed");
    let generated = w.live_password();
    assert_ne!(generated, before);
    assert!(w.has_unsaved(&po));
    w.api.clear();

    // The watch brings the intent; by now the provider can no longer be carrying it out.
    let mut cached = at_version(&po, "101");
    let mut status = intent.lock().clone();
    assert_eq!(status["pendingRequest"]["genPassword"], true, "{status}");
    status["pendingRequest"]["startedAt"] = json!("2020-01-01T00:00:00Z");
    cached.status = Some(serde_json::from_value(status).unwrap());
    let steps = vec![
        read_api_key(),
        credentials_missing(),
        claim_exists(&w.sim),
        claim_held(&w.sim),
        read_order(&cached),
        secret_created().check(move |req| {
            let secret = secret_of(req);
            assert_eq!(data_value(&secret, credentials::KEY_PASSWORD), generated);
        }),
        status_applied(&cached, "102", |body| {
            let status = &body["status"];
            assert!(status.get("pendingRequest").is_none(), "{status}");
            assert!(status.get("passwordFingerprint").is_some(), "{status}");
        }),
    ];
    w.reconcile(&cached, steps)
        .await
        .expect("the retry succeeds");
    assert_eq!(w.change_calls().len(), 1, "{:?}", w.change_calls());
    assert!(!w.has_unsaved(&po));
    w.assert_password_only_in_secret();
    w.sim.shutdown().await;
}

#[tokio::test]
async fn waiting_for_a_stated_read_time_is_no_failure_however_often_it_is_woken() {
    // An interrupted request's outcome is read at `readNotBefore`: the plan says how long that
    // is, and neither that wait nor the watch events that wake the ProxyOrder meanwhile count
    // as failures (which would push the read past the stated time, up to --backoff-max).
    let w = world().await;
    let key = ObjectRef::new(NAME).within(NS);
    let wait = Duration::from_secs(50);
    for _ in 0..5 {
        let action = super::super::action_for(
            &w.ctx,
            &key,
            &crate::controller::plan::Requeue::NotBefore(wait),
        );
        assert_eq!(requeue_after(&action), Some(wait));
    }
    assert!(
        !w.ctx.backoff.lock().contains_key(&key),
        "no failure counted: {:?}",
        w.ctx.backoff.lock()
    );
    // A failure before the wait keeps its count for the retry after it.
    w.ctx.count_failure(key.clone());
    super::super::action_for(
        &w.ctx,
        &key,
        &crate::controller::plan::Requeue::NotBefore(wait),
    );
    assert_eq!(w.ctx.backoff.lock().get(&key), Some(&1));
    w.sim.shutdown().await;
}
