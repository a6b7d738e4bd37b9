//! IAM: finders, waiters and calls for roles, policies and instance profiles.
//!
//! Finders return `Ok(None)` when the object does not exist (`NoSuchEntity`), so callers treat
//! "gone" as one outcome. Deleters treat `NoSuchEntity` as success: they may run again after a crash.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use tokio_util::sync::CancellationToken;

use super::seen::SeenFacts;
use super::wait::{retry_while, IAM_PROPAGATION_TIMEOUT};
use super::{AwsResultExt, NotFoundExt};
use crate::error::{AwsError, Error};

/// IAM's error code for a role, policy or instance profile that does not exist.
pub const NO_SUCH_ENTITY: &str = "NoSuchEntity";

/// IAM's error code for a delete of an object something still uses. Right after a detach or a
/// removal from an instance profile it is also what IAM answers until that change has propagated,
/// so deletes retry it within [`IAM_PROPAGATION_TIMEOUT`].
pub const DELETE_CONFLICT: &str = "DeleteConflict";

/// IAM keeps at most this many versions of a managed policy.
pub const MAX_POLICY_VERSIONS: usize = 5;

/// A role as this provider needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: String,
    pub arn: String,
    pub path: String,
    /// The trust policy, percent-decoded JSON.
    pub trust_policy: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    pub name: String,
    pub arn: String,
    pub default_version_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceProfileInfo {
    pub name: String,
    pub arn: String,
    pub role_names: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVersionInfo {
    pub version_id: String,
    pub is_default: bool,
    pub created: Option<aws_smithy_types::DateTime>,
}

impl RoleInfo {
    /// How a diagnostic names it: "IAM Role NAME (ARN)".
    pub fn describe(&self) -> String {
        format!("IAM Role {} ({})", self.name, self.arn)
    }
}

impl PolicyInfo {
    /// How a diagnostic names it: "IAM Policy ARN" (the ARN holds the name).
    pub fn describe(&self) -> String {
        format!("IAM Policy {}", self.arn)
    }
}

impl InstanceProfileInfo {
    /// How a diagnostic names it: "IAM Instance Profile NAME (ARN)".
    pub fn describe(&self) -> String {
        format!("IAM Instance Profile {} ({})", self.name, self.arn)
    }
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect()
}

/// IAM returns policy documents URL-encoded (and moto only some of them): decoding raw JSON is harmless
/// because JSON policy documents never contain `%` escapes of their own that IAM would not have encoded.
pub fn decode_document(document: &str) -> String {
    percent_encoding::percent_decode_str(document).decode_utf8_lossy().into_owned()
}

// ----- roles -----

pub async fn find_role_by_name(iam: &Client, name: &str) -> Result<Option<RoleInfo>, Error> {
    let out = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .context("reading IAM Role", name)
        .or_not_found(&[NO_SUCH_ENTITY])?;
    Ok(out.and_then(|o| o.role).map(|role| RoleInfo {
        name: role.role_name().to_string(),
        arn: role.arn().to_string(),
        path: role.path().to_string(),
        trust_policy: role.assume_role_policy_document().map(decode_document),
        tags: tag_map(role.tags()),
    }))
}

pub async fn create_role(
    iam: &Client,
    name: &str,
    path: &str,
    trust_policy: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let out = iam
        .create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust_policy)
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .context("creating IAM Role", name)?;
    Ok(out.role().map(|role| role.arn().to_string()).unwrap_or_default())
}

pub async fn update_trust_policy(iam: &Client, name: &str, trust_policy: &str) -> Result<(), Error> {
    iam.update_assume_role_policy()
        .role_name(name)
        .policy_document(trust_policy)
        .send()
        .await
        .context("updating IAM Role trust policy", name)
        .map(|_| ())
}

pub async fn delete_role(iam: &Client, name: &str, cancel: &CancellationToken) -> Result<(), Error> {
    let what = format!("deleting IAM Role {name}");
    retry_while(
        &what,
        IAM_PROPAGATION_TIMEOUT,
        cancel,
        |e| e.is_aws(DELETE_CONFLICT),
        || async { iam.delete_role().role_name(name).send().await.context("deleting IAM Role", name).map(drop) },
    )
    .await
    .or_not_found(&[NO_SUCH_ENTITY])
    .map(drop)
}

/// ARNs of the managed policies attached to a role.
pub async fn list_attached_role_policies(iam: &Client, role: &str) -> Result<Vec<String>, Error> {
    let mut arns = Vec::new();
    let mut marker = None;
    loop {
        let out = iam
            .list_attached_role_policies()
            .role_name(role)
            .set_marker(marker)
            .send()
            .await
            .context("listing policies attached to IAM Role", role)?;
        arns.extend(out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)));
        if !out.is_truncated() {
            break;
        }
        marker = out.marker().map(str::to_string);
    }
    Ok(arns)
}

/// Names of the inline policies of a role.
pub async fn list_role_policy_names(iam: &Client, role: &str) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let out = iam
            .list_role_policies()
            .role_name(role)
            .set_marker(marker)
            .send()
            .await
            .context("listing inline policies of IAM Role", role)?;
        names.extend(out.policy_names().iter().cloned());
        if !out.is_truncated() {
            break;
        }
        marker = out.marker().map(str::to_string);
    }
    Ok(names)
}

/// An inline policy's document, percent-decoded; `None` when it is gone.
pub async fn find_role_policy_document(iam: &Client, role: &str, name: &str) -> Result<Option<String>, Error> {
    let out = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .context("reading inline policy of IAM Role", &format!("{name} of {role}"))
        .or_not_found(&[NO_SUCH_ENTITY])?;
    Ok(out.map(|o| decode_document(o.policy_document())))
}

/// Every policy document that grants a role permissions: the default version of each attached
/// managed policy and each inline policy. Permission boundaries and SCPs are not read. What this
/// process made or read itself is taken from `seen` (see [`super::seen`]): a role it made has the
/// managed policies it attached and no inline one, a role it refreshed has the managed policies
/// read then (its inline ones are read here), and a policy it made or refreshed has that document.
pub async fn role_policy_documents(iam: &Client, seen: &SeenFacts, role: &str) -> Result<Vec<String>, Error> {
    let known = seen.role_policies(role);
    // Managed and inline policies at once, and within each, every policy at once.
    let managed = async {
        let arns = match &known {
            Some(known) => known.managed.clone(),
            None => list_attached_role_policies(iam, role).await?,
        };
        let documents = futures::future::try_join_all(arns.iter().map(|arn| async move {
            if let Some(document) = seen.policy_document(arn) {
                return Ok(Some(document));
            }
            let Some(policy) = find_policy_by_arn(iam, arn).await? else { return Ok(None) };
            match &policy.default_version_id {
                Some(version) => policy_document(iam, arn, version).await,
                None => Ok(None),
            }
        }))
        .await?;
        Ok::<_, Error>(documents.into_iter().flatten().collect::<Vec<String>>())
    };
    let inline = async {
        if known.as_ref().is_some_and(|known| known.without_inline) {
            return Ok(Vec::new());
        }
        let names = list_role_policy_names(iam, role).await?;
        let documents =
            futures::future::try_join_all(names.iter().map(|name| find_role_policy_document(iam, role, name))).await?;
        Ok::<_, Error>(documents.into_iter().flatten().collect::<Vec<String>>())
    };
    let (mut documents, inline) = futures::try_join!(managed, inline)?;
    documents.extend(inline);
    Ok(documents)
}

pub async fn attach_role_policy(iam: &Client, role: &str, policy_arn: &str) -> Result<(), Error> {
    iam.attach_role_policy()
        .role_name(role)
        .policy_arn(policy_arn)
        .send()
        .await
        .context("attaching IAM Policy to IAM Role", &format!("{policy_arn} to {role}"))
        .map(|_| ())
}

pub async fn detach_role_policy(iam: &Client, role: &str, policy_arn: &str) -> Result<(), Error> {
    iam.detach_role_policy()
        .role_name(role)
        .policy_arn(policy_arn)
        .send()
        .await
        .context("detaching IAM Policy from IAM Role", &format!("{policy_arn} from {role}"))
        .or_not_found(&[NO_SUCH_ENTITY])
        .map(drop)
}

// ----- policies -----

pub async fn find_policy_by_arn(iam: &Client, arn: &str) -> Result<Option<PolicyInfo>, Error> {
    let out = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .context("reading IAM Policy", arn)
        .or_not_found(&[NO_SUCH_ENTITY])?;
    Ok(out.and_then(|o| o.policy).map(|p| PolicyInfo {
        name: p.policy_name().unwrap_or_default().to_string(),
        arn: p.arn().unwrap_or(arn).to_string(),
        default_version_id: p.default_version_id().map(str::to_string),
        tags: tag_map(p.tags()),
    }))
}

/// The customer-managed policy named `name` under `path`: one GetPolicy by its ARN when the
/// process knows the account (see [`super::KnownFacts::local_policy_arn`]), otherwise found by
/// listing the account's policies page by page.
pub async fn find_local_policy_by_name(
    iam: &Client,
    known: &super::KnownFacts,
    path: &str,
    name: &str,
) -> Result<Option<PolicyInfo>, Error> {
    if let Some(arn) = known.local_policy_arn(path, name) {
        return find_policy_by_arn(iam, &arn).await;
    }
    let mut marker = None;
    loop {
        let out = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .path_prefix(path)
            .set_marker(marker)
            .send()
            .await
            .context("listing IAM Policies", path)?;
        if let Some(arn) = out.policies().iter().find(|p| p.policy_name() == Some(name)).and_then(|p| p.arn()) {
            return find_policy_by_arn(iam, arn).await;
        }
        if !out.is_truncated() {
            return Ok(None);
        }
        marker = out.marker().map(str::to_string);
    }
}

/// Creates the policy and returns its ARN and its default version's id.
pub async fn create_policy(
    iam: &Client,
    name: &str,
    path: &str,
    document: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(String, Option<String>), Error> {
    let out = iam
        .create_policy()
        .policy_name(name)
        .path(path)
        .policy_document(document)
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .context("creating IAM Policy", name)?;
    let policy = out.policy();
    Ok((
        policy.and_then(|p| p.arn()).unwrap_or_default().to_string(),
        policy.and_then(|p| p.default_version_id()).map(str::to_string),
    ))
}

/// The default version's document, percent-decoded.
pub async fn policy_document(iam: &Client, arn: &str, version_id: &str) -> Result<Option<String>, Error> {
    let out = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version_id)
        .send()
        .await
        .context("reading IAM Policy version", &format!("{arn} {version_id}"))
        .or_not_found(&[NO_SUCH_ENTITY])?;
    Ok(out.and_then(|o| o.policy_version).and_then(|v| v.document().map(decode_document)))
}

pub async fn list_policy_versions(iam: &Client, arn: &str) -> Result<Vec<PolicyVersionInfo>, Error> {
    let out = iam.list_policy_versions().policy_arn(arn).send().await.context("listing IAM Policy versions", arn)?;
    Ok(out
        .versions()
        .iter()
        .map(|v| PolicyVersionInfo {
            version_id: v.version_id().unwrap_or_default().to_string(),
            is_default: v.is_default_version(),
            created: v.create_date().cloned(),
        })
        .collect())
}

/// The non-default version to delete before a new one fits under [`MAX_POLICY_VERSIONS`], if any.
pub fn version_to_prune(versions: &[PolicyVersionInfo]) -> Option<&PolicyVersionInfo> {
    if versions.len() < MAX_POLICY_VERSIONS {
        return None;
    }
    versions.iter().filter(|v| !v.is_default).min_by(|a, b| match (a.created, b.created) {
        (Some(x), Some(y)) if x != y => x.secs().cmp(&y.secs()).then(x.subsec_nanos().cmp(&y.subsec_nanos())),
        _ => version_number(&a.version_id).cmp(&version_number(&b.version_id)),
    })
}

fn version_number(id: &str) -> u64 {
    id.trim_start_matches('v').parse().unwrap_or(0)
}

/// Makes `document` the policy's default version, first pruning the oldest non-default version when
/// the policy already has the maximum number of versions. CreatePolicyVersion is not idempotent:
/// when the answer to an attempt is lost, the SDK's retry makes a second version, so versions
/// that existed before and carry the same document as the new default are deleted afterwards.
pub async fn set_policy_document(iam: &Client, arn: &str, document: &str) -> Result<(), Error> {
    let before = list_policy_versions(iam, arn).await?;
    if let Some(oldest) = version_to_prune(&before) {
        delete_policy_version(iam, arn, &oldest.version_id).await?;
    }
    let created = iam
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(document)
        .set_as_default(true)
        .send()
        .await
        .context("creating IAM Policy version", arn)?;
    let new_id = created.policy_version().and_then(|v| v.version_id()).unwrap_or_default().to_string();
    let earlier: BTreeSet<&str> = before.iter().map(|v| v.version_id.as_str()).collect();
    for version in list_policy_versions(iam, arn).await? {
        if version.is_default || version.version_id == new_id || earlier.contains(version.version_id.as_str()) {
            continue;
        }
        // Made during this call but not the one its answer named: a retried attempt's duplicate.
        let same = policy_document(iam, arn, &version.version_id).await?.is_some_and(|d| json_same(&d, document));
        if same {
            delete_policy_version(iam, arn, &version.version_id).await?;
        }
    }
    Ok(())
}

fn json_same(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub async fn delete_policy_version(iam: &Client, arn: &str, version_id: &str) -> Result<(), Error> {
    iam.delete_policy_version()
        .policy_arn(arn)
        .version_id(version_id)
        .send()
        .await
        .context("deleting IAM Policy version", &format!("{arn} {version_id}"))
        .or_not_found(&[NO_SUCH_ENTITY])
        .map(drop)
}

/// Deletes the policy once `detached` (the detaches from every entity it is attached to) has
/// succeeded: its non-default versions (IAM refuses to delete a policy that has any), then the
/// policy, retrying [`DELETE_CONFLICT`] while a detach just made propagates. The versions are
/// listed while the detaches run: the listing needs nothing from them.
pub async fn delete_policy(
    iam: &Client,
    arn: &str,
    detached: impl std::future::Future<Output = Result<(), Error>>,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let (detached, versions) = tokio::join!(detached, list_policy_versions(iam, arn));
    detached?;
    let Some(versions) = versions.or_not_found(&[NO_SUCH_ENTITY])? else {
        return Ok(());
    };
    for version in versions.iter().filter(|v| !v.is_default) {
        delete_policy_version(iam, arn, &version.version_id).await?;
    }
    let what = format!("deleting IAM Policy {arn}");
    retry_while(
        &what,
        IAM_PROPAGATION_TIMEOUT,
        cancel,
        |e| e.is_aws(DELETE_CONFLICT),
        || async { iam.delete_policy().policy_arn(arn).send().await.context("deleting IAM Policy", arn).map(drop) },
    )
    .await
    .or_not_found(&[NO_SUCH_ENTITY])
    .map(drop)
}

// ----- instance profiles -----

pub async fn find_instance_profile_by_name(iam: &Client, name: &str) -> Result<Option<InstanceProfileInfo>, Error> {
    let out = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .context("reading IAM Instance Profile", name)
        .or_not_found(&[NO_SUCH_ENTITY])?;
    Ok(out.and_then(|o| o.instance_profile).map(|p| InstanceProfileInfo {
        name: p.instance_profile_name().to_string(),
        arn: p.arn().to_string(),
        role_names: p.roles().iter().map(|r| r.role_name().to_string()).collect(),
        tags: tag_map(p.tags()),
    }))
}

/// Names of the instance profiles that contain `role`.
pub async fn list_instance_profiles_for_role(iam: &Client, role: &str) -> Result<Vec<String>, Error> {
    let out = iam
        .list_instance_profiles_for_role()
        .role_name(role)
        .send()
        .await
        .context("listing IAM Instance Profiles for IAM Role", role)?;
    Ok(out.instance_profiles().iter().map(|p| p.instance_profile_name().to_string()).collect())
}

pub async fn create_instance_profile(
    iam: &Client,
    name: &str,
    path: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, Error> {
    let out = iam
        .create_instance_profile()
        .instance_profile_name(name)
        .path(path)
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .context("creating IAM Instance Profile", name)?;
    Ok(out.instance_profile().map(|p| p.arn().to_string()).unwrap_or_default())
}

/// Puts the role in the profile. A profile holds one role, so IAM answers `LimitExceeded` when it
/// has one already; when that is this role (an earlier attempt's answer was lost), it is done.
/// Right after the role or the profile was created IAM may answer `NoSuchEntity` for either: that
/// is retried within [`IAM_PROPAGATION_TIMEOUT`].
pub async fn add_role_to_instance_profile(
    iam: &Client,
    profile: &str,
    role: &str,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let what = format!("adding IAM Role {role} to IAM Instance Profile {profile}");
    let added = retry_while(
        &what,
        IAM_PROPAGATION_TIMEOUT,
        cancel,
        |e| e.is_aws(NO_SUCH_ENTITY),
        || async {
            iam.add_role_to_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send()
                .await
                .context("adding IAM Role to IAM Instance Profile", &format!("{role} to {profile}"))
                .map(|_| ())
        },
    )
    .await;
    match added {
        Err(e) if e.is_aws("LimitExceeded") => match find_instance_profile_by_name(iam, profile).await? {
            Some(found) if found.role_names.iter().any(|r| r == role) => Ok(()),
            _ => Err(e),
        },
        other => other,
    }
}

pub async fn remove_role_from_instance_profile(iam: &Client, profile: &str, role: &str) -> Result<(), Error> {
    iam.remove_role_from_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await
        .context("removing IAM Role from IAM Instance Profile", &format!("{role} from {profile}"))
        .or_not_found(&[NO_SUCH_ENTITY])
        .map(drop)
}

pub async fn delete_instance_profile(iam: &Client, name: &str, cancel: &CancellationToken) -> Result<(), Error> {
    let what = format!("deleting IAM Instance Profile {name}");
    retry_while(
        &what,
        IAM_PROPAGATION_TIMEOUT,
        cancel,
        |e| e.is_aws(DELETE_CONFLICT),
        || async {
            iam.delete_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
                .context("deleting IAM Instance Profile", name)
                .map(drop)
        },
    )
    .await
    .or_not_found(&[NO_SUCH_ENTITY])
    .map(drop)
}

/// One of the IAM objects this provider tags: a role or an instance profile by name, a policy by ARN.
#[derive(Clone, Copy, Debug)]
pub enum Tagged<'a> {
    Role(&'a str),
    Policy(&'a str),
    InstanceProfile(&'a str),
}

/// Removes the tag keys `remove` from `object`, then sets the tags `add`.
pub async fn retag(
    iam: &Client,
    object: Tagged<'_>,
    add: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<(), Error> {
    let (kind, id) = match object {
        Tagged::Role(name) => ("IAM Role", name),
        Tagged::Policy(arn) => ("IAM Policy", arn),
        Tagged::InstanceProfile(name) => ("IAM Instance Profile", name),
    };
    if !remove.is_empty() {
        let keys = Some(remove.to_vec());
        // One error type for the three SDK operations, so the arms agree.
        let sent = match object {
            Tagged::Role(name) => {
                iam.untag_role().role_name(name).set_tag_keys(keys).send().await.map(drop).map_err(AwsError::from)
            }
            Tagged::Policy(arn) => {
                iam.untag_policy().policy_arn(arn).set_tag_keys(keys).send().await.map(drop).map_err(AwsError::from)
            }
            Tagged::InstanceProfile(name) => iam
                .untag_instance_profile()
                .instance_profile_name(name)
                .set_tag_keys(keys)
                .send()
                .await
                .map(drop)
                .map_err(AwsError::from),
        };
        sent.context(&format!("untagging {kind}"), id)?;
    }
    if !add.is_empty() {
        let tags = Some(to_tags(add));
        let sent = match object {
            Tagged::Role(name) => {
                iam.tag_role().role_name(name).set_tags(tags).send().await.map(drop).map_err(AwsError::from)
            }
            Tagged::Policy(arn) => {
                iam.tag_policy().policy_arn(arn).set_tags(tags).send().await.map(drop).map_err(AwsError::from)
            }
            Tagged::InstanceProfile(name) => iam
                .tag_instance_profile()
                .instance_profile_name(name)
                .set_tags(tags)
                .send()
                .await
                .map(drop)
                .map_err(AwsError::from),
        };
        sent.context(&format!("tagging {kind}"), id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, default: bool, secs: i64) -> PolicyVersionInfo {
        PolicyVersionInfo {
            version_id: id.into(),
            is_default: default,
            created: Some(aws_smithy_types::DateTime::from_secs(secs)),
        }
    }

    #[test]
    fn prunes_oldest_non_default_only_at_the_limit() {
        let four: Vec<_> = (1..=4).map(|i| version(&format!("v{i}"), i == 4, i)).collect();
        assert!(version_to_prune(&four).is_none());
        // The default is the oldest here: it must never be pruned.
        let mut five = vec![version("v1", true, 1)];
        five.extend((2..=5).map(|i| version(&format!("v{i}"), false, i)));
        assert_eq!(version_to_prune(&five).unwrap().version_id, "v2");
    }

    #[test]
    fn decodes_url_encoded_documents() {
        assert_eq!(decode_document("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(decode_document("{\"a\":1}"), "{\"a\":1}");
    }
}
