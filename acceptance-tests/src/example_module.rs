//! The example module `examples/prometheus-on-ec2` (the main job) as the fault and crash suites run
//! it: its configuration against a stand-in [`Cluster`], and what moto holds of what it makes.

use std::collections::BTreeMap;

use crate::cluster::Cluster;
use crate::proxy::FaultProxy;
use crate::{provider_block_with_endpoint, Inventory, Moto, Scenario, Workdir};

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
    /// through it too (with whatever faults are still armed).
    pub fn fresh(&self, name: &str) -> (Cluster, Scenario<'_>) {
        let (cluster, wd) = self.fresh_workdir(name);
        (cluster, Scenario::in_workdir(&self.moto, wd))
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
    format!(
        r#"{provider}
{module}
output "volume_handle" {{ value = module.prometheus_storage.volume_handle }}
output "ready" {{ value = module.prometheus_storage.ready }}
output "readiness" {{ value = module.prometheus_storage.readiness }}
output "instance_profile_name" {{ value = module.prometheus_storage.instance_profile_name }}
"#,
        module = cluster.example_module_block(name, "  tags                   = { env = \"acc\" }\n"),
    )
}

/// How many of each kind of object the module makes exist in moto, by id (kinds with none are
/// left out): the [`Inventory`] (see there for the kinds).
pub fn inventory(moto: &Moto) -> BTreeMap<&'static str, Vec<String>> {
    Inventory::of(moto).unwrap_or_else(|e| panic!("reading moto's inventory: {e}")).into_map()
}

/// What one applied example module holds: one of each, a mount target per subnet and an
/// association per instance.
pub fn expected_inventory_counts(cluster: &Cluster) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("roles", 1),
        ("policies", 1),
        ("instance_profiles", 1),
        ("associations", cluster.instance_ids.len()),
        ("file_systems", 1),
        ("mount_targets", cluster.subnet_ids.len()),
        ("access_points", 1),
        ("security_groups", 1),
    ])
}

/// [`inventory`] as counts per kind.
pub fn inventory_counts(moto: &Moto) -> BTreeMap<&'static str, usize> {
    inventory(moto).into_iter().map(|(kind, items)| (kind, items.len())).collect()
}
