//! Tests of the harness itself: the real Terraform CLI in a `Workdir`, and a private moto
//! server driven through the Rust AWS SDK. They need `scripts/setup.sh` and `TF_ACC=1`, but not
//! the provider binary.

use std::net::TcpStream;
use std::time::Duration;

use acceptance_tests::{block_on, provider_block, skip_unless_acceptance, Moto, Workdir};

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
