//! What this provider process itself made, kept so that a read later in the same CLI command (the
//! readiness data source, which Terraform reads right after the resources it refers to) does not
//! ask AWS for what the process has just written.
//!
//! Why this is safe, and how far it goes:
//! - An entry exists only for an object a create of this process made from nothing (not one it
//!   adopted from an earlier attempt): what it holds is then exactly what the create sent, and the
//!   create's success means AWS accepted all of it.
//! - Any other operation of this process on the object (update, delete, refresh) drops the entry
//!   before it starts, so an entry is never older than the one create that wrote it, and the
//!   provider process lives for one CLI command only (the next plan starts a new one, which reads
//!   everything from AWS).
//! - What it holds is the part the create fully decides: which roles an instance profile holds,
//!   which managed policies a role has (a new role has no inline policy), a policy's document, and
//!   a new file system's policy and the security groups of the mount targets made with it. Whether
//!   an object still exists, its state, the nodes and the security groups' rules are always read
//!   from AWS.
//! - A change made outside this process between the create and the read (seconds) is not seen by
//!   that read; the next plan sees it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// What one create of `efs_csi_node_identity` wrote to IAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenIdentity {
    pub role_name: String,
    pub instance_profile_name: String,
    /// Every managed policy attached to the role (the node policy first).
    pub attached_policy_arns: Vec<String>,
    pub policy_arn: String,
    /// The node policy's document, as sent.
    pub policy_document: String,
}

/// What one create of `efs_prometheus_volume` wrote to EFS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrittenVolume {
    /// Mount target id to its security groups (sorted).
    pub mount_target_groups: BTreeMap<String, Vec<String>>,
    /// The file system policy; `None` when the create set none.
    pub file_system_policy: Option<String>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Instance profile name to the roles it holds.
    profile_roles: BTreeMap<String, Vec<String>>,
    /// Role name to the managed policies attached to it; it has no inline policy.
    role_policies: BTreeMap<String, Vec<String>>,
    /// Policy ARN to its default version's document.
    policy_documents: BTreeMap<String, String>,
    /// File system id to what its create wrote.
    volumes: BTreeMap<String, WrittenVolume>,
}

/// Shared by every resource and data source of one provider process (see the module's docs).
#[derive(Debug, Default)]
pub struct WrittenFacts {
    entries: Mutex<Entries>,
}

impl WrittenFacts {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn remember_identity(&self, identity: WrittenIdentity) {
        let mut entries = self.entries();
        entries.profile_roles.insert(identity.instance_profile_name, vec![identity.role_name.clone()]);
        entries.role_policies.insert(identity.role_name, identity.attached_policy_arns);
        entries.policy_documents.insert(identity.policy_arn, identity.policy_document);
    }

    /// Drops what is kept of these IAM objects: called before this process changes or refreshes
    /// them in any other way than the create that wrote them.
    pub fn forget_identity(&self, role_name: &str, instance_profile_name: &str, policy_arn: &str) {
        let mut entries = self.entries();
        entries.role_policies.remove(role_name);
        entries.profile_roles.remove(instance_profile_name);
        entries.policy_documents.remove(policy_arn);
    }

    /// The roles of instance profile `name`, if this process made it.
    pub fn profile_roles(&self, name: &str) -> Option<Vec<String>> {
        self.entries().profile_roles.get(name).cloned()
    }

    /// The managed policies of role `name` (it has no inline one), if this process made it.
    pub fn role_policies(&self, name: &str) -> Option<Vec<String>> {
        self.entries().role_policies.get(name).cloned()
    }

    /// The document of policy `arn`, if this process made it.
    pub fn policy_document(&self, arn: &str) -> Option<String> {
        self.entries().policy_documents.get(arn).cloned()
    }

    pub fn remember_volume(&self, file_system_id: &str, volume: WrittenVolume) {
        self.entries().volumes.insert(file_system_id.to_string(), volume);
    }

    pub fn forget_volume(&self, file_system_id: &str) {
        self.entries().volumes.remove(file_system_id);
    }

    /// What the create of this process wrote to file system `id`, if it made it.
    pub fn volume(&self, file_system_id: &str) -> Option<WrittenVolume> {
        self.entries().volumes.get(file_system_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> WrittenIdentity {
        WrittenIdentity {
            role_name: "nodes".into(),
            instance_profile_name: "nodes-profile".into(),
            attached_policy_arns: vec!["arn:aws:iam::123456789012:policy/nodes".into()],
            policy_arn: "arn:aws:iam::123456789012:policy/nodes".into(),
            policy_document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        }
    }

    #[test]
    fn an_identity_is_known_until_it_is_forgotten() {
        let written = WrittenFacts::default();
        assert_eq!(written.profile_roles("nodes-profile"), None, "nothing is known at first");
        written.remember_identity(identity());
        assert_eq!(written.profile_roles("nodes-profile"), Some(vec!["nodes".to_string()]));
        assert_eq!(written.role_policies("nodes"), Some(identity().attached_policy_arns));
        assert_eq!(written.policy_document(&identity().policy_arn), Some(identity().policy_document));
        assert_eq!(written.role_policies("other"), None);
        written.forget_identity("nodes", "nodes-profile", &identity().policy_arn);
        assert_eq!(written.profile_roles("nodes-profile"), None);
        assert_eq!(written.role_policies("nodes"), None);
        assert_eq!(written.policy_document(&identity().policy_arn), None);
    }

    #[test]
    fn a_volume_is_known_until_it_is_forgotten() {
        let written = WrittenFacts::default();
        let volume = WrittenVolume {
            mount_target_groups: [("fsmt-1".to_string(), vec!["sg-1".to_string()])].into(),
            file_system_policy: None,
        };
        written.remember_volume("fs-1", volume.clone());
        assert_eq!(written.volume("fs-1"), Some(volume));
        assert_eq!(written.volume("fs-2"), None);
        written.forget_volume("fs-1");
        assert_eq!(written.volume("fs-1"), None);
    }
}
