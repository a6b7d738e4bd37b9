//! The example module `examples/prometheus-on-ec2` (the main job) as the fault and crash suites run
//! it: its configuration against a stand-in [`Cluster`], and what moto holds of what it makes.

use std::collections::BTreeMap;

use crate::cluster::Cluster;
use crate::proxy::FaultProxy;
use crate::{block_on, provider_block_with_endpoint, Moto, Workdir};

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
    /// and a work dir (module installed) whose configuration applies the example module, named
    /// `name`, through the proxy.
    pub fn fresh(&self, name: &str) -> (Cluster, Workdir) {
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

/// How many of each kind of object the module makes exist in moto (kinds with none are left out):
/// `roles`, `policies` (customer managed), `instance_profiles`, `associations` (live ones),
/// `file_systems`, `mount_targets`, `access_points`, `security_groups` (the NFS groups the volume
/// makes, named `efs-prometheus-*`).
pub fn inventory(moto: &Moto) -> BTreeMap<&'static str, Vec<String>> {
    let (iam, ec2, efs) = (moto.iam(), moto.ec2(), moto.efs());
    let mut found: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let roles = block_on(iam.list_roles().send()).expect("ListRoles");
    found.insert("roles", roles.roles().iter().map(|r| r.role_name().to_string()).collect());
    let policies =
        block_on(iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send()).expect("ListPolicies");
    found.insert("policies", policies.policies().iter().filter_map(|p| p.arn().map(str::to_string)).collect());
    let profiles = block_on(iam.list_instance_profiles().send()).expect("ListInstanceProfiles");
    found.insert(
        "instance_profiles",
        profiles.instance_profiles().iter().map(|p| p.instance_profile_name().to_string()).collect(),
    );
    let associations = block_on(ec2.describe_iam_instance_profile_associations().send())
        .expect("DescribeIamInstanceProfileAssociations");
    found.insert(
        "associations",
        associations
            .iam_instance_profile_associations()
            .iter()
            .filter(|a| a.state().is_some_and(|s| matches!(s.as_str(), "associated" | "associating")))
            .map(|a| format!("{} on {}", a.association_id().unwrap_or_default(), a.instance_id().unwrap_or_default()))
            .collect(),
    );
    let file_systems = block_on(efs.describe_file_systems().send()).expect("DescribeFileSystems");
    let fs_ids: Vec<String> = file_systems.file_systems().iter().map(|f| f.file_system_id().to_string()).collect();
    let mut mount_targets = Vec::new();
    for fs_id in &fs_ids {
        let mts = block_on(efs.describe_mount_targets().file_system_id(fs_id).send()).expect("DescribeMountTargets");
        mount_targets.extend(mts.mount_targets().iter().map(|m| m.mount_target_id().to_string()));
    }
    found.insert("file_systems", fs_ids);
    found.insert("mount_targets", mount_targets);
    let access_points = block_on(efs.describe_access_points().send()).expect("DescribeAccessPoints");
    found.insert(
        "access_points",
        access_points.access_points().iter().filter_map(|a| a.access_point_id().map(str::to_string)).collect(),
    );
    let groups = block_on(ec2.describe_security_groups().send()).expect("DescribeSecurityGroups");
    found.insert(
        "security_groups",
        groups
            .security_groups()
            .iter()
            .filter(|g| g.group_name().unwrap_or_default().starts_with("efs-prometheus-"))
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
    );
    found.retain(|_, items| !items.is_empty());
    found
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
