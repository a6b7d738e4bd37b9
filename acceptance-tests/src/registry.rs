//! A provider registry on 127.0.0.1: the registry protocol `terraform init` speaks (service
//! discovery and `providers.v1`), over HTTPS with a certificate from a test CA, serving one
//! [`Release`] made by GoReleaser, with the key that signed it.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /.well-known/terraform.json` | `{"providers.v1": "/v1/providers/"}` |
//! | `GET /v1/providers/NS/TYPE/versions` | the release's version, protocols and platform |
//! | `GET /v1/providers/NS/TYPE/VERSION/download/OS/ARCH` | file name, download, shasums and signature URLs, the zip's SHA-256 as `SHA256SUMS` lists it, the signing key |
//! | `GET /files/NAME` | the release's artifact `NAME`, read when asked (so a test can tamper with it) |
//!
//! Terraform trusts the test CA through `SSL_CERT_FILE`; the source address is
//! `localhost:PORT/seedlabs/efs` (the certificate is for `localhost` and `127.0.0.1`).
//!
//! ```no_run
//! use acceptance_tests::packaging::Release;
//! use acceptance_tests::registry::ProviderRegistry;
//! use acceptance_tests::{Moto, Workdir};
//!
//! let release = Release::snapshot();
//! let registry = ProviderRegistry::start(&release);
//! let moto = Moto::start();
//! let mut wd = Workdir::new(&moto);
//! registry.use_in(&mut wd);
//! let source = registry.source(); // localhost:PORT/seedlabs/efs
//! ```

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::mirror::PLATFORM;
use crate::packaging::{sha256_listed_in, Release};
use crate::{hcl_string, Workdir, PROVIDER_NAMESPACE_TYPE};

/// What the registry serves: one release of [`PROVIDER_NAMESPACE_TYPE`].
struct Catalog {
    namespace: String,
    kind: String,
    version: String,
    protocols: Vec<String>,
    release_dir: PathBuf,
    zip_name: String,
    shasums_name: String,
    signature_name: String,
    key_id: String,
    public_key: String,
}

/// A running registry (see the module docs); stopped on drop.
pub struct ProviderRegistry {
    port: u16,
    dir: TempDir,
    ca_file: PathBuf,
    cli_config: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
}

impl ProviderRegistry {
    /// Starts serving `release`, whose `SHA256SUMS` is announced as signed by the release's key.
    pub fn start(release: &Release) -> ProviderRegistry {
        let mut parts = PROVIDER_NAMESPACE_TYPE.split('/');
        let (namespace, kind) = (parts.next().expect("namespace"), parts.next().expect("type"));
        let name = |p: PathBuf| p.file_name().expect("artifact name").to_string_lossy().into_owned();
        let catalog = Arc::new(Catalog {
            namespace: namespace.to_string(),
            kind: kind.to_string(),
            version: release.version().to_string(),
            protocols: release.protocol_versions(),
            release_dir: release.dir().to_path_buf(),
            zip_name: name(release.zip()),
            shasums_name: name(release.shasums()),
            signature_name: name(release.signature()),
            key_id: release.key_id().to_string(),
            public_key: release.public_key_armor().to_string(),
        });

        let dir = tempfile::Builder::new().prefix("efs-registry-").tempdir().expect("create registry dir");
        let (ca_pem, tls) = test_ca_and_server_config();
        let ca_file = dir.path().join("ca.pem");
        fs::write(&ca_file, ca_pem).expect("write CA certificate");
        // No dev_overrides: providers are installed the default way, from their registry.
        let cli_config = dir.path().join("terraformrc");
        fs::write(&cli_config, "provider_installation {\n  direct {}\n}\n").expect("write CLI config");

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let (requests, stop) = (requests.clone(), stop.clone());
            let base = format!("https://localhost:{port}");
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (tls, catalog, requests, base) = (tls.clone(), catalog.clone(), requests.clone(), base.clone());
                    // One thread per connection: Terraform may keep one open while it opens another.
                    thread::spawn(move || {
                        let _ = serve_connection(stream, tls, &catalog, &requests, &base);
                    });
                }
            })
        };
        ProviderRegistry { port, dir, ca_file, cli_config, requests, stop, server: Some(server) }
    }

    /// The registry's host name as Terraform addresses it: `localhost:PORT`.
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// The provider's source address on this registry: `localhost:PORT/NAMESPACE/TYPE`.
    pub fn source(&self) -> String {
        format!("{}/{PROVIDER_NAMESPACE_TYPE}", self.host())
    }

    /// The test CA's certificate (PEM), for `SSL_CERT_FILE`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A scratch directory that lives as long as the registry.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Makes later Terraform commands of `wd` install providers from their registries (a CLI
    /// configuration without the harness's `dev_overrides`) and trust the test CA.
    pub fn use_in(&self, wd: &mut Workdir) {
        wd.env("TF_CLI_CONFIG_FILE", self.cli_config.to_str().expect("UTF-8 temp path"));
        wd.env("SSL_CERT_FILE", self.ca_file.to_str().expect("UTF-8 temp path"));
    }

    /// The requests served so far, as `METHOD PATH`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Forgets the requests served so far.
    pub fn clear_requests(&self) {
        self.requests.lock().unwrap().clear();
    }

    /// HCL for `terraform { required_providers { efs = { source = <this registry>, version } } }`.
    pub fn required_providers_block(&self, version: &str) -> String {
        format!(
            "terraform {{\n  required_providers {{\n    efs = {{\n      source  = {}\n      version = {}\n    }}\n  }}\n}}\n",
            hcl_string(&self.source()),
            hcl_string(version)
        )
    }
}

impl Drop for ProviderRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// A fresh test CA (its certificate as PEM) and a server configuration whose certificate, for
/// `localhost` and `127.0.0.1`, that CA signed.
fn test_ca_and_server_config() -> (String, Arc<ServerConfig>) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.distinguished_name.push(DnType::CommonName, "terraform-provider-efs test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");

    let server_key = KeyPair::generate().expect("server key");
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&server_key, &ca).expect("sign the server certificate");

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .expect("server TLS configuration");
    (ca.pem(), Arc::new(config))
}

fn serve_connection(
    tcp: TcpStream,
    tls: Arc<ServerConfig>,
    catalog: &Catalog,
    requests: &Mutex<Vec<String>>,
    base: &str,
) -> io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let connection = ServerConnection::new(tls).map_err(io::Error::other)?;
    let mut stream = StreamOwned::new(connection, tcp);
    // Requests are GETs without a body; each answer closes the connection.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default());
    let path = target.split('?').next().unwrap_or_default();
    requests.lock().unwrap().push(format!("{method} {path}"));

    let (status, content_type, body) = match (method, route(catalog, path, base)) {
        ("GET", Some(Answer::Json(value))) => ("200 OK", "application/json", value.to_string().into_bytes()),
        ("GET", Some(Answer::File(file))) => match fs::read(&file) {
            Ok(bytes) => ("200 OK", "application/octet-stream", bytes),
            Err(_) => ("404 Not Found", "text/plain", b"no such file\n".to_vec()),
        },
        ("GET", None) => ("404 Not Found", "application/json", br#"{"errors":["Not Found"]}"#.to_vec()),
        _ => ("405 Method Not Allowed", "text/plain", b"GET only\n".to_vec()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.conn.send_close_notify();
    stream.flush()
}

enum Answer {
    Json(Value),
    File(PathBuf),
}

/// The answer to `GET path`, or `None` for a 404.
fn route(catalog: &Catalog, path: &str, base: &str) -> Option<Answer> {
    if path == "/.well-known/terraform.json" {
        return Some(Answer::Json(json!({"providers.v1": "/v1/providers/"})));
    }
    if let Some(name) = path.strip_prefix("/files/") {
        let known = [&catalog.zip_name, &catalog.shasums_name, &catalog.signature_name];
        return known.contains(&&name.to_string()).then(|| Answer::File(catalog.release_dir.join(name)));
    }
    let rest = path.strip_prefix("/v1/providers/")?;
    let rest = rest.strip_prefix(&format!("{}/{}/", catalog.namespace, catalog.kind))?;
    let (os, arch) = PLATFORM;
    if rest == "versions" {
        return Some(Answer::Json(json!({
            "versions": [{
                "version": catalog.version,
                "protocols": catalog.protocols,
                "platforms": [{"os": os, "arch": arch}],
            }]
        })));
    }
    if rest != format!("{}/download/{os}/{arch}", catalog.version) {
        return None;
    }
    let shasum = sha256_listed_in(&catalog.release_dir.join(&catalog.shasums_name), &catalog.zip_name)?;
    let file_url = |name: &str| format!("{base}/files/{name}");
    Some(Answer::Json(json!({
        "protocols": catalog.protocols,
        "os": os,
        "arch": arch,
        "filename": catalog.zip_name,
        "download_url": file_url(&catalog.zip_name),
        "shasums_url": file_url(&catalog.shasums_name),
        "shasums_signature_url": file_url(&catalog.signature_name),
        "shasum": shasum,
        "signing_keys": {
            "gpg_public_keys": [{
                "key_id": catalog.key_id,
                "ascii_armor": catalog.public_key,
                "trust_signature": "",
                "source": catalog.namespace,
                "source_url": null,
            }]
        }
    })))
}
