//! What AWS does that moto does not: the standing behaviours the proxy adds to every call, and the
//! IAM and EC2 sides of the per-object holds ([`Fault::NotYetVisible`], [`Fault::StayDeleting`] on
//! a disassociation, [`Fault::StayCreating`] on a metadata options change).
//!
//! Standing, on every call:
//! * EFS adds the system tag `aws:elasticfilesystem:default-backup = enabled` to a file system
//!   created with automatic backups on (moto lets TagResource set an `aws:` key, so the proxy tags
//!   it in moto right after the create, and the create answer shows it too).
//! * Tag keys starting with `aws:` are AWS's own: EFS TagResource/UntagResource, IAM
//!   Tag*/Untag* and EC2 CreateTags/DeleteTags naming one are refused, as AWS refuses them.
//! * DescribeAccessPoints by file system answers in pages ([`ACCESS_POINTS_PER_PAGE`]) with a
//!   `NextToken`, as EFS does.
//! * Mount target calls EFS refuses while the mount target is `creating` or `deleting`, and
//!   DeleteFileSystem while the file system still has mount targets or access points (see
//!   [`refuse_unsettled`]).
//! * DescribeBackupPolicy of a file system that does not exist answers `FileSystemNotFound`, as
//!   EFS does; moto fails it with HTTP 500 (see [`refuse_missing_file_system`]).
//!
//! [`Fault::NotYetVisible`]: super::Fault::NotYetVisible
//! [`Fault::StayDeleting`]: super::Fault::StayDeleting
//! [`Fault::StayCreating`]: super::Fault::StayCreating

use serde_json::Value;

use super::faults::Holds;
use super::http::{forward, Request, Response};
use super::wire::{error_response, form_value};
use super::Shared;

/// The system tag EFS puts on a file system whose automatic backups are on.
pub const BACKUP_SYSTEM_TAG: &str = "aws:elasticfilesystem:default-backup";

/// AWS's refusal of a tag call that names an `aws:` key, or `None` when the call names none.
pub(super) fn refuse_system_tag_keys(action: &str, request: &Request) -> Option<Response> {
    let (service, name) = action.split_once(':')?;
    let tagging = match service {
        "efs" => matches!(name, "TagResource" | "UntagResource"),
        "iam" => name.starts_with("Tag") || name.starts_with("Untag"),
        "ec2" => matches!(name, "CreateTags" | "DeleteTags"),
        _ => false,
    };
    if !tagging {
        return None;
    }
    let keys: Vec<String> = if service == "efs" {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let mut keys: Vec<String> = body["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["Key"].as_str().map(str::to_string))
            .collect();
        let query = request.target.split_once('?').map(|(_, q)| q).unwrap_or_default();
        keys.extend(query.split('&').filter_map(|pair| {
            let (k, _) = pair.split_once('=')?;
            (k == "tagKeys").then(|| form_value(pair, k)).flatten()
        }));
        keys
    } else {
        let form = String::from_utf8_lossy(&request.body).into_owned();
        form.split('&')
            .filter_map(|pair| {
                let (k, _) = pair.split_once('=')?;
                let names_a_key = k.ends_with(".Key") || k.starts_with("TagKeys.member.");
                names_a_key.then(|| form_value(pair, k)).flatten()
            })
            .collect()
    };
    let reserved = keys.iter().find(|k| k.starts_with("aws:"))?;
    let message = format!("Tag keys starting with 'aws:' are reserved for system use: {reserved}");
    Some(match service {
        "efs" => error_response("efs", 400, "BadRequest", &message),
        "iam" => error_response("iam", 400, "InvalidInput", &message),
        _ => error_response("ec2", 400, "InvalidParameterValue", &message),
    })
}

/// After a CreateFileSystem with `Backup: true`: the system tag, in moto and in the answer.
pub(super) fn tag_backed_up_file_system(shared: &Shared, request: &Request, response: &mut Response) {
    let asked: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    if asked["Backup"] != Value::Bool(true) {
        return;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else { return };
    let Some(id) = body["FileSystemId"].as_str().map(str::to_string) else { return };
    let tag = serde_json::json!({ "Key": BACKUP_SYSTEM_TAG, "Value": "enabled" });
    let version = request.path().trim_start_matches('/').split('/').next().unwrap_or("2015-02-01").to_string();
    let tagging = Request {
        method: "POST".to_string(),
        target: format!("/{version}/resource-tags/{id}"),
        headers: request.headers.clone(),
        body: serde_json::json!({ "Tags": [tag.clone()] }).to_string().into_bytes(),
    };
    if forward(shared.moto, &tagging).is_ok_and(|r| (200..300).contains(&r.status)) {
        if let Some(tags) = body["Tags"].as_array_mut() {
            tags.push(tag);
        } else {
            body["Tags"] = Value::Array(vec![tag]);
        }
        response.body = body.to_string().into_bytes();
    }
}

/// EFS answers with the ARN of the key a file system was made with, also when the create named
/// the key by an alias ARN; moto echoes the alias. The alias is resolved here, to a key id derived
/// from the alias's name (the same alias always names the same key).
pub(super) fn resolve_kms_aliases(action: &str, response: &mut Response) {
    if !matches!(action, "efs:CreateFileSystem" | "efs:DescribeFileSystems") {
        return;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else { return };
    let mut resolved = false;
    let descriptions: Vec<&mut Value> = match body.get_mut("FileSystems").and_then(Value::as_array_mut) {
        Some(list) => list.iter_mut().collect(),
        None => vec![&mut body],
    };
    for description in descriptions {
        let Some(alias) = description["KmsKeyId"].as_str() else { continue };
        let Some((prefix, name)) = alias.split_once(":alias/") else { continue };
        // FNV-1a of the name, shaped like a key id.
        let hash =
            name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let hex = format!("{hash:016x}{:016x}", hash.rotate_left(29));
        let key =
            format!("{prefix}:key/{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        description["KmsKeyId"] = Value::String(key);
        resolved = true;
    }
    if resolved {
        response.body = body.to_string().into_bytes();
    }
}

/// Before forwarding: DescribeBackupPolicy of a file system moto does not have answers EFS's
/// `FileSystemNotFound` (HTTP 404). moto's lookup fails with HTTP 500 there, which an SDK retries
/// as a server error, so a refresh of a deleted file system would wait out every retry. `None` to
/// forward the call.
pub(super) fn refuse_missing_file_system(shared: &Shared, action: &str, request: &Request) -> Option<Response> {
    if action != "efs:DescribeBackupPolicy" {
        return None;
    }
    // `/2015-02-01/file-systems/{id}/backup-policy`
    let mut segments = request.path().trim_start_matches('/').split('/').skip(1);
    let fs_id = (segments.next() == Some("file-systems")).then(|| segments.next()).flatten()?.to_string();
    let lookup = Request {
        method: "GET".to_string(),
        target: format!("/2015-02-01/file-systems?FileSystemId={fs_id}"),
        headers: request.headers.clone(),
        body: Vec::new(),
    };
    let answer = forward(shared.moto, &lookup).ok()?;
    (answer.status == 404)
        .then(|| error_response("efs", 404, "FileSystemNotFound", &format!("File system '{fs_id}' does not exist.")))
}

/// The mount target an EFS mount target call names in its path (`/mount-targets/{id}[/...]`).
fn mount_target_in_path(request: &Request) -> Option<String> {
    let mut segments = request.path().trim_start_matches('/').split('/').skip(1);
    (segments.next() == Some("mount-targets")).then(|| segments.next().map(str::to_string)).flatten()
}

/// Before forwarding: EFS's refusals of calls on objects that are not settled, which moto (where
/// everything is settled at once) never gives. `None` to forward the call.
///
/// * DeleteMountTarget and ModifyMountTargetSecurityGroups on a mount target held `creating` or
///   `deleting`, and DescribeMountTargetSecurityGroups on one held `creating` (its network
///   interface may not exist yet), answer `IncorrectMountTargetState`.
/// * DeleteFileSystem answers `FileSystemInUse` while a mount target of the file system is held
///   `creating` or `deleting` (moto refuses only while it still has one), and while the file
///   system has access points. The API reference names only mount targets; the user guide says
///   both must be deleted first: the stricter reading is the one emulated.
pub(super) fn refuse_unsettled(shared: &Shared, action: &str, request: &Request) -> Option<Response> {
    let held = |state: &super::faults::State, id: &str| {
        let creating = state.creating.get(id).is_some_and(|n| *n > 0);
        let deleting = state.deleting.get(id).is_some_and(|(n, _)| *n > 0);
        (creating, deleting)
    };
    match action {
        "efs:DeleteMountTarget" | "efs:ModifyMountTargetSecurityGroups" | "efs:DescribeMountTargetSecurityGroups" => {
            let id = mount_target_in_path(request)?;
            let mut state = shared.state();
            let (creating, deleting) = held(&state, &id);
            let refused = creating || (deleting && action != "efs:DescribeMountTargetSecurityGroups");
            if !refused {
                return None;
            }
            *state.injected.entry(action.to_string()).or_default() += 1;
            let now = if creating { "creating" } else { "deleting" };
            Some(error_response(
                "efs",
                409,
                "IncorrectMountTargetState",
                &format!("Mount target '{id}' is in state {now}, not available."),
            ))
        }
        "efs:DeleteFileSystem" => {
            let fs_id = request.path().rsplit('/').next()?.to_string();
            let mut state = shared.state();
            let unsettled = state.described.iter().any(|(id, description)| {
                let (creating, deleting) = held(&state, id);
                id.starts_with("fsmt-") && description["FileSystemId"] == fs_id.as_str() && (creating || deleting)
            });
            let in_use = if unsettled {
                Some("mount targets")
            } else {
                drop(state);
                let listing = Request {
                    method: "GET".to_string(),
                    target: format!("/2015-02-01/access-points?FileSystemId={fs_id}"),
                    headers: request.headers.clone(),
                    body: Vec::new(),
                };
                let answer = forward(shared.moto, &listing).ok().filter(|r| r.status == 200)?;
                let body: Value = serde_json::from_slice(&answer.body).ok()?;
                let has_access_points = body["AccessPoints"].as_array().is_some_and(|a| !a.is_empty());
                state = shared.state();
                has_access_points.then_some("access points")
            }?;
            *state.injected.entry(action.to_string()).or_default() += 1;
            Some(error_response(
                "efs",
                409,
                "FileSystemInUse",
                &format!("File system '{fs_id}' has {in_use} created in it."),
            ))
        }
        _ => None,
    }
}

/// Access points per DescribeAccessPoints page: EFS pages the list (moto does not), and a small
/// page makes every list of more than two take several calls.
pub const ACCESS_POINTS_PER_PAGE: usize = 2;

/// Pages a DescribeAccessPoints answer by file system: [`ACCESS_POINTS_PER_PAGE`] at a time, from
/// the offset in the `NextToken` the proxy gave out (moto ignores the token and lists them all).
pub(super) fn page_access_points(request: &Request, response: &mut Response) {
    if request.query("FileSystemId").is_none() {
        return;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else { return };
    let Some(all) = body["AccessPoints"].as_array().cloned() else { return };
    let offset: usize = request
        .query("NextToken")
        .and_then(|t| t.strip_prefix("proxy-page-").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let end = (offset + ACCESS_POINTS_PER_PAGE).min(all.len());
    body["AccessPoints"] = Value::Array(all.get(offset.min(end)..end).unwrap_or_default().to_vec());
    body["NextToken"] = if end < all.len() { Value::from(format!("proxy-page-{end}")) } else { Value::Null };
    response.body = body.to_string().into_bytes();
}

/// The object an IAM or EFS read names, as the `invisible` map keys it.
fn named_objects(action: &str, request: &Request) -> Vec<String> {
    let form = String::from_utf8_lossy(&request.body).into_owned();
    let field = |name: &str| form_value(&form, name);
    match action {
        "iam:GetRole" => field("RoleName").map(|n| format!("role/{n}")).into_iter().collect(),
        "iam:GetInstanceProfile" => {
            field("InstanceProfileName").map(|n| format!("instance-profile/{n}")).into_iter().collect()
        }
        "iam:AddRoleToInstanceProfile" => [
            field("RoleName").map(|n| format!("role/{n}")),
            field("InstanceProfileName").map(|n| format!("instance-profile/{n}")),
        ]
        .into_iter()
        .flatten()
        .collect(),
        "efs:DescribeAccessPoints" => {
            request.query("AccessPointId").map(|id| format!("access-point/{id}")).into_iter().collect()
        }
        "ec2:AuthorizeSecurityGroupIngress" => {
            field("GroupId").map(|id| format!("security-group/{id}")).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// Before forwarding: the answer AWS gives while an object is not yet visible, or while an
/// instance's association is still `disassociating`; `None` to forward the call.
pub(super) fn eventual_answer(shared: &Shared, action: &str, request: &Request) -> Option<Response> {
    let mut state = shared.state();
    let form = String::from_utf8_lossy(&request.body).into_owned();
    let moving = association_call_instance(&state, action, &form)
        .and_then(|instance| state.instances_in_transition.get(&instance).map(|held| (instance, *held)));
    if let Some((instance, (_, now))) = moving.filter(|(_, (left, _))| *left > 0) {
        *state.injected.entry(action.to_string()).or_default() += 1;
        return Some(error_response(
            "ec2",
            400,
            "IncorrectInstanceState",
            &format!("The instance '{instance}' is not in a state from which it can be changed (it is {now})."),
        ));
    }
    if action == "ec2:AssociateIamInstanceProfile" {
        let instance = form_value(&String::from_utf8_lossy(&request.body), "InstanceId")?;
        if state.disassociating.get(&instance).is_some_and(|(left, _)| *left > 0) {
            *state.injected.entry(action.to_string()).or_default() += 1;
            return Some(error_response(
                "ec2",
                400,
                "IncorrectState",
                &format!("There is an existing association for instance {instance}"),
            ));
        }
        return None;
    }
    let object = named_objects(action, request).into_iter().find(|o| state.invisible.get(o).is_some_and(|n| *n > 0))?;
    if let Some(left) = state.invisible.get_mut(&object) {
        *left -= 1;
    }
    *state.injected.entry(action.to_string()).or_default() += 1;
    let (kind, name) = object.split_once('/').unwrap_or_default();
    Some(match kind {
        "access-point" => {
            error_response("efs", 404, "AccessPointNotFound", &format!("Access point {name} does not exist."))
        }
        "role" => error_response("iam", 404, "NoSuchEntity", &format!("The role with name {name} cannot be found.")),
        "security-group" => {
            error_response("ec2", 400, "InvalidGroup.NotFound", &format!("The security group '{name}' does not exist"))
        }
        _ => error_response("iam", 404, "NoSuchEntity", &format!("Instance Profile {name} cannot be found.")),
    })
}

/// The instance an association call acts on: named by AssociateIamInstanceProfile, or the
/// instance of the association that ReplaceIamInstanceProfileAssociation and
/// DisassociateIamInstanceProfile name, as the proxy saw it.
fn association_call_instance(state: &super::faults::State, action: &str, form: &str) -> Option<String> {
    match action {
        "ec2:AssociateIamInstanceProfile" => form_value(form, "InstanceId"),
        "ec2:ReplaceIamInstanceProfileAssociation" | "ec2:DisassociateIamInstanceProfile" => {
            state.association_instances.get(&form_value(form, "AssociationId")?).cloned()
        }
        _ => None,
    }
}

/// Every `(association id, instance id)` an EC2 answer names, each association followed by its
/// instance as EC2 writes them.
fn associations_in(xml: &str) -> Vec<(String, String)> {
    xml.split("<associationId>")
        .skip(1)
        .filter_map(|piece| {
            let id = piece.split('<').next()?;
            Some((id.to_string(), xml_field(piece, "instanceId")?.to_string()))
        })
        .collect()
}

/// The text between `<tag>` and `</tag>`, first occurrence.
fn xml_field<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// The instance ids a DescribeIamInstanceProfileAssociations call filters on; `None` for all.
fn filtered_instances(form: &str) -> Option<Vec<String>> {
    let filter = (1..10).find(|n| form_value(form, &format!("Filter.{n}.Name")).as_deref() == Some("instance-id"))?;
    Some((1..=200).map_while(|v| form_value(form, &format!("Filter.{filter}.Value.{v}"))).collect())
}

/// After forwarding an IAM or EC2 call: starts the holds it asked for, and rewrites EC2 describe
/// answers to show what the holds hold (associations not yet listed or still `disassociating`,
/// metadata options still `pending`).
pub(super) fn rewrite_answer(shared: &Shared, action: &str, request: &Request, response: &mut Response, holds: Holds) {
    if !(200..300).contains(&response.status) {
        return;
    }
    let form = String::from_utf8_lossy(&request.body).into_owned();
    let body = String::from_utf8_lossy(&response.body).into_owned();
    let mut state = shared.state();
    match action {
        "iam:CreateRole" | "iam:CreateInstanceProfile" => {
            if let Some(polls) = holds.invisible {
                let (field, kind) = if action == "iam:CreateRole" {
                    ("RoleName", "role")
                } else {
                    ("InstanceProfileName", "instance-profile")
                };
                if let Some(name) = form_value(&form, field) {
                    state.invisible.insert(format!("{kind}/{name}"), polls);
                }
            }
        }
        "ec2:CreateSecurityGroup" => {
            if let (Some(polls), Some(id)) = (holds.invisible, xml_field(&body, "groupId")) {
                state.invisible.insert(format!("security-group/{id}"), polls);
            }
        }
        "ec2:AssociateIamInstanceProfile" | "ec2:ReplaceIamInstanceProfileAssociation" => {
            state.association_instances.extend(associations_in(&body));
            if let (Some(polls), Some(id)) = (holds.invisible, xml_field(&body, "associationId")) {
                if action == "ec2:AssociateIamInstanceProfile" {
                    state.invisible.insert(format!("association/{id}"), polls);
                }
            }
        }
        "ec2:StopInstances" | "ec2:StartInstances" | "ec2:TerminateInstances" => {
            let (hold, shown) = match action {
                "ec2:StartInstances" => (holds.creating, "pending"),
                "ec2:StopInstances" => (holds.deleting, "stopping"),
                _ => (holds.deleting, "shutting-down"),
            };
            if let Some(polls) = hold {
                for instance in (1..=200).map_while(|n| form_value(&form, &format!("InstanceId.{n}"))) {
                    state.instances_in_transition.insert(instance, (polls, shown));
                }
            }
        }
        "ec2:DisassociateIamInstanceProfile" => {
            let association = xml_field(&body, "iamInstanceProfileAssociation");
            if let (Some(polls), Some(association)) = (holds.deleting, association) {
                if let Some(instance) = xml_field(association, "instanceId") {
                    state.disassociating.insert(instance.to_string(), (polls, format!("<item>{association}</item>")));
                }
            }
        }
        "ec2:ModifyInstanceMetadataOptions" => {
            if let (Some(polls), Some(instance)) = (holds.creating, form_value(&form, "InstanceId")) {
                state.metadata_pending.insert(instance, polls);
            }
        }
        "ec2:DescribeIamInstanceProfileAssociations" => {
            state.association_instances.extend(associations_in(&body));
            let mut xml = body.clone();
            let mut shown = 0;
            // Associations not listed yet: their <item> is cut out.
            let hidden: Vec<String> = state
                .invisible
                .iter()
                .filter(|(k, n)| k.starts_with("association/") && **n > 0)
                .map(|(k, _)| k.trim_start_matches("association/").to_string())
                .collect();
            for id in hidden {
                let marker = format!("<associationId>{id}</associationId>");
                let Some(at) = xml.find(&marker) else { continue };
                let Some(start) = xml[..at].rfind("<item>") else { continue };
                let Some(end) = xml[at..].find("</item>").map(|e| at + e + "</item>".len()) else { continue };
                xml.replace_range(start..end, "");
                if let Some(left) = state.invisible.get_mut(&format!("association/{id}")) {
                    *left -= 1;
                }
                shown += 1;
            }
            // Associations on their way out: still listed, `disassociating`.
            let wanted = filtered_instances(&form);
            let leaving: Vec<(String, String)> = state
                .disassociating
                .iter()
                .filter(|(instance, (left, _))| *left > 0 && wanted.as_ref().is_none_or(|w| w.contains(instance)))
                .map(|(instance, (_, item))| (instance.clone(), item.clone()))
                .collect();
            for (instance, item) in leaving {
                let set = "<iamInstanceProfileAssociationSet>";
                if let Some(at) = xml.find(set) {
                    xml.insert_str(at + set.len(), &item);
                } else if let Some(at) = xml.find("<iamInstanceProfileAssociationSet/>") {
                    xml.replace_range(
                        at..at + "<iamInstanceProfileAssociationSet/>".len(),
                        &format!("{set}{item}</iamInstanceProfileAssociationSet>"),
                    );
                } else {
                    continue;
                }
                if let Some((left, _)) = state.disassociating.get_mut(&instance) {
                    *left -= 1;
                }
                shown += 1;
            }
            if shown > 0 {
                *state.injected.entry(action.to_string()).or_default() += shown;
                response.body = xml.into_bytes();
            }
        }
        "ec2:DescribeInstances" => {
            let mut xml = body.clone();
            let mut shown = 0;
            let pending: Vec<String> =
                state.metadata_pending.iter().filter(|(_, n)| **n > 0).map(|(i, _)| i.clone()).collect();
            for instance in pending {
                // moto writes an instance's <metadataOptions> before its <instanceId>.
                let Some(at) = xml.find(&format!("<instanceId>{instance}</instanceId>")) else { continue };
                let applied = "<metadataOptions><state>applied</state>";
                let Some(start) = xml[..at].rfind(applied) else { continue };
                xml.replace_range(start..start + applied.len(), "<metadataOptions><state>pending</state>");
                if let Some(left) = state.metadata_pending.get_mut(&instance) {
                    *left -= 1;
                }
                shown += 1;
            }
            // Instances still on their way to the state moto put them in at once.
            let moving: Vec<(String, &'static str)> = state
                .instances_in_transition
                .iter()
                .filter(|(_, (n, _))| *n > 0)
                .map(|(i, (_, now))| (i.clone(), *now))
                .collect();
            for (instance, now) in moving {
                // moto writes an instance's <instanceState> after its <instanceId>.
                let Some(at) = xml.find(&format!("<instanceId>{instance}</instanceId>")) else { continue };
                let Some(start) = xml[at..].find("<instanceState>").map(|s| at + s) else { continue };
                let closing = "</instanceState>";
                let Some(end) = xml[start..].find(closing).map(|e| start + e + closing.len()) else { continue };
                let code = match now {
                    "pending" => 0,
                    "shutting-down" => 32,
                    _ => 64,
                };
                xml.replace_range(
                    start..end,
                    &format!("<instanceState><code>{code}</code><name>{now}</name>{closing}"),
                );
                if let Some((left, _)) = state.instances_in_transition.get_mut(&instance) {
                    *left -= 1;
                }
                shown += 1;
            }
            if shown > 0 {
                *state.injected.entry(action.to_string()).or_default() += shown;
                response.body = xml.into_bytes();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, body: &str) -> Request {
        Request { method: method.into(), target: target.into(), headers: Vec::new(), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn refuses_tag_calls_naming_system_keys_in_each_protocol() {
        let efs_untag = request("DELETE", "/2015-02-01/resource-tags/fs-1?tagKeys=aws%3Aelasticfilesystem%3Ax", "");
        assert!(refuse_system_tag_keys("efs:UntagResource", &efs_untag).is_some_and(|r| r.status == 400));
        let efs_tag = request("POST", "/2015-02-01/resource-tags/fs-1", r#"{"Tags":[{"Key":"team","Value":"a"}]}"#);
        assert!(refuse_system_tag_keys("efs:TagResource", &efs_tag).is_none());
        let iam = request("POST", "/", "Action=UntagRole&RoleName=r&TagKeys.member.1=aws%3Asso");
        assert!(refuse_system_tag_keys("iam:UntagRole", &iam).is_some());
        let ec2 = request("POST", "/", "Action=DeleteTags&ResourceId.1=sg-1&Tag.1.Key=aws%3Acloudformation%3Astack-id");
        assert!(refuse_system_tag_keys("ec2:DeleteTags", &ec2).is_some());
        let ec2_ok = request("POST", "/", "Action=CreateTags&ResourceId.1=sg-1&Tag.1.Key=team&Tag.1.Value=aws%3Ax");
        assert!(refuse_system_tag_keys("ec2:CreateTags", &ec2_ok).is_none(), "a value may start with aws:");
    }

    #[test]
    fn reads_instance_filters() {
        let form = "Action=DescribeIamInstanceProfileAssociations&Filter.1.Name=instance-id&Filter.1.Value.1=i-1&Filter.1.Value.2=i-2";
        assert_eq!(filtered_instances(form), Some(vec!["i-1".to_string(), "i-2".to_string()]));
        assert_eq!(filtered_instances("Action=DescribeIamInstanceProfileAssociations"), None);
    }
}
