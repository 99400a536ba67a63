//! `proxy-solutions-sim`: an HTTP server that simulates the proxy-solutions client API for
//! tests, demos and benchmarks (see `docs/simulator.md`).
//!
//! - [`Simulator::start`] binds a listener and serves in a background task.
//! - The provider API lives under `/api` ([`Simulator::base_url`]), the admin API under `/_sim`
//!   ([`Simulator::admin_url`]).
//! - The provider's rules are pure functions in [`rules`]; the in-memory world is [`state`].
//! - With [`SimConfig::proxy_listeners`] on, every active order's proxies are real HTTP
//!   proxies on loopback addresses ([`proxy`]).
//!
//! Connections are served with hyper directly (HTTP/1.1) so a fault can close a connection
//! without an answer, which an axum handler alone cannot do.

pub mod admin;
pub mod api;
pub mod faults;
pub mod proxy;
pub mod record;
pub mod respond;
pub mod rules;
pub mod seed;
pub mod state;
pub mod wire;

use std::{
    io,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::Request,
    middleware,
    routing::{any, get, post},
};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, MutexGuard};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tower::ServiceExt;

pub use faults::{FaultSpec, FaultTarget};
pub use record::RequestRecord;
pub use rules::{RuleOptions, ValidationErrors};
pub use seed::{SeedError, example_orders, generate_orders, load_orders_file, parse_orders};
pub use state::SimState;

use proxy_solutions_wire::AuthScheme;

use crate::wire::Order;

/// API key accepted by [`SimConfig::default`].
pub const DEFAULT_API_KEY: &str = "sim-api-key";

/// How long [`Simulator::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the simulator starts with.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Accepted API keys.
    pub api_keys: Vec<String>,
    /// Accept any non-empty key (demos). The key must still be sent in the configured place.
    pub allow_any_key: bool,
    /// Where the key travels (same setting as the operator's client).
    pub auth: AuthScheme,
    /// Seed orders; orders without `access`/`proxies` get them filled in.
    pub orders: Vec<Order>,
    /// Whether `GET /api/user/orders` includes `access` and `proxies` (the provider's
    /// examples do not show them).
    pub list_includes_access: bool,
    /// Whether an empty change body (`{}`) reads the order (true) or is a 422 (false).
    pub empty_change_is_read: bool,
    /// The request log keeps at most this many requests (oldest dropped first).
    pub max_recorded_requests: usize,
    /// Serve a real HTTP proxy (CONNECT only) on every address of every active order, at the
    /// order's port, accepting exactly the order's current credentials or allow-listed client
    /// addresses. Addresses then come from a loopback block (127.B.0.1 upward) and seed
    /// addresses outside 127.0.0.0/8 are replaced. Off by default: one listener per address.
    pub proxy_listeners: bool,
    /// With proxy listeners: every proxy's address is this one (e.g. the simulator Pod's own,
    /// so that other Pods of a cluster reach the proxies), orders told apart by their port,
    /// instead of a loopback block.
    pub proxy_ip: Option<Ipv4Addr>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_keys: vec![DEFAULT_API_KEY.to_string()],
            allow_any_key: false,
            auth: AuthScheme::default(),
            orders: example_orders(),
            list_includes_access: false,
            empty_change_is_read: true,
            max_recorded_requests: 100_000,
            proxy_listeners: false,
            proxy_ip: None,
        }
    }
}

/// The read-only part of the configuration, used by the handlers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub api_keys: Vec<String>,
    pub allow_any_key: bool,
    pub auth: AuthScheme,
    pub list_includes_access: bool,
    pub rules: RuleOptions,
}

/// State shared by all handlers: settings plus the one mutex over the world, and the proxy
/// listeners when they are on.
pub(crate) struct Shared {
    pub settings: Settings,
    state: Mutex<SimState>,
    pub proxies: Option<proxy::ProxyListeners>,
}

impl Shared {
    /// Locks the state. A panic while holding the lock does not make it unusable (parking_lot
    /// locks are not poisoned).
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock()
    }

    /// Brings the proxy listeners of `ids` in line with the state (nothing when listeners are
    /// off). Every handler that changes an order awaits this before it answers.
    pub async fn sync_proxies(
        self: &Arc<Self>,
        ids: impl IntoIterator<Item = u64>,
    ) -> Vec<proxy::BindFailure> {
        match &self.proxies {
            Some(proxies) => proxies.sync(self, ids).await,
            None => Vec::new(),
        }
    }
}

/// Builds the router: `/api` (provider API, behind the recording/fault/auth middleware) and
/// `/_sim` (admin API).
fn router(shared: Arc<Shared>) -> Router {
    let provider = Router::new()
        .route("/api/user/orders", get(api::list_orders))
        .route("/api/user/orders/{id}", post(api::change_order))
        .route("/api/user/orders/{id}/perform", post(api::perform))
        .route("/api/user/orders/{id}/charge", post(api::charge))
        .route("/api", any(api::not_found))
        .route("/api/", any(api::not_found))
        .route("/api/{*rest}", any(api::not_found))
        .method_not_allowed_fallback(respond_405)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            api::middleware,
        ));
    let admin = Router::new()
        .route("/_sim/healthz", get(admin::healthz))
        .route("/_sim/orders", get(admin::list_orders))
        .route(
            "/_sim/orders/{id}",
            get(admin::get_order)
                .put(admin::put_order)
                .delete(admin::delete_order),
        )
        .route("/_sim/orders/{id}/status", post(admin::set_status))
        .route(
            "/_sim/proxy-connects",
            get(admin::list_proxy_connects).delete(admin::clear_proxy_connects),
        )
        .route("/_sim/proxy-listeners", get(admin::list_proxy_listeners))
        .route(
            "/_sim/requests",
            get(admin::list_requests).delete(admin::clear_requests),
        )
        .route(
            "/_sim/faults",
            get(admin::list_faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        )
        .route(
            "/_sim/faults/{id}",
            axum::routing::delete(admin::delete_fault),
        )
        .method_not_allowed_fallback(respond_405);
    provider
        .merge(admin)
        .fallback(fallback_404)
        .with_state(shared)
}

async fn respond_405() -> axum::response::Response {
    respond::method_not_allowed()
}

async fn fallback_404() -> axum::response::Response {
    respond::not_found()
}

/// Error a connection's service returns to make hyper close the connection unanswered.
#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for ConnectionDropped {}

/// Serves one TCP connection (HTTP/1.1) until it ends or the simulator shuts down.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        async move {
            let resp = router
                .oneshot(req.map(Body::new))
                .await
                .unwrap_or_else(|never| match never {});
            if resp.extensions().get::<api::DropConnection>().is_some() {
                Err(ConnectionDropped)
            } else {
                Ok(resp)
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(target: "proxy_solutions_sim", error = %e, "connection ended");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, router.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // E.g. too many open files: back off instead of spinning.
                    tracing::warn!(target: "proxy_solutions_sim", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// A running simulator. Dropping the handle stops the server as well; [`Simulator::shutdown`]
/// additionally waits for it to finish.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Binds `listen` (use port 0 for a free port), seeds the orders and serves in a spawned
    /// task. Returns once the listener is bound. Fails if binding fails or the seed is invalid
    /// (duplicate ids, address pool exhausted). With proxy listeners on, also returns once
    /// every seed order's listeners are bound, and fails if one cannot be.
    pub async fn start(config: SimConfig, listen: SocketAddr) -> io::Result<Simulator> {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let proxies = if config.proxy_listeners {
            Some(proxy::ProxyListeners::new(
                shutdown_rx.clone(),
                config.proxy_ip,
            )?)
        } else {
            None
        };
        let pool = proxies.as_ref().map(|p| p.pool()).unwrap_or_default();
        let state = SimState::with_pool(config.orders, config.max_recorded_requests, pool)
            .map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("invalid seed: {e}"))
            })?;
        let shared = Arc::new(Shared {
            settings: Settings {
                api_keys: config.api_keys,
                allow_any_key: config.allow_any_key,
                auth: config.auth,
                list_includes_access: config.list_includes_access,
                rules: RuleOptions {
                    empty_change_is_read: config.empty_change_is_read,
                },
            },
            state: Mutex::new(state),
            proxies,
        });
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let ids: Vec<u64> = shared.lock().orders().map(|o| o.id).collect();
        if let Some(failure) = shared.sync_proxies(ids).await.into_iter().next() {
            if let Some(proxies) = &shared.proxies {
                proxies.stop_all().await;
            }
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                failure.to_string(),
            ));
        }
        let task = tokio::spawn(accept_loop(listener, router(shared.clone()), shutdown_rx));
        Ok(Simulator {
            addr,
            shared,
            shutdown,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the provider API (`http://ADDR/api`), what the operator's client uses.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Base URL of the admin API (`http://ADDR/_sim`).
    pub fn admin_url(&self) -> String {
        format!("http://{}/_sim", self.addr)
    }

    /// Number of orders held.
    pub fn order_count(&self) -> usize {
        self.shared.lock().len()
    }

    /// One order as stored (with `access` and `proxies`).
    pub fn order(&self, id: u64) -> Option<Order> {
        self.shared.lock().get(id).cloned()
    }

    /// Creates or replaces an order, like `PUT /_sim/orders/{id}` (its proxy listeners
    /// included).
    pub async fn put_order(&self, order: Order) -> Result<Order, ValidationErrors> {
        let id = order.id;
        let stored = self.shared.lock().put_order(order).map(|(o, _)| o);
        self.shared.sync_proxies([id]).await;
        stored
    }

    /// The CONNECT counts of an order's proxy listeners, like `GET /_sim/proxy-connects`;
    /// `None` when proxy listeners are off.
    pub fn proxy_connects(&self, id: u64) -> Option<proxy::ConnectCounts> {
        let proxies = self.shared.proxies.as_ref()?;
        proxies.connects(Some(id)).first().map(|e| e.counts)
    }

    /// Injects a fault, as `POST /_sim/faults` does.
    pub fn add_fault(&self, spec: FaultSpec) -> faults::Fault {
        self.shared.lock().faults.add(spec)
    }

    /// The provider-API requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.list(None)
    }

    /// Stops accepting connections, lets open ones finish (up to 5 s) and waits for the server
    /// task. Proxy listeners are closed (and their tunnels ended) before it returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Some(proxies) = &self.shared.proxies {
            proxies.stop_all().await;
        }
        let _ = self.task.await;
    }
}
