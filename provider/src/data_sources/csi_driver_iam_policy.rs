//! Data source `efs_csi_driver_iam_policy`: the IAM policy the aws-efs-csi-driver needs, computed
//! locally (no AWS call).
//!
//! The document itself is [`crate::aws::policy::csi_driver_policy`].

use async_trait::async_trait;

use crate::aws::policy::{csi_driver_policy, policy_actions, PolicyOptions, FILE_SYSTEM_ARN_PATTERN};
use crate::framework::schema::{Attribute, Block, Schema};
use crate::framework::validators::{each_element, non_empty, string_matches};
use crate::framework::{Ctx, DataSource, Diagnostics, Type, Value};

pub const TYPE_NAME: &str = "efs_csi_driver_iam_policy";

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
                         file systems and availability zones cannot be limited. Default: all file systems. An empty list is refused \
                         (it would not limit anything): leave the argument out instead.",
                    )
                    .validator(non_empty(
                        "an empty list would not limit the policy to any file system (\"Resource\": \"*\"); name at \
                         least one ARN, or leave file_system_arns out to allow every file system on purpose",
                    ))
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
        let document = csi_driver_policy(&options);
        let actions = policy_actions(&document);
        let mut state = config.clone();
        if let Value::Object(map) = &mut state {
            map.insert("json".into(), Value::string(document.to_string()));
            map.insert("actions".into(), Value::List(actions.into_iter().map(Value::string).collect()));
        }
        (state, Diagnostics::new())
    }
}
