//! What this provider process has itself made, and what it read while it had changed nothing,
//! kept so that a read later in the same CLI command (the readiness data source, which Terraform
//! reads right after the resources it refers to) does not ask AWS again for what the process has
//! just written or read.
//!
//! Why this is safe, and how far it goes:
//! - The provider process lives for one CLI command only; the next command starts a new one, which
//!   reads everything from AWS.
//! - Written: an entry exists only for an object a create of this process made from nothing (not
//!   one it adopted from an earlier attempt): what it holds is then exactly what the create sent,
//!   and the create's success means AWS accepted all of it.
//! - Read: a refresh of this process keeps what it read only while the process has changed nothing
//!   in AWS: the CLIs refresh in the planning process, where no provider changes anything, so a
//!   later read in that process would get the same answers. The first change of this process drops
//!   every read entry and no more are kept (see [`SeenFacts::changing`]).
//! - Any operation of this process on an object other than the one that made the entry drops the
//!   entry before it starts, so an entry is never older than the one create or refresh that made it.
//! - What it holds is what that create or refresh fully knew: which roles an instance profile holds,
//!   which managed policies a role has (and, for a new role, that it has no inline policy; a refresh
//!   does not read inline policies), a policy's document, a file system's policy, the security
//!   groups of its mount targets (and which other mount targets it has), the groups its NFS group
//!   lets in and its VPC. Whether an object still exists, its state, the nodes and the security
//!   groups' rules are always read from AWS.
//! - A change made outside this process between the create or refresh and the read (seconds) is not
//!   seen by that read; the next plan sees it.

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

/// What one refresh of `efs_csi_node_identity` read of IAM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshedIdentity {
    /// The instance profile's name and its roles, when it exists.
    pub profile: Option<(String, Vec<String>)>,
    /// The role's name and its managed policies, when it exists.
    pub role: Option<(String, Vec<String>)>,
    /// The node policy's ARN and its default version's document, when both were read.
    pub policy: Option<(String, String)>,
}

/// What is known of a file system's policy and its mount targets' security groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeFacts {
    /// Mount target id to its security groups (sorted); a refresh knows those of one mount target.
    pub mount_target_groups: BTreeMap<String, Vec<String>>,
    /// The other mount targets found available, whose groups are not known: a read of them can
    /// start before the mount targets are listed again.
    pub other_mount_targets: Vec<String>,
    /// The file system policy; `None` when there is none.
    pub file_system_policy: Option<String>,
    /// The security groups the volume's NFS group lets in (usually the nodes').
    pub nfs_source_groups: Vec<String>,
    /// The VPC of the mount targets, when known.
    pub vpc_id: Option<String>,
}

/// The managed policies of a role, and whether it is known to have no inline policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolePolicies {
    pub managed: Vec<String>,
    pub without_inline: bool,
}

#[derive(Debug, Default)]
struct Entries {
    /// Instance profile name to the roles it holds.
    profile_roles: BTreeMap<String, Vec<String>>,
    /// Role name to its policies.
    role_policies: BTreeMap<String, RolePolicies>,
    /// Policy ARN to its default version's document.
    policy_documents: BTreeMap<String, String>,
    /// File system id to what is known of it.
    volumes: BTreeMap<String, VolumeFacts>,
}

impl Entries {
    fn forget_identity(&mut self, role_name: &str, instance_profile_name: &str, policy_arn: &str) {
        self.role_policies.remove(role_name);
        self.profile_roles.remove(instance_profile_name);
        self.policy_documents.remove(policy_arn);
    }
}

#[derive(Debug, Default)]
struct State {
    written: Entries,
    read: Entries,
    /// Whether this process has begun to change anything in AWS: reads are no longer kept.
    changed: bool,
}

/// Shared by every resource and data source of one provider process (see the module's docs).
#[derive(Debug, Default)]
pub struct SeenFacts {
    state: Mutex<State>,
}

impl SeenFacts {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called before this process changes anything in AWS (a create, update or delete): what its
    /// refreshes read is dropped, and from now on nothing read is kept.
    pub fn changing(&self) {
        let mut state = self.state();
        state.changed = true;
        state.read = Entries::default();
    }

    pub fn remember_identity(&self, identity: WrittenIdentity) {
        let written = &mut self.state().written;
        written.profile_roles.insert(identity.instance_profile_name, vec![identity.role_name.clone()]);
        written
            .role_policies
            .insert(identity.role_name, RolePolicies { managed: identity.attached_policy_arns, without_inline: true });
        written.policy_documents.insert(identity.policy_arn, identity.policy_document);
    }

    /// Keeps what a refresh read, unless this process has changed anything (see [`Self::changing`]).
    pub fn remember_refreshed_identity(&self, identity: RefreshedIdentity) {
        let mut state = self.state();
        if state.changed {
            return;
        }
        let read = &mut state.read;
        if let Some((name, roles)) = identity.profile {
            read.profile_roles.insert(name, roles);
        }
        if let Some((name, managed)) = identity.role {
            read.role_policies.insert(name, RolePolicies { managed, without_inline: false });
        }
        if let Some((arn, document)) = identity.policy {
            read.policy_documents.insert(arn, document);
        }
    }

    /// Drops what is kept of these IAM objects: called before this process changes or refreshes
    /// them in any other way than the create that wrote them.
    pub fn forget_identity(&self, role_name: &str, instance_profile_name: &str, policy_arn: &str) {
        let mut state = self.state();
        state.written.forget_identity(role_name, instance_profile_name, policy_arn);
        state.read.forget_identity(role_name, instance_profile_name, policy_arn);
    }

    /// The roles of instance profile `name`, if this process made or read it.
    pub fn profile_roles(&self, name: &str) -> Option<Vec<String>> {
        let state = self.state();
        state.written.profile_roles.get(name).or_else(|| state.read.profile_roles.get(name)).cloned()
    }

    /// Every instance profile this process made or read, with its roles.
    pub fn profiles(&self) -> BTreeMap<String, Vec<String>> {
        let state = self.state();
        let read = state.read.profile_roles.iter();
        read.chain(&state.written.profile_roles).map(|(name, roles)| (name.clone(), roles.clone())).collect()
    }

    /// The policies of role `name`, if this process made it or read its managed policies.
    pub fn role_policies(&self, name: &str) -> Option<RolePolicies> {
        let state = self.state();
        state.written.role_policies.get(name).or_else(|| state.read.role_policies.get(name)).cloned()
    }

    /// The document of policy `arn`, if this process made or read it.
    pub fn policy_document(&self, arn: &str) -> Option<String> {
        let state = self.state();
        state.written.policy_documents.get(arn).or_else(|| state.read.policy_documents.get(arn)).cloned()
    }

    pub fn remember_volume(&self, file_system_id: &str, volume: VolumeFacts) {
        self.state().written.volumes.insert(file_system_id.to_string(), volume);
    }

    /// Keeps what a refresh read, unless this process has changed anything (see [`Self::changing`]).
    pub fn remember_refreshed_volume(&self, file_system_id: &str, volume: VolumeFacts) {
        let mut state = self.state();
        if !state.changed {
            state.read.volumes.insert(file_system_id.to_string(), volume);
        }
    }

    pub fn forget_volume(&self, file_system_id: &str) {
        let mut state = self.state();
        state.written.volumes.remove(file_system_id);
        state.read.volumes.remove(file_system_id);
    }

    /// What this process wrote to, or read of, file system `id`.
    pub fn volume(&self, file_system_id: &str) -> Option<VolumeFacts> {
        let state = self.state();
        state.written.volumes.get(file_system_id).or_else(|| state.read.volumes.get(file_system_id)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY_ARN: &str = "arn:aws:iam::123456789012:policy/nodes";

    fn identity() -> WrittenIdentity {
        WrittenIdentity {
            role_name: "nodes".into(),
            instance_profile_name: "nodes-profile".into(),
            attached_policy_arns: vec![POLICY_ARN.into()],
            policy_arn: POLICY_ARN.into(),
            policy_document: r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
        }
    }

    fn refreshed() -> RefreshedIdentity {
        RefreshedIdentity {
            profile: Some(("nodes-profile".into(), vec!["nodes".into()])),
            role: Some(("nodes".into(), vec![POLICY_ARN.into()])),
            policy: Some((POLICY_ARN.into(), r#"{"Statement":[]}"#.into())),
        }
    }

    #[test]
    fn an_identity_is_known_until_it_is_forgotten() {
        let seen = SeenFacts::default();
        assert_eq!(seen.profile_roles("nodes-profile"), None, "nothing is known at first");
        seen.remember_identity(identity());
        assert_eq!(seen.profile_roles("nodes-profile"), Some(vec!["nodes".to_string()]));
        assert_eq!(seen.profiles(), [("nodes-profile".to_string(), vec!["nodes".to_string()])].into());
        assert_eq!(
            seen.role_policies("nodes"),
            Some(RolePolicies { managed: identity().attached_policy_arns, without_inline: true }),
            "a role made here has no inline policy"
        );
        assert_eq!(seen.policy_document(POLICY_ARN), Some(identity().policy_document));
        assert_eq!(seen.role_policies("other"), None);
        seen.forget_identity("nodes", "nodes-profile", POLICY_ARN);
        assert_eq!(seen.profile_roles("nodes-profile"), None);
        assert!(seen.profiles().is_empty());
        assert_eq!(seen.role_policies("nodes"), None);
        assert_eq!(seen.policy_document(POLICY_ARN), None);
    }

    #[test]
    fn a_refresh_is_kept_until_the_process_changes_anything() {
        let seen = SeenFacts::default();
        seen.remember_refreshed_identity(refreshed());
        assert_eq!(seen.profile_roles("nodes-profile"), Some(vec!["nodes".to_string()]));
        assert_eq!(seen.profiles().len(), 1);
        assert_eq!(
            seen.role_policies("nodes"),
            Some(RolePolicies { managed: vec![POLICY_ARN.into()], without_inline: false }),
            "a refresh does not read inline policies"
        );
        assert_eq!(seen.policy_document(POLICY_ARN).as_deref(), Some(r#"{"Statement":[]}"#));
        seen.forget_identity("nodes", "nodes-profile", POLICY_ARN);
        assert_eq!(seen.profile_roles("nodes-profile"), None, "forgotten like a written entry");

        seen.remember_refreshed_identity(refreshed());
        seen.remember_refreshed_volume("fs-1", VolumeFacts::default());
        seen.changing();
        assert_eq!(seen.profile_roles("nodes-profile"), None, "a change drops every read entry");
        assert!(seen.profiles().is_empty());
        assert_eq!(seen.volume("fs-1"), None);
        seen.remember_refreshed_identity(refreshed());
        seen.remember_refreshed_volume("fs-1", VolumeFacts::default());
        assert_eq!(seen.role_policies("nodes"), None, "and none is kept after it");
        assert_eq!(seen.volume("fs-1"), None);

        seen.remember_identity(identity());
        assert!(seen.role_policies("nodes").is_some_and(|p| p.without_inline), "what a create wrote is kept");
    }

    #[test]
    fn a_volume_is_known_until_it_is_forgotten() {
        let seen = SeenFacts::default();
        let volume = VolumeFacts {
            mount_target_groups: [("fsmt-1".to_string(), vec!["sg-1".to_string()])].into(),
            other_mount_targets: vec!["fsmt-2".to_string()],
            file_system_policy: None,
            nfs_source_groups: vec!["sg-nodes".to_string()],
            vpc_id: Some("vpc-1".to_string()),
        };
        seen.remember_volume("fs-1", volume.clone());
        assert_eq!(seen.volume("fs-1"), Some(volume.clone()));
        assert_eq!(seen.volume("fs-2"), None);
        seen.forget_volume("fs-1");
        assert_eq!(seen.volume("fs-1"), None);
        seen.remember_refreshed_volume("fs-1", volume.clone());
        assert_eq!(seen.volume("fs-1"), Some(volume));
        seen.forget_volume("fs-1");
        assert_eq!(seen.volume("fs-1"), None);
    }
}
