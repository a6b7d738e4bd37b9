//! Everything moto holds of the kinds of object the provider makes or changes, read straight from
//! moto (never through a fault proxy), so a scenario can compare before and after: nothing extra,
//! nothing left, nothing that was there before changed.
//!
//! Objects are listed by id (`roles`, `policies`, `instance_profiles`, `associations`,
//! `file_systems`, `mount_targets`, `access_points`, `security_groups`); what belongs to an object
//! or is set on one is listed as a line that starts with the id of the object it belongs to, then
//! what it is, so a change shows as one line gone and one new (`policy_versions`, tags, rules ...;
//! see [`KINDS`]). A line that occurs twice (a second identical ingress rule) is listed a second
//! time with ` #2` appended, so a duplicate is never folded into the first.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::IpPermission;
use aws_sdk_efs::error::ProvideErrorMetadata;
use serde_json::Value;

use crate::{block_on, Moto};

/// The kinds of objects the provider makes, listed by id: what a [`crate::Scenario`] compares
/// unless told to compare everything.
pub const OBJECT_KINDS: &[&str] = &[
    "roles",
    "policies",
    "instance_profiles",
    "associations",
    "file_systems",
    "mount_targets",
    "access_points",
    "security_groups",
];

/// The kinds of an [`Inventory`], with what one entry of each is.
pub const KINDS: &[(&str, &str)] = &[
    ("roles", "role name"),
    ("role_trust_policies", "role name, trust policy JSON"),
    ("role_policy_attachments", "role name, attached policy ARN"),
    ("inline_role_policies", "role name, inline policy name"),
    ("policies", "customer-managed policy ARN"),
    ("policy_versions", "policy ARN, version id, `default` or not, document JSON"),
    ("instance_profiles", "instance profile name"),
    ("instance_profile_roles", "instance profile name, role name in it"),
    ("associations", "live (associated or associating) instance profile association id, instance, profile ARN"),
    ("metadata_options", "instance id, its instance metadata options"),
    ("file_systems", "file system id"),
    ("file_system_policies", "file system id, policy JSON"),
    ("lifecycle_configurations", "file system id, lifecycle policies"),
    ("backup_policies", "file system id, backup policy status"),
    ("mount_targets", "mount target id"),
    ("network_interfaces", "network interface id, subnet, security groups, attachment"),
    ("access_points", "access point id"),
    ("security_groups", "id of a group named efs-prometheus-* (the NFS groups a volume makes)"),
    ("security_group_rules", "group id, ingress or egress, protocol, ports, source or destination"),
    (
        "tags",
        "tagged object (role, policy ARN, profile, instance, group, interface, file system, access point), key=value",
    ),
];

/// What moto holds of each kind (see [`KINDS`]); kinds with nothing are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory(pub(crate) BTreeMap<&'static str, BTreeSet<String>>);

impl Inventory {
    /// Reads moto's inventory; an error names the call that failed.
    pub fn of(moto: &Moto) -> Result<Inventory, String> {
        block_on(read_inventory(moto))
    }

    /// The entries of one kind.
    pub fn ids(&self, kind: &str) -> impl Iterator<Item = &String> {
        self.0.get(kind).into_iter().flatten()
    }

    pub fn contains(&self, kind: &str, id: &str) -> bool {
        self.0.get(kind).is_some_and(|ids| ids.contains(id))
    }

    /// True when an entry of `kind` is the object `id`, or belongs to it (see [`object_of`]).
    pub fn holds_object(&self, kind: &str, id: &str) -> bool {
        self.ids(kind).any(|entry| object_of(entry) == id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many entries of each kind.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.0.iter().map(|(kind, ids)| (*kind, ids.len())).collect()
    }

    /// The entries of this inventory that `earlier` does not hold: what is new, and for what
    /// was changed, its new line.
    pub fn without(&self, earlier: &Inventory) -> Inventory {
        self.filtered(|kind, entry| !earlier.contains(kind, entry))
    }

    /// The entries for which `keep(kind, entry)` holds.
    pub fn filtered(&self, keep: impl Fn(&str, &str) -> bool) -> Inventory {
        let mut left = BTreeMap::new();
        for (kind, ids) in &self.0 {
            let kept: BTreeSet<String> = ids.iter().filter(|id| keep(kind, id)).cloned().collect();
            if !kept.is_empty() {
                left.insert(*kind, kept);
            }
        }
        Inventory(left)
    }

    /// The inventory as lists of entries per kind.
    pub fn into_map(self) -> BTreeMap<&'static str, Vec<String>> {
        self.0.into_iter().map(|(kind, ids)| (kind, ids.into_iter().collect())).collect()
    }

    pub(crate) fn insert(&mut self, kind: &'static str, entry: String) {
        self.0.entry(kind).or_default().insert(entry);
    }
}

/// The object an entry belongs to: the entry itself for kinds of objects, its first word for the
/// others (see [`owner_key`]).
pub fn object_of(entry: &str) -> &str {
    entry.split(' ').next().unwrap_or(entry)
}

/// How the entries that belong to an object (its tags, rules ...) name it: a role and an
/// instance profile, which often share a name, as `role/NAME` and `instance-profile/NAME`; any
/// other object by its id or ARN.
pub fn owner_key(kind: &str, id: &str) -> String {
    match kind {
        "roles" => format!("role/{id}"),
        "instance_profiles" => format!("instance-profile/{id}"),
        _ => id.to_string(),
    }
}

impl std::fmt::Display for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (kind, entries) in &self.0 {
            write!(f, "\n  {kind}:")?;
            for entry in entries {
                write!(f, "\n    {entry}")?;
            }
        }
        Ok(())
    }
}

/// An SDK error as the message of a failed inventory read.
fn failed<E: std::fmt::Debug>(call: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{call}: {e:?}")
}

/// Entries of one kind, a repeated line kept as `line #2`, `line #3`, ...
#[derive(Default)]
struct Lines(BTreeSet<String>);

impl Lines {
    fn add(&mut self, line: String) {
        if self.0.insert(line.clone()) {
            return;
        }
        let copy = (2..).map(|n| format!("{line} #{n}")).find(|l| !self.0.contains(l)).expect("an unused copy number");
        self.0.insert(copy);
    }
}

/// A policy document as IAM gives it (percent-encoded, or raw as moto's GetPolicyVersion gives
/// it) as compact JSON, so equal documents compare equal.
fn document(text: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str::<Value>(&decoded).map_or_else(|_| decoded.into_owned(), |v| v.to_string())
}

fn permission_lines(group: &str, direction: &str, permission: &IpPermission, lines: &mut Lines) {
    let protocol = permission.ip_protocol().unwrap_or("?");
    let ports = match (permission.from_port(), permission.to_port()) {
        (None, None) => "all".to_string(),
        (from, to) => format!("{}-{}", from.unwrap_or(-1), to.unwrap_or(-1)),
    };
    let rule = |peer: String| format!("{group} {direction} {protocol} {ports} {peer}");
    let mut peers = Vec::new();
    peers.extend(permission.ip_ranges().iter().map(|r| format!("cidr {}", r.cidr_ip().unwrap_or("?"))));
    peers.extend(permission.ipv6_ranges().iter().map(|r| format!("cidr6 {}", r.cidr_ipv6().unwrap_or("?"))));
    peers.extend(
        permission.prefix_list_ids().iter().map(|p| format!("prefix-list {}", p.prefix_list_id().unwrap_or("?"))),
    );
    peers.extend(permission.user_id_group_pairs().iter().map(|p| format!("group {}", p.group_id().unwrap_or("?"))));
    if peers.is_empty() {
        peers.push("nowhere".to_string());
    }
    for peer in peers {
        lines.add(rule(peer));
    }
}

async fn read_inventory(moto: &Moto) -> Result<Inventory, String> {
    let (iam, ec2, efs) = (moto.iam(), moto.ec2(), moto.efs());
    let mut found: BTreeMap<&'static str, Lines> = BTreeMap::new();
    let mut add = |kind: &'static str, line: String| found.entry(kind).or_default().add(line);

    // IAM: roles and what hangs on them, customer policies and their versions, profiles.
    let roles = iam.list_roles().send().await.map_err(failed("ListRoles"))?;
    for role in roles.roles() {
        add("roles", role.role_name().to_string());
        let name = &owner_key("roles", role.role_name());
        add("role_trust_policies", format!("{name} {}", document(role.assume_role_policy_document().unwrap_or(""))));
        let attached = iam.list_attached_role_policies().role_name(role.role_name()).send().await;
        for policy in attached.map_err(failed("ListAttachedRolePolicies"))?.attached_policies() {
            add("role_policy_attachments", format!("{name} {}", policy.policy_arn().unwrap_or("?")));
        }
        let inline = iam.list_role_policies().role_name(role.role_name()).send().await;
        let inline = inline.map_err(failed("ListRolePolicies"))?;
        for policy in inline.policy_names() {
            add("inline_role_policies", format!("{name} {policy}"));
        }
        let tags = iam.list_role_tags().role_name(role.role_name()).send().await.map_err(failed("ListRoleTags"))?;
        for tag in tags.tags() {
            add("tags", format!("{name} {}={}", tag.key(), tag.value()));
        }
    }
    let policies = iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await;
    for policy in policies.map_err(failed("ListPolicies"))?.policies() {
        let Some(arn) = policy.arn() else { continue };
        add("policies", arn.to_string());
        let versions = iam.list_policy_versions().policy_arn(arn).send().await.map_err(failed("ListPolicyVersions"))?;
        for version in versions.versions() {
            let id = version.version_id().unwrap_or("?");
            let got = iam.get_policy_version().policy_arn(arn).version_id(id).send().await;
            let text =
                got.map_err(failed("GetPolicyVersion"))?.policy_version().and_then(|v| v.document().map(document));
            let default = if version.is_default_version() { "default" } else { "not-default" };
            add("policy_versions", format!("{arn} {id} {default} {}", text.unwrap_or_default()));
        }
        let tags = iam.list_policy_tags().policy_arn(arn).send().await.map_err(failed("ListPolicyTags"))?;
        for tag in tags.tags() {
            add("tags", format!("{arn} {}={}", tag.key(), tag.value()));
        }
    }
    let profiles = iam.list_instance_profiles().send().await.map_err(failed("ListInstanceProfiles"))?;
    for profile in profiles.instance_profiles() {
        add("instance_profiles", profile.instance_profile_name().to_string());
        let name = &owner_key("instance_profiles", profile.instance_profile_name());
        for role in profile.roles() {
            add("instance_profile_roles", format!("{name} {}", owner_key("roles", role.role_name())));
        }
        // moto has no ListInstanceProfileTags; GetInstanceProfile carries the tags.
        let got = iam.get_instance_profile().instance_profile_name(profile.instance_profile_name()).send().await;
        for tag in got.map_err(failed("GetInstanceProfile"))?.instance_profile().map(|p| p.tags()).unwrap_or_default() {
            add("tags", format!("{name} {}={}", tag.key(), tag.value()));
        }
    }

    // EC2: associations, instances' metadata options, groups and their rules, interfaces, and the
    // tags of each (from the objects: moto's DescribeTags still lists a deleted group's tags).
    let associations = ec2
        .describe_iam_instance_profile_associations()
        .send()
        .await
        .map_err(failed("DescribeIamInstanceProfileAssociations"))?;
    for association in associations.iam_instance_profile_associations() {
        let live = association.state().is_some_and(|s| matches!(s.as_str(), "associated" | "associating"));
        if let (true, Some(id)) = (live, association.association_id()) {
            let profile = association.iam_instance_profile().and_then(|p| p.arn()).unwrap_or("-");
            add("associations", format!("{id} {} {profile}", association.instance_id().unwrap_or("-")));
        }
    }
    let reservations = ec2.describe_instances().send().await.map_err(failed("DescribeInstances"))?;
    for instance in reservations.reservations().iter().flat_map(|r| r.instances()) {
        let Some(id) = instance.instance_id() else { continue };
        if instance.state().and_then(|s| s.name()).is_some_and(|s| s.as_str() == "terminated") {
            continue;
        }
        for tag in instance.tags() {
            add("tags", format!("{id} {}={}", tag.key().unwrap_or("?"), tag.value().unwrap_or("")));
        }
        if let Some(options) = instance.metadata_options() {
            add(
                "metadata_options",
                format!(
                    "{id} http_tokens={} hop_limit={} http_endpoint={} tags={} ipv6={}",
                    options.http_tokens().map(|t| t.as_str()).unwrap_or("-"),
                    options.http_put_response_hop_limit().map_or("-".to_string(), |h| h.to_string()),
                    options.http_endpoint().map(|e| e.as_str()).unwrap_or("-"),
                    options.instance_metadata_tags().map(|t| t.as_str()).unwrap_or("-"),
                    options.http_protocol_ipv6().map(|p| p.as_str()).unwrap_or("-"),
                ),
            );
        }
    }
    let groups = ec2.describe_security_groups().send().await.map_err(failed("DescribeSecurityGroups"))?;
    let mut rules = Lines::default();
    for group in groups.security_groups() {
        let Some(id) = group.group_id() else { continue };
        for tag in group.tags() {
            add("tags", format!("{id} {}={}", tag.key().unwrap_or("?"), tag.value().unwrap_or("")));
        }
        if group.group_name().unwrap_or_default().starts_with("efs-prometheus-") {
            add("security_groups", id.to_string());
        }
        for permission in group.ip_permissions() {
            permission_lines(id, "ingress", permission, &mut rules);
        }
        for permission in group.ip_permissions_egress() {
            permission_lines(id, "egress", permission, &mut rules);
        }
    }
    for rule in rules.0 {
        add("security_group_rules", rule);
    }
    let interfaces = ec2.describe_network_interfaces().send().await.map_err(failed("DescribeNetworkInterfaces"))?;
    for interface in interfaces.network_interfaces() {
        let mut groups: Vec<&str> = interface.groups().iter().filter_map(|g| g.group_id()).collect();
        groups.sort_unstable();
        let attached = interface.attachment().and_then(|a| a.instance_id()).unwrap_or("-");
        let id = interface.network_interface_id().unwrap_or("?");
        for tag in interface.tag_set() {
            add("tags", format!("{id} {}={}", tag.key().unwrap_or("?"), tag.value().unwrap_or("")));
        }
        add(
            "network_interfaces",
            format!(
                "{id} subnet={} groups={} instance={attached}",
                interface.subnet_id().unwrap_or("-"),
                groups.join(","),
            ),
        );
    }
    // EFS: file systems and their policy, lifecycle and backup settings, mount targets, access points.
    let file_systems = efs.describe_file_systems().send().await.map_err(failed("DescribeFileSystems"))?;
    for file_system in file_systems.file_systems() {
        let fs_id = file_system.file_system_id();
        add("file_systems", fs_id.to_string());
        for tag in file_system.tags() {
            add("tags", format!("{fs_id} {}={}", tag.key(), tag.value()));
        }
        match efs.describe_file_system_policy().file_system_id(fs_id).send().await {
            Ok(policy) => add("file_system_policies", format!("{fs_id} {}", document(policy.policy().unwrap_or("")))),
            Err(e) if e.code() == Some("PolicyNotFound") => {}
            Err(e) => return Err(failed("DescribeFileSystemPolicy")(e)),
        }
        let lifecycle = efs.describe_lifecycle_configuration().file_system_id(fs_id).send().await;
        for policy in lifecycle.map_err(failed("DescribeLifecycleConfiguration"))?.lifecycle_policies() {
            add("lifecycle_configurations", format!("{fs_id} {policy:?}"));
        }
        match efs.describe_backup_policy().file_system_id(fs_id).send().await {
            Ok(backup) => {
                let status = backup.backup_policy().map(|p| p.status().as_str().to_string());
                add("backup_policies", format!("{fs_id} {}", status.unwrap_or_default()));
            }
            Err(e) if e.code() == Some("PolicyNotFound") => {}
            Err(e) => return Err(failed("DescribeBackupPolicy")(e)),
        }
        let mount_targets = efs.describe_mount_targets().file_system_id(fs_id).send().await;
        for mount_target in mount_targets.map_err(failed("DescribeMountTargets"))?.mount_targets() {
            add("mount_targets", mount_target.mount_target_id().to_string());
        }
    }
    let access_points = efs.describe_access_points().send().await.map_err(failed("DescribeAccessPoints"))?;
    for access_point in access_points.access_points() {
        let Some(id) = access_point.access_point_id() else { continue };
        add("access_points", id.to_string());
        for tag in access_point.tags() {
            add("tags", format!("{id} {}={}", tag.key(), tag.value()));
        }
    }

    let mut inventory = Inventory::default();
    for (kind, lines) in found {
        for line in lines.0 {
            inventory.insert(kind, line);
        }
    }
    Ok(inventory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_repeated_line_apart() {
        let mut lines = Lines::default();
        lines.add("sg-1 ingress tcp 2049-2049 group sg-2".to_string());
        lines.add("sg-1 ingress tcp 2049-2049 group sg-2".to_string());
        lines.add("sg-1 ingress tcp 2049-2049 group sg-2".to_string());
        assert_eq!(lines.0.len(), 3);
        assert!(lines.0.contains("sg-1 ingress tcp 2049-2049 group sg-2 #3"));
    }

    #[test]
    fn compares_policy_documents_as_json() {
        assert_eq!(document("%7B%22Version%22%3A%20%222012-10-17%22%7D"), document(r#"{ "Version": "2012-10-17" }"#));
    }

    #[test]
    fn names_the_object_an_entry_belongs_to() {
        assert_eq!(object_of("fs-1 ENABLED"), "fs-1");
        assert_eq!(object_of("fs-1"), "fs-1");
        assert_eq!(object_of("role/r1 env=acc"), owner_key("roles", "r1"));
    }
}
