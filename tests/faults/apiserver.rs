//! The API server of the local control plane: whether KUBECONFIG points at it, and
//! restarting it mid-run through `tests/controlplane/restart-apiserver.sh`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, ensure};

/// Whether KUBECONFIG is the local control plane that `restart-apiserver.sh` can restart.
pub(crate) fn local_control_plane() -> bool {
    let work = std::env::var_os("PROXY_ORDER_CP_WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/controlplane"));
    let same_kubeconfig = std::env::var_os("KUBECONFIG")
        .and_then(|k| std::fs::canonicalize(k).ok())
        .zip(std::fs::canonicalize(work.join("kubeconfig")).ok())
        .is_some_and(|(a, b)| a == b);
    same_kubeconfig && work.join("pids").exists()
}

pub(crate) fn restart_apiserver() -> Result<()> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/controlplane/restart-apiserver.sh");
    let out = std::process::Command::new(&script)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    ensure!(
        out.status.success(),
        "{} failed:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
