//! Acceptance tests of `efs_csi_node_identity` against moto. Each runs in a [`Scenario`], which
//! ends with `destroy` and a check that moto holds no role, policy, instance profile or
//! association the test created.

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::proxy::FaultProxy;
use acceptance_tests::{
    block_on, provider_block, provider_block_with_endpoint, skip_unless_acceptance, squash, Moto, Scenario,
};
use serde_json::Value;

const ADDR: &str = "efs_csi_node_identity.this";

fn config(moto: &Moto, name: &str, instance_ids: &[String], extra: &str) -> String {
    format!(
        "{}\nresource \"efs_csi_node_identity\" \"this\" {{\n  name         = \"{name}\"\n  instance_ids = {}\n{extra}\n}}\n",
        provider_block(moto),
        hcl_list(instance_ids)
    )
}

/// Instance id -> associated profile ARN, for every live association in moto.
fn associations(moto: &Moto) -> Vec<(String, String, String)> {
    let out = block_on(moto.ec2().describe_iam_instance_profile_associations().send()).expect("DescribeAssociations");
    out.iam_instance_profile_associations()
        .iter()
        .map(|a| {
            (
                a.instance_id().unwrap_or_default().to_string(),
                a.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default().to_string(),
                a.association_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn role_names(moto: &Moto) -> Vec<String> {
    let out = block_on(moto.iam().list_roles().send()).expect("ListRoles");
    out.roles().iter().map(|r| r.role_name().to_string()).collect()
}

fn local_policy_names(moto: &Moto) -> Vec<String> {
    let out = block_on(moto.iam().list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send())
        .expect("ListPolicies");
    out.policies().iter().filter_map(|p| p.policy_name().map(str::to_string)).collect()
}

fn profile_names(moto: &Moto) -> Vec<String> {
    let out = block_on(moto.iam().list_instance_profiles().send()).expect("ListInstanceProfiles");
    out.instance_profiles().iter().map(|p| p.instance_profile_name().to_string()).collect()
}

fn associated_instances(moto: &Moto, profile_arn: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        associations(moto).into_iter().filter(|(_, arn, _)| arn == profile_arn).map(|(id, _, _)| id).collect();
    ids.sort();
    ids
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// A state without what import cannot know: `timeouts` is configuration only (no AWS object holds
/// it), so an imported state has none. Everything else, `tags` included (read from the role), is
/// compared.
fn comparable(mut state: Value) -> Value {
    state.as_object_mut().expect("state object").remove("timeouts");
    state
}

#[test]
fn basic_create_import_destroy() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 3, 2);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, "efs-csi-nodes", &cluster.instance_ids, "  tags = { env = \"test\" }"));
    wd.apply();

    let state = wd.state_resource(ADDR);
    assert_eq!(state["id"], "efs-csi-nodes");
    assert_eq!(state["role_name"], "efs-csi-nodes");
    assert_eq!(state["instance_profile_name"], "efs-csi-nodes");
    assert_eq!(state["tags_all"]["env"], "test");
    let profile_arn = state["instance_profile_arn"].as_str().expect("profile arn").to_string();
    assert!(profile_arn.ends_with(":instance-profile/efs-csi-nodes"), "{profile_arn}");
    assert_eq!(associated_instances(&moto, &profile_arn), sorted(&cluster.instance_ids));
    assert_eq!(state["associations"].as_object().expect("associations").len(), 3);
    let policy: Value = serde_json::from_str(state["policy_json"].as_str().unwrap()).unwrap();
    assert!(policy.to_string().contains("elasticfilesystem:DescribeMountTargets"), "{policy}");

    let iam = moto.iam();
    let role = block_on(iam.get_role().role_name("efs-csi-nodes").send()).unwrap().role.unwrap();
    assert!(role.assume_role_policy_document().unwrap().contains("ec2.amazonaws.com"));
    let attached = block_on(iam.list_attached_role_policies().role_name("efs-csi-nodes").send()).unwrap();
    assert_eq!(attached.attached_policies()[0].policy_arn(), state["policy_arn"].as_str());
    let profile = block_on(iam.get_instance_profile().instance_profile_name("efs-csi-nodes").send()).unwrap();
    assert_eq!(profile.instance_profile.unwrap().roles()[0].role_name(), "efs-csi-nodes");
    assert_eq!(wd.plan_detailed_exitcode(), 0, "a second plan must be empty");

    // Import into a fresh directory: the imported state equals the applied one.
    let imported = Scenario::new(&moto);
    imported.write("main.tf", &config(&moto, "efs-csi-nodes", &cluster.instance_ids, "  tags = { env = \"test\" }"));
    imported.run_ok(&["import", "-no-color", ADDR, "efs-csi-nodes"]);
    assert_eq!(comparable(imported.state_resource(ADDR)), comparable(state));
    assert_eq!(imported.plan_detailed_exitcode(), 0, "plan after import must be empty");
}

#[test]
fn validation_errors_name_the_attribute_and_touch_nothing() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Scenario::new(&moto);
    let ids = vec!["i-0123456789abcdef0".to_string(), "i-nothex".to_string()];
    wd.write("main.tf", &config(&moto, "bad name", &ids, "  policy_json = \"{nope\""));
    let out = wd.apply_expect_error();
    assert!(out.contains("must be an EC2 instance id"), "{out}");
    assert!(out.contains("may contain only letters"), "{out}");
    assert!(out.contains("is not valid JSON"), "{out}");
    wd.assert_nothing_new();
}

#[test]
fn update_instances_3_5_2_and_policy_and_tags() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let mut cluster = Cluster::create(&moto, 3, 2);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, "nodes", &cluster.instance_ids, ""));
    wd.apply();
    let profile_arn = wd.state_resource(ADDR)["instance_profile_arn"].as_str().unwrap().to_string();
    let first_associations = wd.state_resource(ADDR)["associations"].clone();

    cluster.add_instances(&moto, 2);
    wd.write("main.tf", &config(&moto, "nodes", &cluster.instance_ids, ""));
    wd.apply();
    assert_eq!(associated_instances(&moto, &profile_arn), sorted(&cluster.instance_ids));
    let five = wd.state_resource(ADDR)["associations"].clone();
    // Only the difference changes: the first three keep their association ids.
    for (id, association) in first_associations.as_object().unwrap() {
        assert_eq!(five[id]["association_id"], association["association_id"], "{id} was re-associated");
    }

    // moto does not load AWS-managed policies: an extra customer-managed one stands in for them.
    let iam = moto.iam();
    let extra_policy = block_on(
        iam.create_policy()
            .policy_name("extra")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*"}]}"#)
            .send(),
    )
    .unwrap()
    .policy
    .unwrap()
    .arn
    .unwrap();
    let two = cluster.instance_ids[3..].to_vec();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"elasticfilesystem:DescribeFileSystems","Resource":"*"}]}"#;
    let extra = format!(
        "  policy_json = {policy:?}\n  additional_policy_arns = [{extra_policy:?}]\n  tags = {{ team = \"storage\" }}"
    );
    wd.write("main.tf", &config(&moto, "nodes", &two, &extra));
    wd.apply();
    assert_eq!(associated_instances(&moto, &profile_arn), sorted(&two));
    let state = wd.state_resource(ADDR);
    let policy_arn = state["policy_arn"].as_str().unwrap();
    let versions = block_on(iam.list_policy_versions().policy_arn(policy_arn).send()).unwrap();
    assert_eq!(versions.versions().len(), 2);
    let attached = block_on(iam.list_attached_role_policies().role_name("nodes").send()).unwrap();
    assert_eq!(attached.attached_policies().len(), 2);
    let role = block_on(iam.get_role().role_name("nodes").send()).unwrap().role.unwrap();
    assert!(role.tags().iter().any(|t| t.key() == "team" && t.value() == "storage"));
    let policy_tags = block_on(iam.list_policy_tags().policy_arn(policy_arn).send()).unwrap();
    assert!(policy_tags.tags().iter().any(|t| t.key() == "team" && t.value() == "storage"));
    let profile = block_on(iam.get_instance_profile().instance_profile_name("nodes").send()).unwrap();
    assert!(profile.instance_profile.unwrap().tags().iter().any(|t| t.key() == "team" && t.value() == "storage"));
    assert_eq!(wd.plan_detailed_exitcode(), 0);

    // Six more document versions: the oldest non-default ones are pruned at IAM's limit of five.
    for i in 0..4 {
        let policy = policy
            .replace("Allow", if i % 2 == 0 { "Deny" } else { "Allow" })
            .replace("*", &format!("arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0000000{i}"));
        let extra = format!("  policy_json = {policy:?}");
        wd.write("main.tf", &config(&moto, "nodes", &two, &extra));
        wd.apply();
    }
    let versions = block_on(iam.list_policy_versions().policy_arn(policy_arn).send()).unwrap();
    assert_eq!(versions.versions().len(), 5);
    let attached = block_on(iam.list_attached_role_policies().role_name("nodes").send()).unwrap();
    assert_eq!(attached.attached_policies().len(), 1, "the additional policy is detached");

    // The policy made out of band for this test goes too, so nothing is left that it did not start with.
    block_on(iam.delete_policy().policy_arn(&extra_policy).send()).unwrap();
}

#[test]
fn drift_of_associations_and_trust_policy_and_disappears() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 2);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, "drift", &cluster.instance_ids, ""));
    wd.apply();
    let profile_arn = wd.state_resource(ADDR)["instance_profile_arn"].as_str().unwrap().to_string();

    // An association removed out of band shows in plan, and apply restores it.
    let (_, _, association_id) = associations(&moto).into_iter().next().unwrap();
    block_on(moto.ec2().disassociate_iam_instance_profile().association_id(association_id).send()).unwrap();
    assert_eq!(associated_instances(&moto, &profile_arn).len(), 2);
    assert_eq!(wd.plan_detailed_exitcode(), 2);
    wd.apply();
    assert_eq!(associated_instances(&moto, &profile_arn), sorted(&cluster.instance_ids));
    assert_eq!(wd.plan_detailed_exitcode(), 0);

    // A trust policy edited out of band (here: any AWS account may assume the role) shows in plan,
    // and apply puts back the one that trusts only EC2.
    let trusted = wd.state_resource(ADDR)["assume_role_policy"].as_str().unwrap().to_string();
    assert!(trusted.contains("ec2.amazonaws.com") && trusted.contains("sts:AssumeRole"), "{trusted}");
    let widened = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    block_on(moto.iam().update_assume_role_policy().role_name("drift").policy_document(widened).send()).unwrap();
    let plan = wd.plan();
    assert!(plan.stdout.contains("assume_role_policy") && plan.stdout.contains("1 to change"), "{plan}");
    wd.apply();
    let role = block_on(moto.iam().get_role().role_name("drift").send()).unwrap().role.unwrap();
    let document = role.assume_role_policy_document().unwrap().to_string();
    // Upper-case "AWS" appears only in the widened principal (the document may be percent-encoded).
    assert!(!document.contains("AWS") && document.contains("ec2.amazonaws.com"), "{document}");
    assert_eq!(wd.plan_detailed_exitcode(), 0);

    // The node policy given a new default version out of band (a wider document): refresh reads the
    // version it saw last while it reads the policy, finds that version no longer the default, and
    // reads the new one, so the plan shows the change; apply makes the planned document the default
    // again, and the next plan, reading the version the apply left, is empty.
    let policy_arn = wd.state_resource(ADDR)["policy_arn"].as_str().unwrap().to_string();
    let wider =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"elasticfilesystem:*","Resource":"*"}]}"#;
    block_on(
        moto.iam().create_policy_version().policy_arn(&policy_arn).policy_document(wider).set_as_default(true).send(),
    )
    .unwrap();
    let plan = wd.plan();
    assert!(plan.stdout.contains("policy_json") && plan.stdout.contains("1 to change"), "{plan}");
    wd.apply();
    let policy = block_on(moto.iam().get_policy().policy_arn(&policy_arn).send()).unwrap().policy.unwrap();
    assert_ne!(policy.default_version_id(), Some("v2"), "the wider version is still the default");
    assert_eq!(wd.plan_detailed_exitcode(), 0);

    // The instance profile deleted out of band, as a destroy killed right after DeleteInstanceProfile
    // leaves it: drift, not gone (the role and policy are still there). The plan makes the profile
    // again in place, and apply gives it back to every node.
    delete_profile(&moto, "drift");
    let plan = wd.plan();
    assert!(plan.stdout.contains("instance_profile_arn") && plan.stdout.contains("1 to change"), "{plan}");
    wd.apply();
    let profile_arn = wd.state_resource(ADDR)["instance_profile_arn"].as_str().unwrap().to_string();
    assert_eq!(associated_instances(&moto, &profile_arn), sorted(&cluster.instance_ids));
    assert_eq!(wd.plan_detailed_exitcode(), 0);

    // The role deleted out of band with the profile: drift, not gone, while the policy this
    // resource made is still there. The plan makes the role (under a new ARN) and the profile
    // again in place, and apply gives the profile back to every node.
    delete_profile(&moto, "drift");
    moto.delete_role("drift");
    let plan = wd.plan();
    assert!(plan.stdout.contains("role_arn") && plan.stdout.contains("1 to change"), "{plan}");
    wd.apply();
    let profile_arn = wd.state_resource(ADDR)["instance_profile_arn"].as_str().unwrap().to_string();
    assert_eq!(associated_instances(&moto, &profile_arn), sorted(&cluster.instance_ids));
    assert!(wd.state_resource(ADDR)["role_arn"].as_str().unwrap().ends_with(":role/drift"));
    assert_eq!(wd.plan_detailed_exitcode(), 0);

    // A destroy right after the profile was lost still deletes the role and the policy.
    delete_profile(&moto, "drift");
    wd.destroy();
    assert_eq!((role_names(&moto), local_policy_names(&moto), profile_names(&moto)), (vec![], vec![], vec![]));

    // And one right after the role alone was lost (as a destroy stopped right after DeleteRole
    // leaves it) deletes the profile, which the nodes still have, and the policy.
    wd.apply();
    moto.delete_role("drift");
    wd.destroy();
    assert_eq!((role_names(&moto), local_policy_names(&moto), profile_names(&moto)), (vec![], vec![], vec![]));
    assert_eq!(associations(&moto), vec![], "the nodes still have the profile");
}

/// Deletes instance profile `name` as IAM allows it: its associations first, then its role out of it.
fn delete_profile(moto: &Moto, name: &str) {
    let iam = moto.iam();
    let profile = block_on(iam.get_instance_profile().instance_profile_name(name).send()).unwrap();
    let profile = profile.instance_profile.unwrap();
    for (_, _, id) in associations(moto).into_iter().filter(|(_, arn, _)| arn == profile.arn()) {
        block_on(moto.ec2().disassociate_iam_instance_profile().association_id(id).send()).unwrap();
    }
    for role in profile.roles() {
        let removal = iam.remove_role_from_instance_profile().instance_profile_name(name).role_name(role.role_name());
        block_on(removal.send()).unwrap();
    }
    block_on(iam.delete_instance_profile().instance_profile_name(name).send()).unwrap();
}

#[test]
fn failed_create_leaves_nothing_behind() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 1);
    let mut wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, "partial", &cluster.instance_ids, ""));
    wd.run_ok(&["plan", "-input=false", "-no-color", "-out=tfplan"]);
    // An instance profile of the same name that this resource did not make, appearing after the plan
    // (which would refuse it): creating fails after the role and the policy exist.
    block_on(moto.iam().create_instance_profile().instance_profile_name("partial").send())
        .expect("CreateInstanceProfile");
    wd.made_by_test("instance_profiles", "partial");
    let out = wd.run(&["apply", "-input=false", "-no-color", "tfplan"]);
    assert!(!out.success(), "{out}");
    let out = squash(&out.combined());
    assert!(out.contains("no terraform-provider-efs:owner tag"), "{out}");
    assert!(out.contains("IAM Instance Profile partial"), "{out}");
    assert_eq!(role_names(&moto), Vec::<String>::new(), "the role made before the failure is left");
    assert_eq!(local_policy_names(&moto), Vec::<String>::new(), "the policy made before the failure is left");
    assert_eq!(profile_names(&moto), ["partial"], "only the profile that was there before");
    wd.assert_nothing_new();
    let state = wd.show_json();
    assert!(state.pointer("/values/root_module/resources").is_none(), "{state}");
}

#[test]
fn existing_association_is_reported_then_replaced() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 1);
    let iam = moto.iam();
    block_on(iam.create_instance_profile().instance_profile_name("previous").send()).unwrap();
    let previous = "arn:aws:iam::123456789012:instance-profile/previous".to_string();
    let spec = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().name("previous").build();
    let master = cluster.instance_ids[0].clone();
    block_on(moto.ec2().associate_iam_instance_profile().instance_id(&master).iam_instance_profile(spec).send())
        .unwrap();

    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, "replacing", &cluster.instance_ids, ""));
    let out = wd.run(&["plan", "-no-color", "-input=false"]);
    assert!(!out.success());
    let text = out.combined();
    assert!(
        text.contains(&master) && text.contains(&previous) && text.contains("replace_existing_association"),
        "{text}"
    );
    assert_eq!(role_names(&moto), Vec::<String>::new(), "plan must not create anything");

    wd.write("main.tf", &config(&moto, "replacing", &cluster.instance_ids, "  replace_existing_association = true"));
    wd.apply();
    let profile_arn = wd.state_resource(ADDR)["instance_profile_arn"].as_str().unwrap().to_string();
    assert_eq!(associated_instances(&moto, &profile_arn), sorted(&cluster.instance_ids));
    assert_eq!(wd.plan_detailed_exitcode(), 0);
}

/// Instance id -> (http_tokens, hop limit) as moto holds them.
fn metadata_options(moto: &Moto, instance_ids: &[String]) -> Vec<(String, String, i32)> {
    let out = block_on(moto.ec2().describe_instances().set_instance_ids(Some(instance_ids.to_vec())).send())
        .expect("DescribeInstances");
    let mut found: Vec<(String, String, i32)> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            let options = i.metadata_options().expect("metadata options");
            (
                i.instance_id().unwrap_or_default().to_string(),
                options.http_tokens().map(|t| t.as_str().to_string()).unwrap_or_default(),
                options.http_put_response_hop_limit().unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    found
}

fn set_metadata_options(moto: &Moto, instance_id: &str, hop_limit: i32) {
    block_on(
        moto.ec2()
            .modify_instance_metadata_options()
            .instance_id(instance_id)
            .http_tokens(aws_sdk_ec2::types::HttpTokensState::Required)
            .http_put_response_hop_limit(hop_limit)
            .send(),
    )
    .expect("ModifyInstanceMetadataOptions");
}

fn disable_metadata_endpoint(moto: &Moto, instance_id: &str) {
    block_on(
        moto.ec2()
            .modify_instance_metadata_options()
            .instance_id(instance_id)
            .http_endpoint(aws_sdk_ec2::types::InstanceMetadataEndpointState::Disabled)
            .send(),
    )
    .expect("ModifyInstanceMetadataOptions");
}

#[test]
fn metadata_options_warning_apply_and_drift() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 2);
    // The manual flow's nodes: IMDSv2 with hop limit 2, which the driver on the host network does
    // not need; one node has its metadata endpoint off.
    for id in &cluster.instance_ids {
        set_metadata_options(&moto, id, 2);
    }
    let disabled = &cluster.instance_ids[2];
    disable_metadata_endpoint(&moto, disabled);

    // Without metadata_options, plan warns about the instance the driver cannot get credentials on,
    // and only that one: any hop limit reaches IMDSv2 from the host network.
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, "imds", &cluster.instance_ids, ""));
    let plan = squash(&wd.plan().combined());
    assert!(plan.contains("Warning: Instance Metadata Disabled On Some Instances"), "{plan}");
    assert!(plan.contains(&format!("Instances {disabled} have")), "only {disabled} is named: {plan}");
    assert!(plan.contains("--http-endpoint enabled --http-tokens required --http-put-response-hop-limit 1"), "{plan}");
    assert_eq!(role_names(&moto), Vec::<String>::new(), "plan must not create anything");

    // The least privilege: IMDSv2 only, hop limit 1.
    let options = "  metadata_options {\n    http_tokens                 = \"required\"\n    \
                   http_put_response_hop_limit = 1\n  }";
    wd.write("main.tf", &config(&moto, "imds", &cluster.instance_ids, options));
    wd.apply();
    let expected: Vec<(String, String, i32)> =
        sorted(&cluster.instance_ids).into_iter().map(|id| (id, "required".to_string(), 1)).collect();
    assert_eq!(metadata_options(&moto, &cluster.instance_ids), expected);
    assert_eq!(wd.plan_detailed_exitcode(), 0, "a second plan must be empty");

    // The hop limit raised to 2 out of band on one instance is drift, and apply repairs it.
    set_metadata_options(&moto, &cluster.instance_ids[1], 2);
    let plan = wd.plan();
    assert!(plan.stdout.contains("http_put_response_hop_limit = 2 -> 1"), "{plan}");
    wd.apply();
    assert_eq!(metadata_options(&moto, &cluster.instance_ids), expected);
    assert_eq!(wd.plan_detailed_exitcode(), 0);
}

#[test]
fn import_of_a_manual_setup() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 1);
    let wd = Scenario::new(&moto);
    // The manual flow keeps the driver's policy in a file and passes it with file://; the
    // configuration reads the same file.
    let policy = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["elasticfilesystem:DescribeAccessPoints", "elasticfilesystem:DescribeFileSystems",
                 "elasticfilesystem:DescribeMountTargets", "ec2:DescribeAvailabilityZones"],
      "Resource": "*"
    }
  ]
}
"#;
    wd.write("iam-policy.json", policy);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let (role, policy_name, profile) = ("EFSCSIDriverNodeRole", "AmazonEKS_EFS_CSI_Driver_Policy", "EFSCSIDriverNode");

    let iam = moto.iam();
    block_on(iam.create_role().role_name(role).assume_role_policy_document(trust).send()).expect("CreateRole");
    let policy_arn =
        block_on(iam.create_policy().policy_name(policy_name).policy_document(policy).send()).expect("CreatePolicy");
    let policy_arn = policy_arn.policy.and_then(|p| p.arn).expect("policy arn");
    block_on(iam.attach_role_policy().role_name(role).policy_arn(&policy_arn).send()).expect("AttachRolePolicy");
    block_on(iam.create_instance_profile().instance_profile_name(profile).send()).expect("CreateInstanceProfile");
    block_on(iam.add_role_to_instance_profile().instance_profile_name(profile).role_name(role).send())
        .expect("AddRoleToInstanceProfile");
    for id in &cluster.instance_ids {
        let spec = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().name(profile).build();
        block_on(moto.ec2().associate_iam_instance_profile().instance_id(id).iam_instance_profile(spec).send())
            .expect("AssociateIamInstanceProfile");
    }

    let extra = format!(
        "  policy_name           = \"{policy_name}\"\n  instance_profile_name = \"{profile}\"\n  \
         policy_json           = file(\"${{path.module}}/iam-policy.json\")"
    );
    wd.write("main.tf", &config(&moto, role, &cluster.instance_ids, &extra));
    wd.run_ok(&["import", "-no-color", ADDR, role]);
    let state = wd.state_resource(ADDR);
    assert_eq!(state["policy_arn"], policy_arn.as_str());
    assert_eq!(state["instance_profile_name"], profile);
    assert_eq!(state["associations"].as_object().expect("associations").len(), cluster.instance_ids.len());
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(0), "plan after import must be empty: {plan}");
}

#[test]
fn detached_policy_is_drift_and_apply_reattaches_it() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 1);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, "detached", &cluster.instance_ids, ""));
    wd.apply();
    let policy_arn = wd.state_resource(ADDR)["policy_arn"].as_str().expect("policy arn").to_string();
    let iam = moto.iam();
    let attached = || -> Vec<String> {
        let out = block_on(iam.list_attached_role_policies().role_name("detached").send()).expect("ListAttached");
        out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect()
    };
    assert_eq!(attached(), vec![policy_arn.clone()]);

    block_on(iam.detach_role_policy().role_name("detached").policy_arn(&policy_arn).send()).expect("Detach");
    assert_eq!(wd.plan_detailed_exitcode(), 2, "a detached policy must show in plan");
    wd.apply();
    assert_eq!(attached(), vec![policy_arn.clone()]);
    // Re-attaching is all it takes: the document did not change, so no new version is made.
    let versions = block_on(iam.list_policy_versions().policy_arn(&policy_arn).send()).expect("ListPolicyVersions");
    assert_eq!(versions.versions().len(), 1, "{versions:?}");
    assert_eq!(wd.plan_detailed_exitcode(), 0);
}

/// With `skip_credentials_validation = true` the provider never asks STS for the account, so it
/// cannot name its own policy's ARN: the plan's check of the names and the create find the policy
/// by listing the account's customer policies instead (the operator policy then needs
/// iam:ListPolicies). A policy of that name made by hand is found that way and refused at plan.
#[test]
fn without_the_credentials_check_the_policy_is_found_by_listing() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let by_hand = block_on(
        moto.iam()
            .create_policy()
            .policy_name("unchecked")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#)
            .send(),
    )
    .expect("CreatePolicy");
    let by_hand_arn = by_hand.policy().and_then(|p| p.arn()).expect("an ARN").to_string();
    let proxy = FaultProxy::start(&moto);
    let provider = provider_block_with_endpoint(&proxy.endpoint()).replacen(
        "provider \"efs\" {\n",
        "provider \"efs\" {\n  skip_credentials_validation = true\n",
        1,
    );
    assert!(provider.contains("skip_credentials_validation"), "{provider}");
    let resource = |extra: &str| {
        format!(
            "{provider}\nresource \"efs_csi_node_identity\" \"this\" {{\n  name         = \"unchecked\"\n  instance_ids = {}\n{extra}}}\n",
            hcl_list(&cluster.instance_ids)
        )
    };
    let wd = Scenario::new(&moto);

    wd.write("main.tf", &resource(""));
    let out = wd.run(&["plan", "-input=false", "-no-color"]);
    assert!(!out.success(), "the hand-made policy of that name must fail the plan: {out}");
    let text = squash(&out.combined());
    assert!(text.contains("IAM Object Belongs To Another Owner") && text.contains(&by_hand_arn), "{out}");
    assert!(proxy.count("iam:ListPolicies") >= 1, "found by listing: {:?}", proxy.calls());

    proxy.reset_counts();
    wd.write("main.tf", &resource("  policy_name  = \"unchecked-nodes\"\n"));
    wd.apply();
    assert_eq!(proxy.count("sts:GetCallerIdentity"), 0, "{:?}", proxy.calls());
    assert!(proxy.count("iam:ListPolicies") >= 1, "{:?}", proxy.calls());
    let state = wd.state_resource(ADDR);
    assert!(state["policy_arn"].as_str().is_some_and(|arn| arn.ends_with(":policy/unchecked-nodes")), "{state}");
    assert_eq!(wd.plan_detailed_exitcode(), 0);
    let policies = local_policy_names(&moto);
    assert!(policies.contains(&"unchecked".to_string()), "the hand-made policy stays: {policies:?}");
}
