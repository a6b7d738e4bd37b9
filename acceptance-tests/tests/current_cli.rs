//! What current CLIs add and this provider's users rely on, under OpenTofu: `import` blocks (by id
//! and by resource identity) with generated configuration, `removed` blocks that forget a volume
//! without deleting it, and `moved` blocks between module addresses.
//!
//! Terraform 1.0.3 has none of these, so every test here pins OpenTofu ([`Scenario::with_cli`]) and
//! is named `tofu_*`; the Terraform pass of the test command skips that prefix. Each runs in a
//! [`Scenario`], which ends with `destroy` and a check that nothing is left in moto.

use std::fs;

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::{block_on, provider_block, skip_unless_acceptance, squash, Cli, Moto, Scenario, Workdir};
use serde_json::Value;

const VOLUME: &str = "efs_prometheus_volume.tsdb";
const NODES: &str = "efs_csi_node_identity.nodes";

fn volume_block(cluster: &Cluster) -> String {
    format!(
        "resource \"efs_prometheus_volume\" \"tsdb\" {{\n  name                       = \"prom\"\n  subnet_ids                 = {}\n  allowed_security_group_ids = [\"{}\"]\n}}\n",
        hcl_list(&cluster.subnet_ids),
        cluster.node_security_group_id
    )
}

fn nodes_block(cluster: &Cluster) -> String {
    format!(
        "resource \"efs_csi_node_identity\" \"nodes\" {{\n  name         = \"efs-csi-nodes\"\n  instance_ids = {}\n}}\n",
        hcl_list(&cluster.instance_ids)
    )
}

fn tofu_scenario(moto: &Moto) -> Scenario<'_> {
    Scenario::with_cli(moto, Cli::OpenTofu)
}

fn file_system_ids(moto: &Moto) -> Vec<String> {
    let out = block_on(moto.efs().describe_file_systems().send()).expect("DescribeFileSystems");
    out.file_systems().iter().map(|f| f.file_system_id().to_string()).collect()
}

/// The state's attributes that import reads (the `timeouts` block is configuration only).
fn comparable(mut state: Value) -> Value {
    state.as_object_mut().expect("state object").remove("timeouts");
    state
}

fn assert_empty_plan(wd: &Workdir, when: &str) {
    let out = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(0), "{when}: expected an empty plan: {out}");
}

/// Applies both resources in one directory, then forgets them there (`state rm`), so another
/// directory can import them as a team adopting existing objects would.
///
/// A plain [`Workdir`], not a [`Scenario`]: it hands what it made over to the test's scenario,
/// which imports and destroys it, so it must not destroy it or count it as left behind itself.
fn made_elsewhere(moto: &Moto, cluster: &Cluster) -> (Value, Value) {
    let origin = Workdir::with_cli(moto, Cli::OpenTofu);
    origin.write("main.tf", &format!("{}\n{}\n{}", provider_block(moto), volume_block(cluster), nodes_block(cluster)));
    origin.apply();
    let volume = origin.state_resource(VOLUME);
    let nodes = origin.state_resource(NODES);
    origin.run_ok(&["state", "rm", "-no-color", VOLUME, NODES]);
    (volume, nodes)
}

#[test]
fn tofu_import_blocks_generate_configuration_that_plans_empty() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 1);
    let wd = tofu_scenario(&moto);
    let (volume, nodes) = made_elsewhere(&moto, &cluster);
    let fs_id = volume["file_system_id"].as_str().expect("file system id").to_string();

    wd.write(
        "main.tf",
        &format!(
            "{}\nimport {{\n  to = {VOLUME}\n  id = \"{fs_id}\"\n}}\n\nimport {{\n  to = {NODES}\n  id = \"efs-csi-nodes\"\n}}\n",
            provider_block(&moto)
        ),
    );
    let out = wd.run_ok(&["plan", "-input=false", "-no-color", "-generate-config-out=generated.tf"]);
    let text = squash(&out.combined());
    assert!(text.contains("Plan: 2 to import, 0 to add, 0 to change, 0 to destroy."), "{out}");
    let generated = fs::read_to_string(wd.path().join("generated.tf")).expect("generated.tf written");
    assert!(generated.contains("resource \"efs_prometheus_volume\" \"tsdb\""), "{generated}");
    assert!(generated.contains("resource \"efs_csi_node_identity\" \"nodes\""), "{generated}");

    wd.apply();
    assert_eq!(comparable(wd.state_resource(VOLUME)), comparable(volume), "imported volume = applied volume");
    assert_eq!(comparable(wd.state_resource(NODES)), comparable(nodes), "imported identity = applied identity");
    assert_empty_plan(&wd, "after importing with the generated configuration");
}

#[test]
fn tofu_import_by_resource_identity() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 1);
    let wd = tofu_scenario(&moto);
    let (volume, nodes) = made_elsewhere(&moto, &cluster);
    let fs_id = volume["file_system_id"].as_str().expect("file system id").to_string();

    wd.write(
        "main.tf",
        &format!(
            "{}\n{}\n{}\nimport {{\n  to       = {VOLUME}\n  identity = {{ file_system_id = \"{fs_id}\" }}\n}}\n\nimport {{\n  to       = {NODES}\n  identity = {{ role_name = \"efs-csi-nodes\" }}\n}}\n",
            provider_block(&moto),
            volume_block(&cluster),
            nodes_block(&cluster)
        ),
    );
    let out = wd.run_ok(&["plan", "-input=false", "-no-color"]);
    let text = squash(&out.combined());
    assert!(text.contains("Plan: 2 to import, 0 to add, 0 to change, 0 to destroy."), "{out}");
    assert!(
        text.contains(&format!("imported using resource identity: {{ # \"file_system_id\": \"{fs_id}\" # }}")),
        "{out}"
    );
    assert!(text.contains("imported using resource identity: { # \"role_name\": \"efs-csi-nodes\" # }"), "{out}");
    wd.apply();
    assert_eq!(comparable(wd.state_resource(VOLUME)), comparable(volume));
    assert_eq!(comparable(wd.state_resource(NODES)), comparable(nodes));

    // The identity is stored with the state, and every refresh returns it (OpenTofu drops an
    // identity a read leaves out).
    wd.run_ok(&["apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"]);
    let state: Value =
        serde_json::from_str(&fs::read_to_string(wd.path().join("terraform.tfstate")).expect("local state"))
            .expect("state JSON");
    let identities: Vec<(String, Value)> = state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["type"].as_str().unwrap_or_default().to_string(), r["instances"][0]["identity"].clone()))
        .collect();
    assert!(
        identities.contains(&("efs_prometheus_volume".into(), serde_json::json!({ "file_system_id": fs_id }))),
        "{identities:?}"
    );
    assert!(
        identities.contains(&("efs_csi_node_identity".into(), serde_json::json!({ "role_name": "efs-csi-nodes" }))),
        "{identities:?}"
    );
    assert_empty_plan(&wd, "after import by identity");

    // An identity that names nothing fails the import with the resource's own message.
    let other = tofu_scenario(&moto);
    other.write(
        "main.tf",
        &format!(
            "{}\n{}\nimport {{\n  to       = {VOLUME}\n  identity = {{ file_system_id = \"not-a-file-system\" }}\n}}\n",
            provider_block(&moto),
            volume_block(&cluster)
        ),
    );
    let out = other.run(&["plan", "-input=false", "-no-color"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(squash(&out.combined()).contains("Invalid Import ID"), "{out}");
}

#[test]
fn tofu_removed_block_forgets_the_volume_and_keeps_its_data() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 0);
    let wd = tofu_scenario(&moto);
    wd.write("main.tf", &format!("{}\n{}", provider_block(&moto), volume_block(&cluster)));
    wd.apply();
    let fs_id = wd.state_resource(VOLUME)["file_system_id"].as_str().expect("file system id").to_string();

    wd.write(
        "main.tf",
        &format!(
            "{}\nremoved {{\n  from = {VOLUME}\n\n  lifecycle {{\n    destroy = false\n  }}\n}}\n",
            provider_block(&moto)
        ),
    );
    let out = wd.run_ok(&["plan", "-input=false", "-no-color"]);
    let text = squash(&out.combined());
    assert!(text.contains("will be removed from the OpenTofu state but will not be destroyed"), "{out}");
    assert!(text.contains("0 to destroy, 1 to forget"), "{out}");
    wd.apply();
    let state = wd.show_json();
    assert!(state["values"]["root_module"]["resources"].as_array().is_none_or(|r| r.is_empty()), "{state}");
    assert_eq!(file_system_ids(&moto), vec![fs_id.clone()], "the file system and its data stay");
    let access_points = block_on(moto.efs().describe_access_points().file_system_id(&fs_id).send()).unwrap();
    assert_eq!(access_points.access_points().len(), 1, "its access point stays too");

    // A later import takes it back, and destroy then deletes it.
    wd.write(
        "main.tf",
        &format!(
            "{}\n{}\nimport {{\n  to = {VOLUME}\n  id = \"{fs_id}\"\n}}\n",
            provider_block(&moto),
            volume_block(&cluster)
        ),
    );
    wd.apply();
    assert_empty_plan(&wd, "after taking the forgotten volume back");
}

#[test]
fn tofu_moved_into_a_module_keeps_the_objects() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 1);
    let wd = tofu_scenario(&moto);
    wd.write("main.tf", &format!("{}\n{}\n{}", provider_block(&moto), volume_block(&cluster), nodes_block(&cluster)));
    wd.apply();
    let volume = wd.state_resource(VOLUME);
    let nodes = wd.state_resource(NODES);

    // The same resources, now inside a child module; `moved` blocks say where they went.
    fs::create_dir(wd.path().join("storage")).expect("create module dir");
    wd.write(
        "storage/main.tf",
        &format!(
            "terraform {{\n  required_providers {{\n    efs = {{ source = \"seedlabs/efs\" }}\n  }}\n}}\n\n{}\n{}",
            volume_block(&cluster),
            nodes_block(&cluster)
        ),
    );
    let provider = provider_block(&moto);
    wd.write(
        "main.tf",
        &format!(
            "{provider}\nmodule \"storage\" {{\n  source = \"./storage\"\n}}\n\nmoved {{\n  from = {VOLUME}\n  to   = module.storage.{VOLUME}\n}}\n\nmoved {{\n  from = {NODES}\n  to   = module.storage.{NODES}\n}}\n"
        ),
    );
    wd.run_ok(&["get", "-no-color"]);
    let out = wd.run_ok(&["plan", "-input=false", "-no-color"]);
    let text = squash(&out.combined());
    assert!(text.contains(&format!("# {VOLUME} has moved to module.storage.{VOLUME}")), "{out}");
    assert!(text.contains(&format!("# {NODES} has moved to module.storage.{NODES}")), "{out}");
    assert!(text.contains("Plan: 0 to add, 0 to change, 0 to destroy."), "a move replaces nothing: {out}");
    wd.apply();
    assert_eq!(wd.state_resource(&format!("module.storage.{VOLUME}")), volume);
    assert_eq!(wd.state_resource(&format!("module.storage.{NODES}")), nodes);
    assert_empty_plan(&wd, "after the move");
}
