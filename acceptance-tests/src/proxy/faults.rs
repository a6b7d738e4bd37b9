//! The fault rules: what the proxy does to a matching call (see [`Fault`]), the per-object
//! `creating`/`deleting` holds on EFS answers, and the crash trigger that SIGKILLs the provider.

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::http::{Request, Response};
use super::wire::{
    delete_conflict_response, dependency_violation_response, efs_object_id, file_system_in_use_response,
    profile_not_propagated_response, replace_refused_response, server_error_response, throttle_response,
    DESCRIBE_LISTS,
};
use super::Shared;

/// What the proxy does to a matching call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Throttled, without reaching moto, as each service throttles: `Throttling` (HTTP 400) for IAM
    /// and STS, `RequestLimitExceeded` (HTTP 503) for EC2, `ThrottlingException` (HTTP 429) on
    /// EFS's REST-JSON protocol.
    Throttle,
    /// An HTTP 500 or 503 answer in the service's error format, without reaching moto.
    ServerError(u16),
    /// The connection is reset before the request reaches moto.
    Reset,
    /// The request reaches moto and is carried out, then the connection is reset: the answer is
    /// lost, and the SDK's retry meets what the first attempt did.
    ResetAfterForward,
    /// The answer is held back this long (the call is carried out).
    Delay(Duration),
    /// The request is read and never answered, and does not reach moto: the connection stays open
    /// until the caller gives up on it, as with a peer that hangs.
    BlackHole,
    /// `ec2:AssociateIamInstanceProfile` (or `ec2:ReplaceIamInstanceProfileAssociation`) answers
    /// `InvalidParameterValue` "Invalid IAM Instance Profile ARN", as EC2 does until a new instance
    /// profile has propagated from IAM.
    ProfileNotPropagated,
    /// `efs:DeleteFileSystem` answers `FileSystemInUse` (HTTP 409), as EFS does while mount
    /// targets are still being deleted.
    FileSystemInUse,
    /// On a create (`efs:CreateFileSystem`, `efs:CreateMountTarget`, `efs:CreateAccessPoint`): the
    /// new object shows `LifeCycleState: creating` in its create answer and in its first `times`
    /// appearances in Describe answers. On `ec2:ModifyInstanceMetadataOptions`: the instance's
    /// metadata options show `state: pending` in its next `times` DescribeInstances answers. On
    /// `ec2:StartInstances`: each instance shows `pending` in its next `times` DescribeInstances
    /// answers, and association calls on it answer `IncorrectInstanceState` meanwhile. Not
    /// counted down per call but per object.
    StayCreating,
    /// On a delete (`efs:DeleteFileSystem`, `efs:DeleteMountTarget`, `efs:DeleteAccessPoint`): the
    /// deleted object is still described, `deleting`, to the next `times` Describe calls that ask
    /// for it by id. On `ec2:DisassociateIamInstanceProfile`: the association is still listed,
    /// `disassociating`, in the next `times` DescribeIamInstanceProfileAssociations answers that
    /// cover its instance, and AssociateIamInstanceProfile on that instance answers `IncorrectState`
    /// meanwhile, as EC2 does. On `ec2:StopInstances` (`ec2:TerminateInstances`): each instance
    /// shows `stopping` (`shutting-down`) in its next `times` DescribeInstances answers, and
    /// association calls on it answer `IncorrectInstanceState` meanwhile. Not counted down per call
    /// but per object.
    StayDeleting,
    /// On a create, the object is not yet visible to the next `times` calls that name it, as with
    /// AWS's eventual consistency: after `iam:CreateRole` or `iam:CreateInstanceProfile`, GetRole,
    /// GetInstanceProfile and AddRoleToInstanceProfile naming it answer `NoSuchEntity`; after
    /// `efs:CreateAccessPoint`, DescribeAccessPoints by its id answers `AccessPointNotFound`; after
    /// `ec2:AssociateIamInstanceProfile`, the new association is left out of the next `times`
    /// DescribeIamInstanceProfileAssociations answers that would list it; after
    /// `ec2:CreateSecurityGroup`, AuthorizeSecurityGroupIngress on the new group answers
    /// `InvalidGroup.NotFound`. Per object.
    NotYetVisible,
    /// `iam:DeleteRole`, `iam:DeletePolicy` or `iam:DeleteInstanceProfile` answers `DeleteConflict`
    /// (HTTP 409) without reaching moto, as IAM does while a detach or removal just made has not
    /// propagated yet.
    DeleteConflict,
    /// `ec2:DeleteSecurityGroup` answers `DependencyViolation` (HTTP 400) without reaching moto,
    /// as EC2 does while the network interfaces of just-deleted mount targets still use the group.
    DependencyViolation,
    /// `ec2:ReplaceIamInstanceProfileAssociation` answers `IncorrectInstanceState` without
    /// reaching moto, as EC2 does in the reading of its documentation where a profile is replaced
    /// only on a `running` instance (the test stops the instance beforehand).
    ReplaceRefusedUnlessRunning,
}

/// A fault for the next `times` calls of `action` (`svc:Action`; `*` for every call, `svc:*` for
/// every call of a service). For [`Fault::StayCreating`] and [`Fault::StayDeleting`], `times` is
/// the number of polls each object created or deleted by `action` stays in that state, for every
/// such call; these holds apply alongside the other faults.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub action: String,
    pub fault: Fault,
    pub times: u32,
}

impl FaultRule {
    pub fn new(action: &str, fault: Fault, times: u32) -> FaultRule {
        FaultRule { action: action.to_string(), fault, times }
    }

    pub(super) fn matches(&self, action: &str) -> bool {
        self.action == "*"
            || self.action == action
            || self.action.strip_suffix(":*").is_some_and(|svc| action.split(':').next() == Some(svc))
    }
}

/// True for calls that change something: every action but `Describe*`, `Get*` and `List*`.
pub fn is_mutating(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, name)| name);
    !["Describe", "Get", "List"].iter().any(|prefix| name.starts_with(prefix))
}

#[derive(Default)]
pub(super) struct State {
    pub(super) rules: Vec<FaultRule>,
    pub(super) latency: Duration,
    pub(super) calls: BTreeMap<String, u32>,
    pub(super) injected: BTreeMap<String, u32>,
    /// EFS objects (file system or mount target id) still to show `creating`, and for how many polls.
    pub(super) creating: BTreeMap<String, u32>,
    /// EFS objects deleted but still to be described as `deleting`, with their last description
    /// (a mount target is also listed so by file system meanwhile).
    pub(super) deleting: BTreeMap<String, (u32, Value)>,
    /// Objects made but not yet visible, and to how many more reads: `role/NAME`,
    /// `instance-profile/NAME`, `access-point/ID`, `association/ID`.
    pub(super) invisible: BTreeMap<String, u32>,
    /// Associations disassociated but still listed `disassociating`, by instance id: polls left and
    /// the association's XML (an `<item>` of DescribeIamInstanceProfileAssociations).
    pub(super) disassociating: BTreeMap<String, (u32, String)>,
    /// Instances whose metadata options show `pending`, and for how many more DescribeInstances.
    pub(super) metadata_pending: BTreeMap<String, u32>,
    /// Instances on their way to another state after a StopInstances, StartInstances or
    /// TerminateInstances (moto gets there at once): the state they show (`stopping`, `pending`,
    /// `shutting-down`) and for how many more DescribeInstances answers.
    pub(super) instances_in_transition: BTreeMap<String, (u32, &'static str)>,
    /// The instance of each association the proxy has seen (made, replaced or listed), by id.
    pub(super) association_instances: BTreeMap<String, String>,
    /// The last description seen of each EFS file system and mount target, by id.
    pub(super) described: BTreeMap<String, Value>,
    /// CreateAccessPoint's answers by ClientToken: EFS answers a repeated token with the access
    /// point it made (the SDK repeats the token on retries), moto makes another one.
    pub(super) access_points_by_token: BTreeMap<String, Response>,
    pub(super) crash: Option<Crash>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Crash {
    pub(super) after: u32,
    /// Kill the CLI that started the provider, then the provider.
    pub(super) cli: bool,
    pub(super) forwarded: u32,
    /// Set once the k-th call went through: `(action, pid killed)`.
    pub(super) done: Option<(String, Option<u32>)>,
    /// Set once the kill is over and `done` names the pid: a killed CLI returns to the test before
    /// the proxy has killed its provider.
    pub(super) settled: bool,
}

/// The per-object holds a forwarded call starts (polls each object stays so), see [`Fault`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Holds {
    pub(super) creating: Option<u32>,
    pub(super) deleting: Option<u32>,
    pub(super) invisible: Option<u32>,
}

/// What to do with one request, decided under the lock.
pub(super) enum Plan {
    Answer(Response),
    Reset,
    BlackHole,
    Forward { delay: Duration, lose_answer: bool, holds: Holds },
}

/// Counts the call and picks what happens to it under the lock: the first rule with calls left of
/// those that act on the call itself, plus any `creating`/`deleting` hold on what it makes or removes.
pub(super) fn decide(shared: &Shared, action: &str, service: &str, request: &Request) -> (Plan, Duration) {
    let mut state = shared.state();
    *state.calls.entry(action.to_string()).or_default() += 1;
    let latency = state.latency;
    if state.crash.as_ref().is_some_and(|c| c.done.is_some()) {
        // The provider is being killed: nothing more reaches moto.
        return (Plan::Reset, Duration::ZERO);
    }
    let hold = |fault: Fault| {
        state.rules.iter().find(|r| r.fault == fault && r.matches(action)).map(|r| r.times).filter(|t| *t > 0)
    };
    let holds = Holds {
        creating: hold(Fault::StayCreating),
        deleting: hold(Fault::StayDeleting),
        invisible: hold(Fault::NotYetVisible),
    };
    let forward = |delay, lose_answer| Plan::Forward { delay, lose_answer, holds };
    let per_object = |f: &Fault| matches!(f, Fault::StayCreating | Fault::StayDeleting | Fault::NotYetVisible);
    let Some(index) = state.rules.iter().position(|r| r.times > 0 && !per_object(&r.fault) && r.matches(action)) else {
        return (forward(Duration::ZERO, false), latency);
    };
    state.rules[index].times -= 1;
    *state.injected.entry(action.to_string()).or_default() += 1;
    let plan = match state.rules[index].fault.clone() {
        Fault::Throttle => Plan::Answer(throttle_response(service)),
        Fault::ServerError(status) => Plan::Answer(server_error_response(service, status)),
        Fault::Reset => Plan::Reset,
        Fault::BlackHole => Plan::BlackHole,
        Fault::DependencyViolation => Plan::Answer(dependency_violation_response(request)),
        Fault::ResetAfterForward => forward(Duration::ZERO, true),
        Fault::Delay(delay) => forward(delay, false),
        Fault::ProfileNotPropagated => Plan::Answer(profile_not_propagated_response(request)),
        Fault::FileSystemInUse => Plan::Answer(file_system_in_use_response(request)),
        Fault::DeleteConflict => Plan::Answer(delete_conflict_response(action)),
        Fault::ReplaceRefusedUnlessRunning => Plan::Answer(replace_refused_response(request)),
        Fault::StayCreating | Fault::StayDeleting | Fault::NotYetVisible => {
            unreachable!("per-object holds are not call faults")
        }
    };
    (plan, latency)
}

/// For a Describe by id of an object held in `deleting`: the answer showing it so.
pub(super) fn deleting_answer(shared: &Shared, action: &str, request: &Request) -> Option<Response> {
    let (_, list, _) = DESCRIBE_LISTS.iter().find(|(a, _, _)| *a == action)?;
    let id = efs_object_id(action, request)?;
    let mut state = shared.state();
    let (remaining, description) = state.deleting.get_mut(&id)?;
    if *remaining == 0 {
        return None;
    }
    *remaining -= 1;
    let mut object = description.clone();
    object["LifeCycleState"] = Value::from("deleting");
    *state.injected.entry(action.to_string()).or_default() += 1;
    let body = serde_json::json!({ *list: [object] }).to_string();
    Some(Response {
        status: 200,
        headers: vec![("Content-Type".to_string(), "application/json".to_string())],
        body: body.into_bytes(),
    })
}

/// Remembers EFS descriptions, starts `creating`/`deleting` holds, and shows `creating` where due.
pub(super) fn rewrite_efs_answer(
    shared: &Shared,
    action: &str,
    request: &Request,
    response: &mut Response,
    holds: Holds,
) {
    let mut state = shared.state();
    if let Some(polls) = holds.deleting {
        if let Some(id) = efs_object_id(action, request) {
            let description = state.described.get(&id).cloned().unwrap_or_else(|| {
                let key = match action {
                    "efs:DeleteFileSystem" => "FileSystemId",
                    "efs:DeleteAccessPoint" => "AccessPointId",
                    _ => "MountTargetId",
                };
                serde_json::json!({ key: id })
            });
            state.deleting.insert(id, (polls, description));
        }
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else { return };
    let mut changed = false;
    match action {
        "efs:CreateFileSystem" | "efs:CreateMountTarget" | "efs:CreateAccessPoint" => {
            let key = match action {
                "efs:CreateFileSystem" => "FileSystemId",
                "efs:CreateAccessPoint" => "AccessPointId",
                _ => "MountTargetId",
            };
            if let Some(id) = body[key].as_str().map(str::to_string) {
                state.described.insert(id.clone(), body.clone());
                if let Some(polls) = holds.invisible.filter(|_| action == "efs:CreateAccessPoint") {
                    state.invisible.insert(format!("access-point/{id}"), polls);
                }
                if let Some(polls) = holds.creating {
                    state.creating.insert(id, polls);
                    body["LifeCycleState"] = Value::from("creating");
                    changed = true;
                }
            }
        }
        _ => {
            if let Some((_, list, key)) = DESCRIBE_LISTS.iter().find(|(a, _, _)| *a == action) {
                let mut shown = 0;
                for object in body[*list].as_array_mut().into_iter().flatten() {
                    let Some(id) = object[*key].as_str().map(str::to_string) else { continue };
                    state.described.insert(id.clone(), object.clone());
                    if let Some(remaining) = state.creating.get_mut(&id).filter(|r| **r > 0) {
                        *remaining -= 1;
                        object["LifeCycleState"] = Value::from("creating");
                        shown += 1;
                        changed = true;
                    }
                }
                // A mount target on its way out is still listed by file system, `deleting` (moto
                // has forgotten it); only the describes by id count its hold down.
                let by_file_system = request.query("FileSystemId").filter(|_| action == "efs:DescribeMountTargets");
                if let (Some(fs_id), Some(listed)) = (by_file_system, body[*list].as_array_mut()) {
                    for (id, (remaining, description)) in &state.deleting {
                        let listed_already = listed.iter().any(|o| o[*key].as_str() == Some(id.as_str()));
                        // Only mount targets: an access point of the file system may be held too.
                        let mount_target = id.starts_with("fsmt-");
                        if mount_target
                            && *remaining > 0
                            && description["FileSystemId"] == fs_id.as_str()
                            && !listed_already
                        {
                            let mut object = description.clone();
                            object["LifeCycleState"] = Value::from("deleting");
                            listed.push(object);
                            shown += 1;
                            changed = true;
                        }
                    }
                }
                if shown > 0 {
                    *state.injected.entry(action.to_string()).or_default() += shown;
                }
            }
        }
    }
    if changed {
        response.body = body.to_string().into_bytes();
    }
}

/// Counts a forwarded mutating call for the crash trigger; on the k-th, kills the caller and
/// returns true.
pub(super) fn crash_due(shared: &Shared, action: &str, stream: &TcpStream) -> bool {
    {
        let mut state = shared.state();
        let Some(crash) = state.crash.as_mut() else { return false };
        if crash.done.is_some() {
            return true;
        }
        crash.forwarded += 1;
        if crash.forwarded < crash.after {
            return false;
        }
        crash.done = Some((action.to_string(), None));
    }
    let cli = shared.state().crash.as_ref().is_some_and(|c| c.cli);
    let provider =
        stream.peer_addr().ok().zip(stream.local_addr().ok()).and_then(|(peer, local)| peer_pid(peer, local));
    let parent = provider.filter(|_| cli).and_then(parent_pid);
    for pid in [parent, provider].into_iter().flatten() {
        let _ =
            Command::new("kill").args(["-KILL", &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
    let killed = if cli { parent } else { provider };
    if let Some(crash) = shared.state().crash.as_mut() {
        crash.done = Some((action.to_string(), killed));
        crash.settled = true;
    }
    true
}

/// The process that started `pid` (`PPid` in `/proc/<pid>/status`).
fn parent_pid(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| line.strip_prefix("PPid:")).and_then(|ppid| ppid.trim().parse().ok())
}

/// `127.0.0.1:port` as `/proc/net/tcp` writes it: `0100007F:1F90`.
fn proc_net_address(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        std::net::IpAddr::V6(_) => 0,
    };
    format!("{ip:08X}:{:04X}", addr.port())
}

/// The provider process at the other end of a connection to the proxy: the socket's inode from
/// `/proc/net/tcp`, then the process holding it among `/proc/<pid>/fd`. Only a process whose
/// executable is a `terraform-provider-efs*` is returned.
fn peer_pid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let (want_local, want_remote) = (proc_net_address(peer), proc_net_address(local));
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 9 && fields[1] == want_local && fields[2] == want_remote).then(|| fields[9].to_string())
    })?;
    let target = format!("socket:[{inode}]");
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target));
        if holds {
            let exe = fs::read_link(entry.path().join("exe")).ok()?;
            let is_provider =
                exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("terraform-provider-efs"));
            return is_provider.then_some(pid);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn tells_mutating_calls_from_reads() {
        assert!(is_mutating("ec2:AssociateIamInstanceProfile"));
        assert!(is_mutating("efs:CreateFileSystem"));
        assert!(!is_mutating("sts:GetCallerIdentity"));
        assert!(!is_mutating("iam:ListAttachedRolePolicies"));
        assert!(!is_mutating("efs:DescribeMountTargets"));
    }

    #[test]
    fn matches_rules_by_action_service_or_everything() {
        let rule = |action: &str| FaultRule::new(action, Fault::Throttle, 1);
        assert!(rule("iam:CreateRole").matches("iam:CreateRole"));
        assert!(!rule("iam:CreateRole").matches("iam:CreateRoleX"));
        assert!(rule("efs:*").matches("efs:CreateFileSystem"));
        assert!(!rule("efs:*").matches("ec2:CreateSecurityGroup"));
        assert!(rule("*").matches("sts:GetCallerIdentity"));
    }

    #[test]
    fn writes_loopback_addresses_as_proc_net_tcp_does() {
        assert_eq!(proc_net_address(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))), "0100007F:1F90");
    }
}
