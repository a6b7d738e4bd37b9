//! Harness for the acceptance tests of `terraform-provider-efs`.
//!
//! The tests drive a real CLI against the provider binary, with the `moto` AWS emulator standing
//! in for AWS: OpenTofu (built from its Go module by `scripts/setup.sh`) or Terraform 1.0.3 (in the
//! project venv), chosen by `EFS_TF_CLI` (see [`cli`]); the README's test command runs the suite
//! under both. Everything listens and connects on 127.0.0.1 only.
//!
//! * [`Moto`] starts a private `moto_server` for one test and stops it on drop.
//! * [`Workdir`] is a temporary directory holding one configuration; its CLI configuration
//!   points the CLI at the locally built provider through `dev_overrides`, so no `init` is
//!   needed.
//! * [`provider_block`] renders the `terraform`/`provider "efs"` blocks aimed at a [`Moto`]
//!   ([`provider_block_with_endpoint`]: at any endpoint, such as a [`proxy::FaultProxy`]).
//! * [`block_on`] runs the async AWS SDK calls used for assertions from a plain `#[test]`.
//!
//! Modules for particular concerns: [`cluster`] (a stand-in cluster in moto), [`mirror`]
//! (installing from a filesystem mirror, lock-file hashes), [`packaging`] (releases made by
//! `scripts/package.sh`, GPG keys), [`registry`] (a provider registry over HTTPS),
//! [`remote_state`] (the s3 backend with DynamoDB locking on moto) and [`interactive`]
//! (answering Terraform's prompts).
//!
//! Acceptance tests only run when `TF_ACC` is set, as with Go providers:
//!
//! ```no_run
//! use acceptance_tests::{block_on, provider_block, skip_unless_acceptance, Moto, Workdir};
//!
//! fn test_something() {
//!     skip_unless_acceptance!();
//!     let moto = Moto::start();
//!     let wd = Workdir::new(&moto);
//!     wd.write("main.tf", &format!("{}\noutput \"x\" {{ value = 1 }}\n", provider_block(&moto)));
//!     wd.apply();
//!     assert_eq!(wd.plan_detailed_exitcode(), 0);
//!     let vpcs = block_on(moto.ec2().describe_vpcs().send()).unwrap();
//!     assert!(!vpcs.vpcs().is_empty());
//! }
//! ```
//!
//! Environment variables read by the harness:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `TF_ACC` | non-empty: run the acceptance tests |
//! | `EFS_VENV` | the venv made by `scripts/setup.sh` (default `<repo>/.venv`) |
//! | `EFS_TF_CLI` | the CLI under test: `tofu` (default) or `terraform` |
//! | `TOFU_BIN` | the OpenTofu binary (default: in the per-user tool cache, see [`cli`]) |
//! | `TERRAFORM_BIN` | the Terraform binary (default: inside the venv's site-packages) |
//! | `EFS_PROVIDER_BIN` | the provider binary (default: next to the test binary's profile dir) |
//! | `EFS_TF_TIMEOUT_SECS` | limit for one CLI command (default 600) |

pub mod charts;
pub mod cli;
pub mod cluster;
pub mod example_module;
pub mod interactive;
pub mod mirror;
pub mod packaging;
pub mod proxy;
pub mod registry;
pub mod remote_state;

use std::fmt;
use std::fs::{self, File};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use serde_json::Value;
use tempfile::TempDir;

/// AWS region used by every test.
pub const REGION: &str = "us-east-1";
/// Fake access key id handed to the provider and the SDK clients (moto accepts anything).
pub const FAKE_ACCESS_KEY: &str = "AKIAFAKEACCESSKEY000";
/// Fake secret key matching [`FAKE_ACCESS_KEY`].
pub const FAKE_SECRET_KEY: &str = "fake-secret";
/// The provider's namespace and type, the part of its source address every registry shares.
pub const PROVIDER_NAMESPACE_TYPE: &str = "seedlabs/efs";

pub use cli::{terraform_bin, tofu_bin, Cli};

/// The fully qualified source address of the provider under the CLI of this run
/// ([`Cli::current`]): `registry.opentofu.org/seedlabs/efs` or `registry.terraform.io/seedlabs/efs`.
pub fn provider_source() -> String {
    Cli::current().provider_source()
}

const PROVIDER_FILE: &str = "terraform-provider-efs";
const MOTO_READY_DEADLINE: Duration = Duration::from_secs(30);
const DEFAULT_TF_TIMEOUT_SECS: u64 = 600;

// ---------------------------------------------------------------------------------------------
// Locations
// ---------------------------------------------------------------------------------------------

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
fn provider_bin_candidate() -> PathBuf {
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

// ---------------------------------------------------------------------------------------------
// TF_ACC gate
// ---------------------------------------------------------------------------------------------

/// True when `TF_ACC` is set to a non-empty value.
pub fn acceptance_enabled() -> bool {
    env_nonempty("TF_ACC").is_some()
}

/// Prints the note shown by [`skip_unless_acceptance!`] for a skipped test.
#[doc(hidden)]
pub fn print_skip_note() {
    let name = thread::current().name().unwrap_or("test").to_string();
    eprintln!("SKIP {name}: acceptance test; set TF_ACC=1 to run it");
}

/// Put first in every acceptance test: returns from the test (which then passes) with a note
/// when `TF_ACC` is not set.
#[macro_export]
macro_rules! skip_unless_acceptance {
    () => {
        if !$crate::acceptance_enabled() {
            $crate::print_skip_note();
            return;
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Async bridge
// ---------------------------------------------------------------------------------------------

/// Runs a future to completion from synchronous test code (e.g. an AWS SDK call).
///
/// All calls share one small multi-threaded tokio runtime that lives for the whole test
/// process, so SDK clients (and their pooled connections) stay usable across calls. Must not be
/// called from inside an async context.
pub fn block_on<F: Future>(f: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("acceptance-tokio")
                .enable_all()
                .build()
                .expect("build tokio runtime")
        })
        .block_on(f)
}

// ---------------------------------------------------------------------------------------------
// moto
// ---------------------------------------------------------------------------------------------

/// Runs moto_server in-process and exits as soon as stdin reaches EOF, i.e. when the test
/// process that owns the pipe is gone, even if it was killed before it could drop [`Moto`].
const MOTO_WATCHDOG: &str = r#"
import os, runpy, sys, threading
def _watch():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"#;

/// A private moto server (the AWS API emulator) on `127.0.0.1:<free port>`.
///
/// Runs `<venv>/bin/moto_server -H 127.0.0.1 -p PORT` (under the venv's python, with a small
/// watchdog that ends it if the test process dies) in its own process group, with its output
/// in a log file. Dropping the value kills the server and waits for it, also when the test
/// panics; the log tail is printed in that case.
pub struct Moto {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Moto {
    /// Starts the server and waits until `GET /moto-api/` answers (at most 30 s; panics with
    /// the log tail otherwise).
    pub fn start() -> Moto {
        let python = venv().join("bin/python");
        let server = moto_server_bin();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let dir = tempfile::Builder::new().prefix("efs-moto-").tempdir().expect("create temp dir for moto");
            let log = dir.path().join("moto.log");
            let port = free_port();
            let out = File::create(&log).expect("create moto log");
            let err = out.try_clone().expect("clone moto log handle");
            let mut cmd = Command::new(&python);
            cmd.arg("-c")
                .arg(MOTO_WATCHDOG)
                .arg(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(out)
                .stderr(err)
                .process_group(0);
            remove_proxy_env(&mut cmd);
            let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", server.display()));
            let mut moto = Moto { child, port, log, _dir: dir };
            match moto.wait_ready() {
                Ok(()) => return moto,
                // Another process took the port between free_port() and the bind: retry.
                Err(tail) if attempts < 3 && tail.contains("Address already in use") => {}
                Err(tail) => {
                    drop(moto);
                    panic!("moto_server did not become ready on 127.0.0.1:{port}:\n{tail}");
                }
            }
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + MOTO_READY_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited with {status})\n{}", self.log_tail(40)));
            }
            if matches!(http(self.port, "GET", "/moto-api/"), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("(no answer within {MOTO_READY_DEADLINE:?})\n{}", self.log_tail(40)));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Base URL of the server, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path of the server's log file (deleted with the [`Moto`]).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Last `n` lines of the server log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Clears all state of the server (`POST /moto-api/reset`).
    pub fn reset(&self) {
        match http(self.port, "POST", "/moto-api/reset") {
            Ok((200, _)) => {}
            other => panic!("POST /moto-api/reset failed: {other:?}"),
        }
    }

    /// SDK configuration aimed at this server: region `us-east-1`, static fake credentials,
    /// `endpoint_url` = [`Moto::endpoint`], at most 3 attempts and 60 s per operation.
    pub fn sdk_config(&self) -> SdkConfig {
        let creds = Credentials::new(FAKE_ACCESS_KEY, FAKE_SECRET_KEY, None, None, "acceptance-tests");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .endpoint_url(self.endpoint())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(60)).build())
            .build()
    }

    /// IAM client talking to this server (use it inside [`block_on`]).
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config())
    }

    /// EC2 client talking to this server (use it inside [`block_on`]).
    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config())
    }

    /// EFS client talking to this server (use it inside [`block_on`]).
    pub fn efs(&self) -> aws_sdk_efs::Client {
        aws_sdk_efs::Client::new(&self.sdk_config())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("--- moto log tail ({}) ---\n{}\n--- end of moto log ---", self.endpoint(), self.log_tail(30));
        }
    }
}

/// IAM authentication enforced by a [`Moto`] until dropped: only access keys it issued (IAM
/// CreateAccessKey) are accepted, with their secret. See [`Moto::enforce_auth`].
pub struct MotoAuth<'a>(&'a Moto);

impl Moto {
    /// Enforces IAM authentication until the returned guard is dropped. While it is on, moto
    /// refuses the harness's fake keys too (and EFS GET calls with SignatureDoesNotMatch, a moto bug).
    pub fn enforce_auth(&self) -> MotoAuth<'_> {
        self.reset_auth("0").expect("enable moto auth");
        MotoAuth(self)
    }

    /// `POST /moto-api/reset-auth` with `body`: a number N enforces IAM auth after N more free
    /// requests, `inf` turns it off.
    fn reset_auth(&self, body: &str) -> Result<String, String> {
        let run = || -> io::Result<String> {
            let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            write!(
                stream,
                "POST /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                self.port,
                body.len()
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        };
        let response = run().map_err(|e| e.to_string())?;
        if response.starts_with("HTTP/1.1 200") && response.contains("\"ok\"") {
            Ok(response)
        } else {
            Err(response)
        }
    }
}

impl Drop for MotoAuth<'_> {
    fn drop(&mut self) {
        let result = self.0.reset_auth("inf");
        if !thread::panicking() {
            result.expect("disable moto auth");
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released): an unreachable endpoint.
pub fn closed_port() -> u16 {
    free_port()
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Minimal HTTP/1.1 request without a body to 127.0.0.1:`port`; returns (status, body).
fn http(port: u16, method: &str, path: &str) -> io::Result<(u16, String)> {
    http_request(port, method, path, &[], b"")
}

/// Minimal HTTP/1.1 request to 127.0.0.1:`port` with extra `headers` and a `body` (sent with its
/// `Content-Length`); returns (status, body). Enough for moto's APIs, which need no signature.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed HTTP response"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn remove_proxy_env(cmd: &mut Command) {
    for key in
        ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy"]
    {
        cmd.env_remove(key);
    }
}

// ---------------------------------------------------------------------------------------------
// Terraform
// ---------------------------------------------------------------------------------------------

/// HCL for the `terraform { required_providers }` block and a `provider "efs"` block whose
/// credentials are the fake ones and whose `iam`/`ec2`/`efs`/`sts` endpoints are `moto`.
pub fn provider_block(moto: &Moto) -> String {
    provider_block_with_endpoint(&moto.endpoint())
}

/// [`provider_block`] with every service endpoint at `endpoint`, e.g. a
/// [`proxy::FaultProxy::endpoint`] in front of moto.
pub fn provider_block_with_endpoint(e: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    efs = {{
      source = "seedlabs/efs"
    }}
  }}
}}

provider "efs" {{
  region     = "{REGION}"
  access_key = "{FAKE_ACCESS_KEY}"
  secret_key = "{FAKE_SECRET_KEY}"

  endpoints {{
    iam = "{e}"
    ec2 = "{e}"
    efs = "{e}"
    sts = "{e}"
  }}
}}
"#
    )
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

/// A temporary directory holding one Terraform configuration (and its local state).
///
/// Terraform runs there with a private CLI configuration (`TF_CLI_CONFIG_FILE`) whose
/// `dev_overrides` point `seedlabs/efs` at the provider binary, so no `terraform init` is
/// needed, and with an environment that keeps it on 127.0.0.1 (see [`Workdir::run`]).
/// The directory is deleted on drop; Terraform commands never outlive the call that ran them.
pub struct Workdir {
    dir: TempDir,
    cli: Cli,
    cli_config: PathBuf,
    moto_endpoint: String,
    env: Vec<(String, Option<String>)>,
}

impl Workdir {
    /// Creates the directory and its CLI configuration for a test using `moto`, for the CLI of
    /// this run ([`Cli::current`]).
    pub fn new(moto: &Moto) -> Workdir {
        Workdir::with_cli(moto, Cli::current())
    }

    /// [`Workdir::new`] for a given CLI, for tests of what only one CLI has (their names start
    /// with `tofu_`, and the Terraform pass of the test command skips them).
    pub fn with_cli(moto: &Moto, cli: Cli) -> Workdir {
        let dir = tempfile::Builder::new().prefix("efs-tf-").tempdir().expect("create terraform work dir");
        let provider = provider_bin_candidate();
        // dev_overrides names a directory in which Terraform looks for terraform-provider-efs*.
        let plugin_dir = if provider.file_name() == Some(PROVIDER_FILE.as_ref()) {
            provider.parent().expect("provider path has a parent").to_path_buf()
        } else {
            let d = dir.path().join(".provider");
            fs::create_dir(&d).expect("create provider link dir");
            std::os::unix::fs::symlink(&provider, d.join(PROVIDER_FILE)).expect("link provider binary");
            d
        };
        let cli_config = dir.path().join(".terraformrc");
        fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"{}\" = {}\n  }}\n  direct {{}}\n}}\n",
                cli.provider_source(),
                hcl_string(&plugin_dir.to_string_lossy())
            ),
        )
        .expect("write CLI config");
        Workdir { dir, cli, cli_config, moto_endpoint: moto.endpoint(), env: Vec::new() }
    }

    /// The directory Terraform runs in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The CLI this directory's commands run ([`Cli::current`]).
    pub fn cli(&self) -> Cli {
        self.cli
    }

    /// Writes (or replaces) a file, e.g. `main.tf`, in the directory.
    pub fn write(&self, name: &str, contents: &str) {
        let path = self.path().join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Deletes a file written with [`Workdir::write`].
    pub fn remove(&self, name: &str) {
        let path = self.path().join(name);
        fs::remove_file(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }

    /// Sets an extra environment variable for later Terraform commands (e.g. `TF_LOG=debug`);
    /// it overrides the harness defaults.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.to_string(), Some(value.to_string())));
        self
    }

    /// Removes a variable from the environment of later Terraform commands (e.g.
    /// `AWS_ENDPOINT_URL`, to prove the provider honours its `endpoints` block alone).
    pub fn env_remove(&mut self, key: &str) -> &mut Self {
        self.env.push((key.to_string(), None));
        self
    }

    /// Runs the real Terraform binary with `args` in the directory and returns its output,
    /// whatever the exit code.
    ///
    /// The environment is the test's, minus proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`,
    /// `ALL_PROXY`, also lower case), `TF_CLI_ARGS*`, `TF_VAR_*`, `TF_DATA_DIR`,
    /// `TF_WORKSPACE`, `TF_PLUGIN_CACHE_DIR`, `TF_REATTACH_PROVIDERS`, `AWS_ENDPOINT_URL*` and
    /// AWS profile/session variables, plus `CHECKPOINT_DISABLE=1`, `TF_IN_AUTOMATION=1`,
    /// `TF_INPUT=0`, `TF_CLI_CONFIG_FILE`, the fake `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`/`AWS_DEFAULT_REGION=us-east-1`, `AWS_EC2_METADATA_DISABLED=true`,
    /// `AWS_CONFIG_FILE`/`AWS_SHARED_CREDENTIALS_FILE` pointing at absent files, and
    /// `AWS_ENDPOINT_URL` = moto as a guard so that nothing is sent beyond 127.0.0.1; then the
    /// variables given to [`Workdir::env`]/[`Workdir::env_remove`].
    ///
    /// Terraform runs in its own process group; after `EFS_TF_TIMEOUT_SECS` (default 600 s) the
    /// group (Terraform and its provider processes) is killed and the call panics.
    pub fn run(&self, args: &[&str]) -> Output {
        let tf = self.cli.bin();
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());

        let timeout = terraform_timeout();
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", tf.display()));
        let stdout = read_in_thread(child.stdout.take().expect("piped stdout"));
        let stderr = read_in_thread(child.stderr.take().expect("piped stderr"));
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= timeout => {
                    timed_out = true;
                    kill_process_group(child.id());
                    let _ = child.kill();
                    break child.wait().expect("wait for terraform");
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("wait for terraform: {e}"),
            }
        };
        let out = Output {
            cli: self.cli,
            args: args.iter().map(|s| s.to_string()).collect(),
            code: status.code(),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        };
        assert!(!timed_out, "killed after {timeout:?}: {out}");
        out
    }

    /// The Terraform command [`Workdir::run`] runs, not started yet: in the directory, in its
    /// own process group, with the environment described there, stdout and stderr piped (stdin is
    /// left to the caller). For commands that must be driven while they run, e.g. answering an
    /// approval prompt (see [`interactive::RunningTerraform`]).
    pub fn command(&self, args: &[&str]) -> Command {
        // `fmt` and `version` never start providers.
        if !matches!(args.first(), Some(&"fmt" | &"version")) {
            self.check_provider_built();
        }
        let mut cmd = Command::new(self.cli.bin());
        cmd.args(args).current_dir(self.path()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        self.set_env(&mut cmd);
        cmd
    }

    /// Like [`Workdir::run`], but panics with the full output unless the command exits 0.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.success(), "{out}");
        out
    }

    /// `terraform apply -auto-approve -input=false -no-color`; panics if it fails.
    pub fn apply(&self) -> Output {
        self.run_ok(&["apply", "-auto-approve", "-input=false", "-no-color"])
    }

    /// `terraform plan -input=false -no-color`; panics if it fails.
    pub fn plan(&self) -> Output {
        self.run_ok(&["plan", "-input=false", "-no-color"])
    }

    /// `terraform destroy -auto-approve -input=false -no-color`; panics if it fails.
    pub fn destroy(&self) -> Output {
        self.run_ok(&["destroy", "-auto-approve", "-input=false", "-no-color"])
    }

    /// `terraform validate -no-color`; panics if it fails.
    pub fn validate(&self) -> Output {
        self.run_ok(&["validate", "-no-color"])
    }

    /// `terraform plan -detailed-exitcode`: 0 = no changes, 2 = changes; panics on an error
    /// (exit 1).
    pub fn plan_detailed_exitcode(&self) -> i32 {
        let out = self.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
        match out.code {
            Some(c @ (0 | 2)) => c,
            _ => panic!("{out}"),
        }
    }

    /// `terraform apply` that must fail; returns stdout + stderr, panics if it succeeded.
    pub fn apply_expect_error(&self) -> String {
        let out = self.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        assert!(!out.success(), "expected apply to fail, but it succeeded: {out}");
        out.combined()
    }

    /// `terraform show -json` (the state) as JSON.
    pub fn show_json(&self) -> Value {
        parse_json(self.run_ok(&["show", "-json", "-no-color"]))
    }

    /// `terraform output -json`: `{name: {"sensitive", "type", "value"}}`.
    pub fn output_json(&self) -> Value {
        parse_json(self.run_ok(&["output", "-json", "-no-color"]))
    }

    /// The attribute values (`values`) of the resource at `addr` (e.g. `efs_file_system.main`
    /// or `module.m.efs_x.y[0]`) in `terraform show -json`; panics, listing the addresses
    /// present, if it is not in the state.
    pub fn state_resource(&self, addr: &str) -> Value {
        let state = self.show_json();
        let mut found = Vec::new();
        if let Some(root) = state.pointer("/values/root_module") {
            collect_resources(root, &mut found);
        }
        let addresses: Vec<String> = found.iter().filter_map(|r| r["address"].as_str().map(str::to_string)).collect();
        found
            .into_iter()
            .find(|r| r["address"] == addr)
            .map(|r| r["values"].clone())
            .unwrap_or_else(|| panic!("{addr} is not in the state; present: {addresses:?}"))
    }

    fn set_env(&self, cmd: &mut Command) {
        remove_proxy_env(cmd);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("TF_CLI_ARGS") || k.starts_with("TF_VAR_") || k.starts_with("AWS_ENDPOINT_URL") {
                cmd.env_remove(&key);
            }
        }
        for key in [
            "TF_DATA_DIR",
            "TF_WORKSPACE",
            "TF_PLUGIN_CACHE_DIR",
            "TF_REATTACH_PROVIDERS",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            cmd.env_remove(key);
        }
        let absent = self.path().join(".aws-absent");
        cmd.env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", absent.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", absent.join("credentials"))
            .env("AWS_ENDPOINT_URL", &self.moto_endpoint);
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
    }

    /// Panics with a clear message when the configuration uses the provider but it is not built.
    fn check_provider_built(&self) {
        let uses_provider = fs::read_dir(self.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "tf"))
            .any(|e| fs::read_to_string(e.path()).is_ok_and(|s| s.contains("seedlabs/efs")));
        if uses_provider {
            provider_bin();
        }
    }
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

pub(crate) fn hcl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn parse_json(out: Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!("output of `{} {}` is not JSON ({e}): {out}", out.cli.command_name(), out.args.join(" "))
    })
}

fn collect_resources(module: &Value, found: &mut Vec<Value>) {
    if let Some(resources) = module["resources"].as_array() {
        found.extend(resources.iter().cloned());
    }
    if let Some(children) = module["child_modules"].as_array() {
        for child in children {
            collect_resources(child, found);
        }
    }
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
