//! Where the harness finds things: the workspace, the venv (moto, Terraform), the provider binary.

use std::path::{Path, PathBuf};

pub(crate) const PROVIDER_FILE: &str = "terraform-provider-efs";

pub(crate) fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// Root of the Cargo workspace (the directory holding `scripts/` and `provider/`).
pub fn repo_root() -> PathBuf {
    // `cargo test` sets CARGO_MANIFEST_DIR for the test process too. Prefer that over the
    // compile-time value: a test binary reused from a target dir shared by several checkouts
    // must use the checkout it is run from.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("acceptance-tests lives inside the workspace")
        .to_path_buf()
}

/// The Python venv holding Terraform and moto: `$EFS_VENV`, or `<repo>/.venv`.
pub fn venv() -> PathBuf {
    env_nonempty("EFS_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv"))
}

/// `<venv>/bin/moto_server`; panics, telling to run `scripts/setup.sh`, when it is missing.
pub fn moto_server_bin() -> PathBuf {
    let p = venv().join("bin/moto_server");
    assert!(p.is_file(), "{} not found: run `bash scripts/setup.sh` (or set EFS_VENV)", p.display());
    p
}

/// Where the provider binary is expected, whether or not it exists yet.
pub(crate) fn provider_bin_candidate() -> PathBuf {
    if let Some(p) = env_nonempty("EFS_PROVIDER_BIN") {
        return PathBuf::from(p);
    }
    // Test binaries live in <target>/<profile>/deps/; prefer the provider of the same target
    // dir and profile (this honours CARGO_TARGET_DIR and --release).
    if let Some(profile_dir) =
        std::env::current_exe().ok().and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
    {
        let p = profile_dir.join(PROVIDER_FILE);
        if p.is_file() {
            return p;
        }
    }
    repo_root().join("target/debug").join(PROVIDER_FILE)
}

/// The provider binary under test: `$EFS_PROVIDER_BIN`, or `terraform-provider-efs` in the
/// target directory of this test run (normally `<repo>/target/debug/`).
///
/// Panics, telling to build it, when it is missing.
pub fn provider_bin() -> PathBuf {
    let p = provider_bin_candidate();
    assert!(
        p.is_file(),
        "provider binary {} not found: run `cargo build -p terraform-provider-efs` (or set EFS_PROVIDER_BIN)",
        p.display()
    );
    p
}
