//! The AWS work of `efs_csi_node_identity`: create in dependency order with cleanup on failure,
//! refresh, update by difference, and teardown in reverse order.
//!
//! Every step is idempotent: create adopts objects that carry this resource's ownership tag and
//! this instance's owner id (a previous attempt of this same create died after making them; see
//! `resources::ownership`), teardown treats "not found" as done. So any step may be re-run after a
//! crash. An object of the same name with another owner id, or with none, is never adopted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use super::model::{AssociationState, MetadataOptions, Model};
use super::schema::TYPE_NAME;
use crate::aws::ec2::instances::{self, Association};
use crate::aws::seen::{RefreshedIdentity, WrittenIdentity};
use crate::aws::wait::{StateWaiter, IAM_PROPAGATION_TIMEOUT, NOT_FOUND};
use crate::aws::{iam, AwsClients, NotFoundExt};
use crate::error::Error;
use crate::resources::ownership::{Claim, OWNER_TAG};
use crate::resources::tags::{is_system_key, without_system_tags, MANAGED_BY_TAG};

/// The role may be assumed by EC2 instances (through the instance profile), nothing else.
pub const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// How many calls of one kind (associations, metadata options, profile removals, detaches) run at
/// once: enough to be quick on a large cluster, few enough to stay clear of EC2's and IAM's request
/// rate limits (the SDK backs off on throttling beyond that).
const ASSOCIATION_CONCURRENCY: usize = 4;

/// Why a step failed, beyond a failed AWS call.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Aws(#[from] Error),

    #[error(
        "EC2 Instance {instance_id} already has IAM Instance Profile {profile_arn} associated. Set \
         replace_existing_association = true to replace it, or remove the instance from instance_ids."
    )]
    AlreadyAssociated { instance_id: String, profile_arn: String },
}

/// The ownership tag value: which resource type and role name made an object (the owner id, in
/// its own tag, says which state).
pub fn ownership_value(role_name: &str) -> String {
    format!("{TYPE_NAME}/{role_name}")
}

/// Whether an existing object with these tags belongs to the resource instance with this role name
/// and owner id: `Claim::Ours` only when it carries both marks.
pub fn claim(tags: &BTreeMap<String, String>, role_name: &str, owner_id: Option<&str>) -> Claim {
    let found = Claim::of(tags.get(OWNER_TAG).map(String::as_str), owner_id);
    match tags.get(MANAGED_BY_TAG) {
        Some(mark) if *mark == ownership_value(role_name) => found,
        // Made by this provider for another name (a renamed resource), or by someone else.
        Some(_) if found == Claim::Ours => Claim::Unmarked,
        Some(_) => found,
        None if found == Claim::Ours => Claim::Unmarked,
        None => found,
    }
}

/// Who holds an object the state names, found by that name (another state, or a person, may have
/// made one of the name since this instance's was deleted): this instance unless it carries another
/// owner id, or none while the state has one. A state without an owner id (an import, which takes
/// the role's on its first refresh, or one written before owner ids) holds what it names.
pub fn holder(tags: &BTreeMap<String, String>, model: &Model) -> Claim {
    match model.owner_id.as_deref() {
        Some(ours) => Claim::of(tags.get(OWNER_TAG).map(String::as_str), Some(ours)),
        None => Claim::Ours,
    }
}

/// The refusal to take over `object` (e.g. "IAM Role nodes (arn:...)"), set by `attribute`.
pub fn not_owned(object: String, claim: &Claim, role_name: &str, attribute: &'static str) -> Error {
    Error::NotOwned {
        object,
        owner: claim.describe(),
        resource_type: TYPE_NAME,
        import_id: role_name.to_string(),
        attribute,
    }
}

/// The name of an instance profile from its ARN (`arn:aws:iam::1:instance-profile/path/name`).
pub fn profile_name_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Two JSON documents with the same meaning (whitespace and key order aside).
pub fn json_equal(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// What a create has made (or adopted) so far, i.e. what belongs to this resource and what a
/// cleanup removes, in reverse order.
#[derive(Clone, Debug, Default)]
pub struct Owned {
    pub role_name: Option<String>,
    pub policy_arn: Option<String>,
    pub profile: Option<(String, String)>,
    pub attached: Vec<String>,
    /// What a read just before the teardown found (see [`owned_from_state`]), so the teardown does
    /// not ask again: the roles the profile holds, and the profile's associations. `None`: not
    /// read, the teardown asks.
    pub profile_roles: Option<Vec<String>>,
    pub associations: Option<Vec<Association>>,
}

fn tags_to_apply(model: &Model) -> BTreeMap<String, String> {
    let mut tags = model.tags_all.clone();
    tags.insert(MANAGED_BY_TAG.to_string(), ownership_value(&model.role_name));
    if let Some(owner) = &model.owner_id {
        tags.insert(OWNER_TAG.to_string(), owner.clone());
    }
    tags
}

/// Whether an IAM object was made by this create or adopted from an earlier, interrupted attempt
/// of this instance (which may have made it with other arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Made,
    Adopted,
}

/// What [`create`] learned beyond the model: the role's ARN, the nodes' associations with the new
/// profile, the default version of the policy it made, and whether any IAM object was adopted
/// rather than made.
#[derive(Clone, Debug)]
pub struct Created {
    pub role_arn: String,
    pub associations: Vec<Association>,
    pub policy_version: Option<String>,
    pub adopted: bool,
}

impl Created {
    /// The state of a create that made every IAM object itself: `model` (the plan) with the ARNs
    /// and associations the calls answered. Nothing needs reading back: IAM holds what the plan
    /// asked for, since this create wrote it.
    pub fn state(&self, model: &Model, owned: &Owned) -> Model {
        let mut state = model.clone();
        state.role_arn = self.role_arn.clone();
        state.policy_arn = owned.policy_arn.clone().unwrap_or_default();
        state.instance_profile_arn = owned.profile.clone().map(|p| p.1).unwrap_or_default();
        state.assume_role_policy = TRUST_POLICY.to_string();
        state.associations = self
            .associations
            .iter()
            .map(|a| {
                let entry = AssociationState { association_id: a.association_id.clone(), state: a.state.clone() };
                (a.instance_id.clone(), entry)
            })
            .collect();
        state
    }

    /// What this create wrote to IAM, kept for the reads later in this process (see
    /// [`crate::aws::seen`]). Only a create that made every object itself knows all of it.
    pub fn written(&self, model: &Model, owned: &Owned) -> Option<WrittenIdentity> {
        if self.adopted {
            return None;
        }
        Some(WrittenIdentity {
            role_name: model.role_name.clone(),
            instance_profile_name: model.instance_profile_name.clone(),
            attached_policy_arns: owned.attached.clone(),
            policy_arn: owned.policy_arn.clone()?,
            policy_document: model.policy_json.clone(),
        })
    }
}

/// Creates role, policy, attachments, instance profile and associations, recording in `owned` each
/// part as soon as it exists.
pub async fn create(
    aws: &AwsClients,
    model: &Model,
    owned: &mut Owned,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Created, StepError> {
    let tags = tags_to_apply(model);
    let role = &model.role_name;
    let profile_name = &model.instance_profile_name;

    // The role, the policy and the instance profile need nothing of each other: they are made at
    // once, and each one made is recorded even when another fails (the caller then removes them).
    // The nodes' current associations and metadata options are read meanwhile: both only read.
    let (role_made, policy_made, profile_made, nodes, metadata_before) = tokio::join!(
        ensure_role(aws, model, &tags),
        ensure_policy(aws, model, &tags),
        ensure_profile(aws, model, &tags),
        current_associations(aws, &model.instance_ids),
        metadata_options_before(aws, model.metadata_options.as_ref(), &model.instance_ids),
    );
    if role_made.is_ok() {
        owned.role_name = Some(role.clone());
    }
    if let Ok((arn, _, _)) = &policy_made {
        owned.policy_arn = Some(arn.clone());
    }
    if let Ok((arn, _, _)) = &profile_made {
        owned.profile = Some((profile_name.clone(), arn.clone()));
    }
    let (role_arn, role_origin) = role_made?;
    let (policy_arn, policy_version, policy_origin) = policy_made?;
    let (profile_arn, roles, profile_origin) = profile_made?;
    let (nodes, metadata_before) = (nodes?, metadata_before?);

    // Then, all at once: the attachments, the role into the profile, and the profile onto the
    // nodes (EC2 associates a profile whatever roles it holds; the nodes' credentials follow the
    // role once it is in). The metadata options need none of the IAM objects and are set
    // meanwhile (only by a create that got this far). Should any of it fail, the caller's cleanup
    // removes the associations made with the rest.
    let mut to_attach = vec![policy_arn];
    to_attach.extend(model.additional_policy_arns.iter().flatten().cloned());
    let iam_and_nodes = async {
        let attachments =
            to_attach.iter().map(|arn| async move { (arn, iam::attach_role_policy(&aws.iam, role, arn).await) });
        let in_profile = async {
            if roles.contains(role) {
                Ok(())
            } else {
                iam::add_role_to_instance_profile(&aws.iam, profile_name, role, cancel).await
            }
        };
        let replaceable = BTreeSet::new();
        let replace = model.replace_existing_association;
        let (attached, in_profile, associations) = tokio::join!(
            futures::future::join_all(attachments),
            in_profile,
            associate_all(aws, &nodes, &profile_arn, replace, &replaceable, timeout, cancel),
        );
        let mut first_error = in_profile.err();
        for (arn, result) in attached {
            match result {
                Ok(()) => owned.attached.push(arn.clone()),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        match first_error {
            Some(e) => Err(StepError::from(e)),
            None => associations,
        }
    };
    let metadata = async {
        match (&model.metadata_options, metadata_before) {
            (Some(options), Some(before)) => {
                set_metadata_options(aws, options, &model.instance_ids, &before, cancel).await
            }
            _ => Ok(()),
        }
    };
    let (associations, metadata) = tokio::join!(iam_and_nodes, metadata);
    let associations = associations?;
    metadata?;
    let adopted = [role_origin, policy_origin, profile_origin].contains(&Origin::Adopted);
    Ok(Created { role_arn, associations, policy_version, adopted })
}

/// Makes the role, or adopts the one an interrupted create of this instance left (its trust policy
/// made ours again); another owner's role is refused.
async fn ensure_role(
    aws: &AwsClients,
    model: &Model,
    tags: &BTreeMap<String, String>,
) -> Result<(String, Origin), Error> {
    let role = &model.role_name;
    match iam::create_role(&aws.iam, role, &model.path, TRUST_POLICY, tags).await {
        Ok(arn) => Ok((arn, Origin::Made)),
        Err(e) if e.is_aws("EntityAlreadyExists") => match iam::find_role_by_name(&aws.iam, role).await? {
            Some(existing) if claim(&existing.tags, role, model.owner_id.as_deref()) == Claim::Ours => {
                if !existing.trust_policy.is_some_and(|doc| json_equal(&doc, TRUST_POLICY)) {
                    iam::update_trust_policy(&aws.iam, role, TRUST_POLICY).await?;
                }
                Ok((existing.arn, Origin::Adopted))
            }
            Some(existing) => {
                let found = claim(&existing.tags, role, model.owner_id.as_deref());
                Err(not_owned(existing.describe(), &found, role, "role_name"))
            }
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Makes the driver policy, or adopts this instance's own (its document brought up to date); the
/// answer is its ARN. Another owner's policy is refused.
async fn ensure_policy(
    aws: &AwsClients,
    model: &Model,
    tags: &BTreeMap<String, String>,
) -> Result<(String, Option<String>, Origin), Error> {
    let role = &model.role_name;
    match iam::create_policy(&aws.iam, &model.policy_name, &model.path, &model.policy_json, tags).await {
        Ok((arn, version)) => Ok((arn, version, Origin::Made)),
        Err(e) if e.is_aws("EntityAlreadyExists") => {
            match iam::find_local_policy_by_name(&aws.iam, &aws.known, &model.path, &model.policy_name).await? {
                Some(existing) if claim(&existing.tags, role, model.owner_id.as_deref()) == Claim::Ours => {
                    let current = match &existing.default_version_id {
                        Some(v) => iam::policy_document(&aws.iam, &existing.arn, v).await?,
                        None => None,
                    };
                    if !current.is_some_and(|doc| json_equal(&doc, &model.policy_json)) {
                        iam::set_policy_document(&aws.iam, &existing.arn, &model.policy_json).await?;
                    }
                    Ok((existing.arn, None, Origin::Adopted))
                }
                Some(existing) => {
                    let found = claim(&existing.tags, role, model.owner_id.as_deref());
                    Err(not_owned(existing.describe(), &found, role, "policy_name"))
                }
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Makes the instance profile, or adopts this instance's own; the answer is its ARN and the roles
/// it holds. Another owner's profile is refused.
async fn ensure_profile(
    aws: &AwsClients,
    model: &Model,
    tags: &BTreeMap<String, String>,
) -> Result<(String, Vec<String>, Origin), Error> {
    let (role, profile_name) = (&model.role_name, &model.instance_profile_name);
    match iam::create_instance_profile(&aws.iam, profile_name, &model.path, tags).await {
        Ok(arn) => Ok((arn, Vec::new(), Origin::Made)),
        Err(e) if e.is_aws("EntityAlreadyExists") => {
            match iam::find_instance_profile_by_name(&aws.iam, profile_name).await? {
                Some(existing) if claim(&existing.tags, role, model.owner_id.as_deref()) == Claim::Ours => {
                    Ok((existing.arn, existing.role_names, Origin::Adopted))
                }
                Some(existing) => {
                    let found = claim(&existing.tags, role, model.owner_id.as_deref());
                    Err(not_owned(existing.describe(), &found, role, "instance_profile_name"))
                }
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The instances `instance_ids`, each with its current association (`None` when it has none), from
/// one filtered describe rather than one per instance.
pub async fn current_associations(
    aws: &AwsClients,
    instance_ids: &BTreeSet<String>,
) -> Result<BTreeMap<String, Option<Association>>, Error> {
    let ids: Vec<String> = instance_ids.iter().cloned().collect();
    let mut nodes: BTreeMap<String, Option<Association>> = ids.iter().map(|id| (id.clone(), None)).collect();
    for association in instances::list_associations(&aws.ec2, Some(&ids)).await? {
        nodes.insert(association.instance_id.clone(), Some(association));
    }
    Ok(nodes)
}

/// Gives every instance of `nodes` (each with its current association, see
/// [`current_associations`]) the profile, a bounded number at a time. An instance that already has
/// it is left alone; one with another profile is replaced only when `replace` is set or that
/// profile is one of `replaceable` (by name: the profiles that hold this resource's role, as a
/// manual setup with one profile per node has them). The answer is the instances' associations
/// with the profile, as EC2 lists them once every new one is visible.
pub async fn associate_all(
    aws: &AwsClients,
    nodes: &BTreeMap<String, Option<Association>>,
    profile_arn: &str,
    replace: bool,
    replaceable: &BTreeSet<String>,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Vec<Association>, StepError> {
    let ids: Vec<String> = nodes.keys().cloned().collect();
    let results: Vec<Result<Option<String>, StepError>> = stream::iter(ids.clone())
        .map(|instance_id: String| async move {
            let association = nodes.get(&instance_id).and_then(Option::as_ref);
            let replace = replace || association.is_some_and(|a| replaceable.contains(profile_name_of(&a.profile_arn)));
            associate_one(aws, &instance_id, association, profile_arn, replace, timeout, cancel).await
        })
        .buffer_unordered(ASSOCIATION_CONCURRENCY)
        .collect()
        .await;
    let made: Vec<String> = results.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    // Done only once a refresh sees them.
    let listed = if made.is_empty() {
        nodes.values().flatten().cloned().collect()
    } else {
        instances::wait_associations_visible(&aws.ec2, &ids, &made, cancel).await?
    };
    Ok(listed.into_iter().filter(|a| a.profile_arn == profile_arn).collect())
}

/// The association made (or replaced), `None` when the instance had the profile already.
async fn associate_one(
    aws: &AwsClients,
    instance_id: &str,
    existing: Option<&instances::Association>,
    profile_arn: &str,
    replace: bool,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Option<String>, StepError> {
    match existing {
        Some(existing) if existing.profile_arn == profile_arn => Ok(None),
        Some(existing) if replace => Ok(Some(
            instances::replace_association(
                &aws.ec2,
                &existing.association_id,
                instance_id,
                profile_arn,
                timeout,
                cancel,
            )
            .await?,
        )),
        Some(existing) => Err(StepError::AlreadyAssociated {
            instance_id: instance_id.to_string(),
            profile_arn: existing.profile_arn.clone(),
        }),
        None => Ok(Some(instances::associate(&aws.ec2, instance_id, profile_arn, timeout, cancel).await?)),
    }
}

/// Sets the configured metadata options on the instances (nothing when the block is absent) and
/// waits until EC2 has applied them. A value the configuration leaves out is sent back as the
/// instance has it, so it never changes (see [`instances::modify_metadata_options`]).
pub async fn apply_metadata_options(
    aws: &AwsClients,
    options: Option<&MetadataOptions>,
    instance_ids: &BTreeSet<String>,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    match (options, metadata_options_before(aws, options, instance_ids).await?) {
        (Some(options), Some(before)) => set_metadata_options(aws, options, instance_ids, &before, cancel).await,
        _ => Ok(()),
    }
}

/// The instances' metadata options before a change, by instance id; `None` when `options` changes
/// nothing (the block is absent or empty). Only a value the configuration leaves out is taken from
/// them (see [`set_metadata_options`]): with both set, nothing is read and the map is empty.
async fn metadata_options_before(
    aws: &AwsClients,
    options: Option<&MetadataOptions>,
    instance_ids: &BTreeSet<String>,
) -> Result<Option<BTreeMap<String, instances::MetadataOptions>>, Error> {
    let Some(options) = options else {
        return Ok(None);
    };
    match (&options.http_tokens, options.http_put_response_hop_limit) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Ok(Some(BTreeMap::new())),
        _ => {}
    }
    let ids: Vec<String> = instance_ids.iter().cloned().collect();
    let current = instances::describe_metadata_options(&aws.ec2, &ids).await?;
    Ok(Some(current.into_iter().map(|o| (o.instance_id.clone(), o)).collect()))
}

/// [`apply_metadata_options`] once the instances' options `before` are known.
async fn set_metadata_options(
    aws: &AwsClients,
    options: &MetadataOptions,
    instance_ids: &BTreeSet<String>,
    before: &BTreeMap<String, instances::MetadataOptions>,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let hop_limit = options.http_put_response_hop_limit.and_then(|h| i32::try_from(h).ok());
    let changes = instance_ids.iter().map(|instance_id| async move {
        let now = before.get(instance_id);
        let tokens = options.http_tokens.clone().or_else(|| now.and_then(|o| o.http_tokens.clone()));
        let hops = hop_limit.or_else(|| now.and_then(|o| o.http_put_response_hop_limit));
        instances::modify_metadata_options(&aws.ec2, instance_id, tokens.as_deref(), hops).await
    });
    bounded(changes.collect()).await?;
    let ids: Vec<String> = instance_ids.iter().cloned().collect();
    instances::wait_metadata_options_applied(&aws.ec2, &ids, cancel).await
}

/// The live associations of `profile_arn`, across all instances.
pub async fn associations_of(aws: &AwsClients, profile_arn: &str) -> Result<Vec<Association>, Error> {
    Ok(instances::list_associations(&aws.ec2, None)
        .await?
        .into_iter()
        .filter(|a| a.profile_arn == profile_arn)
        .collect())
}

/// Disassociates the given associations and waits until they are gone.
pub async fn disassociate_all(
    aws: &AwsClients,
    associations: &[Association],
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    disassociate(aws, associations, timeout, cancel).await?;
    wait_disassociated(aws, associations, timeout, cancel).await
}

/// Asks EC2 to take the given associations off their instances; they are `disassociating` then.
async fn disassociate(
    aws: &AwsClients,
    associations: &[Association],
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let disassociations = associations
        .iter()
        .map(|a| instances::disassociate(&aws.ec2, &a.association_id, &a.instance_id, timeout, cancel));
    bounded(disassociations.collect()).await
}

/// Waits until EC2 no longer lists the given associations.
async fn wait_disassociated(
    aws: &AwsClients,
    associations: &[Association],
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let instance_ids: Vec<String> = associations.iter().map(|a| a.instance_id.clone()).collect();
    let association_ids: Vec<String> = associations.iter().map(|a| a.association_id.clone()).collect();
    instances::wait_associations_deleted(&aws.ec2, &instance_ids, &association_ids, timeout, cancel).await
}

/// Puts the role back in the profile when it is not among the roles the profile holds (`holds`, as
/// the update read or made the profile; see [`refresh`]).
async fn ensure_role_in_profile(
    aws: &AwsClients,
    profile_name: &str,
    holds: &[String],
    role: &str,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    match holds.iter().any(|r| r == role) {
        true => Ok(()),
        false => iam::add_role_to_instance_profile(&aws.iam, profile_name, role, cancel).await,
    }
}

/// Deletes what `owned` names; the answer is the instance profiles, not ours, that the role was
/// taken out of (IAM deletes no role a profile still holds). Not-found is success at every step.
pub async fn teardown(
    aws: &AwsClients,
    owned: &Owned,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Vec<String>, Error> {
    // Three independent branches and the role: the profile (its nodes let go of it while the role
    // is taken out of it, then the profile is deleted while EC2 finishes letting go), the other
    // profiles holding the role, and the policies (detached, then the node policy deleted). The
    // role is deleted as soon as no profile holds it and no policy is attached to it, while the
    // profile and the policy are deleted: refresh takes the resource for gone only once all three
    // are, so whatever a failure here leaves stays in the state for the next destroy.
    let (out_of_profile, role_out_of_profile) = tokio::sync::oneshot::channel::<()>();
    let (out_of_others, role_out_of_others) = tokio::sync::oneshot::channel::<()>();
    let (policies_detached, role_detached) = tokio::sync::oneshot::channel::<()>();
    let profile = async {
        let Some((profile_name, profile_arn)) = &owned.profile else {
            let _ = out_of_profile.send(());
            return Ok(());
        };
        let disassociating = async {
            let ours = match (&owned.associations, profile_arn.is_empty()) {
                (_, true) => Vec::new(),
                (Some(read), false) => read.clone(),
                (None, false) => associations_of(aws, profile_arn).await?,
            };
            disassociate(aws, &ours, timeout, cancel).await?;
            Ok::<_, Error>(ours)
        };
        // Nothing in AWS orders these two, and a profile left without its role by a destroy that
        // failed here is what refresh shows as nodes not associated (see [`refresh`]).
        let role_removed = async {
            let Some(role) = &owned.role_name else { return Ok(()) };
            // Only while it holds the role: a destroy interrupted after this step runs it again.
            let roles = match &owned.profile_roles {
                Some(read) => Some(read.clone()),
                None => iam::find_instance_profile_by_name(&aws.iam, profile_name).await?.map(|p| p.role_names),
            };
            if roles.is_some_and(|roles| roles.contains(role)) {
                iam::remove_role_from_instance_profile(&aws.iam, profile_name, role).await?;
            }
            Ok::<_, Error>(())
        };
        let role_removed = async {
            role_removed.await?;
            let _ = out_of_profile.send(());
            Ok::<_, Error>(())
        };
        let (ours, role_removed) = tokio::join!(disassociating, role_removed);
        let ours = ours?;
        role_removed?;
        // Every node has been told to let go of the profile, and IAM deletes a profile whatever EC2
        // still lists, so the wait only confirms. Should it fail, EC2 still finishes what it
        // accepted, and the profile keeps the resource in the state for the next destroy.
        let (gone, deleted) = tokio::join!(
            wait_disassociated(aws, &ours, timeout, cancel),
            iam::delete_instance_profile(&aws.iam, profile_name, cancel),
        );
        gone?;
        deleted
    };
    let other_profiles = async {
        // DeleteRole refuses a role still in any instance profile: the profiles a manual setup left
        // (or anyone else made) let go of it too; they are not ours, so they stay.
        let Some(role) = &owned.role_name else { return Ok::<_, Error>(Vec::new()) };
        let own = owned.profile.as_ref().map(|(name, _)| name.as_str());
        let others = other_profiles(aws, role, own).await?;
        bounded(others.iter().map(|other| iam::remove_role_from_instance_profile(&aws.iam, other, role)).collect())
            .await?;
        let _ = out_of_others.send(());
        Ok(others)
    };
    let policies = async {
        let detached = async {
            if let Some(role) = &owned.role_name {
                bounded(owned.attached.iter().map(|arn| iam::detach_role_policy(&aws.iam, role, arn)).collect())
                    .await?;
            }
            let _ = policies_detached.send(());
            Ok(())
        };
        match &owned.policy_arn {
            Some(arn) => iam::delete_policy(&aws.iam, arn, detached, cancel).await,
            None => detached.await,
        }
    };
    // A branch that fails drops its sender: the role is then left, and the failure reported.
    let role = async {
        let Some(role) = &owned.role_name else { return Ok(()) };
        let (profile, others, detached) = tokio::join!(role_out_of_profile, role_out_of_others, role_detached);
        if profile.is_ok() && others.is_ok() && detached.is_ok() {
            iam::delete_role(&aws.iam, role, cancel).await
        } else {
            Ok(())
        }
    };
    let (profile, others, policies, role) = tokio::join!(profile, other_profiles, policies, role);
    profile?;
    let others = others?;
    policies?;
    role?;
    Ok(others)
}

/// Runs `calls`, at most [`ASSOCIATION_CONCURRENCY`] at a time, all of them even when one fails;
/// the answer is the first error.
/// (A `Vec`, not an iterator: a future holding the iterator's closure would not be `Send` for
/// every lifetime, which the RPC handlers need.)
async fn bounded(calls: Vec<impl std::future::Future<Output = Result<(), Error>>>) -> Result<(), Error> {
    let results: Vec<Result<(), Error>> = stream::iter(calls).buffer_unordered(ASSOCIATION_CONCURRENCY).collect().await;
    results.into_iter().collect()
}

/// The instance profiles other than `own` that hold `role`: what a manual setup with one profile
/// per node leaves beside the resource's one profile, or any made outside Terraform. They lose the
/// role when the identity is destroyed. Empty when the role is gone.
pub async fn other_profiles(aws: &AwsClients, role: &str, own: Option<&str>) -> Result<Vec<String>, Error> {
    let profiles = iam::list_instance_profiles_for_role(&aws.iam, role).await.or_not_found(&[iam::NO_SUCH_ENTITY])?;
    Ok(profiles.unwrap_or_default().into_iter().filter(|p| Some(p.as_str()) != own).collect())
}

/// What destroy reads before it deletes anything, all at once: the parts of the state another
/// state or a person holds now (see [`holder`]; each described for a diagnostic), and what the
/// teardown deletes (see [`owned_from_state`]): the rest, so a part taken over by name is left
/// while this instance's own parts are still deleted.
pub async fn before_destroy(aws: &AwsClients, model: &Model) -> Result<(Vec<String>, Owned), Error> {
    let (role, policy, owned) = tokio::join!(
        iam::find_role_by_name(&aws.iam, &model.role_name),
        async {
            if model.policy_arn.is_empty() {
                Ok(None)
            } else {
                iam::find_policy_by_arn(&aws.iam, &model.policy_arn).await
            }
        },
        owned_from_state(aws, model),
    );
    let (mut owned, profile) = owned?;
    let mut foreign = Vec::new();
    let mut taken = |object: String, tags: &BTreeMap<String, String>| match holder(tags, model) {
        Claim::Ours => false,
        found => {
            foreign.push(format!("{object} belongs to {}", found.describe()));
            true
        }
    };
    if role?.is_some_and(|role| taken(format!("IAM Role {}", role.name), &role.tags)) {
        // Neither deleted nor changed: no policy is detached from it, no profile lets go of it.
        owned.role_name = None;
        owned.attached.clear();
    }
    if policy?.is_some_and(|policy| taken(format!("IAM Policy {}", policy.arn), &policy.tags)) {
        owned.policy_arn = None;
    }
    if profile.is_some_and(|profile| taken(format!("IAM Instance Profile {}", profile.name), &profile.tags)) {
        owned.profile = None;
        owned.associations = None;
    }
    Ok((foreign, owned))
}

impl Owned {
    /// Whether the teardown has anything to delete.
    pub fn is_empty(&self) -> bool {
        self.role_name.is_none() && self.policy_arn.is_none() && self.profile.is_none()
    }
}

/// The inline policies of the role. This resource makes none, and DeleteRole refuses a role that
/// has any: the delete stops before removing anything and names them, since deleting permissions
/// someone else wrote is not this resource's call.
pub async fn inline_policies(aws: &AwsClients, role: &str) -> Result<Vec<String>, Error> {
    Ok(iam::list_role_policy_names(&aws.iam, role).await.or_not_found(&[iam::NO_SUCH_ENTITY])?.unwrap_or_default())
}

/// Everything a state's resource owns, looked up where the state lacks it (e.g. a partial state),
/// with what the teardown needs to know of the profile: the roles it holds and its associations;
/// and the profile as read.
async fn owned_from_state(aws: &AwsClients, model: &Model) -> Result<(Owned, Option<iam::InstanceProfileInfo>), Error> {
    let role = model.role_name.clone();
    let known_profile_arn = Some(model.instance_profile_arn.clone()).filter(|arn| !arn.is_empty());
    // DeleteRole refuses a role with attached policies: detach all of them. Every read needs only
    // the state, so they run at once; the associations wait for the profile's ARN only when the
    // state lacks it.
    let (attached, policy_arn, profile, known_associations) = tokio::join!(
        async { iam::list_attached_role_policies(&aws.iam, &role).await.or_not_found(&[iam::NO_SUCH_ENTITY]) },
        async {
            if !model.policy_arn.is_empty() {
                Ok::<_, Error>(Some(model.policy_arn.clone()))
            } else {
                Ok(iam::find_local_policy_by_name(&aws.iam, &aws.known, &model.path, &model.policy_name)
                    .await?
                    .map(|p| p.arn))
            }
        },
        iam::find_instance_profile_by_name(&aws.iam, &model.instance_profile_name),
        async {
            match &known_profile_arn {
                Some(arn) => associations_of(aws, arn).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let profile = profile?;
    let profile_arn = match (&known_profile_arn, &profile) {
        (Some(arn), _) => arn.clone(),
        (None, Some(found)) => found.arn.clone(),
        (None, None) => String::new(),
    };
    let associations = match known_associations? {
        Some(read) => Some(read),
        None if !profile_arn.is_empty() => Some(associations_of(aws, &profile_arn).await?),
        None => None,
    };
    let owned = Owned {
        role_name: Some(role),
        policy_arn: policy_arn?,
        profile: Some((model.instance_profile_name.clone(), profile_arn)),
        attached: attached?.unwrap_or_default(),
        profile_roles: Some(profile.as_ref().map(|p| p.role_names.clone()).unwrap_or_default()),
        associations,
    };
    Ok((owned, profile))
}

/// What [`refresh`] found: the resource as it is in AWS, and the node policy's default version
/// (kept in the resource's private data for the next refresh).
#[derive(Clone, Debug)]
pub struct Refreshed {
    pub model: Model,
    pub policy_version: Option<String>,
}

/// The resource as it is in AWS, starting from `model` (state or plan); `None` when the role, the
/// instance profile and the policy are all gone (the resource is then created again). A missing
/// part (deleted outside Terraform, or by a destroy killed between its deletes) is drift, not gone:
/// what is left is still there for destroy to delete, so the state keeps it, with no ARN for the
/// missing part and no nodes, and update makes that part again (see [`without_role`]).
///
/// `known_version` is the node policy's default version when last seen (the resource's private
/// data): its document is read with the rest, and used when the policy still has it as default.
pub async fn refresh(
    aws: &AwsClients,
    model: &Model,
    default_tags: &BTreeMap<String, String>,
    known_version: Option<&str>,
) -> Result<Option<Refreshed>, Error> {
    // The parts are read at once, each by what the model knows of it (a name, or an ARN from the
    // state). So are the document of the policy version last seen and the metadata options of the
    // nodes the state lists: the policy and the associations read meanwhile say whether those are
    // still the ones to look at (they are, unless something changed outside), and only otherwise
    // are they read again.
    let known_profile_arn = Some(model.instance_profile_arn.as_str()).filter(|arn| !arn.is_empty());
    let listed_nodes: Vec<String> = model.instance_ids.iter().cloned().collect();
    let (role, profile, policy, attached, known_associations, known_document, listed_metadata) = tokio::join!(
        iam::find_role_by_name(&aws.iam, &model.role_name),
        iam::find_instance_profile_by_name(&aws.iam, &model.instance_profile_name),
        async {
            if model.policy_arn.is_empty() {
                iam::find_local_policy_by_name(&aws.iam, &aws.known, &model.path, &model.policy_name).await
            } else {
                iam::find_policy_by_arn(&aws.iam, &model.policy_arn).await
            }
        },
        async {
            iam::list_attached_role_policies(&aws.iam, &model.role_name).await.or_not_found(&[iam::NO_SUCH_ENTITY])
        },
        async {
            match known_profile_arn {
                Some(arn) => associations_of(aws, arn).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match (known_version, model.policy_arn.is_empty()) {
                (Some(version), false) => Some(iam::policy_document(&aws.iam, &model.policy_arn, version).await),
                _ => None,
            }
        },
        async {
            match (&model.metadata_options, listed_nodes.is_empty()) {
                (Some(_), false) => Some(instances::describe_metadata_options(&aws.ec2, &listed_nodes).await),
                _ => None,
            }
        },
    );
    // A part another state holds now is not this instance's, though it has the name: it counts as
    // missing, so the plan and update refuse it by name and destroy leaves it.
    let held = |tags: &BTreeMap<String, String>| holder(tags, model) == Claim::Ours;
    let Some(role) = role?.filter(|role| held(&role.tags)) else {
        return Ok(without_role(model, profile?, policy?));
    };
    let profile = profile?.filter(|profile| held(&profile.tags));
    let mut out = model.clone();
    out.role_arn = role.arn.clone();
    out.path = role.path.clone();
    out.assume_role_policy = match &role.trust_policy {
        Some(doc) if json_equal(doc, TRUST_POLICY) => TRUST_POLICY.to_string(),
        other => other.clone().unwrap_or_default(),
    };
    out.instance_profile_arn = profile.as_ref().map(|p| p.arn.clone()).unwrap_or_default();

    let known_associations = known_associations?;
    let associations = match &profile {
        // Without the profile, nodes that still have its association get no credentials from it.
        None => Vec::new(),
        Some(profile) => match known_associations {
            Some(found) if known_profile_arn == Some(profile.arn.as_str()) => found,
            // The profile was made again since the state was written (or the state has no ARN yet).
            _ => associations_of(aws, &profile.arn).await?,
        },
    };
    let mut instance_ids: BTreeSet<String> = associations.iter().map(|a| a.instance_id.clone()).collect();
    if profile.as_ref().is_some_and(|p| !p.role_names.contains(&role.name)) {
        // A profile without the role (a destroy interrupted after removing it) gives the nodes no
        // credentials: shown as nodes not yet associated, which update repairs, role first.
        instance_ids.clear();
    }
    let policy = policy?.filter(|policy| held(&policy.tags));
    // Tags are set on the role, the policy and the profile one after the other, so an update killed
    // between them leaves them apart. The first of the policy and profile whose own tags differ from
    // the role's is what the state shows: the plan then has a change, and the update tags all three.
    let own_tags = |tags: &BTreeMap<String, String>| {
        let mut own = without_system_tags(tags);
        own.remove(MANAGED_BY_TAG);
        own.remove(OWNER_TAG);
        own
    };
    let role_tags = own_tags(&role.tags);
    let lagging = [policy.as_ref().map(|p| &p.tags), profile.as_ref().map(|p| &p.tags)]
        .into_iter()
        .flatten()
        .map(own_tags)
        .find(|tags| *tags != role_tags);
    let policy_version = policy.as_ref().and_then(|p| p.default_version_id.clone());
    let (document, actual_metadata) = tokio::join!(
        async {
            match policy.as_ref().and_then(|p| p.default_version_id.as_ref().map(|v| (&p.arn, v))) {
                Some((arn, version)) => match known_document {
                    // Read with the rest: the version and the policy are still the ones asked.
                    Some(Ok(Some(document))) if known_version == Some(version.as_str()) && *arn == model.policy_arn => {
                        Ok(Some(document))
                    }
                    _ => iam::policy_document(&aws.iam, arn, version).await,
                },
                None => Ok(None),
            }
        },
        async {
            match &model.metadata_options {
                Some(_) => match listed_metadata {
                    // Read with the rest, for every node the state lists: all that are associated.
                    Some(Ok(read)) if instance_ids.is_subset(&model.instance_ids) => {
                        Ok(read.into_iter().filter(|node| instance_ids.contains(&node.instance_id)).collect())
                    }
                    _ => {
                        let ids: Vec<String> = instance_ids.iter().cloned().collect();
                        instances::describe_metadata_options(&aws.ec2, &ids).await
                    }
                },
                None => Ok(Vec::new()),
            }
        },
    );
    let mut seen_document = None;
    match policy {
        Some(policy) => {
            out.policy_arn = policy.arn.clone();
            out.policy_name = policy.name.clone();
            if let Some(document) = document? {
                if !json_equal(&document, &model.policy_json) {
                    // The text as it was uploaded: an import then matches the file a manual
                    // setup uploaded, and the provider's own documents are in jsonencode()
                    // form already, which is what generated configuration writes back.
                    out.policy_json = document.clone();
                }
                seen_document = Some(document);
            }
        }
        // A deleted policy shows as a policy document change, which update repairs.
        None => {
            out.policy_arn = String::new();
            out.policy_json = String::new();
        }
    }

    let attached = attached?.unwrap_or_default();
    // Kept for a read later in this process, unless it has changed anything (see `aws::seen`).
    aws.seen.remember_refreshed_identity(RefreshedIdentity {
        profile: profile.as_ref().map(|p| (p.name.clone(), p.role_names.clone())),
        role: Some((role.name.clone(), attached.clone())),
        policy: seen_document.map(|document| (out.policy_arn.clone(), document)),
    });
    let attached: BTreeSet<String> = attached.into_iter().collect();
    if !out.policy_arn.is_empty() && !attached.contains(&out.policy_arn) {
        // A detached policy shows as a document change too; update attaches it again.
        out.policy_json = String::new();
    }
    let additional: BTreeSet<String> = attached.into_iter().filter(|arn| *arn != out.policy_arn).collect();
    out.additional_policy_arns =
        if additional.is_empty() && model.additional_policy_arns.is_none() { None } else { Some(additional) };

    out.instance_ids = instance_ids;
    out.associations = associations
        .into_iter()
        .filter(|a| out.instance_ids.contains(&a.instance_id))
        .map(|a| (a.instance_id, AssociationState { association_id: a.association_id, state: a.state }))
        .collect();

    if let Some(configured) = &model.metadata_options {
        let actual = actual_metadata?;
        let mut seen = configured.clone();
        // Report the first instance that differs, so drift on any instance shows in the plan.
        for instance in &actual {
            if configured.http_tokens.is_some() && instance.http_tokens != configured.http_tokens {
                seen.http_tokens = instance.http_tokens.clone();
            }
            if let Some(limit) = configured.http_put_response_hop_limit {
                if instance.http_put_response_hop_limit.map(i64::from) != Some(limit) {
                    seen.http_put_response_hop_limit = instance.http_put_response_hop_limit.map(i64::from);
                }
            }
        }
        out.metadata_options = Some(seen);
    }

    // An import (or a state from before owner ids) takes the owner id the role carries.
    let tagged_owner = role.tags.get(OWNER_TAG).cloned();
    out.owner_id = model.owner_id.clone().or(tagged_owner);
    let tags_all = lagging.unwrap_or(role_tags);
    let own: BTreeMap<String, String> = tags_all
        .iter()
        .filter(|(k, v)| default_tags.get(*k) != Some(*v) || model.tags.as_ref().is_some_and(|t| t.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.tags = if own.is_empty() && model.tags.is_none() { None } else { Some(own) };
    out.tags_all = tags_all;
    Ok(Some(Refreshed { model: out, policy_version }))
}

/// The resource whose role is gone while other parts of it are left (deleted outside Terraform, or
/// by a destroy stopped after DeleteRole): drift, so that update makes the role again and destroy
/// deletes what is left; `None` when nothing of it is left, or nothing that carries this instance's
/// mark (the resource is then gone, and created again).
fn without_role(
    model: &Model,
    profile: Option<iam::InstanceProfileInfo>,
    policy: Option<iam::PolicyInfo>,
) -> Option<Refreshed> {
    let ours =
        |tags: &BTreeMap<String, String>| claim(tags, &model.role_name, model.owner_id.as_deref()) == Claim::Ours;
    let profile = profile.filter(|profile| ours(&profile.tags));
    let policy = policy.filter(|policy| ours(&policy.tags));
    if profile.is_none() && policy.is_none() {
        return None;
    }
    let mut out = model.clone();
    out.role_arn = String::new();
    out.instance_profile_arn = profile.map(|profile| profile.arn).unwrap_or_default();
    let policy_version = policy.as_ref().and_then(|policy| policy.default_version_id.clone());
    match policy {
        Some(policy) => {
            out.policy_arn = policy.arn;
            out.policy_name = policy.name;
        }
        None => {
            out.policy_arn = String::new();
            out.policy_json = String::new();
        }
    }
    // Without the role the nodes get no credentials from the profile: shown as nodes not
    // associated, which update repairs, role first.
    out.instance_ids.clear();
    out.associations.clear();
    Some(Refreshed { model: out, policy_version })
}

/// [`refresh`] right after a create or update: IAM may not show a role or instance profile it just
/// made to reads for a while, so not found (of either) is waited out within
/// [`IAM_PROPAGATION_TIMEOUT`]; still not found after that is an error (the caller keeps the
/// objects in the state).
pub async fn refresh_after_write(
    aws: &AwsClients,
    model: &Model,
    default_tags: &BTreeMap<String, String>,
    cancel: &CancellationToken,
) -> Result<Refreshed, Error> {
    let waiter = StateWaiter {
        object: &format!("IAM Role {} and IAM Instance Profile {}", model.role_name, model.instance_profile_name),
        pending: &[NOT_FOUND],
        target: &["visible"],
        timeout: IAM_PROPAGATION_TIMEOUT,
    };
    fn state_of(refreshed: &Refreshed) -> &str {
        if refreshed.model.role_arn.is_empty() || refreshed.model.instance_profile_arn.is_empty() {
            NOT_FOUND
        } else {
            "visible"
        }
    }
    // Right after a write the policy may have a new default version: nothing is read ahead.
    waiter.wait_found(cancel, || refresh(aws, model, default_tags, None), state_of).await
}

/// The parts the state names as an update finds them before it writes anything: `None` where the
/// state names none or AWS has none any more (both are made again). The plan's refresh checked
/// who holds them, but a plan with `-refresh=false` reads nothing, and another state (or a person)
/// may have made a part of the same name since this instance's was deleted: such a part is refused
/// here, so the update changes nothing of it.
pub struct Held {
    role: Option<iam::RoleInfo>,
    profile: Option<iam::InstanceProfileInfo>,
    policy: Option<iam::PolicyInfo>,
}

/// Reads the parts `prior` names, all at once, and refuses one of another owner (see [`Held`]).
pub async fn held_parts(aws: &AwsClients, prior: &Model) -> Result<Held, Error> {
    let (role, profile, policy) = tokio::join!(
        async {
            match prior.role_arn.is_empty() {
                true => Ok(None),
                false => iam::find_role_by_name(&aws.iam, &prior.role_name).await,
            }
        },
        async {
            match prior.instance_profile_arn.is_empty() {
                true => Ok(None),
                false => iam::find_instance_profile_by_name(&aws.iam, &prior.instance_profile_name).await,
            }
        },
        async {
            match prior.policy_arn.is_empty() {
                true => Ok(None),
                false => iam::find_policy_by_arn(&aws.iam, &prior.policy_arn).await,
            }
        },
    );
    let held = Held { role: role?, profile: profile?, policy: policy? };
    let name = &prior.role_name;
    let refuse = |tags: &BTreeMap<String, String>, object: String, attribute: &'static str| match holder(tags, prior) {
        Claim::Ours => Ok(()),
        other => Err(not_owned(object, &other, name, attribute)),
    };
    if let Some(role) = &held.role {
        refuse(&role.tags, role.describe(), "role_name")?;
    }
    if let Some(policy) = &held.policy {
        refuse(&policy.tags, policy.describe(), "policy_name")?;
    }
    if let Some(profile) = &held.profile {
        refuse(&profile.tags, profile.describe(), "instance_profile_name")?;
    }
    Ok(held)
}

/// Applies the difference between `prior` and `planned` (both fully known) to the parts `held`
/// found.
pub async fn update(
    aws: &AwsClients,
    prior: &Model,
    planned: &Model,
    held: Held,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), StepError> {
    let role = &prior.role_name;
    let tags = tags_to_apply(planned);

    // A role gone from AWS (see [`refresh`], or deleted since a plan that did not refresh) is made
    // again, or this instance's own adopted; it then goes back into the profile and every planned
    // node is associated, as below. The trust policy is compared with the one IAM holds.
    let role_made = match &held.role {
        None => {
            ensure_role(aws, planned, &tags).await?;
            true
        }
        Some(found) => {
            if !found.trust_policy.as_deref().is_some_and(|doc| json_equal(doc, TRUST_POLICY)) {
                iam::update_trust_policy(&aws.iam, role, TRUST_POLICY).await?;
            }
            false
        }
    };
    // A profile gone from AWS is made again, or this instance's own adopted; every planned node is
    // then associated below.
    let (profile_arn, profile_holds, profile_made) = match held.profile {
        None => {
            let (arn, holds, _) = ensure_profile(aws, planned, &tags).await?;
            (arn, holds, true)
        }
        Some(found) => (found.arn, found.role_names, false),
    };

    // The policy: made again if it was deleted out of band (another owner's of its name refused),
    // its document made current, attached.
    let policy_arn = match &held.policy {
        None => ensure_policy(aws, planned, &tags).await?.0,
        // Compare with the document IAM holds, not the prior state: a detached policy shows in the
        // state as an empty document, and re-attaching it must not make a new version.
        Some(policy) => {
            let current = match &policy.default_version_id {
                Some(version) => iam::policy_document(&aws.iam, &policy.arn, version).await?,
                None => None,
            };
            if !current.is_some_and(|doc| json_equal(&doc, &planned.policy_json)) {
                iam::set_policy_document(&aws.iam, &policy.arn, &planned.policy_json).await?;
            }
            policy.arn.clone()
        }
    };
    let attached: BTreeSet<String> = iam::list_attached_role_policies(&aws.iam, role).await?.into_iter().collect();
    let mut wanted: BTreeSet<String> = planned.additional_policy_arns.clone().unwrap_or_default();
    wanted.insert(policy_arn.clone());
    for arn in wanted.difference(&attached) {
        iam::attach_role_policy(&aws.iam, role, arn).await?;
    }
    let previously_additional = prior.additional_policy_arns.clone().unwrap_or_default();
    for arn in previously_additional.difference(&wanted) {
        iam::detach_role_policy(&aws.iam, role, arn).await?;
    }

    if prior.tags_all != planned.tags_all {
        let remove: Vec<String> = prior
            .tags_all
            .keys()
            .filter(|k| !planned.tags_all.contains_key(*k) && *k != MANAGED_BY_TAG && !is_system_key(k))
            .cloned()
            .collect();
        let add: BTreeMap<String, String> = planned
            .tags_all
            .iter()
            .filter(|(k, v)| prior.tags_all.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for object in [
            iam::Tagged::Role(role),
            iam::Tagged::Policy(&policy_arn),
            iam::Tagged::InstanceProfile(&prior.instance_profile_name),
        ] {
            iam::retag(&aws.iam, object, &add, &remove).await?;
        }
    }

    let profile_arn = &profile_arn;
    let removed: Vec<String> = prior.instance_ids.difference(&planned.instance_ids).cloned().collect();
    if !removed.is_empty() {
        let ours: Vec<Association> = instances::list_associations(&aws.ec2, Some(&removed))
            .await?
            .into_iter()
            .filter(|a| a.profile_arn == *profile_arn)
            .collect();
        disassociate_all(aws, &ours, timeout, cancel).await?;
    }
    // A part made again holds none of the nodes the prior state lists.
    let added: BTreeSet<String> = match role_made || profile_made {
        true => planned.instance_ids.clone(),
        false => planned.instance_ids.difference(&prior.instance_ids).cloned().collect(),
    };
    if !added.is_empty() || role_made || profile_made {
        ensure_role_in_profile(aws, &prior.instance_profile_name, &profile_holds, role, cancel).await?;
    }
    // Nodes of a manual setup whose own profile holds this role move to the resource's profile.
    let replaceable: BTreeSet<String> = if added.is_empty() {
        BTreeSet::new()
    } else {
        other_profiles(aws, role, Some(&prior.instance_profile_name)).await?.into_iter().collect()
    };
    let nodes = current_associations(aws, &added).await?;
    associate_all(aws, &nodes, profile_arn, planned.replace_existing_association, &replaceable, timeout, cancel)
        .await?;

    let metadata_targets =
        if planned.metadata_options != prior.metadata_options { &planned.instance_ids } else { &added };
    apply_metadata_options(aws, planned.metadata_options.as_ref(), metadata_targets, cancel).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_documents_by_meaning() {
        assert!(json_equal(r#"{"a":1,"b":[1,2]}"#, r#"{ "b": [1, 2], "a": 1 }"#));
        assert!(!json_equal(r#"{"a":1}"#, r#"{"a":2}"#));
    }

    #[test]
    fn recognises_only_its_own_mark_and_owner() {
        let marked = |owner: Option<&str>| {
            let mut tags = BTreeMap::from([(MANAGED_BY_TAG.to_string(), ownership_value("nodes"))]);
            tags.extend(owner.map(|o| (OWNER_TAG.to_string(), o.to_string())));
            tags
        };
        assert_eq!(claim(&marked(Some("a")), "nodes", Some("a")), Claim::Ours);
        assert_eq!(claim(&marked(Some("b")), "nodes", Some("a")), Claim::OtherOwner("b".into()));
        // Made for another role name, or by a provider version before owner ids.
        assert_eq!(claim(&marked(Some("a")), "other", Some("a")), Claim::Unmarked);
        assert_eq!(claim(&marked(None), "nodes", Some("a")), Claim::Unmarked);
        assert_eq!(claim(&BTreeMap::new(), "nodes", Some("a")), Claim::Unmarked);
        // A state from before owner ids adopts what that version made, and nothing of another state.
        assert_eq!(claim(&marked(None), "nodes", None), Claim::Ours);
        assert_eq!(claim(&BTreeMap::new(), "nodes", None), Claim::Unmarked);
        assert_eq!(claim(&marked(Some("b")), "nodes", None), Claim::OtherOwner("b".into()));
        assert_eq!(profile_name_of("arn:aws:iam::1:instance-profile/k8s/nodes"), "nodes");
    }

    #[test]
    fn a_state_holds_what_carries_its_owner_id_and_an_import_what_it_names() {
        let tagged = |owner: Option<&str>| BTreeMap::from_iter(owner.map(|o| (OWNER_TAG.to_string(), o.to_string())));
        let state = |owner: Option<&str>| Model { owner_id: owner.map(str::to_string), ..Model::default() };
        assert_eq!(holder(&tagged(Some("a")), &state(Some("a"))), Claim::Ours);
        // Made again under the name by another state, or by hand, since this state's was deleted.
        assert_eq!(holder(&tagged(Some("b")), &state(Some("a"))), Claim::OtherOwner("b".into()));
        assert_eq!(holder(&tagged(None), &state(Some("a"))), Claim::Unmarked);
        // An import holds what it names: a manual setup's, or a state's on purpose.
        assert_eq!(holder(&tagged(None), &state(None)), Claim::Ours);
        assert_eq!(holder(&tagged(Some("b")), &state(None)), Claim::Ours);
    }
}
