//! The calls a run made, when each started and ended and which AWS identifiers each named, and
//! from that the call graph: which call had to wait for which, and so the longest chain of calls
//! that no provider could run any other way than one after the other.
//!
//! A call B depends on an earlier call A (A ended before B started) when:
//! * B names an identifier A's answer revealed (an id or ARN that was not in A's request): B could
//!   not have been sent before A's answer (CreateSecurityGroup -> CreateMountTarget with its id);
//! * A created an object by name and B names it (CreateRole -> AttachRolePolicy);
//! * A changed an object and B reads or removes it, or removes what A's object belongs to: a wait,
//!   a read-back, or a delete that AWS refuses while A's object exists (DeleteMountTarget ->
//!   DescribeMountTargets -> DeleteFileSystem, the mount target linked to its file system by an
//!   answer that named both).
//!
//! Nothing else orders two calls: not being in the same provider process, not the CLI's steps, and
//! not an answer that merely confirms what the request named. The chain is therefore a lower bound
//! on what a provider must wait for, computed from what the run did rather than written down.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::faults::is_mutating;
use super::wire::percent_decode;

/// One answered call, as the proxy saw it.
#[derive(Clone, Debug)]
pub struct TracedCall {
    /// `svc:Action`.
    pub action: String,
    /// From the start of the trace.
    pub started: Duration,
    pub ended: Duration,
    /// Ids and ARNs in the request (path, query, body).
    pub ids: BTreeSet<String>,
    /// Names the request gives objects (`RoleName`, `InstanceProfileName`, `PolicyName`,
    /// `GroupName`, `CreationToken`).
    pub names: BTreeSet<String>,
    /// Ids and ARNs in the answer that the request did not name.
    pub revealed: BTreeSet<String>,
    /// Ids and ARNs the answer named together with the request's ids (an object and what it
    /// belongs to or uses).
    pub answered: BTreeSet<String>,
}

impl TracedCall {
    /// `request` is the path with query and the body as text; `answer` the answer's body.
    pub fn new(action: &str, started: Duration, ended: Duration, request: &str, answer: &str) -> TracedCall {
        let decoded = percent_decode(&request.replace('+', " "));
        let ids = identifiers(&decoded);
        let answered = identifiers(answer);
        let revealed = answered.difference(&ids).cloned().collect();
        TracedCall { action: action.to_string(), started, ended, ids, names: names(&decoded), revealed, answered }
    }

    fn verb(&self) -> &str {
        self.action.split(':').nth(1).unwrap_or_default()
    }

    fn is_read(&self) -> bool {
        !is_mutating(&self.action)
    }

    fn removes(&self) -> bool {
        ["Delete", "Remove", "Detach", "Disassociate", "Revoke"].iter().any(|v| self.verb().starts_with(v))
    }

    /// Whether this call had to wait for `earlier` (see the module documentation). `first_revealed`
    /// is what `earlier` revealed first of all calls (an id is known from the first answer that
    /// has it, or from the start when the configuration names it).
    fn depends_on(
        &self,
        earlier: &TracedCall,
        first_revealed: &BTreeSet<String>,
        links: &BTreeMap<String, BTreeSet<String>>,
    ) -> bool {
        if earlier.ended > self.started {
            return false;
        }
        if !self.ids.is_disjoint(first_revealed) {
            return true;
        }
        if earlier.verb().starts_with("Create") && !self.names.is_disjoint(&earlier.names) {
            return true;
        }
        if !is_mutating(&earlier.action) || !(self.is_read() || self.removes()) {
            return false;
        }
        let named = |call: &TracedCall| call.ids.iter().chain(&call.names).cloned().collect::<BTreeSet<String>>();
        let earlier_named = named(earlier);
        if !named(self).is_disjoint(&earlier_named) {
            return true;
        }
        // A delete of what the earlier call's object belongs to (or uses).
        self.removes()
            && earlier.removes()
            && self.ids.iter().any(|id| links.get(id).is_some_and(|linked| !linked.is_disjoint(&earlier.ids)))
    }
}

/// The longest chain of calls each of which depended on the one before, first call first. `known`
/// are the ids the configuration names (instances, subnets): no call reveals them.
pub fn longest_dependent_chain<'a>(calls: &'a [TracedCall], known: &BTreeSet<String>) -> Vec<&'a TracedCall> {
    // An answer naming two ids links them: a mount target and its file system, a mount target
    // and its security group.
    let mut links: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for call in calls {
        for id in &call.answered {
            links.entry(id.clone()).or_default().extend(call.answered.iter().filter(|other| *other != id).cloned());
        }
    }
    let mut by_end: Vec<usize> = (0..calls.len()).collect();
    by_end.sort_by_key(|&i| calls[i].ended);
    let mut seen: BTreeSet<&String> = known.iter().collect();
    let mut first_revealed: Vec<BTreeSet<String>> = vec![BTreeSet::new(); calls.len()];
    for &i in &by_end {
        for id in &calls[i].revealed {
            if seen.insert(id) {
                first_revealed[i].insert(id.clone());
            }
        }
    }
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| calls[i].started);
    let mut depth: Vec<usize> = vec![1; calls.len()];
    let mut before: Vec<Option<usize>> = vec![None; calls.len()];
    for (position, &b) in order.iter().enumerate() {
        for &a in &order[..position] {
            if depth[a] + 1 > depth[b] && calls[b].depends_on(&calls[a], &first_revealed[a], &links) {
                depth[b] = depth[a] + 1;
                before[b] = Some(a);
            }
        }
    }
    let Some(mut last) = (0..calls.len()).max_by_key(|&i| depth[i]) else { return Vec::new() };
    let mut chain = vec![&calls[last]];
    while let Some(previous) = before[last] {
        chain.push(&calls[previous]);
        last = previous;
    }
    chain.reverse();
    chain
}

/// The longest run of calls that followed each other without overlapping, first call first: how
/// many calls' worth of latency the run waited for, one after the other.
pub fn longest_run_in_a_row(calls: &[TracedCall]) -> Vec<&TracedCall> {
    let mut order: Vec<&TracedCall> = calls.iter().collect();
    order.sort_by_key(|c| c.ended);
    let mut depth: Vec<usize> = Vec::with_capacity(order.len());
    let mut before: Vec<Option<usize>> = Vec::with_capacity(order.len());
    for (i, call) in order.iter().enumerate() {
        let best = (0..i).filter(|&j| order[j].ended <= call.started).max_by_key(|&j| depth[j]);
        depth.push(best.map_or(1, |j| depth[j] + 1));
        before.push(best);
    }
    let Some(mut last) = (0..order.len()).max_by_key(|&i| depth[i]) else { return Vec::new() };
    let mut run = vec![order[last]];
    while let Some(previous) = before[last] {
        run.push(order[previous]);
        last = previous;
    }
    run.reverse();
    run
}

/// The ids (`fs-…`, `fsmt-…`, `fsap-…`, `sg-…`, `subnet-…`, `vpc-…`, `i-…`, `eni-…`,
/// `iip-assoc-…`) and ARNs in `text`.
fn identifiers(text: &str) -> BTreeSet<String> {
    const PREFIXES: &[&str] = &["fs", "fsmt", "fsap", "sg", "subnet", "vpc", "i", "eni", "iip-assoc"];
    // `=` and `+` end a token too: they join a parameter and its value in forms and queries (an ARN
    // may hold them, but none that this provider uses does).
    let is_id = |token: &str| {
        token.rsplit_once('-').is_some_and(|(prefix, hex)| {
            PREFIXES.contains(&prefix) && (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit())
        })
    };
    let mut found = BTreeSet::new();
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || ":/_.@-".contains(c))) {
        let token = token.trim_end_matches('.');
        if token.starts_with("arn:aws:") {
            found.insert(token.to_string());
        } else {
            // A path: /2015-02-01/mount-targets/fsmt-….
            found.extend(token.split('/').filter(|piece| is_id(piece)).map(str::to_string));
        }
    }
    found
}

/// The values of the request parameters that name an object.
fn names(request: &str) -> BTreeSet<String> {
    const KEYS: &[&str] = &["RoleName", "InstanceProfileName", "PolicyName", "GroupName", "IamInstanceProfile.Name"];
    let mut found = BTreeSet::new();
    for pair in request.split(['&', '?', '\n']) {
        if let Some((key, value)) = pair.split_once('=') {
            if KEYS.contains(&key) && !value.is_empty() {
                found.insert(value.to_string());
            }
        }
    }
    // EFS takes JSON: "CreationToken":"…".
    if let Some(rest) = request.split("\"CreationToken\":").nth(1) {
        if let Some(token) = rest.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()) {
            found.insert(token.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(action: &str, from_ms: u64, to_ms: u64, request: &str, answer: &str) -> TracedCall {
        TracedCall::new(action, Duration::from_millis(from_ms), Duration::from_millis(to_ms), request, answer)
    }

    #[test]
    fn an_id_from_an_answer_orders_the_call_that_uses_it() {
        let calls = [
            call("ec2:DescribeSubnets", 0, 10, "Action=DescribeSubnets&SubnetId.1=subnet-0123456789abcdef0", "<vpcId>vpc-0123456789abcdef0</vpcId><subnetId>subnet-0123456789abcdef0</subnetId>"),
            call("ec2:CreateSecurityGroup", 10, 20, "Action=CreateSecurityGroup&GroupName=nfs&VpcId=vpc-0123456789abcdef0", "<groupId>sg-0123456789abcdef0</groupId>"),
            // Started before the group existed: independent of it.
            call("efs:CreateFileSystem", 0, 10, "/2015-02-01/file-systems {\"CreationToken\":\"t\"}", "{\"FileSystemId\":\"fs-0123abcd\"}"),
            call("efs:CreateMountTarget", 20, 30, "/2015-02-01/mount-targets {\"FileSystemId\":\"fs-0123abcd\",\"SecurityGroups\":[\"sg-0123456789abcdef0\"]}", "{\"MountTargetId\":\"fsmt-0123abcd\"}"),
        ];
        let chain: Vec<&str> =
            longest_dependent_chain(&calls, &BTreeSet::new()).iter().map(|c| c.action.as_str()).collect();
        assert_eq!(chain, ["ec2:DescribeSubnets", "ec2:CreateSecurityGroup", "efs:CreateMountTarget"]);
        assert_eq!(longest_run_in_a_row(&calls).len(), 3);
    }

    #[test]
    fn calls_in_order_but_independent_are_not_a_chain() {
        // One after the other, as a provider without concurrency sends them, but neither needs the other.
        let calls = [
            call(
                "efs:PutLifecycleConfiguration",
                0,
                10,
                "/2015-02-01/file-systems/fs-0123abcd/lifecycle-configuration",
                "{}",
            ),
            call("efs:PutFileSystemPolicy", 10, 20, "/2015-02-01/file-systems/fs-0123abcd/policy", "{}"),
        ];
        assert_eq!(longest_dependent_chain(&calls, &BTreeSet::new()).len(), 1);
        assert_eq!(longest_run_in_a_row(&calls).len(), 2);
    }

    #[test]
    fn a_name_made_by_a_create_and_a_delete_of_what_an_object_belongs_to() {
        let calls = [
            call(
                "iam:CreateRole",
                0,
                10,
                "Action=CreateRole&RoleName=nodes",
                "<Arn>arn:aws:iam::123456789012:role/nodes</Arn>",
            ),
            call(
                "iam:AttachRolePolicy",
                10,
                20,
                "Action=AttachRolePolicy&RoleName=nodes&PolicyArn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FX",
                "",
            ),
            call(
                "efs:DescribeMountTargets",
                20,
                30,
                "/2015-02-01/mount-targets?FileSystemId=fs-0123abcd",
                "{\"MountTargetId\":\"fsmt-0123abcd\",\"FileSystemId\":\"fs-0123abcd\"}",
            ),
            call("efs:DeleteMountTarget", 30, 40, "/2015-02-01/mount-targets/fsmt-0123abcd", ""),
            call("efs:DeleteFileSystem", 40, 50, "/2015-02-01/file-systems/fs-0123abcd", ""),
        ];
        assert!(calls[1].depends_on(&calls[0], &calls[0].revealed, &BTreeMap::new()));
        let chain: Vec<&str> =
            longest_dependent_chain(&calls, &BTreeSet::new()).iter().map(|c| c.action.as_str()).collect();
        assert_eq!(chain, ["efs:DescribeMountTargets", "efs:DeleteMountTarget", "efs:DeleteFileSystem"]);
    }
}
