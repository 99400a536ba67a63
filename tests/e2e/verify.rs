//! `--verify-credentials`: the published credentials are tried through the simulator's real
//! proxy listeners; a password changed behind the operator's back is noticed and read again.

use std::time::Duration;

use proxy_solutions_sim::SimConfig;
use serde_json::json;

use proxy_order_testkit::*;

const CHANGED: &str = "changed-behind-its-back-7Qx";

#[tokio::test]
async fn published_credentials_are_verified_and_a_password_changed_behind_its_back_is_read_again() {
    // The probe target: any address the proxies can reach.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((conn, _)) = target.accept().await {
            drop(conn);
        }
    });
    let sim = SimConfig {
        proxy_listeners: true,
        ..SimConfig::default()
    };
    let args = [
        "--verify-credentials",
        "--probe-target",
        &target_addr,
        "--probe-interval",
        "1s",
    ];
    let env = Env::start_with_sim("verify", sim, &args).await;
    env.apply(
        "v",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "password": {"generate": true}}),
    )
    .await;
    env.wait_condition("v", "CredentialsVerified", "True", "Verified")
        .await;
    let generated = env.secret_data("v-proxy").await.unwrap()["password"].clone();
    let connects = env.sim.proxy_connects(ACTIVE).unwrap();
    assert_eq!((connects.established, connects.rejected), (1, 0));

    // The password changes at the provider, not through the operator.
    let mut order = env.sim.order(ACTIVE).unwrap();
    order.access.as_mut().unwrap().password = CHANGED.to_string().into();
    env.sim.put_order(order).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    env.annotate("v", "proxy-solutions.net/sync-requested-at", "1")
        .await;
    env.wait_for("the Secret holds the changed password", 60, async || {
        (env.secret_data("v-proxy").await?["password"] == CHANGED).then_some(())
    })
    .await;
    let po = env
        .wait_condition("v", "CredentialsVerified", "True", "Verified")
        .await;
    assert_eq!(condition(&po, "Ready").unwrap().0, "True");
    let connects = env.sim.proxy_connects(ACTIVE).unwrap();
    assert_eq!(connects.rejected, 1, "{connects:?}");
    assert_eq!(connects.established, 2, "{connects:?}");
    let events = env.events("v").await;
    let rejected = events
        .iter()
        .find(|e| e.1 == "CredentialsRejected")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(!rejected.2.contains(CHANGED) && !rejected.2.contains(&generated));
    // The new password was read, not replaced: one generation in all.
    let generations = env
        .change_calls(ACTIVE)
        .await
        .into_iter()
        .filter(|c| c["body"].get("gen_password").is_some())
        .count();
    assert_eq!(generations, 1);
    // The probes as the metrics (and the chart's alert on rejected credentials) see them.
    let metrics = env.metrics().await;
    for line in [
        r#"proxy_order_credential_probes_total{result="verified"} 2"#,
        r#"proxy_order_credential_probes_total{result="rejected"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    env.assert_no_leaks(&[CHANGED, &generated]).await;
    env.finish().await;
}
