//! The client side of a plugin launch, as the Terraform CLI does it: start the provider with the
//! go-plugin environment, read its handshake line, and open a gRPC channel over AutoMTLS with a
//! client certificate made like go-plugin's. Shared by the conformance test and the RPC benchmark.

// Each includer uses a different part of it.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, ProtocolVersion, SignatureScheme, SupportedProtocolVersion,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-efs");

/// The provider binary: `EFS_PROVIDER_BIN` when set (as for the acceptance tests, e.g. a release
/// build to benchmark), else the one cargo built with this test.
pub fn binary() -> String {
    std::env::var("EFS_PROVIDER_BIN").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| BINARY.to_string())
}
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The port range go-plugin hands to its plugins unless configured otherwise.
pub const MIN_PORT: u16 = 10000;
pub const MAX_PORT: u16 = 25000;

/// How long the provider may take to print its handshake or to exit when asked to.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long one RPC (or one message of a stream) may take.
pub const CALL_DEADLINE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The provider process
// ---------------------------------------------------------------------------------------------

/// A running provider. Dropping it kills the process (and reaps it), even while unwinding.
pub struct Provider {
    pub child: Child,
    stdout_lines: mpsc::Receiver<String>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Provider {
    /// The binary with a clean plugin environment: no cookie, no client certificate, no log level
    /// or reattach settings inherited from whoever runs the tests.
    pub fn command(args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command.args(args);
        for name in [
            MAGIC_COOKIE_KEY,
            "PLUGIN_PROTOCOL_VERSIONS",
            "PLUGIN_CLIENT_CERT",
            "PLUGIN_MIN_PORT",
            "PLUGIN_MAX_PORT",
            "TF_REATTACH_PROVIDERS",
            "TF_LOG",
            "TF_LOG_PROVIDER",
            "TF_LOG_PROVIDER_EFS",
        ] {
            command.env_remove(name);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }

    /// The command as the Terraform CLI runs a provider (go-plugin with AutoMTLS).
    pub fn managed_command(client_cert_pem: &str) -> Command {
        let mut command = Self::command(&[]);
        command
            .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
            .env("PLUGIN_CLIENT_CERT", client_cert_pem)
            .env("PLUGIN_MIN_PORT", MIN_PORT.to_string())
            .env("PLUGIN_MAX_PORT", MAX_PORT.to_string());
        command
    }

    pub fn spawn(mut command: Command) -> Provider {
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let (sender, stdout_lines) = mpsc::channel();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        // Always drained, so a chatty provider never blocks on a full pipe.
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr_pipe);
            let mut chunk = [0u8; 4096];
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    return;
                }
                sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Provider { child, stdout_lines, stdout_reader: Some(stdout_reader), stderr, stderr_reader: Some(stderr_reader) }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The next line the provider prints on stdout.
    pub fn next_line(&self, deadline: Duration) -> String {
        match self.stdout_lines.recv_timeout(deadline) {
            Ok(line) => line,
            Err(e) => panic!("no line on the provider's stdout ({e:?}); stderr:\n{}", self.stderr()),
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let until = Instant::now() + deadline;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => panic!("the provider did not exit within {deadline:?}; stderr:\n{}", self.stderr()),
                Err(e) => panic!("cannot wait for the provider: {e}"),
            }
        }
    }

    /// Waits for the exit, then returns the status, all of stdout and all of stderr.
    pub fn finish(mut self, deadline: Duration) -> (ExitStatus, String, String) {
        let status = self.wait_exit(deadline);
        for reader in [self.stdout_reader.take(), self.stderr_reader.take()].into_iter().flatten() {
            let _ = reader.join();
        }
        let stdout: Vec<String> = self.stdout_lines.try_iter().collect();
        (status, stdout.join("\n"), self.stderr())
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fields of go-plugin's handshake line.
pub struct Handshake {
    pub line: String,
    pub addr: SocketAddr,
    pub server_cert_der: Vec<u8>,
}

pub fn parse_handshake(line: &str) -> Handshake {
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line {line:?} must have 6 |-separated fields");
    assert_eq!(fields[0], "1", "go-plugin core protocol version in {line:?}");
    assert_eq!(fields[1], "6", "plugin protocol version in {line:?}");
    assert_eq!(fields[2], "tcp", "network in {line:?}");
    assert_eq!(fields[4], "grpc", "protocol in {line:?}");
    let addr: SocketAddr = fields[3].parse().unwrap_or_else(|e| panic!("address {:?}: {e}", fields[3]));
    assert!(!fields[5].is_empty(), "AutoMTLS needs the server certificate in {line:?}");
    assert!(!fields[5].ends_with('='), "go-plugin decodes the certificate without padding: {line:?}");
    let server_cert_der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(fields[5])
        .unwrap_or_else(|e| panic!("certificate in {line:?} is not unpadded standard base64: {e}"));
    Handshake { line: line.to_string(), addr, server_cert_der }
}

/// Starts the provider as the CLI does and reads its handshake line.
pub fn launch(identity: &ClientIdentity) -> (Provider, Handshake) {
    let provider = Provider::spawn(Provider::managed_command(&identity.pem));
    let line = provider.next_line(START_DEADLINE);
    let handshake = parse_handshake(line.trim_end());
    (provider, handshake)
}

// ---------------------------------------------------------------------------------------------
// AutoMTLS, client side
// ---------------------------------------------------------------------------------------------

/// A client certificate made the way go-plugin makes Terraform's: self-signed ECDSA P-521 with
/// SHA-512, a CA, for localhost, usable for client and server authentication.
pub struct ClientIdentity {
    pub pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: PrivateKeyDer<'static>,
}

pub fn client_identity() -> ClientIdentity {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P521_SHA512,
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P521_SHA512).expect("P-521 key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("certificate parameters");
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "HashiCorp");
    name.push(DnType::CommonName, "localhost");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth, ExtendedKeyUsagePurpose::ServerAuth];
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::hours(262_980);
    let cert = params.self_signed(&key).expect("self-signed certificate");
    ClientIdentity {
        pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// Trusts exactly the server certificate of the handshake line, as go-plugin's client does (it
/// makes that certificate the only root), and checks the handshake signatures.
#[derive(Debug)]
struct PinnedServerCert {
    expected: Vec<u8>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// TLS 1.2 or 1.3 (go-plugin's minimum is 1.2), ALPN h2, the pinned server certificate, and the
/// client certificate when given.
pub fn tls_config(
    server_cert_der: &[u8],
    identity: Option<&ClientIdentity>,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedServerCert { expected: server_cert_der.to_vec(), provider: provider.clone() });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.cert_der.clone()], id.key_der.clone_key())
            .expect("rustls accepts the P-521 client key"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// The TLS versions each connection of a channel negotiated.
pub type Negotiated = Arc<Mutex<Vec<ProtocolVersion>>>;

/// A gRPC channel over TLS through a custom connector. Fails when the TLS handshake does, or
/// when the server does not select h2 by ALPN.
pub async fn connect_tls(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<(Channel, Negotiated), String> {
    let negotiated: Negotiated = Arc::default();
    let seen = negotiated.clone();
    let connector = tower::service_fn(move |_: Uri| {
        let connector = TlsConnector::from(config.clone());
        let seen = seen.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let server_name = ServerName::try_from("localhost").expect("valid server name");
            let tls = connector.connect(server_name, tcp).await?;
            let (_, session) = tls.get_ref();
            if session.alpn_protocol() != Some(b"h2".as_slice()) {
                let alpn = session.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
                return Err(std::io::Error::other(format!("server selected ALPN {alpn:?}, not h2")));
            }
            if let Some(version) = session.protocol_version() {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(version);
            }
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(CALL_DEADLINE)
        .connect_with_connector(connector)
        .await
        .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    Ok((channel, negotiated))
}

/// A channel as the CLI opens it: TLS 1.2+, the client certificate from the launch.
pub async fn connect(handshake: &Handshake, identity: &ClientIdentity) -> Channel {
    let config = tls_config(&handshake.server_cert_der, Some(identity), rustls::DEFAULT_VERSIONS);
    let (channel, _) = within("connecting with the right client certificate", connect_tls(handshake.addr, config))
        .await
        .unwrap_or_else(|e| panic!("mutual TLS connection to {} failed: {e}", handshake.addr));
    channel
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(CALL_DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {CALL_DEADLINE:?}"))
}
