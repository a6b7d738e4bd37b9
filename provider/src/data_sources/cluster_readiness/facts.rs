//! Reads, in a handful of batched calls, everything the checks look at. Read-only: only
//! `Describe*`, `Get*` and `List*` calls.
//!
//! The number of calls does not grow with the number of nodes: one DescribeInstances per 200
//! nodes, one DescribeSecurityGroups for every group involved, then per distinct VPC (two), per
//! mount target (one: its security groups), per distinct instance profile (one) and per distinct
//! role (two, plus one per policy document).
//!
//! Read right after the resources that made or refreshed the file system and the nodes' IAM
//! objects, in the same provider process, it takes what those creates wrote or those refreshes read
//! from `aws::seen` instead: the profile's roles, the role's managed policies (and, for a role made
//! here, that it has no inline one) and their documents, the mount targets' groups and the file
//! system policy. The nodes, the file system's and mount targets' state, and the security groups'
//! rules are always read. What the refreshes named is read with the nodes (the other mount
//! targets' groups, the rules of the groups and the DNS of the VPC, the roles' inline policies),
//! so that a plan of an applied module reads the checks in one round of calls.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::{join_all, try_join_all};

use crate::aws::ec2::instances::{self, NodeInstance};
use crate::aws::ec2::network::{self, SecurityGroupRules, VpcDns};
use crate::aws::{efs, iam, AwsClients};
use crate::error::Error;

/// The data source's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    pub instance_ids: Vec<String>,
    pub file_system_id: String,
    pub access_point_id: Option<String>,
    pub expected_uid: i64,
    pub expected_gid: i64,
    pub dynamic_provisioning: bool,
    /// Whether the CSI driver's controller runs on the host network (its node pods always do).
    pub controller_host_network: bool,
    pub manifests: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSystem {
    pub id: String,
    pub state: String,
    pub encrypted: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountTarget {
    pub id: String,
    pub subnet_id: String,
    pub availability_zone: String,
    pub vpc_id: Option<String>,
    pub ip_address: Option<String>,
    pub state: String,
    pub security_group_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPoint {
    pub id: String,
    pub file_system_id: String,
    /// The enforced POSIX user (uid, gid), if any.
    pub posix_user: Option<(i64, i64)>,
    pub root_path: String,
    /// Owner (uid, gid) and permissions EFS creates the root directory with, if set.
    pub creation_info: Option<(i64, i64, String)>,
}

/// An instance profile found on a node: its roles, or `None` when the profile does not exist.
pub type ProfileRoles = Option<Vec<String>>;

#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The instances that exist, in the order EC2 answered.
    pub instances: Vec<NodeInstance>,
    pub file_system: Option<FileSystem>,
    pub mount_targets: Vec<MountTarget>,
    pub file_system_policy: Option<String>,
    /// Only when an access point id was given and it exists.
    pub access_point: Option<AccessPoint>,
    pub security_groups: BTreeMap<String, SecurityGroupRules>,
    pub vpc_dns: BTreeMap<String, VpcDns>,
    /// Instance profile ARN to its roles.
    pub profiles: BTreeMap<String, ProfileRoles>,
    /// Role name to its policy documents (attached and inline).
    pub role_documents: BTreeMap<String, Vec<String>>,
}

/// The name of an instance profile from its ARN (`arn:aws:iam::123456789012:instance-profile/path/name`).
pub fn profile_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub async fn gather(aws: &AwsClients, inputs: &Inputs) -> Result<Facts, Error> {
    // What this process wrote to the file system when it made it, or read of it in a refresh, is not
    // asked again (see `aws::seen`): its policy, and the groups of the mount targets it knows.
    let seen = aws.seen.volume(&inputs.file_system_id);
    let access_point = async {
        match &inputs.access_point_id {
            Some(id) => efs::find_access_point_by_id(&aws.efs, id).await,
            None => Ok(None),
        }
    };
    // Each call starts as soon as what it needs is in. First the nodes, the file system with its
    // mount targets, and the access point. The file system's policy is read only once the file
    // system is found (moto answers DescribeFileSystemPolicy on a missing one with HTTP 500); its
    // mount targets are read with it, and their answer (an error, then) is dropped when it is missing.
    let storage = async {
        let (file_system, mount_targets) = tokio::join!(
            efs::find_file_system_by_id(&aws.efs, &inputs.file_system_id),
            efs::find_mount_targets(&aws.efs, &inputs.file_system_id),
        );
        match file_system? {
            Some(file_system) => Ok::<_, Error>((Some(file_system), mount_targets?)),
            None => Ok((None, Vec::new())),
        }
    };
    // With them, what the volume's create or refresh named: the rules of the mount targets' groups
    // it knows and of the groups its NFS group lets in (the nodes' groups, as a rule), and the DNS
    // settings of its VPC. What the nodes turn out to need beyond that is read next.
    let early_groups: BTreeSet<String> = match &seen {
        Some(seen) if !seen.mount_target_groups.is_empty() => {
            seen.mount_target_groups.values().flatten().chain(&seen.nfs_source_groups).cloned().collect()
        }
        _ => BTreeSet::new(),
    };
    let early_vpcs: BTreeSet<String> = seen.iter().filter_map(|seen| seen.vpc_id.clone()).collect();
    // And the groups of the volume's other mount targets, and the policies of the roles of the
    // instance profiles this process made or refreshed (the nodes', as a rule). A read ahead that
    // fails is dropped: what turns out to be needed is read again next, and its error is reported.
    let other_mount_targets = seen.iter().flat_map(|seen| seen.other_mount_targets.iter());
    let early_mount_target_groups = join_all(other_mount_targets.map(|id| async move {
        efs::mount_target_security_groups(&aws.efs, id).await.ok().map(|groups| (id.clone(), groups))
    }));
    let seen_roles: BTreeSet<String> = aws.seen.profiles().into_values().flatten().collect();
    let early_role_documents = join_all(seen_roles.iter().map(|role| async move {
        iam::role_policy_documents(&aws.iam, &aws.seen, role).await.ok().map(|documents| (role.clone(), documents))
    }));
    let (nodes_and_storage, early_mount_target_groups, early_role_documents) = tokio::join!(
        async {
            futures::try_join!(
                instances::describe_node_instances(&aws.ec2, &inputs.instance_ids),
                storage,
                access_point,
                rules_of(aws, &early_groups),
                dns_of(aws, &early_vpcs),
            )
        },
        early_mount_target_groups,
        early_role_documents,
    );
    let (instances, (file_system, mount_targets), access_point, early_rules, early_dns) = nodes_and_storage?;
    let early_mount_target_groups: BTreeMap<String, Vec<String>> =
        early_mount_target_groups.into_iter().flatten().collect();
    let early_role_documents: BTreeMap<String, Vec<String>> = early_role_documents.into_iter().flatten().collect();

    // Then, at once: the DNS settings of the nodes' other VPCs; their profiles and those roles'
    // policies; and the mount targets' groups (EFS leaves them out of DescribeMountTargets: one call
    // per mount target) with the file system policy, then the rules of every other group involved.
    let node_vpcs: BTreeSet<String> = instances.iter().filter_map(|i| i.vpc_id.clone()).collect();
    let other_vpcs: BTreeSet<String> = node_vpcs.difference(&early_vpcs).cloned().collect();
    let vpc_dns = dns_of(aws, &other_vpcs);
    let profile_arns: BTreeSet<&str> = instances.iter().filter_map(|i| i.instance_profile_arn.as_deref()).collect();
    let profiles_and_roles = async {
        let profiles = try_join_all(profile_arns.iter().map(|arn| async move {
            let roles = match aws.seen.profile_roles(profile_name(arn)) {
                Some(roles) => Some(roles),
                None => iam::find_instance_profile_by_name(&aws.iam, profile_name(arn)).await?.map(|p| p.role_names),
            };
            Ok::<_, Error>((arn.to_string(), roles))
        }))
        .await?;
        let profiles: BTreeMap<String, ProfileRoles> = profiles.into_iter().collect();
        let roles: BTreeSet<&String> = profiles.values().flatten().flatten().collect();
        let role_documents = try_join_all(roles.iter().map(|role| async {
            let documents = match early_role_documents.get(*role) {
                Some(documents) => documents.clone(),
                None => iam::role_policy_documents(&aws.iam, &aws.seen, role).await?,
            };
            Ok::<_, Error>((role.to_string(), documents))
        }))
        .await?;
        Ok::<_, Error>((profiles, role_documents))
    };
    let groups_and_rules = async {
        let groups = try_join_all(mount_targets.iter().map(|mt| async {
            let id = mt.mount_target_id();
            let known = seen.as_ref().and_then(|v| v.mount_target_groups.get(id));
            match known.or_else(|| early_mount_target_groups.get(id)) {
                Some(groups) => Ok(groups.clone()),
                None => efs::mount_target_security_groups(&aws.efs, id).await,
            }
        }));
        let policy = async {
            match (&file_system, &seen) {
                (None, _) => Ok(None),
                (Some(_), Some(seen)) => Ok(seen.file_system_policy.clone()),
                (Some(_), None) => efs::find_file_system_policy(&aws.efs, &inputs.file_system_id).await,
            }
        };
        let (groups, policy) = futures::try_join!(groups, policy)?;
        let rest: BTreeSet<String> = instances
            .iter()
            .flat_map(|i| i.security_group_ids.iter())
            .chain(groups.iter().flatten())
            .filter(|group| !early_groups.contains(*group))
            .cloned()
            .collect();
        Ok::<_, Error>((groups, policy, rules_of(aws, &rest).await?))
    };
    let (vpc_dns, (profiles, role_documents), (mount_target_groups, file_system_policy, rules)) =
        futures::try_join!(vpc_dns, profiles_and_roles, groups_and_rules)?;
    let security_groups = early_rules.into_iter().chain(rules);
    // Only the nodes' VPCs are checked, whatever was read early.
    let vpc_dns = early_dns.into_iter().chain(vpc_dns).filter(|(vpc, _)| node_vpcs.contains(vpc));

    Ok(Facts {
        instances,
        file_system: file_system.map(|fs| FileSystem {
            id: fs.file_system_id().to_string(),
            state: fs.life_cycle_state().as_str().to_string(),
            encrypted: fs.encrypted().unwrap_or(false),
        }),
        mount_targets: mount_targets
            .iter()
            .zip(mount_target_groups)
            .map(|(mt, security_group_ids)| MountTarget {
                id: mt.mount_target_id().to_string(),
                subnet_id: mt.subnet_id().to_string(),
                availability_zone: mt.availability_zone_name().unwrap_or_default().to_string(),
                vpc_id: mt.vpc_id().map(str::to_string),
                ip_address: mt.ip_address().map(str::to_string),
                state: mt.life_cycle_state().as_str().to_string(),
                security_group_ids,
            })
            .collect(),
        file_system_policy,
        access_point: access_point.map(|ap| AccessPoint {
            id: ap.access_point_id().unwrap_or_default().to_string(),
            file_system_id: ap.file_system_id().unwrap_or_default().to_string(),
            posix_user: ap.posix_user().map(|u| (u.uid(), u.gid())),
            root_path: ap.root_directory().and_then(|r| r.path()).unwrap_or("/").to_string(),
            creation_info: ap
                .root_directory()
                .and_then(|r| r.creation_info())
                .map(|c| (c.owner_uid(), c.owner_gid(), c.permissions().to_string())),
        }),
        security_groups: security_groups.map(|g| (g.group_id.clone(), g)).collect(),
        vpc_dns: vpc_dns.collect(),
        profiles,
        role_documents: role_documents.into_iter().collect(),
    })
}

/// The rules of `group_ids`, in one call; none without a group.
async fn rules_of(aws: &AwsClients, group_ids: &BTreeSet<String>) -> Result<Vec<SecurityGroupRules>, Error> {
    if group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let group_ids: Vec<String> = group_ids.iter().cloned().collect();
    network::describe_security_group_rules(&aws.ec2, &group_ids).await
}

/// The DNS settings of `vpc_ids`, at once.
async fn dns_of(aws: &AwsClients, vpc_ids: &BTreeSet<String>) -> Result<Vec<(String, VpcDns)>, Error> {
    try_join_all(
        vpc_ids
            .iter()
            .map(|vpc| async move { network::find_vpc_dns(&aws.ec2, vpc).await.map(|dns| (vpc.clone(), dns)) }),
    )
    .await
}
