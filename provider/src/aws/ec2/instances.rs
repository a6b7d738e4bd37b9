//! EC2 instances: IAM instance profile associations and instance metadata options.

use std::time::Duration;

use aws_sdk_ec2::types::{
    Filter, HttpTokensState, IamInstanceProfileAssociationState, IamInstanceProfileSpecification,
};
use aws_sdk_ec2::Client;
use tokio_util::sync::CancellationToken;

use crate::aws::wait::{retry_while, StateWaiter, IAM_PROPAGATION_TIMEOUT, NOT_FOUND};
use crate::aws::{AwsResultExt, NotFoundExt};
use crate::error::Error;

/// An instance's current (associating or associated) instance profile association.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Association {
    pub association_id: String,
    pub instance_id: String,
    pub profile_arn: String,
    pub state: String,
}

/// An instance's metadata options as this provider manages them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataOptions {
    pub instance_id: String,
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i32>,
    /// `pending` while a change is being applied, then `applied`.
    pub state: Option<String>,
}

/// How long EC2 may take to apply a metadata options change.
const METADATA_APPLIED_TIMEOUT: Duration = Duration::from_secs(5 * 60);

fn is_live(state: Option<&IamInstanceProfileAssociationState>) -> bool {
    matches!(
        state,
        Some(IamInstanceProfileAssociationState::Associated | IamInstanceProfileAssociationState::Associating)
    )
}

/// A `disassociating` association still occupies its instance: EC2 answers `IncorrectState` to a
/// new association until it is gone.
fn is_leaving(state: Option<&IamInstanceProfileAssociationState>) -> bool {
    matches!(state, Some(IamInstanceProfileAssociationState::Disassociating))
}

/// How long a new association may take to show in DescribeIamInstanceProfileAssociations.
const ASSOCIATION_VISIBLE_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// Every live association, optionally only for `instance_ids` (an empty filter value list is refused by EC2,
/// so `None` means all). Instance ids are sent in filters of at most [`MAX_FILTER_VALUES`].
pub async fn list_associations(ec2: &Client, instance_ids: Option<&[String]>) -> Result<Vec<Association>, Error> {
    list_associations_in(ec2, instance_ids, is_live).await
}

/// [`list_associations`] with the `disassociating` ones too.
async fn list_associations_or_leaving(ec2: &Client, instance_ids: &[String]) -> Result<Vec<Association>, Error> {
    list_associations_in(ec2, Some(instance_ids), |s| is_live(s) || is_leaving(s)).await
}

async fn list_associations_in(
    ec2: &Client,
    instance_ids: Option<&[String]>,
    wanted: fn(Option<&IamInstanceProfileAssociationState>) -> bool,
) -> Result<Vec<Association>, Error> {
    let Some(ids) = instance_ids else {
        return list_associations_filtered(ec2, None, wanted).await;
    };
    let mut found = Vec::new();
    for chunk in ids.chunks(MAX_FILTER_VALUES) {
        found.extend(list_associations_filtered(ec2, Some(chunk), wanted).await?);
    }
    Ok(found)
}

async fn list_associations_filtered(
    ec2: &Client,
    instance_ids: Option<&[String]>,
    wanted: fn(Option<&IamInstanceProfileAssociationState>) -> bool,
) -> Result<Vec<Association>, Error> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let mut request = ec2.describe_iam_instance_profile_associations().set_next_token(token);
        if let Some(ids) = instance_ids {
            request = request.filters(Filter::builder().name("instance-id").set_values(Some(ids.to_vec())).build());
        }
        let out = request.send().await.context("listing IAM Instance Profile associations", "EC2")?;
        found.extend(out.iam_instance_profile_associations().iter().filter(|a| wanted(a.state())).map(|a| {
            Association {
                association_id: a.association_id().unwrap_or_default().to_string(),
                instance_id: a.instance_id().unwrap_or_default().to_string(),
                profile_arn: a.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default().to_string(),
                state: a.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
            }
        }));
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// EC2's answer to an association call (associate, replace, disassociate) on an instance that is
/// neither `running` nor `stopped`: `pending`, `stopping`, `shutting-down` or `terminated`.
pub const INCORRECT_INSTANCE_STATE: &str = "IncorrectInstanceState";

/// How long an instance may take from `pending` to `running` or from `stopping` to `stopped`.
const INSTANCE_SETTLED_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Waits until the instance is `running` or `stopped`, the states in which EC2 lets its instance
/// profile association change, and returns that state. `pending` and `stopping` are waited for,
/// within `timeout` (at most [`INSTANCE_SETTLED_TIMEOUT`]); `terminated` is a target too when
/// `terminated_is_done` (a disassociation: the association goes with the instance). Any other
/// state, or an instance that is not found, fails at once, naming the instance and its state.
pub async fn wait_instance_settled(
    ec2: &Client,
    instance_id: &str,
    terminated_is_done: bool,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let target: &[&str] =
        if terminated_is_done { &["running", "stopped", "terminated"] } else { &["running", "stopped"] };
    let waiter = StateWaiter {
        object: &format!("EC2 Instance {instance_id}"),
        pending: &["pending", "stopping"],
        target,
        timeout: timeout.min(INSTANCE_SETTLED_TIMEOUT),
    };
    let find = || async {
        Ok(describe_node_instances(ec2, &[instance_id.to_string()])
            .await?
            .into_iter()
            .find(|i| i.instance_id == instance_id))
    };
    waiter.wait_found(cancel, find, |i: &NodeInstance| i.state.as_str()).await.map(|i| i.state)
}

/// Runs an association call; when EC2 refuses it for the instance's state, waits until the
/// instance is `running` or `stopped` (see [`wait_instance_settled`]) and runs it once more.
/// `None` when the instance turned out `terminated` and `terminated_is_done`.
async fn when_instance_settled<T, F, Fut>(
    ec2: &Client,
    instance_id: &str,
    terminated_is_done: bool,
    timeout: Duration,
    cancel: &CancellationToken,
    mut call: F,
) -> Result<Option<T>, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    match call().await {
        Err(e) if e.is_aws(INCORRECT_INSTANCE_STATE) => {
            if wait_instance_settled(ec2, instance_id, terminated_is_done, timeout, cancel).await? == "terminated" {
                return Ok(None);
            }
            call().await.map(Some)
        }
        other => other.map(Some),
    }
}

/// AssociateIamInstanceProfile rejects a just-created instance profile with `InvalidParameterValue` until IAM
/// has propagated it; that is the one error retried, within [`IAM_PROPAGATION_TIMEOUT`].
fn is_profile_propagation_error(error: &Error) -> bool {
    error.is_aws("InvalidParameterValue")
}

/// Associates the profile with the instance and returns the association id.
///
/// An instance has at most one association, and EC2 answers `IncorrectState` for a second one; when
/// the existing one is of this very profile (an earlier attempt's answer was lost), it is the result.
/// When it is one still `disassociating` (a replacement: destroy, then create on the same nodes),
/// its end is waited for and the association made then.
pub async fn associate(
    ec2: &Client,
    instance_id: &str,
    profile_arn: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let first = when_instance_settled(ec2, instance_id, false, timeout, cancel, || {
        associate_once(ec2, instance_id, profile_arn, cancel)
    })
    .await
    .map(Option::unwrap_or_default);
    match first {
        Err(e) if e.is_aws("IncorrectState") => {
            let current = list_associations_or_leaving(ec2, &[instance_id.to_string()]).await?;
            let leaving: Vec<String> =
                current.iter().filter(|a| a.state == "disassociating").map(|a| a.association_id.clone()).collect();
            if let Some(existing) = current.iter().find(|a| a.state != "disassociating") {
                return if existing.profile_arn == profile_arn { Ok(existing.association_id.clone()) } else { Err(e) };
            }
            if leaving.is_empty() {
                // No association explains the refusal: in another reading of EC2's documentation
                // it is the instance's own state (`pending`, `stopping`), answered as IncorrectState.
                wait_instance_settled(ec2, instance_id, false, timeout, cancel).await?;
                return associate_once(ec2, instance_id, profile_arn, cancel).await;
            }
            wait_associations_deleted(ec2, &[instance_id.to_string()], &leaving, timeout, cancel).await?;
            associate_once(ec2, instance_id, profile_arn, cancel).await
        }
        other => other,
    }
}

async fn associate_once(
    ec2: &Client,
    instance_id: &str,
    profile_arn: &str,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let what = format!("associating IAM Instance Profile {profile_arn} with EC2 Instance {instance_id}");
    let associated = retry_while(&what, IAM_PROPAGATION_TIMEOUT, cancel, is_profile_propagation_error, || async {
        let out = ec2
            .associate_iam_instance_profile()
            .instance_id(instance_id)
            .iam_instance_profile(IamInstanceProfileSpecification::builder().arn(profile_arn).build())
            .send()
            .await
            .context("associating IAM Instance Profile with EC2 Instance", instance_id)?;
        Ok(out.iam_instance_profile_association().and_then(|a| a.association_id()).unwrap_or_default().to_string())
    })
    .await;
    associated
}

/// Waits until every association in `association_ids` is listed: EC2 may leave one just made out
/// of DescribeIamInstanceProfileAssociations for a while, and a refresh would then see an instance
/// without its profile. The answer is the live associations of `instance_ids` as last listed.
pub async fn wait_associations_visible(
    ec2: &Client,
    instance_ids: &[String],
    association_ids: &[String],
    cancel: &CancellationToken,
) -> Result<Vec<Association>, Error> {
    let waiter = StateWaiter {
        object: &format!("IAM Instance Profile associations {}", association_ids.join(", ")),
        pending: &["not yet listed"],
        target: &["listed"],
        timeout: ASSOCIATION_VISIBLE_TIMEOUT,
    };
    let listed = || async {
        let live = list_associations(ec2, Some(instance_ids)).await?;
        let all = association_ids.iter().all(|id| live.iter().any(|a| a.association_id == *id));
        Ok(Some((if all { "listed" } else { "not yet listed" }.to_string(), live)))
    };
    waiter.wait_found(cancel, listed, |(state, _)| state.as_str()).await.map(|(_, live)| live)
}

/// Replaces an existing association's profile; returns the (possibly new) association id. EC2
/// allows it on a `running` or `stopped` instance; one `pending` or `stopping` is waited for.
///
/// EC2's documentation also reads as "running only". Where a settled instance still refuses with
/// `IncorrectInstanceState`, the old association is removed, its end waited for, and the profile
/// associated anew: the instance has no profile in between, which is what a stopped instance
/// notices least (a crash in between leaves a node without association, which the next plan shows).
pub async fn replace_association(
    ec2: &Client,
    association_id: &str,
    instance_id: &str,
    profile_arn: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let replaced = when_instance_settled(ec2, instance_id, false, timeout, cancel, || {
        replace_once(ec2, association_id, instance_id, profile_arn, cancel)
    })
    .await;
    match replaced {
        Err(e) if e.is_aws(INCORRECT_INSTANCE_STATE) => {
            disassociate(ec2, association_id, instance_id, timeout, cancel).await?;
            let instance = [instance_id.to_string()];
            wait_associations_deleted(ec2, &instance, &[association_id.to_string()], timeout, cancel).await?;
            associate(ec2, instance_id, profile_arn, timeout, cancel).await
        }
        replaced => Ok(replaced?.unwrap_or_default()),
    }
}

async fn replace_once(
    ec2: &Client,
    association_id: &str,
    instance_id: &str,
    profile_arn: &str,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    let what = format!("replacing the IAM Instance Profile of EC2 Instance {instance_id}");
    retry_while(&what, IAM_PROPAGATION_TIMEOUT, cancel, is_profile_propagation_error, || async {
        let out = ec2
            .replace_iam_instance_profile_association()
            .association_id(association_id)
            .iam_instance_profile(IamInstanceProfileSpecification::builder().arn(profile_arn).build())
            .send()
            .await
            .context("replacing IAM Instance Profile association", &format!("{association_id} on {instance_id}"))?;
        Ok(out
            .iam_instance_profile_association()
            .and_then(|a| a.association_id())
            .unwrap_or(association_id)
            .to_string())
    })
    .await
}

/// Disassociates; an association that is already gone is success, and so is one whose instance
/// turns out `terminated`. An instance `pending` or `stopping` is waited for.
pub async fn disassociate(
    ec2: &Client,
    association_id: &str,
    instance_id: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let disassociated = when_instance_settled(ec2, instance_id, true, timeout, cancel, || async {
        ec2.disassociate_iam_instance_profile()
            .association_id(association_id)
            .send()
            .await
            .context("disassociating IAM Instance Profile", association_id)
            .or_not_found(&["InvalidAssociationID.NotFound"])
    })
    .await;
    disassociated.map(drop)
}

/// Waits until none of `association_ids` is live any more.
pub async fn wait_associations_deleted(
    ec2: &Client,
    instance_ids: &[String],
    association_ids: &[String],
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    if association_ids.is_empty() {
        return Ok(());
    }
    // `disassociating` ones are listed too: the instance takes no new association until they are gone.
    let waiter = StateWaiter {
        object: &format!("IAM Instance Profile associations {}", association_ids.join(", ")),
        pending: &["associated", "associating", "disassociating"],
        target: &[NOT_FOUND],
        timeout,
    };
    let first_remaining = || async {
        let live = list_associations_or_leaving(ec2, instance_ids).await?;
        Ok(live.into_iter().find(|a| association_ids.contains(&a.association_id)))
    };
    waiter.wait(cancel, first_remaining, |a: &Association| a.state.as_str()).await.map(drop)
}

/// The metadata options of the given instances that exist (missing ids are skipped, not an error).
pub async fn describe_metadata_options(ec2: &Client, instance_ids: &[String]) -> Result<Vec<MetadataOptions>, Error> {
    Ok(describe_node_instances(ec2, instance_ids)
        .await?
        .into_iter()
        .map(|instance| MetadataOptions {
            instance_id: instance.instance_id,
            http_tokens: instance.http_tokens,
            http_put_response_hop_limit: instance.http_put_response_hop_limit,
            state: instance.metadata_state,
        })
        .collect())
}

/// Changes an instance's metadata options. Both values are always sent: the caller passes the
/// current value for one it does not manage, because what EC2 does with an omitted value is not the
/// same in every reading of its documentation (kept, or reset to a default that depends on the
/// AMI), and a change of `http_tokens` nobody asked for can cut pods off their credentials.
pub async fn modify_metadata_options(
    ec2: &Client,
    instance_id: &str,
    http_tokens: Option<&str>,
    hop_limit: Option<i32>,
) -> Result<(), Error> {
    ec2.modify_instance_metadata_options()
        .instance_id(instance_id)
        .set_http_tokens(http_tokens.map(HttpTokensState::from))
        .set_http_put_response_hop_limit(hop_limit)
        .send()
        .await
        .context("modifying EC2 Instance metadata options", instance_id)
        .map(|_| ())
}

/// Waits until the metadata options of every instance in `instance_ids` are `applied` (they are
/// `pending` after a change, and the old values hold meanwhile).
pub async fn wait_metadata_options_applied(
    ec2: &Client,
    instance_ids: &[String],
    cancel: &CancellationToken,
) -> Result<(), Error> {
    if instance_ids.is_empty() {
        return Ok(());
    }
    let waiter = StateWaiter {
        object: &format!("metadata options of EC2 Instances {}", instance_ids.join(", ")),
        pending: &["pending"],
        target: &["applied"],
        timeout: METADATA_APPLIED_TIMEOUT,
    };
    let all_applied = || async {
        let found = describe_metadata_options(ec2, instance_ids).await?;
        let pending = found.iter().any(|o| o.state.as_deref() == Some("pending"));
        Ok(Some(if pending { "pending" } else { "applied" }))
    };
    waiter.wait_found(cancel, all_applied, |state: &&str| state).await.map(drop)
}

/// What the readiness checks read of one instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInstance {
    pub instance_id: String,
    /// `pending`, `running`, `stopped`, ...
    pub state: String,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub security_group_ids: Vec<String>,
    pub instance_profile_arn: Option<String>,
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i32>,
    /// `enabled` or `disabled`.
    pub http_endpoint: Option<String>,
    /// Of the metadata options: `pending` or `applied`.
    pub metadata_state: Option<String>,
}

/// EC2 accepts at most 200 values per filter.
const MAX_FILTER_VALUES: usize = 200;

/// The given instances that exist (missing ids are left out, not an error), in as few DescribeInstances
/// calls as EC2 allows: one per 200 ids (plus pages). A filter instead of InstanceIds: an unknown id
/// then yields nothing instead of failing the call.
pub async fn describe_node_instances(ec2: &Client, instance_ids: &[String]) -> Result<Vec<NodeInstance>, Error> {
    let mut found = Vec::new();
    for chunk in instance_ids.chunks(MAX_FILTER_VALUES) {
        let mut token = None;
        loop {
            let out = ec2
                .describe_instances()
                .filters(Filter::builder().name("instance-id").set_values(Some(chunk.to_vec())).build())
                .set_next_token(token)
                .send()
                .await
                .context("describing EC2 Instances", &chunk.join(", "))?;
            for instance in out.reservations().iter().flat_map(|r| r.instances()) {
                let options = instance.metadata_options();
                found.push(NodeInstance {
                    instance_id: instance.instance_id().unwrap_or_default().to_string(),
                    state: instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default(),
                    vpc_id: instance.vpc_id().map(str::to_string),
                    subnet_id: instance.subnet_id().map(str::to_string),
                    availability_zone: instance.placement().and_then(|p| p.availability_zone()).map(str::to_string),
                    private_ip: instance.private_ip_address().map(str::to_string),
                    security_group_ids: instance
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect(),
                    instance_profile_arn: instance.iam_instance_profile().and_then(|p| p.arn()).map(str::to_string),
                    http_tokens: options.and_then(|o| o.http_tokens()).map(|t| t.as_str().to_string()),
                    http_put_response_hop_limit: options.and_then(|o| o.http_put_response_hop_limit()),
                    http_endpoint: options.and_then(|o| o.http_endpoint()).map(|e| e.as_str().to_string()),
                    metadata_state: options.and_then(|o| o.state()).map(|s| s.as_str().to_string()),
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

/// SDK-level replay of DescribeInstances for many nodes: the ids go in batches of 200 filter values,
/// and the fields the readiness checks use are read from EC2's XML.
#[cfg(test)]
mod tests {
    use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_runtime_api::http::{Request, Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn instances_xml(ids: &[String]) -> String {
        let items: String = ids
            .iter()
            .map(|id| {
                format!(
                    "<item><instanceId>{id}</instanceId><instanceState><code>16</code><name>running</name></instanceState>\
                     <placement><availabilityZone>us-east-1a</availabilityZone></placement><subnetId>subnet-1</subnetId>\
                     <vpcId>vpc-1</vpcId><privateIpAddress>10.0.1.9</privateIpAddress>\
                     <groupSet><item><groupId>sg-nodes</groupId><groupName>nodes</groupName></item></groupSet>\
                     <iamInstanceProfile><arn>arn:aws:iam::123456789012:instance-profile/nodes</arn><id>AIPA1</id></iamInstanceProfile>\
                     <metadataOptions><state>applied</state><httpTokens>required</httpTokens>\
                     <httpPutResponseHopLimit>2</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint></metadataOptions></item>"
                )
            })
            .collect();
        format!(
            "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId>\
             <reservationSet><item><reservationId>r-1</reservationId><instancesSet>{items}</instancesSet></item>\
             </reservationSet></DescribeInstancesResponse>"
        )
    }

    /// An EC2 client whose HTTP calls are answered by `replay`.
    fn client(replay: &StaticReplayClient) -> Client {
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .http_client(replay.clone())
            .build();
        Client::from_conf(config)
    }

    /// The bodies of the requests the client sent.
    fn request_bodies(replay: &StaticReplayClient) -> Vec<String> {
        replay
            .actual_requests()
            .map(|r| String::from_utf8_lossy(r.body().bytes().unwrap_or_default()).into_owned())
            .collect()
    }

    fn event(ids: &[String]) -> ReplayEvent {
        let request = Request::new(SdkBody::empty());
        let response = Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(instances_xml(ids)));
        ReplayEvent::new(request, response)
    }

    #[tokio::test]
    async fn describes_250_nodes_in_two_calls_and_reads_what_the_checks_need() {
        let ids: Vec<String> = (0..250).map(|i| format!("i-{i:017x}")).collect();
        let replay = StaticReplayClient::new(vec![event(&ids[..200]), event(&ids[200..])]);
        let found = describe_node_instances(&client(&replay), &ids).await.unwrap();

        let bodies = request_bodies(&replay);
        assert_eq!(bodies.len(), 2, "one call per 200 ids");
        assert!(bodies[0].contains("Filter.1.Value.200=") && !bodies[0].contains("Filter.1.Value.201="));
        assert!(bodies[1].contains("Filter.1.Value.50=") && !bodies[1].contains("Filter.1.Value.51="));
        assert_eq!(found.len(), 250);
        assert_eq!(
            found[0],
            NodeInstance {
                instance_id: ids[0].clone(),
                state: "running".into(),
                vpc_id: Some("vpc-1".into()),
                subnet_id: Some("subnet-1".into()),
                availability_zone: Some("us-east-1a".into()),
                private_ip: Some("10.0.1.9".into()),
                security_group_ids: vec!["sg-nodes".into()],
                instance_profile_arn: Some("arn:aws:iam::123456789012:instance-profile/nodes".into()),
                http_tokens: Some("required".into()),
                http_put_response_hop_limit: Some(2),
                http_endpoint: Some("enabled".into()),
                metadata_state: Some("applied".into()),
            }
        );
    }

    fn associations_xml(ids: &[String]) -> String {
        let items: String = ids
            .iter()
            .enumerate()
            .map(|(n, id)| {
                format!(
                    "<item><associationId>iip-assoc-{n:017x}</associationId><instanceId>{id}</instanceId>\
                     <iamInstanceProfile><arn>arn:aws:iam::123456789012:instance-profile/nodes</arn><id>AIPA1</id>\
                     </iamInstanceProfile><state>associated</state></item>"
                )
            })
            .collect();
        format!(
            "<DescribeIamInstanceProfileAssociationsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>r</requestId><iamInstanceProfileAssociationSet>{items}</iamInstanceProfileAssociationSet>\
             </DescribeIamInstanceProfileAssociationsResponse>"
        )
    }

    #[tokio::test]
    async fn lists_the_associations_of_450_instances_in_three_filtered_calls() {
        let ids: Vec<String> = (0..450).map(|i| format!("i-{i:017x}")).collect();
        let answer = |ids: &[String]| {
            ReplayEvent::new(
                Request::new(SdkBody::empty()),
                Response::new(StatusCode::try_from(200).unwrap(), SdkBody::from(associations_xml(ids))),
            )
        };
        let replay = StaticReplayClient::new(vec![answer(&ids[..200]), answer(&ids[200..400]), answer(&ids[400..])]);
        let found = list_associations(&client(&replay), Some(&ids)).await.unwrap();

        let bodies = request_bodies(&replay);
        assert_eq!(bodies.len(), 3, "one call per 200 ids");
        assert!(bodies[0].contains("Filter.1.Value.200=") && !bodies[0].contains("Filter.1.Value.201="));
        assert!(bodies[2].contains("Filter.1.Value.50=") && !bodies[2].contains("Filter.1.Value.51="));
        assert_eq!(found.len(), 450);
        assert_eq!(found[449].instance_id, ids[449]);
        assert_eq!(found[0].profile_arn, "arn:aws:iam::123456789012:instance-profile/nodes");
        assert_eq!(found[0].state, "associated");
    }
}
