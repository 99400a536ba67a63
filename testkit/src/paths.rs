//! Where things are: the operator binary the scenarios run, the kubectl plugin, the scratch
//! directory for their logs, and the workspace (for the Helm chart and the control-plane scripts).
//!
//! cargo tells an integration test where the package's binaries are only at compile time
//! (`env!("CARGO_BIN_EXE_<name>")`), which a library cannot read; it puts them beside the test
//! executables' `deps/` directory, which is where these look.

use std::path::{Path, PathBuf};

/// The workspace root (the operator package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ is inside the workspace")
        .to_path_buf()
}

/// The operator binary cargo built with the running test or benchmark:
/// `target/<profile>/proxy-order-operator` for `target/<profile>/deps/<suite>-<hash>`. cargo
/// builds it (with the same features) before it runs the operator package's integration tests.
pub fn operator_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test");
    let bin = operator_bin_for(&exe);
    assert!(
        bin.is_file(),
        "{} does not exist: run the suite with cargo (e.g. `make test-e2e`), which builds it",
        bin.display()
    );
    bin
}

/// The kubectl plugin (`kubectl-pxo`) beside the operator binary, in the same profile
/// directory. cargo does not build another package's binary for the operator's tests: `make
/// cluster-tests` and `make test-e2e` build it first (`cargo build --locked -p kubectl-pxo`).
pub fn plugin_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test");
    let bin = plugin_bin_for(&exe);
    assert!(
        bin.is_file(),
        "{} does not exist: build it first with `cargo build --locked -p kubectl-pxo` (`make \
         cluster-tests` and `make test-e2e` do)",
        bin.display()
    );
    bin
}

/// A directory for logs and rendered files: `target/tmp` for `target/<profile>/deps/<suite>`,
/// the directory cargo gives integration tests and benchmarks as `CARGO_TARGET_TMPDIR`.
pub fn scratch_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test");
    scratch_dir_for(&exe)
}

/// `<profile dir>/proxy-order-operator` for the executable `<profile dir>/deps/<name>`.
fn operator_bin_for(exe: &Path) -> PathBuf {
    profile_dir(exe).join(format!(
        "proxy-order-operator{}",
        std::env::consts::EXE_SUFFIX
    ))
}

/// `<profile dir>/kubectl-pxo` for the executable `<profile dir>/deps/<name>`.
fn plugin_bin_for(exe: &Path) -> PathBuf {
    profile_dir(exe).join(format!("kubectl-pxo{}", std::env::consts::EXE_SUFFIX))
}

fn scratch_dir_for(exe: &Path) -> PathBuf {
    let profile = profile_dir(exe);
    profile.parent().unwrap_or(&profile).join("tmp")
}

/// The cargo profile directory (`target/debug`, `target/release`) of a test or benchmark
/// executable, which cargo puts into its `deps/` subdirectory.
fn profile_dir(exe: &Path) -> PathBuf {
    let dir = exe.parent().expect("an executable is in a directory");
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_and_the_scratch_dir_are_found_from_a_test_executable() {
        let exe = Path::new("/w/target/debug/deps/e2e-0123abcd");
        assert_eq!(
            operator_bin_for(exe),
            Path::new(&format!(
                "/w/target/debug/proxy-order-operator{}",
                std::env::consts::EXE_SUFFIX
            ))
        );
        assert_eq!(
            plugin_bin_for(exe),
            Path::new(&format!(
                "/w/target/debug/kubectl-pxo{}",
                std::env::consts::EXE_SUFFIX
            ))
        );
        assert_eq!(scratch_dir_for(exe), Path::new("/w/target/tmp"));
        let bench = Path::new("/w/target/release/deps/scale-0123abcd");
        assert_eq!(scratch_dir_for(bench), Path::new("/w/target/tmp"));
    }

    #[test]
    fn an_executable_outside_deps_looks_beside_itself() {
        let exe = Path::new("/opt/suite/e2e");
        assert_eq!(
            operator_bin_for(exe).parent(),
            Some(Path::new("/opt/suite"))
        );
    }

    #[test]
    fn the_workspace_root_holds_the_chart() {
        assert!(
            workspace_root()
                .join("charts/proxy-order-operator/Chart.yaml")
                .is_file()
        );
    }
}
