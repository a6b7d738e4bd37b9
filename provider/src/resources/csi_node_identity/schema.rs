//! The schema of `efs_csi_node_identity` and its plan-time validators.

use std::time::Duration;

use crate::aws::ec2::INSTANCE_ID_PATTERN;
use crate::aws::policy::managed_policy_problems;
use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting, Schema, Validator};
use crate::framework::timeouts::{self, Timeouts};
use crate::framework::validators::{each_element, int_between, non_empty, one_of, string_length, string_matches};
use crate::framework::{Type, Value};
use crate::resources::tags::{tags_all_attribute, tags_attribute};

/// IAM's character rule for role, policy and instance profile names: ASCII only (a regex `\w`
/// would also take every Unicode letter, which IAM refuses).
const IAM_NAME_PATTERN: &str = r"^[A-Za-z0-9_+=,.@-]+$";
const IAM_NAME_RULE: &str = "may contain only letters, digits and the characters + = , . @ _ -";
/// IAM paths: `/`, or `/` + printable ASCII without spaces + `/`.
const IAM_PATH_PATTERN: &str = r"^/([\x21-\x7E]+/)?$";
const POLICY_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[\x21-\x7E]+$";

pub const TYPE_NAME: &str = "efs_csi_node_identity";

pub const DEFAULT_TIMEOUTS: Timeouts =
    Timeouts::new(Duration::from_secs(10 * 60), Duration::from_secs(10 * 60), Duration::from_secs(10 * 60));

/// The default of each optional argument, named once: the schema plans them, and the model and
/// import fall back to the same values.
pub mod defaults {
    /// IAM's root path.
    pub const PATH: &str = "/";
    pub const REPLACE_EXISTING_ASSOCIATION: bool = false;
}

fn iam_name(max: usize) -> [Validator; 2] {
    [string_length(1, max), string_matches(IAM_NAME_PATTERN, IAM_NAME_RULE)]
}

fn with(attribute: Attribute, validators: impl IntoIterator<Item = Validator>) -> Attribute {
    validators.into_iter().fold(attribute, Attribute::validator)
}

/// A managed policy document IAM takes: its grammar and its size as IAM counts it, so a malformed
/// policy fails at plan and not after the role was made.
fn managed_policy_document() -> Validator {
    Validator::new("an IAM policy document", |value, path, diags| {
        if let Some(text) = value.as_str() {
            for problem in managed_policy_problems(text) {
                diags.error_at(path.clone(), "Invalid Policy Document", format!("{path} {problem}."));
            }
        }
    })
}

/// Metadata settings that work but hand the node role's credentials to more than the driver: the
/// warning names the safer setting.
fn metadata_warning(attribute: &'static str) -> Validator {
    Validator::new("a safe metadata setting", move |value, path, diags| match attribute {
        "http_tokens" if value.as_str() == Some("optional") => diags.warning_at(
            path.clone(),
            "IMDSv1 Allowed",
            format!(
                "{path} = \"optional\" lets any process that can make a plain GET to 169.254.169.254, such as a \
                 server-side request forgery in a pod, read the node role's credentials. Set \"required\" \
                 (IMDSv2 only); the EFS CSI driver uses IMDSv2."
            ),
        ),
        "http_put_response_hop_limit" if value.as_f64().is_some_and(|hops| hops >= 2.0) => diags.warning_at(
            path.clone(),
            "Every Pod Can Read The Node Credentials",
            format!(
                "{path} above 1 lets every pod on the node, not only those on the host network, reach the \
                 instance metadata and the node role's credentials. The rendered aws-efs-csi-driver values run the \
                 driver on the host network, which needs only 1: set 1, unless a driver controller runs off the \
                 host network."
            ),
        ),
        _ => {}
    })
}

pub fn schema() -> Schema {
    let metadata_options = Block::new(
        "Instance metadata options applied to every instance in `instance_ids`. The least privilege is \
         `http_tokens = \"required\"` with `http_put_response_hop_limit = 1`: pods on the host network, such as the \
         EFS CSI driver's controller and node pods as `efs_prometheus_volume`'s `csi_driver_helm_values` run them, \
         reach the instance credentials, and no other pod does. A hop limit of 2 is needed only for a driver \
         controller off the host network, and hands the node role's credentials to every pod on the node.",
    )
    .attribute(
        Attribute::optional("http_tokens", Type::String)
            .description("`required` (IMDSv2 only) or `optional` (plan warns: IMDSv1 hands the credentials to any request forgery). Left unchanged when not set.")
            .validator(one_of(&["optional", "required"]))
            .validator(metadata_warning("http_tokens")),
    )
    .attribute(
        Attribute::optional("http_put_response_hop_limit", Type::Number)
            .description(
                "The hop limit of IMDSv2 responses (1 to 64): 1 reaches only the host network, 2 every pod (plan \
                 warns above 1). Left unchanged when not set.",
            )
            .validator(int_between(1, 64))
            .validator(metadata_warning("http_put_response_hop_limit")),
    );
    let block = Block::new(
        "The IAM identity of the Kubernetes nodes that run the aws-efs-csi-driver on a self-managed cluster: an IAM \
         role trusted by EC2, a managed policy (by default the `efs_csi_driver_iam_policy` document) attached to it, an \
         instance profile holding the role, and that profile associated with every node instance. Import with the \
         role name.",
    )
    .attribute(
        Attribute::computed("id", Type::String).description("The role name.").use_state_for_unknown(),
    )
    .attribute(with(
        Attribute::required("name", Type::String).description(
            "Base name of the role, the policy and the instance profile, unless `role_name`, `policy_name` or \
             `instance_profile_name` overrides one of them. At most 64 characters (IAM's limit for role names).",
        ),
        iam_name(64),
    ))
    .attribute(with(
        Attribute::optional_computed("role_name", Type::String)
            .description("Name of the IAM role. Default: `name`. Changing it replaces the resource.")
            .requires_replace(),
        iam_name(64),
    ))
    .attribute(with(
        Attribute::optional_computed("policy_name", Type::String)
            .description("Name of the IAM managed policy. Default: `name`. Changing it replaces the resource.")
            .requires_replace(),
        iam_name(128),
    ))
    .attribute(with(
        Attribute::optional_computed("instance_profile_name", Type::String)
            .description("Name of the IAM instance profile. Default: `name`. Changing it replaces the resource.")
            .requires_replace(),
        iam_name(128),
    ))
    .attribute(
        Attribute::optional_computed("path", Type::String)
            .description(format!(
                "IAM path of the role, policy and instance profile. Default `{}`. Changing it replaces the resource.",
                defaults::PATH
            ))
            .default(Value::string(defaults::PATH))
            .requires_replace()
            .validator(string_length(1, 512))
            .validator(string_matches(IAM_PATH_PATTERN, "must be \"/\" or begin and end with \"/\" (e.g. \"/k8s/\")")),
    )
    .attribute(
        Attribute::required("instance_ids", Type::set(Type::String))
            .description(
                "The EC2 instances (master and workers) that get the instance profile; at least one. Adding or \
                 removing ids associates or disassociates only those instances.",
            )
            .validator(non_empty(
                "name at least one node instance; to remove the identity from every node, destroy the resource",
            ))
            .validator(each_element(string_matches(
                INSTANCE_ID_PATTERN,
                "must be an EC2 instance id like i-0123456789abcdef0",
            ))),
    )
    .attribute(
        Attribute::optional_computed("policy_json", Type::String)
            .description(
                "The policy document of the managed policy, as JSON. Default: the `efs_csi_driver_iam_policy` \
                 document with dynamic provisioning. A change creates a new default policy version (the oldest \
                 non-default version is deleted when the policy already has 5). IAM's grammar and size limit \
                 (6144 characters, whitespace not counted) are checked at plan.",
            )
            .validator(managed_policy_document()),
    )
    .attribute(
        Attribute::optional("additional_policy_arns", Type::set(Type::String))
            .description("Further managed policies (ARNs) to attach to the role.")
            .validator(each_element(string_matches(
                POLICY_ARN_PATTERN,
                "must be an IAM policy ARN like arn:aws:iam::123456789012:policy/name",
            ))),
    )
    .attribute(
        Attribute::optional_computed("replace_existing_association", Type::Bool)
            .description(format!(
                "When an instance already has another instance profile, replace that association instead of \
                 failing at plan time. Destroy then only disassociates this resource's profile; it does not restore \
                 the previous one. Default `{}`.",
                defaults::REPLACE_EXISTING_ASSOCIATION
            ))
            .default(Value::Bool(defaults::REPLACE_EXISTING_ASSOCIATION)),
    )
    .attribute(tags_attribute())
    .attribute(tags_all_attribute())
    .attribute(crate::resources::ownership::owner_id_attribute())
    .attribute(
        Attribute::computed("role_arn", Type::String).description("ARN of the IAM role.").use_state_for_unknown(),
    )
    .attribute(
        Attribute::computed("assume_role_policy", Type::String).description(
            "The role's trust policy: EC2 instances may assume the role, nothing else. Read back from IAM, so an \
             edit made outside Terraform shows in the plan and the next apply restores it.",
        ),
    )
    .attribute(
        Attribute::computed("policy_arn", Type::String).description("ARN of the managed policy.").use_state_for_unknown(),
    )
    .attribute(
        Attribute::computed("instance_profile_arn", Type::String)
            .description("ARN of the instance profile.")
            .use_state_for_unknown(),
    )
    .attribute(
        // A map of objects, not nested attributes: Terraform 1.0 crashes rendering unknown nested attributes.
        Attribute::computed(
            "associations",
            Type::map(Type::object([("association_id", Type::String), ("state", Type::String)])),
        )
        .description(
            "The profile association of each instance, by instance id: `association_id` (`iip-assoc-...`) and \
             `state` (`associating` or `associated`).",
        ),
    )
    .block(NestedBlock::new("metadata_options", Nesting::Single, metadata_options))
    .block(timeouts::block(&["create", "update", "delete"], &DEFAULT_TIMEOUTS));
    Schema::new(0, block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::validators::validate_block;
    use crate::framework::Diagnostics;

    fn errors_for(attrs: Vec<(&str, Value)>) -> Vec<String> {
        let mut diags = Diagnostics::new();
        validate_block(&schema().block, &Value::object(attrs), None, &mut diags);
        diags.iter().map(|d| d.path.as_ref().map(|p| p.to_string()).unwrap_or_default()).collect()
    }

    #[test]
    fn accepts_a_valid_configuration() {
        let found = errors_for(vec![
            ("name", Value::string("efs-csi-nodes")),
            ("path", Value::string("/k8s/")),
            ("instance_ids", Value::set_of_strings(["i-0123456789abcdef0", "i-01234567"])),
            (
                "policy_json",
                Value::string(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#),
            ),
            ("additional_policy_arns", Value::set_of_strings(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"])),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn rejects_bad_names_ids_json_and_arns_with_their_paths() {
        let found = errors_for(vec![
            ("name", Value::string("has space")),
            ("role_name", Value::string("x".repeat(65))),
            ("path", Value::string("k8s")),
            ("instance_ids", Value::set_of_strings(["i-0123456789abcdef0", "i-XYZ"])),
            ("policy_json", Value::string("{not json")),
            ("additional_policy_arns", Value::set_of_strings(["AmazonSSM"])),
        ]);
        for expected in ["name", "role_name", "path", "instance_ids[1]", "policy_json", "additional_policy_arns[0]"] {
            assert!(found.iter().any(|p| p == expected), "missing {expected} in {found:?}");
        }
    }

    #[test]
    fn iam_names_are_ascii_and_instance_ids_not_empty() {
        let found =
            errors_for(vec![("name", Value::string("nœuds")), ("instance_ids", Value::set_of_strings([""; 0]))]);
        assert_eq!(found, ["name", "instance_ids"]);
    }
}
