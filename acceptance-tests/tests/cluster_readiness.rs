//! Acceptance tests of the data source `efs_cluster_readiness` against moto with the real
//! Terraform CLI. Each test builds a healthy setup in moto with the SDK (what the two resources
//! make), shows that the checks pass, breaks what a check looks at, and shows that exactly that
//! check fails, naming the subject and the fix. Each runs in a [`Scenario`]: the data source makes
//! nothing, so at its end moto holds only the setup (and what the test added to it, recorded with
//! `made_by_test`).

use std::collections::BTreeSet;

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::{block_on, provider_block, readiness_calls, skip_unless_acceptance, Moto, Scenario, Workdir};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, HttpTokensState, InstanceMetadataEndpointState, IpPermission, IpRange, UserIdGroupPair,
};
use aws_sdk_efs::types::{CreationInfo, PosixUser, RootDirectory};
use serde_json::Value;

/// The driver's describe actions, in a managed policy (with wildcards).
const DESCRIBE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:DescribeAvailabilityZones","elasticfilesystem:Describe*"],"Resource":"*"}]}"#;
/// The driver's access point actions (dynamic provisioning), as an inline policy.
const ACCESS_POINT_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["elasticfilesystem:CreateAccessPoint","elasticfilesystem:TagResource","elasticfilesystem:DeleteAccessPoint"],"Resource":"*"}]}"#;
const INLINE_POLICY_NAME: &str = "efs-csi-access-points";

/// What `efs_csi_node_identity` and `efs_prometheus_volume` would have made, built directly.
struct Setup {
    cluster: Cluster,
    role: String,
    file_system_id: String,
    access_point_id: String,
    nfs_group_id: String,
    /// Mount target ids, in the cluster's AZ order.
    mount_target_ids: Vec<String>,
}

fn tls_policy(file_system_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], "Resource": file_system_arn},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*", "Resource": file_system_arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ]
    })
    .to_string()
}

fn nfs_from_group(group_id: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(2049)
        .to_port(2049)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(group_id).build())
        .build()
}

fn set_metadata(moto: &Moto, instance_id: &str, hop_limit: i32, endpoint: InstanceMetadataEndpointState) {
    block_on(
        moto.ec2()
            .modify_instance_metadata_options()
            .instance_id(instance_id)
            .http_tokens(HttpTokensState::Required)
            .http_put_response_hop_limit(hop_limit)
            .http_endpoint(endpoint)
            .send(),
    )
    .expect("ModifyInstanceMetadataOptions");
}

impl Setup {
    /// A cluster of `1 + workers` nodes in three AZs, ready in every respect.
    fn healthy(moto: &Moto, workers: usize) -> Setup {
        let cluster = Cluster::create(moto, 3, workers);
        let (iam, ec2, efs) = (moto.iam(), moto.ec2(), moto.efs());
        let role = "prom-nodes".to_string();
        block_on(async {
            iam.create_role()
                .role_name(&role)
                .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
                .send()
                .await
                .expect("CreateRole");
            let policy = iam
                .create_policy()
                .policy_name("efs-csi-describe")
                .policy_document(DESCRIBE_POLICY)
                .send()
                .await
                .expect("CreatePolicy");
            iam.attach_role_policy()
                .role_name(&role)
                .policy_arn(policy.policy().unwrap().arn().unwrap())
                .send()
                .await
                .expect("AttachRolePolicy");
            iam.put_role_policy()
                .role_name(&role)
                .policy_name(INLINE_POLICY_NAME)
                .policy_document(ACCESS_POINT_POLICY)
                .send()
                .await
                .expect("PutRolePolicy");
            let profile = iam
                .create_instance_profile()
                .instance_profile_name("prom-nodes")
                .send()
                .await
                .expect("CreateInstanceProfile");
            iam.add_role_to_instance_profile()
                .instance_profile_name("prom-nodes")
                .role_name(&role)
                .send()
                .await
                .expect("AddRoleToInstanceProfile");
            let profile_arn = profile.instance_profile().unwrap().arn().to_string();
            for id in &cluster.instance_ids {
                ec2.associate_iam_instance_profile()
                    .instance_id(id)
                    .iam_instance_profile(
                        aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().arn(&profile_arn).build(),
                    )
                    .send()
                    .await
                    .expect("AssociateIamInstanceProfile");
            }
        });
        // The least privilege the driver on the host network works with.
        for id in &cluster.instance_ids {
            set_metadata(moto, id, 1, InstanceMetadataEndpointState::Enabled);
        }
        block_on(async {
            let fs =
                efs.create_file_system().creation_token("prom").encrypted(true).send().await.expect("CreateFileSystem");
            let file_system_id = fs.file_system_id().to_string();
            let group = ec2
                .create_security_group()
                .group_name("efs-prometheus-nfs")
                .description("NFS to the mount targets")
                .vpc_id(&cluster.vpc_id)
                .send()
                .await
                .expect("CreateSecurityGroup");
            let nfs_group_id = group.group_id().unwrap().to_string();
            ec2.authorize_security_group_ingress()
                .group_id(&nfs_group_id)
                .ip_permissions(nfs_from_group(&cluster.node_security_group_id))
                .send()
                .await
                .expect("AuthorizeSecurityGroupIngress");
            let mut mount_target_ids = Vec::new();
            for subnet in &cluster.subnet_ids {
                let mt = efs
                    .create_mount_target()
                    .file_system_id(&file_system_id)
                    .subnet_id(subnet)
                    .security_groups(&nfs_group_id)
                    .send()
                    .await
                    .expect("CreateMountTarget");
                mount_target_ids.push(mt.mount_target_id().to_string());
            }
            let access_point_id = create_access_point(&efs, &file_system_id, 65534, "/prometheus", Some(65534)).await;
            efs.put_file_system_policy()
                .file_system_id(&file_system_id)
                .policy(tls_policy(fs.file_system_arn().unwrap()))
                .send()
                .await
                .expect("PutFileSystemPolicy");
            Setup { cluster, role, file_system_id, access_point_id, nfs_group_id, mount_target_ids }
        })
    }

    /// The data source's arguments for this setup, plus `extra` lines.
    fn arguments(&self, extra: &str) -> String {
        format!(
            "  instance_ids    = {}\n  file_system_id  = \"{}\"\n  access_point_id = \"{}\"\n{extra}",
            self.cluster.instance_ids_hcl(),
            self.file_system_id,
            self.access_point_id
        )
    }
}

fn set_dns_hostnames(moto: &Moto, vpc_id: &str, on: bool) {
    let value = AttributeBooleanValue::builder().value(on).build();
    block_on(moto.ec2().modify_vpc_attribute().vpc_id(vpc_id).enable_dns_hostnames(value).send())
        .expect("ModifyVpcAttribute");
}

/// Creates an access point running as `uid` on `path`, created owned by `owner` when given.
async fn create_access_point(efs: &aws_sdk_efs::Client, fs: &str, uid: i64, path: &str, owner: Option<i64>) -> String {
    let mut root = RootDirectory::builder().path(path);
    if let Some(owner) = owner {
        root = root.creation_info(
            CreationInfo::builder().owner_uid(owner).owner_gid(owner).permissions("0755").build().unwrap(),
        );
    }
    let ap = efs
        .create_access_point()
        .file_system_id(fs)
        .posix_user(PosixUser::builder().uid(uid).gid(uid).build().unwrap())
        .root_directory(root.build())
        .send()
        .await
        .expect("CreateAccessPoint");
    ap.access_point_id().unwrap().to_string()
}

/// What one read of the data source gave.
struct Readiness {
    ready: bool,
    checks: Vec<Value>,
    summary: String,
    /// Terraform's own output of the apply (diagnostics included).
    apply_output: String,
}

impl Readiness {
    /// The `(name, subject)` of every check with `status`.
    fn with_status(&self, status: &str) -> BTreeSet<(String, String)> {
        self.checks
            .iter()
            .filter(|c| c["status"] == status)
            .map(|c| (c["name"].as_str().unwrap().to_string(), c["subject"].as_str().unwrap().to_string()))
            .collect()
    }

    fn errors(&self) -> BTreeSet<(String, String)> {
        self.with_status("error")
    }

    fn warnings(&self) -> BTreeSet<(String, String)> {
        self.with_status("warning")
    }

    /// The one check named `name` about `subject`.
    fn check(&self, name: &str, subject: &str) -> &Value {
        self.checks
            .iter()
            .find(|c| c["name"] == name && c["subject"] == subject)
            .unwrap_or_else(|| panic!("no check {name} about {subject}: {:#?}", self.checks))
    }

    fn names(&self, status: &str) -> BTreeSet<String> {
        self.with_status(status).into_iter().map(|(name, _)| name).collect()
    }
}

fn pair(name: &str, subject: &str) -> (String, String) {
    (name.to_string(), subject.to_string())
}

fn field<'a>(check: &'a Value, name: &str) -> &'a str {
    check[name].as_str().unwrap_or_else(|| panic!("{name} is not a string in {check}"))
}

/// Reads the data source with `arguments` (one `terraform apply` of a configuration holding only it).
fn read(wd: &Workdir, moto: &Moto, arguments: &str) -> Readiness {
    wd.write(
        "main.tf",
        &format!(
            "{}\ndata \"efs_cluster_readiness\" \"this\" {{\n{arguments}}}\n\n\
             output \"ready\" {{ value = data.efs_cluster_readiness.this.ready }}\n\
             output \"checks\" {{ value = data.efs_cluster_readiness.this.checks }}\n\
             output \"summary\" {{ value = data.efs_cluster_readiness.this.summary }}\n",
            provider_block(moto)
        ),
    );
    let apply = wd.apply();
    let outputs = wd.output_json();
    Readiness {
        ready: outputs["ready"]["value"].as_bool().expect("ready is a bool"),
        checks: outputs["checks"]["value"].as_array().expect("checks is a list").clone(),
        summary: outputs["summary"]["value"].as_str().expect("summary is a string").to_string(),
        apply_output: apply.combined(),
    }
}

/// Terraform wraps diagnostics at the terminal width: compare text with whitespace collapsed.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

const ALL_CHECKS: [&str; 12] = [
    "access_point",
    "encryption",
    "file_system",
    "imds",
    "instance_profile",
    "instance_state",
    "mount_target_per_az",
    "nfs_egress",
    "nfs_ingress",
    "same_vpc",
    "tls",
    "vpc_dns",
];

#[test]
fn healthy_cluster_is_ready_then_network_breaks_are_named() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let setup = Setup::healthy(&moto, 2);
    let cluster = &setup.cluster;
    let mut wd = Scenario::new(&moto);

    let healthy = read(&wd, &moto, &setup.arguments(""));
    assert!(healthy.ready, "{}", healthy.summary);
    assert_eq!(healthy.names("ok"), ALL_CHECKS.iter().map(|s| s.to_string()).collect(), "{:#?}", healthy.checks);
    assert!(healthy.with_status("warning").is_empty() && healthy.errors().is_empty(), "{}", healthy.summary);
    assert!(healthy.summary.starts_with("READY: 3 nodes and fs-"), "{}", healthy.summary);
    assert_eq!(healthy.with_status("ok").iter().filter(|(n, _)| n == "mount_target_per_az").count(), 3);
    assert!(healthy.checks.iter().all(|c| c["fix"].is_null()), "a passed check has no fix");

    let ec2 = moto.ec2();
    let efs = moto.efs();
    // No mount target in the third AZ: the nodes there cannot mount.
    block_on(efs.delete_mount_target().mount_target_id(&setup.mount_target_ids[2]).send()).unwrap();
    // The mount targets' group admits NFS from nothing.
    block_on(
        ec2.revoke_security_group_ingress()
            .group_id(&setup.nfs_group_id)
            .ip_permissions(nfs_from_group(&cluster.node_security_group_id))
            .send(),
    )
    .unwrap();
    // The nodes' group allows nothing out (a new group allows all outbound traffic).
    let all_out =
        IpPermission::builder().ip_protocol("-1").ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build()).build();
    block_on(
        ec2.revoke_security_group_egress().group_id(&cluster.node_security_group_id).ip_permissions(all_out).send(),
    )
    .unwrap();
    // DNS hostnames off.
    set_dns_hostnames(&moto, &cluster.vpc_id, false);

    let broken = read(&wd, &moto, &setup.arguments(""));
    assert!(!broken.ready);
    let zone_c = format!("{} ({})", cluster.subnet_ids[2], cluster.availability_zones[2]);
    assert_eq!(
        broken.errors(),
        BTreeSet::from([
            pair("mount_target_per_az", &zone_c),
            pair("nfs_ingress", &setup.nfs_group_id),
            pair("nfs_egress", &cluster.node_security_group_id),
            pair("vpc_dns", &cluster.vpc_id),
        ]),
        "{}",
        broken.summary
    );
    let missing = broken.check("mount_target_per_az", &zone_c);
    assert!(field(missing, "message").contains(&cluster.instance_ids[2]), "{missing}");
    assert!(
        field(missing, "fix").contains(&format!("--subnet-id {}", cluster.subnet_ids[2])),
        "the fix names the subnet: {missing}"
    );
    let ingress = broken.check("nfs_ingress", &setup.nfs_group_id);
    assert!(
        field(ingress, "fix").contains(&format!(
            "authorize-security-group-ingress --group-id {} --protocol tcp --port 2049 --source-group {}",
            setup.nfs_group_id, cluster.node_security_group_id
        )),
        "{ingress}"
    );
    let egress = broken.check("nfs_egress", &cluster.node_security_group_id);
    assert!(field(egress, "fix").contains("authorize-security-group-egress"), "{egress}");
    assert!(field(egress, "message").contains("stateful"), "{egress}");
    assert!(field(broken.check("vpc_dns", &cluster.vpc_id), "fix").contains("--enable-dns-hostnames"));
    // One error per mount target that refuses the nodes: two of them, in the two zones that still have one.
    assert!(broken.summary.starts_with("NOT READY: 5 errors, 0 warnings in 15 checks"), "{}", broken.summary);
    // Without fail_on_error, errors stop nothing and are not diagnostics.
    assert!(!broken.apply_output.contains("Cluster Not Ready"), "{}", broken.apply_output);

    // Fixed the other way: the mount target subnet's CIDR admitted instead of the group, NFS
    // allowed out to the mount targets' group only (replies come back statefully), DNS on.
    let from_vpc = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(2049)
        .to_port(2049)
        .ip_ranges(IpRange::builder().cidr_ip(&cluster.vpc_cidr).build())
        .build();
    block_on(ec2.authorize_security_group_ingress().group_id(&setup.nfs_group_id).ip_permissions(from_vpc).send())
        .unwrap();
    block_on(
        ec2.authorize_security_group_egress()
            .group_id(&cluster.node_security_group_id)
            .ip_permissions(nfs_from_group(&setup.nfs_group_id))
            .send(),
    )
    .unwrap();
    set_dns_hostnames(&moto, &cluster.vpc_id, true);
    let third = block_on(
        efs.create_mount_target()
            .file_system_id(&setup.file_system_id)
            .subnet_id(&cluster.subnet_ids[2])
            .security_groups(&setup.nfs_group_id)
            .send(),
    )
    .unwrap();
    wd.made_by_test("mount_targets", third.mount_target_id());
    let fixed = read(&wd, &moto, &setup.arguments(""));
    assert!(fixed.ready, "{}", fixed.summary);

    // A node in another VPC: the mount targets are not reachable from there.
    let other_vpc = block_on(ec2.create_vpc().cidr_block("10.99.0.0/16").send()).unwrap();
    let other_vpc_id = other_vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut other = Cluster { vpc_id: other_vpc_id.clone(), ..cluster.clone() };
    let subnet = block_on(
        ec2.create_subnet()
            .vpc_id(&other_vpc_id)
            .cidr_block("10.99.1.0/24")
            .availability_zone(&cluster.availability_zones[0])
            .send(),
    )
    .unwrap();
    other.subnet_ids = vec![subnet.subnet().unwrap().subnet_id().unwrap().to_string()];
    let group =
        block_on(ec2.create_security_group().group_name("other").description("other").vpc_id(&other_vpc_id).send())
            .unwrap();
    other.node_security_group_id = group.group_id().unwrap().to_string();
    other.instance_ids.clear();
    let stray = other.add_instances(&moto, 1);
    let mut ids = cluster.instance_ids.clone();
    ids.extend(stray.iter().cloned());
    let arguments = format!(
        "  instance_ids   = {}\n  file_system_id = \"{}\"\n  dynamic_provisioning = false\n",
        hcl_list(&ids),
        setup.file_system_id
    );
    let mixed = read(&wd, &moto, &arguments);
    assert!(mixed.errors().contains(&pair("same_vpc", &other_vpc_id)), "{}", mixed.summary);
    let same_vpc = mixed.check("same_vpc", &other_vpc_id);
    assert!(field(same_vpc, "message").contains(&stray[0]) && field(same_vpc, "message").contains(&cluster.vpc_id));
    assert!(!mixed.names("ok").contains("access_point"), "no access point given, no access point check");
}

#[test]
fn node_identity_and_metadata_problems_are_named_per_instance_and_role() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let mut setup = Setup::healthy(&moto, 3);
    let wd = Scenario::new(&moto);
    let healthy = read(&wd, &moto, &setup.arguments(""));
    assert!(healthy.ready, "{}", healthy.summary);

    let ids = setup.cluster.instance_ids.clone();
    let ec2 = moto.ec2();
    // Node 0 loses its instance profile.
    let associations = block_on(
        ec2.describe_iam_instance_profile_associations()
            .filters(aws_sdk_ec2::types::Filter::builder().name("instance-id").values(&ids[0]).build())
            .send(),
    )
    .unwrap();
    let association = associations.iam_instance_profile_associations()[0].association_id().unwrap().to_string();
    block_on(ec2.disassociate_iam_instance_profile().association_id(association).send()).unwrap();
    // Node 1 answers IMDSv2 with hop limit 2 (every pod gets its credentials); node 2 has IMDS off.
    set_metadata(&moto, &ids[1], 2, InstanceMetadataEndpointState::Enabled);
    set_metadata(&moto, &ids[2], 1, InstanceMetadataEndpointState::Disabled);
    // Node 3 is stopped; a fifth id does not exist.
    block_on(ec2.stop_instances().instance_ids(&ids[3]).send()).unwrap();
    let ghost = "i-0000000000000dead".to_string();
    setup.cluster.instance_ids.push(ghost.clone());
    // The role loses its inline policy: no access point actions.
    block_on(moto.iam().delete_role_policy().role_name(&setup.role).policy_name(INLINE_POLICY_NAME).send()).unwrap();

    let broken = read(&wd, &moto, &setup.arguments(""));
    assert_eq!(
        broken.errors(),
        BTreeSet::from([
            pair("instance_profile", &ids[0]),
            pair("instance_profile", &setup.role),
            pair("imds", &ids[2]),
            pair("instance_state", &ids[3]),
            pair("instance_state", &ghost),
        ]),
        "{}",
        broken.summary
    );
    let no_profile = broken.check("instance_profile", &ids[0]);
    assert!(field(no_profile, "message").contains("NoCredentialProviders"), "{no_profile}");
    assert!(field(no_profile, "fix").contains(&format!("associate-iam-instance-profile --instance-id {}", ids[0])));
    let role = broken.check("instance_profile", &setup.role);
    for action in
        ["elasticfilesystem:CreateAccessPoint", "elasticfilesystem:DeleteAccessPoint", "elasticfilesystem:TagResource"]
    {
        assert!(field(role, "message").contains(action), "{role}");
    }
    assert!(
        !field(role, "message").contains("DescribeMountTargets"),
        "the managed policy's wildcard covers it: {role}"
    );
    assert!(broken.warnings().contains(&pair("imds", &ids[1])), "{}", broken.summary);
    let hop = broken.check("imds", &ids[1]);
    assert!(field(hop, "message").contains("hop limit of 2") && field(hop, "message").contains("every pod"), "{hop}");
    assert!(field(hop, "fix").contains("http_put_response_hop_limit = 1"), "{hop}");
    assert!(field(broken.check("imds", &ids[2]), "fix").contains("--http-endpoint enabled"));

    // A controller off the host network needs hop limit 2: there node 1 is right, and node 0
    // (hop limit 1) leaves the controller without credentials.
    let pod_network = read(&wd, &moto, &setup.arguments("  controller_host_network = false\n"));
    assert!(pod_network.errors().contains(&pair("imds", &ids[0])), "{}", pod_network.summary);
    assert!(!pod_network.warnings().contains(&pair("imds", &ids[1])), "{}", pod_network.summary);
    let off_host = pod_network.check("imds", &ids[0]);
    assert!(field(off_host, "message").contains("not on the host network"), "{off_host}");
    assert!(field(off_host, "fix").contains("controller.hostNetwork: true"), "{off_host}");
    assert!(field(broken.check("instance_state", &ids[3]), "message").contains("stopped"));
    assert!(field(broken.check("instance_state", &ghost), "message").contains("does not exist"));

    // Static provisioning needs only the describe actions, which the managed policy still gives.
    let static_only = read(&wd, &moto, &setup.arguments("  dynamic_provisioning = false\n"));
    assert!(!static_only.errors().contains(&pair("instance_profile", &setup.role)), "{}", static_only.summary);
    assert!(static_only.errors().contains(&pair("instance_profile", &ids[0])));
}

#[test]
fn file_system_tls_and_access_point_problems_and_fail_on_error() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let setup = Setup::healthy(&moto, 1);
    let mut wd = Scenario::new(&moto);
    let fs = &setup.file_system_id;
    let efs = moto.efs();

    // TLS required by the policy, and a manifest turning it off; an access point for uid 1000 on
    // the root directory.
    let no_tls = "apiVersion: v1\nkind: PersistentVolume\nspec:\n  csi:\n    driver: efs.csi.aws.com\n    volumeAttributes:\n      encryptInTransit: \"false\"\n";
    let wrong_user = block_on(create_access_point(&efs, fs, 1000, "/", None));
    wd.made_by_test("access_points", &wrong_user);
    let arguments = format!(
        "  instance_ids    = {}\n  file_system_id  = \"{fs}\"\n  access_point_id = \"{wrong_user}\"\n  manifests       = [{no_tls:?}]\n",
        setup.cluster.instance_ids_hcl()
    );
    let broken = read(&wd, &moto, &arguments);
    assert_eq!(
        broken.errors(),
        BTreeSet::from([pair("tls", fs), pair("access_point", &wrong_user)]),
        "{}",
        broken.summary
    );
    let access_point = broken.check("access_point", &wrong_user);
    assert!(field(access_point, "message").contains("uid 1000"), "{access_point}");
    assert!(field(access_point, "message").contains("owned by root"), "{access_point}");
    assert!(field(access_point, "fix").contains("Uid=65534,Gid=65534"), "{access_point}");
    assert!(field(broken.check("tls", fs), "fix").contains("encryptInTransit"));
    // The same access point is right for a Prometheus configured to run as 1000 except for the root directory.
    let as_1000 = read(&wd, &moto, &format!("{arguments}  expected_posix_uid = 1000\n  expected_posix_gid = 1000\n"));
    let message = field(as_1000.check("access_point", &wrong_user), "message").to_string();
    assert!(!message.contains("runs every request as") && message.contains("owned by root"), "{message}");

    // fail_on_error turns the errors into error diagnostics that stop apply.
    wd.write(
        "main.tf",
        &format!(
            "{}\ndata \"efs_cluster_readiness\" \"this\" {{\n{arguments}  fail_on_error = true\n}}\n",
            provider_block(&moto)
        ),
    );
    let failed = one_line(&wd.apply_expect_error());
    assert!(failed.contains("Error: Cluster Not Ready"), "{failed}");
    assert!(failed.contains(&format!("access_point [{wrong_user}]")), "{failed}");
    assert!(failed.contains("Fix: "), "{failed}");

    // An unencrypted file system is a warning (shown as a warning diagnostic), a missing one an error.
    let clear = block_on(efs.create_file_system().creation_token("clear").encrypted(false).send()).unwrap();
    let clear_id = clear.file_system_id().to_string();
    wd.made_by_test("file_systems", &clear_id);
    let unencrypted = read(
        &wd,
        &moto,
        &format!("  instance_ids   = {}\n  file_system_id = \"{clear_id}\"\n", setup.cluster.instance_ids_hcl()),
    );
    assert_eq!(unencrypted.with_status("warning"), BTreeSet::from([pair("encryption", &clear_id)]));
    assert!(
        one_line(&unencrypted.apply_output).contains("Warning: Cluster Readiness Warning"),
        "{}",
        unencrypted.apply_output
    );
    assert!(unencrypted.summary.contains("1 warning"), "{}", unencrypted.summary);
    assert!(unencrypted.names("ok").contains("tls"), "no policy, nothing to require: {:#?}", unencrypted.checks);
    let missing = read(
        &wd,
        &moto,
        &format!(
            "  instance_ids   = {}\n  file_system_id = \"fs-0123456789abcdef0\"\n",
            setup.cluster.instance_ids_hcl()
        ),
    );
    assert!(missing.errors().contains(&pair("file_system", "fs-0123456789abcdef0")), "{}", missing.summary);
    assert!(!missing.ready);
}

#[test]
fn invalid_arguments_fail_validation_with_their_paths() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &format!(
            "{}\ndata \"efs_cluster_readiness\" \"this\" {{\n  instance_ids       = [\"i-0123456789abcdef0\", \"node-1\"]\n  \
             file_system_id     = \"fs-xyz\"\n  access_point_id    = \"ap-1\"\n  expected_posix_uid = -1\n}}\n\
             data \"efs_cluster_readiness\" \"empty\" {{\n  instance_ids   = []\n  file_system_id = \"fs-0123456789abcdef0\"\n}}\n",
            provider_block(&moto)
        ),
    );
    let out = one_line(&wd.run(&["validate", "-no-color"]).combined());
    for expected in [
        "instance_ids[1] must be an EC2 instance id",
        "file_system_id must be an EFS file system id",
        "access_point_id must be an EFS access point id",
        "expected_posix_uid must be between 0 and 4294967295",
        "instance_ids must name at least one node",
    ] {
        assert!(out.contains(expected), "{expected:?} not in: {out}");
    }
}

#[test]
fn aws_calls_do_not_grow_with_the_number_of_nodes() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let mut setup = Setup::healthy(&moto, 2);
    let mut wd = Scenario::new(&moto);
    wd.env("TF_LOG_PROVIDER", "debug");

    let three = read(&wd, &moto, &setup.arguments(""));
    assert!(three.ready, "{}", three.summary);
    let (calls_for_3, operations_for_3) = readiness_calls(&three.apply_output);

    // 97 more nodes with the same profile and metadata options.
    let added = setup.cluster.add_instances(&moto, 97);
    let profile_arn = block_on(moto.iam().get_instance_profile().instance_profile_name("prom-nodes").send())
        .unwrap()
        .instance_profile()
        .unwrap()
        .arn()
        .to_string();
    for id in &added {
        let associated = block_on(
            moto.ec2()
                .associate_iam_instance_profile()
                .instance_id(id)
                .iam_instance_profile(
                    aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().arn(&profile_arn).build(),
                )
                .send(),
        )
        .unwrap();
        let association = associated.iam_instance_profile_association().and_then(|a| a.association_id());
        wd.made_by_test("associations", association.expect("association id"));
        set_metadata(&moto, id, 1, InstanceMetadataEndpointState::Enabled);
    }
    let hundred = read(&wd, &moto, &setup.arguments(""));
    assert!(hundred.ready, "{}", hundred.summary);
    assert!(hundred.summary.starts_with("READY: 100 nodes"), "{}", hundred.summary);
    let (calls_for_100, operations_for_100) = readiness_calls(&hundred.apply_output);
    assert_eq!(operations_for_100, operations_for_3, "the same calls for 100 nodes as for 3");
    assert_eq!(calls_for_100, calls_for_3);
    // One DescribeInstances and one DescribeSecurityGroups for all nodes; per mount target one
    // DescribeMountTargetSecurityGroups; the rest per file system, VPC, profile and role.
    assert!(operations_for_100.contains("EC2:DescribeInstances*1,"), "{operations_for_100}");
    assert!(operations_for_100.contains("EC2:DescribeSecurityGroups*1,"), "{operations_for_100}");
    assert!(operations_for_100.contains("EFS:DescribeMountTargetSecurityGroups*3,"), "{operations_for_100}");
    assert!(calls_for_100 <= 20, "{calls_for_100} calls: {operations_for_100}");
    eprintln!("{calls_for_100} AWS calls for 100 nodes, as for 3: {operations_for_100}");
}
