//! Resource `efs_prometheus_volume`: an EFS file system with mount targets, a security group, an
//! access point and a TLS policy, prepared as the TSDB volume of one Prometheus server, plus the
//! Kubernetes manifests and Helm values that use it.
//!
//! Crash safety: the file system's creation token comes from `name`, so a retried create finds
//! the file system it made before instead of making a second one. A failed create returns state
//! for everything it made, so Terraform taints it and the next apply or destroy removes it.
//!
//! Ownership (the contract is in `resources::ownership`): the file system, security group and access
//! point carry the instance's `owner_id`. A create adopts a file system with its creation token only
//! when it carries that owner id; one of another state, or one made by hand, is refused at plan
//! (attribute `name`) and again at apply before anything changes, naming the file system and the
//! import that takes it over. Destroy leaves a file system of another owner alone.
//!
//! Layout, as `csi_node_identity`: `schema` (attributes and their defaults), `model` (typed
//! arguments and observed ids), `checks` (plan-time checks against AWS), `ops` (the AWS work),
//! `manifests` (the rendered outputs), and here the [`Resource`] impl that ties them together.

mod checks;
pub mod manifests;
pub mod model;
mod ops;
pub mod schema;

use async_trait::async_trait;

use self::model::{Observed, VolumeArgs};
use self::ops::write_rendered;
use self::schema::TYPE_NAME;
use crate::framework::timeouts::Timeouts;
use crate::framework::{
    ApplyOutcome, AttributePath, Ctx, Diagnostics, Identity, PlanContext, Private, ReadOutcome, Resource, Schema, Value,
};
use crate::provider_config::ProviderData;
use crate::resources::{ownership, tags};

pub struct PrometheusVolume;

/// What a create of this process wrote to this file system, or a refresh read of it, no longer holds
/// once anything else of this process reads or changes it (see [`crate::aws::seen`]).
fn forget_seen(provider: &ProviderData, state: &Value) {
    if let Some(fs_id) = state.get("file_system_id").and_then(Value::as_str) {
        provider.aws.seen.forget_volume(fs_id);
    }
}

fn timeouts_of(value: &Value) -> Timeouts {
    Timeouts::from_value(value.get("timeouts"), &schema::DEFAULT_TIMEOUTS)
}

impl PrometheusVolume {
    /// Warns when the plan replaces the file system: the attributes are the schema's
    /// `RequiresReplace` ones that change, as Terraform is told.
    fn warn_replacement(plan: &mut PlanContext<'_>) {
        let replacing: Vec<String> = plan.replacing().iter().map(AttributePath::to_string).collect();
        if !replacing.is_empty() {
            plan.diags.warning(
                "Replacing The File System Deletes The Prometheus Data",
                format!(
                    "Changing {} needs a new EFS file system: the old one, with all the Prometheus data on it, is deleted. \
                     Keep the old values, or copy the data (for example with AWS Backup or DataSync) before applying.",
                    replacing.join(", ")
                ),
            );
        }
    }

    /// A state without a file system (refresh found it gone, and the security group this resource
    /// made still there): the volume is replaced, so the group is deleted with the rest and a new
    /// volume made.
    fn plan_lost_file_system(plan: &mut PlanContext<'_>) {
        // The CLI replaces only for a path whose value changes: the new file system's id is unknown.
        plan.set("file_system_id", Value::Unknown);
        plan.requires_replace.push(AttributePath::root("file_system_id"));
        let group = plan.prior.get("security_group_id").and_then(Value::as_str).unwrap_or("its security group");
        plan.diags.warning(
            "EFS File System Gone",
            format!(
                "The volume's EFS file system no longer exists (deleted outside Terraform, and the Prometheus data \
                 with it). The volume is replaced: its security group {group} is deleted and a new file system, \
                 mount targets, security group and access point are made."
            ),
        );
    }

    /// Warns when an update leaves provisioned throughput or lowers it: EFS allows that only 24
    /// hours after moving to provisioned throughput or raising it, and refuses it earlier.
    fn warn_throughput_change(plan: &mut PlanContext<'_>) {
        let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        let mibps = |v: &Value| v.get("provisioned_throughput_in_mibps").and_then(Value::as_f64);
        let (before, after) = (text(plan.prior, "throughput_mode"), text(&plan.planned, "throughput_mode"));
        let leaves_provisioned = before.as_deref() == Some("provisioned") && after.is_some() && after != before;
        let lowers =
            before == after && matches!((mibps(plan.prior), mibps(&plan.planned)), (Some(a), Some(b)) if b < a);
        if leaves_provisioned || lowers {
            plan.diags.warning_at(
                AttributePath::root(if lowers { "provisioned_throughput_in_mibps" } else { "throughput_mode" }),
                "Throughput Change Limited To Once A Day",
                "EFS refuses to move a file system away from provisioned throughput, or to lower its provisioned \
                 throughput, within 24 hours of moving it to provisioned throughput or raising it. If that was less \
                 than 24 hours ago, the apply fails with TooManyRequests for this change: apply again once the 24 \
                 hours have passed.",
            );
        }
    }

    /// Warns where `backup` (true by default) asks for AWS Backup in a region that has none: the
    /// file system is made, and has no automatic backups there.
    fn warn_backup_region(plan: &mut PlanContext<'_>, region: &str) {
        let backup = plan.planned.get("backup").and_then(Value::as_bool) != Some(false);
        if backup && crate::aws::efs::REGIONS_WITHOUT_AWS_BACKUP.contains(&region) {
            plan.diags.warning_at(
                AttributePath::root("backup"),
                "AWS Backup Not Available In This Region",
                format!(
                    "backup = true (the default) turns on EFS's automatic backups, which AWS Backup makes, and AWS \
                     Backup has no endpoint in {region}: the file system gets no backups there. Set backup = false to \
                     say so, and back up the Prometheus data another way (e.g. a copy to another region)."
                ),
            );
        }
    }

    /// Keeps the prior ids of the parts an update leaves in place, and plans unknown the ones it
    /// makes anew.
    fn plan_part_ids(plan: &mut PlanContext<'_>) {
        let planned = plan.planned.clone();
        // The access point keeps its id unless it is replaced, or recreated after an
        // out-of-band deletion (read then left its id null).
        let ap_replaced = plan.prior.get("access_point_id").is_none_or(Value::is_null)
            || planned.get("access_point") != plan.prior.get("access_point");
        for name in ["access_point_id", "access_point_arn"] {
            let value = if ap_replaced { Value::Unknown } else { plan.prior.get(name).cloned().unwrap_or(Value::Null) };
            plan.set(name, value);
        }
        let prior_for_mts = plan.prior.get("subnet_ids");
        if prior_for_mts != planned.get("subnet_ids") {
            plan.set("mount_targets", Value::Unknown);
        } else if let Some(mts) = plan.prior.get("mount_targets") {
            plan.set("mount_targets", mts.clone());
        }
        let prior_sg = plan.prior.get("security_group_id").cloned().unwrap_or(Value::Null);
        let creates_own = planned.get("security_group_ids").is_none_or(Value::is_null);
        let sg = if planned.get("security_group_ids") != plan.prior.get("security_group_ids")
            || creates_own && prior_sg.is_null()
        {
            Value::Unknown
        } else {
            prior_sg
        };
        plan.set("security_group_id", sg);
    }

    /// Plans the rendered manifests and Helm values: known where their inputs are, unknown otherwise.
    fn plan_rendered(plan: &mut PlanContext<'_>) {
        let args = VolumeArgs::from_value(&plan.planned);
        let fs = plan.planned.get("file_system_id").and_then(Value::as_str).map(str::to_string);
        let ap = plan.planned.get("access_point_id").and_then(Value::as_str).map(str::to_string);
        let inputs_known = plan.planned.get("kubernetes").is_some_and(Value::is_known)
            && plan.planned.get("access_point").is_some_and(Value::is_known);
        if inputs_known {
            let mut planned = plan.planned.clone();
            write_rendered(&mut planned, &args, fs.as_deref(), ap.as_deref(), true);
            plan.planned = planned;
        } else {
            for name in [
                "volume_handle",
                "storage_class_manifest",
                "persistent_volume_manifest",
                "persistent_volume_claim_manifest",
                "prometheus_helm_values",
                "csi_driver_helm_values",
            ] {
                plan.set(name, Value::Unknown);
            }
        }
    }
}

#[async_trait]
impl Resource for PrometheusVolume {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn identity(&self) -> Option<Identity> {
        Some(Identity {
            attribute: "file_system_id",
            description: "The EFS file system id (`fs-...`), the same as the import id.",
        })
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let is_set = |name: &str| config.get(name).is_some_and(|v| !v.is_null());
        let mode = config.get("throughput_mode").and_then(Value::as_str);
        let mibps = config.get("provisioned_throughput_in_mibps");
        if mode == Some("provisioned") && !is_set("provisioned_throughput_in_mibps") {
            diags.error_at(
                AttributePath::root("provisioned_throughput_in_mibps"),
                "Missing Provisioned Throughput",
                "throughput_mode = \"provisioned\" needs provisioned_throughput_in_mibps: set it (1 to 3414 MiB/s), or choose another throughput_mode.",
            );
        }
        if is_set("provisioned_throughput_in_mibps")
            && mibps.is_some_and(Value::is_known)
            && mode.is_some_and(|m| m != "provisioned")
            || is_set("provisioned_throughput_in_mibps") && config.get("throughput_mode").is_some_and(Value::is_null)
        {
            diags.error_at(
                AttributePath::root("provisioned_throughput_in_mibps"),
                "Throughput Without Provisioned Mode",
                "provisioned_throughput_in_mibps is only allowed with throughput_mode = \"provisioned\": remove it, or set throughput_mode = \"provisioned\".",
            );
        }
        if is_set("security_group_ids") {
            for name in ["allowed_security_group_ids", "allowed_cidr_blocks"] {
                if is_set(name) {
                    diags.error_at(
                        AttributePath::root(name),
                        "Conflicting Security Options",
                        format!("{name} configures the security group this resource creates; with security_group_ids set none is created. Use one or the other."),
                    );
                }
            }
        } else if !is_set("allowed_security_group_ids") && !is_set("allowed_cidr_blocks") {
            diags.error_at(
                AttributePath::root("allowed_security_group_ids"),
                "No NFS Access Configured",
                "Set allowed_security_group_ids (typically the nodes' security group) and/or allowed_cidr_blocks, or bring your own security_group_ids; otherwise nothing can mount the volume.",
            );
        }
        let performance = config.get("performance_mode").and_then(Value::as_str);
        let elastic = mode == Some("elastic") || config.get("throughput_mode").is_some_and(Value::is_null);
        if performance == Some("maxIO") && elastic {
            diags.error_at(
                AttributePath::root("performance_mode"),
                "Max I/O With Elastic Throughput",
                "EFS does not offer elastic throughput (throughput_mode's default) on maxIO file systems: keep \
                 performance_mode = \"generalPurpose\" (lower latency, which suits Prometheus), or set \
                 throughput_mode = \"bursting\" or \"provisioned\".",
            );
        }
        if config.get("encrypted").and_then(Value::as_bool) == Some(false) && is_set("kms_key_id") {
            diags.error_at(
                AttributePath::root("kms_key_id"),
                "KMS Key Without Encryption",
                "kms_key_id needs encrypted = true: set encrypted = true, or remove kms_key_id.",
            );
        }
        if let Some(subnets) = config.get("subnet_ids").and_then(Value::elements) {
            if subnets.is_empty() {
                diags.error_at(
                    AttributePath::root("subnet_ids"),
                    "No Subnets",
                    "Give at least one subnet for a mount target.",
                );
            }
        }
    }

    async fn modify_plan(&self, ctx: &Ctx, plan: &mut PlanContext<'_>) {
        if plan.is_destroy() {
            return;
        }
        let Ok(p) = ProviderData::from_ctx(ctx) else { return };
        tags::plan_tags_all(plan, &p.default_tags);
        ownership::plan_owner_id(plan, TYPE_NAME);
        checks::check(&p, plan).await;
        Self::warn_backup_region(plan, &p.region);
        if !plan.is_create() && plan.prior.get("file_system_id").is_none_or(Value::is_null) {
            Self::plan_lost_file_system(plan);
        } else if !plan.is_create() {
            Self::warn_throughput_change(plan);
            Self::warn_replacement(plan);
            Self::plan_part_ids(plan);
        }
        Self::plan_rendered(plan);
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, _config: &Value) -> ApplyOutcome {
        let p = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return ApplyOutcome::failed(Value::Null, diags),
        };
        p.aws.seen.changing();
        let args = VolumeArgs::from_value(planned);
        let timeout = timeouts_of(planned).create;
        let mut observed = Observed::default();
        let mut state = planned.clone().unknown_to_null();
        let made = match ops::create(&p.aws, &args, &mut observed, timeout, &ctx.cancel).await {
            Ok(made) => made,
            Err(e) => {
                // State for whatever exists, so Terraform taints it and destroy removes it.
                if observed.file_system_id.is_none() {
                    return ApplyOutcome::failed(Value::Null, e.to_diagnostics("Error Creating EFS Prometheus Volume"));
                }
                observed.write(&mut state, &p.region);
                write_rendered(&mut state, &args, None, None, false);
                return ApplyOutcome::failed(state, e.to_diagnostics("Error Creating EFS Prometheus Volume"));
            }
        };
        observed.write(&mut state, &p.region);
        if let (false, Some(fs_id)) = (made.adopted, &observed.file_system_id) {
            // The checks and the create looked the subnets up in this process.
            let vpc_id = p.aws.known.subnets(&args.subnet_ids).and_then(|s| s.first().map(|s| s.vpc_id.clone()));
            p.aws.seen.remember_volume(fs_id, ops::written(&args, &observed, vpc_id));
        }
        if !made.adopted {
            // Every part was made just now from these arguments, and each create's answer gave its
            // ids: the state is the plan with those ids and the key EFS chose, so nothing is read
            // back (a refresh would read eight parts to learn what the plan says).
            if let Value::Object(map) = &mut state {
                map.insert("kms_key_id".into(), ops::opt(ops::kms_key_id(planned, made.kms_key_id.as_deref())));
            }
            let (fs, ap) = (observed.file_system_id.as_deref(), observed.access_point_id.as_deref());
            write_rendered(&mut state, &args, fs, ap, false);
            return ApplyOutcome::ok(state);
        }
        match ops::refresh(&p.aws, &p.region, &state).await {
            Ok(fresh) if !fresh.is_null() => ApplyOutcome::ok(keep_configured(planned, fresh)),
            Ok(_) => ApplyOutcome::failed(
                state,
                Diagnostics::from_error(
                    "Error Creating EFS Prometheus Volume",
                    "The file system disappeared right after it was created.",
                ),
            ),
            Err(e) => ApplyOutcome::failed(state, e.to_diagnostics("Error Reading EFS Prometheus Volume")),
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, private: &Private) -> ReadOutcome {
        let p = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return ReadOutcome { state: state.clone(), private: private.clone(), diags },
        };
        forget_seen(&p, state);
        match ops::refresh(&p.aws, &p.region, state).await {
            Ok(next) => ReadOutcome { state: next, private: private.clone(), diags: Diagnostics::new() },
            Err(e) => ReadOutcome {
                state: state.clone(),
                private: private.clone(),
                diags: e.to_diagnostics("Error Reading EFS Prometheus Volume"),
            },
        }
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        _config: &Value,
        _private: &Private,
    ) -> ApplyOutcome {
        let p = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return ApplyOutcome::failed(prior.clone(), diags),
        };
        p.aws.seen.changing();
        forget_seen(&p, prior);
        let args = VolumeArgs::from_value(planned);
        let prior_args = VolumeArgs::from_value(prior);
        let mut observed = Observed::from_state(prior);
        let timeout = timeouts_of(planned).update;
        let result = ops::converge(&p.aws, &args, Some(&prior_args), &mut observed, timeout, &ctx.cancel).await;
        let mut state = planned.clone().unknown_to_null();
        observed.write(&mut state, &p.region);
        if let Err(e) = result {
            write_rendered(
                &mut state,
                &args,
                observed.file_system_id.as_deref(),
                observed.access_point_id.as_deref(),
                false,
            );
            return ApplyOutcome::failed(state, e.to_diagnostics("Error Updating EFS Prometheus Volume"));
        }
        match ops::refresh(&p.aws, &p.region, &state).await {
            Ok(fresh) if !fresh.is_null() => ApplyOutcome::ok(keep_configured(planned, fresh)),
            Ok(_) => ApplyOutcome::failed(
                state,
                Diagnostics::from_error("Error Updating EFS Prometheus Volume", "The file system no longer exists."),
            ),
            Err(e) => ApplyOutcome::failed(state, e.to_diagnostics("Error Reading EFS Prometheus Volume")),
        }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, _private: &Private) -> Diagnostics {
        let p = match ProviderData::from_ctx(ctx) {
            Ok(p) => p,
            Err(diags) => return diags,
        };
        p.aws.seen.changing();
        forget_seen(&p, prior);
        let timeout = timeouts_of(prior).delete;
        let owner = prior.get("owner_id").and_then(Value::as_str);
        let observed = Observed::from_state(prior);
        let before = match ops::BeforeDestroy::read(&p.aws, &observed).await {
            Ok(before) => before,
            Err(e) => return e.to_diagnostics("Error Deleting EFS Prometheus Volume"),
        };
        // Another owner's file system is left alone with everything on it, access points included.
        if let Some(other) = before.other_owner(owner) {
            let mut diags = Diagnostics::new();
            diags.warning(
                "File System Of Another Owner Left In Place",
                format!(
                    "EFS File System {} belongs to {}, not to this resource (owner id {}): destroy removed it \
                     from this state only, and deleted nothing in AWS.",
                    observed.file_system_id.as_deref().unwrap_or_default(),
                    other.describe(),
                    owner.unwrap_or("none"),
                ),
            );
            return diags;
        }
        let foreign = before.foreign_access_points(&observed);
        if !foreign.is_empty() {
            let fs_id = observed.file_system_id.clone().unwrap_or_default();
            return Diagnostics::from_error(
                "File System Holds Access Points Of Others",
                format!(
                    "EFS File System {fs_id} has access points this resource did not make: {}. With dynamic \
                     provisioning the aws-efs-csi-driver makes one per volume, holding that volume's data, so \
                     destroy deleted nothing. Delete the PersistentVolumeClaims first (the driver then deletes \
                     its access points), or, if the data may go, delete them (aws efs delete-access-point \
                     --access-point-id ID), then destroy again.",
                    foreign.join(", ")
                ),
            );
        }
        match ops::teardown(&p.aws, &observed, &before, timeout, &ctx.cancel).await {
            Ok(()) => Diagnostics::new(),
            Err(e) => e.to_diagnostics("Error Deleting EFS Prometheus Volume"),
        }
    }

    async fn import(&self, _ctx: &Ctx, id: &str) -> Result<Value, Diagnostics> {
        if !id.starts_with("fs-") {
            return Err(Diagnostics::from_error(
                "Invalid Import ID",
                format!("Import an efs_prometheus_volume by its file system id (fs-...), not {id:?}."),
            ));
        }
        Ok(Value::object([("file_system_id", Value::string(id))]))
    }
}

/// After apply, the values the configuration set are what Terraform expects back exactly; the
/// computed ones come from AWS.
fn keep_configured(planned: &Value, fresh: Value) -> Value {
    let mut out = fresh;
    for name in ["tags", "tags_all", "timeouts", "kubernetes", "backup"] {
        if let (Some(v), Value::Object(map)) = (planned.get(name), &mut out) {
            if v.is_known() {
                map.insert(name.into(), v.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::PlanModifier;

    /// A prior state with every argument at its default (as the framework plans them), named `prom`.
    fn prior(block: &crate::framework::Block) -> Value {
        let mut state = block.defaults();
        if let Value::Object(map) = &mut state {
            map.insert("name".into(), Value::string("prom"));
            map.insert("kms_key_id".into(), Value::string("arn:aws:kms:us-east-1:123456789012:key/old"));
            for nested in &block.blocks {
                map.insert(nested.name.clone(), nested.block.defaults());
            }
        }
        state
    }

    fn changed(value: &Value) -> Value {
        match value {
            Value::Bool(b) => Value::Bool(!b),
            Value::String(s) => Value::string(format!("{s}-changed")),
            other => panic!("no change defined for {other:?}"),
        }
    }

    fn replacement_warnings(block: &crate::framework::Block, prior: &Value, planned: Value) -> Vec<String> {
        let config = planned.clone();
        let mut plan = PlanContext {
            block,
            config: &config,
            prior,
            planned,
            requires_replace: Vec::new(),
            diags: Diagnostics::new(),
        };
        PrometheusVolume::warn_replacement(&mut plan);
        plan.diags.iter().map(|d| format!("{}: {}", d.summary, d.detail)).collect()
    }

    /// Every attribute the schema marks RequiresReplace warns when it changes, and nothing else
    /// does: the list comes from the schema, so a new such attribute cannot be missed.
    #[test]
    fn each_requires_replace_attribute_warns_that_the_data_goes() {
        let schema = schema::schema();
        let prior = prior(&schema.block);
        let replacing: Vec<&str> = schema
            .block
            .attributes
            .iter()
            .filter(|a| a.has_modifier(PlanModifier::RequiresReplace))
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(replacing, ["name", "encrypted", "kms_key_id", "performance_mode"]);
        for name in &replacing {
            let mut planned = prior.clone();
            if let Value::Object(map) = &mut planned {
                map.insert(name.to_string(), changed(&prior.get(name).cloned().unwrap_or(Value::Null)));
            }
            let warnings = replacement_warnings(&schema.block, &prior, planned);
            assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
            assert!(warnings[0].starts_with("Replacing The File System Deletes The Prometheus Data"), "{warnings:?}");
            assert!(warnings[0].contains(&format!("Changing {name} needs a new EFS file system")), "{warnings:?}");
        }
        // An in-place change warns about nothing; two replacing changes are named together.
        let mut planned = prior.clone();
        if let Value::Object(map) = &mut planned {
            map.insert("throughput_mode".into(), Value::string("bursting"));
        }
        assert!(replacement_warnings(&schema.block, &prior, planned.clone()).is_empty());
        if let Value::Object(map) = &mut planned {
            map.insert("encrypted".into(), Value::Bool(false));
            map.insert("performance_mode".into(), Value::string("maxIO"));
        }
        let warnings = replacement_warnings(&schema.block, &prior, planned);
        assert!(warnings[0].contains("Changing encrypted, performance_mode needs"), "{warnings:?}");
    }

    /// The model falls back to the same defaults the schema plans: arguments read from a value
    /// that leaves everything out equal those read from the schema's planned defaults.
    #[test]
    fn model_defaults_are_the_schema_defaults() {
        let schema = schema::schema();
        let mut planned = schema.block.defaults();
        if let Value::Object(map) = &mut planned {
            for nested in &schema.block.blocks {
                map.insert(nested.name.clone(), nested.block.defaults());
            }
        }
        let from_schema = VolumeArgs::from_value(&planned);
        let from_nothing = VolumeArgs::from_value(&Value::object::<&str>([]));
        assert_eq!(format!("{from_schema:?}"), format!("{from_nothing:?}"));
        assert_eq!(from_schema.access_point.uid, schema::defaults::POSIX_ID);
        assert_eq!(from_schema.kubernetes.namespace, schema::defaults::NAMESPACE);
        assert_eq!(planned.get("kubernetes"), Some(&schema::kubernetes_defaults()));
    }

    fn throughput_warnings(prior: (&str, Option<i64>), planned: (&str, Option<i64>)) -> Vec<String> {
        let state = |(mode, mibps): (&str, Option<i64>)| {
            Value::object([
                ("throughput_mode", Value::string(mode)),
                ("provisioned_throughput_in_mibps", mibps.map(Value::int).unwrap_or(Value::Null)),
            ])
        };
        let block = schema::schema().block;
        let (prior, config) = (state(prior), state(planned));
        let mut plan = PlanContext {
            block: &block,
            config: &config,
            prior: &prior,
            planned: config.clone(),
            requires_replace: Vec::new(),
            diags: Diagnostics::new(),
        };
        PrometheusVolume::warn_throughput_change(&mut plan);
        plan.diags.iter().map(|d| d.path.as_ref().map(|p| p.to_string()).unwrap_or_default()).collect()
    }

    fn backup_warnings(backup: Option<bool>, region: &str) -> Vec<String> {
        let config = Value::object([("backup", backup.map(Value::Bool).unwrap_or(Value::Null))]);
        let block = schema::schema().block;
        let mut plan = PlanContext {
            block: &block,
            config: &config,
            prior: &Value::Null,
            planned: config.clone(),
            requires_replace: Vec::new(),
            diags: Diagnostics::new(),
        };
        PrometheusVolume::warn_backup_region(&mut plan, region);
        plan.diags.iter().map(|d| d.path.as_ref().map(|p| p.to_string()).unwrap_or_default()).collect()
    }

    #[test]
    fn backup_in_a_region_without_aws_backup_warns_at_backup() {
        assert_eq!(backup_warnings(Some(true), "eu-isoe-west-1"), ["backup"]);
        // Unset is the default, true.
        assert_eq!(backup_warnings(None, "eu-isoe-west-1"), ["backup"]);
        assert!(backup_warnings(Some(false), "eu-isoe-west-1").is_empty());
        assert!(backup_warnings(Some(true), "us-east-1").is_empty());
    }

    #[test]
    fn leaving_or_lowering_provisioned_throughput_warns_of_the_24_hour_limit() {
        assert_eq!(throughput_warnings(("provisioned", Some(100)), ("elastic", None)), ["throughput_mode"]);
        assert_eq!(
            throughput_warnings(("provisioned", Some(100)), ("provisioned", Some(50))),
            ["provisioned_throughput_in_mibps"]
        );
        assert!(throughput_warnings(("provisioned", Some(50)), ("provisioned", Some(100))).is_empty());
        assert!(throughput_warnings(("elastic", None), ("provisioned", Some(100))).is_empty());
        assert!(throughput_warnings(("bursting", None), ("elastic", None)).is_empty());
    }
}
