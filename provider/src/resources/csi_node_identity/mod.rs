//! Resource `efs_csi_node_identity`: the IAM identity of the nodes that run the aws-efs-csi-driver
//! on a self-managed cluster (role trusted by EC2, managed policy, instance profile, and the
//! profile's association with every node instance).

mod model;
mod ops;
pub(crate) mod schema;

use std::collections::BTreeSet;

use async_trait::async_trait;

use self::model::Model;
use self::ops::{StepError, TYPE_NAME};
use crate::aws::ec2::instances;
use crate::aws::iam;
use crate::data_sources::csi_driver_iam_policy::{policy_document, PolicyOptions};
use crate::framework::json;
use crate::framework::timeouts::Timeouts;
use crate::framework::{
    ApplyOutcome, AttributePath, Ctx, Diagnostics, Identity, PlanContext, Private, ReadOutcome, Resource, Schema, Value,
};
use crate::resources::tags::{plan_tags_all, MANAGED_BY_TAG};

pub struct CsiNodeIdentity;

/// The default policy: the `efs_csi_driver_iam_policy` document with dynamic provisioning, in the
/// form `jsonencode()` writes, which is also how a read stores a document it did not write: an
/// imported identity then has the same state as one this provider created.
fn default_policy_json() -> String {
    let document = policy_document(&PolicyOptions { dynamic_provisioning: true, ..Default::default() }).to_string();
    json::jsonencode_form(&document).unwrap_or(document)
}

fn step_diagnostics(error: &StepError, summary: &str) -> Diagnostics {
    match error {
        StepError::AlreadyAssociated { .. } => {
            Diagnostics::from_error_at(AttributePath::root("instance_ids"), summary, error.to_string())
        }
        _ => Diagnostics::from_error(summary, error.to_string()),
    }
}

fn timeouts(value: &Value) -> Timeouts {
    Timeouts::from_value(value.get("timeouts").filter(|t| !t.is_null()), &schema::DEFAULT_TIMEOUTS)
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

impl CsiNodeIdentity {
    /// Plans the part names (`role_name`, ...) from `name` where the configuration leaves them out.
    fn plan_names(plan: &mut PlanContext<'_>) {
        let name = plan.config.get("name").cloned().unwrap_or(Value::Null);
        for attribute in ["role_name", "policy_name", "instance_profile_name"] {
            if plan.config.get(attribute).is_none_or(Value::is_null) {
                plan.set(attribute, name.clone());
            }
        }
        let role_name = plan.planned.get("role_name").cloned().unwrap_or(Value::Unknown);
        if plan.is_create() || plan.prior.get("role_name") != Some(&role_name) {
            plan.set("id", role_name);
        }
    }

    /// Plans the default policy document, keeping the prior text when it means the same.
    fn plan_policy(plan: &mut PlanContext<'_>) {
        if !plan.config.get("policy_json").is_none_or(Value::is_null) {
            return;
        }
        let default = default_policy_json();
        let prior = plan.prior.get("policy_json").and_then(Value::as_str).unwrap_or_default();
        let value = if ops::json_equal(prior, &default) { prior.to_string() } else { default };
        plan.set("policy_json", Value::string(value));
    }

    /// Keeps the prior `associations` when the instances and how they are associated do not change.
    fn plan_associations(plan: &mut PlanContext<'_>) {
        if plan.is_create() {
            return;
        }
        let same = ["instance_ids", "instance_profile_name", "replace_existing_association"]
            .iter()
            .all(|a| plan.prior.get(a) == plan.planned.get(a));
        if same {
            let prior = plan.prior.get("associations").cloned().unwrap_or(Value::Null);
            plan.set("associations", prior);
        }
    }

    /// Plan-time checks against EC2, read-only, for the instances this plan adds: an instance that
    /// does not exist or is terminated (an error, so nothing is created for a typo), an instance that
    /// already has another profile (an error unless replacing is allowed), and a disabled metadata
    /// endpoint, which keeps the driver from getting credentials (a warning).
    async fn check_instances(ctx: &Ctx, plan: &mut PlanContext<'_>) {
        let Ok(provider) = ctx.provider() else { return };
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
        if replace == Some(false) {
            if let Some(suffix) = &profile_suffix {
                match instances::list_associations(ec2, Some(&added)).await {
                    Ok(found) => {
                        for association in found.iter().filter(|a| !a.profile_arn.ends_with(suffix.as_str())) {
                            plan.diags.error_at(
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
                    Err(e) => plan.diags.extend(e.to_diagnostics("Error Checking EC2 Instance Profile Associations")),
                }
            }
        }
        let instances = match instances::describe_node_instances(ec2, &added).await {
            Ok(found) => found,
            Err(e) => {
                plan.diags.extend(e.to_diagnostics("Error Reading EC2 Instances"));
                return;
            }
        };
        let unusable = unusable_instances(&added, &instances);
        if !unusable.is_empty() {
            plan.diags.error_at(
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
            plan.diags.warning_at(
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

    /// Plan-time check, read-only: every policy this plan adds to `additional_policy_arns` exists
    /// (IAM GetPolicy), so a wrong ARN fails here instead of after the role was made.
    async fn check_additional_policies(ctx: &Ctx, plan: &mut PlanContext<'_>) {
        let Ok(provider) = ctx.provider() else { return };
        let Some(planned) = known_strings(plan.planned.get("additional_policy_arns")) else {
            return;
        };
        let prior = known_strings(plan.prior.get("additional_policy_arns")).unwrap_or_default();
        let mut missing = Vec::new();
        for arn in planned.difference(&prior) {
            match iam::find_policy_by_arn(&provider.aws.iam, arn).await {
                Ok(Some(_)) => {}
                Ok(None) => missing.push(arn.clone()),
                Err(e) => {
                    plan.diags.extend(e.to_diagnostics("Error Reading IAM Policies"));
                    return;
                }
            }
        }
        if !missing.is_empty() {
            plan.diags.error_at(
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

#[async_trait]
impl Resource for CsiNodeIdentity {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn identity(&self) -> Option<Identity> {
        Some(Identity { attribute: "role_name", description: "The IAM role name, the same as the import id." })
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        // An empty block would read as "manage the metadata options" while changing nothing.
        if let Some(options) = config.get("metadata_options").filter(|m| !m.is_null() && m.is_known()) {
            let set = |name: &str| options.get(name).is_some_and(|v| !v.is_null());
            if !set("http_tokens") && !set("http_put_response_hop_limit") {
                diags.error_at(
                    AttributePath::root("metadata_options"),
                    "Empty Metadata Options",
                    "metadata_options sets nothing: set http_put_response_hop_limit (1 keeps the credentials from \
                     every pod off the host network) and/or http_tokens (\"required\": IMDSv2 only), or remove the \
                     block.",
                );
            }
        }
    }

    async fn modify_plan(&self, ctx: &Ctx, plan: &mut PlanContext<'_>) {
        if plan.is_destroy() {
            return;
        }
        Self::plan_names(plan);
        Self::plan_policy(plan);
        // Always the one trust policy: a refreshed state that differs (edited outside Terraform) shows as a change.
        plan.set("assume_role_policy", Value::string(ops::TRUST_POLICY));
        match ctx.provider() {
            Ok(provider) => plan_tags_all(plan, &provider.default_tags),
            Err(_) => plan.set("tags_all", Value::Unknown),
        }
        Self::plan_associations(plan);
        Self::check_instances(ctx, plan).await;
        Self::check_additional_policies(ctx, plan).await;
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, _config: &Value) -> ApplyOutcome {
        let provider = match ctx.provider() {
            Ok(p) => p,
            Err(diags) => return ApplyOutcome::failed(Value::Null, diags),
        };
        let model = Model::from_value(planned);
        let deadline = timeouts(planned).create;
        let mut owned = ops::Owned::default();
        let created = crate::aws::wait::with_deadline(
            &format!("creating {TYPE_NAME} {}", model.role_name),
            deadline,
            &ctx.cancel,
            async { Ok(ops::create(&provider.aws, &model, &mut owned, &ctx.cancel).await) },
        )
        .await
        .unwrap_or_else(|e| Err(StepError::from(e)));
        if let Err(error) = created {
            let mut diags = step_diagnostics(&error, "Error Creating EFS CSI Node Identity");
            // Nothing may be left behind that the state does not know: undo, or return what is left.
            return match ops::teardown(&provider.aws, &owned, schema::DEFAULT_TIMEOUTS.delete, &ctx.cancel).await {
                Ok(()) => ApplyOutcome::failed(Value::Null, diags),
                Err(cleanup) => {
                    diags.extend(cleanup.to_diagnostics("Error Cleaning Up After A Failed Create"));
                    let mut partial = model.clone();
                    partial.policy_arn = owned.policy_arn.clone().unwrap_or_default();
                    partial.instance_profile_arn = owned.profile.clone().map(|p| p.1).unwrap_or_default();
                    partial.associations.clear();
                    ApplyOutcome::failed(partial.to_value(), diags)
                }
            };
        }
        match ops::refresh(&provider.aws, &model, &provider.default_tags).await {
            Ok(Some(state)) => ApplyOutcome::ok(state.to_value()),
            Ok(None) => ApplyOutcome::failed(
                Value::Null,
                Diagnostics::from_error(
                    "Error Creating EFS CSI Node Identity",
                    format!(
                        "The IAM Role {} or its instance profile disappeared right after creation.",
                        model.role_name
                    ),
                ),
            ),
            Err(e) => ApplyOutcome::failed(model.to_value(), e.to_diagnostics("Error Reading EFS CSI Node Identity")),
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &Private) -> ReadOutcome {
        let provider = match ctx.provider() {
            Ok(p) => p,
            Err(diags) => return ReadOutcome { state: state.clone(), private: private.clone(), diags },
        };
        match ops::refresh(&provider.aws, &Model::from_value(state), &provider.default_tags).await {
            Ok(found) => ReadOutcome {
                state: found.map(|m| m.to_value()).unwrap_or(Value::Null),
                private: private.clone(),
                diags: Diagnostics::new(),
            },
            Err(e) => ReadOutcome {
                state: state.clone(),
                private: private.clone(),
                diags: e.to_diagnostics("Error Reading EFS CSI Node Identity"),
            },
        }
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        _config: &Value,
        private: &Private,
    ) -> ApplyOutcome {
        let provider = match ctx.provider() {
            Ok(p) => p,
            Err(diags) => return ApplyOutcome::failed(prior.clone(), diags),
        };
        let (before, after) = (Model::from_value(prior), Model::from_value(planned));
        let deadline = timeouts(planned).update;
        let result = crate::aws::wait::with_deadline(
            &format!("updating {TYPE_NAME} {}", before.role_name),
            deadline,
            &ctx.cancel,
            async { Ok(ops::update(&provider.aws, &before, &after, deadline, &ctx.cancel).await) },
        )
        .await
        .unwrap_or_else(|e| Err(StepError::from(e)));
        let mut diags = match &result {
            Ok(()) => Diagnostics::new(),
            Err(e) => step_diagnostics(e, "Error Updating EFS CSI Node Identity"),
        };
        // Whether or not every step worked, the state is what AWS now has.
        let mut basis = after.clone();
        basis.role_arn = before.role_arn.clone();
        basis.instance_profile_arn = before.instance_profile_arn.clone();
        basis.policy_arn = before.policy_arn.clone();
        let state = match ops::refresh(&provider.aws, &basis, &provider.default_tags).await {
            Ok(Some(m)) => m.to_value(),
            Ok(None) => Value::Null,
            Err(e) => {
                diags.extend(e.to_diagnostics("Error Reading EFS CSI Node Identity"));
                prior.clone()
            }
        };
        ApplyOutcome { state, private: private.clone(), diags }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, _private: &Private) -> Diagnostics {
        let provider = match ctx.provider() {
            Ok(p) => p,
            Err(diags) => return diags,
        };
        let model = Model::from_value(prior);
        let deadline = timeouts(prior).delete;
        let result = async {
            let owned = ops::owned_from_state(&provider.aws, &model).await?;
            ops::teardown(&provider.aws, &owned, deadline, &ctx.cancel).await
        }
        .await;
        match result {
            Ok(()) => Diagnostics::new(),
            Err(e) => e.to_diagnostics("Error Deleting EFS CSI Node Identity"),
        }
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> Result<Value, Diagnostics> {
        let provider = ctx.provider()?;
        let iam_client = &provider.aws.iam;
        let fail = |e: crate::error::Error| e.to_diagnostics("Error Importing EFS CSI Node Identity");
        let not_importable = |detail: String| Diagnostics::from_error("Cannot Import EFS CSI Node Identity", detail);
        let role = iam::find_role_by_name(iam_client, id).await.map_err(fail)?.ok_or_else(|| {
            not_importable(format!("IAM Role {id:?} does not exist. The import id is the role name."))
        })?;
        let profiles = iam::list_instance_profiles_for_role(iam_client, id).await.map_err(fail)?;
        let profile_name = profiles
            .first()
            .cloned()
            .ok_or_else(|| not_importable(format!("IAM Role {id} is in no instance profile.")))?;
        // The node policy is the customer-managed policy attached to the role: the one this provider
        // tagged, else the one named like the role, else the only one.
        let mut local = Vec::new();
        for arn in iam::list_attached_role_policies(iam_client, id).await.map_err(fail)? {
            if !arn.contains(":iam::aws:policy/") {
                if let Some(policy) = iam::find_policy_by_arn(iam_client, &arn).await.map_err(fail)? {
                    local.push(policy);
                }
            }
        }
        let ownership = ops::ownership_value(id);
        let policy = local
            .iter()
            .find(|p| p.tags.get(MANAGED_BY_TAG) == Some(&ownership))
            .or_else(|| local.iter().find(|p| p.name == id))
            .or_else(|| if local.len() == 1 { local.first() } else { None })
            .ok_or_else(|| {
                not_importable(format!(
                    "IAM Role {id} must have exactly one customer-managed policy attached (the node policy), or one \
                     named {id}; found {}.",
                    local.len()
                ))
            })?;
        let model = Model {
            name: id.to_string(),
            role_name: id.to_string(),
            policy_name: policy.name.clone(),
            instance_profile_name: profile_name,
            path: role.path.clone(),
            policy_arn: policy.arn.clone(),
            role_arn: role.arn.clone(),
            ..Model::default()
        };
        Ok(model.to_value())
    }
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
