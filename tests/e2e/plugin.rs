//! The kubectl plugin (`kubectl-pxo`, plugin/) against the real API server and operator: what
//! `status` shows (and never shows), what each action asks of the operator and that the
//! operator then makes exactly the provider calls it says, and its errors. The plugin runs as
//! a process, as a user runs it: with KUBECONFIG, `-n <namespace>` and `--operator-namespace`
//! where the scenario's operator keeps its order claims (its `--namespace`).

use std::{path::Path, process::Stdio};

use k8s_openapi::api::{authentication::v1::TokenRequest, core::v1::ServiceAccount};
use kube::{Api, api::PostParams};
use serde_json::{Value, json};

use proxy_order_testkit::tenancy::{Tenancy, hold_above_a_providers_limit};
use proxy_order_testkit::*;
use proxy_solutions_sim::SimConfig;

const APPROVE: &str = "proxy-solutions.net/approve";
const ROTATE: &str = "proxy-solutions.net/rotate-password";
const SYNC: &str = "proxy-solutions.net/sync-requested-at";
const PAUSED: &str = "proxy-solutions.net/paused";

/// How one run of the plugin ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Fails unless it exited 0; its stdout.
    fn ok(self, what: &str) -> String {
        assert_eq!(self.code, Some(0), "{what}: {self:#?}");
        self.stdout
    }

    /// Fails unless it exited 1 with an `error: ` line on stderr containing `want`.
    fn failed_with(&self, what: &str, want: &str) {
        assert_eq!(self.code, Some(1), "{what}: {self:#?}");
        assert!(
            self.stderr.starts_with("error: ") && self.stderr.contains(want),
            "{what}: stderr should start with \"error: \" and contain {want:?}: {self:#?}"
        );
    }
}

/// Runs `program` with `args`, stdin not a terminal (closed), the plugin's own environment
/// variable for the operator namespace unset (the command line says it).
async fn run_process(program: &Path, args: Vec<String>, path: Option<String>) -> Run {
    let program = program.to_path_buf();
    let shown = format!("{} {}", program.display(), args.join(" "));
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(&program);
        cmd.args(&args)
            .env_remove("PXO_OPERATOR_NAMESPACE")
            .stdin(Stdio::null());
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{shown}: {e}"))
}

/// `kubectl-pxo -n <ns> --operator-namespace <ns> ARGS` with the test's KUBECONFIG.
async fn pxo(env: &Env, args: &[&str]) -> Run {
    pxo_as(None, &env.ns, &env.ns, args).await
}

/// `kubectl-pxo -n NS --operator-namespace OPERATOR_NS ARGS`, with `kubeconfig` if given (else
/// the test's KUBECONFIG).
async fn pxo_as(kubeconfig: Option<&Path>, ns: &str, operator_ns: &str, args: &[&str]) -> Run {
    let mut all: Vec<String> = ["-n", ns, "--operator-namespace", operator_ns]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(file) = kubeconfig {
        all.extend(["--kubeconfig".to_string(), file.display().to_string()]);
    }
    all.extend(args.iter().map(|s| s.to_string()));
    run_process(&plugin_bin(), all, None).await
}

/// A copy of the test's kubeconfig that impersonates `user` (in group system:authenticated).
fn impersonating_user_kubeconfig(user: &str) -> std::path::PathBuf {
    let mut kc = kube::config::Kubeconfig::read_from(std::env::var("KUBECONFIG").unwrap()).unwrap();
    for named in kc.auth_infos.iter_mut() {
        if let Some(info) = named.auth_info.as_mut() {
            info.impersonate = Some(user.to_string());
            info.impersonate_groups = Some(vec!["system:authenticated".into()]);
        }
    }
    let path = scratch_dir()
        .join("e2e-logs")
        .join(format!("{user}-impersonating.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

/// `kubectl-pxo status NAME -o json`, parsed.
async fn status_json(env: &Env, name: &str) -> Value {
    let out = pxo(env, &["status", name, "-o", "json"])
        .await
        .ok("status -o json");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status -o json: {e}:\n{out}"))
}

/// The condition `type_` of a `status -o json` output, as (status, reason).
fn trace_condition(trace: &Value, type_: &str) -> (String, String) {
    let c = trace["conditions"]
        .as_array()
        .unwrap_or_else(|| panic!("no conditions: {trace:#}"))
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no condition {type_}: {trace:#}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["reason"].as_str().unwrap().to_string(),
    )
}

/// The annotation `key` of ProxyOrder `name`, if set.
async fn annotation(env: &Env, name: &str, key: &str) -> Option<String> {
    env.get(name).await.metadata.annotations?.get(key).cloned()
}

/// Password generations sent for `order` (change calls with `gen_password`).
async fn generations(env: &Env, order: u64) -> usize {
    env.change_calls(order)
        .await
        .iter()
        .filter(|c| c["body"]["gen_password"] == true)
        .count()
}

/// A kubeconfig for ServiceAccount `sa` of the scenario's namespace, which has no rights at
/// all: a token from a TokenRequest, the server and CA of the test's own kubeconfig.
async fn service_account_kubeconfig(env: &Env, sa: &str) -> std::path::PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(env.client.clone(), &env.ns);
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": sa}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"expirationSeconds": 600}})).unwrap();
    let issued = accounts
        .create_token_request(sa, &PostParams::default(), &request)
        .await
        .unwrap();
    let token = serde_json::to_value(&issued).unwrap()["status"]["token"]
        .as_str()
        .expect("a TokenRequest's token")
        .to_string();
    let own = kube::config::Kubeconfig::read_from(std::env::var("KUBECONFIG").unwrap()).unwrap();
    let context = own
        .contexts
        .iter()
        .find(|c| Some(&c.name) == own.current_context.as_ref())
        .and_then(|c| c.context.as_ref())
        .expect("the test kubeconfig's current context");
    let cluster = own
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .expect("the current context's cluster");
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": sa, "context": {"cluster": cluster.name, "user": sa}}],
        "current-context": sa,
    });
    let path = scratch_dir()
        .join("e2e-logs")
        .join(format!("{}-{sa}.kubeconfig", env.ns));
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// `status` in its three formats, through kubectl too, its errors, and `rotate`.
#[tokio::test]
async fn plugin_status_errors_and_rotate() {
    let env = Env::start("plugin-status").await;
    env.apply(
        "web",
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "password": {"generate": true}}),
    )
    .await;
    env.wait_ready("web").await;
    env.wait_for("an Event about web", 30, async || {
        (!env.events("web").await.is_empty()).then_some(())
    })
    .await;
    let password = env.secret_data("web-proxy").await.unwrap()["password"].clone();
    assert!(!password.is_empty());
    settle(1).await;
    let calls = env.requests().await.len();

    // status -o json: each part, as the API spells it.
    let trace = status_json(&env, "web").await;
    assert_eq!(trace["proxyOrder"]["namespace"], env.ns.as_str());
    assert_eq!(trace["proxyOrder"]["name"], "web");
    assert_eq!(trace["proxyOrder"]["orderId"], ACTIVE);
    assert_eq!(trace["proxyOrder"]["managementPolicy"], "Manage");
    assert_eq!(trace["proxyOrder"]["paused"], false);
    assert_eq!(trace["provider"]["kind"], "Secret", "{trace:#}");
    assert_eq!(
        (
            &trace["provider"]["keySecretNamespace"],
            &trace["provider"]["keySecretName"]
        ),
        (&json!(env.ns), &json!(KEY_SECRET)),
        "{trace:#}"
    );
    assert_eq!(trace["provider"]["key"], "api-key");
    assert!(trace["provider"]["error"].is_null(), "{trace:#}");
    assert_eq!(trace["secret"]["name"], "web-proxy");
    assert_eq!(trace["secret"]["exists"], true);
    assert!(
        trace["secret"]["keys"]
            .as_array()
            .unwrap()
            .contains(&json!("password")),
        "{trace:#}"
    );
    assert_eq!(
        trace_condition(&trace, "Ready"),
        ("True".into(), "Applied".into())
    );
    let claim = &trace["claim"];
    assert_eq!(claim["namespace"], env.ns.as_str(), "{trace:#}");
    assert!(
        claim["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("pxo-claim-")),
        "{trace:#}"
    );
    assert_eq!(claim["holder"], format!("{}/web", env.ns), "{trace:#}");
    assert_eq!(claim["orderId"], ACTIVE.to_string(), "{trace:#}");
    assert!(claim["error"].is_null(), "{trace:#}");
    assert!(
        !trace["events"]["latest"].as_array().unwrap().is_empty(),
        "at least one Event: {trace:#}"
    );
    assert!(trace["events"]["error"].is_null(), "{trace:#}");
    assert_eq!(trace["heldChanges"], json!([]), "{trace:#}");

    // The tree and YAML say the same.
    let tree = pxo(&env, &["status", "web"]).await.ok("status");
    for want in [
        format!("ProxyOrder {}/web  order {ACTIVE}  Manage", env.ns),
        format!("API key: Secret {}/{KEY_SECRET}, key api-key", env.ns),
        format!("Claim: Lease {}/pxo-claim-", env.ns),
        format!("held by {}/web", env.ns),
        "Secret web-proxy".to_string(),
        "password".to_string(),
        "Ready ".to_string(),
        "Events (latest ".to_string(),
    ] {
        assert!(tree.contains(&want), "{want:?} not in the tree:\n{tree}");
    }
    let yaml = pxo(&env, &["trace", "web", "-o", "yaml"])
        .await
        .ok("trace -o yaml");
    let from_yaml: Value =
        serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("-o yaml: {e}:\n{yaml}"));
    for part in ["proxyOrder", "provider", "claim", "secret"] {
        assert_eq!(from_yaml[part], trace[part], "{part} in YAML:\n{yaml}");
    }
    assert_eq!(
        trace_condition(&from_yaml, "Ready"),
        ("True".into(), "Applied".into())
    );

    // Never the password or the API key.
    let json_text = trace.to_string();
    for (format, out) in [("json", &json_text), ("tree", &tree), ("yaml", &yaml)] {
        assert!(
            !out.contains(&password),
            "the password is in -o {format}:\n{out}"
        );
        assert!(
            !out.contains(API_KEY),
            "the API key is in -o {format}:\n{out}"
        );
    }

    // Through kubectl, which finds kubectl-pxo on PATH.
    let dir = plugin_bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap()
    .into_string()
    .unwrap();
    // Without --operator-namespace: the claim is found in whichever namespace holds it.
    let args = ["pxo", "status", "web", "-n", &env.ns, "-o", "json"];
    let out = run_process(
        Path::new("kubectl"),
        args.iter().map(|s| s.to_string()).collect(),
        Some(path),
    )
    .await
    .ok("kubectl pxo status");
    let via_kubectl: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl pxo: {e}:\n{out}"));
    assert_eq!(via_kubectl["proxyOrder"], trace["proxyOrder"]);
    assert_eq!(via_kubectl["claim"], trace["claim"]);

    // Reading made no provider call.
    assert_eq!(
        env.requests().await.len(),
        calls,
        "status calls no provider"
    );

    // Errors: a missing object, a user without rights.
    pxo(&env, &["status", "nope"]).await.failed_with(
        "status nope",
        &format!("ProxyOrder {}/nope not found", env.ns),
    );
    let kubeconfig = service_account_kubeconfig(&env, "nobody").await;
    pxo(
        &env,
        &[
            "status",
            "web",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    )
    .await
    .failed_with(
        "status as a ServiceAccount without rights",
        &format!(
            "forbidden: you may not get proxyorders.proxy-solutions.net in namespace {} (RBAC)",
            env.ns
        ),
    );

    // rotate: one new generated password, for the token it wrote.
    let gens = generations(&env, ACTIVE).await;
    let out = pxo(&env, &["rotate", "web"]).await.ok("rotate");
    let token = annotation(&env, "web", ROTATE)
        .await
        .unwrap_or_else(|| panic!("rotate set no {ROTATE}: {out}"));
    assert!(out.contains(&token), "{out}");
    env.wait_for("the rotation of the plugin's token", 30, async || {
        let po = env.get("web").await;
        (po.status?.password_rotation.as_deref() == Some(token.as_str())).then_some(())
    })
    .await;
    let rotated = env
        .wait_for("a new password in the Secret", 30, async || {
            let pw = env.secret_data("web-proxy").await?["password"].clone();
            (pw != password).then_some(pw)
        })
        .await;
    settle(1).await;
    assert_eq!(
        generations(&env, ACTIVE).await,
        gens + 1,
        "one password generation"
    );
    assert_eq!(
        env.sim_order(ACTIVE).await["access"]["password"],
        rotated.as_str()
    );
    let after = pxo(&env, &["status", "web", "-o", "json"])
        .await
        .ok("status after rotate");
    assert!(!after.contains(&rotated), "{after}");

    // rotate refuses a password from a Secret and an observed order, and annotates nothing.
    env.put_secret("fixed-pw", "password", crate::PW_CANARY)
        .await;
    env.apply(
        "fixed",
        json!({"orderId": MOBILE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "password": {"secretKeyRef": {"name": "fixed-pw", "key": "password"}}}),
    )
    .await;
    pxo(&env, &["rotate", "fixed"]).await.failed_with(
        "rotate with password.secretKeyRef",
        "takes its password from Secret fixed-pw",
    );
    assert_eq!(annotation(&env, "fixed", ROTATE).await, None);
    env.apply(
        "watched",
        json!({"orderId": EXPIRED, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "managementPolicy": "Observe"}),
    )
    .await;
    pxo(&env, &["rotate", "watched"])
        .await
        .failed_with("rotate with Observe", "managementPolicy Observe");
    assert_eq!(annotation(&env, "watched", ROTATE).await, None);
    env.assert_no_leaks(&[&password, &rotated, crate::PW_CANARY])
        .await;
    env.finish().await;
}

/// `pause` and `resume`, `sync`, and `approve` of a change the cost guardrail holds back.
#[tokio::test]
async fn plugin_pause_resume_sync_and_approve() {
    let env = Env::start("plugin-actions").await;
    let spec = |port: u16| {
        json!({"orderId": ACTIVE, "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
               "port": port})
    };
    env.apply("p", spec(8610)).await;
    env.wait_ready("p").await;

    // pause: no provider call, even for an edit.
    let out = pxo(&env, &["pause", "p"]).await.ok("pause");
    assert!(out.contains(PAUSED), "{out}");
    assert_eq!(annotation(&env, "p", PAUSED).await.as_deref(), Some("true"));
    env.wait_condition("p", "Synced", "False", "Paused").await;
    let trace = status_json(&env, "p").await;
    assert_eq!(trace["proxyOrder"]["paused"], true, "{trace:#}");
    assert_eq!(
        trace_condition(&trace, "Synced"),
        ("False".into(), "Paused".into())
    );
    let tree = pxo(&env, &["status", "p"]).await.ok("status");
    assert!(tree.contains(", PAUSED"), "{tree}");
    let before = env.requests().await.len();
    env.apply("p", spec(8611)).await;
    settle(3).await;
    assert_eq!(
        env.requests().await.len(),
        before,
        "no provider call while paused: {:#?}",
        env.requests().await
    );

    // resume: the annotation goes and the edit is applied, with one call.
    let changes = env.changes_sent(ACTIVE).await.len();
    pxo(&env, &["resume", "p"]).await.ok("resume");
    assert_eq!(annotation(&env, "p", PAUSED).await, None);
    env.wait_condition("p", "Synced", "True", "Applied").await;
    assert_eq!(env.sim_order(ACTIVE).await["access"]["port"], 8611);
    let sent = env.changes_sent(ACTIVE).await;
    assert_eq!(sent.len(), changes + 1, "{sent:#?}");
    assert_eq!(body(sent.last().unwrap()), &json!({"port": 8611}));

    // sync: the order list is read again, for the plugin's token.
    let lists = env.list_calls().await;
    let out = pxo(&env, &["sync", "p"]).await.ok("sync");
    let token = annotation(&env, "p", SYNC)
        .await
        .unwrap_or_else(|| panic!("sync set no {SYNC}: {out}"));
    assert!(out.contains(&token), "{out}");
    env.wait_for("the sync of the plugin's token", 30, async || {
        let st = env.get("p").await.status?;
        (st.sync_requested.as_deref() == Some(token.as_str())).then_some(())
    })
    .await;
    assert!(
        env.list_calls().await > lists,
        "no order-list read after sync"
    );

    // approve: the guardrail holds a quantity increase above maxQuantity.
    let (_, want, hash) = env.hold_a_quantity_increase("g").await;
    let trace = status_json(&env, "g").await;
    assert_eq!(trace["heldChanges"][0]["hash"], hash.as_str(), "{trace:#}");

    // Without a terminal and without --yes: refused, nothing annotated, nothing sent.
    let refused = pxo(&env, &["approve", "g"]).await;
    refused.failed_with("approve without a terminal", "pass --yes");
    assert!(
        refused.stdout.contains(&hash),
        "the held change is shown: {refused:#?}"
    );
    assert_eq!(annotation(&env, "g", APPROVE).await, None);
    settle(1).await;
    assert_eq!(
        env.quantity_calls(EXPIRED).await,
        0,
        "a refused approve sends nothing"
    );

    // With --yes: the hash is the annotation, and the change is sent once.
    let out = pxo(&env, &["approve", "g", "--yes"])
        .await
        .ok("approve --yes");
    assert!(out.contains(&hash), "{out}");
    assert_eq!(
        annotation(&env, "g", APPROVE).await.as_deref(),
        Some(hash.as_str())
    );
    let po = env.wait_condition("g", "Synced", "True", "Applied").await;
    assert!(po.status.unwrap().planned_changes.is_empty());
    settle(1).await;
    assert_eq!(
        env.quantity_calls(EXPIRED).await,
        1,
        "exactly one quantity call"
    );
    assert_eq!(
        env.sim_order(EXPIRED).await["quantity"].as_u64(),
        Some(want)
    );
    let trace = status_json(&env, "g").await;
    assert_eq!(trace["heldChanges"], json!([]), "{trace:#}");
    let tree = pxo(&env, &["status", "g"]).await.ok("status");
    assert!(!tree.contains("Held changes"), "{tree}");
    env.finish().await;
}

/// A change above a ProxyProvider's `maxQuantity`: the tenant's `approve` says the approval
/// belongs on the ProxyProvider and approves nothing, the tenant may not annotate the
/// ProxyProvider (`--on-provider` is refused by RBAC), the tenant's `status` shows what it may
/// read and names what it may not; an administrator's `approve --on-provider` sends exactly one
/// provider call.
#[tokio::test]
async fn plugin_approval_above_a_providers_limit_is_the_administrators() {
    let mut t = Tenancy::start("pxo-limit", SimConfig::default(), &[]).await;
    let ns = t.namespace("a", json!({})).await;
    let operator_ns = t.env.ns.clone();
    let (provider, _, want, hash) = hold_above_a_providers_limit(&mut t, &ns, "big").await;

    // The tenant: edit rights in its namespace and nothing else.
    let user = format!("tenant-{}", t.id);
    t.tenant_client(&ns, &user).await;
    let tenant = impersonating_user_kubeconfig(&user);
    let refused = pxo_as(
        Some(&tenant),
        &ns,
        &operator_ns,
        &["approve", "big", "--yes"],
    )
    .await;
    refused.failed_with("a tenant's approve", "approved on their ProxyProvider");
    for want in [
        "belongs on the ProxyProvider".to_string(),
        format!("kubectl pxo approve big -n {ns} --on-provider --hash {hash}"),
    ] {
        assert!(refused.stdout.contains(&want), "{want:?}: {refused:#?}");
    }
    let on_provider = pxo_as(
        Some(&tenant),
        &ns,
        &operator_ns,
        &["approve", "big", "--yes", "--on-provider"],
    )
    .await;
    on_provider.failed_with(
        "a tenant's approve --on-provider",
        &format!(
            "forbidden: you may not patch proxyproviders.proxy-solutions.net {provider} (RBAC)"
        ),
    );
    let annotations = t
        .get(&ns, "big")
        .await
        .metadata
        .annotations
        .unwrap_or_default();
    assert_eq!(annotations.get(APPROVE), None, "nothing annotated");
    assert_eq!(t.env.quantity_calls(EXPIRED).await, 0, "nothing sent");

    // What the tenant's status shows: its own objects, and what it may not read named.
    let out = pxo_as(
        Some(&tenant),
        &ns,
        &operator_ns,
        &["status", "big", "-o", "json"],
    )
    .await
    .ok("the tenant's status");
    let trace: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(trace["provider"]["kind"], "ProxyProvider", "{trace:#}");
    let denied = |part: &str| {
        trace[part]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        denied("provider").starts_with("forbidden: you may not get proxyproviders"),
        "{trace:#}"
    );
    assert!(
        denied("claim").starts_with("forbidden: you may not list leases"),
        "{trace:#}"
    );
    assert_eq!(trace["heldChanges"][0]["hash"], hash.as_str(), "{trace:#}");
    assert_eq!(trace["secret"]["exists"], true, "{trace:#}");

    // A user with the built-in view role, which may not read Secrets: the Secret is named as
    // unreadable (not as missing), and the rest is shown.
    let viewer = format!("viewer-{}", t.id);
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "pxo-viewer", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": viewer}],
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(t.client(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let viewing = impersonating_user_kubeconfig(&viewer);
    let trace: Value = t
        .env
        .wait_for("the viewer may read the ProxyOrder", 30, async || {
            let run = pxo_as(
                Some(&viewing),
                &ns,
                &operator_ns,
                &["status", "big", "-o", "json"],
            )
            .await;
            (run.code == Some(0)).then(|| serde_json::from_str(&run.stdout).unwrap())
        })
        .await;
    assert!(trace["secret"]["exists"].is_null(), "{trace:#}");
    assert!(
        trace["secret"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("forbidden: you may not get secrets")),
        "{trace:#}"
    );
    assert!(
        trace["events"]["error"].is_null(),
        "the view role reads Events: {trace:#}"
    );
    assert_eq!(trace["proxyOrder"]["name"], "big", "{trace:#}");
    let tree = pxo_as(Some(&viewing), &ns, &operator_ns, &["status", "big"])
        .await
        .ok("the viewer's status");
    assert!(
        tree.contains("Secret big-proxy: could not be read"),
        "{tree}"
    );

    // The administrator approves it on the ProxyProvider: exactly one call.
    let out = pxo_as(
        None,
        &ns,
        &operator_ns,
        &["approve", "big", "--yes", "--on-provider"],
    )
    .await
    .ok("the administrator's approve --on-provider");
    assert!(
        out.contains(&format!(
            "Annotated ProxyProvider {provider} proxy-solutions.net/approve={hash}"
        )),
        "{out}"
    );
    let po = t
        .env
        .wait_condition_in(&ns, "big", "Synced", "True", "Applied")
        .await;
    assert!(po.status.unwrap().planned_changes.is_empty());
    settle(1).await;
    assert_eq!(
        t.env.quantity_calls(EXPIRED).await,
        1,
        "exactly one quantity call"
    );
    assert_eq!(
        t.env.sim_order(EXPIRED).await["quantity"].as_u64(),
        Some(want)
    );
    t.finish().await;
}
