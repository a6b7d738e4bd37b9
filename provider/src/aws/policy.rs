//! The IAM and file system policy documents the provider writes and recognises, shared by the
//! resources that attach them and the data sources that show or check them.
//!
//! The CSI driver policy follows the driver's documented example policy and AWS's managed
//! `AmazonEFSCSIDriverPolicy`: describe calls on any resource, access point creation and deletion
//! only for access points tagged `efs.csi.aws.com/cluster` (how the driver marks the ones it
//! provisions dynamically), and tagging only as part of that creation. Scoped to file systems,
//! every statement that names a resource names those file systems or the access points of their
//! accounts and regions (an access point's ARN does not name its file system).

use serde_json::{json, Value as Json};

/// The tag the driver puts on the access points it creates, and that the policy's conditions check.
pub const CLUSTER_TAG: &str = "efs.csi.aws.com/cluster";

pub const FILE_SYSTEM_ARN_PATTERN: &str =
    r"^arn:aws[a-z-]*:elasticfilesystem:[a-z0-9-]+:[0-9]{12}:file-system/fs-[0-9a-f]{8,40}$";

/// What to scope the policy to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyOptions {
    /// When not empty, file-system-level actions are limited to these file systems.
    pub file_system_arns: Vec<String>,
    /// Whether the driver may create and delete access points (dynamic provisioning).
    pub dynamic_provisioning: bool,
}

/// `arn:PARTITION:elasticfilesystem:REGION:ACCOUNT:access-point/*` for each file system's account
/// and region, deduplicated; the file system ARNs are validated to have that shape.
fn access_point_arns(file_system_arns: &[String]) -> Vec<String> {
    let mut arns: Vec<String> = file_system_arns
        .iter()
        .filter_map(|arn| arn.split_once(":file-system/").map(|(prefix, _)| format!("{prefix}:access-point/*")))
        .collect();
    arns.sort();
    arns.dedup();
    arns
}

/// The CSI driver policy document as JSON.
pub fn csi_driver_policy(options: &PolicyOptions) -> Json {
    let file_systems = if options.file_system_arns.is_empty() { json!("*") } else { json!(options.file_system_arns) };
    let access_points = match access_point_arns(&options.file_system_arns) {
        arns if arns.is_empty() => json!("*"),
        arns => json!(arns),
    };
    // DescribeAvailabilityZones and DescribeFileSystems without an id cannot be scoped to a resource.
    let mut statements = vec![
        json!({
            "Sid": "DescribeForMounts",
            "Effect": "Allow",
            "Action": ["ec2:DescribeAvailabilityZones", "elasticfilesystem:DescribeFileSystems"],
            "Resource": "*",
        }),
        json!({
            "Sid": "DescribeFileSystemParts",
            "Effect": "Allow",
            "Action": ["elasticfilesystem:DescribeAccessPoints", "elasticfilesystem:DescribeMountTargets"],
            "Resource": file_systems,
        }),
    ];
    if options.dynamic_provisioning {
        let tagged_by_driver = json!({ format!("aws:RequestTag/{CLUSTER_TAG}"): "true" });
        statements.push(json!({
            "Sid": "CreateTaggedAccessPoints",
            "Effect": "Allow",
            "Action": "elasticfilesystem:CreateAccessPoint",
            "Resource": file_systems,
            "Condition": { "StringLike": tagged_by_driver },
        }));
        // EFS authorizes the tags of CreateAccessPoint as a TagResource call. Only that: without the
        // CreateAction condition the nodes could put the cluster tag on any existing access point,
        // which DeleteAccessPoint below would then let them delete.
        statements.push(json!({
            "Sid": "TagAccessPointsOnCreate",
            "Effect": "Allow",
            "Action": "elasticfilesystem:TagResource",
            "Resource": access_points,
            "Condition": {
                "StringEquals": { "elasticfilesystem:CreateAction": "CreateAccessPoint" },
                "StringLike": tagged_by_driver,
            },
        }));
        statements.push(json!({
            "Sid": "DeleteOwnAccessPoints",
            "Effect": "Allow",
            "Action": "elasticfilesystem:DeleteAccessPoint",
            "Resource": access_points,
            "Condition": { "StringEquals": { format!("aws:ResourceTag/{CLUSTER_TAG}"): "true" } },
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Every action the policy allows, sorted.
pub fn policy_actions(document: &Json) -> Vec<String> {
    let mut actions: Vec<String> = document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|statement| match &statement["Action"] {
            Json::String(action) => vec![action.clone()],
            Json::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
            _ => vec![],
        })
        .collect();
    actions.sort();
    actions.dedup();
    actions
}

/// The file system policy for `enforce_tls`: deny any request without TLS, and since a policy's
/// presence means EFS grants only what it allows, allow mounting and writing through mount
/// targets (as the console's "enforce in-transit encryption" policy does).
pub fn tls_policy(file_system_arn: &str) -> Json {
    json!({
        "Version": "2012-10-17",
        "Id": "efs-prometheus-enforce-tls",
        "Statement": [
            {
                "Sid": "AllowMountThroughMountTargets",
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": file_system_arn,
                "Condition": { "Bool": { "elasticfilesystem:AccessedViaMountTarget": "true" } },
            },
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": { "AWS": "*" },
                "Action": "*",
                "Resource": file_system_arn,
                "Condition": { "Bool": { "aws:SecureTransport": "false" } },
            },
        ],
    })
}

/// Whether a policy read back from AWS denies access without TLS.
pub fn policy_enforces_tls(policy: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<Json>(policy) else {
        return false;
    };
    doc["Statement"].as_array().into_iter().flatten().any(|s| {
        s["Effect"] == "Deny"
            && s["Condition"]["Bool"]["aws:SecureTransport"].as_str().map(str::to_lowercase).as_deref() == Some("false")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_has_the_drivers_actions_and_tag_conditions() {
        let document = csi_driver_policy(&PolicyOptions { dynamic_provisioning: true, ..Default::default() });
        assert_eq!(
            policy_actions(&document),
            vec![
                "ec2:DescribeAvailabilityZones",
                "elasticfilesystem:CreateAccessPoint",
                "elasticfilesystem:DeleteAccessPoint",
                "elasticfilesystem:DescribeAccessPoints",
                "elasticfilesystem:DescribeFileSystems",
                "elasticfilesystem:DescribeMountTargets",
                "elasticfilesystem:TagResource",
            ]
        );
        let statements = document["Statement"].as_array().unwrap();
        let delete = statements.iter().find(|s| s["Action"] == "elasticfilesystem:DeleteAccessPoint").unwrap();
        assert_eq!(delete["Condition"]["StringEquals"]["aws:ResourceTag/efs.csi.aws.com/cluster"], "true");
        let create = statements.iter().find(|s| s["Sid"] == "CreateTaggedAccessPoints").unwrap();
        assert_eq!(create["Action"], "elasticfilesystem:CreateAccessPoint");
        assert_eq!(create["Condition"]["StringLike"]["aws:RequestTag/efs.csi.aws.com/cluster"], "true");
        // Tagging is allowed only as part of creating an access point, never on existing resources.
        let tag = statements.iter().find(|s| s["Action"] == "elasticfilesystem:TagResource").unwrap();
        assert_eq!(tag["Condition"]["StringEquals"]["elasticfilesystem:CreateAction"], "CreateAccessPoint");
        assert_eq!(tag["Condition"]["StringLike"]["aws:RequestTag/efs.csi.aws.com/cluster"], "true");
    }

    #[test]
    fn dynamic_provisioning_scoped_to_a_file_system_names_only_its_resources() {
        let arn = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123456789abcdef0";
        let document =
            csi_driver_policy(&PolicyOptions { file_system_arns: vec![arn.to_string()], dynamic_provisioning: true });
        for statement in document["Statement"].as_array().unwrap() {
            let expected = match statement["Sid"].as_str().unwrap() {
                "DescribeForMounts" => json!("*"),
                "DescribeFileSystemParts" | "CreateTaggedAccessPoints" => json!([arn]),
                _ => json!(["arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/*"]),
            };
            assert_eq!(statement["Resource"], expected, "{statement}");
        }
    }

    #[test]
    fn static_provisioning_and_scoping_narrow_the_policy() {
        let arn = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0";
        let document =
            csi_driver_policy(&PolicyOptions { file_system_arns: vec![arn.to_string()], dynamic_provisioning: false });
        let actions = policy_actions(&document);
        assert!(!actions.iter().any(|a| a.contains("CreateAccessPoint") || a.contains("DeleteAccessPoint")));
        let scoped =
            document["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "DescribeFileSystemParts").unwrap();
        assert_eq!(scoped["Resource"], json!([arn]));
    }

    #[test]
    fn tls_policy_is_recognised_and_allows_mount_targets() {
        let policy = tls_policy("arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-1");
        assert!(policy_enforces_tls(&policy.to_string()));
        let allow = &policy["Statement"][0];
        assert_eq!(allow["Effect"], "Allow");
        assert_eq!(allow["Action"], json!(["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]));
        assert!(!policy_enforces_tls(r#"{"Statement":[{"Effect":"Allow"}]}"#));
    }
}

/// The most characters IAM takes in a managed policy document, not counting whitespace.
pub const MAX_MANAGED_POLICY_SIZE: usize = 6144;
/// The policy language versions IAM knows; only the newer one has policy variables.
const POLICY_VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

/// The size of a policy document as IAM counts it against its limits: whitespace is not counted.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// What IAM would refuse in an identity-based (managed) policy document, each problem a sentence
/// that says what to change; an empty list for a document IAM takes. Checks the grammar IAM
/// checks on CreatePolicy (JSON, Version, Statement, Effect, Action/NotAction,
/// Resource/NotResource, no Principal, Condition operators) and the size.
pub fn managed_policy_problems(document: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let size = policy_size(document);
    if size > MAX_MANAGED_POLICY_SIZE {
        problems.push(format!(
            "is {size} characters without whitespace; IAM takes at most {MAX_MANAGED_POLICY_SIZE}. Split it into \
             several policies (additional_policy_arns) or use wildcards"
        ));
    }
    let parsed: Json = match serde_json::from_str(document) {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.push(format!("is not valid JSON: {e}. Use jsonencode() or a data source to build it"));
            return problems;
        }
    };
    let Some(top) = parsed.as_object() else {
        problems.push("must be a JSON object with Version and Statement".to_string());
        return problems;
    };
    for key in top.keys().filter(|k| !matches!(k.as_str(), "Version" | "Id" | "Statement")) {
        problems.push(format!("has the element {key:?}, which IAM does not know (only Version, Id and Statement)"));
    }
    match top.get("Version") {
        None => problems.push("has no Version: add \"Version\": \"2012-10-17\"".to_string()),
        Some(Json::String(v)) if POLICY_VERSIONS.contains(&v.as_str()) => {}
        Some(other) => problems.push(format!("has Version {other}; use \"2012-10-17\"")),
    }
    let statements: Vec<&Json> = match top.get("Statement") {
        None => {
            problems.push("has no Statement: a policy needs at least one".to_string());
            Vec::new()
        }
        Some(Json::Array(list)) if list.is_empty() => {
            problems.push("has an empty Statement list: a policy needs at least one statement".to_string());
            Vec::new()
        }
        Some(Json::Array(list)) => list.iter().collect(),
        Some(one @ Json::Object(_)) => vec![one],
        Some(_) => {
            problems.push("has a Statement that is neither a statement object nor a list of them".to_string());
            Vec::new()
        }
    };
    for (i, statement) in statements.iter().enumerate() {
        statement_problems(statement, &format!("Statement[{i}]"), &mut problems);
    }
    problems
}

fn statement_problems(statement: &Json, at: &str, problems: &mut Vec<String>) {
    let Some(s) = statement.as_object() else {
        problems.push(format!("{at} must be an object"));
        return;
    };
    const KNOWN: [&str; 9] =
        ["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"];
    for key in s.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        problems.push(format!("{at} has the element {key:?}, which IAM does not know"));
    }
    match s.get("Sid") {
        None => {}
        Some(Json::String(sid)) if sid.chars().all(|c| c.is_ascii_alphanumeric()) => {}
        Some(_) => problems.push(format!("{at}.Sid may contain only ASCII letters and digits")),
    }
    match s.get("Effect").and_then(Json::as_str) {
        Some("Allow" | "Deny") => {}
        Some(other) => problems.push(format!("{at}.Effect is {other:?}; it must be \"Allow\" or \"Deny\"")),
        None => problems.push(format!("{at} has no Effect: add \"Effect\": \"Allow\" or \"Deny\"")),
    }
    if s.contains_key("Principal") || s.contains_key("NotPrincipal") {
        problems.push(format!(
            "{at} names a Principal, which a policy attached to a role may not: remove it (the role is the principal)"
        ));
    }
    for (one, other) in [("Action", "NotAction"), ("Resource", "NotResource")] {
        match (s.get(one), s.get(other)) {
            (Some(_), Some(_)) => problems.push(format!("{at} has both {one} and {other}; keep one")),
            (None, None) => problems.push(format!("{at} has neither {one} nor {other}; add {one}")),
            (Some(value), None) | (None, Some(value)) => {
                let name = if s.contains_key(one) { one } else { other };
                let items: Vec<&Json> = match value {
                    Json::Array(list) if !list.is_empty() => list.iter().collect(),
                    Json::String(_) => vec![value],
                    _ => {
                        problems.push(format!("{at}.{name} must be a string or a non-empty list of strings"));
                        continue;
                    }
                };
                for item in items {
                    match item.as_str() {
                        Some(text) if name.ends_with("Action") && !is_action(text) => problems.push(format!(
                            "{at}.{name} has {text:?}, which is not an action: write service:Action, such as \
                             \"elasticfilesystem:ClientMount\", or \"*\""
                        )),
                        Some(text) if name.ends_with("Resource") && !(text == "*" || text.starts_with("arn:")) => {
                            problems.push(format!("{at}.{name} has {text:?}; a resource is \"*\" or an ARN"))
                        }
                        Some(_) => {}
                        None => problems.push(format!("{at}.{name} must hold only strings")),
                    }
                }
            }
        }
    }
    if let Some(condition) = s.get("Condition") {
        match condition.as_object() {
            Some(operators) => {
                for (operator, keys) in operators {
                    if !keys.is_object() {
                        problems
                            .push(format!("{at}.Condition.{operator} must be an object of condition keys and values"));
                    }
                }
            }
            None => problems.push(format!("{at}.Condition must be an object of condition operators")),
        }
    }
}

/// `*`, or `service:Action` with `*` and `?` wildcards.
fn is_action(text: &str) -> bool {
    if text == "*" {
        return true;
    }
    let Some((service, action)) = text.split_once(':') else { return false };
    !service.is_empty()
        && !action.is_empty()
        && service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && action.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
}

#[cfg(test)]
mod grammar_tests {
    use super::*;

    #[test]
    fn the_drivers_policy_and_a_minimal_one_pass() {
        let options = PolicyOptions { dynamic_provisioning: true, ..Default::default() };
        assert_eq!(managed_policy_problems(&csi_driver_policy(&options).to_string()), Vec::<String>::new());
        let minimal =
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}"#;
        assert_eq!(managed_policy_problems(minimal), Vec::<String>::new());
    }

    #[test]
    fn documents_iam_refuses_are_found() {
        for (document, why) in [
            ("{nope", "is not valid JSON"),
            ("[1]", "must be a JSON object"),
            ("{}", "has no Statement"),
            (r#"{"Version":"2012-10-17","Statement":[]}"#, "empty Statement list"),
            (r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#, "has no Version"),
            (r#"{"Version":"2020-01-01","Statement":[]}"#, "use \"2012-10-17\""),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}"#,
                "\"Allow\" or \"Deny\"",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                "neither Action nor NotAction",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"}]}"#,
                "neither Resource nor NotResource",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3 Get","Resource":"*"}]}"#,
                "not an action",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"bucket"}]}"#,
                "\"*\" or an ARN",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
                "Principal",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Sid":"a-b","Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                "Sid",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":"x"}]}"#,
                "Condition",
            ),
            (r#"{"Version":"2012-10-17","Statment":[]}"#, "\"Statment\""),
        ] {
            let problems = managed_policy_problems(document);
            assert!(problems.iter().any(|p| p.contains(why)), "{document}: {problems:?}");
        }
    }

    #[test]
    fn size_is_counted_without_whitespace() {
        let statement = r#"{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}"#;
        let pretty = |n: usize| {
            let statements = vec![statement; n].join(",\n        ");
            format!("{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n        {statements}\n  ]\n}}")
        };
        // About 90 statements fit; with its indentation the document is well over 6144 bytes.
        let fits = pretty(90);
        assert!(fits.len() > MAX_MANAGED_POLICY_SIZE && policy_size(&fits) <= MAX_MANAGED_POLICY_SIZE);
        assert_eq!(managed_policy_problems(&fits), Vec::<String>::new());
        let too_big = managed_policy_problems(&pretty(100));
        assert!(too_big.iter().any(|p| p.contains("characters without whitespace")), "{too_big:?}");
    }
}
