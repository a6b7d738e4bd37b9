//! A corpus of invalid configurations, each planned with the real Terraform CLI through the fault
//! proxy in front of one moto: every one must fail with an error diagnostic that names the
//! attribute and says what to do, and none may make a single mutating AWS call (the proxy counts
//! them per case). Validation runs before ConfigureProvider; the checks against AWS (unknown ids,
//! zones, VPCs, credentials) are read-only Describe/Get calls at plan time.
//!
//! The cases run a few at a time, each in its own working directory with its own proxy; the one
//! case that needs moto to enforce IAM authentication runs alone at the end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::proxy::FaultProxy;
use acceptance_tests::{
    block_on, closed_port, provider_block_with_endpoint, skip_unless_acceptance, squash, Moto, Scenario, Workdir,
    REGION,
};

/// Replaced by the case's proxy endpoint when the case runs.
const ENDPOINT: &str = "{ENDPOINT}";
/// Plans at once: Terraform and the provider are mostly waiting on each other and on moto.
const PARALLEL_PLANS: usize = 4;
/// An id of the right shape that exists nowhere.
const NO_SUCH_INSTANCE: &str = "i-0fedcba9876543210";
const NO_SUCH_SUBNET: &str = "subnet-0fedcba9876543210";
const NO_SUCH_GROUP: &str = "sg-0fedcba9876543210";

/// One invalid configuration.
struct Case {
    name: &'static str,
    /// The whole configuration, provider block included; [`ENDPOINT`] stands for the proxy.
    hcl: String,
    /// The attribute path the diagnostic names in its text (`metadata_options.http_tokens`).
    path: &'static str,
    /// The start of the configuration line Terraform quotes under the diagnostic, whitespace
    /// squashed (`http_tokens = "sometimes"`); `None` when the diagnostic is about a whole block.
    line: Option<String>,
    /// Words of the advice the diagnostic must give.
    advice: Vec<String>,
    /// A legal but unsafe setting: the plan succeeds with a warning instead of failing.
    warning: bool,
}

/// The ids the cases refer to, made in moto before any case runs.
struct Fixture {
    cluster: Cluster,
    /// A second subnet in the first subnet's availability zone, same VPC.
    same_zone_subnet: String,
    /// A subnet and a security group of another VPC.
    other_vpc_subnet: String,
    other_vpc_group: String,
    terminated_instance: String,
    /// An instance that already has another instance profile.
    foreign_profile_instance: String,
}

impl Fixture {
    fn create(moto: &Moto) -> Fixture {
        let mut cluster = Cluster::create(moto, 3, 1);
        let ec2 = moto.ec2();
        let subnet = |vpc: &str, cidr: &str, az: &str| -> String {
            let out = block_on(ec2.create_subnet().vpc_id(vpc).cidr_block(cidr).availability_zone(az).send())
                .expect("CreateSubnet");
            out.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string()
        };
        let same_zone_subnet = subnet(&cluster.vpc_id, "10.20.9.0/24", &cluster.availability_zones[0]);
        let other_vpc = block_on(ec2.create_vpc().cidr_block("10.30.0.0/16").send()).expect("CreateVpc");
        let other_vpc = other_vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
        let other_vpc_subnet = subnet(&other_vpc, "10.30.1.0/24", &format!("{REGION}b"));
        let group = block_on(
            ec2.create_security_group().group_name("elsewhere").description("another VPC").vpc_id(&other_vpc).send(),
        )
        .expect("CreateSecurityGroup");
        let other_vpc_group = group.group_id().expect("group id").to_string();

        let extra = cluster.add_instances(moto, 2);
        cluster.instance_ids.retain(|id| !extra.contains(id));
        let (terminated_instance, foreign_profile_instance) = (extra[0].clone(), extra[1].clone());
        block_on(ec2.terminate_instances().instance_ids(&terminated_instance).send()).expect("TerminateInstances");
        let iam = moto.iam();
        block_on(iam.create_role().role_name("foreign").assume_role_policy_document("{}").send()).expect("CreateRole");
        let profile = block_on(iam.create_instance_profile().instance_profile_name("foreign").send())
            .expect("CreateInstanceProfile");
        let profile_arn = profile.instance_profile().map(|p| p.arn().to_string()).expect("profile ARN");
        block_on(iam.add_role_to_instance_profile().instance_profile_name("foreign").role_name("foreign").send())
            .expect("AddRoleToInstanceProfile");
        block_on(
            ec2.associate_iam_instance_profile()
                .instance_id(&foreign_profile_instance)
                .iam_instance_profile(
                    aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().arn(profile_arn).build(),
                )
                .send(),
        )
        .expect("AssociateIamInstanceProfile");
        Fixture {
            cluster,
            same_zone_subnet,
            other_vpc_subnet,
            other_vpc_group,
            terminated_instance,
            foreign_profile_instance,
        }
    }

    fn node_group(&self) -> &str {
        &self.cluster.node_security_group_id
    }
}

/// The provider block at the proxy, with `extra` lines added inside it.
fn provider(extra: &str) -> String {
    let block = provider_block_with_endpoint(ENDPOINT);
    let opening = "provider \"efs\" {\n";
    assert!(block.contains(opening), "{block}");
    block.replacen(opening, &format!("{opening}{extra}"), 1)
}

/// A resource block of `kind` with the `defaults` arguments and the `extra` lines: an argument
/// set in `extra` replaces the default of the same name, and a line `-name` leaves it out.
fn resource(kind: &str, defaults: &[(&str, String)], extra: &str) -> String {
    let mentioned = |name: &str| {
        extra.lines().map(str::trim_start).any(|l| {
            l.strip_prefix(name).is_some_and(|rest| rest.trim_start().starts_with('='))
                || l.strip_prefix('-') == Some(name)
        })
    };
    let mut body: String = defaults
        .iter()
        .filter(|(name, _)| !mentioned(name))
        .map(|(name, value)| format!("  {name} = {value}\n"))
        .collect();
    body.extend(extra.lines().filter(|l| !l.trim_start().starts_with('-')).map(|l| format!("{l}\n")));
    format!("{}\nresource \"{kind}\" \"this\" {{\n{body}}}\n", provider(""))
}

/// A node identity for the cluster's instances, changed by `extra` (see [`resource`]).
fn identity(f: &Fixture, extra: &str) -> String {
    let defaults = [("name", "\"nodes\"".to_string()), ("instance_ids", f.cluster.instance_ids_hcl())];
    resource("efs_csi_node_identity", &defaults, extra)
}

/// A volume in the cluster's subnets open to the nodes, changed by `extra` (see [`resource`]).
fn volume(f: &Fixture, extra: &str) -> String {
    let defaults = [
        ("name", "\"prom\"".to_string()),
        ("subnet_ids", f.cluster.subnet_ids_hcl()),
        ("allowed_security_group_ids", format!("[\"{}\"]", f.node_group())),
    ];
    resource("efs_prometheus_volume", &defaults, extra)
}

/// The provider block changed by `change`, with a data source that uses the provider (Terraform
/// neither validates nor configures a provider nothing uses).
fn provider_in_use(block: String) -> String {
    format!("{block}\ndata \"efs_csi_driver_iam_policy\" \"this\" {{}}\n")
}

fn data_source(kind: &str, body: &str) -> String {
    format!("{}\ndata \"{kind}\" \"this\" {{\n{body}}}\n", provider(""))
}

/// The provider block with an `assume_role` block of a valid role ARN and `lines`, in use.
fn assume_role(lines: &str) -> String {
    let role = "    role_arn = \"arn:aws:iam::123456789012:role/terraform\"\n";
    provider_in_use(provider(&format!("  assume_role {{\n{role}{lines}  }}\n")))
}

/// The provider block without its static keys (commented out).
fn without_keys(block: String) -> String {
    block.replace("  access_key = ", "  # access_key = ").replace("  secret_key = ", "  # secret_key = ")
}

/// `extra` lines for [`volume`]: the mount targets get `group`, so no security group is created.
fn own_groups(group: &str) -> String {
    format!("  security_group_ids = [\"{group}\"]\n-allowed_security_group_ids")
}

/// An `efs_cluster_readiness` data source with these `instance_ids` and `file_system_id`
/// expressions and `extra` lines.
fn readiness(instance_ids: &str, file_system_id: &str, extra: &str) -> String {
    data_source(
        "efs_cluster_readiness",
        &format!("  instance_ids   = {instance_ids}\n  file_system_id = {file_system_id}\n{extra}"),
    )
}

fn case(name: &'static str, hcl: String, path: &'static str, line: &str, advice: &[&str]) -> Case {
    let line = (!line.is_empty()).then(|| line.to_string());
    Case { name, hcl, path, line, advice: advice.iter().map(|a| a.to_string()).collect(), warning: false }
}

/// A case whose plan succeeds with a warning that names the safer setting.
fn warning(name: &'static str, hcl: String, path: &'static str, line: &str, advice: &[&str]) -> Case {
    Case { warning: true, ..case(name, hcl, path, line, advice) }
}

/// `hcl` with the provider block changed to hold `extra` lines.
fn with_provider(hcl: String, extra: &str) -> String {
    hcl.replacen(&provider(""), &provider(extra), 1)
}

/// A `policy_json` line of one statement that describes instances, with `fields` added to it.
fn one_statement_policy(fields: &str) -> String {
    format!(
        "  policy_json = jsonencode({{ Version = \"2012-10-17\", Statement = [{{ {fields}, \
         Action = \"ec2:DescribeInstances\", Resource = \"*\" }}] }})\n"
    )
}

/// An HCL map of `count` tags `k0 = "v"`, `k1 = "v"`, ... on one line.
fn tags_hcl(count: usize) -> String {
    let tags: Vec<String> = (0..count).map(|i| format!("k{i} = \"v\"")).collect();
    format!("{{ {} }}", tags.join(", "))
}

fn corpus(f: &Fixture) -> Vec<Case> {
    let subnets = |ids: &[&str]| hcl_list(&ids.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let a = f.cluster.subnet_ids[0].as_str();
    let long_name = "n".repeat(65);
    let long_policy = "p".repeat(129);
    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    vec![
        // The provider block.
        case(
            "unknown region",
            provider_in_use(provider("").replace(&format!("\"{REGION}\""), "\"moon-1\"")),
            "region",
            "region = \"moon-1\"",
            &["must be an AWS region name such as us-east-1"],
        ),
        case(
            "endpoint not a URL",
            provider_in_use(provider("").replacen(&format!("ec2 = \"{ENDPOINT}\""), "ec2 = \"not a url\"", 1)),
            "endpoints.ec2",
            "ec2 = \"not a url\"",
            &["must be a URL such as https://"],
        ),
        case(
            "role ARN with a short account",
            provider_in_use(provider("  assume_role {\n    role_arn = \"arn:aws:iam::123:role/x\"\n  }\n")),
            "assume_role.role_arn",
            "role_arn =",
            &["must be an IAM role ARN like arn:aws:iam::123456789012:role/name"],
        ),
        case(
            "assume_role duration too short",
            assume_role("    duration = \"5m\"\n"),
            "assume_role.duration",
            "duration = \"5m\"",
            &["must be between 15m and 12h", "1h"],
        ),
        case(
            "assume_role duration too long",
            assume_role("    duration = \"13h\"\n"),
            "assume_role.duration",
            "duration = \"13h\"",
            &["must be between 15m and 12h"],
        ),
        case(
            "assume_role duration not a duration",
            assume_role("    duration = \"soon\"\n"),
            "assume_role.duration",
            "duration = \"soon\"",
            &["must be a duration such as"],
        ),
        case(
            "session name too short",
            assume_role("    session_name = \"x\"\n"),
            "assume_role.session_name",
            "session_name = \"x\"",
            &["must be 2 to 64 ASCII letters"],
        ),
        case(
            "negative max_retries",
            provider_in_use(provider("  max_retries = -1\n")),
            "max_retries",
            "max_retries = -1",
            &["must be between 0 and 100"],
        ),
        case(
            "access key without secret key",
            provider_in_use(provider("").replace("  secret_key = ", "  # secret_key = ")),
            "access_key",
            "access_key =",
            &["set both, or neither"],
        ),
        case(
            "token without keys",
            provider_in_use(without_keys(provider("  token = \"t0k3n\"\n"))),
            "token",
            "token =",
            &["only used together with access_key and secret_key"],
        ),
        case(
            "unreachable endpoints",
            provider_in_use(provider("  max_retries = 0\n").replace(ENDPOINT, &unreachable)),
            "endpoints.sts",
            "sts =",
            &["Cannot Reach AWS", "check endpoints.sts", "reachable"],
        ),
        case(
            "assume_role duration absurdly large",
            assume_role("    duration = \"9999999999999999h\"\n"),
            "assume_role.duration",
            "duration = \"9999999999999999h\"",
            &["must be a duration such as", "is too large"],
        ),
        case(
            "assume_role duration negative",
            assume_role("    duration = \"-1h\"\n"),
            "assume_role.duration",
            "duration = \"-1h\"",
            &["is negative"],
        ),
        case(
            "session name with a non-ASCII letter",
            assume_role("    session_name = \"sessión\"\n"),
            "assume_role.session_name",
            "session_name = \"sessión\"",
            &["must be 2 to 64 ASCII letters"],
        ),
        case(
            "role ARN with a non-ASCII name",
            provider_in_use(provider("  assume_role {\n    role_arn = \"arn:aws:iam::123456789012:role/rôle\"\n  }\n")),
            "assume_role.role_arn",
            "role_arn =",
            &["must be an IAM role ARN like"],
        ),
        case(
            "external id with a space",
            assume_role("    external_id = \"my id\"\n"),
            "assume_role.external_id",
            "external_id = \"my id\"",
            &["may contain only ASCII letters, digits"],
        ),
        case(
            "default tag with the aws: prefix",
            provider_in_use(provider("  default_tags {\n    tags = { \"aws:team\" = \"x\" }\n  }\n")),
            "default_tags.tags[\"aws:team\"]",
            "tags = {",
            &["reserved for AWS's own tags", "choose another key"],
        ),
        case(
            "too many default tags",
            provider_in_use(provider(&format!("  default_tags {{\n    tags = {}\n  }}\n", tags_hcl(51)))),
            "default_tags.tags",
            "tags = {",
            &["has 51 tags", "at most 50", "Remove some"],
        ),
        // efs_csi_node_identity
        case(
            "identity name with a non-ASCII letter",
            identity(f, "  name = \"nœuds\""),
            "name",
            "name = \"nœuds\"",
            &["may contain only letters, digits and the characters"],
        ),
        case(
            "empty instance_ids",
            identity(f, "  instance_ids = []\n"),
            "instance_ids",
            "instance_ids = []",
            &["instance_ids is empty", "name at least one node instance"],
        ),
        case(
            "policy without Statement",
            identity(f, "  policy_json = jsonencode({ Version = \"2012-10-17\" })\n"),
            "policy_json",
            "policy_json =",
            &["has no Statement"],
        ),
        case(
            "JSON that is no policy",
            identity(f, "  policy_json = jsonencode({ name = \"nodes\" })\n"),
            "policy_json",
            "policy_json =",
            &["has the element \"name\", which IAM does not know", "has no Version"],
        ),
        case(
            "policy with a principal",
            identity(f, &one_statement_policy("Effect = \"Allow\", Principal = \"*\"")),
            "policy_json",
            "policy_json =",
            &["Statement[0] names a Principal", "remove it"],
        ),
        case(
            "policy with a lower-case effect",
            identity(f, &one_statement_policy("Effect = \"allow\"")),
            "policy_json",
            "policy_json =",
            &["Statement[0].Effect is \"allow\"", "\"Allow\" or \"Deny\""],
        ),
        case(
            "policy too large as IAM counts it",
            identity(
                f,
                "  policy_json = jsonencode({ Version = \"2012-10-17\", Statement = [for i in range(110) : \
                 { Effect = \"Allow\", Action = \"ec2:DescribeInstances\", Resource = \"*\" }] })\n",
            ),
            "policy_json",
            "policy_json =",
            &["characters without whitespace", "at most 6144"],
        ),
        case(
            "timeout zero",
            identity(f, "  timeouts {\n    create = \"0s\"\n  }\n"),
            "timeouts.create",
            "create = \"0s\"",
            &["must be between 1s and 24h"],
        ),
        case(
            "timeout absurdly large",
            identity(f, "  timeouts {\n    delete = \"9999999999999999h\"\n  }\n"),
            "timeouts.delete",
            "delete = \"9999999999999999h\"",
            &["is too large"],
        ),
        case(
            "tag with the aws: prefix",
            identity(f, "  tags = { \"aws:team\" = \"x\" }\n"),
            "tags[\"aws:team\"]",
            "tags = {",
            &["reserved for AWS's own tags"],
        ),
        case(
            "tag key too long",
            identity(f, &format!("  tags = {{ {} = \"x\" }}\n", "k".repeat(129))),
            "tags[",
            "tags = {",
            &["the key must be 1 to 128 characters long; got 129"],
        ),
        case(
            "tag value too long",
            identity(f, &format!("  tags = {{ team = \"{}\" }}\n", "v".repeat(257))),
            "tags[\"team\"]",
            "tags = {",
            &["at most 256 characters long; got 257"],
        ),
        case(
            "the provider's own tag",
            identity(f, "  tags = { \"terraform-provider-efs:managed-by\" = \"x\" }\n"),
            "tags[\"terraform-provider-efs:managed-by\"]",
            "tags = {",
            &["is the provider's own tag"],
        ),
        case(
            "the provider's owner tag",
            identity(f, "  tags = { \"terraform-provider-efs:owner\" = \"another-state\" }\n"),
            "tags[\"terraform-provider-efs:owner\"]",
            "tags = {",
            &["is the provider's own tag"],
        ),
        case(
            "too many tags",
            identity(f, &format!("  tags = {}\n", tags_hcl(49))),
            "tags",
            "tags = {",
            &["has 49 tags and the provider adds", "at most 50"],
        ),
        case(
            "too many tags with default_tags",
            with_provider(
                identity(f, &format!("  tags = {}\n", tags_hcl(20))),
                &format!("  default_tags {{\n    tags = {{ {} }}\n  }}\n", {
                    let tags: Vec<String> = (0..30).map(|i| format!("d{i} = \"v\"")).collect();
                    tags.join(", ")
                }),
            ),
            "tags",
            "",
            &["tags and the provider's default_tags make 50 tags", "Remove some"],
        ),
        warning(
            "IMDSv1 allowed",
            identity(f, "  metadata_options {\n    http_tokens = \"optional\"\n  }\n"),
            "metadata_options.http_tokens",
            "http_tokens = \"optional\"",
            &["IMDSv1 Allowed", "Set \"required\""],
        ),
        warning(
            "hop limit that reaches every pod",
            identity(f, "  metadata_options {\n    http_put_response_hop_limit = 2\n  }\n"),
            "metadata_options.http_put_response_hop_limit",
            "http_put_response_hop_limit = 2",
            &["every pod on the node", "set 1"],
        ),
        case(
            "identity name with a space",
            identity(f, "  name = \"my nodes\""),
            "name",
            "name = \"my nodes\"",
            &["may contain only letters, digits and the characters"],
        ),
        case(
            "identity name too long",
            identity(f, &format!("  name = \"{long_name}\"")),
            "name",
            "name =",
            &["must be between 1 and 64 characters long"],
        ),
        case(
            "role name with a slash",
            identity(f, "  role_name = \"k8s/nodes\"\n"),
            "role_name",
            "role_name = \"k8s/nodes\"",
            &["may contain only letters"],
        ),
        case(
            "policy name too long",
            identity(f, &format!("  policy_name = \"{long_policy}\"\n")),
            "policy_name",
            "policy_name =",
            &["must be between 1 and 128 characters long"],
        ),
        case(
            "IAM path without slashes",
            identity(f, "  path = \"k8s\"\n"),
            "path",
            "path = \"k8s\"",
            &["must be \"/\" or begin and end with \"/\""],
        ),
        case(
            "instance id of the wrong form",
            identity(f, "  instance_ids = [\"i-XYZ\"]\n"),
            "instance_ids[0]",
            "instance_ids = [\"i-XYZ\"]",
            &["must be an EC2 instance id like i-0123456789abcdef0"],
        ),
        case(
            "policy not JSON",
            identity(f, "  policy_json = \"{nope\"\n"),
            "policy_json",
            "policy_json =",
            &["is not valid JSON", "jsonencode()"],
        ),
        case(
            "policy not an object",
            identity(f, "  policy_json = \"[1]\"\n"),
            "policy_json",
            "policy_json =",
            &["must be a JSON object"],
        ),
        case(
            "policy ARN of the wrong form",
            identity(f, "  additional_policy_arns = [\"AmazonSSMManagedInstanceCore\"]\n"),
            "additional_policy_arns[0]",
            "additional_policy_arns =",
            &["must be an IAM policy ARN like arn:aws:iam::123456789012:policy/name"],
        ),
        case(
            "unknown additional policy",
            identity(f, "  additional_policy_arns = [\"arn:aws:iam::123456789012:policy/no-such-policy\"]\n"),
            "additional_policy_arns",
            "additional_policy_arns =",
            &["policy/no-such-policy", "do not exist", "Check the ARNs"],
        ),
        case(
            "unknown http_tokens",
            identity(f, "  metadata_options {\n    http_tokens = \"sometimes\"\n  }\n"),
            "metadata_options.http_tokens",
            "http_tokens = \"sometimes\"",
            &["must be one of \"optional\", \"required\""],
        ),
        case(
            "hop limit zero",
            identity(f, "  metadata_options {\n    http_put_response_hop_limit = 0\n  }\n"),
            "metadata_options.http_put_response_hop_limit",
            "http_put_response_hop_limit = 0",
            &["must be between 1 and 64"],
        ),
        case(
            "hop limit above 64",
            identity(f, "  metadata_options {\n    http_put_response_hop_limit = 65\n  }\n"),
            "metadata_options.http_put_response_hop_limit",
            "http_put_response_hop_limit = 65",
            &["must be between 1 and 64"],
        ),
        case(
            "fractional hop limit",
            identity(f, "  metadata_options {\n    http_put_response_hop_limit = 1.5\n  }\n"),
            "metadata_options.http_put_response_hop_limit",
            "http_put_response_hop_limit = 1.5",
            &["must be a whole number"],
        ),
        case(
            "empty metadata_options",
            identity(f, "  metadata_options {\n  }\n"),
            "metadata_options",
            "",
            &["sets nothing", "set http_put_response_hop_limit", "or remove the block"],
        ),
        case(
            "timeout not a duration",
            identity(f, "  timeouts {\n    create = \"soon\"\n  }\n"),
            "timeouts.create",
            "create = \"soon\"",
            &["must be a duration such as"],
        ),
        case(
            "unknown instance",
            identity(f, &format!("  instance_ids = [\"{NO_SUCH_INSTANCE}\"]\n")),
            "instance_ids",
            "instance_ids =",
            &["i-0fedcba9876543210 (not found)", "Check the ids"],
        ),
        case(
            "terminated instance",
            identity(f, &format!("  instance_ids = [\"{}\"]\n", f.terminated_instance)),
            "instance_ids",
            "instance_ids =",
            &["(terminated)", "remove or replace them"],
        ),
        case(
            "instance with another profile",
            identity(f, &format!("  instance_ids = [\"{}\"]\n", f.foreign_profile_instance)),
            "instance_ids",
            "instance_ids =",
            &["already has IAM Instance Profile", "replace_existing_association = true"],
        ),
        case(
            "identity without instance_ids",
            identity(f, "-instance_ids"),
            "instance_ids",
            "",
            &["The argument \"instance_ids\" is required"],
        ),
        case(
            "misplaced argument",
            identity(f, "  http_tokens = \"required\"\n"),
            "http_tokens",
            "http_tokens = \"required\"",
            &["An argument named \"http_tokens\" is not expected here"],
        ),
        // efs_prometheus_volume
        case(
            "volume name starting with a dash",
            volume(f, "  name = \"-prom\""),
            "name",
            "name = \"-prom\"",
            &["must be letters, digits, '.', '_' or '-'"],
        ),
        case(
            "volume name too long",
            volume(f, &format!("  name = \"{}\"", "v".repeat(49))),
            "name",
            "name =",
            &["must be between 1 and 48 characters long"],
        ),
        case(
            "subnet id of the wrong form",
            volume(f, "  subnet_ids = [\"subnet-nothex\"]"),
            "subnet_ids[0]",
            "subnet_ids = [\"subnet-nothex\"]",
            &["must be a subnet id such as subnet-0123456789abcdef0"],
        ),
        case(
            "no subnets",
            volume(f, "  subnet_ids = []"),
            "subnet_ids",
            "subnet_ids = []",
            &["Give at least one subnet"],
        ),
        case(
            "two subnets in one zone",
            volume(f, &format!("  subnet_ids = {}", subnets(&[a, f.same_zone_subnet.as_str()]))),
            "subnet_ids",
            "subnet_ids =",
            &["one mount target per availability zone", "Keep one of them"],
        ),
        case(
            "unknown subnet",
            volume(f, &format!("  subnet_ids = {}", subnets(&[a, NO_SUCH_SUBNET]))),
            "subnet_ids",
            "subnet_ids =",
            &["InvalidSubnetID.NotFound", "Check that every subnet in subnet_ids exists in region"],
        ),
        case(
            "subnets in two VPCs",
            volume(f, &format!("  subnet_ids = {}", subnets(&[a, f.other_vpc_subnet.as_str()]))),
            "subnet_ids",
            "subnet_ids =",
            &["must be in one VPC", &f.other_vpc_subnet, "Keep only subnets of the cluster's VPC"],
        ),
        case(
            "CIDR octet above 255",
            volume(f, "  allowed_cidr_blocks = [\"10.0.0.256/24\"]"),
            "allowed_cidr_blocks[0]",
            "allowed_cidr_blocks =",
            &["each octet must be 0 to 255"],
        ),
        case(
            "CIDR with host bits",
            volume(f, "  allowed_cidr_blocks = [\"10.20.0.1/16\"]"),
            "allowed_cidr_blocks[0]",
            "allowed_cidr_blocks =",
            &["host bits set", "10.20.0.0/16"],
        ),
        case(
            "CIDR prefix above 32",
            volume(f, "  allowed_cidr_blocks = [\"10.20.0.0/33\"]"),
            "allowed_cidr_blocks[0]",
            "allowed_cidr_blocks =",
            &["it must be 0 to 32"],
        ),
        case(
            "security group id of the wrong form",
            volume(f, "  allowed_security_group_ids = [\"sg-nothex\"]"),
            "allowed_security_group_ids[0]",
            "allowed_security_group_ids =",
            &["must be a security group id such as sg-0123456789abcdef0"],
        ),
        case(
            "unknown allowed security group",
            volume(f, &format!("  allowed_security_group_ids = [\"{NO_SUCH_GROUP}\"]")),
            "allowed_security_group_ids",
            "allowed_security_group_ids =",
            &["do not exist in region", "Check the ids"],
        ),
        case(
            "unknown mount target security group",
            volume(f, &own_groups(NO_SUCH_GROUP)),
            "security_group_ids",
            "security_group_ids =",
            &["do not exist in region", "Check the ids"],
        ),
        case(
            "mount target security group of another VPC",
            volume(f, &own_groups(&f.other_vpc_group)),
            "security_group_ids",
            "security_group_ids =",
            &["must be security groups of the subnets' VPC", "Use groups of"],
        ),
        case(
            "own and created security groups",
            volume(f, &format!("{own}\n  allowed_cidr_blocks = [\"10.20.0.0/16\"]", own = own_groups(f.node_group()))),
            "allowed_cidr_blocks",
            "allowed_cidr_blocks =",
            &["Use one or the other"],
        ),
        case(
            "no NFS access",
            volume(f, "-allowed_security_group_ids"),
            "allowed_security_group_ids",
            "",
            &["Set allowed_security_group_ids", "nothing can mount the volume"],
        ),
        case(
            "unknown performance mode",
            volume(f, "  performance_mode = \"fast\""),
            "performance_mode",
            "performance_mode = \"fast\"",
            &["must be one of \"generalPurpose\", \"maxIO\""],
        ),
        case(
            "unknown throughput mode",
            volume(f, "  throughput_mode = \"turbo\""),
            "throughput_mode",
            "throughput_mode = \"turbo\"",
            &["must be one of \"bursting\", \"provisioned\", \"elastic\""],
        ),
        case(
            "provisioned mode without throughput",
            volume(f, "  throughput_mode = \"provisioned\""),
            "provisioned_throughput_in_mibps",
            "",
            &["needs provisioned_throughput_in_mibps"],
        ),
        case(
            "throughput without provisioned mode",
            volume(f, "  throughput_mode = \"bursting\"\n  provisioned_throughput_in_mibps = 100"),
            "provisioned_throughput_in_mibps",
            "provisioned_throughput_in_mibps = 100",
            &["only allowed with throughput_mode = \"provisioned\""],
        ),
        case(
            "negative throughput",
            volume(f, "  throughput_mode = \"provisioned\"\n  provisioned_throughput_in_mibps = -5"),
            "provisioned_throughput_in_mibps",
            "provisioned_throughput_in_mibps = -5",
            &["must be between 1 and 3414"],
        ),
        case(
            "unknown lifecycle transition",
            volume(f, "  transition_to_ia = \"AFTER_2_DAYS\""),
            "transition_to_ia",
            "transition_to_ia = \"AFTER_2_DAYS\"",
            &["must be one of \"AFTER_1_DAY\""],
        ),
        case(
            "KMS key without encryption",
            volume(f, "  encrypted = false\n  kms_key_id = \"arn:aws:kms:us-east-1:123456789012:key/k\""),
            "kms_key_id",
            "kms_key_id =",
            &["kms_key_id needs encrypted = true"],
        ),
        case(
            "KMS key not an ARN",
            volume(f, "  kms_key_id = \"alias/prometheus\""),
            "kms_key_id",
            "kms_key_id = \"alias/prometheus\"",
            &["must be a KMS key or alias ARN"],
        ),
        case(
            "negative access point uid",
            volume(f, "  access_point {\n    uid = -1\n  }"),
            "access_point.uid",
            "uid = -1",
            &["must be between 0 and 4294967295"],
        ),
        case(
            "relative root directory",
            volume(f, "  access_point {\n    root_directory = \"data\"\n  }"),
            "access_point.root_directory",
            "root_directory = \"data\"",
            &["must be an absolute path such as /prometheus"],
        ),
        case(
            "permissions not octal",
            volume(f, "  access_point {\n    permissions = \"0999\"\n  }"),
            "access_point.permissions",
            "permissions = \"0999\"",
            &["must be octal permissions such as 0755"],
        ),
        case(
            "namespace with capitals",
            volume(f, "  kubernetes {\n    namespace = \"Monitoring\"\n  }"),
            "kubernetes.namespace",
            "namespace = \"Monitoring\"",
            &["must be a DNS label"],
        ),
        case(
            "unknown provisioning",
            volume(f, "  kubernetes {\n    provisioning = \"magic\"\n  }"),
            "kubernetes.provisioning",
            "provisioning = \"magic\"",
            &["must be one of \"static\", \"dynamic\""],
        ),
        case(
            "negative capacity",
            volume(f, "  kubernetes {\n    capacity = \"-5Gi\"\n  }"),
            "kubernetes.capacity",
            "capacity = \"-5Gi\"",
            &["must be a quantity such as 50Gi"],
        ),
        case(
            "maxIO with elastic throughput",
            volume(f, "  performance_mode = \"maxIO\""),
            "performance_mode",
            "performance_mode = \"maxIO\"",
            &["does not offer elastic throughput", "throughput_mode = \"bursting\""],
        ),
        case(
            "six security groups on a mount target",
            volume(
                f,
                &format!("  security_group_ids = {}\n-allowed_security_group_ids", {
                    let groups: Vec<String> = (1..=6).map(|i| format!("sg-0000000000000000{i}")).collect();
                    hcl_list(&groups)
                }),
            ),
            "security_group_ids",
            "security_group_ids =",
            &["has 6 elements", "EFS puts on a mount target at most 5"],
        ),
        case(
            "root directory with a trailing slash",
            volume(f, "  access_point {\n    root_directory = \"/prometheus/\"\n  }"),
            "access_point.root_directory",
            "root_directory = \"/prometheus/\"",
            &["ends with \"/\"", "write \"/prometheus\""],
        ),
        case(
            "root directory too deep",
            volume(f, "  access_point {\n    root_directory = \"/a/b/c/d/e\"\n  }"),
            "access_point.root_directory",
            "root_directory = \"/a/b/c/d/e\"",
            &["is 5 directories deep", "at most 4"],
        ),
        case(
            "root directory with a dot directory",
            volume(f, "  access_point {\n    root_directory = \"/prometheus/.data\"\n  }"),
            "access_point.root_directory",
            "root_directory = \"/prometheus/.data\"",
            &["names starting with \".\""],
        ),
        case(
            "storage class name with an empty label",
            volume(f, "  kubernetes {\n    storage_class_name = \"efs..prometheus\"\n  }"),
            "kubernetes.storage_class_name",
            "storage_class_name = \"efs..prometheus\"",
            &["must be a DNS subdomain"],
        ),
        case(
            "volume timeout negative",
            volume(f, "  timeouts {\n    update = \"-5m\"\n  }"),
            "timeouts.update",
            "update = \"-5m\"",
            &["is negative"],
        ),
        case(
            "tag on the volume with the aws: prefix",
            volume(f, "  tags = { \"aws:backup\" = \"x\" }"),
            "tags[\"aws:backup\"]",
            "tags = {",
            &["reserved for AWS's own tags"],
        ),
        warning(
            "NFS open to every address",
            volume(f, "  allowed_cidr_blocks = [\"0.0.0.0/0\"]"),
            "allowed_cidr_blocks[0]",
            "allowed_cidr_blocks =",
            &["NFS Open To Every Address", "allowed_security_group_ids"],
        ),
        case(
            "volume without subnets",
            volume(f, "-subnet_ids"),
            "subnet_ids",
            "",
            &["The argument \"subnet_ids\" is required"],
        ),
        // Data sources.
        case(
            "file system ARN of the wrong form",
            data_source("efs_csi_driver_iam_policy", "  file_system_arns = [\"fs-0123456789abcdef0\"]\n"),
            "file_system_arns[0]",
            "file_system_arns =",
            &["must be an EFS file system ARN like"],
        ),
        case(
            "empty file_system_arns",
            data_source("efs_csi_driver_iam_policy", "  file_system_arns = []\n"),
            "file_system_arns",
            "file_system_arns = []",
            &["would not limit the policy", "leave file_system_arns out"],
        ),
        case(
            "readiness without nodes",
            readiness("[]", "\"fs-0123456789abcdef0\"", ""),
            "instance_ids",
            "instance_ids = []",
            &["must name at least one node"],
        ),
        case(
            "readiness file system id of the wrong form",
            readiness(&f.cluster.instance_ids_hcl(), "\"fs-XYZ\"", ""),
            "file_system_id",
            "file_system_id = \"fs-XYZ\"",
            &["must be an EFS file system id such as fs-0123456789abcdef0"],
        ),
        case(
            "readiness negative uid",
            readiness(&f.cluster.instance_ids_hcl(), "\"fs-0123456789abcdef0\"", "  expected_posix_uid = -1\n"),
            "expected_posix_uid",
            "expected_posix_uid = -1",
            &["must be between 0 and 4294967295"],
        ),
    ]
}

/// Whether Terraform quoted the configuration line starting with `line` under a diagnostic: in
/// squashed output such a line reads `<line number>: <line>`.
fn quotes_line(squashed: &str, line: &str) -> bool {
    squashed.match_indices(&format!(": {line}")).any(|(at, _)| {
        let before = &squashed[..at];
        before.ends_with(|c: char| c.is_ascii_digit())
    })
}

/// Plans `case` through a proxy of its own; the problems found, if any.
///
/// A plain [`Workdir`], not a [`Scenario`]: each case only plans (its proxy shows that no call
/// changes anything), the test's own scenario checks at its end that moto holds nothing new, and
/// the refused-credentials case runs while moto refuses the harness's keys too, so a scenario
/// could not read moto's inventory then.
fn run(moto: &Moto, case: &Case) -> Vec<String> {
    let proxy = FaultProxy::start(moto);
    let wd = Workdir::new(moto);
    wd.write("main.tf", &case.hcl.replace(ENDPOINT, &proxy.endpoint()));
    let out = wd.run(&["plan", "-input=false", "-no-color"]);
    let text = squash(&out.combined());
    let mut problems = Vec::new();
    if case.warning {
        if out.code != Some(0) || !text.contains("Warning: ") || text.contains("Error: ") {
            problems.push(format!("expected the plan to succeed with a warning, got exit code {:?}", out.code));
        }
    } else if out.code != Some(1) || !text.contains("Error: ") {
        problems.push(format!("expected the plan to fail with an error, got exit code {:?}", out.code));
    }
    if !text.contains(case.path) {
        problems.push(format!("no mention of the attribute path {:?}", case.path));
    }
    if let Some(line) = &case.line {
        if !quotes_line(&text, line) {
            problems.push(format!("the configuration line {line:?} is not quoted under the diagnostic"));
        }
    }
    for advice in &case.advice {
        if !text.contains(advice.as_str()) {
            problems.push(format!("no advice {advice:?}"));
        }
    }
    let mutating = proxy.mutating_calls();
    if !mutating.is_empty() {
        problems.push(format!("mutating AWS calls were made: {mutating:?}"));
    }
    if problems.is_empty() {
        return problems;
    }
    vec![format!("case {:?}:\n  - {}\n{out}", case.name, problems.join("\n  - "))]
}

#[test]
fn every_bad_input_is_diagnosed_at_plan_with_no_mutating_call() {
    skip_unless_acceptance!();
    let started = Instant::now();
    let moto = Moto::start();
    let fixture = Fixture::create(&moto);

    // The corpus's baseline is valid: the same resources plan cleanly through a proxy, and the
    // provider's read-only checks do reach AWS through it.
    let proxy = FaultProxy::start(&moto);
    let wd = Scenario::new(&moto);
    let baseline = format!(
        "{}{}{}",
        identity(&fixture, ""),
        volume(&fixture, "").split_once("\nresource").map(|(_, r)| format!("\nresource{r}")).unwrap(),
        "\ndata \"efs_csi_driver_iam_policy\" \"this\" {}\n"
    );
    wd.write("main.tf", &baseline.replace(ENDPOINT, &proxy.endpoint()));
    wd.plan();
    let calls = proxy.calls();
    for read in ["sts:GetCallerIdentity", "ec2:DescribeSubnets", "ec2:DescribeInstances"] {
        assert!(calls.contains_key(read), "the baseline plan made no {read} through the proxy: {calls:?}");
    }
    assert!(proxy.mutating_calls().is_empty(), "{calls:?}");

    let cases = corpus(&fixture);
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..PARALLEL_PLANS {
            scope.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let problems = run(&moto, case);
                    failures.lock().unwrap_or_else(|e| e.into_inner()).extend(problems);
                }
            });
        }
    });

    // Refused credentials: moto enforces IAM authentication for this one, so it runs alone.
    let refused = case(
        "refused credentials",
        provider_in_use(provider("")),
        "access_key",
        "access_key =",
        &["Invalid AWS Credentials", "the provider block's keys were refused", "Set access_key/secret_key"],
    );
    let auth = moto.enforce_auth();
    let refused_problems = run(&moto, &refused);
    drop(auth);

    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.extend(refused_problems);
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len() + 1, failures.join("\n\n"));
    // Nothing was made: moto holds only the fixture.
    wd.assert_nothing_new();
    eprintln!("{} bad inputs diagnosed in {:?}", cases.len() + 1, started.elapsed());
}
