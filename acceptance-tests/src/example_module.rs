//! The example module `examples/prometheus-on-ec2` (the main job) as the fault and crash suites run
//! it: its configuration against a stand-in [`Cluster`], and what moto holds of what it makes.

use std::collections::BTreeMap;

use crate::cluster::Cluster;
use crate::proxy::FaultProxy;
use crate::{provider_block_with_endpoint, Moto, Scenario, Workdir};

/// `terraform apply` arguments for unattended runs.
pub const APPLY: &[&str] = &["apply", "-auto-approve", "-input=false", "-no-color"];
/// `terraform destroy` arguments for unattended runs.
pub const DESTROY: &[&str] = &["destroy", "-auto-approve", "-input=false", "-no-color"];

/// One moto with a [`FaultProxy`] in front, reused run after run (a moto start costs about half a
/// second, a reset a few milliseconds).
pub struct Bench {
    pub moto: Moto,
    pub proxy: FaultProxy,
}

impl Bench {
    pub fn start() -> Bench {
        let moto = Moto::start();
        let proxy = FaultProxy::start(&moto);
        Bench { moto, proxy }
    }

    /// Empties moto and the proxy, then makes a stand-in cluster (3 zones, a master and 2 workers)
    /// and a scenario (module installed) whose configuration applies the example module, named
    /// `name`, through the proxy. The proxy outlives the scenario, so its closing destroy goes
    /// through it too (with whatever faults are still armed). The scenario compares every kind of
    /// its inventory ([`Scenario::compare_everything`]).
    pub fn fresh(&self, name: &str) -> (Cluster, Scenario<'_>) {
        let (cluster, wd) = self.fresh_workdir(name);
        let mut scenario = Scenario::in_workdir(&self.moto, wd);
        scenario.compare_everything();
        (cluster, scenario)
    }

    /// [`Bench::fresh`] without the scenario's closing destroy and inventory check, for the
    /// benchmark, which measures destroy itself and keeps the workdir beside the bench.
    pub fn fresh_workdir(&self, name: &str) -> (Cluster, Workdir) {
        self.moto.reset();
        self.proxy.reset();
        let cluster = Cluster::create(&self.moto, 3, 2);
        let wd = Workdir::new(&self.moto);
        wd.write("main.tf", &config(&provider_block_with_endpoint(&self.proxy.endpoint()), name, &cluster));
        wd.run_ok(&["get", "-no-color"]);
        (cluster, wd)
    }
}

/// A root configuration that applies the example module to `cluster` with `provider` (the output
/// of [`crate::provider_block`] or [`crate::provider_block_with_endpoint`]), naming everything
/// after `name`.
pub fn config(provider: &str, name: &str, cluster: &Cluster) -> String {
    config_with(provider, name, cluster, "  tags                   = { env = \"acc\" }\n")
}

/// [`config`] with other `extra` argument lines for the module (its tags among them).
pub fn config_with(provider: &str, name: &str, cluster: &Cluster, extra: &str) -> String {
    format!(
        r#"{provider}
{module}
output "volume_handle" {{ value = module.prometheus_storage.volume_handle }}
output "ready" {{ value = module.prometheus_storage.ready }}
output "readiness" {{ value = module.prometheus_storage.readiness }}
output "instance_profile_name" {{ value = module.prometheus_storage.instance_profile_name }}
"#,
        module = cluster.example_module_block(name, extra),
    )
}

/// What one applied example module adds to or changes in moto ([`Scenario::new_since_start`]),
/// per [`Inventory`](crate::Inventory) kind: one role, policy (one version), profile, file system, access point and
/// NFS group, a mount target with its network interface per subnet, an association per
/// instance, and what is set on them.
pub fn expected_new_counts(cluster: &Cluster) -> BTreeMap<&'static str, usize> {
    let (instances, subnets) = (cluster.instance_ids.len(), cluster.subnet_ids.len());
    BTreeMap::from([
        ("roles", 1),
        ("role_trust_policies", 1),
        ("role_policy_attachments", 1),
        ("policies", 1),
        ("policy_versions", 1),
        ("instance_profiles", 1),
        ("instance_profile_roles", 1),
        ("associations", instances),
        ("metadata_options", instances),
        ("file_systems", 1),
        ("file_system_policies", 1),
        ("backup_policies", 1),
        ("mount_targets", subnets),
        ("network_interfaces", subnets),
        ("access_points", 1),
        ("security_groups", 1),
        ("security_group_rules", 2),
        // The role, policy and profile carry `env` and the two ownership tags; the file system,
        // access point and NFS group also `Name`; the file system AWS's backup tag besides.
        ("tags", 3 * 3 + 3 * 4 + 1),
    ])
}

/// [`Scenario::new_since_start`] as counts per kind.
pub fn new_counts(scenario: &Scenario) -> BTreeMap<&'static str, usize> {
    scenario.new_since_start().counts()
}

/// The crash suites' walk over k: `run(k)` for k = `first`, `first + step`, ... (one run arms the
/// crash trigger after the k-th mutating call of `phase`, recovers and checks) until a run answers
/// `None`, as it does when the phase completed before its k-th mutating call. The answer is the
/// actions the runs before were killed after, in order.
pub fn kill_after_every_kth(
    phase: &str,
    first: u32,
    step: u32,
    mut run: impl FnMut(u32) -> Option<String>,
) -> Vec<String> {
    let mut killed = Vec::new();
    for k in (first..100).step_by(step as usize) {
        match run(k) {
            Some(action) => {
                eprintln!("{phase}: killed after call {k}, {action}; recovered");
                killed.push(action);
            }
            None => {
                eprintln!("{phase}: completed before call {k}; every k up to it covered");
                return killed;
            }
        }
    }
    panic!("the {phase} never ends");
}
