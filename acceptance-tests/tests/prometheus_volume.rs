//! Acceptance tests of `efs_prometheus_volume` against moto with the real Terraform CLI. Each runs
//! in a [`Scenario`], which ends with `destroy` and a check that nothing is left in moto.

use acceptance_tests::charts::{kubernetes_validate, yaml_documents};
use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::{block_on, provider_block, skip_unless_acceptance, squash, Moto, Scenario, Workdir};
use serde_json::Value;

const ADDR: &str = "efs_prometheus_volume.this";

fn config(moto: &Moto, subnets: &[String], node_sg: &str, extra: &str) -> String {
    format!(
        "{}\nresource \"efs_prometheus_volume\" \"this\" {{\n  name                       = \"prom\"\n  subnet_ids                 = {}\n  allowed_security_group_ids = [\"{node_sg}\"]\n{extra}}}\n",
        provider_block(moto),
        hcl_list(subnets)
    )
}

/// Validates manifests with the Kubernetes 1.30 schemas, rejecting unknown fields.
fn validate_manifests(manifests: &[&str]) {
    let objects: Vec<Value> = manifests.iter().flat_map(|yaml| yaml_documents(yaml)).collect();
    assert_eq!(objects.len(), manifests.len(), "one object per manifest: {manifests:?}");
    kubernetes_validate(&objects);
}

/// The plan is empty; shows it otherwise.
fn assert_no_changes(wd: &Workdir) {
    let out = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(0), "expected an empty plan: {out}");
}

/// A state without what import cannot know. `timeouts` is configuration only: no AWS object holds
/// it, so an imported state has none. (`kubernetes` is configuration only too, but import reads
/// the schema's defaults for it, which is what the configurations here use, so it is compared.)
fn importable(mut state: Value) -> Value {
    let attributes = state.as_object_mut().expect("state is an object");
    assert!(attributes.contains_key("timeouts"), "the schema has a timeouts block");
    attributes.remove("timeouts");
    state
}

fn text<'a>(state: &'a Value, name: &str) -> &'a str {
    state[name].as_str().unwrap_or_else(|| panic!("{name} is not a string in {state}"))
}

#[test]
fn basic_three_azs_manifests_import_and_destroy() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 3, 1);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, ""));
    wd.apply();
    let state = wd.state_resource(ADDR);

    let fs_id = text(&state, "file_system_id").to_string();
    let ap_id = text(&state, "access_point_id").to_string();
    assert!(fs_id.starts_with("fs-"));
    assert_eq!(text(&state, "volume_handle"), format!("{fs_id}::{ap_id}"));
    assert_eq!(text(&state, "dns_name"), format!("{fs_id}.efs.us-east-1.amazonaws.com"));
    let mts = state["mount_targets"].as_array().unwrap();
    assert_eq!(mts.len(), 3);
    let mut azs: Vec<&str> = mts.iter().map(|m| m["availability_zone"].as_str().unwrap()).collect();
    azs.sort();
    assert_eq!(azs, cluster.availability_zones.iter().map(String::as_str).collect::<Vec<_>>());

    // AWS holds what the state says.
    let efs = moto.efs();
    let fs = block_on(efs.describe_file_systems().file_system_id(&fs_id).send()).unwrap();
    let fs = &fs.file_systems()[0];
    assert_eq!(fs.creation_token(), "efs-prometheus-prom");
    assert_eq!(fs.encrypted(), Some(true));
    let ap = block_on(efs.describe_access_points().access_point_id(&ap_id).send()).unwrap();
    let ap = &ap.access_points()[0];
    assert_eq!(ap.posix_user().unwrap().uid(), 65534);
    assert_eq!(ap.root_directory().unwrap().path(), Some("/prometheus"));
    assert_eq!(ap.root_directory().unwrap().creation_info().unwrap().permissions(), "0755");
    let policy = block_on(efs.describe_file_system_policy().file_system_id(&fs_id).send()).unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert!(policy.to_string().contains("aws:SecureTransport"), "{policy}");
    assert!(policy.to_string().contains("elasticfilesystem:ClientMount"), "{policy}");
    let sg_id = text(&state, "security_group_id");
    let sg = block_on(moto.ec2().describe_security_groups().group_ids(sg_id).send()).unwrap();
    let perms = sg.security_groups()[0].ip_permissions();
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0].from_port(), Some(2049));
    assert!(perms[0].ip_ranges().is_empty(), "no CIDR may be open by default");
    assert_eq!(perms[0].user_id_group_pairs()[0].group_id(), Some(cluster.node_security_group_id.as_str()));

    // Every rendered manifest is a valid Kubernetes object.
    validate_manifests(&[
        text(&state, "storage_class_manifest"),
        text(&state, "persistent_volume_manifest"),
        text(&state, "persistent_volume_claim_manifest"),
    ]);
    assert!(text(&state, "persistent_volume_manifest").contains(&format!("\"{fs_id}::{ap_id}\"")));
    assert!(text(&state, "prometheus_helm_values").contains("existingClaim: \"prometheus-server\""));
    assert!(text(&state, "csi_driver_helm_values").contains("hostNetwork: true"));
    assert!(!text(&state, "csi_driver_helm_values").contains("region"), "the chart has no region value");

    assert_no_changes(&wd);

    // Import by file system id gives the same state: every attribute, except those only the
    // configuration holds (see `importable`).
    wd.run_ok(&["state", "rm", ADDR]);
    wd.run_ok(&["import", "-no-color", ADDR, &fs_id]);
    let imported = wd.state_resource(ADDR);
    assert_eq!(importable(imported), importable(state), "the imported state differs from the applied one");
    assert_no_changes(&wd);
}

#[test]
fn two_subnets_in_one_az_fail_at_plan_and_create_nothing() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 0);
    let extra = block_on(
        moto.ec2()
            .create_subnet()
            .vpc_id(&cluster.vpc_id)
            .cidr_block("10.20.200.0/24")
            .availability_zone(&cluster.availability_zones[0])
            .send(),
    )
    .unwrap();
    let extra_id = extra.subnet().unwrap().subnet_id().unwrap().to_string();
    let wd = Scenario::new(&moto);
    let subnets = vec![cluster.subnet_ids[0].clone(), extra_id.clone(), cluster.subnet_ids[1].clone()];
    wd.write("main.tf", &config(&moto, &subnets, &cluster.node_security_group_id, ""));
    let err = wd.apply_expect_error();
    assert!(err.contains("Two Subnets In One Availability Zone"), "{err}");
    assert!(err.contains(&cluster.subnet_ids[0]) && err.contains(&extra_id), "both subnets are named: {err}");
    wd.assert_nothing_new();
    block_on(moto.ec2().delete_subnet().subnet_id(&extra_id).send()).unwrap();
}

#[test]
fn subnets_in_two_vpcs_fail_at_plan_naming_both_and_create_nothing() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let ec2 = moto.ec2();
    let other_vpc = block_on(ec2.create_vpc().cidr_block("10.99.0.0/16").send()).unwrap();
    let other_vpc_id = other_vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    // Another zone than the cluster's subnet, so only the VPC check can fail.
    let other_az = block_on(ec2.describe_availability_zones().send())
        .unwrap()
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(str::to_string))
        .find(|z| !cluster.availability_zones.contains(z))
        .expect("a second availability zone");
    let other_subnet = block_on(
        ec2.create_subnet().vpc_id(&other_vpc_id).cidr_block("10.99.1.0/24").availability_zone(&other_az).send(),
    )
    .unwrap();
    let other_subnet_id = other_subnet.subnet().unwrap().subnet_id().unwrap().to_string();

    let wd = Scenario::new(&moto);
    let subnets = vec![cluster.subnet_ids[0].clone(), other_subnet_id.clone()];
    wd.write("main.tf", &config(&moto, &subnets, &cluster.node_security_group_id, ""));
    let err = wd.apply_expect_error();
    assert!(err.contains("Subnets In Different VPCs"), "{err}");
    assert!(err.contains(&cluster.vpc_id) && err.contains(&other_vpc_id), "both VPCs are named: {err}");
    assert!(!err.contains("Two Subnets In One Availability Zone"), "{err}");
    wd.assert_nothing_new();
    block_on(ec2.delete_subnet().subnet_id(&other_subnet_id).send()).unwrap();
    block_on(ec2.delete_vpc().vpc_id(&other_vpc_id).send()).unwrap();
}

#[test]
fn one_subnet_warns_at_plan_and_still_applies() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, ""));
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(2), "the plan creates the volume despite the warning: {plan}");
    let shown = plan.combined();
    assert!(shown.contains("Warning: All Mount Targets In One Availability Zone"), "{plan}");
    assert!(shown.contains(&cluster.availability_zones[0]), "the zone is named: {plan}");
    wd.apply();
    let state = wd.state_resource(ADDR);
    assert_eq!(state["mount_targets"].as_array().map(Vec::len), Some(1), "{state}");
    let fs_id = text(&state, "file_system_id");
    let mts = block_on(moto.efs().describe_mount_targets().file_system_id(fs_id).send()).unwrap();
    assert_eq!(mts.mount_targets().len(), 1);
    assert_no_changes(&wd);
}

#[test]
fn bad_arguments_are_rejected_before_any_aws_call() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &config(
            &moto,
            &["subnet-nothex".to_string()],
            &cluster.node_security_group_id,
            "  throughput_mode = \"bursting\"\n  provisioned_throughput_in_mibps = 100\n  performance_mode = \"fast\"\n",
        ),
    );
    let err = wd.apply_expect_error();
    assert!(err.contains("subnet_ids"), "{err}");
    assert!(err.contains("Throughput Without Provisioned Mode"), "{err}");
    assert!(err.contains("performance_mode"), "{err}");
    wd.assert_nothing_new();
}

#[test]
fn subnet_added_and_removed_in_place_and_drift_recreated() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 3, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids[..2], &cluster.node_security_group_id, ""));
    wd.apply();
    let before = wd.state_resource(ADDR);
    let fs_id = text(&before, "file_system_id").to_string();

    wd.write("main.tf", &config(&moto, &cluster.subnet_ids[1..], &cluster.node_security_group_id, ""));
    let out = wd.apply();
    assert!(out.stdout.contains("1 changed, 0 destroyed"), "{out}");
    let after = wd.state_resource(ADDR);
    assert_eq!(text(&after, "file_system_id"), fs_id, "the file system is kept");
    let subnets: Vec<&str> =
        after["mount_targets"].as_array().unwrap().iter().map(|m| m["subnet_id"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = cluster.subnet_ids[1..].iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(subnets, want);
    let in_aws = block_on(moto.efs().describe_mount_targets().file_system_id(&fs_id).send()).unwrap();
    assert_eq!(in_aws.mount_targets().len(), 2);

    // A mount target deleted out of band shows as drift and is recreated.
    let victim = after["mount_targets"][0]["mount_target_id"].as_str().unwrap();
    block_on(moto.efs().delete_mount_target().mount_target_id(victim).send()).unwrap();
    assert_eq!(wd.plan_detailed_exitcode(), 2);
    wd.apply();
    assert_no_changes(&wd);
    let in_aws = block_on(moto.efs().describe_mount_targets().file_system_id(&fs_id).send()).unwrap();
    assert_eq!(in_aws.mount_targets().len(), 2);

    // The access point deleted out of band is recreated too.
    let ap = text(&wd.state_resource(ADDR), "access_point_id").to_string();
    block_on(moto.efs().delete_access_point().access_point_id(&ap).send()).unwrap();
    assert_eq!(wd.plan_detailed_exitcode(), 2);
    wd.apply();
    assert_no_changes(&wd);
}

#[test]
fn dynamic_provisioning_renders_an_efs_ap_storage_class() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 0);
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &config(
            &moto,
            &cluster.subnet_ids,
            &cluster.node_security_group_id,
            "  kubernetes {\n    provisioning = \"dynamic\"\n  }\n",
        ),
    );
    wd.apply();
    let state = wd.state_resource(ADDR);
    let sc = text(&state, "storage_class_manifest");
    assert!(sc.contains("provisioningMode: \"efs-ap\""), "{sc}");
    assert!(sc.contains(&format!("fileSystemId: \"{}\"", text(&state, "file_system_id"))), "{sc}");
    assert!(state["persistent_volume_manifest"].is_null());
    validate_manifests(&[sc, text(&state, "persistent_volume_claim_manifest")]);
    assert_no_changes(&wd);
}

#[test]
fn lifecycle_policy_and_security_group_drift_are_planned_and_fixed() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &config(
            &moto,
            &cluster.subnet_ids,
            &cluster.node_security_group_id,
            "  transition_to_ia = \"AFTER_30_DAYS\"\n",
        ),
    );
    wd.apply();
    let fs_id = text(&wd.state_resource(ADDR), "file_system_id").to_string();
    let efs = moto.efs();
    let rule = |efs: &aws_sdk_efs::Client| {
        let out = block_on(efs.describe_lifecycle_configuration().file_system_id(&fs_id).send()).unwrap();
        out.lifecycle_policies().iter().find_map(|p| p.transition_to_ia().map(|t| t.as_str().to_string()))
    };
    assert_eq!(rule(&efs).as_deref(), Some("AFTER_30_DAYS"));

    block_on(
        efs.put_lifecycle_configuration()
            .file_system_id(&fs_id)
            .lifecycle_policies(
                aws_sdk_efs::types::LifecyclePolicy::builder()
                    .transition_to_ia(aws_sdk_efs::types::TransitionToIaRules::After7Days)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let out = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stdout.contains("AFTER_7_DAYS") && out.stdout.contains("AFTER_30_DAYS"), "{out}");
    wd.apply();
    assert_eq!(rule(&efs).as_deref(), Some("AFTER_30_DAYS"));
    assert_no_changes(&wd);

    // NFS opened to the world by hand on the security group this resource made: plan shows the
    // extra source, and apply closes it again, leaving only the nodes' group.
    let group_id = text(&wd.state_resource(ADDR), "security_group_id").to_string();
    let ec2 = moto.ec2();
    let world = aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build();
    let nfs_from_world = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(2049)
        .to_port(2049)
        .ip_ranges(world)
        .build();
    block_on(ec2.authorize_security_group_ingress().group_id(&group_id).ip_permissions(nfs_from_world).send()).unwrap();
    let out = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stdout.contains("allowed_cidr_blocks") && out.stdout.contains("0.0.0.0/0"), "{out}");
    wd.apply();
    let groups = block_on(ec2.describe_security_groups().group_ids(&group_id).send()).unwrap();
    let ingress = groups.security_groups()[0].ip_permissions();
    let cidrs: Vec<_> = ingress.iter().flat_map(|p| p.ip_ranges()).filter_map(|r| r.cidr_ip()).collect();
    let sources: Vec<_> = ingress.iter().flat_map(|p| p.user_id_group_pairs()).filter_map(|g| g.group_id()).collect();
    assert!(cidrs.is_empty(), "{ingress:?}");
    assert_eq!(sources, [cluster.node_security_group_id.as_str()]);
    assert_no_changes(&wd);

    // The mount target's groups changed by hand (the refresh reads the groups of the mount target
    // the state records while it lists them): plan shows it, and apply puts this resource's group
    // back as the only one.
    let state = wd.state_resource(ADDR);
    let mount_target = state["mount_targets"][0]["mount_target_id"].as_str().expect("a mount target").to_string();
    let groups_of = |efs: &aws_sdk_efs::Client| {
        let out = block_on(efs.describe_mount_target_security_groups().mount_target_id(&mount_target).send()).unwrap();
        out.security_groups().to_vec()
    };
    let by_hand = [group_id.clone(), cluster.node_security_group_id.clone()];
    block_on(
        efs.modify_mount_target_security_groups()
            .mount_target_id(&mount_target)
            .set_security_groups(Some(by_hand.to_vec()))
            .send(),
    )
    .unwrap();
    let out = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stdout.contains(&cluster.node_security_group_id), "{out}");
    wd.apply();
    assert_eq!(groups_of(&efs), [group_id]);
    assert_no_changes(&wd);
}

/// moto cannot change a backup policy after creation (no PutBackupPolicy; the replay tests in
/// provider/src/aws/efs.rs cover that call and the read of every status), but it answers
/// DescribeBackupPolicy: a volume made without backups reads back as such, also on import.
#[test]
fn backup_disabled_is_read_back_and_imported() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, "  backup = false\n"));
    wd.apply();
    let fs_id = text(&wd.state_resource(ADDR), "file_system_id").to_string();
    let policy = block_on(moto.efs().describe_backup_policy().file_system_id(&fs_id).send());
    assert!(policy.is_err(), "no backup policy was asked for: {policy:?}");
    assert_no_changes(&wd);

    wd.run_ok(&["state", "rm", ADDR]);
    wd.run_ok(&["import", "-no-color", ADDR, &fs_id]);
    assert_eq!(wd.state_resource(ADDR)["backup"], Value::Bool(false), "import reads the backup policy");
    assert_no_changes(&wd);

    // With backups on (the default) the configuration now differs from AWS: plan shows it, and
    // the fix is the PutBackupPolicy call moto does not serve, so the test stops at the plan.
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, ""));
    let out = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stdout.contains("backup") && out.stdout.contains("false -> true"), "{out}");
}

/// Tags and the TLS policy change in place: the file system, its access point and the security
/// group this resource made all carry the new tags, the TLS policy is added, and the file system
/// is never replaced. (Turning TLS off deletes the policy, which moto cannot serve: the SDK replay
/// test `delete_file_system_policy_sends_delete_and_treats_not_found_as_done` covers that call.)
#[test]
fn tags_and_tls_policy_update_in_place() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    let write = |extra: &str| {
        wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, extra));
    };
    write("  tags        = { team = \"a\", env = \"x\" }\n  enforce_tls = false\n");
    wd.apply();
    let state = wd.state_resource(ADDR);
    let fs_id = text(&state, "file_system_id").to_string();
    let ap_id = text(&state, "access_point_id").to_string();
    let group_id = text(&state, "security_group_id").to_string();
    let efs = moto.efs();
    let ec2 = moto.ec2();
    let user_tags = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
        let mut own: Vec<_> = pairs.into_iter().filter(|(k, _)| k == "team" || k == "env").collect();
        own.sort();
        own
    };
    let efs_tags = |id: &str| {
        let out = block_on(efs.list_tags_for_resource().resource_id(id).send()).unwrap();
        user_tags(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    };
    let group_tags = || {
        let out = block_on(ec2.describe_security_groups().group_ids(&group_id).send()).unwrap();
        user_tags(
            out.security_groups()[0]
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
                .collect(),
        )
    };
    let has_tls_policy = || match block_on(efs.describe_file_system_policy().file_system_id(&fs_id).send()) {
        Ok(out) => out.policy().is_some_and(|p| p.contains("aws:SecureTransport")),
        Err(e) => {
            let text = format!("{:?}", e.into_service_error());
            assert!(text.contains("PolicyNotFound"), "{text}");
            false
        }
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(efs_tags(&fs_id), [pair("env", "x"), pair("team", "a")]);
    assert_eq!(group_tags(), [pair("env", "x"), pair("team", "a")]);
    assert!(!has_tls_policy());

    write("  tags = { team = \"b\" }\n");
    let plan = wd.plan();
    assert!(plan.stdout.contains("1 to change, 0 to destroy"), "{plan}");
    wd.apply();
    let state = wd.state_resource(ADDR);
    assert_eq!(text(&state, "file_system_id"), fs_id);
    for id in [&fs_id, &ap_id] {
        assert_eq!(efs_tags(id), [pair("team", "b")], "tags of {id}");
    }
    assert_eq!(group_tags(), [pair("team", "b")]);
    assert!(has_tls_policy());
    assert_no_changes(&wd);
}

#[test]
fn change_that_needs_a_new_file_system_warns_about_the_data_and_replaces_it() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, ""));
    wd.apply();
    let old_fs = text(&wd.state_resource(ADDR), "file_system_id").to_string();

    // Max I/O takes no elastic throughput (the default), so bursting comes with it.
    let extra = "  performance_mode = \"maxIO\"\n  throughput_mode  = \"bursting\"\n";
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, extra));
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(2), "{plan}");
    let shown = plan.combined();
    assert!(shown.contains("Warning: Replacing The File System Deletes The Prometheus Data"), "{plan}");
    assert!(shown.contains("Changing performance_mode needs a new EFS file system"), "{plan}");
    assert!(shown.contains("must be replaced"), "Terraform plans a replacement: {plan}");

    wd.apply();
    let state = wd.state_resource(ADDR);
    let new_fs = text(&state, "file_system_id");
    assert_ne!(new_fs, old_fs, "{state}");
    let file_systems = block_on(moto.efs().describe_file_systems().send()).unwrap();
    let ids: Vec<&str> = file_systems.file_systems().iter().map(|f| f.file_system_id()).collect();
    assert_eq!(ids, vec![new_fs], "the old file system is gone, the new one is the only one");
    assert_eq!(file_systems.file_systems()[0].performance_mode().as_str(), "maxIO");
    assert_no_changes(&wd);
}

/// The file system deleted out of band (as the EFS console does it: its mount targets and access
/// point first): the refresh finds it gone, the plan creates the volume again, apply makes a new
/// file system, and the scenario's end leaves nothing.
#[test]
fn disappears_when_the_file_system_is_deleted_out_of_band() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster.subnet_ids, &cluster.node_security_group_id, ""));
    wd.apply();
    let before = wd.state_resource(ADDR);
    let old_fs = text(&before, "file_system_id").to_string();

    moto.delete_volume_file_system(&before);
    let efs = moto.efs();

    // The security group outlived the file system: the state keeps it, and the volume is replaced
    // (the group deleted with it, so nothing is left that no state knows).
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(2), "{plan}");
    assert!(plan.stdout.contains(&format!("{ADDR} must be replaced")), "{plan}");
    assert!(plan.stdout.contains("Plan: 1 to add, 0 to change, 1 to destroy."), "{plan}");
    assert!(squash(&plan.combined()).contains("EFS File System Gone"), "{plan}");

    wd.apply();
    let after = wd.state_resource(ADDR);
    let new_fs = text(&after, "file_system_id");
    assert_ne!(new_fs, old_fs, "a new file system");
    let file_systems = block_on(efs.describe_file_systems().send()).expect("DescribeFileSystems");
    let ids: Vec<&str> = file_systems.file_systems().iter().map(|f| f.file_system_id()).collect();
    assert_eq!(ids, [new_fs]);
    assert_eq!(after["mount_targets"].as_array().map(Vec::len), Some(2), "{after}");
    assert_ne!(after["security_group_id"], before["security_group_id"], "a new group: {after}");
    let old_group = text(&before, "security_group_id");
    let groups = block_on(moto.ec2().describe_security_groups().send()).expect("DescribeSecurityGroups");
    assert!(groups.security_groups().iter().all(|g| g.group_id() != Some(old_group)), "the old group is deleted");
    assert_no_changes(&wd);
}
