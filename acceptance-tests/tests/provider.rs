//! Acceptance tests of the provider as a whole, with the real Terraform CLI against moto: the
//! `provider "efs"` block (credentials, endpoints, validation with attribute paths, the
//! credentials check), the provider's own logs under `TF_LOG`, and installation the way users
//! get it, from a filesystem mirror with the hashes pinned in `.terraform.lock.hcl`.
//!
//! Run with `TF_ACC=1` after `scripts/setup.sh` and `cargo build -p terraform-provider-efs`.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use acceptance_tests::mirror::{read_lock_file, sha256_hex, zip_h1_hash, FilesystemMirror};
use acceptance_tests::{
    assert_not_leaked, block_on, closed_port, provider_bin, provider_source, skip_unless_acceptance, squash, Moto,
    Scenario, REGION,
};
use serde_json::{json, Value};

/// Credentials written in the provider block; moto accepts any key while its auth is off.
const BLOCK_ACCESS_KEY: &str = "AKIAPROVIDERBLOCK001";
/// Secret and session token of the provider block: must never show up in any output or log.
const BLOCK_SECRET_KEY: &str = "block-secret-7f3a9c-must-not-be-logged";
const BLOCK_SESSION_TOKEN: &str = "block-session-token-51d2e8-must-not-be-logged";

const FS_ARN: &str = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0";
/// The account moto reports for every caller.
const MOTO_ACCOUNT: &str = "123456789012";

/// `actions` of the default policy (dynamic provisioning, every file system).
const DEFAULT_ACTIONS: [&str; 7] = [
    "ec2:DescribeAvailabilityZones",
    "elasticfilesystem:CreateAccessPoint",
    "elasticfilesystem:DeleteAccessPoint",
    "elasticfilesystem:DescribeAccessPoints",
    "elasticfilesystem:DescribeFileSystems",
    "elasticfilesystem:DescribeMountTargets",
    "elasticfilesystem:TagResource",
];
/// `actions` of the static-provisioning policy.
const STATIC_ACTIONS: [&str; 4] = [
    "ec2:DescribeAvailabilityZones",
    "elasticfilesystem:DescribeAccessPoints",
    "elasticfilesystem:DescribeFileSystems",
    "elasticfilesystem:DescribeMountTargets",
];
const CLUSTER_TAG: &str = "efs.csi.aws.com/cluster";

// ---------------------------------------------------------------------------------------------
// Configuration helpers
// ---------------------------------------------------------------------------------------------

/// A `provider "efs"` block (and the `terraform` block naming the provider), one attribute per
/// line written as `name = value`, so that tests can find the lines Terraform quotes.
#[derive(Clone)]
struct ProviderBlock {
    region: String,
    access_key: Option<String>,
    secret_key: Option<String>,
    token: Option<String>,
    /// `endpoints { service = url }`, in this order.
    endpoints: Vec<(&'static str, String)>,
    /// More lines inside the provider block.
    extra: String,
}

impl ProviderBlock {
    /// Static credentials of the block, all four services at `endpoint`, and default tags.
    fn at(endpoint: &str) -> ProviderBlock {
        ProviderBlock {
            region: REGION.to_string(),
            access_key: Some(BLOCK_ACCESS_KEY.to_string()),
            secret_key: Some(BLOCK_SECRET_KEY.to_string()),
            token: None,
            endpoints: ["ec2", "efs", "iam", "sts"].into_iter().map(|s| (s, endpoint.to_string())).collect(),
            extra: String::new(),
        }
    }

    fn moto(moto: &Moto) -> ProviderBlock {
        ProviderBlock::at(&moto.endpoint())
    }

    fn credentials(mut self, access_key: &str, secret_key: &str) -> ProviderBlock {
        self.access_key = Some(access_key.to_string());
        self.secret_key = Some(secret_key.to_string());
        self
    }

    fn endpoint(mut self, service: &'static str, url: &str) -> ProviderBlock {
        for (s, u) in &mut self.endpoints {
            if *s == service {
                *u = url.to_string();
            }
        }
        self
    }

    fn extra(mut self, lines: &str) -> ProviderBlock {
        self.extra.push_str(lines);
        self
    }

    fn render(&self) -> String {
        let mut hcl = String::from(
            "terraform {\n  required_providers {\n    efs = {\n      source = \"seedlabs/efs\"\n    }\n  }\n}\n\nprovider \"efs\" {\n",
        );
        hcl.push_str(&format!("  region = \"{}\"\n", self.region));
        for (name, value) in
            [("access_key", &self.access_key), ("secret_key", &self.secret_key), ("token", &self.token)]
        {
            if let Some(v) = value {
                hcl.push_str(&format!("  {name} = \"{v}\"\n"));
            }
        }
        hcl.push_str(&self.extra);
        hcl.push_str("\n  endpoints {\n");
        for (service, url) in &self.endpoints {
            hcl.push_str(&format!("    {service} = \"{url}\"\n"));
        }
        hcl.push_str(
            "  }\n\n  default_tags {\n    tags = {\n      Project = \"efs-acceptance\"\n      Team    = \"storage\"\n    }\n  }\n}\n",
        );
        hcl
    }
}

/// Two policy data sources (default; static provisioning scoped to [`FS_ARN`]) and their
/// `json`/`actions` as outputs.
fn policy_data_sources() -> String {
    format!(
        r#"
data "efs_csi_driver_iam_policy" "default" {{}}

data "efs_csi_driver_iam_policy" "static" {{
  dynamic_provisioning = false
  file_system_arns     = ["{FS_ARN}"]
}}

output "default_json" {{
  value = data.efs_csi_driver_iam_policy.default.json
}}

output "default_actions" {{
  value = data.efs_csi_driver_iam_policy.default.actions
}}

output "static_json" {{
  value = data.efs_csi_driver_iam_policy.static.json
}}

output "static_actions" {{
  value = data.efs_csi_driver_iam_policy.static.actions
}}
"#
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// Every action of a policy document, sorted and without duplicates.
fn document_actions(doc: &Value) -> Vec<String> {
    let mut actions: Vec<String> = doc["Statement"]
        .as_array()
        .expect("Statement is a list")
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(list) => list.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
            other => panic!("unexpected Action {other}"),
        })
        .collect();
    actions.sort();
    actions.dedup();
    actions
}

/// The statement of `doc` that allows `action`.
fn statement_with<'a>(doc: &'a Value, action: &str) -> &'a Value {
    doc["Statement"]
        .as_array()
        .expect("Statement is a list")
        .iter()
        .find(|s| s["Action"] == action || s["Action"].as_array().is_some_and(|a| a.contains(&json!(action))))
        .unwrap_or_else(|| panic!("no statement allows {action} in {doc}"))
}

/// AWS API requests moto has served so far (its request log, minus `/moto-api/` calls).
fn aws_requests(moto: &Moto) -> Vec<String> {
    fs::read_to_string(moto.log_path())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" HTTP/1.") && !l.contains("/moto-api"))
        .map(str::to_string)
        .collect()
}

/// Flips the lowest bit of the last byte of a file.
fn flip_last_byte(path: &std::path::Path) {
    let mut f = OpenOptions::new().read(true).write(true).open(path).expect("open binary copy");
    let len = f.metadata().expect("stat binary copy").len();
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(len - 1)).unwrap();
    f.read_exact(&mut byte).unwrap();
    byte[0] ^= 1;
    f.seek(SeekFrom::Start(len - 1)).unwrap();
    f.write_all(&byte).unwrap();
}

fn assert_policy_outputs(outputs: &Value) {
    let default_actions = strings(&outputs["default_actions"]["value"]);
    let static_actions = strings(&outputs["static_actions"]["value"]);
    assert_eq!(default_actions, DEFAULT_ACTIONS, "{outputs:#}");
    assert_eq!(static_actions, STATIC_ACTIONS, "{outputs:#}");

    let parse = |name: &str| -> Value {
        let text =
            outputs[name]["value"].as_str().unwrap_or_else(|| panic!("output {name} is not a string: {outputs:#}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{name} is not JSON ({e}): {text}"))
    };

    let default = parse("default_json");
    assert_eq!(default["Version"], "2012-10-17");
    assert_eq!(document_actions(&default), default_actions, "actions must list the JSON's actions");
    for statement in default["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert_eq!(statement["Resource"], "*", "unscoped policy: {statement}");
    }
    let create = statement_with(&default, "elasticfilesystem:CreateAccessPoint");
    assert_eq!(create["Condition"]["StringLike"][format!("aws:RequestTag/{CLUSTER_TAG}")], "true", "{create}");
    let delete = statement_with(&default, "elasticfilesystem:DeleteAccessPoint");
    assert_eq!(delete["Condition"]["StringEquals"][format!("aws:ResourceTag/{CLUSTER_TAG}")], "true", "{delete}");

    let scoped = parse("static_json");
    assert_eq!(document_actions(&scoped), static_actions, "actions must list the JSON's actions");
    for action in ["elasticfilesystem:DescribeAccessPoints", "elasticfilesystem:DescribeMountTargets"] {
        assert_eq!(statement_with(&scoped, action)["Resource"], json!([FS_ARN]), "{scoped}");
    }
    // These two cannot be limited to a resource in IAM.
    for action in ["ec2:DescribeAvailabilityZones", "elasticfilesystem:DescribeFileSystems"] {
        assert_eq!(statement_with(&scoped, action)["Resource"], "*", "{scoped}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn data_source_applies_with_configured_provider() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let mut wd = Scenario::new(&moto);
    // Only the provider block's `endpoints` lead to moto: without them the credentials check
    // would go to the real STS, which is unreachable here.
    wd.env_remove("AWS_ENDPOINT_URL");
    wd.write("main.tf", &format!("{}{}", ProviderBlock::moto(&moto).render(), policy_data_sources()));
    // The scenario read moto's inventory: only the requests after that count.
    let before = aws_requests(&moto).len();

    let out = wd.apply();
    assert!(out.stdout.contains("Apply complete!"), "{out}");
    assert_policy_outputs(&wd.output_json());
    // ConfigureProvider checked the credentials against moto's STS.
    assert!(
        aws_requests(&moto)[before..].iter().any(|l| l.contains("POST /")),
        "no AWS request reached moto:\n{}",
        moto.log_tail(20)
    );

    assert_eq!(wd.plan_detailed_exitcode(), 0, "second plan must show no changes");
}

#[test]
fn debug_log_shows_provider_lines() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let mut wd = Scenario::new(&moto);
    let mut block = ProviderBlock::moto(&moto);
    block.token = Some(BLOCK_SESSION_TOKEN.to_string());
    wd.write("main.tf", &format!("{}{}", block.render(), policy_data_sources()));

    wd.env("TF_LOG", "debug");
    let out = wd.apply();
    let provider_lines: Vec<&str> =
        out.stderr.lines().filter(|l| l.contains("provider.terraform-provider-efs: ")).collect();
    let find = |message: &str| {
        provider_lines
            .iter()
            .find(|l| l.contains(&format!("[DEBUG] provider.terraform-provider-efs: {message}:")))
            .unwrap_or_else(|| {
                panic!(
                    "no DEBUG line {message:?} from the provider's logger; its lines:\n{}",
                    provider_lines.join("\n")
                )
            })
    };
    let configured = find("configured AWS clients");
    assert!(configured.contains(&format!("region={REGION}")), "{configured}");
    // The CLIs' hclog versions differ: OpenTofu quotes a value holding commas, Terraform 1.0 does not.
    assert!(
        configured.contains("custom_endpoints=ec2,efs,iam,sts")
            || configured.contains(r#"custom_endpoints="ec2,efs,iam,sts""#),
        "{configured}"
    );
    assert!(configured.contains("@module=efs"), "{configured}");
    let validated = find("validated AWS credentials");
    assert!(validated.contains(&format!("account={MOTO_ACCOUNT}")), "{validated}");
    // Terraform parsed every line as hclog JSON (a raw line would keep its JSON braces).
    assert!(
        !provider_lines.iter().any(|l| l.contains("\"@message\"")),
        "provider lines not parsed as JSON:\n{}",
        provider_lines.join("\n")
    );

    wd.env("TF_LOG", "trace");
    let out = wd.apply();
    assert!(
        out.stderr.contains("provider.terraform-provider-efs: configured AWS clients"),
        "the trace log has no provider lines: {out}"
    );
    let state = fs::read_to_string(wd.path().join("terraform.tfstate")).unwrap_or_default();
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr), ("state", &state)] {
        assert_not_leaked(&[BLOCK_SECRET_KEY, BLOCK_SESSION_TOKEN], what, text);
    }
}

#[test]
fn bad_provider_config_is_diagnosed_with_paths() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Scenario::new(&moto);
    let good = ProviderBlock::moto(&moto);
    let data = "\ndata \"efs_csi_driver_iam_policy\" \"p\" {}\n";
    // The scenario read moto's inventory: only the requests after that count.
    let before = aws_requests(&moto).len();

    // The same configuration without the mistakes is valid.
    wd.write("main.tf", &format!("{}{data}", good.render()));
    wd.validate();

    let mut without_secret = good.clone();
    without_secret.secret_key = None;
    let cases: Vec<(&str, ProviderBlock, &str, &[&str])> = vec![
        (
            "region",
            ProviderBlock { region: "moon-1".into(), ..good.clone() },
            r#"region = "moon-1""#,
            &["Invalid Attribute Value", r#"region must be an AWS region name such as us-east-1; got "moon-1""#],
        ),
        (
            "endpoints.ec2",
            good.clone().endpoint("ec2", "not a url"),
            r#"ec2 = "not a url""#,
            &[
                "Invalid Attribute Value",
                r#"endpoints.ec2 must be a URL such as https://ec2.us-east-1.amazonaws.com; got "not a url""#,
            ],
        ),
        (
            "assume_role.role_arn",
            good.clone().extra("\n  assume_role {\n    role_arn = \"arn:aws:iam::123:role/x\"\n  }\n"),
            r#"role_arn = "arn:aws:iam::123:role/x""#,
            &[
                "Invalid Attribute Value",
                "assume_role.role_arn must be an IAM role ARN like arn:aws:iam::123456789012:role/name",
            ],
        ),
        (
            "access_key without secret_key",
            without_secret,
            // The diagnostic points at access_key, the attribute that is set.
            "access_key",
            &["Incomplete Static Credentials", "access_key is set but secret_key is not: set both, or neither"],
        ),
        (
            "max_retries",
            good.clone().extra("  max_retries = -1\n"),
            "max_retries = -1",
            &["Invalid Attribute Value", "max_retries must be between 0 and 100; got -1"],
        ),
    ];

    let source = provider_source();
    for (name, block, quoted_line, messages) in cases {
        wd.write("main.tf", &format!("{}{data}", block.render()));
        for args in [&["validate", "-no-color"][..], &["plan", "-input=false", "-no-color"][..]] {
            let out = wd.run(args);
            assert_eq!(out.code, Some(1), "{name}: {out}");
            let text = squash(&out.combined());
            let expected =
                [format!("Error: {}", messages[0]), format!(r#"with provider["{source}"]"#), quoted_line.to_string()];
            for want in expected.iter().map(String::as_str).chain(messages[1..].iter().copied()) {
                assert!(text.contains(want), "{name}: `terraform {}` output lacks {want:?}:\n{out}", args[0]);
            }
            // One diagnostic per mistake.
            assert_eq!(text.matches("Error: ").count(), 1, "{name}: {out}");
        }
    }

    // Nothing reached AWS: provider validation stops Terraform before ConfigureProvider.
    let requests = aws_requests(&moto).split_off(before);
    assert!(requests.is_empty(), "AWS requests were made:\n{}", requests.join("\n"));
    let roles = block_on(moto.iam().list_roles().send()).expect("ListRoles");
    assert!(roles.roles().is_empty(), "{roles:?}");
    let users = block_on(moto.iam().list_users().send()).expect("ListUsers");
    assert!(users.users().is_empty(), "{users:?}");
    let file_systems = block_on(moto.efs().describe_file_systems().send()).expect("DescribeFileSystems");
    assert!(file_systems.file_systems().is_empty(), "{file_systems:?}");
    let vpcs = block_on(
        moto.ec2()
            .describe_vpcs()
            .filters(aws_sdk_ec2::types::Filter::builder().name("is-default").values("false").build())
            .send(),
    )
    .expect("DescribeVpcs");
    assert!(vpcs.vpcs().is_empty(), "{vpcs:?}");
}

#[test]
fn unreachable_endpoint_and_bad_credentials() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    // The harness sets AWS_ENDPOINT_URL to moto: the provider block's `endpoints` must win over
    // it, or the closed port below would never be tried.
    let wd = Scenario::new(&moto);
    let data = "\ndata \"efs_csi_driver_iam_policy\" \"p\" {}\n";
    let plan = || wd.run(&["plan", "-input=false", "-no-color"]);

    // 1. Nothing listens at the endpoints: the credentials check fails at once (no retries), and
    //    the harness's EFS_TF_TIMEOUT_SECS bounds the run should it hang.
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let unreachable = ProviderBlock::at(&closed).extra("  max_retries = 0\n");
    wd.write("main.tf", &format!("{}{data}", unreachable.render()));
    let started = Instant::now();
    let out = plan();
    let elapsed = started.elapsed();
    assert_eq!(out.code, Some(1), "{out}");
    let text = squash(&out.combined());
    for want in [
        "Error: Cannot Reach AWS",
        "Checking the credentials with STS GetCallerIdentity failed",
        "Connection refused",
        "check endpoints.sts",
    ] {
        assert!(text.contains(want), "output lacks {want:?}:\n{out}");
    }
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?} to fail:\n{out}");

    // 2. moto with IAM authentication enforced: only keys it issued are accepted.
    let iam = moto.iam();
    block_on(iam.create_user().user_name("terraform").send()).expect("CreateUser");
    let key = block_on(iam.create_access_key().user_name("terraform").send())
        .expect("CreateAccessKey")
        .access_key
        .expect("access key");
    let auth = moto.enforce_auth();

    let unknown = ProviderBlock::moto(&moto);
    wd.write("main.tf", &format!("{}{data}", unknown.render()));
    let out = plan();
    assert_eq!(out.code, Some(1), "{out}");
    let text = squash(&out.combined());
    // moto's refusal of an unknown key does not always carry a code the SDK can parse
    // (InvalidClientTokenId), so only the diagnostic itself is required.
    for want in [
        "Error: Invalid AWS Credentials",
        "Checking the credentials with STS GetCallerIdentity failed",
        "Set access_key/secret_key",
    ] {
        assert!(text.contains(want), "unknown key: output lacks {want:?}:\n{out}");
    }

    let wrong_secret = ProviderBlock::moto(&moto).credentials(&key.access_key_id, "not-the-secret");
    wd.write("main.tf", &format!("{}{data}", wrong_secret.render()));
    let out = plan();
    assert_eq!(out.code, Some(1), "{out}");
    let text = squash(&out.combined());
    for want in ["Error: Invalid AWS Credentials", "SignatureDoesNotMatch"] {
        assert!(text.contains(want), "wrong secret: output lacks {want:?}:\n{out}");
    }

    // The provider block's credentials are what is sent: the issued key passes.
    let issued = ProviderBlock::moto(&moto).credentials(&key.access_key_id, &key.secret_access_key);
    wd.write("main.tf", &format!("{}{data}", issued.render()));
    let out = plan();
    assert!(out.success(), "issued key refused while moto enforces auth: {out}");

    // Auth off again: any key is accepted.
    drop(auth);
    wd.write("main.tf", &format!("{}{data}", unknown.render()));
    let out = plan();
    assert!(out.success(), "{out}");
}

#[test]
fn filesystem_mirror_install_records_lock_hashes() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let mut wd = Scenario::new(&moto);
    let mirror = FilesystemMirror::new();
    let binary = provider_bin();
    let zip = mirror.add_packed("0.1.0", &binary);
    let expected_h1 = zip_h1_hash(&zip);
    let expected_zh = format!("zh:{}", sha256_hex(&zip));
    mirror.use_in(&mut wd);
    // Offline: anything Terraform would fetch from the network goes to a closed port.
    let dead_proxy = format!("http://127.0.0.1:{}", closed_port());
    wd.env("HTTPS_PROXY", &dead_proxy).env("HTTP_PROXY", &dead_proxy);
    wd.write("main.tf", &format!("{}{}", ProviderBlock::moto(&moto).render(), policy_data_sources()));
    let init = ["init", "-input=false", "-no-color"];
    let lock_path = wd.path().join(".terraform.lock.hcl");
    let source = provider_source();
    let installed =
        wd.path().join(format!(".terraform/providers/{source}/0.1.0/linux_amd64/terraform-provider-efs_v0.1.0"));

    // 1. First init: installs from the mirror and records the h1: hash of the package.
    let out = wd.run_ok(&init);
    let text = squash(&out.combined());
    assert!(text.contains("Installed seedlabs/efs v0.1.0"), "{out}");
    assert!(!text.contains("development overrides"), "{out}");
    let locked =
        read_lock_file(wd.path(), &source).unwrap_or_else(|| panic!("no entry for {source} in the lock file: {out}"));
    assert_eq!(locked.version, "0.1.0");
    assert_eq!(locked.hashes_with("h1:"), [expected_h1.as_str()], "{locked:?}");
    let meta = fs::metadata(&installed).expect("provider installed under .terraform/providers");
    assert_eq!(meta.len(), fs::metadata(&binary).unwrap().len());
    assert_ne!(meta.permissions().mode() & 0o111, 0, "installed binary is not executable");

    // 2. The zh: hash of the packed zip. Terraform 1.0.3 records zh: hashes only from a
    //    registry's signed SHA256SUMS, not from a mirror; a team that has the release's
    //    checksums pins them. With only the zh: hash in the lock file, init must verify the zip
    //    against it, and then records the h1: hash next to it.
    match locked.hashes_with("zh:")[..] {
        [] => {
            let text = fs::read_to_string(&lock_path).unwrap();
            let pinned = text.replace(&format!("\"{expected_h1}\""), &format!("\"{expected_zh}\""));
            assert_ne!(pinned, text);
            fs::write(&lock_path, pinned).unwrap();
            fs::remove_dir_all(wd.path().join(".terraform")).unwrap();
            wd.run_ok(&init);
        }
        ref zh => assert_eq!(zh, [expected_zh.as_str()], "{locked:?}"),
    }
    let locked = read_lock_file(wd.path(), &source).expect("lock entry");
    assert_eq!(locked.version, "0.1.0");
    assert_eq!(locked.hashes_with("h1:"), [expected_h1.as_str()], "{locked:?}");
    assert_eq!(locked.hashes_with("zh:"), [expected_zh.as_str()], "{locked:?}");

    // 3. Terraform runs the installed provider.
    wd.env_remove("HTTPS_PROXY").env_remove("HTTP_PROXY");
    let out = wd.apply();
    assert!(!squash(&out.combined()).contains("development overrides"), "{out}");
    assert_policy_outputs(&wd.output_json());

    // 4. A package whose binary differs in one byte no longer matches the lock file.
    let tampered = mirror.scratch().join("terraform-provider-efs");
    fs::copy(&binary, &tampered).expect("copy the provider binary");
    flip_last_byte(&tampered);
    mirror.add_packed("0.1.0", &tampered);
    assert_ne!(zip_h1_hash(&zip), expected_h1);
    assert_ne!(format!("zh:{}", sha256_hex(&zip)), expected_zh);
    let lock_before = fs::read_to_string(&lock_path).unwrap();
    let h1_only = lock_before.lines().filter(|l| !l.contains("\"zh:")).collect::<Vec<_>>().join("\n") + "\n";
    for (what, lock) in [("h1: and zh:", &lock_before), ("h1: only", &h1_only)] {
        fs::write(&lock_path, lock).unwrap();
        let _ = fs::remove_dir_all(wd.path().join(".terraform"));
        let out = wd.run(&init);
        assert_eq!(out.code, Some(1), "{what}: init accepted a tampered package: {out}");
        let text = squash(&out.combined());
        for want in [
            "Failed to install provider",
            "doesn't match any of the checksums previously recorded in the dependency lock file",
        ] {
            assert!(text.contains(want), "{what}: output lacks {want:?}:\n{out}");
        }
        assert_eq!(&fs::read_to_string(&lock_path).unwrap(), lock, "{what}: lock file changed");
        assert!(!installed.exists(), "{what}: tampered package was installed");
    }
}
