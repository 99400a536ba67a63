use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tracing::info;

use clap::Parser;
use proxy_order_operator::{
    config::Config,
    controller,
    leader::{self, Fence, LeaderConfig, Standing},
    server, telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `healthcheck URL`: the chart's `helm test` Pod, from this image (src/healthcheck.rs).
    if let Some(code) =
        proxy_order_operator::healthcheck::from_args(&std::env::args().collect::<Vec<_>>())
    {
        std::process::exit(code);
    }
    // `quiesce NAMESPACE DEPLOYMENT`: the chart's pre-delete hook, from this image
    // (src/quiesce.rs).
    if let Some(code) =
        proxy_order_operator::quiesce::from_args(&std::env::args().collect::<Vec<_>>()).await
    {
        std::process::exit(code);
    }
    let config = Config::parse();
    telemetry::init(config.log_format);
    proxy_order_operator::failpoint::warn_if_unavailable();
    proxy_order_operator::provider::client::install_crypto_provider();
    let client = kube::Client::try_default().await?;
    tracing::info!(
        provider_url = %redacted_url(&config.provider.provider_url),
        namespace = config.namespace.as_deref().unwrap_or("<all>"),
        refresh_interval = ?config.refresh_interval,
        leader_election = config.leader_election,
        "starting proxy-order-operator"
    );
    // With leader election, the lease must outlast any provider call a leader starts.
    let timing = if config.leader_election {
        let timeout = config.provider.config().request_timeout;
        Some(LeaderConfig::timing(config.lease_duration, timeout).map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let fence = Arc::new(if config.leader_election {
        Fence::closed()
    } else {
        Fence::open()
    });
    // Set at SIGTERM or Ctrl-C, from then on: a replica waiting for leadership stops at once
    // (its Pod need not wait out the grace period) and never takes the lease any more.
    let stopping = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(tokio::sync::Notify::new());
    tokio::spawn({
        let (stopping, stop) = (stopping.clone(), stop.clone());
        async move {
            terminated().await;
            stopping.store(true, Ordering::Relaxed);
            stop.notify_waiters();
        }
    });
    let (handle, controller) =
        controller::run(config.clone(), client.clone(), fence.clone()).await?;
    let standing = Arc::new(if config.leader_election {
        Standing::standby()
    } else {
        Standing::active()
    });
    let server = tokio::spawn(server::serve(
        config.metrics_addr,
        handle.store,
        handle.metrics,
        standing.clone(),
    ));

    let lease = timing.map(|(guard, retry_period)| LeaderConfig {
        namespace: config
            .leader_election_namespace
            .clone()
            .or_else(|| config.namespace.clone())
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".to_string()),
        name: config.lease_name.clone(),
        identity: std::env::var("POD_NAME").unwrap_or_else(|_| {
            format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "operator".into()),
                std::process::id()
            )
        }),
        lease_duration: config.lease_duration,
        retry_period,
        guard,
    });

    let lost = async {
        match &lease {
            Some(l) => leader::hold(client.clone(), l, &fence).await,
            None => std::future::pending().await,
        }
    };
    let run = async {
        if let Some(l) = &lease {
            let waiting = stop.notified();
            let acquired = tokio::select! {
                acquired = leader::acquire(client.clone(), l, &fence, &standing, &stopping) => acquired,
                () = waiting => false,
            };
            if !acquired || stopping.load(Ordering::Relaxed) {
                info!("stopping while waiting for leadership");
                return Ok(());
            }
        }
        tokio::select! {
            _ = controller => Ok(()),
            _ = lost => Err(anyhow::anyhow!("leadership lost; exiting so that only one replica acts")),
        }
    };
    let result = tokio::select! {
        r = run => r,
        r = server => Err(anyhow::anyhow!("metrics server stopped: {r:?}")),
    };
    if let Some(l) = &lease {
        fence.close();
        leader::release(client, l).await;
    }
    result
}

/// Resolves at the first SIGTERM or SIGINT.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The URL without any user-info (`user:password@`), for logging.
fn redacted_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}
