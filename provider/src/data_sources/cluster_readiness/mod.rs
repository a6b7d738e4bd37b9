//! Data source `efs_cluster_readiness`: reads, without changing anything, whether a self-managed
//! cluster's nodes can mount an EFS file system through the aws-efs-csi-driver and Prometheus can
//! write to it, and says what to change when not.
//!
//! Each failure it finds would otherwise show only once pods start: a claim stuck Pending, a mount
//! timing out in one zone, driver pods logging `NoCredentialProviders`, Prometheus crash-looping on
//! `permission denied`. The reads are batched ([`facts`]), the checks are pure functions of what
//! was read ([`checks`]).

mod checks;
mod facts;
mod iam_policy;

use async_trait::async_trait;

use self::checks::{Check, Status};
use self::facts::Inputs;
use crate::aws::calls::CallLog;
use crate::aws::ec2::INSTANCE_ID_PATTERN;
use crate::framework::schema::{Attribute, Block, Mode, Nesting, Schema};
use crate::framework::validators::{each_element, int_between, string_matches};
use crate::framework::{AttributePath, Ctx, DataSource, Diagnostics, Type, Value};
use crate::logging;
use crate::provider_config::ProviderData;

pub const TYPE_NAME: &str = "efs_cluster_readiness";

const FILE_SYSTEM_ID_PATTERN: &str = r"^fs-[0-9a-f]{8,40}$";
const ACCESS_POINT_ID_PATTERN: &str = r"^fsap-[0-9a-f]{8,40}$";
/// `nobody`, the user the Prometheus image runs as.
const PROMETHEUS_UID: i64 = 65534;
/// How many problems the summary lists before pointing to `checks`.
const SUMMARY_PROBLEMS: usize = 10;

pub struct ClusterReadiness;

fn strings(config: &Value, name: &str) -> Vec<String> {
    config
        .get(name)
        .and_then(Value::elements)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn inputs(config: &Value) -> Inputs {
    let text = |name: &str| config.get(name).and_then(Value::as_str).map(str::to_string);
    let number = |name: &str| config.get(name).and_then(Value::as_i64).unwrap_or(PROMETHEUS_UID);
    let mut instance_ids = strings(config, "instance_ids");
    instance_ids.sort();
    instance_ids.dedup();
    Inputs {
        instance_ids,
        file_system_id: text("file_system_id").unwrap_or_default(),
        access_point_id: text("access_point_id"),
        expected_uid: number("expected_posix_uid"),
        expected_gid: number("expected_posix_gid"),
        dynamic_provisioning: config.get("dynamic_provisioning").and_then(Value::as_bool).unwrap_or(true),
        controller_host_network: config.get("controller_host_network").and_then(Value::as_bool).unwrap_or(true),
        manifests: strings(config, "manifests"),
    }
}

fn check_value(check: &Check) -> Value {
    Value::object([
        ("name", Value::string(check.name)),
        ("status", Value::string(check.status.as_str())),
        ("subject", Value::string(&check.subject)),
        ("message", Value::string(&check.message)),
        ("fix", if check.fix.is_empty() { Value::Null } else { Value::string(&check.fix) }),
    ])
}

/// One paragraph: the verdict, then each problem (errors first) with its fix.
fn summary(inputs: &Inputs, checks: &[Check]) -> String {
    let count = |status: Status| checks.iter().filter(|c| c.status == status).count();
    let (errors, warnings) = (count(Status::Error), count(Status::Warning));
    let plural = |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
    let scope = format!("{} and {}", plural(inputs.instance_ids.len(), "node"), inputs.file_system_id);
    let mut text = match (errors, warnings) {
        (0, 0) => format!("READY: {scope} passed all {} checks.", checks.len()),
        (0, w) => format!("READY with {}: {scope}, {} checks.", plural(w, "warning"), checks.len()),
        (e, w) => format!(
            "NOT READY: {}, {} in {} checks of {scope}.",
            plural(e, "error"),
            plural(w, "warning"),
            checks.len()
        ),
    };
    let mut problems: Vec<&Check> = checks.iter().filter(|c| c.status != Status::Ok).collect();
    problems.sort_by_key(|c| std::cmp::Reverse(c.status));
    for check in problems.iter().take(SUMMARY_PROBLEMS) {
        text.push_str(&format!(
            "\n- {} {} [{}]: {}\n  fix: {}",
            check.status.as_str(),
            check.name,
            check.subject,
            check.message,
            check.fix
        ));
    }
    if problems.len() > SUMMARY_PROBLEMS {
        text.push_str(&format!("\n- ... and {} more: see the checks attribute.", problems.len() - SUMMARY_PROBLEMS));
    }
    text
}

/// Warnings always become warning diagnostics; errors become error diagnostics only with
/// `fail_on_error`, so a module can stop before it goes on.
fn diagnostics(checks: &[Check], fail_on_error: bool) -> Diagnostics {
    let mut diags = Diagnostics::new();
    for check in checks {
        let detail = format!("{} [{}]: {}\n\nFix: {}", check.name, check.subject, check.message, check.fix);
        match check.status {
            Status::Warning => diags.warning("Cluster Readiness Warning", detail),
            Status::Error if fail_on_error => diags.error("Cluster Not Ready", detail),
            _ => {}
        }
    }
    diags
}

#[async_trait]
impl DataSource for ClusterReadiness {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        let id = |name: &str, what: &str| {
            Attribute::optional(name, Type::Number)
                .description(format!("{what} Default `65534` (`nobody`, the user the Prometheus image runs as)."))
                .validator(int_between(0, 4_294_967_295))
        };
        let check_attribute =
            |name: &str, description: &str| Attribute::computed(name, Type::String).description(description);
        Schema::new(
            0,
            Block::new(
                "Checks, read-only and in a handful of AWS calls, that a self-managed cluster's nodes can mount an EFS file \
                 system through the aws-efs-csi-driver and that Prometheus can write to it: a mount target in every \
                 availability zone with nodes, security groups that let NFS through both ways, DNS in the VPC, an instance \
                 profile whose role allows the driver's actions on every running node, instance metadata reachable by the \
                 driver and by no other pod, an available and encrypted file system, TLS where the file system policy \
                 demands it, and an access point owned by the user Prometheus runs as. Each check names its subject and a \
                 concrete fix.",
            )
            .attribute(
                Attribute::required("instance_ids", Type::set(Type::String))
                    .description("The cluster's nodes: the master and every worker (for example `efs_csi_node_identity.<name>.instance_ids`).")
                    .validator(each_element(string_matches(
                        INSTANCE_ID_PATTERN,
                        "must be an EC2 instance id such as i-0123456789abcdef0",
                    ))),
            )
            .attribute(
                Attribute::required("file_system_id", Type::String)
                    .description("The EFS file system (for example `efs_prometheus_volume.<name>.file_system_id`).")
                    .validator(string_matches(FILE_SYSTEM_ID_PATTERN, "must be an EFS file system id such as fs-0123456789abcdef0")),
            )
            .attribute(
                Attribute::optional("access_point_id", Type::String)
                    .description("The access point Prometheus mounts (for example `efs_prometheus_volume.<name>.access_point_id`); when set, its POSIX user and root directory owner are checked.")
                    .validator(string_matches(ACCESS_POINT_ID_PATTERN, "must be an EFS access point id such as fsap-0123456789abcdef0")),
            )
            .attribute(id("expected_posix_uid", "The user id Prometheus runs as, which the access point must enforce and own its root directory with."))
            .attribute(id("expected_posix_gid", "The group id Prometheus runs as."))
            .attribute(
                Attribute::optional("dynamic_provisioning", Type::Bool)
                    .description("Whether claims are provisioned dynamically (a StorageClass with `provisioningMode: efs-ap`): the nodes' role must then also allow creating and deleting access points. The actions are those of `efs_csi_driver_iam_policy` with the same setting. Default `true`."),
            )
            .attribute(
                Attribute::optional("controller_host_network", Type::Bool)
                    .description("Whether the aws-efs-csi-driver's controller runs on the host network, as the `csi_driver_helm_values` of `efs_prometheus_volume` put it (the driver's node pods always do). Then IMDSv2 with a response hop limit of 1 is what the `imds` check expects: the driver gets the instance credentials and no other pod does; a higher limit, or IMDSv1, is a warning. With `false` the controller needs a hop limit of 2, and a limit of 1 is an error. Default `true`."),
            )
            .attribute(
                Attribute::optional("manifests", Type::list(Type::String))
                    .description("The PersistentVolume and StorageClass YAML that mount the file system (for example the volume's `persistent_volume_manifest` and `storage_class_manifest`). When the file system policy denies access without TLS, none of them may set `encryptInTransit: \"false\"`.")
            )
            .attribute(
                Attribute::optional("fail_on_error", Type::Bool)
                    .description("Turn every check with status `error` into an error diagnostic, so `plan` / `apply` stops. Default `false`: errors are only reported in `checks`, `ready` and `summary`. Warnings are always shown as warning diagnostics."),
            )
            .attribute(Attribute::computed("ready", Type::Bool).description("Whether no check has status `error`."))
            .attribute(
                Attribute::nested(
                    "checks",
                    Mode::Computed,
                    Nesting::List,
                    vec![
                        check_attribute("name", "What was checked: `file_system`, `encryption`, `instance_state`, `mount_target_per_az`, `same_vpc`, `nfs_ingress`, `nfs_egress`, `vpc_dns`, `instance_profile`, `imds`, `tls` or `access_point`."),
                        check_attribute("status", "`ok`, `warning` or `error`."),
                        check_attribute("subject", "What the check is about: the instance, subnet, security group, VPC, role, file system or access point to change."),
                        check_attribute("message", "What was found, and the symptom it causes."),
                        check_attribute("fix", "What to change: the resource argument or the `aws` CLI command. Null when the check passed."),
                    ],
                )
                .description("Every check made, in a fixed order. Checks that pass for all nodes are reported once."),
            )
            .attribute(Attribute::computed("summary", Type::String).description("The verdict in one line, then each problem with its fix, errors first.")),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if config.get("instance_ids").and_then(Value::elements).is_some_and(|ids| ids.is_empty()) {
            diags.error_at(
                AttributePath::root("instance_ids"),
                "Missing Instance IDs",
                "instance_ids must name at least one node of the cluster.",
            );
        }
    }

    async fn read(&self, ctx: &Ctx, config: &Value) -> (Value, Diagnostics) {
        let provider = match ProviderData::from_ctx(ctx) {
            Ok(provider) => provider,
            Err(diags) => return (Value::Null, diags),
        };
        let inputs = inputs(config);
        let calls = CallLog::default();
        let facts = match facts::gather(&provider.aws.counted(&calls), &inputs).await {
            Ok(facts) => facts,
            Err(e) => return (Value::Null, e.to_diagnostics("Error Reading Cluster Readiness")),
        };
        logging::debug(
            "checked cluster readiness",
            &[
                ("nodes", &inputs.instance_ids.len().to_string()),
                ("aws_calls", &calls.len().to_string()),
                ("in_a_row", &calls.in_a_row().to_string()),
                ("operations", &calls.summary()),
            ],
        );
        let checks = checks::evaluate(&inputs, &facts);
        let fail_on_error = config.get("fail_on_error").and_then(Value::as_bool).unwrap_or(false);
        let mut state = config.clone();
        if let Value::Object(map) = &mut state {
            map.insert("ready".into(), Value::Bool(!checks.iter().any(|c| c.status == Status::Error)));
            map.insert("checks".into(), Value::List(checks.iter().map(check_value).collect()));
            map.insert("summary".into(), Value::string(summary(&inputs, &checks)));
        }
        (state, diagnostics(&checks, fail_on_error))
    }
}
