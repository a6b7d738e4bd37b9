//! The fault proxy checked with plain SDK calls: each fault arrives in the format the SDK parses.

use std::time::{Duration, Instant};

use acceptance_tests::cluster::Cluster;
use acceptance_tests::proxy::{Fault, FaultProxy, FaultRule};
use acceptance_tests::{block_on, skip_unless_acceptance, Moto};
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_efs::types::LifeCycleState;

// ---------------------------------------------------------------------------------------------
// The proxy itself
// ---------------------------------------------------------------------------------------------

/// SDK configuration aimed at the proxy, without retries, so each injected fault surfaces.
fn through(moto: &Moto, proxy: &FaultProxy) -> aws_config::SdkConfig {
    moto.sdk_config().into_builder().endpoint_url(proxy.endpoint()).retry_config(RetryConfig::disabled()).build()
}

#[test]
fn proxy_injects_each_fault_in_the_format_the_sdk_parses() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 1, 0);
    let proxy = FaultProxy::start(&moto);
    let sdk = through(&moto, &proxy);
    let (iam, ec2, efs) =
        (aws_sdk_iam::Client::new(&sdk), aws_sdk_ec2::Client::new(&sdk), aws_sdk_efs::Client::new(&sdk));

    // Throttling, in each protocol's format, then the call goes through.
    proxy.add_fault(FaultRule::new("iam:ListRoles", Fault::Throttle, 1));
    proxy.add_fault(FaultRule::new("ec2:DescribeVpcs", Fault::Throttle, 1));
    proxy.add_fault(FaultRule::new("efs:DescribeFileSystems", Fault::Throttle, 1));
    let err = block_on(iam.list_roles().send()).unwrap_err();
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert!(block_on(iam.list_roles().send()).is_ok());
    let err = block_on(ec2.describe_vpcs().send()).unwrap_err();
    assert_eq!(err.code(), Some("RequestLimitExceeded"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    let err = block_on(efs.describe_file_systems().send()).unwrap_err();
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(proxy.count("iam:ListRoles"), 2);
    assert_eq!(proxy.injected().get("ec2:DescribeVpcs"), Some(&1));

    // 500 and 503, a reset before moto sees the call, and one after it (the answer is lost).
    proxy.add_fault(FaultRule::new("iam:*", Fault::ServerError(500), 1));
    let err = block_on(iam.list_roles().send()).unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500), "{err:?}");
    proxy.add_fault(FaultRule::new("efs:DescribeFileSystems", Fault::ServerError(503), 1));
    let err = block_on(efs.describe_file_systems().send()).unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503), "{err:?}");
    proxy.add_fault(FaultRule::new("iam:CreateRole", Fault::Reset, 1));
    proxy.add_fault(FaultRule::new("iam:CreatePolicy", Fault::ResetAfterForward, 1));
    let trust = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let err = block_on(iam.create_role().role_name("r1").assume_role_policy_document(trust).send()).unwrap_err();
    assert!(err.raw_response().is_none(), "no answer expected: {err:?}");
    assert!(block_on(moto.iam().get_role().role_name("r1").send()).is_err(), "a reset call must not reach moto");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let err = block_on(iam.create_policy().policy_name("p1").policy_document(policy).send()).unwrap_err();
    assert!(err.raw_response().is_none(), "no answer expected: {err:?}");
    let policies =
        block_on(moto.iam().list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send()).unwrap();
    assert_eq!(policies.policies().len(), 1, "the call whose answer was lost was carried out");

    // A delay holds the answer back.
    proxy.add_fault(FaultRule::new("iam:ListRoles", Fault::Delay(Duration::from_millis(400)), 1));
    let started = Instant::now();
    block_on(iam.list_roles().send()).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));

    // Eventual consistency: a new profile not yet usable by EC2, a file system still in use.
    let profile = block_on(moto.iam().create_instance_profile().instance_profile_name("ip1").send()).unwrap();
    let profile_arn = profile.instance_profile().unwrap().arn().to_string();
    proxy.add_fault(FaultRule::new("ec2:AssociateIamInstanceProfile", Fault::ProfileNotPropagated, 1));
    let spec = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().arn(&profile_arn).build();
    let associate = || {
        ec2.associate_iam_instance_profile().instance_id(&cluster.instance_ids[0]).iam_instance_profile(spec.clone())
    };
    let err = block_on(associate().send()).unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
    assert!(err.message().unwrap_or_default().contains("Invalid IAM Instance Profile"), "{err:?}");
    block_on(associate().send()).unwrap();

    // File systems and mount targets `creating` for two polls each; `deleting` for two polls.
    proxy.add_fault(FaultRule::new("efs:CreateFileSystem", Fault::StayCreating, 2));
    proxy.add_fault(FaultRule::new("efs:CreateMountTarget", Fault::StayCreating, 2));
    proxy.add_fault(FaultRule::new("efs:DeleteMountTarget", Fault::StayDeleting, 2));
    proxy.add_fault(FaultRule::new("efs:DeleteFileSystem", Fault::FileSystemInUse, 1));
    proxy.add_fault(FaultRule::new("efs:DeleteFileSystem", Fault::StayDeleting, 2));
    let fs = block_on(efs.create_file_system().creation_token("t1").send()).unwrap();
    assert_eq!(fs.life_cycle_state(), &LifeCycleState::Creating);
    let fs_id = fs.file_system_id().to_string();
    let fs_state = || {
        block_on(efs.describe_file_systems().file_system_id(&fs_id).send())
            .map(|o| o.file_systems()[0].life_cycle_state().clone())
            .map_err(|e| e.code().unwrap_or_default().to_string())
    };
    assert_eq!(fs_state().unwrap(), LifeCycleState::Creating);
    assert_eq!(fs_state().unwrap(), LifeCycleState::Creating);
    assert_eq!(fs_state().unwrap(), LifeCycleState::Available);
    let mt =
        block_on(efs.create_mount_target().file_system_id(&fs_id).subnet_id(&cluster.subnet_ids[0]).send()).unwrap();
    let mt_id = mt.mount_target_id().to_string();
    let mt_state = || {
        block_on(efs.describe_mount_targets().mount_target_id(&mt_id).send())
            .map(|o| o.mount_targets()[0].life_cycle_state().clone())
            .map_err(|e| e.code().unwrap_or_default().to_string())
    };
    assert_eq!(mt_state().unwrap(), LifeCycleState::Creating);
    assert_eq!(mt_state().unwrap(), LifeCycleState::Creating);
    assert_eq!(mt_state().unwrap(), LifeCycleState::Available);
    block_on(efs.delete_mount_target().mount_target_id(&mt_id).send()).unwrap();
    assert_eq!(mt_state().unwrap(), LifeCycleState::Deleting);
    assert_eq!(mt_state().unwrap(), LifeCycleState::Deleting);
    assert_eq!(mt_state().unwrap_err(), "MountTargetNotFound");
    let err = block_on(efs.delete_file_system().file_system_id(&fs_id).send()).unwrap_err();
    assert!(err.as_service_error().is_some_and(|e| e.is_file_system_in_use()), "{err:?}");
    block_on(efs.delete_file_system().file_system_id(&fs_id).send()).unwrap();
    assert_eq!(fs_state().unwrap(), LifeCycleState::Deleting);
    assert_eq!(fs_state().unwrap(), LifeCycleState::Deleting);
    assert_eq!(fs_state().unwrap_err(), "FileSystemNotFound");

    // Counts: every attempt per action; mutating ones apart from reads.
    let calls = proxy.calls();
    assert_eq!(calls.get("efs:DeleteFileSystem"), Some(&2));
    assert_eq!(calls.get("ec2:AssociateIamInstanceProfile"), Some(&2));
    let mutating = proxy.mutating_calls();
    assert!(mutating.contains_key("efs:CreateMountTarget") && !mutating.keys().any(|a| a.contains(":Describe")));
    proxy.reset_counts();
    assert!(proxy.calls().is_empty());
}
