//! Resident memory and CPU of the operator process after each phase, and the CPU of the local
//! control plane's API server and etcd, read from `/proc`.

use anyhow::Result;

pub(crate) struct Mem {
    pub(crate) rss_kib: u64,
    pub(crate) hwm_kib: u64,
}

pub(crate) fn mem(pid: u32) -> Result<Mem> {
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

/// CPU seconds (user + system) the process `pid` has used so far, from `/proc/<pid>/stat`
/// (in USER_HZ ticks, 100 per second on Linux).
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((ticks(11) + ticks(12)) / 100.0)
}

/// The operator's memory after each phase, for the report.
pub(crate) struct Memory {
    pub(crate) started: Mem,
    pub(crate) converged: Mem,
    pub(crate) idle: Mem,
    pub(crate) end: Mem,
}

/// CPU seconds used so far by the local control plane's kube-apiserver and etcd, found in
/// the `pids` file that `tests/controlplane/up.sh` writes next to the kubeconfig; `None` for
/// a cluster started some other way.
pub(crate) fn server_cpu() -> Option<ServerCpu> {
    let kubeconfig = std::env::var_os("KUBECONFIG")?;
    let pids = std::path::Path::new(&kubeconfig).parent()?.join("pids");
    let text = std::fs::read_to_string(pids).ok()?;
    let of = |name: &str| {
        text.lines()
            .rev()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                (f.next()? == name).then_some(f.next()?.parse::<u32>().ok()?)
            })
            .next()
            .and_then(|pid| cpu_seconds(pid).ok())
    };
    Some(ServerCpu {
        apiserver: of("kube-apiserver")?,
        etcd: of("etcd")?,
    })
}

/// CPU seconds of the API server and of etcd.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ServerCpu {
    pub(crate) apiserver: f64,
    pub(crate) etcd: f64,
}

impl ServerCpu {
    /// What was used since `before`.
    pub(crate) fn since(self, before: ServerCpu) -> ServerCpu {
        ServerCpu {
            apiserver: self.apiserver - before.apiserver,
            etcd: self.etcd - before.etcd,
        }
    }
}

/// Runs `phase` and returns its result with the control plane's CPU it took (if known).
pub(crate) async fn with_server_cpu<T>(
    phase: impl Future<Output = Result<T>>,
) -> Result<(T, Option<ServerCpu>)> {
    let before = server_cpu();
    let out = phase.await?;
    let used = server_cpu()
        .zip(before)
        .map(|(after, before)| after.since(before));
    Ok((out, used))
}
