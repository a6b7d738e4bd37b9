//! Generated gRPC bindings for talking to Terraform (and OpenTofu) as a
//! provider plugin.
//!
//! The `.proto` sources live in this crate's `proto/` directory and are
//! compiled at build time by `build.rs` with the pure-Rust `protox`
//! compiler (no system `protoc`) and `tonic-prost-build`. Both client and
//! server code are generated for every service.
//!
//! * [`tfplugin6`]: Terraform plugin protocol **6.11** (protobuf package
//!   `tfplugin6`). A provider implements the
//!   [`tfplugin6::provider_server::Provider`] trait and serves it with
//!   [`tfplugin6::provider_server::ProviderServer`]. Covers resource
//!   identity (6.9), list resources and actions (6.10), pluggable state
//!   stores, ephemeral resources, provider functions, `MoveResourceState`,
//!   `GenerateResourceConfig`, deferred actions, and the 6.11 additions
//!   (deprecation messages, computed blocks, pre-planned private data).
//! * [`plugin`]: the HashiCorp go-plugin infrastructure services (protobuf
//!   package `plugin`) that Terraform expects next to the provider service:
//!   `GRPCController` (graceful shutdown), `GRPCStdio` (stdout/stderr
//!   forwarding) and `GRPCBroker` (extra connection brokering).
//!
//! Well-known types map to [`prost_types`] (for example
//! `google.protobuf.Timestamp` becomes [`prost_types::Timestamp`]) and
//! `google.protobuf.Empty` maps to `()`.

/// Terraform plugin protocol version 6.11 (protobuf package `tfplugin6`).
///
/// Messages are nested the way the protocol nests them: the request of the
/// `ReadResource` RPC is [`tfplugin6::read_resource::Request`], its response
/// [`tfplugin6::read_resource::Response`], and so on. The service trait is
/// [`tfplugin6::provider_server::Provider`]; the client is
/// [`tfplugin6::provider_client::ProviderClient`].
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs, rustdoc::all)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// HashiCorp go-plugin infrastructure services (protobuf package `plugin`).
///
/// * [`plugin::grpc_controller_server::GrpcController`]: `Shutdown`.
/// * [`plugin::grpc_stdio_server::GrpcStdio`]: `StreamStdio`, streaming
///   [`plugin::StdioData`] chunks.
/// * [`plugin::grpc_broker_server::GrpcBroker`]: `StartStream`, a
///   bidirectional stream of [`plugin::ConnInfo`].
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs, rustdoc::all)]
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// Protocol version of [`tfplugin6`] as `(major, minor)`.
pub const TFPLUGIN6_VERSION: (u32, u32) = (6, 11);

/// Encoded `google.protobuf.FileDescriptorSet` of every `.proto` file this
/// crate compiles (including the imported well-known types). Useful for
/// gRPC server reflection and for checking wire facts in tests.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tfplugin_proto_descriptor.bin"));
