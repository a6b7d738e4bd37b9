//! Resource `efs_prometheus_volume`: an EFS file system with mount targets, a security group, an
//! access point and a TLS policy, prepared as the TSDB volume of one Prometheus server, plus the
//! Kubernetes manifests and Helm values that use it.
//!
//! Crash safety: the file system's creation token comes from `name`, so a retried create finds
//! the file system it made before instead of making a second one. A failed create returns state
//! for everything it made, so Terraform taints it and the next apply or destroy removes it.

pub mod manifests;
pub mod model;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use crate::aws::ec2::network;
use crate::aws::efs;
use crate::error::Error;
use crate::framework::timeouts::Timeouts;
use crate::framework::{
    ApplyOutcome, AttributePath, Ctx, Diagnostics, Identity, PlanContext, Private, ReadOutcome, Resource, Schema, Value,
};
use crate::provider_config::ProviderData;
use crate::resources::tags;
use model::{creation_token, MountTarget, Observed, VolumeArgs};

pub const TYPE_NAME: &str = "efs_prometheus_volume";

pub struct PrometheusVolume;

fn opt(value: Option<String>) -> Value {
    value.map(Value::string).unwrap_or(Value::Null)
}

/// Writes the rendered outputs into `state`; parts that cannot be rendered yet become `unknown`
/// when `unknown_if_missing` (plan time), null otherwise.
fn write_rendered(state: &mut Value, args: &VolumeArgs, fs: Option<&str>, ap: Option<&str>, unknown_if_missing: bool) {
    let r = manifests::render(args, fs, ap);
    let missing = if unknown_if_missing { Value::Unknown } else { Value::Null };
    let pv_missing = if args.kubernetes.dynamic { Value::Null } else { missing.clone() };
    let sc_missing = if args.kubernetes.dynamic { missing.clone() } else { Value::Null };
    let Value::Object(map) = state else { return };
    map.insert("volume_handle".into(), r.volume_handle.map(Value::string).unwrap_or(missing.clone()));
    map.insert("storage_class_manifest".into(), r.storage_class.map(Value::string).unwrap_or(sc_missing));
    map.insert("persistent_volume_manifest".into(), r.persistent_volume.map(Value::string).unwrap_or(pv_missing));
    map.insert("persistent_volume_claim_manifest".into(), opt(r.persistent_volume_claim));
    map.insert("prometheus_helm_values".into(), opt(r.prometheus_helm_values));
    map.insert("csi_driver_helm_values".into(), opt(r.csi_driver_helm_values));
}

fn timeouts_of(value: &Value) -> Timeouts {
    Timeouts::from_value(value.get("timeouts"), &schema::DEFAULT_TIMEOUTS)
}

/// The security groups the mount targets should have.
fn mount_target_groups(args: &VolumeArgs, own: Option<&str>) -> Vec<String> {
    if args.creates_security_group() {
        own.map(|g| vec![g.to_string()]).unwrap_or_default()
    } else {
        args.security_group_ids.clone()
    }
}

fn security_group_name(args: &VolumeArgs) -> String {
    format!("{}-nfs", creation_token(&args.name))
}

/// Checks the subnets against AWS: one VPC, at most one per availability zone. Returns the VPC.
async fn check_subnets(p: &ProviderData, subnet_ids: &[String], diags: &mut Diagnostics) -> Option<String> {
    let path = AttributePath::root("subnet_ids");
    let placements = match network::find_subnets(&p.aws.ec2, subnet_ids).await {
        Ok(placements) => placements,
        Err(e) => {
            diags.error_at(
                path,
                "Invalid Subnets",
                format!("{e}. Check that every subnet in subnet_ids exists in region {}.", p.region),
            );
            return None;
        }
    };
    let mut by_az: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &placements {
        by_az.entry(&s.availability_zone).or_default().push(&s.subnet_id);
    }
    for (az, ids) in &by_az {
        if ids.len() > 1 {
            diags.error_at(
                path.clone(),
                "Two Subnets In One Availability Zone",
                format!(
                    "Subnets {} are all in {az}, but EFS allows one mount target per availability zone. Keep one of \
                     them in subnet_ids.",
                    ids.join(" and ")
                ),
            );
        }
    }
    let vpcs: BTreeSet<&str> = placements.iter().map(|s| s.vpc_id.as_str()).collect();
    if vpcs.len() > 1 {
        let list: Vec<String> = placements.iter().map(|s| format!("{} ({})", s.subnet_id, s.vpc_id)).collect();
        diags.error_at(
            path.clone(),
            "Subnets In Different VPCs",
            format!(
                "All mount targets of a file system must be in one VPC, but the subnets are in several: {}. Keep \
                 only subnets of the cluster's VPC in subnet_ids.",
                list.join(", ")
            ),
        );
    }
    if let Some(az) = single_zone(&placements) {
        diags.warning_at(
            path,
            "All Mount Targets In One Availability Zone",
            format!("Every subnet is in {az}: Prometheus loses its volume when that zone fails. Add a subnet in another zone."),
        );
    }
    placements.first().map(|s| s.vpc_id.clone())
}

/// Checks the security groups named in `attribute` against AWS: each must exist, and with `vpc`
/// given (the mount targets' VPC, for `security_group_ids`) be in that VPC, since a mount target
/// only takes groups of its own VPC.
async fn check_security_groups(
    p: &ProviderData,
    attribute: &str,
    ids: &[String],
    vpc: Option<&str>,
    diags: &mut Diagnostics,
) {
    let path = AttributePath::root(attribute);
    let found = match network::find_security_group_vpcs(&p.aws.ec2, ids).await {
        Ok(found) => found,
        Err(e) => {
            diags.extend(e.to_diagnostics("Error Reading EC2 Security Groups"));
            return;
        }
    };
    let missing: Vec<&str> = ids.iter().filter(|id| !found.contains_key(*id)).map(String::as_str).collect();
    if !missing.is_empty() {
        diags.error_at(
            path.clone(),
            "Unknown Security Groups",
            format!(
                "{attribute} names security groups that do not exist in region {}: {}. Check the ids, or create \
                 the groups first and reference them (for example aws_security_group.<name>.id).",
                p.region,
                missing.join(", ")
            ),
        );
    }
    if let Some(vpc) = vpc {
        let elsewhere: Vec<String> =
            found.iter().filter(|(_, v)| v.as_str() != vpc).map(|(id, v)| format!("{id} ({v})")).collect();
        if !elsewhere.is_empty() {
            diags.error_at(
                path,
                "Security Groups In Another VPC",
                format!(
                    "{attribute} must be security groups of the subnets' VPC {vpc}, where the mount targets are; \
                     these are not: {}. Use groups of {vpc}, or leave {attribute} out and set \
                     allowed_security_group_ids so this resource creates one.",
                    elsewhere.join(", ")
                ),
            );
        }
    }
}

/// The availability zone every mount target would be in, when there is exactly one subnet. Several
/// subnets in one zone are already the "one mount target per zone" error, so they get no warning.
fn single_zone(placements: &[network::SubnetPlacement]) -> Option<&str> {
    match placements {
        [only] => Some(&only.availability_zone),
        _ => None,
    }
}

/// The NFS security group an earlier create of this resource made but did not record (it crashed,
/// or the answer was lost): found by name in `vpc` and by the ownership tag, with its rules reset to
/// `args.allowed`. `None` when there is none.
async fn adopt_security_group(p: &ProviderData, vpc: &str, args: &VolumeArgs) -> Result<Option<String>, Error> {
    let found = network::find_security_group_by_name(&p.aws.ec2, vpc, &security_group_name(args)).await?;
    let Some((id, found_tags)) = found else { return Ok(None) };
    let token = creation_token(&args.name);
    if !found_tags.iter().any(|(k, v)| k == tags::MANAGED_BY_TAG && *v == token) {
        return Ok(None);
    }
    let present = network::find_nfs_sources(&p.aws.ec2, &id).await?.unwrap_or_default();
    if present != args.allowed {
        if present != network::NfsSources::default() {
            network::revoke_nfs(&p.aws.ec2, &id, &present).await?;
        }
        network::authorize_nfs(&p.aws.ec2, &id, &args.allowed).await?;
    }
    Ok(Some(id))
}

impl PrometheusVolume {
    /// Reads every part of the volume from AWS into a new state based on `state`; null when the
    /// file system is gone.
    async fn refresh(&self, p: &ProviderData, state: &Value) -> Result<Value, Error> {
        let efs_client = &p.aws.efs;
        let Some(fs_id) = state.get("file_system_id").and_then(Value::as_str).map(str::to_string) else {
            return Ok(Value::Null);
        };
        let Some(fs) = efs::find_file_system_by_id(efs_client, &fs_id).await? else {
            return Ok(Value::Null);
        };
        let mut next = state.clone();
        let set = |next: &mut Value, name: &str, value: Value| {
            if let Value::Object(map) = next {
                map.insert(name.into(), value);
            }
        };
        let mut observed = Observed::from_state(state);
        observed.file_system_id = Some(fs_id.clone());
        observed.file_system_arn = fs.file_system_arn().map(str::to_string);
        let fs_tags: BTreeMap<String, String> =
            fs.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        let name = state
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| fs.creation_token().strip_prefix(model::CREATION_TOKEN_PREFIX).map(str::to_string))
            .or_else(|| fs_tags.get("Name").cloned())
            .unwrap_or_default();
        set(&mut next, "name", Value::string(&name));
        set(&mut next, "encrypted", Value::Bool(fs.encrypted().unwrap_or(false)));
        set(&mut next, "kms_key_id", opt(fs.kms_key_id().map(str::to_string)));
        set(&mut next, "performance_mode", Value::string(fs.performance_mode().as_str()));
        let throughput = fs.throughput_mode().map(|m| m.as_str().to_string()).unwrap_or_else(|| "bursting".into());
        let provisioned = if throughput == "provisioned" {
            fs.provisioned_throughput_in_mibps().map(Value::float).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        set(&mut next, "throughput_mode", Value::string(throughput));
        set(&mut next, "provisioned_throughput_in_mibps", provisioned);
        set(&mut next, "transition_to_ia", opt(efs::find_transition_to_ia(efs_client, &fs_id).await?));
        let policy = efs::find_file_system_policy(efs_client, &fs_id).await?;
        set(&mut next, "enforce_tls", Value::Bool(policy.as_deref().is_some_and(manifests::policy_enforces_tls)));
        set(&mut next, "backup", Value::Bool(efs::find_backup_enabled(efs_client, &fs_id).await?));
        let own_tags: BTreeMap<String, String> = fs_tags
            .iter()
            .filter(|(k, _)| {
                k.as_str() != tags::MANAGED_BY_TAG
                    && !(k.as_str() == "Name" && **k == "Name" && fs_tags["Name"] == name)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        set(&mut next, "tags_all", tags::to_value(&own_tags));
        if state.get("tags").is_none_or(Value::is_null)
            && !own_tags.is_empty()
            && state.get("id").is_none_or(Value::is_null)
        {
            set(&mut next, "tags", tags::to_value(&own_tags));
        }

        // Mount targets: what exists is the truth; a missing subnet shows as drift of `subnet_ids`.
        let mts = efs::find_mount_targets(efs_client, &fs_id).await?;
        observed.mount_targets = mts.iter().map(MountTarget::from_aws).collect();
        if mts.is_empty() {
            // With no mount target using it, our security group may be gone too (a destroy
            // interrupted after deleting it): then the next apply makes a new one.
            if let Some(own) = observed.security_group_id.clone() {
                if network::find_nfs_sources(&p.aws.ec2, &own).await?.is_none() {
                    observed.security_group_id = None;
                }
            }
        }
        let mut subnets: Vec<String> = observed.mount_targets.iter().map(|m| m.subnet_id.clone()).collect();
        subnets.sort();
        set(&mut next, "subnet_ids", Value::set_of_strings(subnets));

        // Security groups: the ones on the first mount target; ours if it carries our mark.
        let token = creation_token(&name);
        if let Some(first) = observed.mount_targets.first() {
            let groups = efs::mount_target_security_groups(efs_client, &first.mount_target_id).await?;
            let own = match &observed.security_group_id {
                Some(own) if groups == vec![own.clone()] => Some(own.clone()),
                _ if groups.len() == 1
                    && state.get("security_group_id").is_none_or(Value::is_null)
                    && state.get("id").is_none_or(Value::is_null) =>
                {
                    // Import: adopt the group only if this resource made it.
                    let marked = network::find_security_group_by_name(
                        &p.aws.ec2,
                        &vpc_of(p, &first.subnet_id).await?,
                        &format!("{token}-nfs"),
                    )
                    .await?
                    .filter(|(id, tags)| {
                        *id == groups[0] && tags.iter().any(|(k, v)| k == tags::MANAGED_BY_TAG && *v == token)
                    });
                    marked.map(|(id, _)| id)
                }
                _ => None,
            };
            match own {
                Some(own) => {
                    observed.security_group_id = Some(own.clone());
                    set(&mut next, "security_group_ids", Value::Null);
                    if let Some(sources) = network::find_nfs_sources(&p.aws.ec2, &own).await? {
                        let as_set = |v: Vec<String>| {
                            if v.is_empty() {
                                Value::Null
                            } else {
                                Value::set_of_strings(v)
                            }
                        };
                        set(&mut next, "allowed_security_group_ids", as_set(sources.security_group_ids));
                        set(&mut next, "allowed_cidr_blocks", as_set(sources.cidr_blocks));
                    }
                }
                None => {
                    set(&mut next, "security_group_ids", Value::set_of_strings(groups));
                }
            }
        }

        // The access point: ours by id, or on import the one carrying our mark.
        let ap = match &observed.access_point_id {
            Some(id) => efs::find_access_point_by_id(efs_client, id).await?,
            None => efs::find_access_points(efs_client, &fs_id)
                .await?
                .into_iter()
                .find(|ap| ap.tags().iter().any(|t| t.key() == tags::MANAGED_BY_TAG && t.value() == token)),
        };
        observed.access_point_id = ap.as_ref().and_then(|a| a.access_point_id().map(str::to_string));
        observed.access_point_arn = ap.as_ref().and_then(|a| a.access_point_arn().map(str::to_string));
        if let Some(ap) = &ap {
            let user = ap.posix_user();
            let root = ap.root_directory();
            let info = root.and_then(|r| r.creation_info());
            let block = Value::object([
                ("uid", user.map(|u| Value::int(u.uid())).unwrap_or(Value::int(65534))),
                ("gid", user.map(|u| Value::int(u.gid())).unwrap_or(Value::int(65534))),
                ("root_directory", Value::string(root.and_then(|r| r.path()).unwrap_or("/"))),
                ("owner_uid", info.map(|i| Value::int(i.owner_uid())).unwrap_or(Value::int(65534))),
                ("owner_gid", info.map(|i| Value::int(i.owner_gid())).unwrap_or(Value::int(65534))),
                ("permissions", Value::string(info.map(|i| i.permissions()).unwrap_or("0755"))),
            ]);
            set(&mut next, "access_point", block);
        }
        if next.get("kubernetes").is_none_or(|k| k.get("namespace").is_none_or(Value::is_null)) {
            set(
                &mut next,
                "kubernetes",
                Value::object([
                    ("namespace", Value::string("monitoring")),
                    ("storage_class_name", Value::string("efs-prometheus")),
                    ("pvc_name", Value::string("prometheus-server")),
                    ("capacity", Value::string("50Gi")),
                    ("provisioning", Value::string("static")),
                    ("csi_controller_replicas", Value::int(1)),
                ]),
            );
        }
        observed.write(&mut next, &p.region);
        let args = VolumeArgs::from_value(&next);
        write_rendered(
            &mut next,
            &args,
            observed.file_system_id.as_deref(),
            observed.access_point_id.as_deref(),
            false,
        );
        Ok(next)
    }

    /// Brings the parts other than the file system itself to what `args` asks for, recording what
    /// exists in `observed` as it goes (so a failure still leaves an accurate state).
    async fn converge(
        &self,
        p: &ProviderData,
        ctx: &Ctx,
        args: &VolumeArgs,
        prior_args: Option<&VolumeArgs>,
        observed: &mut Observed,
        timeout: std::time::Duration,
    ) -> Result<(), Error> {
        let efs_client = &p.aws.efs;
        let fs_id = observed.file_system_id.clone().unwrap_or_default();
        let aws_tags = args.aws_tags();

        // The security group, when this resource owns one.
        if args.creates_security_group() {
            match observed.security_group_id.clone() {
                None => {
                    let vpc = vpc_of(p, &args.subnet_ids[0]).await?;
                    let name = security_group_name(args);
                    let id = match adopt_security_group(p, &vpc, args).await? {
                        Some(id) => id,
                        None => {
                            match network::create_nfs_security_group(&p.aws.ec2, &name, &vpc, &args.allowed, &aws_tags)
                                .await
                            {
                                Ok(id) => id,
                                // An earlier attempt made it, but its answer was lost.
                                Err(e) if e.is_aws("InvalidGroup.Duplicate") => {
                                    adopt_security_group(p, &vpc, args).await?.ok_or(e)?
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    };
                    observed.security_group_id = Some(id);
                }
                Some(id) => {
                    if let Some(prior) = prior_args.filter(|pa| pa.allowed != args.allowed) {
                        if !prior.allowed.cidr_blocks.is_empty() || !prior.allowed.security_group_ids.is_empty() {
                            network::revoke_nfs(&p.aws.ec2, &id, &prior.allowed).await?;
                        }
                        network::authorize_nfs(&p.aws.ec2, &id, &args.allowed).await?;
                    }
                }
            }
        }
        let groups = mount_target_groups(args, observed.security_group_id.as_deref());

        // Mount targets: remove those whose subnet is gone from the configuration, fix the
        // security groups of the rest, create the missing ones concurrently.
        let wanted: BTreeSet<&String> = args.subnet_ids.iter().collect();
        let (keep, remove): (Vec<MountTarget>, Vec<MountTarget>) =
            observed.mount_targets.clone().into_iter().partition(|m| wanted.contains(&m.subnet_id));
        for mt in &remove {
            efs::delete_mount_target(efs_client, &mt.mount_target_id, timeout, &ctx.cancel).await?;
            observed.mount_targets.retain(|m| m.mount_target_id != mt.mount_target_id);
        }
        for mt in &keep {
            if efs::mount_target_security_groups(efs_client, &mt.mount_target_id).await? != sorted(&groups) {
                efs::set_mount_target_security_groups(efs_client, &mt.mount_target_id, &groups).await?;
            }
        }
        let have: BTreeSet<String> = keep.iter().map(|m| m.subnet_id.clone()).collect();
        let creates = args
            .subnet_ids
            .iter()
            .filter(|s| !have.contains(*s))
            .map(|subnet| efs::create_mount_target(efs_client, &fs_id, subnet, &groups, timeout, &ctx.cancel));
        let mut first_error = None;
        for result in futures::future::join_all(creates).await {
            match result {
                Ok(mt) => observed.mount_targets.push(MountTarget::from_aws(&mt)),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }

        // The security group this resource no longer needs.
        if !args.creates_security_group() {
            if let Some(id) = observed.security_group_id.clone() {
                network::delete_security_group(&p.aws.ec2, &id, timeout, &ctx.cancel).await?;
                observed.security_group_id = None;
            }
        }

        // The access point: replaced (new first, then old) when its identity or directory changes.
        if let Some(id) = observed.access_point_id.clone() {
            if efs::find_access_point_by_id(efs_client, &id).await?.is_none() {
                // Deleted out of band: recreate it.
                observed.access_point_id = None;
            }
        }
        if observed.access_point_id.is_none() && prior_args.is_none() {
            // An earlier create that crashed may have made it already.
            let token = creation_token(&args.name);
            let left = efs::find_access_points(efs_client, &fs_id).await?.into_iter().find(|ap| {
                ap.tags().iter().any(|t| t.key() == tags::MANAGED_BY_TAG && t.value() == token)
                    && efs::AccessPointSpec::from_aws(ap).as_ref() == Some(&args.access_point)
            });
            if let Some(ap) = left {
                observed.access_point_id = ap.access_point_id().map(str::to_string);
                observed.access_point_arn = ap.access_point_arn().map(str::to_string);
            }
        }
        let ap_changed = prior_args.is_some_and(|pa| pa.access_point != args.access_point);
        if observed.access_point_id.is_none() || ap_changed {
            let old = observed.access_point_id.take();
            let ap = efs::create_access_point(efs_client, &fs_id, &args.access_point, &aws_tags).await?;
            observed.access_point_id = ap.access_point_id().map(str::to_string);
            observed.access_point_arn = ap.access_point_arn().map(str::to_string);
            if let Some(old) = old {
                efs::delete_access_point(efs_client, &old).await?;
            }
        }

        // Lifecycle, TLS policy, backup, throughput and tags, each only when it differs.
        let changed = |f: &dyn Fn(&VolumeArgs) -> String| prior_args.is_none_or(|pa| f(pa) != f(args));
        if changed(&|a| format!("{:?}", a.transition_to_ia))
            && (prior_args.is_some() || args.transition_to_ia.is_some())
        {
            efs::put_transition_to_ia(efs_client, &fs_id, args.transition_to_ia.as_deref()).await?;
        }
        if changed(&|a| a.enforce_tls.to_string()) {
            if args.enforce_tls {
                let arn = observed.file_system_arn.clone().unwrap_or_default();
                efs::put_file_system_policy(efs_client, &fs_id, &manifests::tls_policy(&arn).to_string()).await?;
            } else if prior_args.is_some() {
                efs::delete_file_system_policy(efs_client, &fs_id).await?;
            }
        }
        if let Some(prior) = prior_args {
            if prior.backup != args.backup {
                efs::put_backup(efs_client, &fs_id, args.backup).await?;
            }
            if prior.throughput_mode != args.throughput_mode
                || prior.provisioned_throughput_in_mibps != args.provisioned_throughput_in_mibps
            {
                efs::update_throughput(
                    efs_client,
                    &fs_id,
                    &args.throughput_mode,
                    args.provisioned_throughput_in_mibps,
                    timeout,
                    &ctx.cancel,
                )
                .await?;
            }
            if prior.tags_all != args.tags_all {
                let removed: Vec<String> =
                    prior.tags_all.keys().filter(|k| !args.tags_all.contains_key(*k)).cloned().collect();
                let mut ids = vec![fs_id.clone()];
                ids.extend(observed.access_point_id.clone());
                for id in &ids {
                    if !removed.is_empty() {
                        efs::untag_resource(efs_client, id, &removed).await?;
                    }
                    efs::tag_resource(efs_client, id, &aws_tags).await?;
                }
                if let Some(group_id) = &observed.security_group_id {
                    network::retag_security_group(&p.aws.ec2, group_id, &aws_tags, &removed).await?;
                }
            }
        }
        Ok(())
    }

    async fn teardown(
        &self,
        p: &ProviderData,
        ctx: &Ctx,
        observed: &Observed,
        timeout: std::time::Duration,
    ) -> Result<(), Error> {
        let efs_client = &p.aws.efs;
        if let Some(ap) = &observed.access_point_id {
            efs::delete_access_point(efs_client, ap).await?;
        }
        if let Some(fs_id) = &observed.file_system_id {
            // Access points a crashed create or update made before the state knew them.
            for ap in efs::find_access_points(efs_client, fs_id).await? {
                if ap.tags().iter().any(|t| t.key() == tags::MANAGED_BY_TAG) {
                    efs::delete_access_point(efs_client, ap.access_point_id().unwrap_or_default()).await?;
                }
            }
        }
        if let Some(fs_id) = &observed.file_system_id {
            // Every mount target of the file system, including any the state does not know yet.
            let mts = efs::find_mount_targets(efs_client, fs_id).await?;
            let deletes =
                mts.iter().map(|mt| efs::delete_mount_target(efs_client, mt.mount_target_id(), timeout, &ctx.cancel));
            for result in futures::future::join_all(deletes).await {
                result?;
            }
        }
        if let Some(sg) = &observed.security_group_id {
            network::delete_security_group(&p.aws.ec2, sg, timeout, &ctx.cancel).await?;
        }
        if let Some(fs_id) = &observed.file_system_id {
            efs::delete_file_system(efs_client, fs_id, timeout, &ctx.cancel).await?;
        }
        Ok(())
    }
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items
}

async fn vpc_of(p: &ProviderData, subnet_id: &str) -> Result<String, Error> {
    Ok(network::find_subnets(&p.aws.ec2, &[subnet_id.to_string()])
        .await?
        .into_iter()
        .next()
        .map(|s| s.vpc_id)
        .unwrap_or_default())
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
        let Ok(p) = ctx.provider() else { return };
        let p = p.clone();
        tags::plan_tags_all(plan, &p.default_tags);
        let planned = plan.planned.clone();

        // Read-only checks of the ids the plan adds or changes, so a typo fails here and not halfway
        // through apply.
        let known_ids = |value: Option<&Value>| -> Option<Vec<String>> {
            value
                .filter(|v| v.is_known())
                .and_then(Value::elements)
                .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>())
        };
        let changed_ids = |name: &str| -> Option<Vec<String>> {
            let ids = known_ids(plan.config.get(name)).filter(|ids| !ids.is_empty())?;
            let prior = plan.prior.get(name).cloned().unwrap_or(Value::Null);
            (plan.prior.is_null() || prior != Value::set_of_strings(ids.clone())).then_some(ids)
        };
        let mut vpc = None;
        if let Some(ids) = changed_ids("subnet_ids") {
            vpc = check_subnets(&p, &ids, &mut plan.diags).await;
        }
        if let Some(ids) = changed_ids("security_group_ids") {
            if vpc.is_none() {
                // The subnets did not change: the mount targets stay in the VPC of the known subnets.
                if let Some(subnets) = known_ids(plan.config.get("subnet_ids")).filter(|s| !s.is_empty()) {
                    vpc = vpc_of(&p, &subnets[0]).await.ok().filter(|v| !v.is_empty());
                }
            }
            check_security_groups(&p, "security_group_ids", &ids, vpc.as_deref(), &mut plan.diags).await;
        }
        if let Some(ids) = changed_ids("allowed_security_group_ids") {
            check_security_groups(&p, "allowed_security_group_ids", &ids, None, &mut plan.diags).await;
        }

        if !plan.is_create() {
            let changed = |name: &str| plan.prior.get(name) != planned.get(name);
            let replacing: Vec<&str> = ["name", "encrypted", "kms_key_id", "performance_mode"]
                .into_iter()
                .filter(|n| {
                    changed(n) && planned.get(n).is_some_and(Value::is_known) || changed(n) && *n != "kms_key_id"
                })
                .collect();
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
            // The access point keeps its id unless it is replaced, or recreated after an
            // out-of-band deletion (read then left its id null).
            let ap_replaced = plan.prior.get("access_point_id").is_none_or(Value::is_null)
                || planned.get("access_point") != plan.prior.get("access_point");
            for name in ["access_point_id", "access_point_arn"] {
                let value =
                    if ap_replaced { Value::Unknown } else { plan.prior.get(name).cloned().unwrap_or(Value::Null) };
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

    async fn create(&self, ctx: &Ctx, planned: &Value, _config: &Value) -> ApplyOutcome {
        let p = match ctx.provider() {
            Ok(p) => p.clone(),
            Err(diags) => return ApplyOutcome::failed(Value::Null, diags),
        };
        let args = VolumeArgs::from_value(planned);
        let timeout = timeouts_of(planned).create;
        let mut observed = Observed::default();
        let mut state = planned.clone().unknown_to_null();
        let spec = efs::FileSystemSpec {
            creation_token: creation_token(&args.name),
            encrypted: args.encrypted,
            kms_key_id: args.kms_key_id.clone(),
            performance_mode: args.performance_mode.clone(),
            throughput_mode: args.throughput_mode.clone(),
            provisioned_throughput_in_mibps: args.provisioned_throughput_in_mibps,
            backup: args.backup,
            tags: args.aws_tags(),
        };
        let result = async {
            let fs_id = efs::create_file_system(&p.aws.efs, &spec).await?;
            observed.file_system_id = Some(fs_id.clone());
            let fs = efs::wait_file_system_available(&p.aws.efs, &fs_id, timeout, &ctx.cancel).await?;
            observed.file_system_arn = fs.file_system_arn().map(str::to_string);
            self.converge(&p, ctx, &args, None, &mut observed, timeout).await
        }
        .await;
        if let Err(e) = result {
            // State for whatever exists, so Terraform taints it and destroy removes it.
            if observed.file_system_id.is_none() {
                return ApplyOutcome::failed(Value::Null, e.to_diagnostics("Error Creating EFS Prometheus Volume"));
            }
            observed.write(&mut state, &p.region);
            write_rendered(&mut state, &args, None, None, false);
            return ApplyOutcome::failed(state, e.to_diagnostics("Error Creating EFS Prometheus Volume"));
        }
        match self
            .refresh(&p, &{
                observed.write(&mut state, &p.region);
                state.clone()
            })
            .await
        {
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
        let p = match ctx.provider() {
            Ok(p) => p.clone(),
            Err(diags) => return ReadOutcome { state: state.clone(), private: private.clone(), diags },
        };
        match self.refresh(&p, state).await {
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
        let p = match ctx.provider() {
            Ok(p) => p.clone(),
            Err(diags) => return ApplyOutcome::failed(prior.clone(), diags),
        };
        let args = VolumeArgs::from_value(planned);
        let prior_args = VolumeArgs::from_value(prior);
        let mut observed = Observed::from_state(prior);
        let timeout = timeouts_of(planned).update;
        let result = self.converge(&p, ctx, &args, Some(&prior_args), &mut observed, timeout).await;
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
        match self.refresh(&p, &state).await {
            Ok(fresh) if !fresh.is_null() => ApplyOutcome::ok(keep_configured(planned, fresh)),
            Ok(_) => ApplyOutcome::failed(
                state,
                Diagnostics::from_error("Error Updating EFS Prometheus Volume", "The file system no longer exists."),
            ),
            Err(e) => ApplyOutcome::failed(state, e.to_diagnostics("Error Reading EFS Prometheus Volume")),
        }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, _private: &Private) -> Diagnostics {
        let p = match ctx.provider() {
            Ok(p) => p.clone(),
            Err(diags) => return diags,
        };
        let timeout = timeouts_of(prior).delete;
        match self.teardown(&p, ctx, &Observed::from_state(prior), timeout).await {
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

    fn placement(subnet: &str, az: &str) -> network::SubnetPlacement {
        network::SubnetPlacement { subnet_id: subnet.into(), vpc_id: "vpc-1".into(), availability_zone: az.into() }
    }

    #[test]
    fn single_zone_warns_only_for_one_subnet() {
        assert_eq!(single_zone(&[placement("subnet-a", "us-east-1a")]), Some("us-east-1a"));
        // Spread over zones: nothing to warn about.
        assert_eq!(single_zone(&[placement("subnet-a", "us-east-1a"), placement("subnet-b", "us-east-1b")]), None);
        // Two in one zone is the error "Two Subnets In One Availability Zone", not also a warning.
        assert_eq!(single_zone(&[placement("subnet-a", "us-east-1a"), placement("subnet-b", "us-east-1a")]), None);
        assert_eq!(single_zone(&[]), None);
    }
}
