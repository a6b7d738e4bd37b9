//! The crash suite beyond the example module's create and destroy (`crash.rs`): a second
//! configuration shape, and updates.
//!
//! The shape writes both resources out (not through the example module) with what the example
//! leaves at its defaults: mount targets in a security group of the user's own (no NFS group is
//! made), an additional policy on the role, and nodes that already have another instance profile,
//! which is replaced (`replace_existing_association`). The provider is SIGKILLed after the k-th
//! mutating call of the shape's apply, for every k; and of an update of it that changes each kind
//! of thing an update changes: a node added and one removed, the additional policy swapped for
//! another, the access point replaced (another root directory), a subnet (its mount target)
//! dropped, the tags. After each kill a plain apply must leave exactly what an undisturbed run
//! leaves (counted per inventory kind), the plan after it must be empty, and destroy must put moto
//! back as it began, every inventory kind compared both ways.
//!
//! Under OpenTofu only (not in `TERRAFORM_TESTS`): what this proves is the provider's recovery
//! from its own death, the same under every CLI; the CLI's side of a crash (a plugin dying
//! mid-apply, a CLI killed before its state write) runs under both CLIs in `crash.rs`.

use std::collections::BTreeMap;

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::example_module::{kill_after_every_kth, new_counts, Bench, APPLY, DESTROY};
use acceptance_tests::{block_on, provider_block_with_endpoint, skip_unless_acceptance, Scenario, Workdir};
use aws_sdk_ec2::types::{IamInstanceProfileSpecification, IpPermission, UserIdGroupPair};

const NAME: &str = "crash-shape";
const NODE_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudwatch:PutMetricData","Resource":"*"}]}"#;

/// What the test makes before the scenario begins (the scenario's baseline holds it).
struct Fixture {
    cluster: Cluster,
    /// The additional policies: the first is attached by the apply, the second instead of it by the update.
    additional: [String; 2],
    own_group: String,
    /// The nodes' associations with the instance profile `previous`, which the apply replaces.
    previous: Vec<String>,
}

fn fixture(bench: &Bench) -> Fixture {
    bench.moto.reset();
    bench.proxy.reset();
    let cluster = Cluster::create(&bench.moto, 3, 2);
    let (iam, ec2) = (bench.moto.iam(), bench.moto.ec2());
    let additional = ["node-metrics", "node-logs"].map(|name| {
        let made = block_on(iam.create_policy().policy_name(name).policy_document(NODE_POLICY).send());
        made.expect("CreatePolicy").policy.and_then(|p| p.arn).expect("policy ARN")
    });
    let group = ec2.create_security_group().group_name("own-nfs").description("NFS from the nodes");
    let own_group = block_on(group.vpc_id(&cluster.vpc_id).send()).expect("CreateSecurityGroup").group_id.unwrap();
    let nfs = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(2049)
        .to_port(2049)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(&cluster.node_security_group_id).build())
        .build();
    block_on(ec2.authorize_security_group_ingress().group_id(&own_group).ip_permissions(nfs).send())
        .expect("AuthorizeSecurityGroupIngress");
    block_on(iam.create_instance_profile().instance_profile_name("previous").send()).expect("CreateInstanceProfile");
    let previous = cluster
        .instance_ids
        .iter()
        .map(|node| {
            let spec = IamInstanceProfileSpecification::builder().name("previous").build();
            let made =
                block_on(ec2.associate_iam_instance_profile().instance_id(node).iam_instance_profile(spec).send());
            made.expect("AssociateIamInstanceProfile").iam_instance_profile_association.unwrap().association_id.unwrap()
        })
        .collect();
    Fixture { cluster, additional, own_group, previous }
}

/// What a configuration of the shape names: the nodes, subnets, additional policy, access point
/// root directory and tags.
struct Shape<'a> {
    instance_ids: Vec<String>,
    subnet_ids: Vec<String>,
    additional_policy: &'a str,
    root_directory: &'a str,
    tags: &'a str,
}

impl Fixture {
    fn first(&self) -> Shape<'_> {
        Shape {
            instance_ids: self.cluster.instance_ids.clone(),
            subnet_ids: self.cluster.subnet_ids.clone(),
            additional_policy: &self.additional[0],
            root_directory: "/prometheus",
            tags: r#"{ env = "acc" }"#,
        }
    }
}

fn config(bench: &Bench, fixture: &Fixture, shape: &Shape) -> String {
    format!(
        r#"{provider}
resource "efs_prometheus_volume" "tsdb" {{
  name               = "{NAME}"
  subnet_ids         = {subnets}
  security_group_ids = ["{group}"]
  access_point {{
    root_directory = "{root}"
  }}
  tags = {tags}
}}

data "efs_csi_driver_iam_policy" "nodes" {{
  file_system_arns = [efs_prometheus_volume.tsdb.file_system_arn]
}}

resource "efs_csi_node_identity" "nodes" {{
  name                         = "{NAME}"
  instance_ids                 = {instances}
  policy_json                  = data.efs_csi_driver_iam_policy.nodes.json
  additional_policy_arns       = ["{policy}"]
  replace_existing_association = true
  tags                         = {tags}
}}
"#,
        provider = provider_block_with_endpoint(&bench.proxy.endpoint()),
        subnets = hcl_list(&shape.subnet_ids),
        group = fixture.own_group,
        root = shape.root_directory,
        tags = shape.tags,
        instances = hcl_list(&shape.instance_ids),
        policy = shape.additional_policy,
    )
}

/// What one applied shape adds to moto, per inventory kind, given how many of its nodes had no
/// association before (the replaced ones keep their association id in moto and are the test's) and
/// how many tags each of its five tagged objects carries besides `Name` and the ownership tags.
fn expected_counts(new_associations: usize, subnets: usize, own_tags: usize) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::from([
        ("roles", 1),
        ("role_trust_policies", 1),
        // The driver's policy and the additional one.
        ("role_policy_attachments", 2),
        ("policies", 1),
        ("policy_versions", 1),
        ("instance_profiles", 1),
        ("instance_profile_roles", 1),
        ("file_systems", 1),
        ("file_system_policies", 1),
        ("backup_policies", 1),
        ("mount_targets", subnets),
        ("network_interfaces", subnets),
        ("access_points", 1),
        // Role, policy and profile: their own tags and the two ownership tags; the file system and
        // the access point `Name` too, and the file system AWS's backup tag.
        ("tags", 3 * (own_tags + 2) + 2 * (own_tags + 3) + 1),
    ]);
    // Kinds with nothing new are left out of the counts.
    if new_associations > 0 {
        counts.insert("associations", new_associations);
    }
    counts
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Apply,
    Update,
}

/// A fresh fixture and a scenario applying the first shape; for [`Phase::Update`], applied already
/// and with the updated configuration written, and a node added to the cluster. The answer is the
/// counts the phase's undisturbed end leaves.
fn prepare(bench: &Bench, phase: Phase) -> (Scenario<'_>, BTreeMap<&'static str, usize>) {
    let mut fixture = fixture(bench);
    let wd = Workdir::new(&bench.moto);
    wd.write("main.tf", &config(bench, &fixture, &fixture.first()));
    let mut scenario = Scenario::in_workdir(&bench.moto, wd);
    scenario.compare_everything();
    // The nodes' `previous` associations are replaced by the apply, and are gone after destroy.
    for association in &fixture.previous {
        scenario.changed_by_test("associations", association);
    }
    let first = expected_counts(0, fixture.cluster.subnet_ids.len(), 1);
    if phase == Phase::Apply {
        return (scenario, first);
    }
    ok(&scenario, APPLY, "the first apply");
    assert_eq!(new_counts(&scenario), first, "after the first apply:{}", scenario.new_since_start());

    let added = fixture.cluster.add_instances(&bench.moto, 1);
    scenario.made_by_test("metadata_options", &added[0]);
    let described = block_on(bench.moto.ec2().describe_instances().instance_ids(&added[0]).send()).expect("instance");
    for interface in described.reservations().iter().flat_map(|r| r.instances()).flat_map(|i| i.network_interfaces()) {
        scenario.made_by_test("network_interfaces", interface.network_interface_id().expect("interface id"));
    }
    let dropped = fixture.cluster.instance_ids[2].clone();
    let mut updated = fixture.first();
    updated.instance_ids = fixture.cluster.instance_ids.iter().filter(|id| **id != dropped).cloned().collect();
    updated.subnet_ids.pop();
    updated.additional_policy = &fixture.additional[1];
    updated.root_directory = "/prometheus/server-0";
    updated.tags = r#"{ env = "acc2", team = "obs" }"#;
    let subnets = updated.subnet_ids.len();
    scenario.write("main.tf", &config(bench, &fixture, &updated));
    (scenario, expected_counts(1, subnets, 2))
}

/// Kills the provider after the `k`-th mutating call of `phase`, recovers with apply, and checks
/// the counts, the plan and the destroy. `None` when the phase made fewer than `k` mutating calls
/// (then it completed, and was checked the same way).
fn crash_and_recover(bench: &Bench, phase: Phase, k: u32) -> Option<String> {
    let (wd, expected) = prepare(bench, phase);
    bench.proxy.reset_counts();
    bench.proxy.crash_after_mutating_calls(k);
    let interrupted = wd.run(APPLY);
    let crashed = bench.proxy.crashed();
    let mutating: u32 = bench.proxy.mutating_calls().values().sum();
    bench.proxy.clear_faults();
    let label = format!("{phase:?} killed after mutating call {k} ({crashed:?})");
    match &crashed {
        Some((_, pid)) => {
            assert!(pid.is_some(), "{label}: the provider process was not found");
            assert!(!interrupted.success(), "{label}: the CLI did not notice the crash: {interrupted}");
            ok(&wd, APPLY, &format!("{label}: apply after the crash"));
        }
        None => {
            assert!(interrupted.success(), "{label}: {interrupted}");
            assert!(mutating < k, "{label}: {mutating} mutating calls and no crash");
        }
    }
    assert_eq!(new_counts(&wd), expected, "{label}: after the apply:{}", wd.new_since_start());
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(0), "{label}: the plan after the apply is not empty: {plan}");
    ok(&wd, DESTROY, &format!("{label}: destroy"));
    wd.assert_back_to_start();
    crashed.map(|(action, _)| action)
}

fn ok(wd: &Workdir, args: &[&str], what: &str) {
    let out = wd.run(args);
    assert!(out.success(), "{what}: {out}");
}

/// Walks k = first, first + 2, ... on one bench until the phase completes before its k-th mutating
/// call; returns the actions killed after.
fn every_other_k(phase: Phase, first: u32) -> Vec<String> {
    let bench = Bench::start();
    kill_after_every_kth(&format!("{phase:?}"), first, 2, |k| crash_and_recover(&bench, phase, k))
}

#[test]
fn second_shape_killed_during_apply_after_odd_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Apply, 1);
    assert!(killed.len() >= 6, "the apply makes about 15 mutating calls: {killed:?}");
    assert!(killed.iter().any(|a| a == "ec2:ReplaceIamInstanceProfileAssociation"), "{killed:?}");
}

#[test]
fn second_shape_killed_during_apply_after_even_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Apply, 2);
    assert!(killed.len() >= 6, "the apply makes about 15 mutating calls: {killed:?}");
}

#[test]
fn killed_during_update_after_odd_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Update, 1);
    assert!(killed.len() >= 4, "the update makes about 10 mutating calls: {killed:?}");
}

#[test]
fn killed_during_update_after_even_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Update, 2);
    assert!(killed.len() >= 4, "the update makes about 10 mutating calls: {killed:?}");
}
