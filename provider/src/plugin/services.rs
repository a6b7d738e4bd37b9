//! go-plugin's helper services: GRPCController (shutdown), GRPCStdio and GRPCBroker.
//!
//! The provider writes its logs straight to stderr, which the CLI reads from the process pipe, so
//! the stdio stream carries nothing; it and the broker stream stay open until shutdown, as the CLI
//! expects, and close cleanly then.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tfplugin_proto::plugin::grpc_broker_server::{GrpcBroker, GrpcBrokerServer};
use tfplugin_proto::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use tfplugin_proto::plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use tfplugin_proto::plugin::{ConnInfo, Empty, StdioData};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::Launch;
use crate::logging;

type OpenUntilShutdown<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn open_until(shutdown: &CancellationToken) -> OpenUntilShutdown<impl Sized + Send + 'static> {
    Box::pin(
        futures::stream::pending::<Result<(), Status>>()
            .take_until(shutdown.clone().cancelled_owned()),
    )
}

fn silent_stream<T: Send + 'static>(shutdown: &CancellationToken) -> OpenUntilShutdown<T> {
    Box::pin(open_until(shutdown).filter_map(|_| async { None }))
}

pub struct Controller {
    shutdown: CancellationToken,
    launch: Launch,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        if self.launch == Launch::Debug {
            // A debug-mode provider outlives each CLI run that attached to it.
            logging::debug("ignoring shutdown request in debug mode", &[]);
        } else {
            logging::debug("shutdown requested by the CLI", &[]);
            self.shutdown.cancel();
        }
        Ok(Response::new(Empty {}))
    }
}

pub fn controller(shutdown: CancellationToken, launch: Launch) -> GrpcControllerServer<Controller> {
    GrpcControllerServer::new(Controller { shutdown, launch })
}

pub struct Stdio {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = OpenUntilShutdown<StdioData>;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(silent_stream(&self.shutdown)))
    }
}

pub fn stdio(shutdown: CancellationToken) -> GrpcStdioServer<Stdio> {
    GrpcStdioServer::new(Stdio { shutdown })
}

pub struct Broker {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = OpenUntilShutdown<ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        // The provider opens no sub-connections; drain what the CLI sends so its side never blocks.
        let mut inbound = request.into_inner();
        tokio::spawn(async move { while let Some(Ok(_)) = inbound.next().await {} });
        Ok(Response::new(silent_stream(&self.shutdown)))
    }
}

pub fn broker(shutdown: CancellationToken) -> GrpcBrokerServer<Broker> {
    GrpcBrokerServer::new(Broker { shutdown })
}
