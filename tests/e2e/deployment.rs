//! How the operator is run: replicas with leader election, shards by label selector, and only
//! the Helm chart's permissions.

use serde_json::json;

use crate::PW_CANARY;
use proxy_order_testkit::*;

#[tokio::test]
async fn one_leader_reconciles_and_a_successor_takes_over() {
    // The lease must outlast a provider call: a 1 s provider timeout allows a 5 s lease.
    let lease = [
        "--leader-election",
        "--lease-duration",
        "5s",
        "--provider-timeout",
        "1s",
    ];
    let mut env = Env::start_with("leader", &lease).await;
    let b = env.spawn_replica("b", &[]);
    env.wait_for("replica b waits for leadership", 30, async || {
        b.log_text()
            .contains("waiting for leadership")
            .then_some(())
    })
    .await;
    env.apply(
        "l",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8900}),
    )
    .await;
    env.wait_ready("l").await;
    let b_text = b.log_text();
    assert!(
        !b_text.contains("provider call"),
        "the follower made no call:\n{b_text}"
    );
    assert!(env.log_text().contains("provider call succeeded"));

    env.stop_operator(); // SIGKILL: no release, so the lease has to expire
    env.wait_for("replica b takes over", 30, async || {
        b.log_text().contains("acquired leadership").then_some(())
    })
    .await;
    env.apply(
        "l",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": 8901}),
    )
    .await;
    env.wait_for("the new leader applies", 30, async || {
        (env.sim_order(ACTIVE).await["access"]["port"] == 8901).then_some(())
    })
    .await;
    drop(b);
    env.finish().await;
}

#[tokio::test]
async fn a_selector_shards_which_orders_an_instance_reconciles() {
    let env = Env::start_with("shard", &["--selector", "shard=a"]).await;
    let spec = json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                      "port": 9200});
    env.apply_full(
        "mine",
        json!({"metadata": {"labels": {"shard": "a"}}, "spec": spec.clone()}),
    )
    .await;
    env.apply_full(
        "other",
        json!({"metadata": {"labels": {"shard": "b"}}, "spec": spec}),
    )
    .await;
    env.wait_ready("mine").await;
    settle(2).await;
    assert!(
        env.get("other").await.status.is_none(),
        "another shard's order is left alone"
    );
    assert!(
        env.secrets()
            .get_opt("other-proxy")
            .await
            .unwrap()
            .is_none()
    );
    env.finish().await;
}

#[tokio::test]
async fn the_charts_permissions_are_enough() {
    // The operator impersonates the chart's ServiceAccount: an RBAC gap fails this test.
    let env = Env::start_as_chart("rbac").await;
    env.put_secret("pw", "password", PW_CANARY).await;
    let spec = json!({
        "orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
        "port": 9100, "login": "rbac", "ipAuth": ["192.0.2.9"],
        "password": {"secretKeyRef": {"name": "pw", "key": "password"}},
        "deletionPolicy": "Revoke"
    });
    env.apply("r", spec.clone()).await;
    env.wait_ready("r").await;
    assert_eq!(
        env.secret_data("r-proxy").await.unwrap()["password"],
        PW_CANARY
    );
    // The record of the call is published beside the credentials, not before them.
    env.wait_for("the Applied event", 30, async || {
        env.events("r")
            .await
            .iter()
            .any(|e| e.1 == "Applied")
            .then_some(())
    })
    .await;
    let mut changed = spec.clone();
    changed["port"] = json!(9101);
    env.apply("r", changed).await;
    env.wait_for("the change is applied", 30, async || {
        (env.secret_data("r-proxy").await?["port"] == "9101").then_some(())
    })
    .await;
    env.delete_and_wait("r").await;
    let log = env.log_text();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "RBAC denial in the log:\n{log}"
    );
    env.assert_no_leaks(&[PW_CANARY]).await;
    env.finish().await;
}

#[tokio::test]
async fn a_standby_stops_at_once_on_sigterm_and_is_ready_only_while_a_leader_renews() {
    let lease = [
        "--leader-election",
        "--lease-duration",
        "5s",
        "--provider-timeout",
        "1s",
    ];
    let mut env = Env::start_with("standby", &lease).await;
    // A standby that sees the leader renew is ready to take over.
    let mut b = env.spawn_replica("b", &[]);
    env.wait_for("standby b ready while the leader renews", 30, async || {
        (b.readyz().await == Some(200)).then_some(())
    })
    .await;
    // SIGTERM: it ends at once (nothing to hand over), without waiting for a grace period.
    b.signal("TERM").unwrap();
    let asked = std::time::Instant::now();
    let status = env
        .wait_for("standby b exits", 10, async || b.exit_status())
        .await;
    let took = asked.elapsed();
    println!("a standby stopped {took:?} after SIGTERM ({status})");
    assert!(status.success(), "{status}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    let b_text = b.log_text();
    assert!(!b_text.contains("acquired leadership"), "{b_text}");

    // The leader vanishes without giving the lease up: a standby sees nobody renew it and says
    // it is not ready until it has taken over (then nothing is left waiting on it).
    let c = env.spawn_replica("c", &[]);
    env.wait_for("standby c ready while the leader renews", 30, async || {
        (c.readyz().await == Some(200)).then_some(())
    })
    .await;
    env.stop_operator();
    env.wait_for("standby c not ready: no leader renews", 30, async || {
        (c.readyz().await == Some(503)).then_some(())
    })
    .await;
    env.wait_for("standby c takes over and is ready", 30, async || {
        (c.log_text().contains("acquired leadership") && c.readyz().await == Some(200))
            .then_some(())
    })
    .await;
    drop(c);
    env.finish().await;
}

#[tokio::test]
async fn the_uninstall_hook_stops_the_operator_with_only_its_own_permissions() {
    use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
    use kube::{Api, api::ListParams};

    let env = Env::start("quiesce").await;
    let ns = env.ns.clone();
    let sets = ["installCrds=false", "replicaCount=2"];
    // The operator's Deployment and ServiceAccount and the hook's ServiceAccount, Role and
    // RoleBinding as `helm install` leaves them; the hook's Job is run here as a process
    // impersonating the hook's ServiceAccount (this control plane has no nodes).
    let objects = render_only(
        &ns,
        &sets,
        &[
            "templates/serviceaccount.yaml",
            "templates/deployment.yaml",
            "templates/uninstall-hook.yaml",
        ],
    );
    let job = objects
        .iter()
        .find(|o| o["kind"] == "Job")
        .expect("with leader election the chart has an uninstall hook Job");
    let args: Vec<String> =
        serde_json::from_value(job["spec"]["template"]["spec"]["containers"][0]["args"].clone())
            .unwrap();
    let hook_sa = job["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap()
        .to_string();
    let deployment = format!("{ns}-proxy-order-operator");
    assert_eq!(
        args[..3],
        ["quiesce".to_string(), ns.clone(), deployment.clone()]
    );
    let file = scratch_dir()
        .join("e2e-logs")
        .join(format!("{ns}-hook.json"));
    let list = json!({"apiVersion": "v1", "kind": "List",
                      "items": objects.iter().filter(|o| o["kind"] != "Job").collect::<Vec<_>>()});
    std::fs::write(&file, list.to_string()).unwrap();
    run(
        std::process::Command::new("kubectl").args(["apply", "-f", file.to_str().unwrap()]),
        "kubectl apply of the Deployment and the hook's RBAC",
    );
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &ns);
    let selector =
        format!("app.kubernetes.io/instance={ns},app.kubernetes.io/name=proxy-order-operator");
    env.wait_for("the operator's 2 Pods", 60, async || {
        let n = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .ok()?
            .items
            .len();
        (n == 2).then_some(())
    })
    .await;

    let kubeconfig = impersonating_kubeconfig(&ns, &hook_sa, &scratch_dir().join("e2e-logs"));
    let out = std::process::Command::new(operator_bin())
        .args(&args[..3])
        .arg("60")
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("quiesce: {stdout}{stderr}");
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("scaled to zero, its Pods gone"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    let scaled = Api::<Deployment>::namespaced(env.client.clone(), &ns)
        .get(&deployment)
        .await
        .unwrap();
    assert_eq!(scaled.spec.replicas, Some(0));
    assert!(
        pods.list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // A second run (a retried uninstall) finds nothing running; once the Deployment is
    // deleted there is nothing to stop. Both end well.
    let quiesce_again = || {
        let out = std::process::Command::new(operator_bin())
            .args(&args[..3])
            .arg("5")
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let again = quiesce_again();
    assert!(again.contains("its Pods gone after 0."), "{again}");
    Api::<Deployment>::namespaced(env.client.clone(), &ns)
        .delete(&deployment, &Default::default())
        .await
        .unwrap();
    let again = quiesce_again();
    assert!(again.contains("nothing to stop"), "{again}");
    env.finish().await;
}
