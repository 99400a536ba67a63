use clap::Parser;
use proxy_order_operator::{config::Config, controller, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    proxy_order_operator::provider::client::install_crypto_provider();
    let client = kube::Client::try_default().await?;
    tracing::info!(
        provider_url = %config.provider.provider_url,
        namespace = config.namespace.as_deref().unwrap_or("<all>"),
        refresh_interval = ?config.refresh_interval,
        "starting proxy-order-operator"
    );
    let (handle, controller) = controller::run(config.clone(), client).await?;
    let server = server::serve(config.metrics_addr, handle.store, handle.metrics);
    tokio::select! {
        _ = controller => Ok(()),
        res = server => Err(anyhow::anyhow!("metrics server stopped: {res:?}")),
    }
}
