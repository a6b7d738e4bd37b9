//! The cluster half of the example: `examples/prometheus-on-ec2/cluster` (the aws-efs-csi-driver,
//! the storage objects and Prometheus, through the hashicorp/helm 3.x and hashicorp/kubernetes
//! providers) and `examples/prometheus-on-ec2/full` (both halves in one apply).
//!
//! Those two providers cannot be installed here (the Go module proxy refuses their v3 versions,
//! see the module's README), so no CLI loads their schemas: what is proven without them is that the
//! CLI parses the whole flow and resolves its modules and pinned provider versions, and, with the
//! efs provider alone against moto, the part the typed Kubernetes resources are built from
//! (`cluster/objects`): every name and count is known at the first plan, while the ids are not,
//! and after apply it holds exactly what the rendered manifests say.

use std::fs;
use std::path::Path;

use acceptance_tests::cluster::Cluster;
use acceptance_tests::{provider_block, repo_root, skip_unless_acceptance, Moto, Scenario, Workdir};
use serde_json::{json, Value};

/// Copies `examples/prometheus-on-ec2` (with `cluster/` and `full/`) into the work directory, so
/// that `get` writes nothing into the checkout.
fn copy_example(wd: &Workdir) {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != ".terraform" {
                    copy(&entry.path(), &target);
                }
            } else {
                fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(&repo_root().join("examples/prometheus-on-ec2"), &wd.path().join("prometheus-on-ec2"));
}

#[test]
fn full_flow_parses_with_its_modules_and_pinned_providers() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    // Validates only, creates nothing: a plain Workdir.
    let wd = Workdir::new(&moto);
    copy_example(&wd);
    let chdir = "-chdir=prometheus-on-ec2/full";

    let get = wd.run_ok(&[chdir, "get", "-no-color"]);
    assert!(get.stdout.contains("prometheus_cluster in ../cluster"), "{get}");
    assert!(get.stdout.contains("prometheus_storage in .."), "{get}");

    let providers = wd.run_ok(&[chdir, "providers", "-no-color"]).stdout;
    let host = wd.cli().registry_host();
    let requirement = |source: &str, version: &str| format!("provider[{host}/{source}] {version}");
    // The root pins the exact versions the configuration is written for; the modules say which
    // major versions they work with (helm 3.x: `kubernetes = { ... }` in its provider block).
    for expected in [
        requirement("hashicorp/helm", "3.1.2"),
        requirement("hashicorp/kubernetes", "3.2.1"),
        requirement("hashicorp/helm", "~> 3.1"),
        requirement("hashicorp/kubernetes", "~> 3.2"),
        requirement("seedlabs/efs", "~> 0.1"),
        "module.prometheus_cluster".to_string(),
        "module.prometheus_storage".to_string(),
    ] {
        assert!(providers.contains(&expected), "{expected} missing from:\n{providers}");
    }

    // No kubernetes_manifest (it needs every manifest known at plan) and no deprecated unversioned
    // Kubernetes resources in the cluster module.
    let cluster = fs::read_to_string(wd.path().join("prometheus-on-ec2/cluster/main.tf")).unwrap();
    for resource in cluster.lines().filter_map(|l| l.strip_prefix("resource \"")) {
        let kind = resource.split('"').next().unwrap();
        assert!(kind == "helm_release" || kind.ends_with("_v1"), "{kind}: only helm_release and typed *_v1 resources");
    }
}

/// The storage module applied against moto with the cluster module's `objects` part reading it.
fn config(moto: &Moto, cluster: &Cluster, provisioning: &str) -> String {
    let objects = repo_root().join("examples/prometheus-on-ec2/cluster/objects");
    format!(
        r#"{provider}
{storage}
module "objects" {{
  source  = "{objects}"
  storage = module.prometheus_storage
}}

output "static" {{ value = module.objects.static }}
output "storage_class" {{ value = module.objects.storage_class }}
output "persistent_volume" {{ value = module.objects.persistent_volume }}
output "persistent_volume_claim" {{ value = module.objects.persistent_volume_claim }}
output "volume_handle" {{ value = module.prometheus_storage.volume_handle }}
output "file_system_id" {{ value = module.prometheus_storage.file_system_id }}
"#,
        provider = provider_block(moto),
        storage = cluster.example_module_block("objects", &format!("  provisioning = \"{provisioning}\"\n")),
        objects = objects.display(),
    )
}

/// The planned outputs: `(known values, which parts are unknown)` from `show -json` of a saved plan.
fn planned_outputs(wd: &Workdir) -> (Value, Value) {
    wd.run_ok(&["plan", "-input=false", "-no-color", "-out=tfplan"]);
    let plan: Value = serde_json::from_str(&wd.run_ok(&["show", "-json", "-no-color", "tfplan"]).stdout).unwrap();
    let changes = plan["output_changes"].as_object().expect("output_changes in the plan");
    let after: serde_json::Map<String, Value> = changes.iter().map(|(k, v)| (k.clone(), v["after"].clone())).collect();
    let unknown: serde_json::Map<String, Value> =
        changes.iter().map(|(k, v)| (k.clone(), v["after_unknown"].clone())).collect();
    (Value::Object(after), Value::Object(unknown))
}

/// Whether `after_unknown` marks the value at `path` unknown: itself, or a value holding it (the
/// CLIs differ in how finely they track unknown parts of an object).
fn is_unknown(after_unknown: &Value, path: &[&str]) -> bool {
    match (after_unknown, path.split_first()) {
        (Value::Bool(unknown), _) => *unknown,
        (Value::Object(parts), Some((first, rest))) => parts.get(*first).is_some_and(|p| is_unknown(p, rest)),
        _ => false,
    }
}

#[test]
fn objects_are_known_at_plan_where_counts_and_names_need_them() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 3, 2);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster, "static"));
    wd.run_ok(&["get", "-no-color"]);

    // The first plan: nothing exists, no id is known.
    let (after, unknown) = planned_outputs(&wd);
    assert_eq!(after["static"], true, "the counts depend on it: {after:#}");
    assert_eq!(unknown["static"], false);
    let claim = json!({
        "namespace": "monitoring",
        "name": "prometheus-server",
        "access_modes": ["ReadWriteOnce"],
        "requests": { "storage": "50Gi" },
        "storage_class_name": "efs-prometheus",
        "volume_name": "monitoring-prometheus-server",
    });
    assert_eq!(after["persistent_volume_claim"], claim);
    assert_eq!(unknown["persistent_volume_claim"], false, "{unknown:#}");
    assert_eq!(after["storage_class"]["name"], "efs-prometheus");
    assert_eq!(after["storage_class"]["provisioner"], "efs.csi.aws.com");
    // The volume is read from its manifest, which needs the file system and access point ids:
    // known after apply only (its name is the claim's volume_name, known above).
    assert!(is_unknown(&unknown["persistent_volume"], &["volume_handle"]), "{unknown:#}");

    wd.apply();
    let outputs = wd.output_json();
    let value = |name: &str| outputs[name]["value"].clone();
    assert_eq!(value("persistent_volume_claim"), claim);
    assert_eq!(
        value("persistent_volume"),
        json!({
            "name": "monitoring-prometheus-server",
            "capacity": { "storage": "50Gi" },
            "access_modes": ["ReadWriteOnce"],
            "volume_mode": "Filesystem",
            "reclaim_policy": "Retain",
            "driver": "efs.csi.aws.com",
            "volume_handle": value("volume_handle"),
        })
    );
    assert_eq!(
        value("storage_class"),
        json!({
            "name": "efs-prometheus",
            "provisioner": "efs.csi.aws.com",
            "reclaim_policy": "Retain",
            "volume_binding_mode": "Immediate",
            "parameters": null,
        })
    );

    // Dynamic provisioning: no volume, and the class provisions access points on this file system.
    wd.write("main.tf", &config(&moto, &cluster, "dynamic"));
    let (after, unknown) = planned_outputs(&wd);
    assert_eq!(after["static"], false);
    assert_eq!(unknown["static"], false);
    assert_eq!(after["persistent_volume"], Value::Null, "{after:#}");
    wd.apply();
    let outputs = wd.output_json();
    assert_eq!(outputs["persistent_volume_claim"]["value"]["volume_name"], Value::Null);
    let class = &outputs["storage_class"]["value"];
    assert_eq!(class["parameters"]["provisioningMode"], "efs-ap");
    assert_eq!(class["parameters"]["fileSystemId"], outputs["file_system_id"]["value"]);
    assert_eq!(class["name"], "efs-prometheus");
    assert_eq!(outputs["persistent_volume"]["value"], Value::Null);
}
