//! Resource `efs_csi_node_identity`: the IAM identity of the nodes that run the aws-efs-csi-driver
//! on a self-managed cluster (role trusted by EC2, managed policy, instance profile, and the
//! profile's association with every node instance).
//!
//! Layout, as `efs_prometheus_volume`: `schema` (attributes and their defaults), `model` (the typed
//! model), `checks` (plan-time checks against AWS), `ops` (the AWS work), and here the
//! [`Resource`] impl that ties them together.
//!
//! Ownership (the contract is in `resources::ownership`): the role, the policy and the instance
//! profile carry the instance's `owner_id`. A create adopts one of its names only when it carries
//! that owner id; a role, policy or profile of another state, or one made by hand, is refused at plan
//! (at `role_name`, `policy_name` or `instance_profile_name`) and again at apply before anything
//! changes, naming it and the import that takes it over. Destroy deletes nothing when any of them
//! carries another owner id.
//!
//! The manual setup with one profile per node (`for_efs_instance_profile`,
//! `for_efs_instance_profile_worker1`, ..., each holding the same role) imports by role name: import
//! takes one of those profiles as the resource's (see [`choose_profile`]), and the plan moves the other
//! nodes to it in place (ReplaceIamInstanceProfileAssociation), with a warning that names the
//! profiles left over and how to delete them. Destroy takes the role out of those leftover profiles
//! (IAM deletes no role a profile holds) but leaves the profiles, which are not the resource's.

mod checks;
mod model;
mod ops;
pub(crate) mod schema;

use async_trait::async_trait;

use self::model::Model;
use self::ops::StepError;
use self::schema::{defaults, TYPE_NAME};
use crate::aws::iam;
use crate::aws::policy::{csi_driver_policy, PolicyOptions};
use crate::framework::json;
use crate::framework::timeouts::Timeouts;
use crate::framework::{
    ApplyOutcome, AttributePath, Ctx, Diagnostics, Identity, PlanContext, Private, ReadOutcome, Resource, Schema, Value,
};
use crate::provider_config::ProviderData;
use crate::resources::ownership;
use crate::resources::tags::{plan_tags_all, MANAGED_BY_TAG};

pub struct CsiNodeIdentity;

/// The instance profile an import takes as the resource's, among those holding the role: the one
/// this provider tagged for the role, else the one named like the role, else the one whose name
/// every other one extends (`for_efs_instance_profile` beside `for_efs_instance_profile_worker1`),
/// else the first. The others are left over: the plan moves their nodes to this one.
fn choose_profile(role: &str, profiles: &[iam::InstanceProfileInfo]) -> Option<String> {
    let ownership = ops::ownership_value(role);
    let common_prefix = profiles.iter().find(|p| profiles.iter().all(|o| o.name.starts_with(&p.name)));
    profiles
        .iter()
        .find(|p| p.tags.get(MANAGED_BY_TAG) == Some(&ownership))
        .or_else(|| profiles.iter().find(|p| p.name == role))
        .or(common_prefix)
        .or_else(|| profiles.first())
        .map(|p| p.name.clone())
}

/// The default policy: the `efs_csi_driver_iam_policy` document with dynamic provisioning, in the
/// form `jsonencode()` writes, which is also how a read stores a document it did not write: an
/// imported identity then has the same state as one this provider created.
fn default_policy_json() -> String {
    let document = csi_driver_policy(&PolicyOptions { dynamic_provisioning: true, ..Default::default() }).to_string();
    json::jsonencode_form(&document).unwrap_or(document)
}

fn step_diagnostics(error: &StepError, summary: &str) -> Diagnostics {
    match error {
        StepError::AlreadyAssociated { .. } => {
            Diagnostics::from_error_at(AttributePath::root("instance_ids"), summary, error.to_string())
        }
        StepError::Aws(crate::error::Error::NotOwned { attribute, .. }) => {
            Diagnostics::from_error_at(AttributePath::root(attribute), summary, error.to_string())
        }
        _ => Diagnostics::from_error(summary, error.to_string()),
    }
}

/// The key, in the resource's private data, of the node policy's default version when last seen:
/// the next refresh reads that version's document while it reads the policy (see [`ops::refresh`]).
const PRIVATE_POLICY_VERSION: &str = "policy_version";

/// `private` with the policy version set, or removed when unknown.
fn with_policy_version(private: &Private, version: Option<&str>) -> Private {
    let mut private = private.clone();
    match version {
        Some(version) => private.insert(PRIVATE_POLICY_VERSION.to_string(), serde_json::Value::from(version)),
        None => private.remove(PRIVATE_POLICY_VERSION),
    };
    private
}

/// What a create of this process wrote to these IAM objects, or a refresh read of them, no longer
/// holds once anything else of this process reads or changes them (see [`crate::aws::seen`]).
fn forget_seen(provider: &ProviderData, model: &Model) {
    provider.aws.seen.forget_identity(&model.role_name, &model.instance_profile_name, &model.policy_arn);
}

fn timeouts(value: &Value) -> Timeouts {
    Timeouts::from_value(value.get("timeouts").filter(|t| !t.is_null()), &schema::DEFAULT_TIMEOUTS)
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
        // A role deleted outside Terraform (or by a destroy interrupted after DeleteRole) reads back
        // without an ARN: the update makes it again, under an ARN known only then.
        let prior_arn = plan.prior.get("role_arn").and_then(Value::as_str).unwrap_or_default();
        if !plan.is_create() && prior_arn.is_empty() {
            plan.set("role_arn", Value::Unknown);
        }
    }

    /// Plans the default policy document, keeping the prior text when it means the same.
    fn plan_policy(plan: &mut PlanContext<'_>) {
        // A policy deleted outside Terraform (or by a destroy interrupted after DeletePolicy) reads
        // back without an ARN: the update makes it again, under an ARN known only then.
        let prior_arn = plan.prior.get("policy_arn").and_then(Value::as_str).unwrap_or_default();
        if !plan.is_create() && prior_arn.is_empty() {
            plan.set("policy_arn", Value::Unknown);
        }
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
        // A profile gone from AWS reads back without an ARN: the update makes it again.
        let prior_arn = plan.prior.get("instance_profile_arn").and_then(Value::as_str).unwrap_or_default();
        if prior_arn.is_empty() {
            plan.set("instance_profile_arn", Value::Unknown);
        }
        let same = ["instance_ids", "instance_profile_name", "replace_existing_association"]
            .iter()
            .all(|a| plan.prior.get(a) == plan.planned.get(a));
        if same {
            let prior = plan.prior.get("associations").cloned().unwrap_or(Value::Null);
            plan.set("associations", prior);
        }
    }
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
        ownership::plan_owner_id(plan, TYPE_NAME);
        // Always the one trust policy: a refreshed state that differs (edited outside Terraform) shows as a change.
        plan.set("assume_role_policy", Value::string(ops::TRUST_POLICY));
        let provider = ProviderData::from_ctx(ctx).ok();
        match &provider {
            Some(provider) => plan_tags_all(plan, &provider.default_tags),
            None => plan.set("tags_all", Value::Unknown),
        }
        Self::plan_associations(plan);
        if let Some(provider) = &provider {
            checks::check(provider, plan).await;
        }
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, _config: &Value) -> ApplyOutcome {
        let provider = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return ApplyOutcome::failed(Value::Null, diags),
        };
        provider.aws.seen.changing();
        let model = Model::from_value(planned);
        let deadline = timeouts(planned).create;
        let mut owned = ops::Owned::default();
        let made = crate::aws::wait::with_deadline(
            &format!("creating {TYPE_NAME} {}", model.role_name),
            deadline,
            &ctx.cancel,
            async { Ok(ops::create(&provider.aws, &model, &mut owned, deadline, &ctx.cancel).await) },
        )
        .await
        .unwrap_or_else(|e| Err(StepError::from(e)));
        let created = match made {
            Ok(created) => created,
            Err(error) => {
                let mut diags = step_diagnostics(&error, "Error Creating EFS CSI Node Identity");
                // Nothing may be left behind that the state does not know: undo, or return what is left.
                return match ops::teardown(&provider.aws, &owned, schema::DEFAULT_TIMEOUTS.delete, &ctx.cancel).await {
                    Ok(_) => ApplyOutcome::failed(Value::Null, diags),
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
        };
        let made = created.state(&model, &owned);
        if let Some(written) = created.written(&model, &owned) {
            provider.aws.seen.remember_identity(written);
        }
        if !created.adopted {
            return ApplyOutcome {
                state: made.to_value(),
                private: with_policy_version(&Private::new(), created.policy_version.as_deref()),
                diags: Diagnostics::new(),
            };
        }
        // An adopted object may hold what an earlier attempt wrote: read it back (the policy by
        // the ARN the create answered, not by listing).
        match ops::refresh_after_write(&provider.aws, &made, &provider.default_tags, &ctx.cancel).await {
            Ok(found) => ApplyOutcome {
                state: found.model.to_value(),
                private: with_policy_version(&Private::new(), found.policy_version.as_deref()),
                diags: Diagnostics::new(),
            },
            // What was made stays in the state (tainted), so destroy or the next apply removes it.
            Err(e) => ApplyOutcome::failed(made.to_value(), e.to_diagnostics("Error Reading EFS CSI Node Identity")),
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &Private) -> ReadOutcome {
        let provider = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return ReadOutcome { state: state.clone(), private: private.clone(), diags },
        };
        let model = Model::from_value(state);
        forget_seen(&provider, &model);
        let known_version = private.get(PRIVATE_POLICY_VERSION).and_then(|v| v.as_str());
        match ops::refresh(&provider.aws, &model, &provider.default_tags, known_version).await {
            Ok(Some(found)) => ReadOutcome {
                state: found.model.to_value(),
                private: with_policy_version(private, found.policy_version.as_deref()),
                diags: Diagnostics::new(),
            },
            Ok(None) => ReadOutcome { state: Value::Null, private: private.clone(), diags: Diagnostics::new() },
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
        let provider = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return ApplyOutcome::failed(prior.clone(), diags),
        };
        let (before, after) = (Model::from_value(prior), Model::from_value(planned));
        provider.aws.seen.changing();
        forget_seen(&provider, &before);
        let deadline = timeouts(planned).update;
        // A refusal comes before anything is written: the state stays as it was.
        let held = match ops::held_parts(&provider.aws, &before).await {
            Ok(held) => held,
            Err(e) => {
                return ApplyOutcome::failed(
                    prior.clone(),
                    step_diagnostics(&StepError::from(e), "Error Updating EFS CSI Node Identity"),
                )
            }
        };
        let result = crate::aws::wait::with_deadline(
            &format!("updating {TYPE_NAME} {}", before.role_name),
            deadline,
            &ctx.cancel,
            async { Ok(ops::update(&provider.aws, &before, &after, held, deadline, &ctx.cancel).await) },
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
        let (state, private) =
            match ops::refresh_after_write(&provider.aws, &basis, &provider.default_tags, &ctx.cancel).await {
                Ok(found) => (found.model.to_value(), with_policy_version(private, found.policy_version.as_deref())),
                Err(e) => {
                    diags.extend(e.to_diagnostics("Error Reading EFS CSI Node Identity"));
                    // The policy may have a new default version: the next refresh reads it as it is.
                    (prior.clone(), with_policy_version(private, None))
                }
            };
        ApplyOutcome { state, private, diags }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, _private: &Private) -> Diagnostics {
        let provider = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return diags,
        };
        let model = Model::from_value(prior);
        provider.aws.seen.changing();
        forget_seen(&provider, &model);
        let deadline = timeouts(prior).delete;
        let role = &model.role_name;
        let fail = |e: crate::error::Error| e.to_diagnostics("Error Deleting EFS CSI Node Identity");
        // The checks and the lookup of what to delete only read, so they run at once; another
        // state's objects are reported first.
        let (before, inline) =
            tokio::join!(ops::before_destroy(&provider.aws, &model), ops::inline_policies(&provider.aws, role));
        let (foreign, owned) = match before {
            Ok(found) => found,
            Err(e) => return fail(e),
        };
        let mut diags = Diagnostics::new();
        if !foreign.is_empty() {
            let done = if owned.is_empty() {
                "Destroy removed the resource from this state only, and deleted nothing in AWS."
            } else {
                "Destroy left them in place and deleted the rest of the resource."
            };
            diags.warning("IAM Objects Of Another Owner Left In Place", format!("{}. {done}", foreign.join("; ")));
            if owned.is_empty() {
                return diags;
            }
        }
        match inline {
            // Another owner's role keeps its inline policies: it is not deleted.
            Ok(_) if owned.role_name.is_none() => {}
            Ok(inline) if !inline.is_empty() => {
                let names = inline.join(", ");
                diags.error(
                    "Cannot Delete EFS CSI Node Identity",
                    format!(
                        "IAM Role {role} has inline policies this resource did not create: {names}. IAM refuses to \
                         delete a role that has any, and nothing was deleted. Delete them (aws iam delete-role-policy \
                         --role-name {role} --policy-name NAME), or move their permissions to a managed policy listed \
                         in additional_policy_arns, then destroy again."
                    ),
                );
                return diags;
            }
            Ok(_) => {}
            Err(e) => {
                diags.extend(fail(e));
                return diags;
            }
        }
        match ops::teardown(&provider.aws, &owned, deadline, &ctx.cancel).await {
            Ok(others) if !others.is_empty() => {
                diags.warning(
                    "IAM Role Removed From Other Instance Profiles",
                    format!(
                        "IAM Role {role} was also in instance profiles this resource did not create: {}. IAM deletes \
                         a role only once no instance profile holds it, so it was removed from them (the profiles \
                         themselves stay); instances using them lose these credentials.",
                        others.join(", ")
                    ),
                );
            }
            Ok(_) => {}
            Err(e) => diags.extend(fail(e)),
        }
        diags
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> Result<Value, Diagnostics> {
        let provider = ProviderData::from_ctx(ctx)?;
        let iam_client = &provider.aws.iam;
        let fail = |e: crate::error::Error| e.to_diagnostics("Error Importing EFS CSI Node Identity");
        let not_importable = |detail: String| Diagnostics::from_error("Cannot Import EFS CSI Node Identity", detail);
        let role = iam::find_role_by_name(iam_client, id).await.map_err(fail)?.ok_or_else(|| {
            not_importable(format!("IAM Role {id:?} does not exist. The import id is the role name."))
        })?;
        let profiles = iam::list_instance_profiles_for_role(iam_client, id).await.map_err(fail)?;
        let mut infos = Vec::new();
        for name in &profiles {
            infos.extend(iam::find_instance_profile_by_name(iam_client, name).await.map_err(fail)?);
        }
        let profile_name = choose_profile(id, &infos)
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
            replace_existing_association: defaults::REPLACE_EXISTING_ASSOCIATION,
            ..Model::default()
        };
        Ok(model.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, tags: &[(&str, &str)]) -> iam::InstanceProfileInfo {
        iam::InstanceProfileInfo {
            name: name.into(),
            arn: format!("arn:aws:iam::123456789012:instance-profile/{name}"),
            role_names: vec!["role".into()],
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn import_takes_the_marked_then_the_role_named_then_the_common_prefix_profile() {
        let manual = [
            profile("for_efs_instance_profile_worker1", &[]),
            profile("for_efs_instance_profile", &[]),
            profile("for_efs_instance_profile_worker2", &[]),
        ];
        assert_eq!(choose_profile("for_efs_role", &manual).as_deref(), Some("for_efs_instance_profile"));
        let named = [profile("a", &[]), profile("for_efs_role", &[])];
        assert_eq!(choose_profile("for_efs_role", &named).as_deref(), Some("for_efs_role"));
        let mark = ops::ownership_value("r");
        let marked = [profile("r", &[]), profile("mine", &[(MANAGED_BY_TAG, &mark)])];
        assert_eq!(choose_profile("r", &marked).as_deref(), Some("mine"));
        let unrelated = [profile("b", &[]), profile("c", &[])];
        assert_eq!(choose_profile("r", &unrelated).as_deref(), Some("b"));
        assert_eq!(choose_profile("r", &[]), None);
    }
}
