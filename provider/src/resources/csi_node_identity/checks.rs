//! Plan-time checks of `efs_csi_node_identity` against AWS, read-only: the instances and policies
//! the plan adds must exist and be usable, so a typo fails at plan and not after the role was made;
//! and a create must not meet a role, policy or instance profile of another owner.

use std::collections::BTreeSet;

use super::ops;
use crate::aws::ec2::instances;
use crate::aws::iam;
use crate::framework::{AttributePath, Diagnostics, PlanContext, Value};
use crate::provider_config::ProviderData;
use crate::resources::ownership::Claim;

/// Checks the instances and the additional policies the plan adds.
pub async fn check(provider: &ProviderData, plan: &mut PlanContext<'_>) {
    // The names, the additional policies (IAM) and the instances (EC2) are read at once; their
    // findings are reported in that order.
    let (mut names, mut policies, mut nodes) = (Diagnostics::new(), Diagnostics::new(), Diagnostics::new());
    let names_free = async {
        let made = names_made(plan);
        if !made.is_empty() {
            check_names_free(provider, plan, &made, &mut names).await;
        }
    };
    tokio::join!(
        names_free,
        check_instances(provider, plan, &mut nodes),
        check_additional_policies(provider, plan, &mut policies)
    );
    plan.diags.extend(names);
    plan.diags.extend(nodes);
    plan.diags.extend(policies);
}

/// The name attributes of the IAM objects the apply makes: all three for a create; for an update,
/// those of the parts refresh found missing (no ARN in the state: deleted outside Terraform, or
/// their name taken by another owner since, see `ops::refresh`).
fn names_made(plan: &PlanContext<'_>) -> Vec<&'static str> {
    const PARTS: [(&str, &str); 3] =
        [("role_name", "role_arn"), ("policy_name", "policy_arn"), ("instance_profile_name", "instance_profile_arn")];
    if plan.is_destroy() {
        return Vec::new();
    }
    // The state shows a missing part's ARN as null.
    let missing = |arn: &str| plan.is_create() || plan.prior.get(arn).and_then(Value::as_str).is_none_or(str::is_empty);
    PARTS.iter().filter(|(_, arn)| missing(arn)).map(|(name, _)| *name).collect()
}

/// A create (or an update that makes a missing part again) whose role, policy or instance profile
/// name is taken by an object of another state, or one made by hand, is refused here at that
/// name's attribute: its apply would refuse it too.
async fn check_names_free(
    provider: &ProviderData,
    plan: &PlanContext<'_>,
    made: &[&'static str],
    diags: &mut Diagnostics,
) {
    let text = |name: &str| plan.planned.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(role), Some(policy), Some(profile), Some(path)) =
        (text("role_name"), text("policy_name"), text("instance_profile_name"), text("path"))
    else {
        return;
    };
    let owner = text("owner_id");
    let owner = owner.as_deref();
    let iam_client = &provider.aws.iam;
    let mut refused = Vec::new();
    let (found_role, found_policy, found_profile) = tokio::join!(
        iam::find_role_by_name(iam_client, &role),
        iam::find_local_policy_by_name(iam_client, &provider.aws.known, &path, &policy),
        iam::find_instance_profile_by_name(iam_client, &profile),
    );
    match found_role {
        Ok(Some(found)) => refused.push(("role_name", found.describe(), found.tags)),
        Ok(None) => {}
        Err(e) => return diags.extend(e.to_diagnostics("Error Reading IAM Roles")),
    }
    match found_policy {
        Ok(Some(found)) => refused.push(("policy_name", found.describe(), found.tags)),
        Ok(None) => {}
        Err(e) => return diags.extend(e.to_diagnostics("Error Reading IAM Policies")),
    }
    match found_profile {
        Ok(Some(found)) => refused.push(("instance_profile_name", found.describe(), found.tags)),
        Ok(None) => {}
        Err(e) => return diags.extend(e.to_diagnostics("Error Reading IAM Instance Profiles")),
    }
    for (attribute, object, tags) in refused.into_iter().filter(|(attribute, ..)| made.contains(attribute)) {
        let found = ops::claim(&tags, &role, owner);
        if found != Claim::Ours {
            diags.error_at(
                AttributePath::root(attribute),
                "IAM Object Belongs To Another Owner",
                ops::not_owned(object, &found, &role, attribute).to_string(),
            );
        }
    }
}

/// The known string elements of a set attribute, or `None` while the set itself is unknown.
fn known_strings(value: Option<&Value>) -> Option<BTreeSet<String>> {
    match value {
        Some(v) if v.is_known() => {
            Some(v.elements().unwrap_or_default().iter().filter_map(Value::as_str).map(str::to_string).collect())
        }
        _ => None,
    }
}

/// Plan-time checks against EC2, read-only, for the instances this plan adds: an instance that
/// does not exist or is terminated (an error, so nothing is created for a typo), an instance that
/// already has another profile (an error unless replacing is allowed), and a disabled metadata
/// endpoint, which keeps the driver from getting credentials (a warning).
async fn check_instances(provider: &ProviderData, plan: &PlanContext<'_>, diags: &mut Diagnostics) {
    let Some(planned_ids) = known_strings(plan.planned.get("instance_ids")) else {
        return;
    };
    let prior_ids = known_strings(plan.prior.get("instance_ids")).unwrap_or_default();
    let added: Vec<String> = planned_ids.difference(&prior_ids).cloned().collect();
    if added.is_empty() {
        return;
    }
    let ec2 = &provider.aws.ec2;
    let replace = plan.planned.get("replace_existing_association").and_then(Value::as_bool);
    let profile_suffix = match (
        plan.planned.get("path").and_then(Value::as_str),
        plan.planned.get("instance_profile_name").and_then(Value::as_str),
    ) {
        (Some(path), Some(name)) => Some(format!(":instance-profile{path}{name}")),
        _ => None,
    };
    // The three reads need nothing of each other: at once.
    let checks_associations = replace == Some(false) && profile_suffix.is_some();
    let (leftover, associations, instances) = {
        tokio::join!(
            async {
                if checks_associations {
                    leftover_profiles(provider, plan).await
                } else {
                    Vec::new()
                }
            },
            async {
                if checks_associations {
                    Some(instances::list_associations(ec2, Some(&added)).await)
                } else {
                    None
                }
            },
            instances::describe_node_instances(ec2, &added),
        )
    };
    if let (Some(associations), Some(suffix)) = (associations, &profile_suffix) {
        match associations {
            Ok(found) => {
                let foreign: Vec<&instances::Association> =
                    found.iter().filter(|a| !a.profile_arn.ends_with(suffix.as_str())).collect();
                let (moving, foreign): (Vec<_>, Vec<_>) = foreign
                    .into_iter()
                    .partition(|a| leftover.iter().any(|p| p == ops::profile_name_of(&a.profile_arn)));
                warn_moving(plan, diags, &moving);
                for association in foreign {
                    diags.error_at(
                        AttributePath::root("instance_ids"),
                        "Instance Already Has An Instance Profile",
                        format!(
                            "EC2 Instance {} already has IAM Instance Profile {} associated (association {}). \
                             Set replace_existing_association = true to replace it with this resource's \
                             profile, or remove the instance from instance_ids.",
                            association.instance_id, association.profile_arn, association.association_id
                        ),
                    );
                }
            }
            Err(e) => diags.extend(e.to_diagnostics("Error Checking EC2 Instance Profile Associations")),
        }
    }
    let instances = match instances {
        Ok(found) => found,
        Err(e) => {
            diags.extend(e.to_diagnostics("Error Reading EC2 Instances"));
            return;
        }
    };
    let unusable = unusable_instances(&added, &instances);
    if !unusable.is_empty() {
        diags.error_at(
            AttributePath::root("instance_ids"),
            "Unknown Or Terminated EC2 Instances",
            format!(
                "instance_ids names instances that cannot get an instance profile in region {}: {}. Check the ids \
                 (a terminated instance's id is no longer usable) and the provider's region, and remove or \
                 replace them.",
                provider.region,
                unusable.join(", ")
            ),
        );
    }
    // The driver's pods are on the host network (the csi_driver_helm_values of efs_prometheus_volume
    // put them there), so any hop limit reaches IMDSv2; only a disabled endpoint keeps them from the
    // credentials, and metadata_options cannot turn it on.
    let disabled: Vec<String> = instances
        .iter()
        .filter(|o| o.http_endpoint.as_deref() == Some("disabled"))
        .map(|o| o.instance_id.clone())
        .collect();
    if !disabled.is_empty() {
        diags.warning_at(
            AttributePath::root("instance_ids"),
            "Instance Metadata Disabled On Some Instances",
            format!(
                "Instances {} have their instance metadata endpoint (IMDS) disabled, so the EFS CSI driver on \
                 them cannot get the instance profile's credentials and mounts will fail. Enable it, IMDSv2 \
                 only: aws ec2 modify-instance-metadata-options --instance-id <id> --http-endpoint enabled \
                 --http-tokens required --http-put-response-hop-limit 1.",
                disabled.join(", ")
            ),
        );
    }
}

/// The profiles other than the resource's that hold its role (a manual setup's one profile per
/// node), for an update; none on create, where the role is not this resource's yet.
async fn leftover_profiles(provider: &ProviderData, plan: &PlanContext<'_>) -> Vec<String> {
    let text = |name: &str| plan.prior.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(role), Some(own)) = (text("role_name"), text("instance_profile_name")) else { return Vec::new() };
    ops::other_profiles(&provider.aws, &role, Some(&own)).await.unwrap_or_default()
}

/// Warns about the nodes whose association the apply moves from a leftover profile holding this
/// resource's role to the resource's profile, and says how to delete the leftover profiles.
fn warn_moving(plan: &PlanContext<'_>, diags: &mut Diagnostics, moving: &[&instances::Association]) {
    if moving.is_empty() {
        return;
    }
    let role = plan.prior.get("role_name").and_then(Value::as_str).unwrap_or_default().to_string();
    let own = plan.prior.get("instance_profile_name").and_then(Value::as_str).unwrap_or_default().to_string();
    let nodes: Vec<String> =
        moving.iter().map(|a| format!("{} (now {})", a.instance_id, ops::profile_name_of(&a.profile_arn))).collect();
    let mut profiles: Vec<&str> = moving.iter().map(|a| ops::profile_name_of(&a.profile_arn)).collect();
    profiles.sort_unstable();
    profiles.dedup();
    let commands: Vec<String> = profiles
        .iter()
        .map(|p| {
            format!(
                "aws iam remove-role-from-instance-profile --instance-profile-name {p} --role-name {role} && aws iam \
                 delete-instance-profile --instance-profile-name {p}"
            )
        })
        .collect();
    diags.warning_at(
        AttributePath::root("instance_ids"),
        "Nodes Move To This Resource's Instance Profile",
        format!(
            "Apply moves these nodes in place to instance profile {own}, which holds the same role {role}: {}. The \
             profiles they leave, {}, hold role {role} but are not managed by Terraform; once no instance uses them, \
             delete them: {}. Destroy takes role {role} out of any that are left, and deletes no profile but {own}.",
            nodes.join(", "),
            profiles.join(", "),
            commands.join("; ")
        ),
    );
}

/// Plan-time check, read-only: every policy this plan adds to `additional_policy_arns` exists
/// (IAM GetPolicy), so a wrong ARN fails here instead of after the role was made.
async fn check_additional_policies(provider: &ProviderData, plan: &PlanContext<'_>, diags: &mut Diagnostics) {
    let Some(planned) = known_strings(plan.planned.get("additional_policy_arns")) else {
        return;
    };
    let prior = known_strings(plan.prior.get("additional_policy_arns")).unwrap_or_default();
    let mut missing = Vec::new();
    let added: Vec<&String> = planned.difference(&prior).collect();
    let found =
        futures::future::join_all(added.iter().map(|arn| iam::find_policy_by_arn(&provider.aws.iam, arn))).await;
    for (arn, found) in added.into_iter().zip(found) {
        match found {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(arn.clone()),
            Err(e) => {
                diags.extend(e.to_diagnostics("Error Reading IAM Policies"));
                return;
            }
        }
    }
    if !missing.is_empty() {
        diags.error_at(
            AttributePath::root("additional_policy_arns"),
            "Unknown IAM Policies",
            format!(
                "additional_policy_arns names policies that do not exist: {}. Check the ARNs (account id, \
                 path and name; AWS managed policies are arn:aws:iam::aws:policy/...), or create the \
                 policies first.",
                missing.join(", ")
            ),
        );
    }
}

/// The ids of `wanted` that are missing from `found` or whose instance is terminated or being
/// terminated (EC2 refuses to associate a profile with those), each with the reason.
fn unusable_instances(wanted: &[String], found: &[instances::NodeInstance]) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|id| match found.iter().find(|i| &i.instance_id == id) {
            None => Some(format!("{id} (not found)")),
            Some(i) if matches!(i.state.as_str(), "terminated" | "shutting-down") => {
                Some(format!("{id} ({})", i.state))
            }
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, state: &str) -> instances::NodeInstance {
        instances::NodeInstance { instance_id: id.into(), state: state.into(), ..Default::default() }
    }

    #[test]
    fn missing_and_terminated_instances_are_unusable() {
        let wanted: Vec<String> = ["i-0a", "i-0b", "i-0c", "i-0d", "i-0e"].map(String::from).to_vec();
        let found = [
            instance("i-0a", "running"),
            instance("i-0b", "terminated"),
            instance("i-0c", "stopped"),
            instance("i-0e", "shutting-down"),
        ];
        assert_eq!(
            unusable_instances(&wanted, &found),
            ["i-0b (terminated)", "i-0d (not found)", "i-0e (shutting-down)"]
        );
        assert!(unusable_instances(&wanted[..1], &found).is_empty());
    }
}
