//! EC2 networking: subnets, VPCs and security groups.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, UserIdGroupPair};
use tokio_util::sync::CancellationToken;

use crate::aws::wait::retry_while;
use crate::aws::{AwsResultExt, KnownFacts, NotFoundExt};
use crate::error::Error;

/// The NFS port EFS mount targets listen on.
pub const NFS_PORT: i32 = 2049;

/// Where a subnet is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetPlacement {
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
}

/// Looks up the given subnets; a missing one is an error naming it (`InvalidSubnetID.NotFound`).
/// Subnets `known` already holds are not asked again (a subnet's VPC and zone never change).
pub async fn find_subnets(
    ec2: &aws_sdk_ec2::Client,
    known: &KnownFacts,
    ids: &[String],
) -> Result<Vec<SubnetPlacement>, Error> {
    if let Some(placements) = known.subnets(ids) {
        return Ok(placements);
    }
    let placements = describe_subnets(ec2, ids).await?;
    known.remember_subnets(&placements);
    Ok(placements)
}

async fn describe_subnets(ec2: &aws_sdk_ec2::Client, ids: &[String]) -> Result<Vec<SubnetPlacement>, Error> {
    let out = ec2
        .describe_subnets()
        .set_subnet_ids(Some(ids.to_vec()))
        .send()
        .await
        .context("reading EC2 Subnets", &ids.join(", "))?;
    Ok(out
        .subnets()
        .iter()
        .map(|s| SubnetPlacement {
            subnet_id: s.subnet_id().unwrap_or_default().to_string(),
            vpc_id: s.vpc_id().unwrap_or_default().to_string(),
            availability_zone: s.availability_zone().unwrap_or_default().to_string(),
        })
        .collect())
}

/// The VPC of each given security group that exists, by group id (unknown ids are left out, so a
/// caller can name every missing one).
pub async fn find_security_group_vpcs(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<BTreeMap<String, String>, Error> {
    Ok(describe_security_group_rules(ec2, ids)
        .await?
        .into_iter()
        .map(|group| (group.group_id, group.vpc_id.unwrap_or_default()))
        .collect())
}

/// Who may reach the NFS port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NfsSources {
    pub security_group_ids: Vec<String>,
    pub cidr_blocks: Vec<String>,
}

/// How long a new security group may stay invisible to other EC2 calls.
const NEW_GROUP_VISIBLE_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// Creates a security group in `vpc_id` for NFS to mount targets, without rules yet: the mount
/// targets can be made with it while [`authorize_nfs_on_new_group`] adds its rule.
pub async fn create_nfs_security_group(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    vpc_id: &str,
    tags: &[(String, String)],
) -> Result<String, Error> {
    let tag_spec = TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build();
    let out = ec2
        .create_security_group()
        .group_name(name)
        .description("NFS (tcp 2049) to the EFS mount targets of a Prometheus volume")
        .vpc_id(vpc_id)
        .tag_specifications(tag_spec)
        .send()
        .await
        .context("creating EC2 Security Group", name)?;
    Ok(out.group_id().unwrap_or_default().to_string())
}

/// Allows tcp 2049 from `sources` on a group [`create_nfs_security_group`] has just made. EC2 may
/// answer `InvalidGroup.NotFound` for a group it has just made: that is waited out.
pub async fn authorize_nfs_on_new_group(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
    sources: &NfsSources,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    if sources.security_group_ids.is_empty() && sources.cidr_blocks.is_empty() {
        return Ok(());
    }
    let what = format!("authorizing NFS on new EC2 Security Group {group_id}");
    retry_while(
        &what,
        NEW_GROUP_VISIBLE_TIMEOUT,
        cancel,
        |e| e.is_aws("InvalidGroup.NotFound"),
        || authorize_nfs(ec2, group_id, sources),
    )
    .await
}

/// Sets tags `tags` on the security group and removes the keys `removed`.
pub async fn retag_security_group(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
    tags: &[(String, String)],
    removed: &[String],
) -> Result<(), Error> {
    if !removed.is_empty() {
        ec2.delete_tags()
            .resources(group_id)
            .set_tags(Some(removed.iter().map(|k| Tag::builder().key(k).build()).collect()))
            .send()
            .await
            .context("untagging EC2 Security Group", group_id)?;
    }
    ec2.create_tags()
        .resources(group_id)
        .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .send()
        .await
        .context("tagging EC2 Security Group", group_id)?;
    Ok(())
}

fn nfs_permission(sources: &NfsSources) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(NFS_PORT)
        .to_port(NFS_PORT)
        .set_ip_ranges(Some(sources.cidr_blocks.iter().map(|c| IpRange::builder().cidr_ip(c).build()).collect()))
        .set_user_id_group_pairs(Some(
            sources.security_group_ids.iter().map(|g| UserIdGroupPair::builder().group_id(g).build()).collect(),
        ))
        .build()
}

/// Allows NFS from `sources`. EC2 refuses the whole call with `InvalidPermission.Duplicate` when a
/// rule exists already (e.g. an earlier attempt's answer was lost): then only the missing sources
/// are added.
pub async fn authorize_nfs(ec2: &aws_sdk_ec2::Client, group_id: &str, sources: &NfsSources) -> Result<(), Error> {
    let send = |sources: NfsSources| async move {
        ec2.authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(nfs_permission(&sources))
            .send()
            .await
            .context("authorizing NFS ingress on EC2 Security Group", group_id)
            .map(|_| ())
    };
    match send(sources.clone()).await {
        Err(e) if e.is_aws("InvalidPermission.Duplicate") => {
            let present = find_nfs_sources(ec2, group_id).await?.unwrap_or_default();
            let missing = missing_sources(sources, &present);
            if missing == NfsSources::default() {
                Ok(())
            } else {
                send(missing).await
            }
        }
        other => other,
    }
}

/// The sources of `wanted` that `present` lacks.
fn missing_sources(wanted: &NfsSources, present: &NfsSources) -> NfsSources {
    NfsSources {
        security_group_ids: wanted
            .security_group_ids
            .iter()
            .filter(|g| !present.security_group_ids.contains(g))
            .cloned()
            .collect(),
        cidr_blocks: wanted.cidr_blocks.iter().filter(|c| !present.cidr_blocks.contains(c)).cloned().collect(),
    }
}

pub async fn revoke_nfs(ec2: &aws_sdk_ec2::Client, group_id: &str, sources: &NfsSources) -> Result<(), Error> {
    ec2.revoke_security_group_ingress()
        .group_id(group_id)
        .ip_permissions(nfs_permission(sources))
        .send()
        .await
        .context("revoking NFS ingress on EC2 Security Group", group_id)?;
    Ok(())
}

/// The NFS sources a security group currently allows, or `None` when the group is gone.
pub async fn find_nfs_sources(ec2: &aws_sdk_ec2::Client, group_id: &str) -> Result<Option<NfsSources>, Error> {
    let out = match ec2.describe_security_groups().group_ids(group_id).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = Err::<(), _>(e).context("reading EC2 Security Group", group_id).unwrap_err();
            return if e.is_aws("InvalidGroup.NotFound") { Ok(None) } else { Err(e) };
        }
    };
    let Some(group) = out.security_groups().first() else {
        return Ok(None);
    };
    let mut sources = NfsSources::default();
    for permission in group.ip_permissions() {
        if permission.from_port() != Some(NFS_PORT) {
            continue;
        }
        sources.cidr_blocks.extend(permission.ip_ranges().iter().filter_map(|r| r.cidr_ip().map(str::to_string)));
        sources
            .security_group_ids
            .extend(permission.user_id_group_pairs().iter().filter_map(|p| p.group_id().map(str::to_string)));
    }
    sources.cidr_blocks.sort();
    sources.security_group_ids.sort();
    Ok(Some(sources))
}

/// The id of the security group named `name` in `vpc_id` carrying tag `key=value`, if any.
pub async fn find_security_group_by_name(
    ec2: &aws_sdk_ec2::Client,
    vpc_id: &str,
    name: &str,
) -> Result<Option<(String, Vec<(String, String)>)>, Error> {
    let out = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .context("reading EC2 Security Groups", name)?;
    Ok(out.security_groups().first().map(|g| {
        let tags = g
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
            .collect();
        (g.group_id().unwrap_or_default().to_string(), tags)
    }))
}

/// Deletes a security group; gone already is success. `DependencyViolation` is retried until
/// `timeout` because the ENIs of just-deleted mount targets take a while to be released.
pub async fn delete_security_group(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let result = retry_while(
        &format!("deleting EC2 Security Group {group_id}"),
        timeout,
        cancel,
        |e| e.is_aws("DependencyViolation"),
        || async {
            ec2.delete_security_group()
                .group_id(group_id)
                .send()
                .await
                .context("deleting EC2 Security Group", group_id)
                .map(|_| ())
        },
    )
    .await;
    result.or_not_found(&["InvalidGroup.NotFound"]).map(drop)
}

/// One rule of a security group, in either direction: a protocol (`tcp`, `-1` for all, ...), a port
/// range, and the peers (CIDR blocks and security groups) it admits or reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityGroupRule {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_blocks: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// A security group's rules, as the readiness checks need them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityGroupRules {
    pub group_id: String,
    pub vpc_id: Option<String>,
    pub ingress: Vec<SecurityGroupRule>,
    pub egress: Vec<SecurityGroupRule>,
}

fn rules(permissions: &[IpPermission]) -> Vec<SecurityGroupRule> {
    permissions
        .iter()
        .map(|p| SecurityGroupRule {
            protocol: p.ip_protocol().unwrap_or("-1").to_string(),
            from_port: p.from_port(),
            to_port: p.to_port(),
            cidr_blocks: p.ip_ranges().iter().filter_map(|r| r.cidr_ip().map(str::to_string)).collect(),
            security_group_ids: p
                .user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect(),
        })
        .collect()
}

/// The rules of the given security groups that exist (missing ones are left out), in one
/// DescribeSecurityGroups call per 200 groups (plus pages): a `group-id` filter rather than
/// `GroupIds`, so one missing group does not fail the whole call.
pub async fn describe_security_group_rules(
    ec2: &aws_sdk_ec2::Client,
    group_ids: &[String],
) -> Result<Vec<SecurityGroupRules>, Error> {
    let mut found = Vec::new();
    for chunk in group_ids.chunks(200) {
        let mut token = None;
        loop {
            let out = ec2
                .describe_security_groups()
                .filters(Filter::builder().name("group-id").set_values(Some(chunk.to_vec())).build())
                .set_next_token(token)
                .send()
                .await
                .context("reading EC2 Security Groups", &chunk.join(", "))?;
            found.extend(out.security_groups().iter().map(|g| SecurityGroupRules {
                group_id: g.group_id().unwrap_or_default().to_string(),
                vpc_id: g.vpc_id().map(str::to_string),
                ingress: rules(g.ip_permissions()),
                egress: rules(g.ip_permissions_egress()),
            }));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

/// Whether a VPC has DNS resolution (`enableDnsSupport`) and DNS hostnames (`enableDnsHostnames`)
/// on: two DescribeVpcAttribute calls, the only API that reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VpcDns {
    pub support: bool,
    pub hostnames: bool,
}

pub async fn find_vpc_dns(ec2: &aws_sdk_ec2::Client, vpc_id: &str) -> Result<VpcDns, Error> {
    use aws_sdk_ec2::types::VpcAttributeName;
    let attribute = |name: VpcAttributeName| async move {
        let action = format!("reading EC2 VPC attribute {}", name.as_str());
        ec2.describe_vpc_attribute().vpc_id(vpc_id).attribute(name).send().await.context(&action, vpc_id)
    };
    // One attribute per call, both at once.
    let (support, hostnames) = futures::try_join!(
        attribute(VpcAttributeName::EnableDnsSupport),
        attribute(VpcAttributeName::EnableDnsHostnames)
    )?;
    Ok(VpcDns {
        support: support.enable_dns_support().and_then(|v| v.value()).unwrap_or(false),
        hostnames: hostnames.enable_dns_hostnames().and_then(|v| v.value()).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(groups: &[&str], cidrs: &[&str]) -> NfsSources {
        NfsSources {
            security_group_ids: groups.iter().map(|g| g.to_string()).collect(),
            cidr_blocks: cidrs.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_duplicate_rule_leaves_only_the_missing_sources_to_add() {
        let wanted = sources(&["sg-nodes", "sg-extra"], &["10.0.0.0/16"]);
        assert_eq!(missing_sources(&wanted, &wanted), NfsSources::default());
        assert_eq!(missing_sources(&wanted, &sources(&["sg-nodes"], &[])), sources(&["sg-extra"], &["10.0.0.0/16"]));
        // Sources present beyond the wanted ones are not this function's business.
        assert_eq!(missing_sources(&sources(&[], &[]), &wanted), NfsSources::default());
    }
}
