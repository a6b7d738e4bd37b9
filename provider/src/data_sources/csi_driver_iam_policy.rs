//! Data source `efs_csi_driver_iam_policy`: the IAM policy the aws-efs-csi-driver needs, computed
//! locally (no AWS call).
//!
//! The statements follow the driver's documented example policy and AWS's managed
//! `AmazonEFSCSIDriverPolicy`: describe calls on any resource, access point creation and deletion
//! only for access points tagged `efs.csi.aws.com/cluster` (how the driver marks the ones it
//! provisions dynamically), and tagging only as part of that creation. Scoped to file systems,
//! every statement that names a resource names those file systems or the access points of their
//! accounts and regions (an access point's ARN does not name its file system).

use async_trait::async_trait;
use serde_json::json;

use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::validators::{each_element, string_matches};
use crate::framework::{Ctx, DataSource, Diagnostics, Type, Value};

pub const TYPE_NAME: &str = "efs_csi_driver_iam_policy";

/// The tag the driver puts on the access points it creates, and that the policy's conditions check.
pub const CLUSTER_TAG: &str = "efs.csi.aws.com/cluster";

const FILE_SYSTEM_ARN_PATTERN: &str =
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

/// The policy document as JSON.
pub fn policy_document(options: &PolicyOptions) -> serde_json::Value {
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
pub fn policy_actions(document: &serde_json::Value) -> Vec<String> {
    let mut actions: Vec<String> = document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|statement| match &statement["Action"] {
            serde_json::Value::String(action) => vec![action.clone()],
            serde_json::Value::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
            _ => vec![],
        })
        .collect();
    actions.sort();
    actions.dedup();
    actions
}

pub struct CsiDriverIamPolicy;

#[async_trait]
impl DataSource for CsiDriverIamPolicy {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new(
                "The IAM policy document the aws-efs-csi-driver needs, computed locally without any AWS call. \
                 Attach it to the nodes' role (as `efs_csi_node_identity` does by default) so the driver's pods can \
                 use the instance credentials on a self-managed cluster.",
            )
            .attribute(
                Attribute::optional("file_system_arns", Type::list(Type::String))
                    .description(
                        "Limit the policy to these file systems (ARNs): the file-system-level actions to them, tagging \
                         and deleting access points to the access points of their accounts and regions. Describing \
                         file systems and availability zones cannot be limited. Default: all file systems.",
                    )
                    .validator(each_element(string_matches(
                        FILE_SYSTEM_ARN_PATTERN,
                        "must be an EFS file system ARN like arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
                    ))),
            )
            .attribute(
                Attribute::optional("dynamic_provisioning", Type::Bool).description(
                    "Allow the driver to create and delete access points (StorageClass with `provisioningMode: efs-ap`). \
                     Set to `false` for static provisioning only. Default `true`.",
                ),
            )
            .attribute(Attribute::computed("json", Type::String).description("The policy document, as JSON."))
            .attribute(
                Attribute::computed("actions", Type::list(Type::String))
                    .description("Every IAM action the policy allows, sorted."),
            ),
        )
    }

    async fn read(&self, _ctx: &Ctx, config: &Value) -> (Value, Diagnostics) {
        let options = PolicyOptions {
            file_system_arns: config
                .get("file_system_arns")
                .and_then(Value::elements)
                .map(|arns| arns.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            dynamic_provisioning: config.get("dynamic_provisioning").and_then(Value::as_bool).unwrap_or(true),
        };
        let document = policy_document(&options);
        let actions = policy_actions(&document);
        let mut state = config.clone();
        if let Value::Object(map) = &mut state {
            map.insert("json".into(), Value::string(document.to_string()));
            map.insert("actions".into(), Value::List(actions.into_iter().map(Value::string).collect()));
        }
        (state, Diagnostics::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_has_the_drivers_actions_and_tag_conditions() {
        let document = policy_document(&PolicyOptions { dynamic_provisioning: true, ..Default::default() });
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
            policy_document(&PolicyOptions { file_system_arns: vec![arn.to_string()], dynamic_provisioning: true });
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
            policy_document(&PolicyOptions { file_system_arns: vec![arn.to_string()], dynamic_provisioning: false });
        let actions = policy_actions(&document);
        assert!(!actions.iter().any(|a| a.contains("CreateAccessPoint") || a.contains("DeleteAccessPoint")));
        let scoped =
            document["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "DescribeFileSystemParts").unwrap();
        assert_eq!(scoped["Resource"], json!([arn]));
    }
}
