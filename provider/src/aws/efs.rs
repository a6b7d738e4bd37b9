//! EFS: finders, waiters and calls for file systems, mount targets and access points, shaped as
//! terraform-provider-aws has them: `find_*` turns "not found" and the `deleted` lifecycle state
//! into `Ok(None)`, `wait_*` polls with a deadline.

use std::time::Duration;

use aws_sdk_efs::types::{
    AccessPointDescription, BackupPolicy, CreationInfo, FileSystemDescription, LifeCycleState, LifecyclePolicy,
    MountTargetDescription, PerformanceMode, PosixUser, RootDirectory, Status, Tag, ThroughputMode,
    TransitionToIaRules,
};
use tokio_util::sync::CancellationToken;

use crate::aws::wait::{retry_while, StateWaiter, NOT_FOUND};
use crate::aws::{AwsResultExt, NotFoundExt};
use crate::error::Error;

type Efs = aws_sdk_efs::Client;

fn efs_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect()
}

/// What a new file system is made with.
#[derive(Clone, Debug, Default)]
pub struct FileSystemSpec {
    pub creation_token: String,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub performance_mode: String,
    pub throughput_mode: String,
    pub provisioned_throughput_in_mibps: Option<f64>,
    pub backup: bool,
    pub tags: Vec<(String, String)>,
}

pub async fn find_file_system_by_id(efs: &Efs, id: &str) -> Result<Option<FileSystemDescription>, Error> {
    let out = efs.describe_file_systems().file_system_id(id).send().await.context("reading EFS File System", id);
    let found = out.or_not_found(&["FileSystemNotFound"])?;
    Ok(found
        .and_then(|o| o.file_systems().first().cloned())
        .filter(|fs| fs.life_cycle_state() != &LifeCycleState::Deleted))
}

pub async fn find_file_system_by_token(efs: &Efs, token: &str) -> Result<Option<FileSystemDescription>, Error> {
    let out = efs
        .describe_file_systems()
        .creation_token(token)
        .send()
        .await
        .context("reading EFS File System by creation token", token)?;
    Ok(out.file_systems().first().cloned().filter(|fs| fs.life_cycle_state() != &LifeCycleState::Deleted))
}

/// Regions where EFS has an endpoint and AWS Backup (which makes EFS's automatic backups) has none,
/// from the endpoint data botocore 1.44.8 publishes per service, the one public list of which
/// service is in which region. A region newer than that data is not in it either way, so it gets
/// no warning: the provider cannot know.
pub const REGIONS_WITHOUT_AWS_BACKUP: &[&str] = &["eu-isoe-west-1"];

/// What [`create_file_system`] got: a file system it made, or the one the creation token names
/// already (made by an earlier, crashed or retried create, or by whoever else used the token),
/// described with its tags so the caller can tell whose it is before using it.
pub enum CreatedFileSystem {
    Made(String),
    Existing(Box<FileSystemDescription>),
}

/// Creates the file system, or finds the one made before with the same creation token:
/// CreateFileSystem changes nothing when the token was used before, and answers
/// `FileSystemAlreadyExists` (moto without the id).
pub async fn create_file_system(efs: &Efs, spec: &FileSystemSpec) -> Result<CreatedFileSystem, Error> {
    let mut call = efs
        .create_file_system()
        .creation_token(&spec.creation_token)
        .encrypted(spec.encrypted)
        .set_kms_key_id(spec.kms_key_id.clone())
        .performance_mode(PerformanceMode::from(spec.performance_mode.as_str()))
        .throughput_mode(ThroughputMode::from(spec.throughput_mode.as_str()))
        .backup(spec.backup)
        .set_tags(Some(efs_tags(&spec.tags)));
    if let Some(mibps) = spec.provisioned_throughput_in_mibps {
        call = call.provisioned_throughput_in_mibps(mibps);
    }
    match call.send().await.context("creating EFS File System", &spec.creation_token) {
        Ok(out) => Ok(CreatedFileSystem::Made(out.file_system_id().to_string())),
        Err(e) if e.is_aws("FileSystemAlreadyExists") => find_file_system_by_token(efs, &spec.creation_token)
            .await?
            .map(|fs| CreatedFileSystem::Existing(Box::new(fs)))
            .ok_or(e),
        Err(e) => Err(e),
    }
}

/// Waits until the file system is `available`: after a create (EFS may not list it at once) or
/// an update (`updating` meanwhile).
pub async fn wait_file_system_available(
    efs: &Efs,
    id: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<FileSystemDescription, Error> {
    let waiter = StateWaiter {
        object: &format!("EFS File System {id}"),
        pending: &["creating", "updating", NOT_FOUND],
        target: &["available"],
        timeout,
    };
    waiter.wait_found(cancel, || find_file_system_by_id(efs, id), |fs| fs.life_cycle_state().as_str()).await
}

/// Deletes the file system, retrying `FileSystemInUse` while its mount targets are released, then
/// waits until it is gone. Not found is success.
pub async fn delete_file_system(
    efs: &Efs,
    id: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let result = retry_while(
        &format!("deleting EFS File System {id}"),
        timeout,
        cancel,
        |e| e.is_aws("FileSystemInUse"),
        || async {
            efs.delete_file_system().file_system_id(id).send().await.context("deleting EFS File System", id).map(|_| ())
        },
    )
    .await;
    if result.or_not_found(&["FileSystemNotFound"])?.is_none() {
        return Ok(());
    }
    let waiter = StateWaiter {
        object: &format!("EFS File System {id}"),
        pending: &["available", "deleting"],
        target: &[NOT_FOUND],
        timeout,
    };
    waiter.wait(cancel, || find_file_system_by_id(efs, id), |fs| fs.life_cycle_state().as_str()).await.map(drop)
}

pub async fn find_mount_targets(efs: &Efs, file_system_id: &str) -> Result<Vec<MountTargetDescription>, Error> {
    let out = efs
        .describe_mount_targets()
        .file_system_id(file_system_id)
        .send()
        .await
        .context("reading EFS Mount Targets", file_system_id);
    Ok(out
        .or_not_found(&["FileSystemNotFound"])?
        .map(|o| o.mount_targets().to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter(|mt| mt.life_cycle_state() != &LifeCycleState::Deleted)
        .collect())
}

pub async fn find_mount_target_by_id(efs: &Efs, id: &str) -> Result<Option<MountTargetDescription>, Error> {
    let out = efs.describe_mount_targets().mount_target_id(id).send().await.context("reading EFS Mount Target", id);
    Ok(out
        .or_not_found(&["MountTargetNotFound"])?
        .and_then(|o| o.mount_targets().first().cloned())
        .filter(|mt| mt.life_cycle_state() != &LifeCycleState::Deleted))
}

/// Creates a mount target; the answer is its id. [`wait_mount_targets_available`] waits for it.
///
/// CreateMountTarget has no idempotency token: when an earlier attempt made the mount target but its
/// answer was lost (a retried call, or a provider that crashed), EFS answers `MountTargetConflict`.
/// The file system's mount target in that very subnet is then the one to wait for; a conflict with
/// another subnet of the same zone stays an error.
pub async fn create_mount_target(
    efs: &Efs,
    file_system_id: &str,
    subnet_id: &str,
    security_group_ids: &[String],
) -> Result<String, Error> {
    let created = efs
        .create_mount_target()
        .file_system_id(file_system_id)
        .subnet_id(subnet_id)
        .set_security_groups(Some(security_group_ids.to_vec()))
        .send()
        .await
        .context("creating EFS Mount Target", &format!("{file_system_id} in {subnet_id}"));
    match created {
        Ok(out) => Ok(out.mount_target_id().to_string()),
        Err(e) if e.is_aws("MountTargetConflict") => {
            let existing = find_mount_targets(efs, file_system_id).await?;
            match existing.iter().find(|mt| mt.subnet_id() == subnet_id) {
                Some(mt) => Ok(mt.mount_target_id().to_string()),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Waits until every one of `ids`, mount targets of `file_system_id`, is `available`, with one
/// listing of the file system's mount targets per poll rather than one call per mount target. The
/// answer is their descriptions, in the order of `ids`.
pub async fn wait_mount_targets_available(
    efs: &Efs,
    file_system_id: &str,
    ids: &[String],
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Vec<MountTargetDescription>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let object = match ids {
        [id] => format!("EFS Mount Target {id}"),
        _ => format!("EFS Mount Targets {} of {file_system_id}", ids.join(", ")),
    };
    let waiter = StateWaiter { object: &object, pending: &["creating", NOT_FOUND], target: &["available"], timeout };
    let listed = || async {
        let listed = find_mount_targets(efs, file_system_id).await?;
        let wanted: Option<Vec<MountTargetDescription>> =
            ids.iter().map(|id| listed.iter().find(|mt| mt.mount_target_id() == id).cloned()).collect();
        Ok(Some(wanted))
    };
    let found = waiter.wait_found(cancel, listed, mount_targets_state).await?;
    Ok(found.unwrap_or_default())
}

/// EFS's answer to a mount target call made while the mount target is not `available` (still
/// `creating`, or already `deleting`): DeleteMountTarget, ModifyMountTargetSecurityGroups and
/// DescribeMountTargetSecurityGroups refuse it then.
pub const INCORRECT_MOUNT_TARGET_STATE: &str = "IncorrectMountTargetState";

fn mount_target_state(mt: &MountTargetDescription) -> &str {
    mt.life_cycle_state().as_str()
}

/// The state of mount targets waited for together: not yet listed, all of them, reads as not
/// found; otherwise the first that is not `available` decides (`creating` waits on, any other
/// state ends the wait).
fn mount_targets_state(wanted: &Option<Vec<MountTargetDescription>>) -> &str {
    match wanted {
        None => NOT_FOUND,
        Some(mts) => mts.iter().map(mount_target_state).find(|s| *s != "available").unwrap_or("available"),
    }
}

/// Deletes a mount target and waits until it is gone. Not found is success, and so is a mount
/// target already `deleting` (it is only waited for). One still `creating` is waited for until it
/// is `available` first, since EFS refuses to delete it before (`IncorrectMountTargetState`), and
/// that refusal is retried the same way until `timeout`.
pub async fn delete_mount_target(
    efs: &Efs,
    file_system_id: &str,
    id: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    delete_mount_target_seen(efs, file_system_id, id, None, timeout, cancel).await
}

/// [`delete_mount_target`] of a mount target just listed (`listed`): its state is known, so the
/// first attempt does not describe it again.
pub async fn delete_listed_mount_target(
    efs: &Efs,
    listed: &MountTargetDescription,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let seen = Some(listed.life_cycle_state().clone());
    delete_mount_target_seen(efs, listed.file_system_id(), listed.mount_target_id(), seen, timeout, cancel).await
}

async fn delete_mount_target_seen(
    efs: &Efs,
    file_system_id: &str,
    id: &str,
    seen: Option<LifeCycleState>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    // The state the first attempt starts from; every later attempt describes the mount target.
    let seen = std::sync::Mutex::new(seen);
    let requested = retry_while(
        &format!("deleting EFS Mount Target {id}"),
        timeout,
        cancel,
        |e| e.is_aws(INCORRECT_MOUNT_TARGET_STATE),
        || async {
            let known = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            let state = match known {
                Some(state) => state,
                None => match find_mount_target_by_id(efs, id).await? {
                    Some(mt) => mt.life_cycle_state().clone(),
                    None => return Ok(false),
                },
            };
            match state {
                LifeCycleState::Deleting | LifeCycleState::Deleted => return Ok(true),
                LifeCycleState::Creating => {
                    wait_mount_targets_available(efs, file_system_id, &[id.to_string()], timeout, cancel).await?;
                }
                _ => {}
            }
            let result =
                efs.delete_mount_target().mount_target_id(id).send().await.context("deleting EFS Mount Target", id);
            Ok(result.or_not_found(&["MountTargetNotFound"])?.is_some())
        },
    )
    .await?;
    if !requested {
        return Ok(());
    }
    let waiter = StateWaiter {
        object: &format!("EFS Mount Target {id}"),
        pending: &["available", "deleting"],
        target: &[NOT_FOUND],
        timeout,
    };
    waiter.wait(cancel, || find_mount_target_by_id(efs, id), mount_target_state).await.map(drop)
}

pub async fn set_mount_target_security_groups(efs: &Efs, id: &str, groups: &[String]) -> Result<(), Error> {
    efs.modify_mount_target_security_groups()
        .mount_target_id(id)
        .set_security_groups(Some(groups.to_vec()))
        .send()
        .await
        .context("updating EFS Mount Target security groups", id)?;
    Ok(())
}

pub async fn mount_target_security_groups(efs: &Efs, id: &str) -> Result<Vec<String>, Error> {
    let out = efs
        .describe_mount_target_security_groups()
        .mount_target_id(id)
        .send()
        .await
        .context("reading EFS Mount Target security groups", id)?;
    let mut groups = out.security_groups().to_vec();
    groups.sort();
    Ok(groups)
}

/// The POSIX identity and root directory of an access point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPointSpec {
    pub uid: i64,
    pub gid: i64,
    pub path: String,
    pub owner_uid: i64,
    pub owner_gid: i64,
    pub permissions: String,
}

impl AccessPointSpec {
    /// The spec of an existing access point; `None` when it lacks a POSIX user or creation info.
    pub fn from_aws(ap: &AccessPointDescription) -> Option<AccessPointSpec> {
        let user = ap.posix_user()?;
        let root = ap.root_directory()?;
        let info = root.creation_info()?;
        Some(AccessPointSpec {
            uid: user.uid(),
            gid: user.gid(),
            path: root.path().unwrap_or("/").to_string(),
            owner_uid: info.owner_uid(),
            owner_gid: info.owner_gid(),
            permissions: info.permissions().to_string(),
        })
    }
}

/// Creates an access point and waits until it is `available` (EFS may not describe it at once).
pub async fn create_access_point(
    efs: &Efs,
    file_system_id: &str,
    spec: &AccessPointSpec,
    tags: &[(String, String)],
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<AccessPointDescription, Error> {
    let object = format!("{file_system_id}:{}", spec.path);
    let invalid = |source| Error::InvalidRequest { request: "CreateAccessPoint", source };
    let out = efs
        .create_access_point()
        .file_system_id(file_system_id)
        .posix_user(PosixUser::builder().uid(spec.uid).gid(spec.gid).build().map_err(invalid)?)
        .root_directory(
            RootDirectory::builder()
                .path(&spec.path)
                .creation_info(
                    CreationInfo::builder()
                        .owner_uid(spec.owner_uid)
                        .owner_gid(spec.owner_gid)
                        .permissions(&spec.permissions)
                        .build()
                        .map_err(invalid)?,
                )
                .build(),
        )
        .set_tags(Some(efs_tags(tags)))
        .send()
        .await
        .context("creating EFS Access Point", &object)?;
    let id = out.access_point_id().unwrap_or_default();
    let waiter = StateWaiter {
        object: &format!("EFS Access Point {id}"),
        pending: &["creating", NOT_FOUND],
        target: &["available"],
        timeout,
    };
    waiter.wait_found(cancel, || find_access_point_by_id(efs, id), access_point_state).await
}

fn access_point_state(ap: &AccessPointDescription) -> &str {
    ap.life_cycle_state().map_or("", LifeCycleState::as_str)
}

pub async fn find_access_point_by_id(efs: &Efs, id: &str) -> Result<Option<AccessPointDescription>, Error> {
    let out = efs.describe_access_points().access_point_id(id).send().await.context("reading EFS Access Point", id);
    Ok(out
        .or_not_found(&["AccessPointNotFound"])?
        .and_then(|o| o.access_points().first().cloned())
        .filter(|ap| ap.life_cycle_state() != Some(&LifeCycleState::Deleted)))
}

/// Every access point of the file system, page after page (with dynamic provisioning the CSI driver
/// makes one per volume, so there may be many).
pub async fn find_access_points(efs: &Efs, file_system_id: &str) -> Result<Vec<AccessPointDescription>, Error> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = efs
            .describe_access_points()
            .file_system_id(file_system_id)
            .set_next_token(token)
            .send()
            .await
            .context("reading EFS Access Points", file_system_id);
        let Some(out) = out.or_not_found(&["FileSystemNotFound"])? else { return Ok(found) };
        found.extend(out.access_points().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// Deletes an access point and waits until it is gone. Not found is success.
pub async fn delete_access_point(
    efs: &Efs,
    id: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let result = efs.delete_access_point().access_point_id(id).send().await.context("deleting EFS Access Point", id);
    if result.or_not_found(&["AccessPointNotFound"])?.is_none() {
        return Ok(());
    }
    let waiter = StateWaiter {
        object: &format!("EFS Access Point {id}"),
        pending: &["available", "deleting"],
        target: &[NOT_FOUND],
        timeout,
    };
    waiter.wait(cancel, || find_access_point_by_id(efs, id), access_point_state).await.map(drop)
}

/// The `TransitionToIA` rule of the lifecycle configuration, if any (`AFTER_30_DAYS`, ...).
pub async fn find_transition_to_ia(efs: &Efs, file_system_id: &str) -> Result<Option<String>, Error> {
    let out = efs
        .describe_lifecycle_configuration()
        .file_system_id(file_system_id)
        .send()
        .await
        .context("reading EFS Lifecycle Configuration", file_system_id)?;
    Ok(out.lifecycle_policies().iter().find_map(|p| p.transition_to_ia().map(|t| t.as_str().to_string())))
}

/// Sets (or with `None`, clears) the `TransitionToIA` rule.
pub async fn put_transition_to_ia(efs: &Efs, file_system_id: &str, rule: Option<&str>) -> Result<(), Error> {
    let policies = rule.map(|r| LifecyclePolicy::builder().transition_to_ia(TransitionToIaRules::from(r)).build());
    efs.put_lifecycle_configuration()
        .file_system_id(file_system_id)
        .set_lifecycle_policies(Some(policies.into_iter().collect()))
        .send()
        .await
        .context("updating EFS Lifecycle Configuration", file_system_id)?;
    Ok(())
}

/// The file system policy JSON, or `None` when there is none.
pub async fn find_file_system_policy(efs: &Efs, file_system_id: &str) -> Result<Option<String>, Error> {
    let out = efs
        .describe_file_system_policy()
        .file_system_id(file_system_id)
        .send()
        .await
        .context("reading EFS File System Policy", file_system_id);
    Ok(out.or_not_found(&["PolicyNotFound", "FileSystemNotFound"])?.and_then(|o| o.policy().map(str::to_string)))
}

pub async fn put_file_system_policy(efs: &Efs, file_system_id: &str, policy: &str) -> Result<(), Error> {
    efs.put_file_system_policy()
        .file_system_id(file_system_id)
        .policy(policy)
        .send()
        .await
        .context("updating EFS File System Policy", file_system_id)?;
    Ok(())
}

pub async fn delete_file_system_policy(efs: &Efs, file_system_id: &str) -> Result<(), Error> {
    let result = efs
        .delete_file_system_policy()
        .file_system_id(file_system_id)
        .send()
        .await
        .context("deleting EFS File System Policy", file_system_id);
    result.or_not_found(&["PolicyNotFound"]).map(|_| ())
}

/// Whether AWS Backup's automatic backups are on. `ENABLING` counts as on and `DISABLING` as off,
/// since that is where they are heading; a file system that never had a backup policy answers
/// `PolicyNotFound`, which is off.
pub async fn find_backup_enabled(efs: &Efs, file_system_id: &str) -> Result<bool, Error> {
    let out = efs
        .describe_backup_policy()
        .file_system_id(file_system_id)
        .send()
        .await
        .context("reading EFS Backup Policy", file_system_id);
    Ok(out
        .or_not_found(&["PolicyNotFound"])?
        .and_then(|o| o.backup_policy().map(|p| matches!(p.status(), Status::Enabled | Status::Enabling)))
        .unwrap_or(false))
}

/// Turns automatic backups on or off; returns the status AWS answers with (`ENABLING`, ...).
pub async fn put_backup(efs: &Efs, file_system_id: &str, enabled: bool) -> Result<Status, Error> {
    let status = if enabled { Status::Enabled } else { Status::Disabled };
    let policy = BackupPolicy::builder()
        .status(status)
        .build()
        .map_err(|source| Error::InvalidRequest { request: "PutBackupPolicy", source })?;
    let out = efs
        .put_backup_policy()
        .file_system_id(file_system_id)
        .backup_policy(policy)
        .send()
        .await
        .context("updating EFS Backup Policy", file_system_id)?;
    Ok(out.backup_policy().map(|p| p.status().clone()).unwrap_or(Status::Enabling))
}

/// Changes the throughput mode (and provisioned MiB/s), then waits until the file system is
/// `available` again: it is `updating` meanwhile, and EFS refuses other changes in that state.
pub async fn update_throughput(
    efs: &Efs,
    file_system_id: &str,
    mode: &str,
    mibps: Option<f64>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<FileSystemDescription, Error> {
    let out = efs
        .update_file_system()
        .file_system_id(file_system_id)
        .throughput_mode(ThroughputMode::from(mode))
        .set_provisioned_throughput_in_mibps(mibps)
        .send()
        .await
        .context("updating EFS File System throughput", file_system_id)?;
    if out.life_cycle_state() == &LifeCycleState::Available {
        return find_file_system_by_id(efs, file_system_id)
            .await?
            .ok_or_else(|| Error::Vanished { what: format!("EFS File System {file_system_id}"), step: "its update" });
    }
    wait_file_system_available(efs, file_system_id, timeout, cancel).await
}

pub async fn tag_resource(efs: &Efs, id: &str, tags: &[(String, String)]) -> Result<(), Error> {
    efs.tag_resource()
        .resource_id(id)
        .set_tags(Some(efs_tags(tags)))
        .send()
        .await
        .context("tagging EFS resource", id)?;
    Ok(())
}

pub async fn untag_resource(efs: &Efs, id: &str, keys: &[String]) -> Result<(), Error> {
    efs.untag_resource()
        .resource_id(id)
        .set_tag_keys(Some(keys.to_vec()))
        .send()
        .await
        .context("untagging EFS resource", id)?;
    Ok(())
}

/// SDK-level replay tests of the calls moto does not serve (`PutBackupPolicy`, `UpdateFileSystem`)
/// and of the backup policy read: the exact requests the SDK sends and what the code makes of the
/// answers.
#[cfg(test)]
mod tests {
    use aws_sdk_efs::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_runtime_api::http::{Request, Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::retry::RetryConfig;
    use serde_json::json;

    use super::*;

    const ENDPOINT: &str = "https://elasticfilesystem.us-east-1.amazonaws.com";

    fn client(replay: &StaticReplayClient) -> Efs {
        let config = aws_sdk_efs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(replay.clone())
            .build();
        Efs::from_conf(config)
    }

    fn request(method: &str, path: &str, body: Option<serde_json::Value>) -> Request {
        let mut req = Request::new(body.map(|b| SdkBody::from(b.to_string())).unwrap_or_else(SdkBody::empty));
        req.set_method(method).unwrap();
        req.set_uri(format!("{ENDPOINT}{path}")).unwrap();
        req
    }

    fn response(status: u16, body: serde_json::Value, error_type: Option<&str>) -> Response {
        let mut res = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.to_string()));
        res.headers_mut().insert("content-type", "application/json");
        if let Some(code) = error_type {
            res.headers_mut().insert("x-amzn-errortype", code.to_string());
        }
        res
    }

    /// Every expected request was sent, with the same URI, JSON body and method.
    fn assert_sent(replay: &StaticReplayClient, methods: &[&str]) {
        replay.relaxed_requests_match();
        let sent: Vec<String> = replay.actual_requests().map(|r| r.method().to_string()).collect();
        assert_eq!(sent, methods);
    }

    fn file_system(state: &str, mode: &str, mibps: f64) -> serde_json::Value {
        json!({
            "OwnerId": "123456789012",
            "CreationToken": "efs-prometheus-prom",
            "FileSystemId": "fs-0123456789abcdef0",
            "FileSystemArn": "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
            "CreationTime": 1_700_000_000.0,
            "LifeCycleState": state,
            "NumberOfMountTargets": 3,
            "SizeInBytes": {"Value": 6144},
            "PerformanceMode": "generalPurpose",
            "Encrypted": true,
            "ThroughputMode": mode,
            "ProvisionedThroughputInMibps": mibps,
            "Tags": []
        })
    }

    fn mount_target(id: &str, state: LifeCycleState) -> MountTargetDescription {
        MountTargetDescription::builder()
            .mount_target_id(id)
            .file_system_id("fs-0123456789abcdef0")
            .subnet_id("subnet-1")
            .life_cycle_state(state)
            .build()
            .unwrap()
    }

    /// Mount targets waited for together are available only when all are; one not yet listed
    /// reads as not found, and one in any other state decides for all.
    #[test]
    fn mount_targets_waited_for_together_take_the_state_of_the_one_behind() {
        let (a, b) = ("fsmt-a", "fsmt-b");
        assert_eq!(mount_targets_state(&None), NOT_FOUND);
        let listed = |states: [LifeCycleState; 2]| {
            let [sa, sb] = states;
            Some(vec![mount_target(a, sa), mount_target(b, sb)])
        };
        assert_eq!(mount_targets_state(&listed([LifeCycleState::Available, LifeCycleState::Available])), "available");
        assert_eq!(mount_targets_state(&listed([LifeCycleState::Available, LifeCycleState::Creating])), "creating");
        assert_eq!(mount_targets_state(&listed([LifeCycleState::Error, LifeCycleState::Creating])), "error");
    }

    /// `enforce_tls = false` on an existing volume deletes the policy (moto has no
    /// DeleteFileSystemPolicy); a policy already gone counts as deleted.
    #[tokio::test]
    async fn delete_file_system_policy_sends_delete_and_treats_not_found_as_done() {
        let path = "/2015-02-01/file-systems/fs-0123456789abcdef0/policy";
        let replay = StaticReplayClient::new(vec![
            ReplayEvent::new(request("DELETE", path, None), response(200, json!({}), None)),
            ReplayEvent::new(
                request("DELETE", path, None),
                response(
                    404,
                    json!({"ErrorCode": "PolicyNotFound", "Message": "No policy found"}),
                    Some("PolicyNotFound"),
                ),
            ),
        ]);
        let efs = client(&replay);
        delete_file_system_policy(&efs, "fs-0123456789abcdef0").await.unwrap();
        delete_file_system_policy(&efs, "fs-0123456789abcdef0").await.unwrap();
        assert_sent(&replay, &["DELETE", "DELETE"]);
        let uris: Vec<String> = replay.actual_requests().map(|r| r.uri().to_string()).collect();
        assert!(uris.iter().all(|u| u.ends_with(path)), "{uris:?}");
    }

    #[tokio::test]
    async fn put_backup_sends_the_policy_and_returns_the_answered_status() {
        let replay = StaticReplayClient::new(vec![
            ReplayEvent::new(
                request(
                    "PUT",
                    "/2015-02-01/file-systems/fs-0123456789abcdef0/backup-policy",
                    Some(json!({"BackupPolicy": {"Status": "DISABLED"}})),
                ),
                response(200, json!({"BackupPolicy": {"Status": "DISABLING"}}), None),
            ),
            ReplayEvent::new(
                request(
                    "PUT",
                    "/2015-02-01/file-systems/fs-0123456789abcdef0/backup-policy",
                    Some(json!({"BackupPolicy": {"Status": "ENABLED"}})),
                ),
                response(200, json!({"BackupPolicy": {"Status": "ENABLING"}}), None),
            ),
        ]);
        let efs = client(&replay);
        assert_eq!(put_backup(&efs, "fs-0123456789abcdef0", false).await.unwrap(), Status::Disabling);
        assert_eq!(put_backup(&efs, "fs-0123456789abcdef0", true).await.unwrap(), Status::Enabling);
        assert_sent(&replay, &["PUT", "PUT"]);
    }

    #[tokio::test]
    async fn put_backup_error_keeps_the_aws_code() {
        let replay = StaticReplayClient::new(vec![ReplayEvent::new(
            request(
                "PUT",
                "/2015-02-01/file-systems/fs-0123456789abcdef0/backup-policy",
                Some(json!({"BackupPolicy": {"Status": "ENABLED"}})),
            ),
            response(
                409,
                json!({"ErrorCode": "IncorrectFileSystemLifeCycleState", "Message": "updating"}),
                Some("IncorrectFileSystemLifeCycleState"),
            ),
        )]);
        let err = put_backup(&client(&replay), "fs-0123456789abcdef0", true).await.unwrap_err();
        assert!(err.is_aws("IncorrectFileSystemLifeCycleState"), "{err}");
        assert_sent(&replay, &["PUT"]);
    }

    #[tokio::test]
    async fn backup_status_is_read_back_with_transitions_and_no_policy_as_off() {
        let path = "/2015-02-01/file-systems/fs-0123456789abcdef0/backup-policy";
        let answer = |status: &str| response(200, json!({"BackupPolicy": {"Status": status}}), None);
        let replay = StaticReplayClient::new(vec![
            ReplayEvent::new(request("GET", path, None), answer("ENABLED")),
            ReplayEvent::new(request("GET", path, None), answer("ENABLING")),
            ReplayEvent::new(request("GET", path, None), answer("DISABLING")),
            ReplayEvent::new(request("GET", path, None), answer("DISABLED")),
            ReplayEvent::new(
                request("GET", path, None),
                response(404, json!({"ErrorCode": "PolicyNotFound", "Message": "none"}), Some("PolicyNotFound")),
            ),
        ]);
        let efs = client(&replay);
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(find_backup_enabled(&efs, "fs-0123456789abcdef0").await.unwrap());
        }
        assert_eq!(seen, [true, true, false, false, false]);
        assert_sent(&replay, &["GET"; 5]);
    }

    /// UpdateFileSystem to 256 MiB/s provisioned, answered `updating`, then one poll that finds the
    /// file system in `state`.
    async fn update_to_provisioned_256_then(state: &str) -> (Result<FileSystemDescription, Error>, StaticReplayClient) {
        let replay = StaticReplayClient::new(vec![
            ReplayEvent::new(
                request(
                    "PUT",
                    "/2015-02-01/file-systems/fs-0123456789abcdef0",
                    Some(json!({"ThroughputMode": "provisioned", "ProvisionedThroughputInMibps": 256.0})),
                ),
                response(202, file_system("updating", "provisioned", 256.0), None),
            ),
            ReplayEvent::new(
                request("GET", "/2015-02-01/file-systems?FileSystemId=fs-0123456789abcdef0", None),
                response(200, json!({"FileSystems": [file_system(state, "provisioned", 256.0)]}), None),
            ),
        ]);
        let result = update_throughput(
            &client(&replay),
            "fs-0123456789abcdef0",
            "provisioned",
            Some(256.0),
            Duration::from_secs(600),
            &CancellationToken::new(),
        )
        .await;
        (result, replay)
    }

    #[tokio::test]
    async fn update_throughput_sends_mode_and_mibps_then_waits_until_available() {
        let (result, replay) = update_to_provisioned_256_then("available").await;
        let fs = result.unwrap();
        assert_eq!(fs.life_cycle_state(), &LifeCycleState::Available);
        assert_eq!(fs.provisioned_throughput_in_mibps(), Some(256.0));
        assert_sent(&replay, &["PUT", "GET"]);
    }

    /// A file system that goes to `error` during the update is reported at once, not polled until
    /// the deadline.
    #[tokio::test]
    async fn update_throughput_stops_waiting_when_the_file_system_is_in_error() {
        let (result, replay) = update_to_provisioned_256_then("error").await;
        let err = result.unwrap_err();
        assert!(matches!(&err, Error::UnexpectedState { state, .. } if state == "error"), "{err:?}");
        assert_sent(&replay, &["PUT", "GET"]);
    }

    #[tokio::test]
    async fn update_to_bursting_sends_no_mibps() {
        let replay = StaticReplayClient::new(vec![
            ReplayEvent::new(
                request(
                    "PUT",
                    "/2015-02-01/file-systems/fs-0123456789abcdef0",
                    Some(json!({"ThroughputMode": "bursting"})),
                ),
                response(202, file_system("available", "bursting", 0.0), None),
            ),
            ReplayEvent::new(
                request("GET", "/2015-02-01/file-systems?FileSystemId=fs-0123456789abcdef0", None),
                response(200, json!({"FileSystems": [file_system("available", "bursting", 0.0)]}), None),
            ),
        ]);
        let fs = update_throughput(
            &client(&replay),
            "fs-0123456789abcdef0",
            "bursting",
            None,
            Duration::from_secs(5),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(fs.throughput_mode(), Some(&ThroughputMode::Bursting));
        assert_sent(&replay, &["PUT", "GET"]);
    }
}
