//! `proxy-solutions-sim`: runs the proxy-solutions API simulator (see `docs/simulator.md`).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, ValueEnum};
use proxy_solutions_sim::{
    SimConfig, Simulator, example_orders, generate_orders, load_orders_file,
};
use proxy_solutions_wire::AuthArgs;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Simulates the proxy-solutions client API (v3) for tests, demos and benchmarks.
///
/// The provider API is served under /api, the admin API (no auth, keep it on loopback) under
/// /_sim.
#[derive(Debug, Parser)]
#[command(name = "proxy-solutions-sim", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Accepted API key (repeatable). SIM_API_KEYS takes a comma-separated list.
    #[arg(
        long = "api-key",
        env = "SIM_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Vec<String>,

    /// Accept any non-empty API key (demos only).
    #[arg(long)]
    allow_any_key: bool,

    #[command(flatten)]
    auth: AuthArgs,

    /// YAML or JSON file with the orders to start with (provider order shape, including
    /// `access` and `proxies`). Without it the example orders are seeded.
    #[arg(long, value_name = "FILE")]
    orders: Option<PathBuf>,

    /// Additionally seed N active City orders (ids from 100000, one proxy each).
    #[arg(long, value_name = "N", default_value_t = 0)]
    generate: u32,

    /// Include `access` and `proxies` in GET /api/user/orders.
    #[arg(long)]
    list_includes_access: bool,

    /// Answer an empty change body (`{}`) with 422 instead of the current order.
    #[arg(long)]
    empty_change_is_error: bool,

    /// Serve a real HTTP proxy (CONNECT only) on every address of every active order, at the
    /// order's port, accepting exactly the order's current login/password or allow-listed
    /// client addresses. Proxy addresses then come from a loopback block (127.B.0.1 upward).
    #[arg(long, env = "SIM_PROXY_LISTENERS")]
    proxy_listeners: bool,

    /// With --proxy-listeners: serve every proxy on this one address (e.g. the Pod's own, from
    /// the downward API) instead of a loopback block, so that other Pods reach the proxies;
    /// orders are told apart by their port.
    #[arg(long, env = "SIM_PROXY_IP", requires = "proxy_listeners")]
    proxy_ip: Option<std::net::Ipv4Addr>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn config(cli: &Cli) -> Result<SimConfig, String> {
    let api_keys: Vec<String> = cli
        .api_keys
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if api_keys.is_empty() && !cli.allow_any_key {
        return Err(
            "no API key configured: pass --api-key KEY (or SIM_API_KEYS=k1,k2), or \
             --allow-any-key for a demo"
                .into(),
        );
    }
    let mut orders = match &cli.orders {
        Some(path) => load_orders_file(path).map_err(|e| e.to_string())?,
        None => example_orders(),
    };
    orders.extend(generate_orders(cli.generate));
    Ok(SimConfig {
        api_keys,
        allow_any_key: cli.allow_any_key,
        auth: cli.auth.scheme(),
        orders,
        list_includes_access: cli.list_includes_access,
        empty_change_is_read: !cli.empty_change_is_error,
        proxy_listeners: cli.proxy_listeners,
        proxy_ip: cli.proxy_ip,
        ..SimConfig::default()
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let config = match config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("proxy-solutions-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start(config, cli.listen).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("proxy-solutions-sim: cannot start on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    println!(
        "proxy-solutions-sim listening on {} (API {}, admin {}) with {} orders",
        sim.addr(),
        sim.base_url(),
        sim.admin_url(),
        sim.order_count()
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    ExitCode::SUCCESS
}
