//! Compiles the protocol definitions under `proto/` into Rust.
//!
//! Parsing is done by `protox`, a pure-Rust protobuf compiler, so no
//! system `protoc` is needed. The resulting `FileDescriptorSet` is handed to
//! `tonic-prost-build`, which generates prost messages plus tonic client
//! and server code. The encoded descriptor set is also written to
//! `OUT_DIR/tfplugin_proto_descriptor.bin` and exposed by the crate.

use std::path::PathBuf;

use prost::Message as _;

const PROTO_DIR: &str = "proto";

/// Files to compile, relative to `PROTO_DIR`.
const PROTO_FILES: &[&str] =
    &["tfplugin6.proto", "plugin/grpc_controller.proto", "plugin/grpc_stdio.proto", "plugin/grpc_broker.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_DIR}");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={PROTO_DIR}/{file}");
    }

    // Source info is kept so that proto comments become rustdoc comments.
    // Imports (google/protobuf/*.proto, shipped inside protox) are kept in
    // the set too; prost maps them to `prost_types` instead of generating
    // code for them.
    let fds = protox::compile(PROTO_FILES, [PROTO_DIR])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("tfplugin_proto_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // rerun-if-changed is emitted above for the whole proto directory.
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;

    Ok(())
}
