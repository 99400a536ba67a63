//! The baseline: N plain Secrets created against the same API server with the same
//! concurrency, with the operator stopped, to compare convergence with.

use std::time::Duration;

use anyhow::{Context as _, Result};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, Client, api::PostParams};
use proxy_order_testkit::run_on_tasks;
use serde_json::json;

use crate::{CREATE_PORT, CREATE_TASKS, FIRST_ID, cluster::create_bench_namespace};

/// Creates the namespace `plain_ns` and N Secrets like the operator's in it; returns how long
/// the creates took.
pub(crate) async fn plain_secrets(n: usize, client: &Client, plain_ns: &str) -> Result<Duration> {
    create_bench_namespace(client, plain_ns).await?;
    eprintln!("bench: baseline, creating {n} plain Secrets in {plain_ns}");
    let plain: Api<Secret> = Api::namespaced(client.clone(), plain_ns);
    run_on_tasks(n, CREATE_TASKS, move |i| {
        let plain = plain.clone();
        async move {
            let s: Secret = serde_json::from_value(json!({
                "metadata": {"name": format!("plain-{i}")},
                "data": {
                    "login": ByteString(format!("user{}", FIRST_ID + i as u64).into_bytes()),
                    "password": ByteString(b"bench-password-0123456789".to_vec()),
                    "port": ByteString(CREATE_PORT.to_string().into_bytes()),
                },
            }))?;
            plain
                .create(&PostParams::default(), &s)
                .await
                .with_context(|| format!("creating plain Secret {i}"))?;
            Ok(())
        }
    })
    .await
}
