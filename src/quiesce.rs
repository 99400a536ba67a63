//! `proxy-order-operator quiesce NAMESPACE DEPLOYMENT [SECONDS]`: scale the operator's
//! Deployment to zero and wait until its Pods are gone. The chart runs it as a `pre-delete` hook
//! of `helm uninstall`, from the operator's own image: Helm deletes a release's objects without
//! waiting for its Pods, so a leader stopping after its Role and ServiceAccount are gone could
//! not give its Lease up, and a re-install would wait a whole lease duration for it. Stopped
//! first, while its permissions still hold, it gives the Lease up as it ends. The uninstall goes
//! on whatever happens here (a failure is printed; the Lease then expires as it would).

use std::time::Duration;

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams},
};

/// How long the Pods are waited for unless the command line says.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// Runs the subcommand when the first argument is `quiesce`: `Some(exit code)`, or `None` for
/// the operator's usual command line.
pub async fn from_args(args: &[String]) -> Option<i32> {
    if args.get(1).map(String::as_str) != Some("quiesce") {
        return None;
    }
    let (ns, name, wait) = match &args[2..] {
        [ns, name] => (ns, name, DEFAULT_WAIT),
        [ns, name, secs] => match secs.parse() {
            Ok(s) => (ns, name, Duration::from_secs(s)),
            Err(_) => return Some(usage()),
        },
        _ => return Some(usage()),
    };
    let client = match Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("quiesce: no Kubernetes client: {e}");
            return Some(0);
        }
    };
    match run(client, ns, name, wait).await {
        Ok(message) => println!("quiesce: {message}"),
        Err(e) => eprintln!("quiesce: {e}; the uninstall goes on"),
    }
    Some(0)
}

fn usage() -> i32 {
    eprintln!("usage: proxy-order-operator quiesce NAMESPACE DEPLOYMENT [SECONDS]");
    2
}

/// Scales Deployment `ns/name` to zero replicas and waits up to `wait` for its Pods to end.
pub async fn run(client: Client, ns: &str, name: &str, wait: Duration) -> Result<String, String> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let Some(deployment) = deployments.get_opt(name).await.map_err(|e| e.to_string())? else {
        return Ok(format!("no Deployment {ns}/{name}: nothing to stop"));
    };
    let selector = deployment
        .spec
        .selector
        .match_labels
        .as_ref()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("Deployment {ns}/{name} has no matchLabels"))?;
    deployments
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 0}})),
        )
        .await
        .map_err(|e| format!("scaling {ns}/{name} to zero: {e}"))?;
    let pods: Api<Pod> = Api::namespaced(client, ns);
    let started = tokio::time::Instant::now();
    loop {
        let left = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| format!("listing the Pods of {ns}/{name}: {e}"))?
            .items
            .len();
        if left == 0 {
            return Ok(format!(
                "Deployment {ns}/{name} scaled to zero, its Pods gone after {:.1}s",
                started.elapsed().as_secs_f64()
            ));
        }
        if started.elapsed() >= wait {
            return Err(format!(
                "{left} Pods of {ns}/{name} still there after {}s",
                wait.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_subcommand_is_taken_and_its_arguments_are_checked() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(from_args(&args(&["op", "--namespace", "x"])).await, None);
        assert_eq!(from_args(&args(&["op"])).await, None);
        assert_eq!(from_args(&args(&["op", "quiesce"])).await, Some(2));
        assert_eq!(from_args(&args(&["op", "quiesce", "ns"])).await, Some(2));
        assert_eq!(
            from_args(&args(&["op", "quiesce", "ns", "name", "soon"])).await,
            Some(2)
        );
    }
}
