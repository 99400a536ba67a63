//! A change carried out from start to end: what is read, the one provider call, then the
//! credentials Secret and only then the status.

use super::*;

#[tokio::test]
async fn a_change_is_called_once_then_the_secret_is_written_then_the_status() {
    let mut w = world().await;
    let po = proxy_order(port_spec());
    let mut steps = first_observation(&w.sim);
    steps.extend([
        // The change is decided from the API server's copy, not the cached one.
        read_order(&po),
        secret_created(),
        status_applied(&po, "101", |body| {
            // Server-side apply of the status alone; no intent was needed for a port change,
            // so the write is not conditional on a version.
            assert_eq!(body["kind"], "ProxyOrder");
            assert!(body["metadata"].get("resourceVersion").is_none(), "{body}");
            assert_ready(&body["status"]);
        }),
    ]);
    let action = w
        .reconcile(&po, steps)
        .await
        .expect("the reconcile succeeds");
    assert_refresh(&action);

    // One order list, one change call with exactly the changed field.
    assert_eq!(w.list_calls(), 1);
    let calls = w.change_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].body, json!({ "port": NEW_PORT }));
    assert_eq!(calls[0].status, 200);

    // The Secret before the status, and the Secret holds what the provider answered.
    let lines = w.api.lines();
    let secret_at = lines
        .iter()
        .position(|l| *l == format!("POST {}", secrets_path()));
    let status_at = lines
        .iter()
        .position(|l| *l == format!("PATCH {}", status_path()));
    assert!(secret_at.unwrap() < status_at.unwrap(), "{lines:?}");
    let created = w
        .api
        .received
        .iter()
        .find(|r| r.method == "POST" && r.path == secrets_path())
        .map(secret_of)
        .unwrap();
    assert_eq!(
        data_value(&created, credentials::KEY_PORT),
        NEW_PORT.to_string()
    );
    assert_eq!(data_value(&created, credentials::KEY_LOGIN), "user10000");
    assert_eq!(
        data_value(&created, credentials::KEY_PASSWORD),
        w.live_password()
    );
    assert_eq!(
        data_value(&created, credentials::KEY_IPS),
        "198.51.100.1\n198.51.100.2\n"
    );

    // One Event says what changed (never the password), and the answer is no longer kept.
    assert_eq!(w.event_reasons(), ["Applied"]);
    w.assert_password_only_in_secret();
    assert!(!w.has_unsaved(&po));
    // The write is remembered: the cached copy at the version it left counts as current.
    assert!(w.ctx.written.is_last(UID, Some("101")));
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_current_copy_from_the_operators_own_write_needs_no_read() {
    // The cached copy is the version this process's last status write left: a decision that
    // changes nothing is made from it without reading the ProxyOrder again, and nothing is
    // written.
    let mut w = world().await;
    let po = proxy_order(port_spec());
    let mut steps = first_observation(&w.sim);
    steps.extend([read_order(&po), secret_created()]);
    let written = Arc::new(Mutex::new(Value::Null));
    let keep = written.clone();
    steps.push(status_applied(&po, "101", move |body| {
        *keep.lock() = body["status"].clone();
    }));
    w.reconcile(&po, steps).await.unwrap();
    let stored_secret = created_secret(&w.api);
    w.api.clear();

    let mut cached = at_version(&po, "101");
    cached.status = Some(serde_json::from_value(written.lock().clone()).unwrap());
    let steps = vec![
        read_api_key(),
        credentials_are(stored_secret),
        // The claim watch has not reported the claim: it is created again and found held.
        claim_exists(&w.sim),
        claim_held(&w.sim),
    ];
    let action = w.reconcile(&cached, steps).await.unwrap();
    assert_refresh(&action);
    assert_eq!(w.change_calls().len(), 1, "no second call");
    assert!(w.api.events().is_empty());
    w.sim.shutdown().await;
}

#[tokio::test]
async fn the_fingerprint_salt_is_random_and_carries_nothing_about_the_api_key() {
    // The salt lands in the tenant's own credentials Secret: were it derived from the API key,
    // whoever reads that Secret could test guesses of the administrators' key offline (and see
    // the key change). Two ProxyOrders alike in UID and key get unrelated salts.
    let mut salts = Vec::new();
    for _ in 0..2 {
        let mut w = world().await;
        let po = proxy_order(port_spec());
        let mut steps = first_observation(&w.sim);
        steps.extend([
            read_order(&po),
            secret_created(),
            status_applied(&po, "101", |body| assert_ready(&body["status"])),
        ]);
        w.reconcile(&po, steps)
            .await
            .expect("the reconcile succeeds");
        let created = created_secret(&w.api);
        let salt = created["metadata"]["annotations"][proxy_order_api::FINGERPRINT_SALT_ANNOTATION]
            .as_str()
            .expect("a salt")
            .to_string();
        let key_fp = credentials::fingerprint(["api-key", proxy_solutions_sim::DEFAULT_API_KEY]);
        assert_ne!(
            salt,
            credentials::fingerprint(["fingerprint-salt", UID, &key_fp]),
            "derived from the key"
        );
        assert!(
            salt.len() == 32 && salt.chars().all(|c| c.is_ascii_hexdigit()),
            "{salt}"
        );
        salts.push(salt);
        w.sim.shutdown().await;
    }
    assert_ne!(salts[0], salts[1], "the same UID and key, the same salt");
}

#[tokio::test]
async fn a_restarted_operator_makes_no_provider_request_for_a_settled_proxy_order() {
    // One process brings the ProxyOrder to Ready and Synced.
    let mut w = world().await;
    let po = proxy_order(port_spec());
    let mut steps = first_observation(&w.sim);
    steps.extend([read_order(&po), secret_created()]);
    let written = Arc::new(Mutex::new(Value::Null));
    let keep = written.clone();
    steps.push(status_applied(&po, "101", move |body| {
        *keep.lock() = body["status"].clone();
    }));
    w.reconcile(&po, steps).await.unwrap();
    let stored_secret = created_secret(&w.api);
    w.sim.shutdown().await;
    let mut settled = at_version(&po, "101");
    settled.status = Some(serde_json::from_value(written.lock().clone()).unwrap());

    // The next process (an upgrade, a new leader) reads the Secret and leaves the provider
    // alone: no list, no claim read, nothing written; the first list comes within the refresh
    // interval (300 s here), at a point the UID picks.
    let mut restarted = world().await;
    let steps = vec![read_api_key(), credentials_are(stored_secret.clone())];
    let action = restarted.reconcile(&settled, steps).await.unwrap();
    let after = requeue_after(&action).expect("a requeue");
    assert!(after <= Duration::from_secs(300), "{action:?}");
    assert!(
        restarted.sim.requests().is_empty(),
        "{:?}",
        restarted.sim.requests()
    );
    // Once it comes, the list is read as usual.
    let mut later = world_with(|ctx| Context {
        started: std::time::Instant::now() - Duration::from_secs(300),
        ..ctx
    })
    .await;
    let steps = vec![
        read_api_key(),
        credentials_are(stored_secret),
        claim_exists(&later.sim),
        claim_held(&later.sim),
    ];
    let action = later.reconcile(&settled, steps).await.unwrap();
    assert_refresh(&action);
    assert_eq!(later.list_calls(), 1);
    assert!(later.change_calls().is_empty());
    restarted.sim.shutdown().await;
    later.sim.shutdown().await;
}
