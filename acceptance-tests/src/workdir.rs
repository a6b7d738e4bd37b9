//! A temporary directory holding one configuration, where the CLI of the run applies it against
//! the provider and a [`Moto`].

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::cli::{self, Cli, Output};
use crate::locations::{provider_bin_candidate, PROVIDER_FILE};
use crate::moto::remove_proxy_env;
use crate::{provider_bin, Moto, FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION};

// ---------------------------------------------------------------------------------------------
// Terraform
// ---------------------------------------------------------------------------------------------

/// HCL for the `terraform { required_providers }` block and a `provider "efs"` block whose
/// credentials are the fake ones and whose `iam`/`ec2`/`efs`/`sts` endpoints are `moto`.
pub fn provider_block(moto: &Moto) -> String {
    provider_block_with_endpoint(&moto.endpoint())
}

/// [`provider_block`] with every service endpoint at `endpoint`, e.g. a
/// [`crate::proxy::FaultProxy::endpoint`] in front of moto.
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
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());
        cli::run_to_end(cmd, self.cli, args)
    }

    /// The Terraform command [`Workdir::run`] runs, not started yet: in the directory, in its
    /// own process group, with the environment described there, stdout and stderr piped (stdin is
    /// left to the caller). For commands that must be driven while they run, e.g. answering an
    /// approval prompt (see [`crate::interactive::RunningTerraform`]).
    pub fn command(&self, args: &[&str]) -> Command {
        // `fmt` and `version` never start providers.
        if !matches!(args.first(), Some(&"fmt" | &"version")) {
            self.check_provider_built();
        }
        self.command_unchecked(args)
    }

    /// [`Workdir::command`] without checking that the provider is built (which panics when it
    /// is not), for code that must not panic.
    pub(crate) fn command_unchecked(&self, args: &[&str]) -> Command {
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
