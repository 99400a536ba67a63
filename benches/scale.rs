//! Scale benchmark: N ProxyOrders against the real API server (KUBECONFIG), the provider
//! simulator (in-process) and the release operator binary (its own process).
//!
//! Run with `make bench` (starts and stops a local control plane; `BENCH_N`, default 1000).
//! It prints figures and writes `docs/benchmarks.md` with its chart `docs/benchmarks-ready.png`;
//! it never fails on timings, only when something is functionally broken (operator does not
//! start or dies, orders never become Ready, an edit never reaches its Secret) or when it cannot
//! write its output.
//!
//! Environment: `BENCH_N` (orders, default 1000), `BENCH_OPERATOR` (operator binary, default
//! `target/release/proxy-order-operator`), `BENCH_OUT` (markdown file, default
//! `docs/benchmarks.md`; the chart goes next to it as `<stem>-ready.png`; `-` to only print
//! the markdown and write no file).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use futures::StreamExt as _;
use k8s_openapi::{
    ByteString,
    api::core::v1::{Namespace, Secret},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt as _, watcher},
};
use proxy_order_operator::crd::ProxyOrder;
use proxy_solutions_sim::{SimConfig, Simulator, generate_orders};
use serde_json::{Value, json};

const API_KEY: &str = "bench-api-key";
const KEY_SECRET: &str = "provider-key";
const FIRST_ID: u64 = 100_000;
/// Concurrent create tasks (ProxyOrders and the plain-Secret baseline alike).
const CREATE_TASKS: usize = 8;
const CREATE_PORT: u16 = 8100;
const EDIT_PORT: u16 = 8200;
/// The operator's refresh interval, shortened so that the idle window covers two of them:
/// 10 s, or N/100 s for large N (each refresh reconciles every ProxyOrder, and a 10 s interval
/// at 10,000 orders would measure the refresh instead of the convergence).
fn refresh_interval_s(n: usize) -> u64 {
    (n as u64 / 100).max(10)
}

/// The idle window: two and a half refresh intervals.
fn idle_window_s(n: usize) -> u64 {
    refresh_interval_s(n) * 5 / 2
}
const POLL: Duration = Duration::from_millis(500);
const EDITS_PER_S: u64 = 20;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run()) {
        eprintln!("bench: FAILED: {e:#}");
        std::process::exit(1);
    }
}

struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "operator exited with {status}; log tail:\n{}",
                tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 30)
            );
        }
        Ok(())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Calls {
    change: usize,
    read: usize,
    list: usize,
    other: usize,
    non_2xx: usize,
}

fn classify(reqs: &[Value]) -> Calls {
    let mut c = Calls::default();
    for r in reqs {
        let path = r["path"].as_str().unwrap_or_default();
        let status = r["status"].as_u64().unwrap_or(0);
        if !(200..300).contains(&status) {
            c.non_2xx += 1;
        }
        match r["method"].as_str().unwrap_or_default() {
            "GET" if path == "/api/user/orders" => c.list += 1,
            "POST"
                if path.starts_with("/api/user/orders/")
                    && path["/api/user/orders/".len()..]
                        .chars()
                        .all(|ch| ch.is_ascii_digit()) =>
            {
                let empty =
                    r["body"].is_null() || r["body"].as_object().is_some_and(|o| o.is_empty());
                if empty { c.read += 1 } else { c.change += 1 }
            }
            _ => c.other += 1,
        }
    }
    c
}

struct Mem {
    rss_kib: u64,
    hwm_kib: u64,
}

fn mem(pid: u32) -> Result<Mem> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Mem {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn is_ready(po: &ProxyOrder) -> bool {
    let Some(st) = po.status.as_ref() else {
        return false;
    };
    st.observed_generation == po.metadata.generation
        && st
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

fn secret_port(s: &Secret) -> Option<String> {
    s.data
        .as_ref()?
        .get("port")
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// Installs the operator's CRDs (ProxyOrder, ProxyProvider) and waits until both are served.
async fn install_crd(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [
        ProxyOrder::crd(),
        proxy_order_operator::proxy_provider::ProxyProvider::crd(),
    ] {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("applying the CRD {}", crd.name_any()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let c = crds.get(&crd.name_any()).await?;
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "CRD {} not established after 30 s",
                crd.name_any()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"proxy-order-operator/bench": "true"}}
        }))?,
    )
    .await
    .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// Runs `make(i)` for i in 0..n on `CREATE_TASKS` tasks; returns when all are done.
async fn create_all<F, Fut>(n: usize, make: F) -> Result<Duration>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CREATE_TASKS {
        let next = next.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                make(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

async fn sim_requests(http: &reqwest::Client, admin: &str) -> Result<Vec<Value>> {
    Ok(http
        .get(format!("{admin}/requests"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn sim_clear_requests(http: &reqwest::Client, admin: &str) -> Result<()> {
    http.delete(format!("{admin}/requests"))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// name -> resourceVersion of every ProxyOrder and every Secret in `ns`.
async fn resource_versions(client: &Client, ns: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let orders: Api<ProxyOrder> = Api::namespaced(client.clone(), ns);
    for po in orders.list(&ListParams::default()).await?.items {
        out.insert(
            format!("proxyorder/{}", po.name_any()),
            po.resource_version().unwrap_or_default(),
        );
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for s in secrets.list(&ListParams::default()).await?.items {
        out.insert(
            format!("secret/{}", s.name_any()),
            s.resource_version().unwrap_or_default(),
        );
    }
    Ok(out)
}

/// Write requests (create, update, patch, apply, delete) the API server has served for
/// ProxyOrders, Secrets and Events, from its own `apiserver_request_total` counters.
async fn apiserver_writes(client: &Client) -> Result<f64> {
    let req = axum::http::Request::get("/metrics").body(Vec::new())?;
    let text = client
        .request_text(req)
        .await
        .context("reading the API server's /metrics")?;
    let mut total = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"'))
        };
        let write = matches!(
            label("verb"),
            Some("POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION")
        );
        let ours = matches!(
            label("resource"),
            Some("proxyorders" | "secrets" | "events")
        );
        if write && ours {
            total += value.trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    Ok(total)
}

fn order_name(i: usize) -> String {
    format!("bench-{}", FIRST_ID + i as u64)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpus} CPUs (nproc), {model}, {mem_gib:.1} GiB RAM (MemTotal)")
}

/// Ready count over time as ASCII art: `width` columns over [0, t_end], `height` rows over
/// [0, n].
fn ascii_chart(
    series: &[(f64, usize)],
    n: usize,
    t_end: f64,
    width: usize,
    height: usize,
) -> String {
    let t_end = t_end.max(0.001);
    let value_at = |t: f64| -> usize {
        series
            .iter()
            .take_while(|(ts, _)| *ts <= t + 1e-9)
            .last()
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    let cols: Vec<usize> = (0..width)
        .map(|c| value_at(t_end * (c + 1) as f64 / width as f64))
        .collect();
    let label_w = n.to_string().len().max(5);
    let mut out = String::new();
    for row in (1..=height).rev() {
        let threshold = n as f64 * row as f64 / height as f64;
        let label = if row == height {
            n.to_string()
        } else if row == height.div_ceil(2) {
            (n / 2).to_string()
        } else {
            String::new()
        };
        let line: String = cols
            .iter()
            .map(|&v| {
                if v as f64 >= threshold - 1e-9 {
                    '#'
                } else {
                    ' '
                }
            })
            .collect();
        let _ = writeln!(out, "{label:>label_w$} |{}", line.trim_end());
    }
    let _ = writeln!(out, "{:>label_w$} +{}", 0, "-".repeat(width));
    let end_label = format!("{t_end:.1} s");
    let _ = writeln!(
        out,
        "{:>label_w$}  0 s{}{end_label}",
        "",
        " ".repeat(width.saturating_sub(3 + end_label.len()))
    );
    let _ = write!(
        out,
        "{:>label_w$}  Ready ProxyOrders over time since the first create",
        ""
    );
    out
}

/// Ready count over time as an 800×400 PNG at `path`: the Ready line over [0, t_end] × [0, n]
/// and a dashed marker at `create_done`, when all creates had been issued.
fn png_chart(
    series: &[(f64, usize)],
    n: usize,
    t_end: f64,
    create_done: f64,
    path: &Path,
) -> Result<()> {
    use plotters::prelude::*;
    const SIZE: (u32, u32) = (800, 400);
    // Noto Sans from the ttf-noto-sans crate: text needs no system font.
    plotters::style::register_font("sans-serif", FontStyle::Normal, ttf_noto_sans::REGULAR)
        .map_err(|_| anyhow!("the embedded Noto Sans font does not load"))?;
    // Some headroom above N, so that the line at N stays clear of the frame.
    let (t_end, top) = (t_end.max(0.001), n + n.div_ceil(20));
    let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("N={n}: Ready ProxyOrders over time"),
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..t_end, 0..top)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first create")
            .y_desc("Ready ProxyOrders")
            .x_label_formatter(&|t| {
                if t_end >= 10.0 {
                    format!("{t:.0}")
                } else {
                    format!("{t:.1}")
                }
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        chart
            .draw_series(DashedLineSeries::new(
                [(create_done, 0), (create_done, top)],
                6,
                4,
                RED.stroke_width(1),
            ))?
            .label(format!("all creates issued ({create_done:.1} s)"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart
            .draw_series(LineSeries::new(
                series.iter().copied(),
                BLUE.stroke_width(2),
            ))?
            .label("Ready")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE)
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
    }
    // Encoded in memory, so that every write error reaches the caller.
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    std::fs::write(path, bytes)?;
    Ok(())
}

async fn run() -> Result<()> {
    ensure!(
        std::env::var_os("KUBECONFIG").is_some(),
        "the benchmark needs a cluster: run it with `make bench` (KUBECONFIG is not set)"
    );
    let n: usize = match std::env::var("BENCH_N") {
        Ok(v) => v.parse().context("BENCH_N must be a number")?,
        Err(_) => 1000,
    };
    ensure!(n >= 1, "BENCH_N must be at least 1");
    let (refresh_s, idle_s) = (refresh_interval_s(n), idle_window_s(n));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let operator_bin = std::env::var_os("BENCH_OPERATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/proxy-order-operator"));
    ensure!(
        operator_bin.exists(),
        "{} does not exist: run `cargo build --release --bins` first",
        operator_bin.display()
    );
    let out_path = match std::env::var("BENCH_OUT") {
        Ok(p) if p == "-" => None,
        Ok(p) => Some(PathBuf::from(p)),
        Err(_) => Some(root.join("docs/benchmarks.md")),
    };
    // The chart goes next to the markdown: benchmarks.md -> benchmarks-ready.png.
    let png_path = out_path.as_ref().map(|md| {
        let stem = md.file_stem().unwrap_or_default().to_string_lossy();
        md.with_file_name(format!("{stem}-ready.png"))
    });

    proxy_order_operator::provider::client::install_crypto_provider();
    let client = Client::try_default()
        .await
        .context("kube client from KUBECONFIG")?;
    let k8s_version = client
        .apiserver_version()
        .await
        .map(|v| v.git_version)
        .unwrap_or_else(|_| "unknown".into());
    install_crd(&client).await?;
    let tag = format!("{:04x}", rand::random::<u16>());
    let ns = format!("bench-{tag}");
    let plain_ns = format!("bench-plain-{tag}");
    create_namespace(&client, &ns).await?;
    eprintln!(
        "bench: N={n}, namespace {ns}, operator {}",
        operator_bin.display()
    );

    // Simulator with N generated active orders (login user<ID>, port 8000).
    let sim = Simulator::start(
        SimConfig {
            api_keys: vec![API_KEY.to_string()],
            orders: generate_orders(n as u32),
            max_recorded_requests: (20 * n).max(100_000),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .map_err(|e| anyhow!("simulator: {e}"))?;
    let admin = sim.admin_url();
    let http = reqwest::Client::new();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": KEY_SECRET},
                "data": {"api-key": ByteString(API_KEY.as_bytes().to_vec())},
            }))?,
        )
        .await
        .context("API-key Secret")?;

    // Operator (release build) as its own process.
    let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-logs");
    std::fs::create_dir_all(&log_dir)?;
    let log = log_dir.join(format!("{ns}.log"));
    let log_file = std::fs::File::create(&log)?;
    let metrics_port = free_port();
    let child = Command::new(&operator_bin)
        .args([
            "--namespace",
            &ns,
            "--provider-url",
            &sim.base_url(),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--concurrency",
            "16",
            "--rate-limit",
            "1000",
            "--refresh-interval",
            &format!("{refresh_s}s"),
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {}", operator_bin.display()))?;
    let mut op = Operator {
        child,
        log: log.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{metrics_port}/readyz"))
            .send()
            .await
            && r.status().is_success()
        {
            break;
        }
        op.alive()?;
        ensure!(Instant::now() < deadline, "operator not ready after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mem_start = mem(op.pid())?;
    sim_clear_requests(&http, &admin).await?;

    // 1. Convergence.
    eprintln!("bench: creating {n} ProxyOrders");
    let orders: Api<ProxyOrder> = Api::namespaced(client.clone(), &ns);
    // The Ready count comes from a watch (listing N objects per poll would load the API
    // server the operator is measured against); it also notes when the count reached N.
    let ready_now = Arc::new(AtomicUsize::new(0));
    let all_ready_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let (ready_init_tx, ready_init_rx) = tokio::sync::oneshot::channel::<()>();
    let ready_watch = {
        let (orders, ready_now, all_ready_at) =
            (orders.clone(), ready_now.clone(), all_ready_at.clone());
        tokio::spawn(async move {
            let mut init_tx = Some(ready_init_tx);
            let mut ready: HashSet<String> = HashSet::new();
            let mut stream = watcher(orders, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(po) | watcher::Event::InitApply(po)) => {
                        if is_ready(&po) {
                            ready.insert(po.name_any());
                        } else {
                            ready.remove(&po.name_any());
                        }
                    }
                    Ok(watcher::Event::Delete(po)) => {
                        ready.remove(&po.name_any());
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = init_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    _ => continue,
                }
                ready_now.store(ready.len(), Ordering::Relaxed);
                if ready.len() == n {
                    all_ready_at
                        .lock()
                        .unwrap()
                        .get_or_insert_with(Instant::now);
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), ready_init_rx)
        .await
        .context("ProxyOrder watch did not start")?
        .ok();
    let t0 = Instant::now();
    let creator = {
        let orders = orders.clone();
        tokio::spawn(create_all(n, move |i| {
            let orders = orders.clone();
            async move {
                let id = FIRST_ID + i as u64;
                let po: ProxyOrder = serde_json::from_value(json!({
                    "apiVersion": "proxy-solutions.net/v1alpha1",
                    "kind": "ProxyOrder",
                    "metadata": {"name": order_name(i)},
                    "spec": {
                        "orderId": id,
                        "apiKeySecretRef": {"name": KEY_SECRET, "key": "api-key"},
                        "port": CREATE_PORT,
                        "login": format!("user{id}"),
                    },
                }))?;
                orders
                    .create(&PostParams::default(), &po)
                    .await
                    .with_context(|| format!("creating ProxyOrder {}", order_name(i)))?;
                Ok(())
            }
        }))
    };
    let mut creator = Some(creator);
    let mut create_done: Option<Duration> = None;
    let mut series: Vec<(f64, usize)> = vec![(0.0, 0)];
    let limit = Duration::from_secs(300 + n as u64 / 2);
    let converge = loop {
        tokio::time::sleep(POLL).await;
        if let Some(c) = creator.as_ref()
            && c.is_finished()
        {
            let elapsed = creator.take().unwrap().await??;
            create_done = Some(elapsed);
        }
        let ready = ready_now.load(Ordering::Relaxed);
        let t = t0.elapsed();
        series.push((secs(t), ready));
        if let Some(at) = *all_ready_at.lock().unwrap()
            && create_done.is_some()
        {
            let t = at.duration_since(t0);
            series.retain(|(ts, _)| *ts < secs(t));
            series.push((secs(t), n));
            break t;
        }
        if series.len().is_multiple_of(20) {
            eprintln!("bench: {ready} of {n} Ready after {:.0} s", secs(t));
        }
        op.alive()?;
        if t > limit {
            bail!(
                "only {ready} of {n} ProxyOrders Ready after {:.0} s; operator log tail:\n{}",
                secs(t),
                tail(&std::fs::read_to_string(&log).unwrap_or_default(), 30)
            );
        }
    };
    ready_watch.abort();
    let create_done = create_done.unwrap();
    eprintln!(
        "bench: all {n} Ready after {:.1} s (creates took {:.1} s)",
        secs(converge),
        secs(create_done)
    );
    // Functional check: every Secret carries the port we asked for.
    let wrong = secrets
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|s| s.name_any().starts_with("bench-"))
        .filter(|s| secret_port(s).as_deref() != Some(&CREATE_PORT.to_string()))
        .count();
    let secret_count = secrets
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|s| s.name_any().starts_with("bench-"))
        .count();
    ensure!(
        secret_count == n && wrong == 0,
        "{secret_count} credential Secrets for {n} orders, {wrong} with a port other than {CREATE_PORT}"
    );
    let mem_converged = mem(op.pid())?;

    // 2. Provider calls for convergence.
    let conv_calls = classify(&sim_requests(&http, &admin).await?);

    // 3. Idle window.
    eprintln!("bench: idle window of {idle_s} s");
    // Let the last status writes land before taking the snapshot.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim_clear_requests(&http, &admin).await?;
    let rv_before = resource_versions(&client, &ns).await?;
    let writes_before = apiserver_writes(&client).await?;
    // The N creates and the operator's writes are in there: a zero means the counters were
    // not found, not that nothing was written.
    ensure!(
        writes_before >= n as f64,
        "apiserver_request_total shows {writes_before} writes for ProxyOrders, Secrets and \
         Events after {n} creates: the API server's metrics could not be read"
    );
    tokio::time::sleep(Duration::from_secs(idle_s)).await;
    let idle_calls = classify(&sim_requests(&http, &admin).await?);
    let idle_api_writes = apiserver_writes(&client).await? - writes_before;
    let rv_after = resource_versions(&client, &ns).await?;
    let count_changed = |prefix: &str| {
        rv_before
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter(|(k, v)| rv_after.get(*k) != Some(*v))
            .count()
            + rv_after
                .keys()
                .filter(|k| k.starts_with(prefix) && !rv_before.contains_key(*k))
                .count()
    };
    let idle_po_writes = count_changed("proxyorder/");
    let idle_secret_writes = count_changed("secret/");
    op.alive()?;
    let mem_idle = mem(op.pid())?;

    // 4. Edit latency: spec.port of min(N, 200) orders at ~20/s, until the Secret shows it.
    let k = n.min(200);
    eprintln!("bench: editing spec.port of {k} orders at {EDITS_PER_S}/s");
    sim_clear_requests(&http, &admin).await?;
    // secret name -> (expected port, edit sent at, seen after)
    type Pending = HashMap<String, (String, Instant, Option<Duration>)>;
    let pending: Arc<Mutex<Pending>> = Arc::new(Mutex::new(HashMap::new()));
    let (init_tx, init_rx) = tokio::sync::oneshot::channel::<()>();
    let watch_task = {
        let pending = pending.clone();
        let secrets = secrets.clone();
        tokio::spawn(async move {
            let mut init_tx = Some(init_tx);
            let mut stream = watcher(secrets, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = stream.next().await {
                let Ok(ev) = ev else { continue };
                let s = match ev {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => s,
                    watcher::Event::InitDone => {
                        if let Some(tx) = init_tx.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    _ => continue,
                };
                let now = Instant::now();
                let mut p = pending.lock().unwrap();
                if let Some((want, at, seen)) = p.get_mut(&s.name_any())
                    && seen.is_none()
                    && secret_port(&s).as_deref() == Some(want.as_str())
                {
                    *seen = Some(now - *at);
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), init_rx)
        .await
        .context("Secret watch did not start")?
        .ok();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / EDITS_PER_S));
    let mut edits = Vec::new();
    let edit_start = Instant::now();
    for i in 0..k {
        tick.tick().await;
        let name = order_name(i);
        pending.lock().unwrap().insert(
            format!("{name}-proxy"),
            (EDIT_PORT.to_string(), Instant::now(), None),
        );
        let orders = orders.clone();
        edits.push(tokio::spawn(async move {
            orders
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"port": EDIT_PORT}})),
                )
                .await
                .with_context(|| format!("editing {name}"))
                .map(|_| ())
        }));
    }
    for e in edits {
        e.await??;
    }
    let edit_rate = k as f64 / secs(edit_start.elapsed()).max(0.001);
    let deadline = Instant::now() + Duration::from_secs(120);
    let latencies = loop {
        let done: Vec<Duration> = pending
            .lock()
            .unwrap()
            .values()
            .filter_map(|(_, _, seen)| *seen)
            .collect();
        if done.len() == k {
            break done;
        }
        op.alive()?;
        ensure!(
            Instant::now() < deadline,
            "only {} of {k} edits reached their Secret within 120 s",
            done.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    watch_task.abort();
    let mut latencies = latencies;
    latencies.sort();
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    let lmax = *latencies.last().unwrap();
    let edit_calls = classify(&sim_requests(&http, &admin).await?);
    let mem_end = mem(op.pid())?;

    // Baseline: N plain Secrets against the same API server, operator stopped.
    drop(op);
    create_namespace(&client, &plain_ns).await?;
    eprintln!("bench: baseline, creating {n} plain Secrets in {plain_ns}");
    let plain: Api<Secret> = Api::namespaced(client.clone(), &plain_ns);
    let plain_time = create_all(n, move |i| {
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
    .await?;
    let nss: Api<Namespace> = Api::all(client.clone());
    for name in [&ns, &plain_ns] {
        let _ = nss.delete(name, &DeleteParams::background()).await;
    }
    sim.shutdown().await;

    // Report.
    let nf = n as f64;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut t = String::new();
    let _ = writeln!(t, "| Measure | Value |");
    let _ = writeln!(t, "|---|---|");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(t, "| {k} | {v} |");
    };
    row("ProxyOrders (N)", n.to_string());
    row(
        "Create N ProxyOrders (API server, 8 tasks)",
        format!(
            "{:.1} s ({:.0}/s)",
            secs(create_done),
            nf / secs(create_done)
        ),
    );
    row(
        "Convergence: first create → all Ready=True",
        format!(
            "{:.1} s ({:.0} orders/s)",
            secs(converge),
            nf / secs(converge)
        ),
    );
    row(
        "Create N plain Secrets (same API server, 8 tasks)",
        format!("{:.1} s ({:.0}/s)", secs(plain_time), nf / secs(plain_time)),
    );
    row(
        "Ratio convergence / plain-Secret creation",
        format!("{:.2}×", secs(converge) / secs(plain_time).max(0.001)),
    );
    row(
        "Provider change calls during convergence (per order)",
        format!(
            "{} ({:.2})",
            conv_calls.change,
            conv_calls.change as f64 / nf
        ),
    );
    row(
        "Provider reads (empty change body) during convergence (per order)",
        format!("{} ({:.2})", conv_calls.read, conv_calls.read as f64 / nf),
    );
    row(
        "Provider list calls during convergence",
        conv_calls.list.to_string(),
    );
    row(
        "Provider non-2xx answers / other calls during convergence",
        format!("{} / {}", conv_calls.non_2xx, conv_calls.other),
    );
    row(
        &format!(
            "Idle {idle_s} s (refresh {refresh_s} s): provider change calls + reads (expect 0)"
        ),
        format!("{} + {}", idle_calls.change, idle_calls.read),
    );
    row(
        &format!("Idle {idle_s} s: provider list calls (expect ~1 per interval)"),
        idle_calls.list.to_string(),
    );
    row(
        &format!("Idle {idle_s} s: ProxyOrders / Secrets written (expect 0)"),
        format!("{idle_po_writes} / {idle_secret_writes}"),
    );
    row(
        &format!(
            "Idle {idle_s} s: API-server write requests for ProxyOrders, Secrets and Events (its `apiserver_request_total`; expect 0)"
        ),
        format!("{idle_api_writes:.0}"),
    );
    row(
        &format!("Edit → Secret `port` latency, {k} edits at {edit_rate:.0}/s: p50 / p99 / max"),
        format!(
            "{:.0} ms / {:.0} ms / {:.0} ms",
            secs(p50) * 1e3,
            secs(p99) * 1e3,
            secs(lmax) * 1e3
        ),
    );
    row(
        "Provider change calls for the edits (per edit)",
        format!(
            "{} ({:.2})",
            edit_calls.change,
            edit_calls.change as f64 / k as f64
        ),
    );
    row(
        "Operator RSS / peak (VmRSS / VmHWM): started",
        format!(
            "{:.1} MiB / {:.1} MiB",
            mib(mem_start.rss_kib),
            mib(mem_start.hwm_kib)
        ),
    );
    row(
        "Operator RSS / peak: after convergence",
        format!(
            "{:.1} MiB / {:.1} MiB",
            mib(mem_converged.rss_kib),
            mib(mem_converged.hwm_kib)
        ),
    );
    row(
        "Operator RSS / peak: after the idle window",
        format!(
            "{:.1} MiB / {:.1} MiB",
            mib(mem_idle.rss_kib),
            mib(mem_idle.hwm_kib)
        ),
    );
    row(
        "Operator RSS / peak: after the edits",
        format!(
            "{:.1} MiB / {:.1} MiB",
            mib(mem_end.rss_kib),
            mib(mem_end.hwm_kib)
        ),
    );

    // Ready count over time: at most ~20 rows, always the last one.
    let step = series.len().div_ceil(20).max(1);
    let mut ts = String::from("| t (s) | Ready |\n|---:|---:|\n");
    for (i, (s, r)) in series.iter().enumerate() {
        if i % step == 0 || i == series.len() - 1 {
            let _ = writeln!(ts, "| {s:.1} | {r} |");
        }
    }
    let chart = ascii_chart(&series, n, secs(converge), 60, 12);
    // Written before the markdown, which links it by file name.
    let image = match &png_path {
        Some(path) => {
            png_chart(&series, n, secs(converge), secs(create_done), path)
                .with_context(|| format!("writing the chart {}", path.display()))?;
            eprintln!("bench: wrote {}", path.display());
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            format!("![Ready ProxyOrders over time]({name})\n\n")
        }
        None => String::new(),
    };

    let date = httpdate::fmt_http_date(SystemTime::now());
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `make bench` (`benches/scale.rs`); figures from one run, not averages.\n"
    );
    let _ = writeln!(md, "- Date: {date}");
    let _ = writeln!(md, "- Machine: {}", machine());
    let _ = writeln!(
        md,
        "- Kubernetes API server: {k8s_version} (local control plane, `tests/controlplane/`)"
    );
    let _ = writeln!(
        md,
        "- N = {n} ProxyOrders, one API key, provider simulator in-process"
    );
    let _ = writeln!(
        md,
        "- Operator: release build, `--concurrency 16 --rate-limit 1000 --refresh-interval {refresh_s}s --log-format json`, `RUST_LOG=warn`\n"
    );
    let _ = writeln!(
        md,
        "Each ProxyOrder names a generated order (port 8000, login `user<ID>`) and asks for port \
         {CREATE_PORT}, so convergence costs one change call per order. The operator, the API \
         server, etcd and the benchmark share the machine.\n"
    );
    let _ = writeln!(md, "## Results\n\n{t}");
    let _ = writeln!(
        md,
        "## Ready ProxyOrders over time\n\n{image}```text\n{chart}\n```\n\n{ts}"
    );
    let _ = writeln!(
        md,
        "## How to run\n\n```sh\nmake bench                # BENCH_N=1000\nmake bench BENCH_N=200\n```\n\n\
         `make bench` builds the operator in release (`cargo build --release --bins`), starts a \
         local control plane (`tests/controlplane/with-controlplane.sh`), runs `cargo bench \
         --bench scale` and stops the control plane. The benchmark never fails on timings; it \
         fails only if the operator does not start or dies, if orders do not become Ready \
         within 300 s + N/2 s, if an edit does not reach its Secret within 120 s, or if it \
         cannot write its output: this file and the chart above (`benchmarks-ready.png`, next \
         to it; `BENCH_OUT=path.md` writes `path-ready.png`, `BENCH_OUT=-` only prints the \
         markdown). The operator's log is kept in `target/tmp/bench-logs/`."
    );
    println!("{md}");
    if let Some(path) = out_path {
        std::fs::write(&path, &md).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}
