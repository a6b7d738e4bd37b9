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
//! * [`Scenario`] is the [`Workdir`] every acceptance test runs in: when it ends (dropped, also
//!   after a panic) it destroys what the state holds and checks that moto is left without any
//!   object the provider makes that it did not start with (see [`Inventory`]).
//!
//! They live in modules by job: `moto` (the emulator and plain HTTP to it), `workdir` (one
//! configuration, its environment and its commands), [`cli`] (which CLI, and running one command
//! to its end with a deadline), `scenario` (the scenario), `inventory` (what moto holds of every kind the provider makes or changes), `locations` (the
//! workspace, the venv, the provider binary); all of it is re-exported here.
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
//! use acceptance_tests::{block_on, provider_block, skip_unless_acceptance, Moto, Scenario};
//!
//! fn test_something() {
//!     skip_unless_acceptance!();
//!     let moto = Moto::start();
//!     let wd = Scenario::new(&moto);
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
mod inventory;
mod locations;
pub mod mirror;
mod moto;
pub mod packaging;
pub mod proxy;
pub mod registry;
pub mod remote_state;
mod scenario;
mod workdir;

use std::future::Future;
use std::sync::OnceLock;
use std::thread;

/// AWS region used by every test.
pub const REGION: &str = "us-east-1";
/// Fake access key id handed to the provider and the SDK clients (moto accepts anything).
pub const FAKE_ACCESS_KEY: &str = "AKIAFAKEACCESSKEY000";
/// Fake secret key matching [`FAKE_ACCESS_KEY`].
pub const FAKE_SECRET_KEY: &str = "fake-secret";
/// The provider's namespace and type, the part of its source address every registry shares.
pub const PROVIDER_NAMESPACE_TYPE: &str = "seedlabs/efs";

pub use cli::{assert_not_leaked, squash, terraform_bin, tofu_bin, Cli, Output};
pub(crate) use cli::{kill_process_group, read_in_thread, terraform_timeout};
pub use inventory::{object_of, Inventory};
pub(crate) use locations::env_nonempty;
pub use locations::{moto_server_bin, provider_bin, repo_root, venv};
pub use moto::{closed_port, http_request, Moto, MotoAuth};
pub use scenario::Scenario;
pub(crate) use workdir::hcl_string;
pub use workdir::{provider_block, provider_block_with_endpoint, Workdir};

/// The fully qualified source address of the provider under the CLI of this run
/// ([`Cli::current`]): `registry.opentofu.org/seedlabs/efs` or `registry.terraform.io/seedlabs/efs`.
pub fn provider_source() -> String {
    Cli::current().provider_source()
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

/// The AWS calls of the last read of `efs_cluster_readiness` in a CLI run's output (with
/// `TF_LOG_PROVIDER=debug`): how many, and the provider's summary of them
/// (`EC2:DescribeInstances*1,...`).
pub fn readiness_calls(stderr: &str) -> (usize, String) {
    (readiness_log_field(stderr, "aws_calls").parse().expect("a number"), readiness_log_field(stderr, "operations"))
}

/// How many of the AWS calls of the last read of `efs_cluster_readiness` in a CLI run's output came
/// one after the other (the longest run of calls each started once the one before had ended).
pub fn readiness_calls_in_a_row(stderr: &str) -> usize {
    readiness_log_field(stderr, "in_a_row").parse().expect("a number")
}

fn readiness_log_field(stderr: &str, name: &str) -> String {
    let line = stderr
        .lines()
        .rfind(|l| l.contains("checked cluster readiness"))
        .unwrap_or_else(|| panic!("no readiness log line in:\n{stderr}"));
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .to_string()
}
