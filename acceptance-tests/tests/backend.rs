//! Teams: the example module with its state in S3, on moto, used from two checkouts. While one
//! apply waits for approval it holds the lock; a concurrent apply is refused at once with the lock
//! error naming the holder, and changes nothing; the first apply then completes, and the second
//! checkout sees the whole state. Locked with a DynamoDB table (every CLI; Terraform 1.0.3's only
//! way), and with the backend's own lock file, `use_lockfile = true` (OpenTofu 1.10 and newer,
//! Terraform 1.10 and newer), which needs no table: what docs/guides/state-backend.md shows.

use acceptance_tests::cluster::Cluster;
use acceptance_tests::interactive::RunningTerraform;
use acceptance_tests::mirror::FilesystemMirror;
use acceptance_tests::remote_state::S3Backend;
use acceptance_tests::{
    block_on, http_request, provider_bin, provider_block, skip_unless_acceptance, Cli, Moto, Workdir, FAKE_ACCESS_KEY,
    REGION,
};

const BUCKET: &str = "acme-terraform-state";
const STATE_KEY: &str = "observability/prometheus-storage.tfstate";
const LOCK_TABLE: &str = "terraform-locks";

/// A checkout of the team's configuration: the module with the shared backend, initialised. The
/// backend needs `terraform init`, which installs the provider from a filesystem mirror (init does
/// not work with the harness's `dev_overrides`).
fn checkout(moto: &Moto, mirror: &FilesystemMirror, backend: &S3Backend, cluster: &Cluster) -> Workdir {
    checkout_with(Workdir::new(moto), moto, mirror, &backend.backend_block(), cluster)
}

fn checkout_with(mut wd: Workdir, moto: &Moto, mirror: &FilesystemMirror, backend: &str, cluster: &Cluster) -> Workdir {
    mirror.use_in(&mut wd);
    wd.write("backend.tf", backend);
    wd.write(
        "main.tf",
        &format!(
            r#"{provider}
{module}
output "volume_handle" {{ value = module.prometheus_storage.volume_handle }}
"#,
            provider = provider_block(moto),
            module = cluster.example_module_block("team-prometheus", ""),
        ),
    );
    let out = wd.run_ok(&["init", "-input=false", "-no-color"]);
    assert!(out.stdout.contains("Successfully configured the backend \"s3\""), "{out}");
    wd
}

/// What the team shares: a moto with a stand-in cluster, the state bucket and lock table, and a
/// mirror holding the provider under test.
fn team() -> (Moto, Cluster, S3Backend, FilesystemMirror) {
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 1);
    let backend = S3Backend::create(&moto, BUCKET, STATE_KEY, LOCK_TABLE);
    let mirror = FilesystemMirror::new();
    mirror.add_packed("0.1.0", &provider_bin());
    (moto, cluster, backend, mirror)
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Addresses of the resources in a state document.
fn state_resources(state: &serde_json::Value) -> Vec<String> {
    state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let module = r["module"].as_str().map(|m| format!("{m}.")).unwrap_or_default();
            let mode = if r["mode"] == "data" { "data." } else { "" };
            format!("{module}{mode}{}.{}", r["type"].as_str().unwrap(), r["name"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn s3_backend_lock_refuses_a_concurrent_apply_and_keeps_the_state() {
    skip_unless_acceptance!();
    let (moto, cluster, backend, mirror) = team();
    let alice = checkout(&moto, &mirror, &backend, &cluster);
    let bob = checkout(&moto, &mirror, &backend, &cluster);
    assert!(backend.state().is_none(), "init wrote a state");

    // Alice's apply plans, then waits at its approval prompt, holding the lock.
    let mut first = RunningTerraform::start(&alice, &["apply", "-no-color"]);
    first.wait_for_stdout("Enter a value:");
    let lock = backend.lock().expect("a waiting apply holds the lock");
    assert_eq!(lock["Operation"], "OperationTypeApply", "{lock}");
    assert_eq!(lock["Path"], format!("{BUCKET}/{STATE_KEY}"), "{lock}");

    // Bob's apply at the same time is refused at once, naming Alice's lock, and writes nothing.
    let refused = bob.run(&["apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=0s"]);
    assert_eq!(refused.code, Some(1), "{refused}");
    let text = squash(&refused.combined());
    for want in [
        "Error acquiring the state lock".to_string(),
        "ConditionalCheckFailedException".to_string(),
        format!("ID: {}", lock["ID"].as_str().unwrap()),
        format!("Path: {BUCKET}/{STATE_KEY}"),
        "Operation: OperationTypeApply".to_string(),
        format!("Who: {}", lock["Who"].as_str().unwrap()),
    ] {
        assert!(text.contains(&want), "refusal lacks {want:?}:\n{refused}");
    }
    assert!(!text.contains("Apply complete"), "{refused}");
    assert!(backend.state().is_none(), "the refused apply wrote a state");
    assert_eq!(backend.lock(), Some(lock.clone()), "the refused apply touched Alice's lock");
    let efs = moto.efs();
    assert!(block_on(efs.describe_file_systems().send()).unwrap().file_systems().is_empty());

    // Alice approves: her apply completes, writes the state to S3 and releases the lock.
    first.answer("yes");
    let applied = first.wait();
    assert!(applied.success(), "{applied}");
    assert!(applied.stdout.contains("Apply complete!"), "{applied}");
    assert!(backend.lock().is_none(), "the lock outlived the apply: {:?}", backend.lock_table_items());
    let state = backend.state().expect("the state is in S3");
    let resources = state_resources(&state);
    for address in [
        "module.prometheus_storage.efs_csi_node_identity.nodes",
        "module.prometheus_storage.efs_prometheus_volume.tsdb",
    ] {
        assert!(resources.iter().any(|r| r == address), "{address} not in {resources:?}");
    }
    assert!(!alice.path().join("terraform.tfstate").exists(), "state was written locally");
    let volume_handle = state["outputs"]["volume_handle"]["value"].as_str().expect("output in the state").to_string();

    // Bob, with no state of his own, now sees all of it: nothing to change, the same outputs.
    assert_eq!(bob.plan_detailed_exitcode(), 0, "the shared state lost something");
    assert_eq!(bob.output_json()["volume_handle"]["value"], volume_handle.as_str());

    // Bob destroys through the same state; the lock is taken and released again.
    bob.destroy();
    assert!(backend.lock().is_none());
    let state = backend.state().expect("the state stays in S3");
    assert!(state_resources(&state).is_empty(), "{state}");
    assert!(block_on(efs.describe_file_systems().send()).unwrap().file_systems().is_empty());
}

/// The s3 backend of OpenTofu 1.10+ (and Terraform 1.10+) locking with a lock file beside the state,
/// aimed at moto: the block docs/guides/state-backend.md shows, plus the endpoint settings.
fn lockfile_backend_block(moto: &Moto) -> String {
    let e = moto.endpoint();
    format!(
        r#"terraform {{
  backend "s3" {{
    bucket       = "{BUCKET}"
    key          = "{STATE_KEY}"
    region       = "{REGION}"
    encrypt      = true
    use_lockfile = true

    endpoints = {{
      s3  = "{e}"
      sts = "{e}"
      iam = "{e}"
    }}
    use_path_style              = true
    skip_credentials_validation = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
  }}
}}
"#
    )
}

/// GetObject on moto: (HTTP status, body).
fn get_object(moto: &Moto, key: &str) -> (u16, String) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={FAKE_ACCESS_KEY}/20240101/{REGION}/s3/aws4_request, SignedHeaders=host, Signature=0"
    );
    http_request(moto.port(), "GET", &format!("/{BUCKET}/{key}"), &[("Authorization", &auth)], b"").expect("GetObject")
}

#[test]
fn tofu_s3_backend_lock_file_refuses_a_concurrent_apply_without_a_lock_table() {
    skip_unless_acceptance!();
    // The table must stay empty: the lock is a file.
    let (moto, cluster, backend, mirror) = team();
    let block = lockfile_backend_block(&moto);
    let alice = checkout_with(Workdir::with_cli(&moto, Cli::OpenTofu), &moto, &mirror, &block, &cluster);
    let bob = checkout_with(Workdir::with_cli(&moto, Cli::OpenTofu), &moto, &mirror, &block, &cluster);
    let lock_key = format!("{STATE_KEY}.tflock");

    let mut first = RunningTerraform::start(&alice, &["apply", "-no-color"]);
    first.wait_for_stdout("Enter a value:");
    let (status, lock) = get_object(&moto, &lock_key);
    assert_eq!(status, 200, "a waiting apply holds no lock file {lock_key}: {lock}");
    let lock: serde_json::Value = serde_json::from_str(&lock).expect("the lock file is JSON");
    assert_eq!(lock["Operation"], "OperationTypeApply", "{lock}");

    let refused = bob.run(&["apply", "-auto-approve", "-input=false", "-no-color", "-lock-timeout=0s"]);
    assert_eq!(refused.code, Some(1), "{refused}");
    let text = squash(&refused.combined());
    for want in ["Error acquiring the state lock".to_string(), format!("ID: {}", lock["ID"].as_str().unwrap())] {
        assert!(text.contains(&want), "refusal lacks {want:?}:\n{refused}");
    }
    assert!(backend.state().is_none(), "the refused apply wrote a state");

    first.answer("yes");
    let applied = first.wait();
    assert!(applied.success(), "{applied}");
    assert_eq!(get_object(&moto, &lock_key).0, 404, "the lock file outlived the apply");
    let state = backend.state().expect("the state is in S3");
    assert!(state_resources(&state).iter().any(|r| r == "module.prometheus_storage.efs_prometheus_volume.tsdb"));
    assert!(backend.lock_table_items().is_empty(), "the lock file backend used the DynamoDB table");

    assert_eq!(bob.plan_detailed_exitcode(), 0, "the shared state lost something");
    bob.destroy();
    assert_eq!(get_object(&moto, &lock_key).0, 404);
    let efs = moto.efs();
    assert!(block_on(efs.describe_file_systems().send()).unwrap().file_systems().is_empty());
}
