//! The least-privilege IAM policy of the quickstart (`examples/iam/operator-policy.json`, shown in
//! `docs/guides/quickstart.md`), tested against the calls the provider makes: the example module
//! applied, changed (tags added, changed and removed, one node more, dynamic provisioning, whose
//! driver policy differs), planned again and destroyed through the fault proxy,
//! which counts every AWS call by action. Every action called is allowed by the policy, together
//! with the permissions AWS checks alongside some calls (`iam:PassRole` when an instance profile is
//! associated, the tagging actions when an object is created with tags); and the policy allows
//! nothing beyond those.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use acceptance_tests::cluster::Cluster;
use acceptance_tests::example_module::{Bench, APPLY, DESTROY};
use acceptance_tests::{block_on, provider_block_with_endpoint, repo_root, skip_unless_acceptance, Workdir};
use serde_json::Value;

const POLICY: &str = "examples/iam/operator-policy.json";

/// The IAM action a call of the proxy's `service:Action` needs (EFS's IAM prefix is
/// `elasticfilesystem`); `None` for a call that needs no permission.
fn iam_action(call: &str) -> Option<String> {
    let (service, action) = call.split_once(':').expect("service:Action");
    match (service, action) {
        // "No permissions are required to perform this operation" (STS API reference).
        ("sts", "GetCallerIdentity") => None,
        ("efs", action) => Some(format!("elasticfilesystem:{action}")),
        (service, action) => Some(format!("{service}:{action}")),
    }
}

/// The permissions AWS authorizes in addition to an action, as the provider calls it: the role is
/// passed to EC2 with the instance profile, and every object is created with its tags.
fn also_authorized(action: &str) -> &'static [&'static str] {
    match action {
        "ec2:AssociateIamInstanceProfile" | "ec2:ReplaceIamInstanceProfileAssociation" => &["iam:PassRole"],
        "ec2:CreateSecurityGroup" => &["ec2:CreateTags"],
        "elasticfilesystem:CreateFileSystem" | "elasticfilesystem:CreateAccessPoint" => {
            &["elasticfilesystem:TagResource"]
        }
        "iam:CreateRole" => &["iam:TagRole"],
        "iam:CreatePolicy" => &["iam:TagPolicy"],
        "iam:CreateInstanceProfile" => &["iam:TagInstanceProfile"],
        _ => &[],
    }
}

/// The actions the policy allows, and whether it has statements that are not a plain
/// `Allow` of named actions.
fn allowed_actions(policy: &Value) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        for action in statement["Action"].as_array().expect("Action list") {
            let action = action.as_str().unwrap();
            assert!(!action.contains('*'), "a wildcard is not least privilege: {action}");
            assert!(allowed.insert(action.to_string()), "{action} is listed twice");
        }
    }
    allowed
}

fn write_config(wd: &Workdir, endpoint: &str, cluster: &Cluster, extra: &str) {
    let module = cluster.example_module_block("operator-policy", extra);
    wd.write("main.tf", &format!("{}\n{module}", provider_block_with_endpoint(endpoint)));
}

#[test]
fn operator_policy_allows_exactly_what_the_provider_calls() {
    skip_unless_acceptance!();
    let bench = Bench::start();
    let (mut cluster, mut wd) = bench.fresh("operator-policy");
    let endpoint = bench.proxy.endpoint();
    bench.proxy.reset_counts();

    // The whole life of the module: create, change what can change in place, refresh, destroy.
    write_config(&wd, &endpoint, &cluster, "  tags = { env = \"acc\", owner = \"sre\" }\n");
    wd.run_ok(APPLY);
    for node in cluster.add_instances(&bench.moto, 1) {
        // The new node, its tags and its network interface are the test's own.
        wd.made_by_test("tags", &node);
        let interfaces = block_on(
            bench
                .moto
                .ec2()
                .describe_network_interfaces()
                .filters(aws_sdk_ec2::types::Filter::builder().name("attachment.instance-id").values(&node).build())
                .send(),
        )
        .expect("DescribeNetworkInterfaces");
        for interface in interfaces.network_interfaces() {
            wd.made_by_test("network_interfaces", interface.network_interface_id().unwrap_or_default());
        }
    }
    let changed = "  tags         = { env = \"prod\", team = \"observability\" }\n  provisioning = \"dynamic\"\n";
    write_config(&wd, &endpoint, &cluster, changed);
    wd.run_ok(APPLY);
    assert_eq!(wd.plan_detailed_exitcode(), 0, "the changed module did not converge");
    wd.run_ok(DESTROY);

    let calls: BTreeMap<String, u32> = bench.proxy.calls();
    let mut needed = BTreeSet::new();
    for call in calls.keys() {
        if let Some(action) = iam_action(call) {
            needed.extend(also_authorized(&action).iter().map(|a| a.to_string()));
            needed.insert(action);
        }
    }
    let policy: Value = serde_json::from_str(&fs::read_to_string(repo_root().join(POLICY)).unwrap()).unwrap();
    let allowed = allowed_actions(&policy);
    let missing: Vec<&String> = needed.difference(&allowed).collect();
    let unused: Vec<&String> = allowed.difference(&needed).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "{POLICY} does not match the calls made (calls: {calls:#?}):\nmissing: {missing:#?}\nnever needed: {unused:#?}"
    );

    // The quickstart shows the policy as it is.
    let guide = fs::read_to_string(repo_root().join("docs/guides/quickstart.md")).unwrap();
    let policy_text = fs::read_to_string(repo_root().join(POLICY)).unwrap();
    assert!(guide.contains(policy_text.trim()), "docs/guides/quickstart.md does not show {POLICY} as it is");
}
