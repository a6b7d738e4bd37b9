//! A private moto server (the AWS API emulator) per test, and plain HTTP to it for moto's own API.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use tempfile::TempDir;

use crate::{moto_server_bin, venv, FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION};

const MOTO_READY_DEADLINE: Duration = Duration::from_secs(30);

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

    /// Deletes an `efs_prometheus_volume`'s file system out of band (`volume`: its state's
    /// values), parts first as EFS requires: its mount targets, its access point, then the file
    /// system. The security group stays.
    pub fn delete_volume_file_system(&self, volume: &serde_json::Value) {
        let text = |name: &str| volume[name].as_str().unwrap_or_else(|| panic!("no {name} in {volume}")).to_string();
        let efs = self.efs();
        for mount_target in volume["mount_targets"].as_array().expect("mount targets") {
            let id = mount_target["mount_target_id"].as_str().expect("mount target id");
            crate::block_on(efs.delete_mount_target().mount_target_id(id).send()).expect("DeleteMountTarget");
        }
        crate::block_on(efs.delete_access_point().access_point_id(text("access_point_id")).send())
            .expect("DeleteAccessPoint");
        crate::block_on(efs.delete_file_system().file_system_id(text("file_system_id")).send())
            .expect("DeleteFileSystem");
    }

    /// Deletes IAM role `name` out of band as IAM allows it: taken out of its instance profiles,
    /// its managed policies detached, then deleted. The profiles and policies stay.
    pub fn delete_role(&self, name: &str) {
        let iam = self.iam();
        let profiles = crate::block_on(iam.list_instance_profiles_for_role().role_name(name).send())
            .expect("ListInstanceProfilesForRole");
        for profile in profiles.instance_profiles() {
            let removal =
                iam.remove_role_from_instance_profile().instance_profile_name(profile.instance_profile_name());
            crate::block_on(removal.role_name(name).send()).expect("RemoveRoleFromInstanceProfile");
        }
        let attached = crate::block_on(iam.list_attached_role_policies().role_name(name).send())
            .expect("ListAttachedRolePolicies");
        for policy in attached.attached_policies() {
            let detach = iam.detach_role_policy().role_name(name).policy_arn(policy.policy_arn().unwrap_or_default());
            crate::block_on(detach.send()).expect("DetachRolePolicy");
        }
        crate::block_on(iam.delete_role().role_name(name).send()).expect("DeleteRole");
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

pub(crate) fn remove_proxy_env(cmd: &mut Command) {
    for key in
        ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy"]
    {
        cmd.env_remove(key);
    }
}
