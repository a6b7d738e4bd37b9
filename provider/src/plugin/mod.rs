//! The go-plugin side of the provider: handshake with the Terraform or OpenTofu CLI, AutoMTLS,
//! and the gRPC server hosting the tfplugin6 service plus go-plugin's helper services.
//!
//! Contract: the CLI starts the binary with a magic cookie and the protocol versions it speaks;
//! the plugin answers with one handshake line on stdout and then serves gRPC until the CLI calls
//! GRPCController.Shutdown (or kills it). Interrupts are ignored in managed mode: on Ctrl-C the CLI
//! itself calls StopProvider, which cancels in-flight AWS work.

mod services;
mod tls;

use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;

use crate::error::Error;
use crate::logging;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own handshake version (the first field of the handshake line).
const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol major version served.
pub const PROTOCOL_VERSION: u32 = 6;
/// The provider's address in the registry, used for TF_REATTACH_PROVIDERS.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/seedlabs/efs";

/// How the process was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// Started by the CLI (cookie, client certificate, handshake line).
    Managed,
    /// Started by hand with `--debug`: serve until interrupted and print TF_REATTACH_PROVIDERS.
    Debug,
}

/// Checks the environment the CLI sets up before the handshake.
pub fn check_launch_environment() -> Result<(), Error> {
    if std::env::var(MAGIC_COOKIE_KEY).ok().as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(Error::NotLaunchedByCli);
    }
    if let Ok(versions) = std::env::var("PLUGIN_PROTOCOL_VERSIONS") {
        let offered: Vec<&str> = versions.split(',').map(str::trim).filter(|v| !v.is_empty()).collect();
        if !offered.is_empty() && !offered.contains(&PROTOCOL_VERSION.to_string().as_str()) {
            return Err(Error::ProtocolMismatch { served: PROTOCOL_VERSION, offered: versions });
        }
    }
    Ok(())
}

/// Serves the provider until the CLI shuts it down. `shutdown` is cancelled when that happens.
pub async fn serve(
    provider: crate::server::ProviderService,
    launch: Launch,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let listener = bind().await?;
    let addr = listener.local_addr()?;
    let tls = match std::env::var("PLUGIN_CLIENT_CERT") {
        Ok(pem) if launch == Launch::Managed && !pem.trim().is_empty() => Some(tls::server_tls(&pem)?),
        _ => None,
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;

    let incoming =
        accept_connections(listener, tls.as_ref().map(|t| TlsAcceptor::from(t.config.clone())), shutdown.clone());
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(services::controller(shutdown.clone(), launch))
        .add_service(services::stdio(shutdown.clone()))
        .add_service(services::broker(shutdown.clone()))
        .add_service(provider.into_server());

    match launch {
        Launch::Managed => {
            let cert = tls
                .as_ref()
                .map(|t| base64::engine::general_purpose::STANDARD_NO_PAD.encode(&t.certificate_der))
                .unwrap_or_default();
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|tcp|{addr}|grpc|{cert}")?;
            stdout.flush()?;
            ignore_interrupts();
        }
        Launch::Debug => {
            print_reattach_instructions(addr)?;
            let token = shutdown.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                token.cancel();
            });
        }
    }
    logging::info("serving plugin", &[("address", &addr.to_string()), ("tls", &tls.is_some().to_string())]);
    router.serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned()).await?;
    logging::debug("plugin server stopped", &[]);
    Ok(())
}

/// Binds 127.0.0.1, within PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT when the CLI sets them.
async fn bind() -> Result<TcpListener, Error> {
    let port = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u16>().ok());
    match (port("PLUGIN_MIN_PORT"), port("PLUGIN_MAX_PORT")) {
        (Some(min), Some(max)) if min <= max && min > 0 => {
            for candidate in min..=max {
                if let Ok(listener) = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], candidate))).await {
                    return Ok(listener);
                }
            }
            Err(Error::NoFreePort { min, max })
        }
        _ => Ok(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?),
    }
}

/// Accepts TCP connections, sets TCP_NODELAY (small gRPC frames otherwise wait ~40 ms on delayed
/// ACKs), and completes the TLS handshake off the accept loop so one slow client blocks no other.
fn accept_connections(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) -> ReceiverStream<Result<Conn, std::io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    logging::warn("accepting a connection failed", &[("error", &e.to_string())]);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let sender = sender.clone();
            let tls = tls.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let conn = match tls {
                    None => Conn::Plain(stream),
                    Some(acceptor) => {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                            Ok(Ok(tls_stream)) => Conn::Tls(Box::new(tls_stream)),
                            Ok(Err(e)) => {
                                // The CLI's client may reconnect while the plugin stops; only a
                                // refusal while serving is worth a warning.
                                let level =
                                    if shutdown.is_cancelled() { logging::Level::Debug } else { logging::Level::Warn };
                                logging::log(
                                    level,
                                    "refused a connection that failed mutual TLS",
                                    &[("peer", &peer.to_string()), ("error", &e.to_string())],
                                );
                                return;
                            }
                            Err(_) => {
                                logging::warn("TLS handshake timed out", &[("peer", &peer.to_string())]);
                                return;
                            }
                        }
                    }
                };
                let _ = sender.send(Ok(conn)).await;
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// Go plugins ignore SIGINT: the CLI forwards Ctrl-C as StopProvider and then shuts the plugin down.
fn ignore_interrupts() {
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            logging::debug("interrupt received; waiting for the CLI to stop the provider", &[]);
        }
    });
}

fn print_reattach_instructions(addr: SocketAddr) -> Result<(), Error> {
    let reattach = serde_json::json!({
        PROVIDER_ADDRESS: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "tcp", "String": addr.to_string() },
        }
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "Provider started in debug mode. To attach Terraform or OpenTofu, set:\n")?;
    writeln!(stdout, "\tTF_REATTACH_PROVIDERS='{reattach}'\n")?;
    writeln!(stdout, "Press Ctrl-C to stop the provider.")?;
    stdout.flush()?;
    Ok(())
}

/// One accepted connection: plain TCP in debug mode, TLS otherwise.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}
