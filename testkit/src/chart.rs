//! The Helm chart as the scenarios install it (rendered and applied with kubectl), and a
//! kubeconfig that impersonates the chart's ServiceAccount.

use std::{path::PathBuf, process::Command};

use serde::Deserialize;

use crate::{scratch_dir, workspace_root};

fn chart_dir() -> PathBuf {
    workspace_root().join("charts/proxy-order-operator")
}

/// Where a scenario's rendered chart goes, beside its operator log.
fn rendered_chart(ns: &str) -> PathBuf {
    scratch_dir()
        .join("e2e-logs")
        .join(format!("{ns}-chart.yaml"))
}

pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Renders the chart (without CRDs; the tests install those) as release `ns` into namespace
/// `ns`, with `sets` as extra `--set` values, applies it, and returns the name of its
/// ServiceAccount.
pub fn install_chart(ns: &str, sets: &[&str]) -> String {
    let mut helm = Command::new("helm");
    helm.args([
        "template",
        ns,
        chart_dir().to_str().unwrap(),
        "--namespace",
        ns,
        "--set",
        "installCrds=false",
        // The `helm test` Pod is no part of the installation (and creating it races with the
        // namespace's default ServiceAccount), nor is the uninstall hook.
        "--skip-tests",
        "--no-hooks",
    ]);
    for set in sets {
        helm.args(["--set", set]);
    }
    let rendered = run(&mut helm, "helm template");
    let file = rendered_chart(ns);
    std::fs::write(&file, rendered).unwrap();
    // Every object the chart renders names its namespace (some are outside the release's,
    // e.g. the Roles of providerKeyNamespaces).
    let applied = run(
        Command::new("kubectl").args(["apply", "-o", "name", "-f", file.to_str().unwrap()]),
        "kubectl apply of the chart",
    );
    applied
        .lines()
        .find_map(|l| l.strip_prefix("serviceaccount/"))
        .expect("the chart renders a ServiceAccount")
        .to_string()
}

pub fn uninstall_chart(ns: &str) {
    let _ = Command::new("kubectl")
        .args(["delete", "--ignore-not-found", "--wait=false", "-f"])
        .arg(rendered_chart(ns))
        .output();
}

/// A copy of the test's kubeconfig whose user impersonates the ServiceAccount `ns/sa`, with the
/// groups Kubernetes gives ServiceAccounts.
pub fn impersonating_kubeconfig(ns: &str, sa: &str, dir: &std::path::Path) -> PathBuf {
    let path = std::env::var("KUBECONFIG").unwrap();
    let mut kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    for named in kc.auth_infos.iter_mut() {
        if let Some(info) = named.auth_info.as_mut() {
            info.impersonate = Some(format!("system:serviceaccount:{ns}:{sa}"));
            info.impersonate_groups = Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ]);
        }
    }
    let out = dir.join(format!("{ns}-impersonating.kubeconfig"));
    std::fs::write(&out, serde_yaml::to_string(&kc).unwrap()).unwrap();
    out
}

/// The chart rendered as release `ns` into namespace `ns` with `sets`, only the templates
/// `show_only` (e.g. `templates/uninstall-hook.yaml`), hooks included, as one document per
/// object.
pub fn render_only(ns: &str, sets: &[&str], show_only: &[&str]) -> Vec<serde_json::Value> {
    let mut helm = Command::new("helm");
    helm.args([
        "template",
        ns,
        chart_dir().to_str().unwrap(),
        "--namespace",
        ns,
    ]);
    for set in sets {
        helm.args(["--set", set]);
    }
    for template in show_only {
        helm.args(["--show-only", template]);
    }
    let rendered = run(&mut helm, "helm template");
    serde_yaml::Deserializer::from_str(&rendered)
        .filter_map(|doc| {
            let value = serde_json::Value::deserialize(doc).expect("helm renders YAML");
            (!value.is_null()).then_some(value)
        })
        .collect()
}
