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
