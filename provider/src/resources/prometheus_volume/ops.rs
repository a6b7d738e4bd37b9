//! The AWS work of `efs_prometheus_volume`: refresh reads every part back, converge brings the
//! parts other than the file system to what the arguments ask for (on create and on update), and
//! teardown removes them in reverse dependency order.
//!
//! Every step may run again after a crash: create adopts the file system, and converge the security
//! group and access point, that a previous attempt of this same resource instance made (found by name
//! or creation token, and taken only when their owner tag is this instance's owner id: see
//! `resources::ownership`); teardown treats "not found" as done and also removes the mount targets
//! and access points the state does not know yet, but leaves a file system of another owner alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_efs::types::LifeCycleState;
use tokio_util::sync::CancellationToken;

use super::manifests;
use super::model::{self, creation_token, MountTarget, Observed, VolumeArgs};
use super::schema::{self, defaults};
use crate::aws::ec2::network;
use crate::aws::seen::VolumeFacts;
use crate::aws::{efs, policy, AwsClients};
use crate::error::Error;
use crate::framework::Value;
use crate::resources::ownership::{Claim, OWNER_TAG};
use crate::resources::tags;

pub fn opt(value: Option<String>) -> Value {
    value.map(Value::string).unwrap_or(Value::Null)
}

/// Writes the rendered outputs into `state`; parts that cannot be rendered yet become `unknown`
/// when `unknown_if_missing` (plan time), null otherwise.
pub fn write_rendered(
    state: &mut Value,
    args: &VolumeArgs,
    fs: Option<&str>,
    ap: Option<&str>,
    unknown_if_missing: bool,
) {
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

/// The security groups the mount targets should have.
fn mount_target_groups(args: &VolumeArgs, own: Option<&str>) -> Vec<String> {
    if args.creates_security_group() {
        own.map(|g| vec![g.to_string()]).unwrap_or_default()
    } else {
        args.security_group_ids.clone()
    }
}

/// What an object's owner tag says to this resource instance.
fn claim(owner_tag: Option<&str>, args: &VolumeArgs) -> Claim {
    Claim::of(owner_tag, args.owner_id.as_deref())
}

fn efs_tag<'a>(tags: &'a [aws_sdk_efs::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == key).map(|t| t.value())
}

/// The refusal to take over a file system this instance does not own.
pub fn file_system_not_owned(fs_id: &str, token: &str, claim: &Claim) -> Error {
    Error::NotOwned {
        object: format!("EFS File System {fs_id} (creation token {token})"),
        owner: claim.describe(),
        resource_type: schema::TYPE_NAME,
        import_id: fs_id.to_string(),
        attribute: "name",
    }
}

fn security_group_name(args: &VolumeArgs) -> String {
    format!("{}-nfs", creation_token(&args.name))
}

/// The NFS security group an earlier create of this resource made but did not record (it crashed,
/// or the answer was lost): found by name in `vpc`, by the ownership tag and this instance's owner
/// id. `None` when there is none.
async fn find_own_security_group(aws: &AwsClients, vpc: &str, args: &VolumeArgs) -> Result<Option<String>, Error> {
    let found = network::find_security_group_by_name(&aws.ec2, vpc, &security_group_name(args)).await?;
    let Some((id, found_tags)) = found else { return Ok(None) };
    let token = creation_token(&args.name);
    let tag = |key: &str| found_tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if tag(tags::MANAGED_BY_TAG) != Some(token.as_str()) || claim(tag(OWNER_TAG), args) != Claim::Ours {
        return Ok(None);
    }
    Ok(Some(id))
}

/// Takes over the group [`find_own_security_group`] found, its rules reset to `args.allowed`.
async fn adopt_security_group(aws: &AwsClients, id: String, args: &VolumeArgs) -> Result<String, Error> {
    let present = network::find_nfs_sources(&aws.ec2, &id).await?.unwrap_or_default();
    if present != args.allowed {
        if present != network::NfsSources::default() {
            network::revoke_nfs(&aws.ec2, &id, &present).await?;
        }
        network::authorize_nfs(&aws.ec2, &id, &args.allowed).await?;
    }
    Ok(id)
}

/// The file system's KMS key as the state shows it. EFS reports the key's ARN; a state that names
/// the key by an alias ARN keeps that form, since a file system's key never changes after it is made
/// (the alias named this key then; re-pointing the alias later does not re-encrypt anything). Any
/// other difference is shown as EFS reports it, as drift.
pub fn kms_key_id(state: &Value, reported: Option<&str>) -> Option<String> {
    let recorded = state.get("kms_key_id").and_then(Value::as_str);
    match (recorded, reported) {
        (Some(alias), Some(_)) if alias.contains(":alias/") => Some(alias.to_string()),
        _ => reported.map(str::to_string),
    }
}

/// Reads every part of the volume from AWS into a new state based on `state`; null when the
/// file system is gone.
pub async fn refresh(aws: &AwsClients, region: &str, state: &Value) -> Result<Value, Error> {
    let efs_client = &aws.efs;
    let Some(fs_id) = state.get("file_system_id").and_then(Value::as_str).map(str::to_string) else {
        return Ok(Value::Null);
    };
    let mut observed = Observed::from_state(state);
    let known_name = state.get("name").and_then(Value::as_str).map(creation_token);
    // Every part is read at once: none of these reads needs another's answer, only ids the state
    // holds. When the file system turns out to be gone, the reads of its parts are abandoned (their
    // answers, errors included, mean nothing then, and a service may be slow to refuse a call on a
    // file system it no longer has). At most seven calls are in flight; the SDK's throttling
    // retries apply to each.
    let (known_access_point, own_group) = (observed.access_point_id.clone(), observed.security_group_id.clone());
    let known_mount_target = observed.mount_targets.first().map(|mt| mt.mount_target_id.clone());
    let parts = async {
        tokio::join!(
            efs::find_transition_to_ia(efs_client, &fs_id),
            efs::find_file_system_policy(efs_client, &fs_id),
            efs::find_backup_enabled(efs_client, &fs_id),
            mount_targets_with_groups(efs_client, &fs_id, known_mount_target.as_deref()),
            find_own_access_point(efs_client, &fs_id, known_access_point.as_deref(), known_name.as_deref()),
            async {
                match &own_group {
                    Some(own) => network::find_nfs_sources(&aws.ec2, own).await,
                    None => Ok(None),
                }
            },
        )
    };
    let fs_read = std::pin::pin!(efs::find_file_system_by_id(efs_client, &fs_id));
    let parts = std::pin::pin!(parts);
    use futures::future::Either;
    let (fs, parts) = match futures::future::select(fs_read, parts).await {
        Either::Left((fs, pending)) => (fs, Either::Left(pending)),
        Either::Right((read, fs_read)) => (fs_read.await, Either::Right(read)),
    };
    let Some(fs) = fs? else {
        return without_file_system(aws, region, state, own_group.as_deref()).await;
    };
    let (transition_to_ia, policy, backup, mount_targets, access_point, own_group_sources) = match parts {
        Either::Left(pending) => pending.await,
        Either::Right(read) => read,
    };
    let mut next = state.clone();
    let set = |next: &mut Value, name: &str, value: Value| {
        if let Value::Object(map) = next {
            map.insert(name.into(), value);
        }
    };
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
    set(&mut next, "kms_key_id", opt(kms_key_id(state, fs.kms_key_id())));
    set(&mut next, "performance_mode", Value::string(fs.performance_mode().as_str()));
    let throughput = fs.throughput_mode().map(|m| m.as_str().to_string()).unwrap_or_else(|| "bursting".into());
    let provisioned = if throughput == "provisioned" {
        fs.provisioned_throughput_in_mibps().map(Value::float).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    set(&mut next, "throughput_mode", Value::string(throughput));
    set(&mut next, "provisioned_throughput_in_mibps", provisioned);
    set(&mut next, "transition_to_ia", opt(transition_to_ia?));
    let policy = policy?;
    set(&mut next, "enforce_tls", Value::Bool(policy.as_deref().is_some_and(policy::policy_enforces_tls)));
    set(&mut next, "backup", Value::Bool(backup?));
    if state.get("owner_id").is_none_or(Value::is_null) {
        // An import (or a state from before owner ids) takes the owner id the file system carries.
        set(&mut next, "owner_id", opt(fs_tags.get(OWNER_TAG).cloned()));
    }
    let own_tags: BTreeMap<String, String> = fs_tags
        .iter()
        .filter(|(k, _)| {
            k.as_str() != tags::MANAGED_BY_TAG
                && k.as_str() != OWNER_TAG
                && !tags::is_system_key(k)
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

    // Mount targets: what exists is the truth; a missing subnet shows as drift of `subnet_ids`. One
    // already `deleting` is gone.
    let (mts, first_groups) = mount_targets?;
    let own_group_sources = own_group_sources?;
    // Kept for a read later in this process, unless it has changed anything (see `aws::seen`).
    let read_groups = first_groups.as_ref().map(|(first, _)| first.mount_target_id.as_str());
    aws.seen.remember_refreshed_volume(
        &fs_id,
        VolumeFacts {
            mount_target_groups: first_groups
                .iter()
                .map(|(first, groups)| (first.mount_target_id.clone(), groups.clone()))
                .collect(),
            other_mount_targets: mts
                .iter()
                .filter(|mt| mt.life_cycle_state() == &LifeCycleState::Available)
                .map(|mt| mt.mount_target_id().to_string())
                .filter(|id| Some(id.as_str()) != read_groups)
                .collect(),
            file_system_policy: policy,
            nfs_source_groups: own_group_sources.as_ref().map(|s| s.security_group_ids.clone()).unwrap_or_default(),
            vpc_id: mts.iter().find_map(|mt| mt.vpc_id()).map(str::to_string),
        },
    );
    observed.mount_targets = mts.iter().map(MountTarget::from_aws).collect();
    if mts.is_empty() && own_group_sources.is_none() {
        // With no mount target using it, our security group may be gone too (a destroy
        // interrupted after deleting it): then the next apply makes a new one.
        observed.security_group_id = None;
    }
    let mut subnets: Vec<String> = observed.mount_targets.iter().map(|m| m.subnet_id.clone()).collect();
    subnets.sort();
    set(&mut next, "subnet_ids", Value::set_of_strings(subnets));

    // Security groups: the ones on the first available mount target (EFS refuses to tell them for
    // one still `creating`: the prior values stay then); ours if it carries our mark.
    let token = creation_token(&name);
    if let Some((first, groups)) = first_groups {
        let own = match &observed.security_group_id {
            Some(own) if groups == vec![own.clone()] => Some(own.clone()),
            _ if groups.len() == 1
                && state.get("security_group_id").is_none_or(Value::is_null)
                && state.get("id").is_none_or(Value::is_null) =>
            {
                // Import: adopt the group only if this resource made it.
                let marked = network::find_security_group_by_name(
                    &aws.ec2,
                    &vpc_of(aws, &first.subnet_id).await?,
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
                let sources = if observed.security_group_id.as_ref() == Some(&own) {
                    own_group_sources
                } else {
                    // Import: the group was found just now.
                    network::find_nfs_sources(&aws.ec2, &own).await?
                };
                observed.security_group_id = Some(own.clone());
                set(&mut next, "security_group_ids", Value::Null);
                if let Some(sources) = sources {
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
    let ap = match access_point? {
        // An import knows no name: the token comes from the file system, read just now.
        None if observed.access_point_id.is_none() && known_name.is_none() => {
            find_own_access_point(efs_client, &fs_id, None, Some(&token)).await?
        }
        found => found,
    };
    observed.access_point_id = ap.as_ref().and_then(|a| a.access_point_id().map(str::to_string));
    observed.access_point_arn = ap.as_ref().and_then(|a| a.access_point_arn().map(str::to_string));
    if let Some(ap) = &ap {
        let user = ap.posix_user();
        let root = ap.root_directory();
        let info = root.and_then(|r| r.creation_info());
        // An access point without a POSIX user or creation info (made outside Terraform) reads
        // as the defaults; one without a root directory exposes the file system's root.
        let id = |found: Option<i64>| Value::int(found.unwrap_or(defaults::POSIX_ID));
        let block = Value::object([
            ("uid", id(user.map(|u| u.uid()))),
            ("gid", id(user.map(|u| u.gid()))),
            ("root_directory", Value::string(root.and_then(|r| r.path()).unwrap_or("/"))),
            ("owner_uid", id(info.map(|i| i.owner_uid()))),
            ("owner_gid", id(info.map(|i| i.owner_gid()))),
            ("permissions", Value::string(info.map(|i| i.permissions()).unwrap_or(defaults::PERMISSIONS))),
        ]);
        set(&mut next, "access_point", block);
    }
    if next.get("kubernetes").is_none_or(|k| k.get("namespace").is_none_or(Value::is_null)) {
        // Only the rendered outputs depend on it, and AWS knows nothing of it: on import the
        // defaults, which the configuration's block then overrides at plan.
        set(&mut next, "kubernetes", schema::kubernetes_defaults());
    }
    observed.write(&mut next, region);
    let args = VolumeArgs::from_value(&next);
    write_rendered(&mut next, &args, observed.file_system_id.as_deref(), observed.access_point_id.as_deref(), false);
    Ok(next)
}

/// The state of a volume whose file system is gone (deleted outside Terraform, or by a destroy
/// interrupted before it deleted the security group): null when nothing of it is left, so the plan
/// makes it anew. When the security group this resource made is still there, the state keeps it
/// (and no file system): the plan then replaces the volume, and a destroy deletes the group,
/// which would otherwise be left with no state knowing it.
async fn without_file_system(
    aws: &AwsClients,
    region: &str,
    state: &Value,
    own_group: Option<&str>,
) -> Result<Value, Error> {
    let Some(own) = own_group else { return Ok(Value::Null) };
    if network::find_nfs_sources(&aws.ec2, own).await?.is_none() {
        return Ok(Value::Null);
    }
    let observed = Observed { security_group_id: Some(own.to_string()), ..Observed::default() };
    let mut next = state.clone();
    observed.write(&mut next, region);
    let args = VolumeArgs::from_value(&next);
    write_rendered(&mut next, &args, None, None, false);
    Ok(next)
}

/// The file system's mount targets but those already `deleting`, and the first `available` one with
/// its security groups (`None` without one): refresh reads the volume's groups from it. The groups
/// of `known` (a mount target the state records) are read while the mount targets are listed, and
/// used when the listing shows it `available`; otherwise they are read once the listing is in.
async fn mount_targets_with_groups(
    efs_client: &aws_sdk_efs::Client,
    fs_id: &str,
    known: Option<&str>,
) -> Result<(Vec<aws_sdk_efs::types::MountTargetDescription>, Option<(MountTarget, Vec<String>)>), Error> {
    let known_groups = async {
        match known {
            Some(id) => Some(efs::mount_target_security_groups(efs_client, id).await),
            None => None,
        }
    };
    let (listed, known_groups) = tokio::join!(efs::find_mount_targets(efs_client, fs_id), known_groups);
    let mts: Vec<_> = listed?.into_iter().filter(|mt| mt.life_cycle_state() != &LifeCycleState::Deleting).collect();
    let is_available =
        |mt: &&aws_sdk_efs::types::MountTargetDescription| mt.life_cycle_state() == &LifeCycleState::Available;
    let known_available = mts.iter().filter(is_available).find(|mt| Some(mt.mount_target_id()) == known);
    let groups = match (known_available, known_groups) {
        // Read while it was available: its answer holds (an error then is an error).
        (Some(mt), Some(groups)) => Some((MountTarget::from_aws(mt), groups?)),
        // The state's mount target is gone or not available: what was read of it means nothing.
        _ => match mts.iter().find(is_available) {
            Some(mt) => Some((
                MountTarget::from_aws(mt),
                efs::mount_target_security_groups(efs_client, mt.mount_target_id()).await?,
            )),
            None => None,
        },
    };
    Ok((mts, groups))
}

/// The volume's access point: the one the state names, or (import) the one carrying the mark of
/// the creation token `token`; without either, none.
async fn find_own_access_point(
    efs_client: &aws_sdk_efs::Client,
    fs_id: &str,
    id: Option<&str>,
    token: Option<&str>,
) -> Result<Option<aws_sdk_efs::types::AccessPointDescription>, Error> {
    match (id, token) {
        (Some(id), _) => efs::find_access_point_by_id(efs_client, id).await,
        (None, Some(token)) => Ok(efs::find_access_points(efs_client, fs_id)
            .await?
            .into_iter()
            .find(|ap| ap.tags().iter().any(|t| t.key() == tags::MANAGED_BY_TAG && t.value() == token))),
        (None, None) => Ok(None),
    }
}

/// What [`create`] learned beyond the ids it recorded: what EFS chose that the arguments leave open,
/// and whether the file system was adopted rather than made.
pub struct NewFileSystem {
    /// The key EFS encrypts with: the configured one, or EFS's default key when none is given.
    pub kms_key_id: Option<String>,
    /// The file system is one an earlier attempt made: it may have been made with other arguments
    /// than these, so the state is read back rather than taken from the plan.
    pub adopted: bool,
}

/// Creates the file system (or adopts the one an earlier attempt of this instance made with the same
/// creation token), waits until it is available, then makes the other parts, recording in `observed`
/// each part as soon as it exists. A file system with the token that is not this instance's fails
/// the create before anything is changed, and is never recorded in `observed`.
pub async fn create(
    aws: &AwsClients,
    args: &VolumeArgs,
    observed: &mut Observed,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<NewFileSystem, Error> {
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
    // The security group's VPC (the subnets', known since the plan checks) is looked up while the
    // file system is made. Neither create is preceded by a lookup of what an earlier attempt may
    // have left: CreateFileSystem changes nothing when the token is taken and answers with what
    // took it, whose owner is checked before anything else is made (the plan checked it too), and
    // CreateSecurityGroup answers `InvalidGroup.Duplicate` for a name taken in the VPC, when the
    // group is adopted if it is this instance's (see [`converge_security_group`]).
    let makes_group = args.creates_security_group() && observed.security_group_id.is_none();
    let (created, group_lookup) = tokio::join!(efs::create_file_system(&aws.efs, &spec), async {
        if !makes_group {
            return Ok(None);
        }
        let vpc = vpc_of(aws, &args.subnet_ids[0]).await?;
        Ok::<_, Error>(Some(GroupLookup { vpc, found: None }))
    });
    let (fs_id, adopted) = match created? {
        efs::CreatedFileSystem::Made(id) => (id, false),
        efs::CreatedFileSystem::Existing(existing) => {
            let found = claim(efs_tag(existing.tags(), OWNER_TAG), args);
            if found != Claim::Ours {
                return Err(file_system_not_owned(existing.file_system_id(), &spec.creation_token, &found));
            }
            (existing.file_system_id().to_string(), true)
        }
    };
    // Made (or adopted): from here on the state keeps it, whatever fails next (the group lookup
    // that ran beside its create included).
    observed.file_system_id = Some(fs_id.clone());
    let group_lookup = group_lookup?;
    // The file system becomes available while the security group is made.
    let mut group = observed.security_group_id.clone();
    let (fs, group_done) = tokio::join!(
        efs::wait_file_system_available(&aws.efs, &fs_id, timeout, cancel),
        converge_security_group(aws, args, None, group_lookup, &mut group),
    );
    observed.security_group_id = group;
    let fs = fs?;
    observed.file_system_arn = fs.file_system_arn().map(str::to_string);
    let new_group = group_done?;
    // A new group gets its rule while the mount targets are made with it: they need only its id.
    let (authorized, parts) = tokio::join!(
        authorize_new_group(aws, new_group.as_deref(), args, cancel),
        converge_parts(aws, args, None, !adopted, observed, timeout, cancel),
    );
    parts?;
    authorized?;
    Ok(NewFileSystem { kms_key_id: fs.kms_key_id().map(str::to_string), adopted })
}

/// What [`create`] looked up before making the security group: the subnets' VPC, and the group an
/// earlier attempt left there (see [`find_own_security_group`]).
struct GroupLookup {
    vpc: String,
    found: Option<String>,
}

/// Makes the NFS security group when this resource owns one and `group` has none (adopting the one
/// a crashed create of this instance made), or updates its rules when `allowed` changed since
/// `prior_args`. `lookup` is what the caller has looked up already. The answer is the group made
/// just now, if one was: its NFS rule is still to be added, which [`authorize_new_group`] does while
/// the mount targets are made with it.
async fn converge_security_group(
    aws: &AwsClients,
    args: &VolumeArgs,
    prior_args: Option<&VolumeArgs>,
    lookup: Option<GroupLookup>,
    group: &mut Option<String>,
) -> Result<Option<String>, Error> {
    if !args.creates_security_group() {
        return Ok(None);
    }
    match group.clone() {
        None => {
            let GroupLookup { vpc, found } = match lookup {
                Some(lookup) => lookup,
                None => {
                    let vpc = vpc_of(aws, &args.subnet_ids[0]).await?;
                    let found = find_own_security_group(aws, &vpc, args).await?;
                    GroupLookup { vpc, found }
                }
            };
            let id = match found {
                Some(id) => adopt_security_group(aws, id, args).await?,
                None => {
                    let name = security_group_name(args);
                    match network::create_nfs_security_group(&aws.ec2, &name, &vpc, &args.aws_tags()).await {
                        Ok(id) => {
                            *group = Some(id.clone());
                            return Ok(Some(id));
                        }
                        // An earlier attempt made it, but its answer was lost.
                        Err(e) if e.is_aws("InvalidGroup.Duplicate") => {
                            let found = find_own_security_group(aws, &vpc, args).await?.ok_or(e)?;
                            adopt_security_group(aws, found, args).await?
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            *group = Some(id);
        }
        Some(id) => {
            if let Some(prior) = prior_args.filter(|pa| pa.allowed != args.allowed) {
                if !prior.allowed.cidr_blocks.is_empty() || !prior.allowed.security_group_ids.is_empty() {
                    network::revoke_nfs(&aws.ec2, &id, &prior.allowed).await?;
                }
                network::authorize_nfs(&aws.ec2, &id, &args.allowed).await?;
            }
        }
    }
    Ok(None)
}

/// Adds the NFS rule to `new_group`, the group [`converge_security_group`] made just now (if any).
async fn authorize_new_group(
    aws: &AwsClients,
    new_group: Option<&str>,
    args: &VolumeArgs,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    match new_group {
        Some(id) => network::authorize_nfs_on_new_group(&aws.ec2, id, &args.allowed, cancel).await,
        None => Ok(()),
    }
}

/// Brings the parts other than the file system itself to what `args` asks for, recording what
/// exists in `observed` as it goes (so a failure still leaves an accurate state).
pub async fn converge(
    aws: &AwsClients,
    args: &VolumeArgs,
    prior_args: Option<&VolumeArgs>,
    observed: &mut Observed,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let mut group = observed.security_group_id.clone();
    let done = converge_security_group(aws, args, prior_args, None, &mut group).await;
    observed.security_group_id = group;
    let new_group = done?;
    let (authorized, parts) = tokio::join!(
        authorize_new_group(aws, new_group.as_deref(), args, cancel),
        converge_parts(aws, args, prior_args, false, observed, timeout, cancel),
    );
    parts?;
    authorized
}

/// [`converge`] after the security group; `new_file_system` when the file system was made by this
/// very create (so it has no parts yet that an earlier attempt made).
async fn converge_parts(
    aws: &AwsClients,
    args: &VolumeArgs,
    prior_args: Option<&VolumeArgs>,
    new_file_system: bool,
    observed: &mut Observed,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let efs_client = &aws.efs;
    let fs_id = observed.file_system_id.clone().unwrap_or_default();
    let aws_tags = args.aws_tags();
    let groups = mount_target_groups(args, observed.security_group_id.as_deref());

    // Mount targets, the access point and the file system's settings need nothing of each other,
    // only the file system (and the mount targets the group): they converge at once, and each
    // reports what exists even when it fails, so the state stays accurate.
    let (mut mount_targets, mut access_point) = (observed.mount_targets.clone(), AccessPointIds::of(observed));
    let basis = match prior_args {
        _ if new_file_system => AccessPointBasis::NewFileSystem,
        Some(prior) if prior.access_point != args.access_point => AccessPointBasis::Changed,
        _ => AccessPointBasis::Current,
    };
    let fs_arn = observed.file_system_arn.clone().unwrap_or_default();
    let (mount_targets_done, access_point_done, settings_done) = tokio::join!(
        converge_mount_targets(efs_client, &fs_id, args, &groups, &mut mount_targets, timeout, cancel),
        converge_access_point(efs_client, &fs_id, args, basis, &mut access_point, timeout, cancel),
        converge_settings(efs_client, &fs_id, &fs_arn, args, prior_args),
    );
    observed.mount_targets = mount_targets;
    (observed.access_point_id, observed.access_point_arn) = (access_point.id, access_point.arn);
    mount_targets_done?;
    access_point_done?;
    settings_done?;

    // The security group this resource no longer needs, once no mount target uses it.
    if !args.creates_security_group() {
        if let Some(id) = observed.security_group_id.clone() {
            network::delete_security_group(&aws.ec2, &id, timeout, cancel).await?;
            observed.security_group_id = None;
        }
    }

    // Throughput after the mount targets: the file system is `updating` for a while after it
    // changes, and EFS makes no mount target meanwhile.
    if let Some(prior) = prior_args {
        if prior.throughput_mode != args.throughput_mode
            || prior.provisioned_throughput_in_mibps != args.provisioned_throughput_in_mibps
        {
            let (mode, mibps) = (&args.throughput_mode, args.provisioned_throughput_in_mibps);
            efs::update_throughput(efs_client, &fs_id, mode, mibps, timeout, cancel).await?;
        }
    }

    // Tags last: a replaced access point got the new tags when it was made.
    if let Some(prior) = prior_args.filter(|prior| prior.tags_all != args.tags_all) {
        // AWS's own keys are never untagged, even if an older state holds one.
        let removed: Vec<String> = prior
            .tags_all
            .keys()
            .filter(|k| !args.tags_all.contains_key(*k) && !tags::is_system_key(k))
            .cloned()
            .collect();
        let mut ids = vec![fs_id.clone()];
        ids.extend(observed.access_point_id.clone());
        for id in &ids {
            if !removed.is_empty() {
                efs::untag_resource(efs_client, id, &removed).await?;
            }
            efs::tag_resource(efs_client, id, &aws_tags).await?;
        }
        if let Some(group_id) = &observed.security_group_id {
            network::retag_security_group(&aws.ec2, group_id, &aws_tags, &removed).await?;
        }
    }
    Ok(())
}

/// The first error of `results`, after all of them are in.
fn first_error(results: Vec<Result<(), Error>>) -> Result<(), Error> {
    results.into_iter().collect()
}

/// Removes the mount targets whose subnet is gone from the configuration, fixes the security groups
/// of the rest and creates the missing ones, each kind concurrently; `mount_targets` is kept to
/// what exists.
async fn converge_mount_targets(
    efs_client: &aws_sdk_efs::Client,
    fs_id: &str,
    args: &VolumeArgs,
    groups: &[String],
    mount_targets: &mut Vec<MountTarget>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let wanted: BTreeSet<&String> = args.subnet_ids.iter().collect();
    let (keep, remove): (Vec<MountTarget>, Vec<MountTarget>) =
        mount_targets.clone().into_iter().partition(|m| wanted.contains(&m.subnet_id));
    let deletes = remove.iter().map(|mt| async move {
        let deleted = efs::delete_mount_target(efs_client, fs_id, &mt.mount_target_id, timeout, cancel).await;
        (mt.mount_target_id.as_str(), deleted)
    });
    let mut results = Vec::new();
    for (id, deleted) in futures::future::join_all(deletes).await {
        if deleted.is_ok() {
            mount_targets.retain(|m| m.mount_target_id != id);
        }
        results.push(deleted);
    }
    first_error(results)?;
    let fixes = keep.iter().map(|mt| async move {
        let id = &mt.mount_target_id;
        let current = match efs::mount_target_security_groups(efs_client, id).await {
            // Still `creating` (an interrupted create left it): its groups can be read and set
            // once it is available.
            Err(e) if e.is_aws(efs::INCORRECT_MOUNT_TARGET_STATE) => {
                efs::wait_mount_targets_available(efs_client, fs_id, std::slice::from_ref(id), timeout, cancel).await?;
                efs::mount_target_security_groups(efs_client, id).await?
            }
            other => other?,
        };
        if current != sorted(groups) {
            efs::set_mount_target_security_groups(efs_client, id, groups).await?;
        }
        Ok(())
    });
    first_error(futures::future::join_all(fixes).await)?;
    let have: BTreeSet<String> = keep.iter().map(|m| m.subnet_id.clone()).collect();
    // The missing ones are made at once, then waited for together (one listing per poll); one
    // whose create failed does not keep the others out of the state.
    let creates = args
        .subnet_ids
        .iter()
        .filter(|s| !have.contains(*s))
        .map(|subnet| efs::create_mount_target(efs_client, fs_id, subnet, groups));
    let (mut made, mut results) = (Vec::new(), Vec::new());
    for created in futures::future::join_all(creates).await {
        results.push(created.map(|id| made.push(id)));
    }
    let available = efs::wait_mount_targets_available(efs_client, fs_id, &made, timeout, cancel).await;
    mount_targets.extend(available.as_deref().unwrap_or_default().iter().map(MountTarget::from_aws));
    results.push(available.map(drop));
    first_error(results)
}

/// The access point's id and ARN as the state records them.
struct AccessPointIds {
    id: Option<String>,
    arn: Option<String>,
}

impl AccessPointIds {
    fn of(observed: &Observed) -> AccessPointIds {
        AccessPointIds { id: observed.access_point_id.clone(), arn: observed.access_point_arn.clone() }
    }

    fn set(&mut self, ap: &aws_sdk_efs::types::AccessPointDescription) {
        self.id = ap.access_point_id().map(str::to_string);
        self.arn = ap.access_point_arn().map(str::to_string);
    }
}

/// What [`converge_access_point`] starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AccessPointBasis {
    /// A file system this create made just now: no earlier attempt can have made an access point
    /// on it.
    NewFileSystem,
    /// The arguments ask for the access point the state records (if it records one).
    Current,
    /// The access point's identity or directory changed: the recorded one is replaced.
    Changed,
}

/// Makes the access point when there is none, and replaces it (new first, then old) when its
/// identity or directory changes; either way adopting the one a crashed attempt of this instance
/// made already.
async fn converge_access_point(
    efs_client: &aws_sdk_efs::Client,
    fs_id: &str,
    args: &VolumeArgs,
    basis: AccessPointBasis,
    access_point: &mut AccessPointIds,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    if let Some(id) = access_point.id.clone() {
        if efs::find_access_point_by_id(efs_client, &id).await?.is_none() {
            // Deleted out of band: recreate it.
            *access_point = AccessPointIds { id: None, arn: None };
        }
    }
    let ap_changed = basis == AccessPointBasis::Changed;
    // The one the state records, to delete once the new one exists (a failed create must not lose
    // it; the new one is recorded before the old one goes, so a failed delete loses neither).
    let old = access_point.id.clone().filter(|_| ap_changed);
    if access_point.id.is_none() || ap_changed {
        // An earlier attempt that crashed (of this create, of this replacement, or of a recreate)
        // may have made the wanted one already: it carries this resource's marks and settings.
        let token = creation_token(&args.name);
        let recorded = access_point.id.clone();
        let earlier = match basis {
            AccessPointBasis::NewFileSystem => Vec::new(),
            _ => efs::find_access_points(efs_client, fs_id).await?,
        };
        let left = earlier.into_iter().find(|ap| {
            efs_tag(ap.tags(), tags::MANAGED_BY_TAG) == Some(token.as_str())
                && claim(efs_tag(ap.tags(), OWNER_TAG), args) == Claim::Ours
                && efs::AccessPointSpec::from_aws(ap).as_ref() == Some(&args.access_point)
                && ap.access_point_id() != recorded.as_deref()
        });
        match left {
            Some(ap) => access_point.set(&ap),
            None => {
                let ap =
                    efs::create_access_point(efs_client, fs_id, &args.access_point, &args.aws_tags(), timeout, cancel)
                        .await?;
                access_point.set(&ap);
            }
        }
    }
    if let Some(old) = old {
        efs::delete_access_point(efs_client, &old, timeout, cancel).await?;
    }
    Ok(())
}

/// The file system policy the arguments ask for: TLS only, or none.
fn file_system_policy(args: &VolumeArgs, fs_arn: &str) -> Option<String> {
    args.enforce_tls.then(|| policy::tls_policy(fs_arn).to_string())
}

/// What a create that made the file system (not adopted it) wrote, kept for the reads later in
/// this process (see [`crate::aws::seen`]): every mount target got the same groups. `vpc_id` is
/// the subnets' VPC.
pub fn written(args: &VolumeArgs, observed: &Observed, vpc_id: Option<String>) -> VolumeFacts {
    let groups = sorted(&mount_target_groups(args, observed.security_group_id.as_deref()));
    VolumeFacts {
        nfs_source_groups: args.allowed.security_group_ids.clone(),
        vpc_id,
        mount_target_groups: observed
            .mount_targets
            .iter()
            .map(|mt| (mt.mount_target_id.clone(), groups.clone()))
            .collect(),
        other_mount_targets: Vec::new(),
        file_system_policy: file_system_policy(args, observed.file_system_arn.as_deref().unwrap_or_default()),
    }
}

/// Lifecycle, TLS policy and backup, each only when it differs from `prior_args` (on create: when
/// it differs from what a new file system has).
async fn converge_settings(
    efs_client: &aws_sdk_efs::Client,
    fs_id: &str,
    fs_arn: &str,
    args: &VolumeArgs,
    prior_args: Option<&VolumeArgs>,
) -> Result<(), Error> {
    let changed = |f: &dyn Fn(&VolumeArgs) -> String| prior_args.is_none_or(|pa| f(pa) != f(args));
    let lifecycle = async {
        if changed(&|a| format!("{:?}", a.transition_to_ia))
            && (prior_args.is_some() || args.transition_to_ia.is_some())
        {
            efs::put_transition_to_ia(efs_client, fs_id, args.transition_to_ia.as_deref()).await?;
        }
        Ok(())
    };
    let tls_policy = async {
        if changed(&|a| a.enforce_tls.to_string()) {
            if let Some(document) = file_system_policy(args, fs_arn) {
                efs::put_file_system_policy(efs_client, fs_id, &document).await?;
            } else if prior_args.is_some() {
                efs::delete_file_system_policy(efs_client, fs_id).await?;
            }
        }
        Ok(())
    };
    let backup = async {
        if prior_args.is_some_and(|prior| prior.backup != args.backup) {
            efs::put_backup(efs_client, fs_id, args.backup).await?;
        }
        Ok(())
    };
    let (lifecycle, tls_policy, backup) = tokio::join!(lifecycle, tls_policy, backup);
    first_error(vec![lifecycle, tls_policy, backup])
}

/// What destroy reads before it deletes anything, at once and once: the file system (for its
/// owner tag), its access points (to find the CSI driver's, and the ones to delete) and its mount
/// targets (every one, including any the state does not know yet).
pub struct BeforeDestroy {
    file_system: Option<aws_sdk_efs::types::FileSystemDescription>,
    access_points: Vec<aws_sdk_efs::types::AccessPointDescription>,
    mount_targets: Vec<aws_sdk_efs::types::MountTargetDescription>,
}

impl BeforeDestroy {
    pub async fn read(aws: &AwsClients, observed: &Observed) -> Result<BeforeDestroy, Error> {
        let Some(fs_id) = &observed.file_system_id else {
            return Ok(BeforeDestroy { file_system: None, access_points: Vec::new(), mount_targets: Vec::new() });
        };
        let (file_system, access_points, mount_targets) = tokio::try_join!(
            efs::find_file_system_by_id(&aws.efs, fs_id),
            efs::find_access_points(&aws.efs, fs_id),
            efs::find_mount_targets(&aws.efs, fs_id)
        )?;
        Ok(BeforeDestroy { file_system, access_points, mount_targets })
    }

    /// The access points of the file system that this resource did not make (neither the one in
    /// the state nor one carrying the ownership tag): the CSI driver's, with dynamic provisioning.
    pub fn foreign_access_points(&self, observed: &Observed) -> Vec<String> {
        self.access_points
            .iter()
            .filter(|ap| !ap.tags().iter().any(|t| t.key() == tags::MANAGED_BY_TAG))
            .filter_map(|ap| ap.access_point_id().map(str::to_string))
            .filter(|id| observed.access_point_id.as_ref() != Some(id))
            .collect()
    }

    /// What the file system's owner tag says, when it names another owner than `owner_id`.
    pub fn other_owner(&self, owner_id: Option<&str>) -> Option<Claim> {
        let fs = self.file_system.as_ref()?;
        let found = Claim::of(efs_tag(fs.tags(), OWNER_TAG), owner_id);
        matches!(found, Claim::OtherOwner(_)).then_some(found)
    }
}

/// Deletes every part, in reverse dependency order; `before` is what destroy read first (a file
/// system of another owner never gets here).
pub async fn teardown(
    aws: &AwsClients,
    observed: &Observed,
    before: &BeforeDestroy,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let efs_client = &aws.efs;
    // Access points and mount targets go at once; the security group and the file system once no
    // mount target uses them, also at once.
    let Some(fs_id) = &observed.file_system_id else {
        if let Some(sg) = &observed.security_group_id {
            network::delete_security_group(&aws.ec2, sg, timeout, cancel).await?;
        }
        return Ok(());
    };
    let access_points = async {
        // The state's, and any a crashed create or update made before the state knew them.
        let mut ours: BTreeSet<&str> = before
            .access_points
            .iter()
            .filter(|ap| ap.tags().iter().any(|t| t.key() == tags::MANAGED_BY_TAG))
            .filter_map(|ap| ap.access_point_id())
            .collect();
        ours.extend(observed.access_point_id.as_deref());
        let deletes = ours.iter().map(|ap| efs::delete_access_point(efs_client, ap, timeout, cancel));
        first_error(futures::future::join_all(deletes).await)
    };
    let mount_targets = async {
        let deletes =
            before.mount_targets.iter().map(|mt| efs::delete_listed_mount_target(efs_client, mt, timeout, cancel));
        first_error(futures::future::join_all(deletes).await)
    };
    let (access_points, mount_targets) = tokio::join!(access_points, mount_targets);
    access_points?;
    mount_targets?;
    let group = async {
        match &observed.security_group_id {
            Some(sg) => network::delete_security_group(&aws.ec2, sg, timeout, cancel).await,
            None => Ok(()),
        }
    };
    let (group, file_system) = tokio::join!(group, efs::delete_file_system(efs_client, fs_id, timeout, cancel));
    group?;
    file_system?;
    Ok(())
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items
}

pub async fn vpc_of(aws: &AwsClients, subnet_id: &str) -> Result<String, Error> {
    Ok(network::find_subnets(&aws.ec2, &aws.known, &[subnet_id.to_string()])
        .await?
        .into_iter()
        .next()
        .map(|s| s.vpc_id)
        .unwrap_or_default())
}
