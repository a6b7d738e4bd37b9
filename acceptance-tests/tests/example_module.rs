//! The example module `examples/prometheus-on-ec2` (the main job's module) applied with the real
//! Terraform CLI against a stand-in cluster in moto: every part exists, the readiness checks pass,
//! the outputs are what a user copies into the cluster, a second plan is empty, and destroy (the
//! [`Scenario`]'s end) leaves nothing behind.

use acceptance_tests::cluster::Cluster;
use acceptance_tests::example_module::config;
use acceptance_tests::{
    block_on, provider_block, readiness_calls, readiness_calls_in_a_row, skip_unless_acceptance, Moto, Scenario,
};

#[test]
fn example_module_applies_plans_empty_and_destroys_cleanly() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 3, 2);
    let mut wd = Scenario::new(&moto);
    wd.env("TF_LOG_PROVIDER", "debug");
    let extra_outputs = r#"
output "summary" { value = module.prometheus_storage.summary }
output "readiness_checks" { value = module.prometheus_storage.readiness_checks }
output "pvc" { value = module.prometheus_storage.persistent_volume_claim_manifest }
output "csi_values" { value = module.prometheus_storage.csi_driver_helm_values }
"#;
    wd.write("main.tf", &format!("{}{extra_outputs}", config(&provider_block(&moto), "acc-prometheus", &cluster)));
    wd.run_ok(&["get", "-no-color"]);
    let applied = wd.apply();
    // The readiness checks, read in the apply right after the creates, took from what the same
    // provider process wrote the profile's roles, the role's policies, the mount targets' groups
    // and the file system policy; the nodes, the file system's state and the groups' rules they
    // read from AWS.
    let (_, in_apply) = readiness_calls(&applied.combined());
    for kept in ["GetInstanceProfile", "ListAttachedRolePolicies", "ListRolePolicies", "GetPolicy", "GetPolicyVersion"]
        .map(|operation| format!("IAM:{operation}*"))
        .into_iter()
        .chain(["EFS:DescribeMountTargetSecurityGroups*".to_string(), "EFS:DescribeFileSystemPolicy*".to_string()])
    {
        assert!(!in_apply.contains(&kept), "{kept} in the apply's readiness read: {in_apply}");
    }
    // The groups' rules were read once, with the nodes: the groups the volume named were all there are.
    for read in [
        "EC2:DescribeInstances*",
        "EFS:DescribeFileSystems*",
        "EFS:DescribeMountTargets*",
        "EC2:DescribeSecurityGroups*1",
    ] {
        assert!(in_apply.contains(read), "{read} not in the apply's readiness read: {in_apply}");
    }
    let rounds = readiness_calls_in_a_row(&applied.combined());
    assert_eq!(rounds, 1, "the apply's readiness read waited for {rounds} calls in a row: {in_apply}");
    let readiness_in_apply = wd.output_json();

    // A create writes its state from the plan and the create calls' answers, reading nothing back:
    // a refresh right after finds every attribute as the create wrote it.
    let resources = ["efs_prometheus_volume.tsdb", "efs_csi_node_identity.nodes"]
        .map(|resource| format!("module.prometheus_storage.{resource}"));
    let created = resources.clone().map(|address| wd.state_resource(&address));
    let refreshed = wd.run_ok(&["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]);
    for (address, created) in resources.iter().zip(&created) {
        assert_eq!(&wd.state_resource(address), created, "{address}: the refresh after the create changed it");
    }
    // A refresh-only apply: its planning process refreshes both resources, then reads the readiness
    // checks, which take what those refreshes read (the profile's roles, the role's managed
    // policies and the node policy's document, the file system policy, the groups of one mount
    // target) and read the rest (the role's inline policies, the other mount targets' groups) with
    // the nodes, all at once: the refreshes named them.
    let (_, in_refresh) = readiness_calls(&refreshed.combined());
    for kept in ["IAM:GetInstanceProfile*", "IAM:ListAttachedRolePolicies*", "IAM:GetPolicyVersion*"]
        .into_iter()
        .chain(["EFS:DescribeFileSystemPolicy*"])
    {
        assert!(!in_refresh.contains(kept), "{kept} in the refresh's readiness read: {in_refresh}");
    }
    for read in ["IAM:ListRolePolicies*", "EFS:DescribeMountTargetSecurityGroups*2", "EC2:DescribeInstances*"] {
        assert!(in_refresh.contains(read), "{read} not in the refresh's readiness read: {in_refresh}");
    }
    let rounds = readiness_calls_in_a_row(&refreshed.combined());
    assert_eq!(rounds, 1, "the refresh's readiness read waited for {rounds} calls in a row: {in_refresh}");
    let after_refresh = wd.output_json();
    // Without a refresh in its process, the read asks AWS for everything.
    let unrefreshed = wd.run_ok(&["apply", "-refresh=false", "-auto-approve", "-input=false", "-no-color"]);
    let (_, fresh) = readiness_calls(&unrefreshed.combined());
    for read in [
        "IAM:GetInstanceProfile*",
        "IAM:ListAttachedRolePolicies*",
        "IAM:GetPolicyVersion*",
        "EFS:DescribeMountTargetSecurityGroups*3",
        "EFS:DescribeFileSystemPolicy*",
    ] {
        assert!(fresh.contains(read), "{read} not in the unrefreshed readiness read: {fresh}");
    }
    // Each IAM read names the next: the nodes, their profile, its role's managed policies, the
    // policy, its document. Everything else is read alongside.
    let rounds = readiness_calls_in_a_row(&unrefreshed.combined());
    assert_eq!(rounds, 5, "the unrefreshed readiness read waited for {rounds} calls in a row: {fresh}");
    // All three reads found the same.
    for outputs in [after_refresh, wd.output_json()] {
        for name in ["ready", "readiness", "readiness_checks"] {
            assert_eq!(
                outputs[name], readiness_in_apply[name],
                "{name}: the apply's readiness read differs from a later one"
            );
        }
    }

    let outputs = wd.output_json();
    let handle = outputs["volume_handle"]["value"].as_str().unwrap().to_string();
    let (fs_id, ap_id) = handle.split_once("::").expect("volume handle fs-...::fsap-...");
    assert!(fs_id.starts_with("fs-") && ap_id.starts_with("fsap-"), "{handle}");
    assert!(outputs["pvc"]["value"].as_str().unwrap().contains("ReadWriteOnce"));
    assert!(outputs["csi_values"]["value"].as_str().unwrap().contains("hostNetwork: true"));
    assert!(outputs["summary"]["value"].as_str().unwrap().contains("3 mount targets"), "{outputs}");

    // The readiness checks ran after both resources and found nothing to change.
    let readiness = outputs["readiness"]["value"].as_str().unwrap();
    assert_eq!(outputs["ready"]["value"], true, "{readiness}");
    assert!(readiness.starts_with(&format!("READY: 3 nodes and {fs_id} passed all ")), "{readiness}");
    let checks = outputs["readiness_checks"]["value"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{checks:#?}");
    assert!(checks.iter().any(|c| c["name"] == "access_point" && c["subject"] == ap_id), "{checks:#?}");

    // On moto's side: three mount targets, the profile on every node with IMDSv2 only and hop limit
    // 1 (the driver's pods are on the host network; no other pod reaches the credentials).
    let efs = moto.efs();
    let targets = block_on(efs.describe_mount_targets().file_system_id(fs_id).send()).unwrap();
    assert_eq!(targets.mount_targets().len(), 3);
    let profile = outputs["instance_profile_name"]["value"].as_str().unwrap();
    let ec2 = moto.ec2();
    let reservations =
        block_on(ec2.describe_instances().set_instance_ids(Some(cluster.instance_ids.clone())).send()).unwrap();
    for instance in reservations.reservations().iter().flat_map(|r| r.instances()) {
        let arn = instance.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default();
        assert!(arn.ends_with(&format!("/{profile}")), "{:?} has profile {arn:?}", instance.instance_id());
        let options = instance.metadata_options().expect("metadata options");
        assert_eq!(options.http_put_response_hop_limit(), Some(1));
        assert_eq!(options.http_tokens().map(|t| t.as_str()), Some("required"));
    }

    // The nodes' policy, with static provisioning: no access point may be created, tagged or
    // deleted, and what can be limited to the module's file system is.
    let iam = moto.iam();
    let policies = block_on(iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send()).unwrap();
    let policy =
        policies.policies().iter().find(|p| p.policy_name() == Some("acc-prometheus")).expect("the nodes' policy");
    let version = block_on(
        iam.get_policy_version()
            .policy_arn(policy.arn().unwrap())
            .version_id(policy.default_version_id().unwrap())
            .send(),
    )
    .unwrap();
    let document = version.policy_version().and_then(|v| v.document()).unwrap();
    let document: serde_json::Value = serde_json::from_str(
        &percent_encoding::percent_decode_str(document).decode_utf8().expect("UTF-8 policy document"),
    )
    .unwrap();
    for action in ["CreateAccessPoint", "DeleteAccessPoint", "TagResource"] {
        assert!(!document.to_string().contains(action), "static provisioning allows {action}: {document}");
    }
    let fs_arn = block_on(efs.describe_file_systems().file_system_id(fs_id).send()).unwrap().file_systems()[0]
        .file_system_arn()
        .unwrap()
        .to_string();
    let parts =
        document["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "DescribeFileSystemParts").unwrap();
    assert_eq!(parts["Resource"], serde_json::json!([fs_arn]), "{document}");

    assert_eq!(wd.plan_detailed_exitcode(), 0, "second plan must be empty");
    // The scenario's end destroys it and checks that moto holds nothing the module made.
}
