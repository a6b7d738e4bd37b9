//! The example module applied and destroyed through the fault proxy: under each fault kind, and under
//! a seeded random mix of them. Every run converges (apply succeeds, or fails with a clear error and a
//! second apply completes) with exactly what an undisturbed apply makes (no duplicate policy version,
//! rule or tag), the next plan is empty, the first destroy succeeds (the provider's own retries, not
//! a second destroy), moto is left as it began, and the proxy's counts show the retries and waiters
//! really ran. The first test checks the proxy itself with plain SDK calls; the others run
//! in the [`Scenario`](acceptance_tests::Scenario) that `Bench::fresh` makes, whose end checks once
//! more that nothing is left.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::cluster::Cluster;
use acceptance_tests::example_module::{config_with, expected_new_counts, new_counts, Bench, APPLY, DESTROY};
use acceptance_tests::proxy::{Fault, FaultProxy, FaultRule};
use acceptance_tests::{block_on, provider_block_with_endpoint, skip_unless_acceptance, Moto, Workdir};
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

/// No `Scenario`: a self-test of the proxy with plain SDK calls, no CLI and no provider; what it
/// makes in moto (a policy, a profile, a file system) is made on purpose, by the test itself.
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
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
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

    // A call never answered: the caller's attempt timeout ends it; moto never saw it.
    proxy.add_fault(FaultRule::new("iam:CreateRole", Fault::BlackHole, 1));
    let impatient = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&sdk)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(500))
                    .build(),
            )
            .build(),
    );
    let started = Instant::now();
    let err = block_on(impatient.create_role().role_name("r2").assume_role_policy_document(trust).send()).unwrap_err();
    assert!(matches!(err, aws_sdk_iam::error::SdkError::TimeoutError(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert!(block_on(moto.iam().get_role().role_name("r2").send()).is_err(), "a black-holed call must not reach moto");

    // A group still in use by the interfaces of a deleted mount target.
    proxy.add_fault(FaultRule::new("ec2:DeleteSecurityGroup", Fault::DependencyViolation, 1));
    let err = block_on(ec2.delete_security_group().group_id("sg-12345678").send()).unwrap_err();
    assert_eq!(err.code(), Some("DependencyViolation"), "{err:?}");

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

// ---------------------------------------------------------------------------------------------
// The example module under faults
// ---------------------------------------------------------------------------------------------

const NAME: &str = "faulty-prometheus";

/// What one run saw.
struct Run {
    /// The first apply failed (with this output) and a second one completed.
    first_apply_error: Option<String>,
    calls: BTreeMap<String, u32>,
    injected: BTreeMap<String, u32>,
}

/// Applies the example module with `rules` in place, then destroys it; panics unless it converges,
/// the plan after it is empty, the first destroy succeeds and moto is left as it began.
fn apply_and_destroy(bench: &Bench, label: &str, rules: &[FaultRule]) -> Run {
    apply_and_destroy_with(bench, label, rules, |_| {})
}

/// [`apply_and_destroy`] with the configuration changed by `setup` first.
fn apply_and_destroy_with(bench: &Bench, label: &str, rules: &[FaultRule], setup: impl Fn(&Workdir)) -> Run {
    let (cluster, wd) = bench.fresh(NAME);
    setup(&wd);
    for rule in rules {
        bench.proxy.add_fault(rule.clone());
    }
    let first = wd.run(APPLY);
    let first_apply_error = if first.success() {
        None
    } else {
        let text = first.combined();
        assert!(text.contains("Error: "), "{label}: apply failed without a diagnostic: {first}");
        let second = wd.run(APPLY);
        assert!(second.success(), "{label}: a second apply did not complete after\n{first}\nsecond: {second}");
        Some(text)
    };
    assert_eq!(new_counts(&wd), expected_new_counts(&cluster), "{label}: after apply:{}", wd.new_since_start());
    let outputs = wd.output_json();
    assert_eq!(outputs["ready"]["value"], true, "{label}: {}", outputs["readiness"]["value"]);
    assert_empty_plan(&wd, label);

    let destroy = wd.run(DESTROY);
    assert!(destroy.success(), "{label}: the first destroy failed: {destroy}");
    wd.assert_back_to_start();
    Run { first_apply_error, calls: bench.proxy.calls(), injected: bench.proxy.injected() }
}

/// The plan after a converged apply proposes nothing (no permanent diff, nothing adopted wrong).
fn assert_empty_plan(wd: &Workdir, label: &str) {
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(0), "{label}: the plan after the apply is not empty: {plan}");
}

fn rule(action: &str, fault: Fault, times: u32) -> FaultRule {
    FaultRule::new(action, fault, times)
}

/// The example module makes 3 associations (master and 2 workers).
const NODES: u32 = 3;

#[test]
fn example_module_converges_under_throttling_and_server_errors() {
    skip_unless_acceptance!();
    let bench = Bench::start();

    let run = apply_and_destroy(
        &bench,
        "throttling",
        &[
            rule("iam:CreateRole", Fault::Throttle, 2),
            rule("ec2:AssociateIamInstanceProfile", Fault::Throttle, 2),
            rule("efs:CreateMountTarget", Fault::Throttle, 2),
            rule("efs:DeleteFileSystem", Fault::Throttle, 1),
            rule("sts:GetCallerIdentity", Fault::Throttle, 1),
        ],
    );
    assert!(run.first_apply_error.is_none(), "the SDK retries throttling: {:?}", run.first_apply_error);
    assert_eq!(run.calls["iam:CreateRole"], 3, "two throttled attempts, then the call");
    assert_eq!(run.calls["ec2:AssociateIamInstanceProfile"], NODES + 2);
    // EFS's ThrottlingException (HTTP 429) is retried by the SDK like the other services' throttling.
    assert_eq!(run.calls["efs:CreateMountTarget"], 3 + 2);
    assert_eq!(run.injected.values().sum::<u32>(), 2 + 2 + 2 + 1 + 1);

    let run = apply_and_destroy(
        &bench,
        "server errors",
        &[
            rule("iam:CreatePolicy", Fault::ServerError(500), 1),
            rule("ec2:CreateSecurityGroup", Fault::ServerError(503), 2),
            rule("efs:CreateFileSystem", Fault::ServerError(500), 1),
            rule("efs:DeleteMountTarget", Fault::ServerError(503), 1),
            rule("ec2:DisassociateIamInstanceProfile", Fault::ServerError(500), 1),
        ],
    );
    assert!(run.first_apply_error.is_none(), "the SDK retries 5xx: {:?}", run.first_apply_error);
    assert_eq!(run.calls["ec2:CreateSecurityGroup"], 3);
    assert_eq!(run.injected.values().sum::<u32>(), 6);
}

#[test]
fn example_module_converges_when_connections_drop_or_answers_are_slow() {
    skip_unless_acceptance!();
    let bench = Bench::start();

    let run = apply_and_destroy(
        &bench,
        "connection resets",
        &[
            rule("iam:CreateInstanceProfile", Fault::Reset, 1),
            rule("efs:CreateAccessPoint", Fault::Reset, 1),
            rule("ec2:ModifyInstanceMetadataOptions", Fault::Reset, 1),
            rule("iam:DeleteRole", Fault::Reset, 1),
        ],
    );
    assert!(run.first_apply_error.is_none(), "the SDK retries dropped connections: {:?}", run.first_apply_error);
    assert_eq!(run.calls["iam:CreateInstanceProfile"], 2);
    assert_eq!(run.calls["iam:DeleteRole"], 2);

    // Lost answers: the call was carried out, and the retry meets its result.
    let run = apply_and_destroy(
        &bench,
        "lost answers",
        &[
            rule("iam:CreateRole", Fault::ResetAfterForward, 1),
            rule("iam:CreatePolicy", Fault::ResetAfterForward, 1),
            rule("iam:CreateInstanceProfile", Fault::ResetAfterForward, 1),
            rule("iam:AddRoleToInstanceProfile", Fault::ResetAfterForward, 1),
            rule("ec2:AssociateIamInstanceProfile", Fault::ResetAfterForward, 1),
            rule("ec2:CreateSecurityGroup", Fault::ResetAfterForward, 1),
            rule("ec2:AuthorizeSecurityGroupIngress", Fault::ResetAfterForward, 1),
            rule("efs:CreateFileSystem", Fault::ResetAfterForward, 1),
            rule("efs:CreateMountTarget", Fault::ResetAfterForward, 1),
            rule("efs:DeleteMountTarget", Fault::ResetAfterForward, 1),
            rule("efs:DeleteFileSystem", Fault::ResetAfterForward, 1),
            rule("ec2:DisassociateIamInstanceProfile", Fault::ResetAfterForward, 1),
        ],
    );
    assert!(run.first_apply_error.is_none(), "each retry meets what the lost call did: {:?}", run.first_apply_error);
    assert_eq!(run.injected.values().sum::<u32>(), 12, "{:?}", run.injected);
    // Each of these calls was sent again after its answer was lost.
    assert_eq!(run.calls["iam:CreateRole"], 2);
    assert_eq!(run.calls["efs:CreateMountTarget"], 3 + 1);

    let run = apply_and_destroy(
        &bench,
        "slow answers",
        &[
            rule("efs:CreateFileSystem", Fault::Delay(Duration::from_secs(2)), 1),
            rule("ec2:AssociateIamInstanceProfile", Fault::Delay(Duration::from_millis(700)), 3),
            rule("iam:DeletePolicy", Fault::Delay(Duration::from_secs(1)), 1),
        ],
    );
    assert!(run.first_apply_error.is_none(), "{:?}", run.first_apply_error);
}

/// An update under faults: a node replaced by another, a subnet (and its mount target) dropped, the
/// tags, the driver policy (dynamic provisioning: a new policy version) and the hop limit changed,
/// with the answers of its mutating calls lost or throttled. The update converges with no second
/// policy version, association or tag, the plan after it is empty, and the first destroy succeeds.
#[test]
fn example_module_update_converges_under_faults() {
    skip_unless_acceptance!();
    let bench = Bench::start();
    let label = "update";
    let (cluster, mut wd) = bench.fresh(NAME);
    wd.apply();
    assert_eq!(new_counts(&wd), expected_new_counts(&cluster), "{label}: after the first apply");

    let mut updated = cluster.clone();
    let added = updated.add_instances(&bench.moto, 1);
    wd.made_by_test("metadata_options", &added[0]);
    let described = block_on(bench.moto.ec2().describe_instances().instance_ids(&added[0]).send()).expect("instance");
    for interface in described.reservations().iter().flat_map(|r| r.instances()).flat_map(|i| i.network_interfaces()) {
        wd.made_by_test("network_interfaces", interface.network_interface_id().expect("interface id"));
    }
    updated.instance_ids.retain(|id| *id != cluster.instance_ids[2]);
    // The dropped node keeps the metadata options the first apply set, after destroy too (no
    // state names it by then).
    wd.changed_by_test("metadata_options", &cluster.instance_ids[2]);
    updated.subnet_ids.pop();
    let extra = "  tags                   = { env = \"acc2\", team = \"obs\" }\n  provisioning           = \"dynamic\"\n  metadata_hop_limit     = 2\n";
    wd.write("main.tf", &config_with(&provider_block_with_endpoint(&bench.proxy.endpoint()), NAME, &updated, extra));
    for rule in [
        rule("iam:CreatePolicyVersion", Fault::ResetAfterForward, 1),
        rule("iam:DeletePolicyVersion", Fault::Throttle, 1),
        rule("ec2:AssociateIamInstanceProfile", Fault::ResetAfterForward, 1),
        rule("ec2:DisassociateIamInstanceProfile", Fault::ResetAfterForward, 1),
        rule("ec2:ModifyInstanceMetadataOptions", Fault::ResetAfterForward, 1),
        rule("efs:DeleteMountTarget", Fault::ResetAfterForward, 1),
        rule("iam:TagRole", Fault::ResetAfterForward, 1),
        rule("efs:TagResource", Fault::Throttle, 1),
        rule("ec2:CreateTags", Fault::ResetAfterForward, 1),
    ] {
        bench.proxy.add_fault(rule);
    }
    let update = wd.run(APPLY);
    assert!(update.success(), "{label}: the update did not converge: {update}");
    let mut expected = expected_new_counts(&updated);
    // The two nodes kept (the dropped one and the added one are the test's).
    expected.insert("metadata_options", 2);
    // One more tag (`team`) on each of the six tagged objects.
    *expected.get_mut("tags").expect("tags") += 6;
    // The new default version of the policy, and the one before it, which IAM keeps; no duplicate
    // from the retried CreatePolicyVersion whose answer was lost.
    expected.insert("policy_versions", 2);
    assert_eq!(new_counts(&wd), expected, "{label}: after the update:{}", wd.new_since_start());
    let injected = bench.proxy.injected();
    assert!(injected.len() >= 8, "{label}: the faults met their calls: {injected:?}");
    assert_empty_plan(&wd, label);
    let destroy = wd.run(DESTROY);
    assert!(destroy.success(), "{label}: the first destroy failed: {destroy}");
    wd.assert_back_to_start();
}

/// A call that never answers: each attempt is abandoned after the provider block's `call_timeout`
/// and retried, so the apply and destroy complete; when every attempt of a call hangs, the apply
/// fails within the retries' deadline with an error naming the timeout, and the next apply
/// converges.
#[test]
fn example_module_retries_calls_that_never_answer() {
    skip_unless_acceptance!();
    let bench = Bench::start();
    let impatient = |wd: &Workdir| {
        let config = std::fs::read_to_string(wd.path().join("main.tf")).expect("read main.tf");
        let provider = "  call_timeout = \"2s\"\n  max_retries  = 2\n\n  endpoints {";
        wd.write("main.tf", &config.replacen("  endpoints {", provider, 1));
    };

    let started = Instant::now();
    let run = apply_and_destroy_with(
        &bench,
        "calls never answered once",
        &[
            rule("iam:CreateRole", Fault::BlackHole, 1),
            rule("efs:CreateFileSystem", Fault::BlackHole, 1),
            rule("ec2:AuthorizeSecurityGroupIngress", Fault::BlackHole, 1),
            rule("efs:DeleteMountTarget", Fault::BlackHole, 1),
            rule("iam:DetachRolePolicy", Fault::BlackHole, 1),
        ],
        impatient,
    );
    assert!(run.first_apply_error.is_none(), "each hung attempt is retried: {:?}", run.first_apply_error);
    assert_eq!(run.injected.values().sum::<u32>(), 5, "{:?}", run.injected);
    assert_eq!(run.calls["efs:CreateFileSystem"], 2);
    assert!(started.elapsed() < Duration::from_secs(120), "{:?}", started.elapsed());

    // Three attempts (max_retries 2), every one hung: the apply fails with a diagnostic.
    let run = apply_and_destroy_with(
        &bench,
        "a call never answered",
        &[rule("iam:CreatePolicy", Fault::BlackHole, 3)],
        impatient,
    );
    let error = run.first_apply_error.expect("every attempt of CreatePolicy hung");
    assert!(error.contains("call_timeout") && error.contains("creating"), "{error}");
    assert_eq!(run.injected["iam:CreatePolicy"], 3);
}

#[test]
fn example_module_waits_out_eventual_consistency() {
    skip_unless_acceptance!();
    let bench = Bench::start();
    let run = apply_and_destroy(
        &bench,
        "eventual consistency",
        &[
            rule("ec2:AssociateIamInstanceProfile", Fault::ProfileNotPropagated, 3),
            rule("efs:CreateFileSystem", Fault::StayCreating, 3),
            rule("efs:CreateMountTarget", Fault::StayCreating, 2),
            rule("efs:DeleteMountTarget", Fault::StayDeleting, 2),
            rule("efs:DeleteFileSystem", Fault::FileSystemInUse, 3),
            rule("efs:DeleteFileSystem", Fault::StayDeleting, 2),
            rule("ec2:DeleteSecurityGroup", Fault::DependencyViolation, 3),
        ],
    );
    assert!(run.first_apply_error.is_none(), "{:?}", run.first_apply_error);
    // The NFS group's delete was retried while the mount targets' interfaces lingered.
    assert_eq!(run.calls["ec2:DeleteSecurityGroup"], 3 + 1);
    // The propagation retry ran: three rejections, then one association per node.
    assert_eq!(run.calls["ec2:AssociateIamInstanceProfile"], NODES + 3);
    // The waiters polled through `creating` and `deleting`.
    assert!(run.injected["efs:DescribeFileSystems"] >= 3 + 2, "{:?}", run.injected);
    assert!(run.injected["efs:DescribeMountTargets"] >= 3 * 2 + 3 * 2, "{:?}", run.injected);
    // DeleteFileSystem was retried while "in use".
    assert_eq!(run.calls["efs:DeleteFileSystem"], 3 + 1);
}

/// A small deterministic generator (SplitMix64), so a failing seed can be run again.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The mutating calls of the example module's apply and destroy.
const FLOW_ACTIONS: &[&str] = &[
    "iam:CreateRole",
    "iam:CreatePolicy",
    "iam:AttachRolePolicy",
    "iam:CreateInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "ec2:AssociateIamInstanceProfile",
    "ec2:ModifyInstanceMetadataOptions",
    "efs:CreateFileSystem",
    "ec2:CreateSecurityGroup",
    "ec2:AuthorizeSecurityGroupIngress",
    "efs:CreateMountTarget",
    "efs:CreateAccessPoint",
    "efs:PutFileSystemPolicy",
    "ec2:DisassociateIamInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:DetachRolePolicy",
    "iam:DeletePolicy",
    "iam:DeleteRole",
    "efs:DeleteAccessPoint",
    "efs:DeleteMountTarget",
    "ec2:DeleteSecurityGroup",
    "efs:DeleteFileSystem",
];

/// Reads the example module polls or lists.
const READ_ACTIONS: &[&str] = &[
    "iam:GetRole",
    "iam:GetInstanceProfile",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:DescribeInstances",
    "ec2:DescribeSubnets",
    "efs:DescribeFileSystems",
    "efs:DescribeMountTargets",
    "efs:DescribeAccessPoints",
    "sts:GetCallerIdentity",
];

/// Four to seven random faults for one seed, each on an action of the flow that suits it.
fn random_rules(seed: u64) -> Vec<FaultRule> {
    let mut rng = SplitMix(seed);
    let count = 4 + rng.below(4);
    (0..count)
        .map(|_| {
            let times = 1 + rng.below(2) as u32;
            match rng.below(8) {
                0 => rule(READ_ACTIONS[rng.below(READ_ACTIONS.len() as u64) as usize], Fault::Throttle, times),
                1 => rule(FLOW_ACTIONS[rng.below(FLOW_ACTIONS.len() as u64) as usize], Fault::Throttle, times),
                2 => rule(FLOW_ACTIONS[rng.below(FLOW_ACTIONS.len() as u64) as usize], Fault::ServerError(503), times),
                3 => rule(FLOW_ACTIONS[rng.below(FLOW_ACTIONS.len() as u64) as usize], Fault::Reset, 1),
                4 => {
                    // moto answers a repeated RemoveRoleFromInstanceProfile with HTTP 500 (a Python
                    // ValueError) where IAM answers NoSuchEntity: no lost answer for that call.
                    let action = FLOW_ACTIONS[rng.below(FLOW_ACTIONS.len() as u64) as usize];
                    let action = if action == "iam:RemoveRoleFromInstanceProfile" {
                        "iam:DeleteInstanceProfile"
                    } else {
                        action
                    };
                    rule(action, Fault::ResetAfterForward, 1)
                }
                5 => rule("ec2:AssociateIamInstanceProfile", Fault::ProfileNotPropagated, times + 1),
                6 => match rng.below(4) {
                    0 => rule("efs:CreateFileSystem", Fault::StayCreating, times + 1),
                    1 => rule("efs:CreateMountTarget", Fault::StayCreating, times),
                    2 => rule("efs:DeleteMountTarget", Fault::StayDeleting, times),
                    _ => rule("efs:DeleteFileSystem", Fault::StayDeleting, times),
                },
                _ => rule("efs:DeleteFileSystem", Fault::FileSystemInUse, times + 1),
            }
        })
        .collect()
}

fn run_seeds(seeds: std::ops::Range<u64>) {
    let bench = Bench::start();
    for seed in seeds {
        let rules = random_rules(seed);
        let run = apply_and_destroy(&bench, &format!("seed {seed} with {rules:?}"), &rules);
        // Every rule met its action (a create or delete rule counts its polls, the others their calls).
        for r in &rules {
            assert!(run.calls.get(&r.action).copied().unwrap_or(0) > 0, "seed {seed}: {} was never called", r.action);
        }
        assert!(!run.injected.is_empty(), "seed {seed}: no fault was injected: {rules:?}");
    }
}

#[test]
fn example_module_converges_under_random_faults_seeds_0_to_9() {
    skip_unless_acceptance!();
    run_seeds(0..10);
}

#[test]
fn example_module_converges_under_random_faults_seeds_10_to_19() {
    skip_unless_acceptance!();
    run_seeds(10..20);
}
