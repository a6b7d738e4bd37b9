//! What AWS does and moto does not, through the fault proxy (see `acceptance_tests::proxy`): system
//! tags, IAM eventual consistency, `creating`/`deleting`/`disassociating` states, associations
//! not yet listed, metadata options `pending`, `DeleteConflict`. Each test applies and destroys one
//! resource in a [`Scenario`] whose configuration goes through the proxy, so its closing destroy
//! and inventory check meet the same behaviour.

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::proxy::{Fault, FaultProxy, FaultRule, ACCESS_POINTS_PER_PAGE, BACKUP_SYSTEM_TAG};
use acceptance_tests::{block_on, provider_block_with_endpoint, skip_unless_acceptance, Moto, Scenario, Workdir};
use serde_json::Value;

const IDENTITY: &str = "efs_csi_node_identity.this";
const VOLUME: &str = "efs_prometheus_volume.this";

fn identity_config(proxy: &FaultProxy, name: &str, instance_ids: &[String], extra: &str) -> String {
    format!(
        "{}\nresource \"efs_csi_node_identity\" \"this\" {{\n  name         = \"{name}\"\n  instance_ids = {}\n{extra}\n}}\n",
        provider_block_with_endpoint(&proxy.endpoint()),
        hcl_list(instance_ids)
    )
}

fn volume_config(proxy: &FaultProxy, cluster: &Cluster, extra: &str) -> String {
    format!(
        "{}\nresource \"efs_prometheus_volume\" \"this\" {{\n  name                       = \"prom\"\n  subnet_ids                 = {}\n  allowed_security_group_ids = [\"{}\"]\n{extra}\n}}\n",
        provider_block_with_endpoint(&proxy.endpoint()),
        hcl_list(&cluster.subnet_ids),
        cluster.node_security_group_id
    )
}

fn assert_no_changes(wd: &Workdir) {
    let out = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(0), "expected an empty plan: {out}");
}

fn injected(proxy: &FaultProxy, action: &str) -> u32 {
    proxy.injected().get(action).copied().unwrap_or(0)
}

fn file_system_tags(moto: &Moto, fs_id: &str) -> Vec<(String, String)> {
    let out = block_on(moto.efs().list_tags_for_resource().resource_id(fs_id).send()).expect("ListTagsForResource");
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// Item 1: EFS tags a backed-up file system `aws:elasticfilesystem:default-backup`. It stays out of
/// `tags_all` (the next plan is empty), and a tag change never tries to remove it (EFS refuses).
#[test]
fn efs_system_tags_are_neither_in_tags_all_nor_untagged() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 2, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &volume_config(&proxy, &cluster, "  tags = { team = \"metrics\" }"));
    wd.apply();
    let state = wd.state_resource(VOLUME);
    let fs_id = state["file_system_id"].as_str().expect("file_system_id").to_string();
    let system = (BACKUP_SYSTEM_TAG.to_string(), "enabled".to_string());
    assert!(file_system_tags(&moto, &fs_id).contains(&system), "the proxy tags as EFS does");
    assert_eq!(state["tags_all"], serde_json::json!({ "team": "metrics" }));
    assert_no_changes(&wd);

    wd.write("main.tf", &volume_config(&proxy, &cluster, "  tags = { owner = \"sre\" }"));
    wd.apply();
    let tags = file_system_tags(&moto, &fs_id);
    assert!(tags.contains(&system), "{tags:?}");
    assert!(!tags.iter().any(|(k, _)| k == "team"), "{tags:?}");
    assert_eq!(wd.state_resource(VOLUME)["tags_all"], serde_json::json!({ "owner": "sre" }));
    assert_no_changes(&wd);
}

/// Item 1 for IAM: an `aws:` tag on the role (set by AWS, e.g. CloudFormation) is not the user's:
/// not in `tags_all`, and a tag change leaves it alone.
#[test]
fn iam_system_tags_are_neither_in_tags_all_nor_untagged() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &identity_config(&proxy, "tagged", &cluster.instance_ids, "  tags = { team = \"a\" }"));
    wd.apply();
    let system =
        aws_sdk_iam::types::Tag::builder().key("aws:cloudformation:stack-name").value("nodes").build().unwrap();
    block_on(moto.iam().tag_role().role_name("tagged").tags(system).send()).expect("TagRole");
    assert_no_changes(&wd);

    wd.write("main.tf", &identity_config(&proxy, "tagged", &cluster.instance_ids, "  tags = { team = \"b\" }"));
    wd.apply();
    let role = block_on(moto.iam().get_role().role_name("tagged").send()).expect("GetRole");
    let keys: Vec<&str> = role.role().map(|r| r.tags().iter().map(|t| t.key()).collect()).unwrap_or_default();
    assert!(keys.contains(&"aws:cloudformation:stack-name"), "{keys:?}");
    assert_eq!(wd.state_resource(IDENTITY)["tags_all"], serde_json::json!({ "team": "b" }));
    assert_no_changes(&wd);
}

/// Items 3 and 4: the role and the instance profile answer `NoSuchEntity` for a while after their
/// create (to AddRoleToInstanceProfile and to the reads of the closing refresh). Create waits it
/// out instead of failing and leaving them behind.
#[test]
fn identity_create_waits_out_iam_propagation() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 1);
    let wd = Scenario::new(&moto);
    proxy.add_fault(FaultRule::new("iam:CreateRole", Fault::NotYetVisible, 3));
    proxy.add_fault(FaultRule::new("iam:CreateInstanceProfile", Fault::NotYetVisible, 3));
    wd.write("main.tf", &identity_config(&proxy, "propagating", &cluster.instance_ids, ""));
    wd.apply();
    assert!(injected(&proxy, "iam:AddRoleToInstanceProfile") >= 1, "{:?}", proxy.injected());
    let state = wd.state_resource(IDENTITY);
    assert_eq!(state["instance_ids"].as_array().map(Vec::len), Some(cluster.instance_ids.len()), "{state}");
    assert_no_changes(&wd);
}

/// Items 6 and 10: a replacement (destroy, then create on the same nodes) meets the old
/// associations still `disassociating`, and the new ones missing from the first describes.
#[test]
fn replacement_waits_for_disassociation_and_for_new_associations_to_show() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 1);
    let wd = Scenario::new(&moto);
    proxy.add_fault(FaultRule::new("ec2:DisassociateIamInstanceProfile", Fault::StayDeleting, 2));
    proxy.add_fault(FaultRule::new("ec2:AssociateIamInstanceProfile", Fault::NotYetVisible, 2));
    // The plan of a replacement sees the nodes still holding the old profile: the new one may take them.
    let replace = "  replace_existing_association = true";
    wd.write("main.tf", &identity_config(&proxy, "first", &cluster.instance_ids, replace));
    wd.apply();
    assert!(injected(&proxy, "ec2:DescribeIamInstanceProfileAssociations") >= 2, "{:?}", proxy.injected());
    assert_no_changes(&wd);

    proxy.reset_counts();
    wd.write("main.tf", &identity_config(&proxy, "second", &cluster.instance_ids, replace));
    wd.apply();
    let state = wd.state_resource(IDENTITY);
    assert_eq!(state["role_name"], "second");
    // The destroy half waited while the old associations were `disassociating` (two polls each).
    assert!(injected(&proxy, "ec2:DescribeIamInstanceProfileAssociations") >= 4, "{:?}", proxy.injected());
    assert_eq!(state["instance_ids"].as_array().map(Vec::len), Some(cluster.instance_ids.len()), "{state}");
    assert_no_changes(&wd);
}

/// Item 9: an access point is `creating` (and at first not found) after its create, and
/// `deleting` after its delete: both are waited for.
#[test]
fn access_points_are_waited_for_after_create_and_delete() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    proxy.add_fault(FaultRule::new("efs:CreateAccessPoint", Fault::NotYetVisible, 2));
    proxy.add_fault(FaultRule::new("efs:CreateAccessPoint", Fault::StayCreating, 2));
    proxy.add_fault(FaultRule::new("efs:DeleteAccessPoint", Fault::StayDeleting, 2));
    wd.write("main.tf", &volume_config(&proxy, &cluster, ""));
    wd.apply();
    let first = wd.state_resource(VOLUME)["access_point_id"].as_str().unwrap_or_default().to_string();
    assert!(injected(&proxy, "efs:DescribeAccessPoints") >= 4, "{:?}", proxy.injected());
    assert_no_changes(&wd);

    // A new POSIX identity replaces the access point: new one first, then the old one goes.
    proxy.reset_counts();
    wd.write("main.tf", &volume_config(&proxy, &cluster, "  access_point {\n    uid = 1000\n    gid = 1000\n  }"));
    wd.apply();
    let second = wd.state_resource(VOLUME)["access_point_id"].as_str().unwrap_or_default().to_string();
    assert_ne!(first, second);
    let left = block_on(moto.efs().describe_access_points().send()).expect("DescribeAccessPoints");
    let ids: Vec<&str> = left.access_points().iter().filter_map(|a| a.access_point_id()).collect();
    assert_eq!(ids, [second.as_str()], "the old access point is deleted, the new one kept");
    assert!(injected(&proxy, "efs:DescribeAccessPoints") >= 4, "{:?}", proxy.injected());
    assert_no_changes(&wd);
}

/// Item 7: DeleteRole and DeletePolicy answer `DeleteConflict` while detaches propagate (retried),
/// and a role that an instance profile made outside Terraform also holds is taken out of it, with
/// a warning.
#[test]
fn destroy_retries_delete_conflict_and_frees_the_role_from_other_profiles() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let mut wd = Scenario::new(&moto);
    wd.write("main.tf", &identity_config(&proxy, "conflicted", &cluster.instance_ids, ""));
    wd.apply();
    block_on(moto.iam().create_instance_profile().instance_profile_name("by-hand").send()).expect("profile");
    block_on(moto.iam().add_role_to_instance_profile().instance_profile_name("by-hand").role_name("conflicted").send())
        .expect("AddRoleToInstanceProfile");
    wd.made_by_test("instance_profiles", "by-hand");
    proxy.add_fault(FaultRule::new("iam:DeleteRole", Fault::DeleteConflict, 2));
    proxy.add_fault(FaultRule::new("iam:DeletePolicy", Fault::DeleteConflict, 2));
    let out = wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(out.success(), "{out}");
    let text = out.combined();
    assert!(text.contains("by-hand") && text.contains("Other Instance Profiles"), "{text}");
    assert_eq!(proxy.count("iam:DeleteRole"), 3);
    assert_eq!(proxy.count("iam:DeletePolicy"), 3);
    let left = block_on(moto.iam().get_instance_profile().instance_profile_name("by-hand").send()).expect("profile");
    assert!(left.instance_profile().is_some_and(|p| p.roles().is_empty()));
    block_on(moto.iam().delete_instance_profile().instance_profile_name("by-hand").send()).expect("cleanup");
}

/// Item 7: an inline policy on the role (this resource makes none) stops the destroy before
/// anything is removed, with a diagnostic that names it and says what to do.
#[test]
fn destroy_stops_before_anything_at_an_inline_policy() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &identity_config(&proxy, "inline", &cluster.instance_ids, ""));
    wd.apply();
    let document =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;
    block_on(moto.iam().put_role_policy().role_name("inline").policy_name("extra").policy_document(document).send())
        .expect("PutRolePolicy");
    let out = wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(!out.success(), "{out}");
    let text = out.combined();
    assert!(text.contains("extra") && text.contains("delete-role-policy"), "{text}");
    assert!(
        block_on(moto.iam().get_instance_profile().instance_profile_name("inline").send()).is_ok(),
        "nothing removed"
    );
    assert!(block_on(moto.iam().get_role().role_name("inline").send()).is_ok());
    block_on(moto.iam().delete_role_policy().role_name("inline").policy_name("extra").send())
        .expect("DeleteRolePolicy");
}

/// Item 8: a change of the hop limit alone keeps the instance's `http_tokens` (moto, like one
/// reading of EC2's documentation, resets a value left out of the request), and create waits until
/// the options are `applied`.
#[test]
fn metadata_options_keep_http_tokens_and_wait_until_applied() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let instance = cluster.instance_ids[0].clone();
    block_on(
        moto.ec2()
            .modify_instance_metadata_options()
            .instance_id(&instance)
            .http_tokens(aws_sdk_ec2::types::HttpTokensState::Required)
            .http_put_response_hop_limit(2)
            .send(),
    )
    .expect("ModifyInstanceMetadataOptions");
    let wd = Scenario::new(&moto);
    proxy.add_fault(FaultRule::new("ec2:ModifyInstanceMetadataOptions", Fault::StayCreating, 2));
    let options = "  metadata_options {\n    http_put_response_hop_limit = 1\n  }";
    wd.write("main.tf", &identity_config(&proxy, "imds", &cluster.instance_ids, options));
    wd.apply();
    let out = block_on(moto.ec2().describe_instances().instance_ids(&instance).send()).expect("DescribeInstances");
    let found = out.reservations()[0].instances()[0].metadata_options().cloned().expect("metadata options");
    assert_eq!(found.http_tokens().map(|t| t.as_str()), Some("required"), "{found:?}");
    assert_eq!(found.http_put_response_hop_limit(), Some(1));
    assert!(injected(&proxy, "ec2:DescribeInstances") >= 2, "{:?}", proxy.injected());
    assert_eq!(wd.state_resource(IDENTITY)["metadata_options"]["http_put_response_hop_limit"], Value::from(1));
    assert_no_changes(&wd);
}

/// Item 14: access points the CSI driver made (untagged, one per dynamically provisioned volume,
/// each holding its data) are never deleted by destroy: it stops before removing anything and
/// names every one of them, across pages of DescribeAccessPoints.
#[test]
fn destroy_leaves_the_drivers_access_points_and_says_what_to_do() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &volume_config(&proxy, &cluster, ""));
    wd.apply();
    let fs_id = wd.state_resource(VOLUME)["file_system_id"].as_str().unwrap_or_default().to_string();
    let drivers: Vec<String> = (0..ACCESS_POINTS_PER_PAGE)
        .map(|n| {
            let made = block_on(
                moto.efs().create_access_point().file_system_id(&fs_id).client_token(format!("pvc-{n}")).send(),
            );
            made.expect("CreateAccessPoint").access_point_id().unwrap_or_default().to_string()
        })
        .collect();
    let out = wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(!out.success(), "{out}");
    let text = out.combined();
    assert!(drivers.iter().all(|id| text.contains(id.as_str())), "names each of {drivers:?}: {text}");
    assert!(text.contains("PersistentVolumeClaims"), "{text}");
    assert!(proxy.count("efs:DescribeAccessPoints") >= 2, "paged: {:?}", proxy.calls());
    let left = block_on(moto.efs().describe_access_points().file_system_id(&fs_id).send()).expect("list");
    assert_eq!(left.access_points().len(), 1 + drivers.len(), "nothing was deleted");
    for id in &drivers {
        block_on(moto.efs().delete_access_point().access_point_id(id).send()).expect("DeleteAccessPoint");
    }
}

/// Item 13: a new security group is at first "not found" to AuthorizeSecurityGroupIngress; the rule
/// is retried until the group is visible (before, the group was deleted and the apply failed).
#[test]
fn a_new_security_group_is_waited_for_before_its_rule() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    proxy.add_fault(FaultRule::new("ec2:CreateSecurityGroup", Fault::NotYetVisible, 2));
    wd.write("main.tf", &volume_config(&proxy, &cluster, ""));
    wd.apply();
    assert_eq!(injected(&proxy, "ec2:AuthorizeSecurityGroupIngress"), 2, "{:?}", proxy.injected());
    assert_eq!(proxy.count("ec2:CreateSecurityGroup"), 1, "one group, kept");
    assert!(wd.state_resource(VOLUME)["security_group_id"].as_str().is_some_and(|g| g.starts_with("sg-")));
    assert_no_changes(&wd);
}

fn mount_target_ids(moto: &Moto, fs_id: &str) -> Vec<String> {
    let out = block_on(moto.efs().describe_mount_targets().file_system_id(fs_id).send()).expect("DescribeMountTargets");
    out.mount_targets().iter().map(|m| m.mount_target_id().to_string()).collect()
}

/// Item 12: a mount target still `creating` when create gives up (its timeout) leaves a tainted
/// volume. Destroy neither reads its security groups nor deletes it before it is `available`:
/// EFS refuses both meanwhile (`IncorrectMountTargetState`).
#[test]
fn destroy_waits_for_a_mount_target_still_creating() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    // Five polls within the create timeout of 2 s, then at least one left to destroy's teardown.
    proxy.add_fault(FaultRule::new("efs:CreateMountTarget", Fault::StayCreating, 10));
    wd.write("main.tf", &volume_config(&proxy, &cluster, "  timeouts {\n    create = \"2s\"\n  }"));
    let text = wd.apply_expect_error();
    assert!(text.contains("EFS Mount Target fsmt-") && text.contains("last seen: creating"), "{text}");
    let fs_id = wd.state_resource(VOLUME)["file_system_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(mount_target_ids(&moto, &fs_id).len(), 1, "the mount target exists, still creating");

    let out = wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(out.success(), "{out}");
    assert_eq!(injected(&proxy, "efs:DeleteMountTarget"), 0, "never refused: {:?}", proxy.injected());
    assert_eq!(injected(&proxy, "efs:DescribeMountTargetSecurityGroups"), 0, "{:?}", proxy.injected());
    assert_eq!(injected(&proxy, "efs:DeleteFileSystem"), 0, "{:?}", proxy.injected());
    assert_eq!(proxy.count("efs:DeleteMountTarget"), 1);
    assert!(block_on(moto.efs().describe_file_systems().file_system_id(&fs_id).send()).is_err(), "deleted");
}

/// Item 12: a mount target already `deleting` (here deleted out of band) is gone to destroy: it is
/// waited for, not deleted again (EFS refuses that, `IncorrectMountTargetState`), and the file
/// system is deleted only once it is gone (EFS answers `FileSystemInUse` before).
#[test]
fn destroy_treats_a_mount_target_already_deleting_as_gone() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 2, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &volume_config(&proxy, &cluster, ""));
    wd.apply();
    let fs_id = wd.state_resource(VOLUME)["file_system_id"].as_str().unwrap_or_default().to_string();
    let ids = mount_target_ids(&moto, &fs_id);
    assert_eq!(ids.len(), 2, "{ids:?}");

    proxy.add_fault(FaultRule::new("efs:DeleteMountTarget", Fault::StayDeleting, 3));
    let through_proxy = aws_sdk_efs::Client::from_conf(
        aws_sdk_efs::config::Builder::from(&moto.sdk_config()).endpoint_url(proxy.endpoint()).build(),
    );
    block_on(through_proxy.delete_mount_target().mount_target_id(&ids[0]).send()).expect("DeleteMountTarget");
    let listed = block_on(through_proxy.describe_mount_targets().file_system_id(&fs_id).send()).expect("listed");
    let states: Vec<&str> = listed.mount_targets().iter().map(|m| m.life_cycle_state().as_str()).collect();
    assert_eq!(states.iter().filter(|s| **s == "deleting").count(), 1, "still listed, deleting: {states:?}");
    proxy.reset_counts();

    let out = wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(out.success(), "{out}");
    assert_eq!(proxy.count("efs:DeleteMountTarget"), 1, "only the other one: {:?}", proxy.calls());
    assert_eq!(injected(&proxy, "efs:DeleteMountTarget"), 0, "never refused: {:?}", proxy.injected());
    assert_eq!(injected(&proxy, "efs:DeleteFileSystem"), 0, "{:?}", proxy.injected());
    assert!(injected(&proxy, "efs:DescribeMountTargets") >= 3, "waited for it: {:?}", proxy.injected());
}

/// Item 5: EC2 changes an instance's profile association only while the instance is `running` or
/// `stopped`. A stopped node is associated as a running one is; one `pending` (being started) or
/// `stopping` is waited for (EC2 answers `IncorrectInstanceState` meanwhile), on create as on
/// destroy.
#[test]
fn associations_wait_for_pending_and_stopping_instances() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 3);
    let ids = &cluster.instance_ids;
    let through_proxy = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&moto.sdk_config()).endpoint_url(proxy.endpoint()).build(),
    );
    // Node 0 stopped; node 1 stopped, then being started; node 2 being stopped.
    block_on(moto.ec2().stop_instances().instance_ids(&ids[0]).instance_ids(&ids[1]).send()).expect("StopInstances");
    proxy.add_fault(FaultRule::new("ec2:StartInstances", Fault::StayCreating, 6));
    proxy.add_fault(FaultRule::new("ec2:StopInstances", Fault::StayDeleting, 6));
    block_on(through_proxy.start_instances().instance_ids(&ids[1]).send()).expect("StartInstances");
    block_on(through_proxy.stop_instances().instance_ids(&ids[2]).send()).expect("StopInstances");
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &identity_config(&proxy, "settling", ids, ""));
    wd.apply();
    assert!(injected(&proxy, "ec2:AssociateIamInstanceProfile") >= 2, "refused meanwhile: {:?}", proxy.injected());
    assert!(injected(&proxy, "ec2:DescribeInstances") >= 6, "{:?}", proxy.injected());
    let state = wd.state_resource(IDENTITY);
    assert_eq!(state["instance_ids"].as_array().map(Vec::len), Some(ids.len()), "{state}");
    let associated = block_on(moto.ec2().describe_iam_instance_profile_associations().send()).expect("associations");
    assert_eq!(associated.iam_instance_profile_associations().len(), ids.len(), "{associated:?}");
    assert_no_changes(&wd);

    // Node 0 is being started when the destroy disassociates it.
    proxy.reset_counts();
    block_on(through_proxy.start_instances().instance_ids(&ids[0]).send()).expect("StartInstances");
    let out = wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(out.success(), "{out}");
    assert!(injected(&proxy, "ec2:DisassociateIamInstanceProfile") >= 1, "{:?}", proxy.injected());
    let left = block_on(moto.ec2().describe_iam_instance_profile_associations().send()).expect("associations");
    assert!(left.iam_instance_profile_associations().is_empty(), "{left:?}");
}

/// Item 5, the other reading of EC2's documentation: ReplaceIamInstanceProfileAssociation only on a
/// `running` instance. A stopped node whose profile is to be replaced (`replace_existing_association`)
/// and where EC2 refuses the replacement loses its old association and gets the new one.
#[test]
fn a_replacement_refused_on_a_stopped_instance_disassociates_then_associates() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 1);
    let node = cluster.instance_ids[1].clone();
    block_on(moto.iam().create_instance_profile().instance_profile_name("previous").send()).expect("profile");
    let spec = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().name("previous").build();
    let ec2 = moto.ec2();
    block_on(ec2.associate_iam_instance_profile().instance_id(&node).iam_instance_profile(spec).send()).expect("assoc");
    block_on(ec2.stop_instances().instance_ids(&node).send()).expect("StopInstances");
    // Every replacement is refused: the first one and the one after the instance is seen settled.
    proxy.add_fault(FaultRule::new("ec2:ReplaceIamInstanceProfileAssociation", Fault::ReplaceRefusedUnlessRunning, 9));
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &identity_config(&proxy, "replacing", &cluster.instance_ids, "  replace_existing_association = true"),
    );
    wd.apply();
    assert_eq!(injected(&proxy, "ec2:ReplaceIamInstanceProfileAssociation"), 2, "{:?}", proxy.injected());
    assert_eq!(proxy.count("ec2:DisassociateIamInstanceProfile"), 1, "{:?}", proxy.calls());
    let profile_arn = wd.state_resource(IDENTITY)["instance_profile_arn"].as_str().unwrap_or_default().to_string();
    let associated = block_on(ec2.describe_iam_instance_profile_associations().send()).expect("associations");
    let mut profiles: Vec<(String, String)> = associated
        .iam_instance_profile_associations()
        .iter()
        .map(|a| {
            let arn = a.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default();
            (a.instance_id().unwrap_or_default().to_string(), arn.to_string())
        })
        .collect();
    profiles.sort();
    let mut expected: Vec<(String, String)> =
        cluster.instance_ids.iter().map(|id| (id.clone(), profile_arn.clone())).collect();
    expected.sort();
    assert_eq!(profiles, expected);
    assert_no_changes(&wd);
}

/// Item 2: a file system made with `kms_key_id` set to an alias ARN is reported by EFS with the
/// key's ARN. The state keeps the alias (no permanent replacement in every plan, and the apply's
/// result matches its plan).
#[test]
fn a_kms_alias_arn_stays_as_configured() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 2, 1);
    let alias = "arn:aws:kms:us-east-1:123456789012:alias/prometheus-tsdb";
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &volume_config(&proxy, &cluster, &format!("  kms_key_id = \"{alias}\"")));
    wd.apply();
    let volume = wd.state_resource(VOLUME);
    let fs_id = volume["file_system_id"].as_str().unwrap_or_default().to_string();
    // Through the proxy, as from AWS: the key's ARN.
    let seen = block_on(
        aws_sdk_efs::Client::from_conf(
            aws_sdk_efs::config::Builder::from(&moto.sdk_config()).endpoint_url(proxy.endpoint()).build(),
        )
        .describe_file_systems()
        .file_system_id(&fs_id)
        .send(),
    )
    .expect("DescribeFileSystems through the proxy");
    let reported = seen.file_systems()[0].kms_key_id().unwrap_or_default().to_string();
    assert!(reported.starts_with("arn:aws:kms:us-east-1:123456789012:key/"), "{reported}");
    assert_eq!(volume["kms_key_id"].as_str(), Some(alias));
    assert_no_changes(&wd);
    wd.finish();
}

/// EFS answers a read of a deleted file system's backup policy with `FileSystemNotFound` (moto
/// with HTTP 500): a refresh of a volume whose file system was deleted out of band then plans
/// it anew, and the SDK retries no server error on the way.
#[test]
fn a_deleted_file_systems_backup_policy_is_not_found() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &volume_config(&proxy, &cluster, ""));
    wd.apply();
    let volume = wd.state_resource(VOLUME);
    let fs_id = volume["file_system_id"].as_str().unwrap_or_default().to_string();
    moto.delete_volume_file_system(&volume);

    let through_proxy = aws_sdk_efs::Client::from_conf(
        aws_sdk_efs::config::Builder::from(&moto.sdk_config()).endpoint_url(proxy.endpoint()).build(),
    );
    let refused = block_on(through_proxy.describe_backup_policy().file_system_id(&fs_id).send())
        .expect_err("the file system is gone");
    let code = refused.as_service_error().and_then(|e| aws_sdk_efs::error::ProvideErrorMetadata::code(e));
    assert_eq!(code, Some("FileSystemNotFound"), "{refused:?}");

    proxy.reset_counts();
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(2), "{plan}");
    assert!(plan.stdout.contains(&format!("{VOLUME} must be replaced")), "{plan}");
    let reads = proxy.count("efs:DescribeBackupPolicy");
    assert!(reads <= 1, "no retried server errors: {reads} reads, {:?}", proxy.calls());
    // Destroy without an apply in between deletes the security group the state still holds.
    wd.finish();
}
