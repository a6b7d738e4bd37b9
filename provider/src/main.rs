//! terraform-provider-efs: a Terraform/OpenTofu provider (plugin protocol 6) that sets up Amazon
//! EFS storage for Prometheus on self-managed Kubernetes clusters on EC2.
//!
//! This file only parses the command line and runs the plugin server; see `lib.rs` for the layout.

use std::process::ExitCode;
use terraform_provider_efs::{logging, plugin, server, VERSION};

use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let launch = if args.iter().any(|a| a == "--debug" || a == "-debug") {
        plugin::Launch::Debug
    } else if args.iter().any(|a| a == "--version" || a == "-version") {
        println!("terraform-provider-efs {VERSION} (plugin protocol {})", plugin::PROTOCOL_VERSION);
        return ExitCode::SUCCESS;
    } else {
        plugin::Launch::Managed
    };

    if launch == plugin::Launch::Managed {
        if let Err(e) = plugin::check_launch_environment() {
            eprintln!(
                "This binary is a plugin for Terraform and OpenTofu (the \"efs\" provider, {}).\n\
                 It is not meant to be run directly: add the provider to a configuration and run\n\
                 `terraform init` / `terraform apply`. To debug it, run it with --debug.\n\n({e})",
                plugin::PROVIDER_ADDRESS
            );
            return ExitCode::FAILURE;
        }
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("terraform-provider-efs: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        logging::info("starting provider", &[("version", VERSION)]);
        let provider = server::ProviderService::new(shutdown.clone());
        plugin::serve(provider, launch, shutdown).await
    });
    // Background tasks (AWS calls cancelled by shutdown) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logging::error("provider failed", &[("error", &e.to_string())]);
            eprintln!("terraform-provider-efs: {e}");
            ExitCode::FAILURE
        }
    }
}
