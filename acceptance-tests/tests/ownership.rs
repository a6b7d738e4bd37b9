//! Ownership across states: a resource never takes over, changes or deletes what another state (or a
//! person) made with the same name, and the manual setup with one instance profile per node imports
//! and converges. Each working directory is its own state, as two workspaces or a copy of the module
//! would be. Every test runs in [`Scenario`]s, which end with `destroy` and a check that nothing new is
//! left in moto.

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::{block_on, provider_block, skip_unless_acceptance, squash, Moto, Scenario};
use serde_json::Value;

const VOLUME: &str = "efs_prometheus_volume.this";
const IDENTITY: &str = "efs_csi_node_identity.this";
const OWNER_TAG: &str = "terraform-provider-efs:owner";

fn volume_config(moto: &Moto, cluster: &Cluster, name: &str) -> String {
    format!(
        "{}\nresource \"efs_prometheus_volume\" \"this\" {{\n  name                       = \"{name}\"\n  subnet_ids                 = {}\n  allowed_security_group_ids = [\"{}\"]\n}}\n",
        provider_block(moto),
        hcl_list(&cluster.subnet_ids),
        cluster.node_security_group_id
    )
}

fn identity_config(moto: &Moto, name: &str, instance_ids: &[String], extra: &str) -> String {
    format!(
        "{}\nresource \"efs_csi_node_identity\" \"this\" {{\n  name         = \"{name}\"\n  instance_ids = {}\n{extra}\n}}\n",
        provider_block(moto),
        hcl_list(instance_ids)
    )
}

fn text(state: &Value, name: &str) -> String {
    state[name].as_str().unwrap_or_else(|| panic!("{name} is not a string in {state}")).to_string()
}

fn file_system_ids(moto: &Moto) -> Vec<String> {
    let out = block_on(moto.efs().describe_file_systems().send()).expect("DescribeFileSystems");
    out.file_systems().iter().map(|f| f.file_system_id().to_string()).collect()
}

fn role_exists(moto: &Moto, name: &str) -> bool {
    block_on(moto.iam().get_role().role_name(name).send()).is_ok()
}

fn profile_names(moto: &Moto) -> Vec<String> {
    let out = block_on(moto.iam().list_instance_profiles().send()).expect("ListInstanceProfiles");
    let mut names: Vec<String> =
        out.instance_profiles().iter().map(|p| p.instance_profile_name().to_string()).collect();
    names.sort();
    names
}

/// Instance id -> name of the profile associated with it.
fn associated_profiles(moto: &Moto) -> Vec<(String, String)> {
    let out = block_on(moto.ec2().describe_iam_instance_profile_associations().send()).expect("DescribeAssociations");
    let mut pairs: Vec<(String, String)> = out
        .iam_instance_profile_associations()
        .iter()
        .filter(|a| a.state().is_some_and(|s| s.as_str() == "associated"))
        .map(|a| {
            let arn = a.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default();
            (a.instance_id().unwrap_or_default().to_string(), arn.rsplit('/').next().unwrap_or_default().to_string())
        })
        .collect();
    pairs.sort();
    pairs
}

/// Destroys a state whose configuration the plan refuses. Terraform's destroy first plans the
/// configuration and stops at the refusal (so nothing is deleted either); `-refresh=false` skips that
/// plan, as the resource pages say.
fn destroy_refused(wd: &Scenario<'_>, refusal: &str) {
    if wd.cli().destroy_plans_the_configuration_first() {
        let out = wd.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
        assert!(!out.success() && squash(&out.combined()).contains(refusal), "{out}");
        wd.run_ok(&["destroy", "-auto-approve", "-input=false", "-no-color", "-refresh=false"]);
    } else {
        wd.destroy();
    }
}

/// `plan` fails; returns its output with whitespace squashed.
fn plan_fails(wd: &Scenario<'_>) -> String {
    let out = wd.run(&["plan", "-input=false", "-no-color"]);
    assert!(!out.success(), "the plan must fail: {out}");
    squash(&out.combined())
}

#[test]
fn second_state_with_the_same_volume_name_is_refused_at_plan_and_its_destroy_keeps_the_first() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 1);
    let first = Scenario::new(&moto);
    first.write("main.tf", &volume_config(&moto, &cluster, "shared"));
    first.apply();
    let state = first.state_resource(VOLUME);
    let fs_id = text(&state, "file_system_id");
    let owner = text(&state, "owner_id");
    let tags = block_on(moto.efs().describe_file_systems().file_system_id(&fs_id).send()).expect("describe");
    let tagged = tags.file_systems()[0].tags().iter().find(|t| t.key() == OWNER_TAG).map(|t| t.value().to_string());
    assert_eq!(tagged.as_deref(), Some(owner.as_str()), "the file system carries the owner id");

    let second = Scenario::new(&moto);
    second.write("main.tf", &volume_config(&moto, &cluster, "shared"));
    let out = plan_fails(&second);
    assert!(out.contains("File System Belongs To Another Owner"), "{out}");
    assert!(out.contains(&fs_id) && out.contains(&owner), "names the file system and its owner: {out}");
    assert!(out.contains(&format!("import efs_prometheus_volume.<label> {fs_id}")), "{out}");
    assert!(out.contains(&format!("id = \"{fs_id}\"")), "gives the import block: {out}");
    let out = second.apply_expect_error();
    assert!(squash(&out).contains("File System Belongs To Another Owner"), "{out}");
    second.assert_nothing_new();
    destroy_refused(&second, "File System Belongs To Another Owner");
    second.finish();

    assert_eq!(file_system_ids(&moto), [fs_id], "the first state's file system is untouched");
    assert_eq!(first.plan_detailed_exitcode(), 0, "the first state sees no change");
}

#[test]
fn second_state_with_the_same_node_identity_name_is_refused_at_plan_and_its_destroy_keeps_the_first() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 1);
    let first = Scenario::new(&moto);
    first.write("main.tf", &identity_config(&moto, "shared-nodes", &cluster.instance_ids[..1], ""));
    first.apply();
    let owner = text(&first.state_resource(IDENTITY), "owner_id");

    let second = Scenario::new(&moto);
    second.write("main.tf", &identity_config(&moto, "shared-nodes", &cluster.instance_ids[1..], ""));
    let out = plan_fails(&second);
    assert!(out.contains("IAM Object Belongs To Another Owner"), "{out}");
    for part in ["IAM Role shared-nodes", "IAM Policy arn:aws:iam::", "IAM Instance Profile shared-nodes"] {
        assert!(out.contains(part), "names {part}: {out}");
    }
    assert!(out.contains(&owner), "names the owner id: {out}");
    assert!(out.contains("import efs_csi_node_identity.<label> shared-nodes"), "{out}");
    second.assert_nothing_new();
    destroy_refused(&second, "IAM Object Belongs To Another Owner");
    second.finish();

    assert!(role_exists(&moto, "shared-nodes"), "the first state's role is still there");
    assert_eq!(profile_names(&moto), ["shared-nodes"]);
    assert_eq!(first.plan_detailed_exitcode(), 0, "the first state sees no change");
}

/// The role of a state is deleted out of band and another state makes a role of that name: the
/// first state neither takes that role over on its next apply nor deletes it on destroy, which
/// still deletes the first state's own policy and instance profile.
#[test]
fn role_made_by_another_state_under_a_deleted_roles_name_is_refused_and_left_by_destroy() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 1);
    let first = Scenario::new(&moto);
    first.write("main.tf", &identity_config(&moto, "taken", &cluster.instance_ids[..1], ""));
    first.apply();
    let first_policy = text(&first.state_resource(IDENTITY), "policy_arn");
    moto.delete_role("taken");

    let second = Scenario::new(&moto);
    let extra = "  role_name    = \"taken\"";
    second.write("main.tf", &identity_config(&moto, "b", &cluster.instance_ids[1..], extra));
    second.apply();
    let owner = text(&second.state_resource(IDENTITY), "owner_id");
    let role_tags = || {
        let role = block_on(moto.iam().get_role().role_name("taken").send()).expect("GetRole").role.expect("role");
        role.tags().iter().map(|t| format!("{}={}", t.key(), t.value())).collect::<Vec<_>>()
    };
    let tags_before = role_tags();
    assert!(
        tags_before.contains(&format!("{OWNER_TAG}={owner}")),
        "the new role is the second state's: {tags_before:?}"
    );

    let out = plan_fails(&first);
    assert!(out.contains("IAM Object Belongs To Another Owner"), "{out}");
    assert!(out.contains("IAM Role taken") && out.contains(&owner), "names the role and its owner: {out}");
    assert!(out.contains("role_name"), "the diagnostic is at role_name: {out}");
    let out = squash(&first.apply_expect_error());
    assert!(out.contains("IAM Object Belongs To Another Owner") && out.contains("IAM Role taken"), "{out}");
    assert_eq!(role_tags(), tags_before, "the first state's apply left the second state's role as it was");

    // A plan that does not refresh reads nothing, so it plans an update: its apply refuses the role
    // before it writes anything, to the role or to the first state's own parts.
    let tagged = "  tags = { team = \"a\" }";
    first.write("main.tf", &identity_config(&moto, "taken", &cluster.instance_ids[..1], tagged));
    let out = first.run(&["apply", "-auto-approve", "-input=false", "-no-color", "-refresh=false"]);
    let said = squash(&out.combined());
    assert!(!out.success() && said.contains("Error Updating EFS CSI Node Identity"), "{out}");
    assert!(said.contains("IAM Role taken") && said.contains(&owner), "names the role and its owner: {said}");
    assert!(said.contains("nothing was changed") && said.contains("role_name"), "{said}");
    assert_eq!(role_tags(), tags_before, "the apply without refresh left the second state's role as it was");
    let profile = block_on(moto.iam().get_instance_profile().instance_profile_name("taken").send());
    let profile_tags = profile.expect("GetInstanceProfile").instance_profile.expect("profile").tags;
    assert!(!format!("{profile_tags:?}").contains("team"), "the first state's profile is not retagged either");
    let state = first.state_resource(IDENTITY);
    assert!(state["tags"].get("team").is_none(), "the state is as it was: {state}");

    // Both CLIs plan the configuration before a destroy of what the state holds, and that plan
    // refuses the role: `-refresh=false` skips it, as the resource page says.
    let destroy = ["destroy", "-auto-approve", "-input=false", "-no-color"];
    let out = first.run(&destroy);
    assert!(!out.success() && squash(&out.combined()).contains("IAM Object Belongs To Another Owner"), "{out}");
    assert_eq!(profile_names(&moto), ["b", "taken"], "the refused destroy deleted nothing");
    let out = first.run_ok(&[&destroy[..], &["-refresh=false"]].concat());
    let out = squash(&out.combined());
    assert!(out.contains("IAM Objects Of Another Owner Left In Place"), "{out}");
    assert!(out.contains("IAM Role taken belongs to another Terraform state"), "{out}");
    assert!(out.contains("deleted the rest of the resource"), "{out}");
    assert_eq!(profile_names(&moto), ["b"], "the first state's instance profile is deleted");
    assert!(role_exists(&moto, "taken"), "the second state's role is left");
    let policy = block_on(moto.iam().get_policy().policy_arn(&first_policy).send());
    assert!(policy.is_err(), "the first state's policy is deleted: {policy:?}");
    assert_eq!(role_tags(), tags_before);
    let mut associated = associated_profiles(&moto);
    associated.retain(|(_, profile)| profile == "taken");
    assert_eq!(associated, [], "the first state's node let go of its profile");
    assert_eq!(second.plan_detailed_exitcode(), 0, "the second state sees no change");
    // The second state first: the first state's backups name the role ARN both states had.
    second.finish();
    first.finish();
}

#[test]
fn hand_made_role_with_the_resource_name_is_refused_and_never_deleted() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    block_on(moto.iam().create_role().role_name("by-hand").assume_role_policy_document(trust).send())
        .expect("CreateRole");

    let wd = Scenario::new(&moto);
    wd.write("main.tf", &identity_config(&moto, "by-hand", &cluster.instance_ids, ""));
    let out = plan_fails(&wd);
    assert!(out.contains("IAM Role by-hand") && out.contains("no terraform-provider-efs:owner tag"), "{out}");
    assert!(out.contains("role_name"), "the diagnostic is at role_name: {out}");
    let out = squash(&wd.apply_expect_error());
    assert!(out.contains("IAM Role by-hand"), "{out}");
    wd.assert_nothing_new();
    destroy_refused(&wd, "IAM Object Belongs To Another Owner");
    wd.finish();
    assert!(role_exists(&moto, "by-hand"), "destroy left the hand-made role alone");
}

/// The manual setup: one role, one policy, and one instance profile per node, each holding the role.
#[test]
fn manual_setup_with_a_profile_per_node_imports_moves_the_nodes_and_converges() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 2);
    let iam = moto.iam();
    let (role, policy_name) = ("for_efs_role", "for_efs_policy");
    let profiles = ["for_efs_instance_profile", "for_efs_instance_profile_worker1", "for_efs_instance_profile_worker2"];
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["elasticfilesystem:DescribeMountTargets","ec2:DescribeAvailabilityZones"],"Resource":"*"}]}"#;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    block_on(iam.create_role().role_name(role).assume_role_policy_document(trust).send()).expect("CreateRole");
    let created = block_on(iam.create_policy().policy_name(policy_name).policy_document(policy).send());
    let policy_arn = created.expect("CreatePolicy").policy.and_then(|p| p.arn).expect("policy arn");
    block_on(iam.attach_role_policy().role_name(role).policy_arn(&policy_arn).send()).expect("AttachRolePolicy");
    for (profile, instance_id) in profiles.iter().zip(&cluster.instance_ids) {
        block_on(iam.create_instance_profile().instance_profile_name(*profile).send()).expect("CreateInstanceProfile");
        block_on(iam.add_role_to_instance_profile().instance_profile_name(*profile).role_name(role).send())
            .expect("AddRoleToInstanceProfile");
        let spec = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().name(*profile).build();
        block_on(
            moto.ec2().associate_iam_instance_profile().instance_id(instance_id).iam_instance_profile(spec).send(),
        )
        .expect("AssociateIamInstanceProfile");
    }

    let wd = Scenario::new(&moto);
    wd.write("iam-policy.json", policy);
    let extra = format!(
        "  policy_name           = \"{policy_name}\"\n  instance_profile_name = \"{}\"\n  \
         policy_json           = file(\"${{path.module}}/iam-policy.json\")",
        profiles[0]
    );
    wd.write("main.tf", &identity_config(&moto, role, &cluster.instance_ids, &extra));
    wd.run_ok(&["import", "-no-color", IDENTITY, role]);
    let imported = wd.state_resource(IDENTITY);
    assert_eq!(imported["instance_profile_name"], profiles[0]);
    assert!(imported["owner_id"].is_null(), "hand-made objects carry no owner id: {imported}");

    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(2), "the plan after import moves the workers, without an error: {plan}");
    let text = squash(&plan.combined());
    assert!(text.contains("Nodes Move To This Resource's Instance Profile"), "{text}");
    for leftover in &profiles[1..] {
        assert!(
            text.contains(&format!("aws iam delete-instance-profile --instance-profile-name {leftover}")),
            "says how to delete {leftover}: {text}"
        );
    }
    assert!(text.contains("0 to add") && text.contains("0 to destroy"), "an in-place update: {text}");

    wd.apply();
    let mut expected: Vec<(String, String)> =
        cluster.instance_ids.iter().map(|id| (id.clone(), profiles[0].to_string())).collect();
    expected.sort();
    assert_eq!(associated_profiles(&moto), expected, "every node has the resource's profile");
    assert_eq!(wd.plan_detailed_exitcode(), 0, "the plan after apply is empty");

    // The user deletes one leftover profile as the warning says, and leaves the other.
    block_on(iam.remove_role_from_instance_profile().instance_profile_name(profiles[1]).role_name(role).send())
        .expect("RemoveRoleFromInstanceProfile");
    block_on(iam.delete_instance_profile().instance_profile_name(profiles[1]).send()).expect("DeleteInstanceProfile");
    wd.destroy();
    wd.finish();
    assert!(!role_exists(&moto, role), "destroy deleted the imported role");
    assert_eq!(profile_names(&moto), [profiles[2]], "the profile the user left is still there");
    let left = block_on(iam.get_instance_profile().instance_profile_name(profiles[2]).send()).expect("GetProfile");
    assert!(left.instance_profile.expect("profile").roles().is_empty(), "without the deleted role");
}

/// A state written before owner ids (no `owner_id` in the state, no owner tag on the objects) plans
/// no change, and its destroy still deletes what it holds.
#[test]
fn state_from_before_owner_ids_keeps_working() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &volume_config(&moto, &cluster, "legacy"));
    wd.apply();
    let state = wd.state_resource(VOLUME);
    let ids = [text(&state, "file_system_id"), text(&state, "access_point_id")];
    for id in &ids {
        block_on(moto.efs().untag_resource().resource_id(id).tag_keys(OWNER_TAG).send()).expect("UntagResource");
    }
    let group = text(&state, "security_group_id");
    let tag = aws_sdk_ec2::types::Tag::builder().key(OWNER_TAG).build();
    block_on(moto.ec2().delete_tags().resources(&group).tags(tag).send()).expect("DeleteTags");
    let path = wd.path().join("terraform.tfstate");
    let mut raw: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read state")).expect("json");
    for resource in raw["resources"].as_array_mut().expect("resources") {
        for instance in resource["instances"].as_array_mut().expect("instances") {
            instance["attributes"].as_object_mut().expect("attributes").remove("owner_id");
        }
    }
    std::fs::write(&path, raw.to_string()).expect("write state");

    assert_eq!(wd.plan_detailed_exitcode(), 0, "an old state plans no change");
    assert!(wd.state_resource(VOLUME)["owner_id"].is_null());
    wd.destroy();
    wd.finish();
    assert!(file_system_ids(&moto).is_empty(), "destroy deleted the old state's file system");
}
