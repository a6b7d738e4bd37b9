//! Security properties, each checked with the real Terraform CLI against moto, and on moto's side
//! where AWS holds the result:
//!
//! * `TF_LOG=trace` output (Terraform's and the provider's) of a full apply and destroy holds no
//!   access key, secret key or session token;
//! * every attribute that carries a credential is marked sensitive in the served schema;
//! * the nodes' IAM policy grants the aws-efs-csi-driver's actions under the driver's conditions and
//!   nothing more, and the role trusts only EC2;
//! * `efs_prometheus_volume` defaults to encryption at rest, a file system policy denying access
//!   without TLS, and a security group that admits tcp 2049 from the named sources only.
//!
//! That the gRPC server refuses a client without the certificate Terraform handed over (AutoMTLS)
//! is proven at the protocol level, by `clients_without_the_launch_certificate_are_refused` in
//! `provider/tests/conformance.rs`.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::example_module;
use acceptance_tests::{
    assert_not_leaked, block_on, provider_block, provider_source, skip_unless_acceptance, venv, Moto, Scenario,
    FAKE_ACCESS_KEY, FAKE_SECRET_KEY,
};
use serde_json::{json, Value};

/// Credentials of the provider block in the log test: distinctive, so any leak is found by search.
const ACCESS_KEY: &str = "AKIAPROBE7Q4ZX0LEAKS";
const SECRET_KEY: &str = "probe-secret-0b9e71d4-must-never-be-logged";
const SESSION_TOKEN: &str = "probe-session-token-6c2a58f3-must-never-be-logged";

/// The tag the driver puts on the access points it provisions, which the policy's conditions test.
const CLUSTER_TAG: &str = "efs.csi.aws.com/cluster";
/// AWS's managed policy for the driver, as moto ships it.
const MANAGED_DRIVER_POLICY: &str = "AmazonEFSCSIDriverPolicy";

/// [`provider_block`] with [`ACCESS_KEY`], [`SECRET_KEY`] and [`SESSION_TOKEN`] as its credentials.
fn provider_block_with_probe_credentials(moto: &Moto) -> String {
    let secret_line = format!("  secret_key = \"{SECRET_KEY}\"\n");
    let block = provider_block(moto)
        .replace(FAKE_ACCESS_KEY, ACCESS_KEY)
        .replace(&format!("  secret_key = \"{FAKE_SECRET_KEY}\"\n"), &secret_line)
        .replace(&secret_line, &format!("{secret_line}  token      = \"{SESSION_TOKEN}\"\n"));
    for value in [ACCESS_KEY, SECRET_KEY, SESSION_TOKEN] {
        assert!(block.contains(value), "{value} not in the provider block:\n{block}");
    }
    block
}

/// Panics, quoting the line, if any probe credential occurs in `text`.
fn assert_no_credentials(what: &str, text: &str) {
    assert_not_leaked(&[ACCESS_KEY, SECRET_KEY, SESSION_TOKEN], what, text);
}

#[test]
fn trace_logs_of_a_full_apply_and_destroy_hold_no_credentials() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 1);
    let mut wd = Scenario::new(&moto);
    let provider = provider_block_with_probe_credentials(&moto);
    wd.write("main.tf", &example_module::config(&provider, "sec-prometheus", &cluster));
    wd.run_ok(&["get", "-no-color"]);
    wd.env("TF_LOG", "trace");

    let apply = wd.apply();
    // The log is the full trace of both programs, and the apply made everything.
    assert!(apply.stderr.contains("[TRACE]"), "no Terraform trace lines: {apply}");
    for provider_line in ["provider.terraform-provider-efs: configured AWS clients", "validated AWS credentials"] {
        assert!(apply.stderr.contains(provider_line), "no provider line {provider_line:?} in the trace log");
    }
    assert_eq!(wd.output_json()["ready"]["value"], true);
    let state = fs::read_to_string(wd.path().join("terraform.tfstate")).expect("read the state");
    let destroy = wd.destroy();

    assert_no_credentials("apply output", &apply.stdout);
    assert_no_credentials("apply trace log", &apply.stderr);
    assert_no_credentials("state", &state);
    assert_no_credentials("destroy output", &destroy.stdout);
    assert_no_credentials("destroy trace log", &destroy.stderr);
}

/// Every attribute of a schema block, nested blocks and nested attributes included, as
/// (dotted path, sensitive).
fn attributes(block: &Value, prefix: &str, out: &mut Vec<(String, bool)>) {
    for (name, attribute) in block["attributes"].as_object().into_iter().flatten() {
        let path = format!("{prefix}.{name}");
        out.push((path.clone(), attribute["sensitive"] == true));
        if attribute["nested_type"].is_object() {
            attributes(&attribute["nested_type"], &path, out);
        }
    }
    for (name, nested) in block["block_types"].as_object().into_iter().flatten() {
        attributes(&nested["block"], &format!("{prefix}.{name}"), out);
    }
}

#[test]
fn every_credential_attribute_is_sensitive_in_the_schema() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &provider_block(&moto));
    let out = wd.run_ok(&["providers", "schema", "-json"]);
    let schemas: Value = serde_json::from_str(&out.stdout).expect("schema JSON");
    let provider = &schemas["provider_schemas"][provider_source().as_str()];

    let mut all = Vec::new();
    attributes(&provider["provider"]["block"], "provider", &mut all);
    for kind in ["resource_schemas", "data_source_schemas"] {
        for (type_name, schema) in provider[kind].as_object().expect(kind) {
            attributes(&schema["block"], type_name, &mut all);
        }
    }
    assert!(all.len() > 50, "the walk found too few attributes: {all:?}");

    let sensitive: BTreeSet<&str> = all.iter().filter(|(_, s)| *s).map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        sensitive,
        BTreeSet::from(["provider.access_key", "provider.secret_key", "provider.token"]),
        "exactly the provider block's credentials are sensitive"
    );
    // Whatever is named like a secret anywhere in the schema is among them (`shared_credentials_files`
    // names files, not credentials).
    let secret_like = |name: &str| {
        ["secret", "password", "private_key"].iter().any(|word| name.contains(word))
            || ["token", "access_key"].iter().any(|word| name.ends_with(word))
    };
    for (path, is_sensitive) in &all {
        let name = path.rsplit('.').next().unwrap_or_default();
        if secret_like(name) {
            assert!(is_sensitive, "{path} looks like a credential but is not sensitive");
        }
    }
}

/// A policy document's grants, one per action: (action, Resource, Condition), sorted. Panics on
/// anything but plain `Allow` statements with listed actions.
fn grants(document: &Value) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for statement in document["Statement"].as_array().expect("Statement is a list") {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        for key in ["NotAction", "NotResource", "NotPrincipal"] {
            assert!(statement.get(key).is_none(), "{key} widens what is allowed: {statement}");
        }
        let actions = match &statement["Action"] {
            Value::String(action) => vec![action.clone()],
            Value::Array(list) => list.iter().map(|a| a.as_str().expect("action").to_string()).collect(),
            other => panic!("unexpected Action {other}"),
        };
        for action in actions {
            assert!(!action.contains('*') && !action.contains('?'), "wildcard action {action}");
            let condition = statement.get("Condition").cloned().unwrap_or_else(|| json!({}));
            out.push((action, statement["Resource"].clone(), condition));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The condition keys of a statement's `Condition`, whatever the operator.
fn condition_keys(condition: &Value) -> BTreeSet<String> {
    condition
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, keys)| keys.as_object().unwrap().keys().cloned())
        .collect()
}

/// The default version of AWS's managed policy `name`, from the copy moto ships (moto's server does
/// not load it unless started with MOTO_IAM_LOAD_MANAGED_POLICIES).
fn managed_policy_document(name: &str) -> Value {
    let script = format!(
        "import json; from moto.iam.aws_managed_policies import aws_managed_policies_data as d; \
         print(json.dumps(json.loads(d)[{name:?}]['Document']))"
    );
    let out = Command::new(venv().join("bin/python")).args(["-c", &script]).output().expect("run python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("managed policy JSON")
}

/// IAM returns policy documents URL-encoded (moto: trust policies only); both forms are accepted.
fn policy_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let decoded = percent_encoding::percent_decode_str(text).decode_utf8().expect("UTF-8 policy");
        serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("policy is not JSON ({e}): {decoded}"))
    })
}

#[test]
fn node_policy_grants_only_what_the_csi_driver_needs() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 1);
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &format!(
            "{}\nresource \"efs_csi_node_identity\" \"nodes\" {{\n  name         = \"sec-nodes\"\n  instance_ids = {}\n}}\n\n\
             data \"efs_csi_driver_iam_policy\" \"driver\" {{}}\n\n\
             output \"policy\" {{ value = data.efs_csi_driver_iam_policy.driver.json }}\n",
            provider_block(&moto),
            cluster.instance_ids_hcl()
        ),
    );
    wd.apply();
    let state = wd.state_resource("efs_csi_node_identity.nodes");
    let role = state["role_name"].as_str().expect("role_name");
    let policy_arn = state["policy_arn"].as_str().expect("policy_arn");

    // On moto's side: the role has this one policy and no other, attached or inline.
    let iam = moto.iam();
    let attached =
        block_on(iam.list_attached_role_policies().role_name(role).send()).expect("ListAttachedRolePolicies");
    let attached: Vec<&str> = attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
    assert_eq!(attached, [policy_arn]);
    let inline = block_on(iam.list_role_policies().role_name(role).send()).expect("ListRolePolicies");
    assert!(inline.policy_names().is_empty(), "{:?}", inline.policy_names());
    let policy = block_on(iam.get_policy().policy_arn(policy_arn).send()).expect("GetPolicy");
    let version = policy.policy().and_then(|p| p.default_version_id()).expect("default version");
    let version =
        block_on(iam.get_policy_version().policy_arn(policy_arn).version_id(version).send()).expect("GetPolicyVersion");
    let in_iam = policy_json(version.policy_version().and_then(|v| v.document()).expect("document"));
    let data_source = policy_json(wd.output_json()["policy"]["value"].as_str().expect("policy output"));
    let ours = grants(&in_iam);
    assert_eq!(ours, grants(&data_source), "the role's policy is the data source's default document");

    // The same actions as AWS's managed policy for the driver, and each of its conditions is one of
    // ours too. Its `aws:TagKeys` rule (no tag but the cluster tag) is the one left out: the
    // driver's own example policy does not have it, and the driver adds the tags set with its
    // `--tags` option to the access points it creates.
    let reference = grants(&managed_policy_document(MANAGED_DRIVER_POLICY));
    let actions = |g: &[(String, Value, Value)]| g.iter().map(|(a, _, _)| a.clone()).collect::<BTreeSet<_>>();
    assert_eq!(actions(&ours), actions(&reference), "not the driver's actions: {in_iam:#}");
    for (action, _, condition) in &reference {
        let required: BTreeSet<String> = condition_keys(condition).into_iter().filter(|k| k != "aws:TagKeys").collect();
        let (_, _, mine) = ours.iter().find(|(a, _, _)| a == action).unwrap();
        assert!(
            condition_keys(mine).is_superset(&required),
            "{action}: AWS's policy conditions it on {required:?}, ours on {mine}"
        );
    }

    // And exactly these conditions: access points the driver creates carry the cluster tag,
    // tagging happens only while creating one, and only tagged ones may be deleted.
    let request_tag = format!("aws:RequestTag/{CLUSTER_TAG}");
    let resource_tag = format!("aws:ResourceTag/{CLUSTER_TAG}");
    let expected = [
        ("ec2:DescribeAvailabilityZones", json!({})),
        ("elasticfilesystem:CreateAccessPoint", json!({ "StringLike": { &request_tag: "true" } })),
        ("elasticfilesystem:DeleteAccessPoint", json!({ "StringEquals": { &resource_tag: "true" } })),
        ("elasticfilesystem:DescribeAccessPoints", json!({})),
        ("elasticfilesystem:DescribeFileSystems", json!({})),
        ("elasticfilesystem:DescribeMountTargets", json!({})),
        (
            "elasticfilesystem:TagResource",
            json!({
                "StringEquals": { "elasticfilesystem:CreateAction": "CreateAccessPoint" },
                "StringLike": { &request_tag: "true" },
            }),
        ),
    ];
    let conditions: Vec<(&str, &Value)> = ours.iter().map(|(a, _, c)| (a.as_str(), c)).collect();
    assert_eq!(conditions, expected.iter().map(|(a, c)| (*a, c)).collect::<Vec<_>>(), "{in_iam:#}");
    assert!(ours.iter().all(|(_, resource, _)| resource == "*"), "{in_iam:#}");

    // The role trusts EC2 and nothing else, and its instance profile holds only it.
    let found = block_on(iam.get_role().role_name(role).send()).expect("GetRole");
    let trust = policy_json(found.role().and_then(|r| r.assume_role_policy_document()).expect("trust policy"));
    let statements = trust["Statement"].as_array().expect("trust statements");
    assert_eq!(statements.len(), 1, "{trust}");
    assert_eq!(statements[0]["Effect"], "Allow", "{trust}");
    assert_eq!(statements[0]["Principal"], json!({ "Service": "ec2.amazonaws.com" }), "{trust}");
    assert_eq!(statements[0]["Action"], "sts:AssumeRole", "{trust}");
    assert!(statements[0].get("Condition").is_none(), "{trust}");
    let profiles = block_on(iam.list_instance_profiles_for_role().role_name(role).send()).expect("profiles");
    for profile in profiles.instance_profiles() {
        let roles: Vec<&str> = profile.roles().iter().map(|r| r.role_name()).collect();
        assert_eq!(roles, [role], "{profile:?}");
    }
}

#[test]
fn volume_defaults_encrypt_enforce_tls_and_admit_nfs_only_from_named_sources() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 2, 0);
    let cidr = "10.20.1.0/24";
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &format!(
            "{}\nresource \"efs_prometheus_volume\" \"this\" {{\n  name                       = \"sec-prom\"\n  \
             subnet_ids                 = {}\n  allowed_security_group_ids = [\"{}\"]\n  \
             allowed_cidr_blocks        = [\"{cidr}\"]\n}}\n",
            provider_block(&moto),
            hcl_list(&cluster.subnet_ids),
            cluster.node_security_group_id
        ),
    );
    wd.apply();
    let state = wd.state_resource("efs_prometheus_volume.this");
    let fs_id = state["file_system_id"].as_str().expect("file_system_id");
    let fs_arn = state["file_system_arn"].as_str().expect("file_system_arn");
    let group_id = state["security_group_id"].as_str().expect("security_group_id");
    let efs = moto.efs();

    // Encrypted at rest.
    let found = block_on(efs.describe_file_systems().file_system_id(fs_id).send()).expect("DescribeFileSystems");
    assert_eq!(found.file_systems()[0].encrypted(), Some(true), "{found:?}");

    // The file system policy denies everything without TLS, and allows clients no root access.
    let policy = block_on(efs.describe_file_system_policy().file_system_id(fs_id).send()).expect("policy");
    let policy = policy_json(policy.policy().expect("a file system policy"));
    let statements = policy["Statement"].as_array().expect("statements");
    let deny = statements.iter().find(|s| s["Effect"] == "Deny").unwrap_or_else(|| panic!("no Deny: {policy:#}"));
    assert_eq!(deny["Condition"], json!({ "Bool": { "aws:SecureTransport": "false" } }), "{policy:#}");
    assert_eq!(deny["Action"], "*", "{policy:#}");
    assert_eq!(deny["Principal"], json!({ "AWS": "*" }), "{policy:#}");
    assert_eq!(deny["Resource"], fs_arn, "{policy:#}");
    for allow in statements.iter().filter(|s| s["Effect"] == "Allow") {
        let text = allow["Action"].to_string();
        assert!(!text.contains("ClientRootAccess") && !text.contains('*'), "{allow}");
    }

    // The security group admits tcp 2049 from the node group and the CIDR block, nothing else,
    // and is the only group of every mount target.
    let groups =
        block_on(moto.ec2().describe_security_groups().group_ids(group_id).send()).expect("DescribeSecurityGroups");
    let group = &groups.security_groups()[0];
    assert_eq!(group.vpc_id(), Some(cluster.vpc_id.as_str()));
    let rules: Vec<_> = group
        .ip_permissions()
        .iter()
        .map(|p| {
            (
                p.ip_protocol().unwrap_or_default().to_string(),
                p.from_port(),
                p.to_port(),
                p.user_id_group_pairs().iter().filter_map(|g| g.group_id()).collect::<Vec<_>>(),
                p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect::<Vec<_>>(),
                p.ipv6_ranges().len() + p.prefix_list_ids().len(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [("tcp".to_string(), Some(2049), Some(2049), vec![cluster.node_security_group_id.as_str()], vec![cidr], 0)],
        "{group:?}"
    );
    let targets = block_on(efs.describe_mount_targets().file_system_id(fs_id).send()).expect("DescribeMountTargets");
    assert_eq!(targets.mount_targets().len(), 2);
    for target in targets.mount_targets() {
        let id = target.mount_target_id();
        let groups = block_on(efs.describe_mount_target_security_groups().mount_target_id(id).send())
            .expect("DescribeMountTargetSecurityGroups");
        assert_eq!(groups.security_groups(), [group_id], "{id}");
    }
}
