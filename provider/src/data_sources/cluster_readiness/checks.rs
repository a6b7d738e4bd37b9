//! The checks: pure functions of the inputs and what was read, each finding a cause of a failure
//! the user would otherwise meet only after `apply`, once pods start. A check names its subject
//! (the instance, subnet, security group, VPC, role or file system to change) and a concrete fix.
//!
//! Checks that pass for every node are reported once, for all of them; problems are reported per
//! subject.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use super::facts::{profile_name, Facts, Inputs, MountTarget};
use super::iam_policy::missing_actions;
use crate::aws::ec2::instances::NodeInstance;
use crate::aws::ec2::network::{SecurityGroupRule, NFS_PORT};
use crate::aws::policy::{csi_driver_policy, policy_actions, policy_enforces_tls, PolicyOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warning,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Error => "error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub subject: String,
    pub message: String,
    /// What to change; empty when the check passed.
    pub fix: String,
}

pub const FILE_SYSTEM: &str = "file_system";
pub const ENCRYPTION: &str = "encryption";
pub const INSTANCE_STATE: &str = "instance_state";
pub const MOUNT_TARGETS: &str = "mount_target_per_az";
pub const SAME_VPC: &str = "same_vpc";
pub const NFS_INGRESS: &str = "nfs_ingress";
pub const NFS_EGRESS: &str = "nfs_egress";
pub const VPC_DNS: &str = "vpc_dns";
pub const INSTANCE_PROFILE: &str = "instance_profile";
pub const IMDS: &str = "imds";
pub const TLS: &str = "tls";
pub const ACCESS_POINT: &str = "access_point";

fn ok(name: &'static str, subject: impl Into<String>, message: impl Into<String>) -> Check {
    Check { name, status: Status::Ok, subject: subject.into(), message: message.into(), fix: String::new() }
}

fn problem(
    name: &'static str,
    status: Status,
    subject: impl Into<String>,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check { name, status, subject: subject.into(), message: message.into(), fix: fix.into() }
}

/// Up to five ids, then how many more: `i-1, i-2, i-3, i-4, i-5 and 95 more`.
pub fn short_list<S: AsRef<str>>(items: &[S]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<&str> = items.iter().take(SHOWN).map(AsRef::as_ref).collect();
    match items.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn nodes_word(n: usize) -> String {
    if n == 1 {
        "1 node".to_string()
    } else {
        format!("{n} nodes")
    }
}

pub fn evaluate(inputs: &Inputs, facts: &Facts) -> Vec<Check> {
    let mut checks = Vec::new();
    check_file_system(inputs, facts, &mut checks);
    check_instances(inputs, facts, &mut checks);
    check_mount_targets(inputs, facts, &mut checks);
    check_same_vpc(inputs, facts, &mut checks);
    check_network(facts, &mut checks);
    check_vpc_dns(facts, &mut checks);
    check_instance_profiles(inputs, facts, &mut checks);
    check_imds(inputs, facts, &mut checks);
    check_tls(inputs, facts, &mut checks);
    check_access_point(inputs, facts, &mut checks);
    checks
}

fn check_file_system(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    let id = &inputs.file_system_id;
    let Some(fs) = &facts.file_system else {
        checks.push(problem(
            FILE_SYSTEM,
            Status::Error,
            id,
            format!("EFS file system {id} does not exist in this region and account: nothing can mount it."),
            "Check file_system_id and the provider's region; pass efs_prometheus_volume.<name>.file_system_id, or list \
             them with: aws efs describe-file-systems --query 'FileSystems[].FileSystemId'",
        ));
        return;
    };
    checks.push(match fs.state.as_str() {
        "available" => ok(FILE_SYSTEM, id, format!("File system {id} is available.")),
        "creating" | "updating" => problem(
            FILE_SYSTEM,
            Status::Warning,
            id,
            format!("File system {id} is {}; mounts fail until it is available.", fs.state),
            format!("Wait until it is available: aws efs describe-file-systems --file-system-id {id}"),
        ),
        state => problem(
            FILE_SYSTEM,
            Status::Error,
            id,
            format!("File system {id} is {state}: it cannot be mounted."),
            "Use an available file system: efs_prometheus_volume creates one.".to_string(),
        ),
    });
    checks.push(if fs.encrypted {
        ok(ENCRYPTION, id, format!("File system {id} is encrypted at rest."))
    } else {
        problem(
            ENCRYPTION,
            Status::Warning,
            id,
            format!("File system {id} is not encrypted at rest; the Prometheus data is stored in clear."),
            "Encryption at rest cannot be turned on later: create a new file system with encrypted = true (the default of \
             efs_prometheus_volume) and copy the data over (for example with AWS DataSync).",
        )
    });
}

fn check_instances(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    let found: BTreeMap<&str, &NodeInstance> = facts.instances.iter().map(|i| (i.instance_id.as_str(), i)).collect();
    let before = checks.len();
    for id in &inputs.instance_ids {
        match found.get(id.as_str()).map(|i| i.state.as_str()) {
            None => checks.push(problem(
                INSTANCE_STATE,
                Status::Error,
                id,
                format!("Instance {id} does not exist in this region and account (or was terminated long ago)."),
                format!("Remove {id} from instance_ids, or check the provider's region."),
            )),
            Some("running") => {}
            Some("pending") => checks.push(problem(
                INSTANCE_STATE,
                Status::Warning,
                id,
                format!("Instance {id} is pending: its pods cannot mount until it is running."),
                format!("Wait until it runs: aws ec2 wait instance-running --instance-ids {id}"),
            )),
            Some(state) => checks.push(problem(
                INSTANCE_STATE,
                Status::Error,
                id,
                format!("Instance {id} is {state}, not running: it cannot run the CSI driver or Prometheus."),
                format!("Start it (aws ec2 start-instances --instance-ids {id}) or remove it from instance_ids."),
            )),
        }
    }
    if checks.len() == before {
        let n = inputs.instance_ids.len();
        checks.push(ok(INSTANCE_STATE, nodes_word(n), format!("All {} are running.", nodes_word(n))));
    }
}

/// The nodes that exist, by availability zone.
fn nodes_by_zone(facts: &Facts) -> BTreeMap<&str, Vec<&NodeInstance>> {
    let mut zones: BTreeMap<&str, Vec<&NodeInstance>> = BTreeMap::new();
    for instance in &facts.instances {
        if let Some(zone) = &instance.availability_zone {
            zones.entry(zone).or_default().push(instance);
        }
    }
    zones
}

fn ids(nodes: &[&NodeInstance]) -> Vec<String> {
    nodes.iter().map(|n| n.instance_id.clone()).collect()
}

fn subnets(nodes: &[&NodeInstance]) -> Vec<String> {
    let set: BTreeSet<String> = nodes.iter().filter_map(|n| n.subnet_id.clone()).collect();
    set.into_iter().collect()
}

fn mount_target_in<'a>(facts: &'a Facts, zone: &str) -> Option<&'a MountTarget> {
    facts.mount_targets.iter().find(|mt| mt.availability_zone == zone)
}

fn check_mount_targets(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    if facts.file_system.is_none() {
        return;
    }
    let fs = &inputs.file_system_id;
    for (zone, nodes) in nodes_by_zone(facts) {
        let node_subnets = subnets(&nodes);
        let subject = format!("{} ({zone})", node_subnets.join(", "));
        match mount_target_in(facts, zone) {
            None => checks.push(problem(
                MOUNT_TARGETS,
                Status::Error,
                subject,
                format!(
                    "No mount target of {fs} in {zone}, where {} run ({}): the file system's DNS name resolves to the \
                     mount target of the node's own zone, so the CSI driver's mount times out on these nodes.",
                    short_list(&ids(&nodes)),
                    node_subnets.join(", "),
                ),
                format!(
                    "Add {} to subnet_ids of efs_prometheus_volume, or: aws efs create-mount-target --file-system-id {fs} \
                     --subnet-id {} --security-groups <the NFS security group>",
                    node_subnets.first().map(String::as_str).unwrap_or("a subnet of the zone"),
                    node_subnets.first().map(String::as_str).unwrap_or("<subnet>"),
                ),
            )),
            Some(mt) if mt.state == "available" => checks.push(ok(
                MOUNT_TARGETS,
                subject,
                format!(
                    "Mount target {} ({}) in {zone} is available for {}.",
                    mt.id,
                    mt.ip_address.as_deref().unwrap_or("no address"),
                    nodes_word(nodes.len())
                ),
            )),
            Some(mt) => checks.push(problem(
                MOUNT_TARGETS,
                if mt.state == "creating" { Status::Warning } else { Status::Error },
                subject,
                format!(
                    "Mount target {} in {zone} is {}, not available: mounts from {} fail until it is.",
                    mt.id,
                    mt.state,
                    short_list(&ids(&nodes))
                ),
                format!(
                    "Wait for it (aws efs describe-mount-targets --mount-target-id {}), or delete it and create a new one in {}.",
                    mt.id, mt.subnet_id
                ),
            )),
        }
    }
}

fn check_same_vpc(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    let target_vpcs: BTreeSet<&str> = facts.mount_targets.iter().filter_map(|mt| mt.vpc_id.as_deref()).collect();
    let Some(target_vpc) = target_vpcs.iter().next() else {
        return;
    };
    let mut by_vpc: BTreeMap<&str, Vec<&NodeInstance>> = BTreeMap::new();
    for instance in &facts.instances {
        if let Some(vpc) = &instance.vpc_id {
            by_vpc.entry(vpc).or_default().push(instance);
        }
    }
    let fs = &inputs.file_system_id;
    let mut all_same = true;
    for (vpc, nodes) in &by_vpc {
        if target_vpcs.contains(vpc) {
            continue;
        }
        all_same = false;
        checks.push(problem(
            SAME_VPC,
            Status::Error,
            *vpc,
            format!(
                "{} ({}) are in {vpc}, but the mount targets of {fs} are in {target_vpc}: the file system's DNS name \
                 does not resolve in {vpc}, and NFS does not reach another VPC without peering and DNS setup.",
                short_list(&ids(nodes)),
                nodes_word(nodes.len()),
            ),
            format!(
                "A file system has mount targets in one VPC only: create the volume with subnet_ids in {vpc} (the nodes' \
                 subnets), or delete the mount targets of {fs} and create them in subnets of {vpc}."
            ),
        ));
    }
    if all_same && !by_vpc.is_empty() {
        checks.push(ok(
            SAME_VPC,
            *target_vpc,
            format!("The nodes and the mount targets of {fs} are all in {target_vpc}."),
        ));
    }
}

/// Whether a rule lets tcp 2049 through: protocol tcp or all (`-1`), and a port range with 2049.
fn rule_covers_nfs(rule: &SecurityGroupRule) -> bool {
    match rule.protocol.as_str() {
        "-1" | "all" => true,
        "tcp" | "6" => rule.from_port.unwrap_or(0) <= NFS_PORT && NFS_PORT <= rule.to_port.unwrap_or(65535),
        _ => false,
    }
}

/// Parses `a.b.c.d` into a number.
fn ipv4(text: &str) -> Option<u32> {
    text.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

/// Whether `ip` lies in the IPv4 CIDR block.
pub fn cidr_contains(cidr: &str, ip: &str) -> bool {
    let Some((network, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Some(network), Some(ip), Ok(bits)) = (ipv4(network), ipv4(ip), bits.parse::<u32>()) else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    network & mask == ip & mask
}

/// Whether one of `rules` admits (or reaches) a peer that is in `peer_groups` or has address `peer_ip`.
fn rules_allow_nfs(rules: &[SecurityGroupRule], peer_groups: &[String], peer_ip: Option<&str>) -> bool {
    rules.iter().filter(|r| rule_covers_nfs(r)).any(|r| {
        r.security_group_ids.iter().any(|g| peer_groups.contains(g))
            || peer_ip.is_some_and(|ip| r.cidr_blocks.iter().any(|c| cidr_contains(c, ip)))
    })
}

/// Security groups are stateful: a connection allowed out of the node's groups and into the mount
/// target's groups gets its replies through without rules of their own. So the two rules that
/// matter are the mount target's ingress (from the nodes) and the nodes' egress (to the mount
/// target); the nodes' ingress and the mount target's egress do not.
fn check_network(facts: &Facts, checks: &mut Vec<Check>) {
    let rules_of = |groups: &[String], ingress: bool| -> Vec<SecurityGroupRule> {
        groups
            .iter()
            .filter_map(|g| facts.security_groups.get(g))
            .flat_map(|g| if ingress { g.ingress.clone() } else { g.egress.clone() })
            .collect()
    };
    // Egress problems grouped by the nodes' set of groups, which is what the fix changes.
    let mut egress_blocked: BTreeMap<Vec<String>, (Vec<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut egress_fine: BTreeSet<Vec<String>> = BTreeSet::new();
    for (zone, nodes) in nodes_by_zone(facts) {
        let Some(mt) = mount_target_in(facts, zone) else {
            continue;
        };
        let ingress = rules_of(&mt.security_group_ids, true);
        let refused: Vec<&NodeInstance> = nodes
            .iter()
            .copied()
            .filter(|n| !rules_allow_nfs(&ingress, &n.security_group_ids, n.private_ip.as_deref()))
            .collect();
        let mt_groups = mt.security_group_ids.join(", ");
        if refused.is_empty() {
            checks.push(ok(
                NFS_INGRESS,
                mt_groups.clone(),
                format!("Mount target {} in {zone} admits NFS (tcp 2049) from its {}.", mt.id, nodes_word(nodes.len())),
            ));
        } else {
            let node_groups: BTreeSet<&str> =
                refused.iter().flat_map(|n| n.security_group_ids.iter().map(String::as_str)).collect();
            let node_groups: Vec<&str> = node_groups.into_iter().collect();
            let source = node_groups.first().copied().unwrap_or("<the nodes' security group>");
            let target_group =
                mt.security_group_ids.first().map(String::as_str).unwrap_or("<the mount target's group>");
            checks.push(problem(
                NFS_INGRESS,
                Status::Error,
                mt_groups.clone(),
                format!(
                    "Mount target {} ({}, {zone}) does not admit NFS (tcp 2049) from {}: none of its security groups \
                     ({mt_groups}) has an inbound rule for tcp 2049 from the nodes' groups ({}) or addresses. The mount \
                     hangs, then times out.",
                    mt.id,
                    mt.subnet_id,
                    short_list(&ids(&refused)),
                    node_groups.join(", "),
                ),
                format!(
                    "Add {source} to allowed_security_group_ids of efs_prometheus_volume, or: aws ec2 \
                     authorize-security-group-ingress --group-id {target_group} --protocol tcp --port {NFS_PORT} \
                     --source-group {source}"
                ),
            ));
        }
        for node in &nodes {
            let egress = rules_of(&node.security_group_ids, false);
            let key = node.security_group_ids.clone();
            if rules_allow_nfs(&egress, &mt.security_group_ids, mt.ip_address.as_deref()) {
                egress_fine.insert(key);
            } else {
                let entry = egress_blocked.entry(key).or_default();
                entry.0.push(node.instance_id.clone());
                entry.1.extend(mt.security_group_ids.iter().cloned());
            }
        }
    }
    for (groups, (nodes, targets)) in &egress_blocked {
        let group_list = groups.join(", ");
        let first = groups.first().map(String::as_str).unwrap_or("<the nodes' security group>");
        let target = targets.iter().next().map(String::as_str).unwrap_or("<the mount target's group>");
        checks.push(problem(
            NFS_EGRESS,
            Status::Error,
            group_list.clone(),
            format!(
                "{} (security groups {group_list}) have no outbound rule allowing tcp 2049 to the mount targets' groups \
                 ({}) or addresses. Security groups are stateful, so the replies need no rule, but the connection must be \
                 allowed out: the mount times out.",
                short_list(nodes),
                targets.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
            format!(
                "aws ec2 authorize-security-group-egress --group-id {first} --ip-permissions \
                 'IpProtocol=tcp,FromPort={NFS_PORT},ToPort={NFS_PORT},UserIdGroupPairs=[{{GroupId={target}}}]' (or allow \
                 all outbound traffic, as a new security group does)"
            ),
        ));
    }
    for groups in egress_fine.iter().filter(|g| !egress_blocked.contains_key(*g)) {
        let group_list = groups.join(", ");
        checks.push(ok(
            NFS_EGRESS,
            group_list.clone(),
            format!(
                "Security groups {group_list} allow tcp 2049 out to the mount targets (replies return statefully)."
            ),
        ));
    }
}

fn check_vpc_dns(facts: &Facts, checks: &mut Vec<Check>) {
    for (vpc, dns) in &facts.vpc_dns {
        let mut off = Vec::new();
        let mut fixes = Vec::new();
        if !dns.support {
            off.push("DNS resolution (enableDnsSupport)");
            fixes
                .push(format!("aws ec2 modify-vpc-attribute --vpc-id {vpc} --enable-dns-support '{{\"Value\":true}}'"));
        }
        if !dns.hostnames {
            off.push("DNS hostnames (enableDnsHostnames)");
            fixes.push(format!(
                "aws ec2 modify-vpc-attribute --vpc-id {vpc} --enable-dns-hostnames '{{\"Value\":true}}'"
            ));
        }
        checks.push(if off.is_empty() {
            ok(VPC_DNS, vpc, format!("{vpc} has DNS resolution and DNS hostnames enabled."))
        } else {
            problem(
                VPC_DNS,
                Status::Error,
                vpc,
                format!(
                    "{vpc} has {} turned off: the file system's DNS name (fs-....efs.REGION.amazonaws.com) does not \
                     resolve on its nodes, and the mount fails with \"Failed to resolve\".",
                    off.join(" and ")
                ),
                format!("{} (or enable_dns_support / enable_dns_hostnames on the aws_vpc)", fixes.join(" && ")),
            )
        });
    }
}

fn check_instance_profiles(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    let before = checks.len();
    let required = policy_actions(&csi_driver_policy(&PolicyOptions {
        dynamic_provisioning: inputs.dynamic_provisioning,
        ..Default::default()
    }));
    let mut nodes_by_profile: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for instance in &facts.instances {
        match &instance.instance_profile_arn {
            Some(arn) => nodes_by_profile.entry(arn).or_default().push(instance.instance_id.clone()),
            None => checks.push(problem(
                INSTANCE_PROFILE,
                Status::Error,
                &instance.instance_id,
                format!(
                    "Instance {} has no IAM instance profile: the CSI driver's pods on it find no credentials and log \
                     NoCredentialProviders.",
                    instance.instance_id
                ),
                format!(
                    "Add {0} to instance_ids of efs_csi_node_identity, or: aws ec2 associate-iam-instance-profile \
                     --instance-id {0} --iam-instance-profile Name=<profile>",
                    instance.instance_id
                ),
            )),
        }
    }
    let mut nodes_by_role: BTreeMap<&str, (Vec<String>, &str)> = BTreeMap::new();
    for (arn, nodes) in &nodes_by_profile {
        let name = profile_name(arn);
        match facts.profiles.get(*arn) {
            Some(Some(roles)) if !roles.is_empty() => {
                for role in roles {
                    let entry = nodes_by_role.entry(role.as_str()).or_insert_with(|| (Vec::new(), name));
                    entry.0.extend(nodes.iter().cloned());
                }
            }
            Some(Some(_)) => checks.push(problem(
                INSTANCE_PROFILE,
                Status::Error,
                name,
                format!(
                    "Instance profile {name} (on {}) has no role: the nodes get no credentials and the driver logs \
                     NoCredentialProviders.",
                    short_list(nodes)
                ),
                format!("aws iam add-role-to-instance-profile --instance-profile-name {name} --role-name <role> (efs_csi_node_identity creates both)"),
            )),
            _ => checks.push(problem(
                INSTANCE_PROFILE,
                Status::Error,
                name,
                format!("Instance profile {arn} on {} does not exist any more: the nodes get no credentials.", short_list(nodes)),
                format!(
                    "Associate an existing profile (efs_csi_node_identity does): aws ec2 replace-iam-instance-profile-association \
                     --association-id <id> --iam-instance-profile Name=<profile> for {}",
                    short_list(nodes)
                ),
            )),
        }
    }
    for (role, (nodes, profile)) in &nodes_by_role {
        let documents = facts.role_documents.get(*role).map(Vec::as_slice).unwrap_or_default();
        let missing = missing_actions(documents, &required);
        if missing.is_empty() {
            continue;
        }
        let document = csi_driver_policy(&PolicyOptions {
            dynamic_provisioning: inputs.dynamic_provisioning,
            ..Default::default()
        });
        checks.push(problem(
            INSTANCE_PROFILE,
            Status::Error,
            *role,
            format!(
                "Role {role} (instance profile {profile}, on {}) does not allow {}: the driver's calls fail with \
                 AccessDenied, and dynamically provisioned claims stay Pending.",
                short_list(nodes),
                missing.join(", ")
            ),
            format!(
                "Attach the policy of data.efs_csi_driver_iam_policy (efs_csi_node_identity does), or: aws iam put-role-policy \
                 --role-name {role} --policy-name efs-csi-driver --policy-document '{document}'"
            ),
        ));
    }
    if checks.len() == before && !facts.instances.is_empty() {
        let roles: Vec<&str> = nodes_by_role.keys().copied().collect();
        checks.push(ok(
            INSTANCE_PROFILE,
            roles.join(", "),
            format!(
                "All {} have an instance profile whose role ({}) allows the driver's {} actions.",
                nodes_word(facts.instances.len()),
                roles.join(", "),
                required.len()
            ),
        ));
    }
}

/// The one IMDS model: the driver's controller and node pods on the host network (as the rendered
/// `csi_driver_helm_values` put them) reach IMDSv2 with a hop limit of 1, and nothing else on the
/// node does. An error where the driver cannot get credentials; a warning where every pod can.
fn check_imds(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    let before = checks.len();
    // The hop limit the driver's pods need: 1 from the host network, 2 from a pod network.
    let (needed, network) = if inputs.controller_host_network { (1, "host") } else { (2, "pod") };
    let least_privilege = format!(
        "metadata_options {{ http_tokens = \"required\", http_put_response_hop_limit = {needed} }} on \
         efs_csi_node_identity"
    );
    for instance in &facts.instances {
        let id = &instance.instance_id;
        let hop_limit = instance.http_put_response_hop_limit.unwrap_or(1);
        let cli = format!(
            "aws ec2 modify-instance-metadata-options --instance-id {id} --http-endpoint enabled --http-tokens required \
             --http-put-response-hop-limit {needed}"
        );
        if instance.http_endpoint.as_deref() == Some("disabled") {
            checks.push(problem(
                IMDS,
                Status::Error,
                id,
                format!(
                    "Instance {id} has its metadata endpoint (IMDS) disabled: the CSI driver on it gets no instance \
                     credentials and logs NoCredentialProviders."
                ),
                cli,
            ));
        } else if instance.http_tokens.as_deref() == Some("required") && hop_limit < needed {
            checks.push(problem(
                IMDS,
                Status::Error,
                id,
                format!(
                    "Instance {id} requires IMDSv2 with a response hop limit of {hop_limit}, and the driver's controller \
                     is not on the host network (controller_host_network = false): its pods are one hop further, never \
                     get a token, and log NoCredentialProviders."
                ),
                format!(
                    "Run the controller on the host network (controller.hostNetwork: true, as the csi_driver_helm_values \
                     of efs_prometheus_volume do) and set controller_host_network = true; or, handing the node role's \
                     credentials to every pod on the node, add {least_privilege}, or: {cli}"
                ),
            ));
        } else if instance.http_tokens.as_deref() == Some("optional") {
            checks.push(problem(
                IMDS,
                Status::Warning,
                id,
                format!(
                    "Instance {id} still answers IMDSv1, which has no hop limit: every pod on it, not only the CSI \
                     driver, can read the node role's credentials."
                ),
                format!("Add {least_privilege}, or: {cli}"),
            ));
        } else if instance.http_tokens.as_deref() == Some("required") && hop_limit > needed {
            checks.push(problem(
                IMDS,
                Status::Warning,
                id,
                format!(
                    "Instance {id} answers IMDSv2 with a response hop limit of {hop_limit}: every pod on it, not only \
                     the CSI driver (which needs {needed} on the {network} network), can read the node role's \
                     credentials."
                ),
                format!("Add {least_privilege}, or: {cli}"),
            ));
        }
    }
    if checks.len() == before && !facts.instances.is_empty() {
        let nodes = nodes_word(facts.instances.len());
        checks.push(ok(
            IMDS,
            &nodes,
            format!(
                "All {nodes} serve IMDSv2 only, with a response hop limit of {needed}: the CSI driver's pods (on the \
                 {network} network) get the instance credentials, and no other pod does."
            ),
        ));
    }
}

/// Whether a manifest turns encryption in transit off (`encryptInTransit: "false"`), the one way
/// the driver mounts without TLS (it mounts with TLS by default).
fn disables_tls(manifest: &str) -> bool {
    let pattern = Regex::new(r#"(?i)encryptInTransit["']?\s*:\s*["']?false"#).expect("valid regular expression");
    pattern.is_match(manifest)
}

fn check_tls(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    let fs = &inputs.file_system_id;
    if facts.file_system.is_none() {
        return;
    }
    let enforced = facts.file_system_policy.as_deref().is_some_and(policy_enforces_tls);
    let without_tls = inputs.manifests.iter().filter(|m| disables_tls(m)).count();
    checks.push(match (enforced, without_tls) {
        (true, n) if n > 0 => problem(
            TLS,
            Status::Error,
            fs,
            format!(
                "The policy of {fs} denies access without TLS, but {n} of the manifests set encryptInTransit: \"false\": \
                 those mounts are refused (access denied)."
            ),
            "Remove encryptInTransit: \"false\" from the PersistentVolume / StorageClass (the driver mounts with TLS by \
             default), or set enforce_tls = false on efs_prometheus_volume.",
        ),
        (true, _) => ok(TLS, fs, format!("The policy of {fs} requires TLS, and the mounts use it (the driver's default).")),
        (false, _) => ok(TLS, fs, format!("The policy of {fs} does not require TLS.")),
    });
}

fn check_access_point(inputs: &Inputs, facts: &Facts, checks: &mut Vec<Check>) {
    let Some(id) = &inputs.access_point_id else {
        return;
    };
    let fs = &inputs.file_system_id;
    let (uid, gid) = (inputs.expected_uid, inputs.expected_gid);
    let recreate = format!(
        "Set access_point {{ uid = {uid}, gid = {gid}, owner_uid = {uid}, owner_gid = {gid}, permissions = \"0755\" }} on \
         efs_prometheus_volume (replaces only the access point), or: aws efs create-access-point --file-system-id {fs} \
         --posix-user Uid={uid},Gid={gid} --root-directory 'Path=/prometheus,CreationInfo={{OwnerUid={uid},OwnerGid={gid},Permissions=0755}}'"
    );
    let Some(ap) = &facts.access_point else {
        checks.push(problem(
            ACCESS_POINT,
            Status::Error,
            id,
            format!(
                "Access point {id} does not exist: a PersistentVolume with volumeHandle {fs}::{id} fails to mount."
            ),
            recreate,
        ));
        return;
    };
    if ap.file_system_id != *fs {
        checks.push(problem(
            ACCESS_POINT,
            Status::Error,
            id,
            format!("Access point {id} belongs to {}, not {fs}: the mount fails.", ap.file_system_id),
            format!("Use an access point of {fs} (efs_prometheus_volume.<name>.access_point_id)."),
        ));
        return;
    }
    let mut problems = Vec::new();
    match ap.posix_user {
        Some((u, g)) if (u, g) != (uid, gid) => problems.push(format!(
            "it runs every request as uid {u} / gid {g}, not {uid} / {gid} as Prometheus runs, so the files it writes \
             are owned by another user"
        )),
        Some(_) => {}
        None => problems.push(format!(
            "it enforces no POSIX user, so requests run as the client's user, which must be able to write to {}",
            ap.root_path
        )),
    }
    match &ap.creation_info {
        Some((u, g, permissions)) => {
            if (*u, *g) != (uid, gid) {
                problems
                    .push(format!("its root directory {} is created owned by {u}:{g}, not {uid}:{gid}", ap.root_path));
            }
            let owner_can_write =
                permissions.chars().rev().nth(2).and_then(|c| c.to_digit(8)).is_some_and(|d| d & 2 != 0);
            if !owner_can_write {
                problems.push(format!("its root directory's permissions {permissions} do not let the owner write"));
            }
        }
        None if ap.root_path == "/" && uid != 0 => problems.push(format!(
            "it exposes the file system's root directory, owned by root (0:0, mode 0755), where uid {uid} cannot write"
        )),
        None => problems.push(format!(
            "it has no creation info, so EFS does not create {} with the right owner: it must already exist, owned by \
             {uid}:{gid}",
            ap.root_path
        )),
    }
    checks.push(if problems.is_empty() {
        ok(
            ACCESS_POINT,
            id,
            format!("Access point {id} runs as {uid}:{gid} in {}, owned by {uid}:{gid}, as Prometheus expects.", ap.root_path),
        )
    } else {
        problem(
            ACCESS_POINT,
            Status::Error,
            id,
            format!(
                "Access point {id}: {}. Prometheus then crash-loops with \"permission denied\" on its data directory or \
                 queries.active.",
                problems.join("; ")
            ),
            recreate,
        )
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aws::ec2::network::{SecurityGroupRules, VpcDns};
    use crate::data_sources::cluster_readiness::facts::{AccessPoint, FileSystem};

    const FS: &str = "fs-0123456789abcdef0";
    const PROFILE: &str = "arn:aws:iam::123456789012:instance-profile/k8s/nodes";

    fn inputs(ids: &[&str]) -> Inputs {
        Inputs {
            instance_ids: ids.iter().map(|s| s.to_string()).collect(),
            file_system_id: FS.into(),
            access_point_id: None,
            expected_uid: 65534,
            expected_gid: 65534,
            dynamic_provisioning: true,
            controller_host_network: true,
            manifests: vec![],
        }
    }

    fn node(id: &str, zone: &str, ip: &str) -> NodeInstance {
        NodeInstance {
            instance_id: id.into(),
            state: "running".into(),
            vpc_id: Some("vpc-1".into()),
            subnet_id: Some(format!("subnet-{zone}")),
            availability_zone: Some(zone.into()),
            private_ip: Some(ip.into()),
            security_group_ids: vec!["sg-nodes".into()],
            instance_profile_arn: Some(PROFILE.into()),
            http_tokens: Some("required".into()),
            http_put_response_hop_limit: Some(1),
            http_endpoint: Some("enabled".into()),
            metadata_state: Some("applied".into()),
        }
    }

    fn nfs(peers: &[&str], cidrs: &[&str]) -> SecurityGroupRule {
        SecurityGroupRule {
            protocol: "tcp".into(),
            from_port: Some(2049),
            to_port: Some(2049),
            cidr_blocks: cidrs.iter().map(|s| s.to_string()).collect(),
            security_group_ids: peers.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn all_traffic_out() -> SecurityGroupRule {
        SecurityGroupRule { protocol: "-1".into(), cidr_blocks: vec!["0.0.0.0/0".into()], ..Default::default() }
    }

    /// Two nodes in two zones, a mount target in each, everything allowed: every check passes.
    fn healthy() -> Facts {
        let group = |id: &str, ingress: Vec<SecurityGroupRule>, egress: Vec<SecurityGroupRule>| {
            (id.to_string(), SecurityGroupRules { group_id: id.into(), vpc_id: Some("vpc-1".into()), ingress, egress })
        };
        let driver = csi_driver_policy(&PolicyOptions { dynamic_provisioning: true, ..Default::default() }).to_string();
        Facts {
            instances: vec![node("i-a", "az-a", "10.0.1.10"), node("i-b", "az-b", "10.0.2.10")],
            file_system: Some(FileSystem { id: FS.into(), state: "available".into(), encrypted: true }),
            mount_targets: ["a", "b"]
                .iter()
                .enumerate()
                .map(|(i, z)| MountTarget {
                    id: format!("fsmt-{z}"),
                    subnet_id: format!("subnet-az-{z}"),
                    availability_zone: format!("az-{z}"),
                    vpc_id: Some("vpc-1".into()),
                    ip_address: Some(format!("10.0.{}.5", i + 1)),
                    state: "available".into(),
                    security_group_ids: vec!["sg-nfs".into()],
                })
                .collect(),
            file_system_policy: None,
            access_point: None,
            security_groups: BTreeMap::from([
                group("sg-nodes", vec![], vec![all_traffic_out()]),
                group("sg-nfs", vec![nfs(&["sg-nodes"], &[])], vec![]),
            ]),
            vpc_dns: BTreeMap::from([("vpc-1".to_string(), VpcDns { support: true, hostnames: true })]),
            profiles: BTreeMap::from([(PROFILE.to_string(), Some(vec!["nodes-role".to_string()]))]),
            role_documents: BTreeMap::from([("nodes-role".to_string(), vec![driver])]),
        }
    }

    fn problems(checks: &[Check]) -> Vec<(&'static str, Status, String)> {
        checks.iter().filter(|c| c.status != Status::Ok).map(|c| (c.name, c.status, c.subject.clone())).collect()
    }

    #[test]
    fn a_healthy_cluster_passes_and_reports_node_wide_checks_once() {
        let checks = evaluate(&inputs(&["i-a", "i-b"]), &healthy());
        assert!(problems(&checks).is_empty(), "{checks:#?}");
        for once in [INSTANCE_STATE, IMDS, INSTANCE_PROFILE, NFS_EGRESS, SAME_VPC, VPC_DNS] {
            assert_eq!(checks.iter().filter(|c| c.name == once).count(), 1, "{once}: {checks:#?}");
        }
        assert_eq!(checks.iter().filter(|c| c.name == MOUNT_TARGETS).count(), 2);
    }

    #[test]
    fn cidr_rules_match_addresses() {
        assert!(cidr_contains("10.0.0.0/16", "10.0.200.1"));
        assert!(!cidr_contains("10.0.0.0/16", "10.1.0.1"));
        assert!(cidr_contains("0.0.0.0/0", "192.168.1.1"));
        assert!(cidr_contains("10.0.1.10/32", "10.0.1.10"));
        assert!(!cidr_contains("10.0.1.10/33", "10.0.1.10"));
        assert!(!cidr_contains("bogus", "10.0.1.10"));
    }

    #[test]
    fn only_rules_letting_tcp_2049_through_count() {
        assert!(rule_covers_nfs(&nfs(&[], &[])));
        assert!(rule_covers_nfs(&SecurityGroupRule {
            protocol: "tcp".into(),
            from_port: Some(0),
            to_port: Some(65535),
            ..Default::default()
        }));
        assert!(rule_covers_nfs(&all_traffic_out()));
        assert!(!rule_covers_nfs(&SecurityGroupRule {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            ..Default::default()
        }));
        assert!(!rule_covers_nfs(&SecurityGroupRule {
            protocol: "udp".into(),
            from_port: Some(2049),
            to_port: Some(2049),
            ..Default::default()
        }));
    }

    #[test]
    fn ingress_by_cidr_works_and_stateful_replies_need_no_rules() {
        let mut facts = healthy();
        // The mount targets admit the nodes' subnets by CIDR instead of by group; the nodes' group
        // has no ingress at all and the mount targets' group no egress: replies are stateful.
        facts.security_groups.get_mut("sg-nfs").unwrap().ingress = vec![nfs(&[], &["10.0.0.0/16"])];
        let checks = evaluate(&inputs(&["i-a", "i-b"]), &facts);
        assert!(problems(&checks).is_empty(), "{checks:#?}");
    }

    #[test]
    fn missing_egress_is_reported_once_per_group_set() {
        let mut facts = healthy();
        facts.security_groups.get_mut("sg-nodes").unwrap().egress = vec![nfs(&[], &["10.0.1.0/24"])];
        let checks = evaluate(&inputs(&["i-a", "i-b"]), &facts);
        // i-a reaches its mount target (10.0.1.5), i-b does not reach 10.0.2.5.
        assert_eq!(problems(&checks), [(NFS_EGRESS, Status::Error, "sg-nodes".to_string())]);
        let egress = checks.iter().find(|c| c.name == NFS_EGRESS).unwrap();
        assert!(egress.message.starts_with("i-b "), "{}", egress.message);
        assert!(egress.fix.contains("--group-id sg-nodes") && egress.fix.contains("GroupId=sg-nfs"), "{}", egress.fix);
    }

    #[test]
    fn ingress_from_another_group_is_refused_per_mount_target() {
        let mut facts = healthy();
        facts.security_groups.get_mut("sg-nfs").unwrap().ingress = vec![nfs(&["sg-other"], &["10.0.1.0/24"])];
        let checks = evaluate(&inputs(&["i-a", "i-b"]), &facts);
        assert_eq!(problems(&checks), [(NFS_INGRESS, Status::Error, "sg-nfs".to_string())]);
        let ingress = checks.iter().find(|c| c.name == NFS_INGRESS && c.status == Status::Error).unwrap();
        assert!(ingress.message.contains("fsmt-b") && ingress.message.contains("i-b"), "{}", ingress.message);
    }

    #[test]
    fn a_zone_without_mount_target_names_its_subnet_and_nodes() {
        let mut facts = healthy();
        facts.mount_targets.retain(|mt| mt.availability_zone == "az-a");
        let checks = evaluate(&inputs(&["i-a", "i-b"]), &facts);
        assert_eq!(problems(&checks), [(MOUNT_TARGETS, Status::Error, "subnet-az-b (az-b)".to_string())]);
        let missing = checks.iter().find(|c| c.status == Status::Error).unwrap();
        assert!(missing.fix.contains("--subnet-id subnet-az-b"), "{}", missing.fix);
    }

    #[test]
    fn imds_profile_and_state_problems_are_per_instance() {
        let mut facts = healthy();
        facts.instances[0].http_endpoint = Some("disabled".into());
        facts.instances[1].instance_profile_arn = None;
        facts.instances[1].state = "pending".into();
        let checks = evaluate(&inputs(&["i-a", "i-b", "i-gone"]), &facts);
        assert_eq!(
            problems(&checks),
            [
                (INSTANCE_STATE, Status::Warning, "i-b".to_string()),
                (INSTANCE_STATE, Status::Error, "i-gone".to_string()),
                (INSTANCE_PROFILE, Status::Error, "i-b".to_string()),
                (IMDS, Status::Error, "i-a".to_string()),
            ]
        );
        let disabled = checks.iter().find(|c| c.name == IMDS).unwrap();
        assert!(disabled
            .fix
            .contains("--http-endpoint enabled --http-tokens required --http-put-response-hop-limit 1"));
    }

    /// Hop limit 1 with IMDSv2 required is the least privilege the host-network driver works with;
    /// anything that lets other pods read the credentials is a warning, and hop limit 1 is an error
    /// only for a controller off the host network.
    #[test]
    fn imds_expects_hop_limit_one_from_the_host_network() {
        let imds = |facts: &Facts, inputs: &Inputs| -> Vec<(Status, String)> {
            evaluate(inputs, facts).into_iter().filter(|c| c.name == IMDS).map(|c| (c.status, c.message)).collect()
        };
        let host = inputs(&["i-a", "i-b"]);
        let pod_network = Inputs { controller_host_network: false, ..inputs(&["i-a", "i-b"]) };
        let mut facts = healthy();
        let found = imds(&facts, &host);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Status::Ok);
        assert!(found[0].1.contains("hop limit of 1") && found[0].1.contains("no other pod"), "{found:?}");

        facts.instances[0].http_put_response_hop_limit = Some(2);
        facts.instances[1].http_tokens = Some("optional".into());
        let found = imds(&facts, &host);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [Status::Warning, Status::Warning], "{found:?}");
        assert!(found[0].1.contains("hop limit of 2") && found[0].1.contains("every pod"), "{found:?}");
        assert!(found[1].1.contains("IMDSv1"), "{found:?}");

        // A controller on the pod network needs hop limit 2: there it is the least privilege, and 1 fails.
        let found = imds(&facts, &pod_network);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [Status::Warning], "only IMDSv1 is left: {found:?}");
        let found = imds(&healthy(), &pod_network);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), [Status::Error, Status::Error], "{found:?}");
        let error = evaluate(&pod_network, &healthy()).into_iter().find(|c| c.name == IMDS).unwrap();
        assert!(error.message.contains("not on the host network"), "{}", error.message);
        assert!(
            error.fix.contains("controller.hostNetwork: true") && error.fix.contains("hop_limit = 2"),
            "{}",
            error.fix
        );
    }

    #[test]
    fn a_role_without_the_drivers_actions_is_named_with_them() {
        let mut facts = healthy();
        let describe = r#"{"Statement":[{"Effect":"Allow","Action":["ec2:Describe*","elasticfilesystem:Describe*"],"Resource":"*"}]}"#;
        facts.role_documents.insert("nodes-role".into(), vec![describe.into()]);
        let checks = evaluate(&inputs(&["i-a", "i-b"]), &facts);
        assert_eq!(problems(&checks), [(INSTANCE_PROFILE, Status::Error, "nodes-role".to_string())]);
        let role = checks.iter().find(|c| c.status == Status::Error).unwrap();
        assert!(
            role.message.contains("elasticfilesystem:CreateAccessPoint") && role.message.contains("nodes"),
            "{}",
            role.message
        );
        let static_only = Inputs { dynamic_provisioning: false, ..inputs(&["i-a", "i-b"]) };
        assert!(problems(&evaluate(&static_only, &facts)).is_empty());
        // A profile that no longer exists, and one without a role.
        facts.profiles.insert(PROFILE.into(), None);
        assert_eq!(problems(&evaluate(&static_only, &facts)), [(INSTANCE_PROFILE, Status::Error, "nodes".to_string())]);
        facts.profiles.insert(PROFILE.into(), Some(vec![]));
        assert_eq!(problems(&evaluate(&static_only, &facts)), [(INSTANCE_PROFILE, Status::Error, "nodes".to_string())]);
    }

    #[test]
    fn tls_is_checked_against_manifests_only_when_the_policy_requires_it() {
        let mut facts = healthy();
        let off = Inputs {
            manifests: vec!["    volumeAttributes:\n      encryptInTransit: \"false\"\n".into()],
            ..inputs(&["i-a"])
        };
        assert!(problems(&evaluate(&off, &facts)).is_empty(), "no policy, no requirement");
        facts.file_system_policy =
            Some(crate::aws::policy::tls_policy("arn:aws:elasticfilesystem:us-east-1:1:file-system/fs-1").to_string());
        assert_eq!(problems(&evaluate(&off, &facts)), [(TLS, Status::Error, FS.to_string())]);
        let on = Inputs { manifests: vec!["mountOptions:\n  - tls\n".into()], ..inputs(&["i-a"]) };
        assert!(problems(&evaluate(&on, &facts)).is_empty());
        assert!(disables_tls("{\"encryptInTransit\": \"False\"}"));
        assert!(!disables_tls("encryptInTransit: \"true\""));
    }

    #[test]
    fn access_point_identity_and_root_directory_owner_must_match() {
        let mut facts = healthy();
        let with_ap = Inputs { access_point_id: Some("fsap-1".into()), ..inputs(&["i-a", "i-b"]) };
        let right = AccessPoint {
            id: "fsap-1".into(),
            file_system_id: FS.into(),
            posix_user: Some((65534, 65534)),
            root_path: "/prometheus".into(),
            creation_info: Some((65534, 65534, "0755".into())),
        };
        facts.access_point = Some(right.clone());
        assert!(problems(&evaluate(&with_ap, &facts)).is_empty());
        for wrong in [
            AccessPoint { posix_user: Some((1000, 1000)), ..right.clone() },
            AccessPoint { creation_info: Some((0, 0, "0755".into())), ..right.clone() },
            AccessPoint { creation_info: Some((65534, 65534, "0555".into())), ..right.clone() },
            AccessPoint { creation_info: None, root_path: "/".into(), ..right.clone() },
            AccessPoint { file_system_id: "fs-other".into(), ..right.clone() },
        ] {
            facts.access_point = Some(wrong.clone());
            assert_eq!(
                problems(&evaluate(&with_ap, &facts)),
                [(ACCESS_POINT, Status::Error, "fsap-1".to_string())],
                "{wrong:?}"
            );
        }
        facts.access_point = None;
        assert_eq!(problems(&evaluate(&with_ap, &facts)), [(ACCESS_POINT, Status::Error, "fsap-1".to_string())]);
    }

    #[test]
    fn file_system_state_encryption_vpc_and_dns() {
        let mut facts = healthy();
        facts.file_system = Some(FileSystem { id: FS.into(), state: "available".into(), encrypted: false });
        facts.vpc_dns.insert("vpc-1".into(), VpcDns { support: true, hostnames: false });
        facts.instances[1].vpc_id = Some("vpc-2".into());
        assert_eq!(
            problems(&evaluate(&inputs(&["i-a", "i-b"]), &facts)),
            [
                (ENCRYPTION, Status::Warning, FS.to_string()),
                (SAME_VPC, Status::Error, "vpc-2".to_string()),
                (VPC_DNS, Status::Error, "vpc-1".to_string()),
            ]
        );
        facts.file_system = None;
        facts.mount_targets.clear();
        let gone = problems(&evaluate(&inputs(&["i-a"]), &facts));
        assert_eq!(gone[0], (FILE_SYSTEM, Status::Error, FS.to_string()));
    }

    #[test]
    fn long_lists_are_shortened() {
        let ids: Vec<String> = (0..100).map(|i| format!("i-{i}")).collect();
        assert_eq!(short_list(&ids), "i-0, i-1, i-2, i-3, i-4 and 95 more");
        assert_eq!(short_list(&ids[..2]), "i-0, i-1");
    }
}
