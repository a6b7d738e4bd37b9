//! Tests of the harness itself: the real CLI in a `Workdir`, a private moto server driven through
//! the Rust AWS SDK, and the `Scenario` every other test runs in. They need `scripts/setup.sh` and
//! `TF_ACC=1`; only the scenario tests need the provider binary.
//!
//! The `Workdir` and moto tests use those directly, not a `Scenario`: they test the parts a
//! scenario is made of (and one drops its moto, which a scenario borrows).

use std::net::TcpStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::{block_on, provider_block, skip_unless_acceptance, Moto, Scenario, Workdir};

#[test]
fn terraform_applies_a_configuration_without_providers() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Workdir::new(&moto);
    wd.write(
        "main.tf",
        r#"
locals {
  parts = [40, 2]
}

output "answer" {
  value = sum(local.parts)
}
"#,
    );

    let out = wd.apply();
    assert!(out.stdout.contains("Apply complete!"), "{out}");
    assert_eq!(wd.output_json()["answer"]["value"], 42);
    assert_eq!(wd.show_json()["values"]["outputs"]["answer"]["value"], 42);
    assert_eq!(wd.plan_detailed_exitcode(), 0);

    wd.write("extra.tf", "output \"more\" {\n  value = \"x\"\n}\n");
    assert_eq!(wd.plan_detailed_exitcode(), 2);
    wd.apply();
    assert_eq!(wd.output_json()["more"]["value"], "x");
    wd.destroy();
    assert_eq!(wd.output_json(), serde_json::json!({}));
}

#[test]
fn provider_block_is_canonical_hcl() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Workdir::new(&moto);
    let block = provider_block(&moto);
    assert!(block.contains(&format!("ec2 = \"{}\"", moto.endpoint())));
    wd.write("provider.tf", &block);
    // `terraform fmt` parses the file without needing the provider.
    wd.run_ok(&["fmt", "-check", "-diff", "-no-color"]);
}

#[test]
fn moto_serves_the_sdk_resets_and_stops_on_drop() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let port = moto.port();
    let ec2 = moto.ec2();

    let vpc_id = block_on(ec2.create_vpc().cidr_block("10.42.0.0/16").send())
        .expect("CreateVpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("VPC id")
        .to_string();
    let ids = || -> Vec<String> {
        block_on(ec2.describe_vpcs().send())
            .expect("DescribeVpcs")
            .vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect()
    };
    assert!(ids().contains(&vpc_id));

    moto.reset();
    let after = ids();
    assert!(!after.contains(&vpc_id), "{vpc_id} survived reset: {after:?}");
    // Only moto's default VPC (if any) is left.
    assert!(after.len() <= 1, "{after:?}");

    // The other clients talk to the same server.
    let roles = block_on(moto.iam().list_roles().send()).expect("ListRoles");
    assert!(roles.roles().is_empty());
    let fss = block_on(moto.efs().describe_file_systems().send()).expect("DescribeFileSystems");
    assert!(fss.file_systems().is_empty());

    drop(moto);
    assert!(
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_err(),
        "port {port} still open after dropping Moto"
    );
}

#[test]
fn apply_expect_error_returns_the_error_text() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Workdir::new(&moto);
    wd.write("main.tf", "output \"broken\" {\n  value = local.missing\n}\n");
    let text = wd.apply_expect_error();
    assert!(text.contains("Reference to undeclared local value"), "{text}");
    assert!(text.contains("local.missing"), "{text}");
}

/// A one-subnet volume (the cheapest resource to make) in `cluster`.
fn volume(moto: &Moto, cluster: &Cluster) -> String {
    format!(
        "{}\nresource \"efs_prometheus_volume\" \"this\" {{\n  name = \"harness\"\n  subnet_ids = {}\n  \
         allowed_security_group_ids = [\"{}\"]\n}}\n",
        provider_block(moto),
        hcl_list(&cluster.subnet_ids[..1]),
        cluster.node_security_group_id
    )
}

fn file_system_ids(moto: &Moto) -> Vec<String> {
    let out = block_on(moto.efs().describe_file_systems().send()).expect("DescribeFileSystems");
    out.file_systems().iter().map(|f| f.file_system_id().to_string()).collect()
}

/// The message of a caught panic.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn scenario_destroys_at_its_end_also_when_the_test_panics() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);

    // A test that forgets to destroy.
    {
        let wd = Scenario::new(&moto);
        wd.write("main.tf", &volume(&moto, &cluster));
        wd.apply();
        assert_eq!(file_system_ids(&moto).len(), 1);
    }
    assert_eq!(file_system_ids(&moto), Vec::<String>::new(), "the scenario's end destroyed the volume");

    // A test whose body panics after the apply.
    let failed = catch_unwind(AssertUnwindSafe(|| {
        let wd = Scenario::new(&moto);
        wd.write("main.tf", &volume(&moto, &cluster));
        wd.apply();
        panic!("the test body failed");
    }));
    assert_eq!(panic_text(failed.expect_err("the body panicked")), "the test body failed");
    assert_eq!(file_system_ids(&moto), Vec::<String>::new(), "destroyed after the panic too");
}

#[test]
fn scenario_fails_on_what_is_left_and_accepts_what_the_test_made() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let iam = moto.iam();
    let trust = r#"{"Version":"2012-10-17","Statement":[]}"#;
    block_on(iam.create_role().role_name("before").assume_role_policy_document(trust).send()).expect("CreateRole");

    // An object of a kind the provider makes, new since the scenario began: the end names it.
    let wd = Scenario::new(&moto);
    block_on(iam.create_role().role_name("left-behind").assume_role_policy_document(trust).send()).expect("CreateRole");
    let text = panic_text(catch_unwind(AssertUnwindSafe(|| wd.finish())).expect_err("something is left"));
    assert!(text.contains("left-behind") && text.contains("roles"), "{text}");
    assert!(!text.lines().any(|l| l.trim() == "before"), "what was there at the start is not counted: {text}");

    // The same, recorded as the test's own: the end passes.
    let mut wd = Scenario::new(&moto);
    block_on(iam.create_role().role_name("fixture").assume_role_policy_document(trust).send()).expect("CreateRole");
    wd.made_by_test("roles", "fixture");
    wd.assert_nothing_new();
    wd.finish();

    // An object the state named (kept in terraform.tfstate.backup) that outlived the end.
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &volume(&moto, &cluster));
    wd.apply();
    let fs_id = file_system_ids(&moto).pop().expect("a file system");
    wd.run_ok(&["state", "rm", "-no-color", "efs_prometheus_volume.this"]);
    let text = panic_text(catch_unwind(AssertUnwindSafe(|| wd.finish())).expect_err("the volume is left"));
    assert!(text.contains("destroy left objects the state named") && text.contains(&fs_id), "{text}");
}

/// No CLI: what the inventory compares besides objects. A second policy version (as a retried
/// CreatePolicyVersion whose answer was lost would make), an extra rule on a group that was there
/// before, and a changed tag on it all fail the end; a change the test declares passes.
#[test]
fn scenario_fails_on_an_extra_policy_version_or_rule_and_on_a_changed_object() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let (iam, ec2) = (moto.iam(), moto.ec2());
    let document =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let policy = block_on(iam.create_policy().policy_name("p").policy_document(document).send()).expect("CreatePolicy");
    let arn = policy.policy().and_then(|p| p.arn()).expect("policy ARN").to_string();
    let vpc = block_on(ec2.describe_vpcs().send()).expect("DescribeVpcs").vpcs()[0].vpc_id().expect("vpc").to_string();
    let group = block_on(ec2.create_security_group().group_name("nodes").description("nodes").vpc_id(&vpc).send())
        .expect("CreateSecurityGroup");
    let group_id = group.group_id().expect("group id").to_string();
    let name_tag = |value: &str| aws_sdk_ec2::types::Tag::builder().key("Name").value(value).build();
    block_on(ec2.create_tags().resources(&group_id).tags(name_tag("before")).send()).expect("CreateTags");
    let everything = || {
        let mut wd = Scenario::new(&moto);
        wd.compare_everything();
        wd
    };
    let fails =
        |wd: Scenario<'_>| panic_text(catch_unwind(AssertUnwindSafe(|| wd.finish())).expect_err("a difference"));

    let wd = everything();
    block_on(iam.create_policy_version().policy_arn(&arn).policy_document(document).send()).expect("version");
    let text = fails(wd);
    assert!(text.contains("policy_versions") && text.contains(&format!("{arn} v2 not-default")), "{text}");
    block_on(iam.delete_policy_version().policy_arn(&arn).version_id("v2").send()).expect("DeletePolicyVersion");

    let wd = everything();
    let nfs = || {
        ec2.authorize_security_group_ingress()
            .group_id(&group_id)
            .ip_protocol("tcp")
            .from_port(2049)
            .to_port(2049)
            .cidr_ip("10.0.0.0/8")
    };
    block_on(nfs().send()).expect("AuthorizeSecurityGroupIngress");
    let text = fails(wd);
    assert!(text.contains(&format!("{group_id} ingress tcp 2049-2049 cidr 10.0.0.0/8")), "{text}");
    let revoke = ec2.revoke_security_group_ingress().group_id(&group_id).ip_protocol("tcp").from_port(2049);
    block_on(revoke.to_port(2049).cidr_ip("10.0.0.0/8").send()).expect("RevokeSecurityGroupIngress");

    let wd = everything();
    block_on(ec2.create_tags().resources(&group_id).tags(name_tag("after")).send()).expect("CreateTags");
    let text = fails(wd);
    assert!(text.contains("gone or") && text.contains(&format!("{group_id} Name=before")), "{text}");
    let mut wd = everything();
    block_on(ec2.create_tags().resources(&group_id).tags(name_tag("again")).send()).expect("CreateTags");
    wd.changed_by_test("security_groups", &group_id);
    wd.finish();
}
