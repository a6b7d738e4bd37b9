//! Plan-time checks of `efs_prometheus_volume` against AWS, read-only: the ids the plan adds or
//! changes must exist and fit together, so a typo fails at plan and not halfway through apply; and a
//! create must not meet a file system of another owner.

use std::collections::{BTreeMap, BTreeSet};

use super::model::creation_token;
use super::ops::{file_system_not_owned, vpc_of};
use crate::aws::ec2::network;
use crate::aws::efs;
use crate::framework::{AttributePath, Diagnostics, PlanContext, Value};
use crate::provider_config::ProviderData;
use crate::resources::ownership::{Claim, OWNER_TAG};

/// Checks the subnets, security groups and allowed security groups the plan adds or changes.
pub async fn check(p: &ProviderData, plan: &mut PlanContext<'_>) {
    let known_ids = |value: Option<&Value>| -> Option<Vec<String>> {
        value
            .filter(|v| v.is_known())
            .and_then(Value::elements)
            .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>())
    };
    let changed_ids = |name: &str| -> Option<Vec<String>> {
        let ids = known_ids(plan.config.get(name)).filter(|ids| !ids.is_empty())?;
        let prior = plan.prior.get(name).cloned().unwrap_or(Value::Null);
        (plan.prior.is_null() || prior != Value::set_of_strings(ids.clone())).then_some(ids)
    };
    let (subnets, groups, allowed) =
        (changed_ids("subnet_ids"), changed_ids("security_group_ids"), changed_ids("allowed_security_group_ids"));
    let known_subnets = known_ids(plan.config.get("subnet_ids")).filter(|s| !s.is_empty());
    let planned = &plan.planned;
    let is_create = plan.is_create();
    // Three independent groups of reads, at once; their findings are reported in this order.
    let token_free = async {
        let mut diags = Diagnostics::new();
        if is_create {
            check_creation_token_free(p, planned, &mut diags).await;
        }
        diags
    };
    let placement = async {
        let mut diags = Diagnostics::new();
        let mut vpc = None;
        if let Some(ids) = &subnets {
            vpc = check_subnets(p, ids, &mut diags).await;
        }
        if let Some(ids) = &groups {
            if vpc.is_none() {
                // The subnets did not change: the mount targets stay in the VPC of the known subnets.
                if let Some(subnets) = &known_subnets {
                    vpc = vpc_of(&p.aws, &subnets[0]).await.ok().filter(|v| !v.is_empty());
                }
            }
            check_security_groups(p, "security_group_ids", ids, vpc.as_deref(), &mut diags).await;
        }
        diags
    };
    let allowed = async {
        let mut diags = Diagnostics::new();
        if let Some(ids) = &allowed {
            check_security_groups(p, "allowed_security_group_ids", ids, None, &mut diags).await;
        }
        diags
    };
    let (token_free, placement, allowed) = tokio::join!(token_free, placement, allowed);
    for diags in [token_free, placement, allowed] {
        plan.diags.extend(diags);
    }
}

/// A create whose creation token another state's (or a hand-made) file system already has is
/// refused here, at `name`: its apply would refuse it too, after the plan was accepted.
async fn check_creation_token_free(p: &ProviderData, planned: &Value, diags: &mut Diagnostics) {
    let Some(name) = planned.get("name").and_then(Value::as_str) else { return };
    let owner = planned.get("owner_id").and_then(Value::as_str);
    let token = creation_token(name);
    match efs::find_file_system_by_token(&p.aws.efs, &token).await {
        Ok(Some(fs)) => {
            let tag = fs.tags().iter().find(|t| t.key() == OWNER_TAG).map(|t| t.value());
            let found = Claim::of(tag, owner);
            if found != Claim::Ours {
                diags.error_at(
                    AttributePath::root("name"),
                    "File System Belongs To Another Owner",
                    file_system_not_owned(fs.file_system_id(), &token, &found).to_string(),
                );
            }
        }
        Ok(None) => {}
        Err(e) => diags.extend(e.to_diagnostics("Error Reading EFS File Systems")),
    }
}

/// Checks the subnets against AWS: one VPC, at most one per availability zone. Returns the VPC.
async fn check_subnets(p: &ProviderData, subnet_ids: &[String], diags: &mut Diagnostics) -> Option<String> {
    let path = AttributePath::root("subnet_ids");
    let placements = match network::find_subnets(&p.aws.ec2, &p.aws.known, subnet_ids).await {
        Ok(placements) => placements,
        Err(e) => {
            diags.error_at(
                path,
                "Invalid Subnets",
                format!("{e}. Check that every subnet in subnet_ids exists in region {}.", p.region),
            );
            return None;
        }
    };
    let mut by_az: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &placements {
        by_az.entry(&s.availability_zone).or_default().push(&s.subnet_id);
    }
    for (az, ids) in &by_az {
        if ids.len() > 1 {
            diags.error_at(
                path.clone(),
                "Two Subnets In One Availability Zone",
                format!(
                    "Subnets {} are all in {az}, but EFS allows one mount target per availability zone. Keep one of \
                     them in subnet_ids.",
                    ids.join(" and ")
                ),
            );
        }
    }
    let vpcs: BTreeSet<&str> = placements.iter().map(|s| s.vpc_id.as_str()).collect();
    if vpcs.len() > 1 {
        let list: Vec<String> = placements.iter().map(|s| format!("{} ({})", s.subnet_id, s.vpc_id)).collect();
        diags.error_at(
            path.clone(),
            "Subnets In Different VPCs",
            format!(
                "All mount targets of a file system must be in one VPC, but the subnets are in several: {}. Keep \
                 only subnets of the cluster's VPC in subnet_ids.",
                list.join(", ")
            ),
        );
    }
    if let Some(az) = single_zone(&placements) {
        diags.warning_at(
            path,
            "All Mount Targets In One Availability Zone",
            format!("Every subnet is in {az}: Prometheus loses its volume when that zone fails. Add a subnet in another zone."),
        );
    }
    placements.first().map(|s| s.vpc_id.clone())
}

/// Checks the security groups named in `attribute` against AWS: each must exist, and with `vpc`
/// given (the mount targets' VPC, for `security_group_ids`) be in that VPC, since a mount target
/// only takes groups of its own VPC.
async fn check_security_groups(
    p: &ProviderData,
    attribute: &str,
    ids: &[String],
    vpc: Option<&str>,
    diags: &mut Diagnostics,
) {
    let path = AttributePath::root(attribute);
    let found = match network::find_security_group_vpcs(&p.aws.ec2, ids).await {
        Ok(found) => found,
        Err(e) => {
            diags.extend(e.to_diagnostics("Error Reading EC2 Security Groups"));
            return;
        }
    };
    let missing: Vec<&str> = ids.iter().filter(|id| !found.contains_key(*id)).map(String::as_str).collect();
    if !missing.is_empty() {
        diags.error_at(
            path.clone(),
            "Unknown Security Groups",
            format!(
                "{attribute} names security groups that do not exist in region {}: {}. Check the ids, or create \
                 the groups first and reference them (for example aws_security_group.<name>.id).",
                p.region,
                missing.join(", ")
            ),
        );
    }
    if let Some(vpc) = vpc {
        let elsewhere: Vec<String> =
            found.iter().filter(|(_, v)| v.as_str() != vpc).map(|(id, v)| format!("{id} ({v})")).collect();
        if !elsewhere.is_empty() {
            diags.error_at(
                path,
                "Security Groups In Another VPC",
                format!(
                    "{attribute} must be security groups of the subnets' VPC {vpc}, where the mount targets are; \
                     these are not: {}. Use groups of {vpc}, or leave {attribute} out and set \
                     allowed_security_group_ids so this resource creates one.",
                    elsewhere.join(", ")
                ),
            );
        }
    }
}

/// The availability zone every mount target would be in, when there is exactly one subnet. Several
/// subnets in one zone are already the "one mount target per zone" error, so they get no warning.
fn single_zone(placements: &[network::SubnetPlacement]) -> Option<&str> {
    match placements {
        [only] => Some(&only.availability_zone),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(subnet: &str, az: &str) -> network::SubnetPlacement {
        network::SubnetPlacement { subnet_id: subnet.into(), vpc_id: "vpc-1".into(), availability_zone: az.into() }
    }

    #[test]
    fn single_zone_warns_only_for_one_subnet() {
        assert_eq!(single_zone(&[placement("subnet-a", "us-east-1a")]), Some("us-east-1a"));
        // Spread over zones: nothing to warn about.
        assert_eq!(single_zone(&[placement("subnet-a", "us-east-1a"), placement("subnet-b", "us-east-1b")]), None);
        // Two in one zone is the error "Two Subnets In One Availability Zone", not also a warning.
        assert_eq!(single_zone(&[placement("subnet-a", "us-east-1a"), placement("subnet-b", "us-east-1a")]), None);
        assert_eq!(single_zone(&[]), None);
    }
}
