//! Resident memory of the operator process, read from `/proc/<pid>/status` after each phase.

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

/// The operator's memory after each phase, for the report.
pub(crate) struct Memory {
    pub(crate) started: Mem,
    pub(crate) converged: Mem,
    pub(crate) idle: Mem,
    pub(crate) end: Mem,
}
