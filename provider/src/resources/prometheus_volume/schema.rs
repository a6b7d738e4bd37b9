//! The schema of `efs_prometheus_volume`: arguments, their plan-time validation, and the computed
//! attributes including the rendered Kubernetes manifests and Helm values.

use std::time::Duration;

use crate::framework::schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema, Validator};
use crate::framework::timeouts::{self, Timeouts};
use crate::framework::validators::{
    at_most_elements, each_element, int_between, ipv4_cidr_block, one_of, string_length, string_matches,
};
use crate::framework::{Type, Value};
use crate::resources::tags::{tags_all_attribute, tags_attribute};

pub const TYPE_NAME: &str = "efs_prometheus_volume";

pub const DEFAULT_TIMEOUTS: Timeouts =
    Timeouts::new(Duration::from_secs(30 * 60), Duration::from_secs(30 * 60), Duration::from_secs(30 * 60));

/// The default of each optional argument, named once: the schema plans them, and the model and
/// import fall back to the same values.
pub mod defaults {
    pub const ENCRYPTED: bool = true;
    pub const PERFORMANCE_MODE: &str = "generalPurpose";
    /// Suits Prometheus's bursty compactions.
    pub const THROUGHPUT_MODE: &str = "elastic";
    pub const BACKUP: bool = true;
    pub const ENFORCE_TLS: bool = true;
    /// `nobody`, the user (and group) the Prometheus image runs as: the access point's POSIX user
    /// and the owner of its root directory.
    pub const POSIX_ID: i64 = 65534;
    pub const ROOT_DIRECTORY: &str = "/prometheus";
    pub const PERMISSIONS: &str = "0755";
    pub const NAMESPACE: &str = "monitoring";
    pub const STORAGE_CLASS_NAME: &str = "efs-prometheus";
    pub const PVC_NAME: &str = "prometheus-server";
    pub const CAPACITY: &str = "50Gi";
    pub const PROVISIONING: &str = "static";
    /// One controller works at a time (leader election), and on the host network each replica
    /// needs a worker of its own.
    pub const CSI_CONTROLLER_REPLICAS: i64 = 1;
}

pub const PERFORMANCE_MODES: &[&str] = &["generalPurpose", "maxIO"];
pub const THROUGHPUT_MODES: &[&str] = &["bursting", "provisioned", "elastic"];
pub const TRANSITION_TO_IA: &[&str] = &[
    "AFTER_1_DAY",
    "AFTER_7_DAYS",
    "AFTER_14_DAYS",
    "AFTER_30_DAYS",
    "AFTER_60_DAYS",
    "AFTER_90_DAYS",
    "AFTER_180_DAYS",
    "AFTER_270_DAYS",
    "AFTER_365_DAYS",
];
pub const PROVISIONING: &[&str] = &["static", "dynamic"];

const SUBNET_ID: &str = r"^subnet-[0-9a-f]{8,17}$";
const SECURITY_GROUP_ID: &str = r"^sg-[0-9a-f]{8,17}$";
const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// Dot-separated DNS labels: `a..b` or `a.-b` only look like a subdomain, and Kubernetes refuses them.
const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// EFS takes at most five security groups on a mount target.
pub const MAX_MOUNT_TARGET_SECURITY_GROUPS: usize = 5;
/// EFS's rule for an access point's root directory: at most four directories below `/`.
const MAX_ROOT_DIRECTORY_DEPTH: usize = 4;

/// An access point root directory EFS creates: `/`, or up to four directories, none empty or
/// starting with `.`, without a trailing slash.
fn root_directory() -> Validator {
    Validator::new("an EFS access point root directory", |value, path, diags| {
        let Some(dir) = value.as_str() else { return };
        if dir == "/" || !dir.starts_with('/') {
            return; // The pattern validator explains a relative path.
        }
        let parts: Vec<&str> = dir[1..].split('/').collect();
        let problem = if dir.ends_with('/') {
            Some(format!("ends with \"/\"; write {:?}", dir.trim_end_matches('/')))
        } else if parts.iter().any(|p| p.is_empty()) {
            Some("has an empty directory name (\"//\")".to_string())
        } else if let Some(dot) = parts.iter().find(|p| p.starts_with('.')) {
            Some(format!("has the directory {dot:?}; EFS refuses names starting with \".\""))
        } else if parts.len() > MAX_ROOT_DIRECTORY_DEPTH {
            Some(format!("is {} directories deep; EFS allows at most {MAX_ROOT_DIRECTORY_DEPTH}", parts.len()))
        } else {
            None
        };
        if let Some(problem) = problem {
            diags.error_at(
                path.clone(),
                "Invalid Root Directory",
                format!("{path} {problem}. Use a path such as /prometheus or /prometheus/server-1."),
            );
        }
    })
}

/// Warns about a CIDR block that opens NFS to every address.
fn nfs_open_to_everyone() -> Validator {
    Validator::new("not open to everyone", |value, path, diags| {
        if value.as_str() == Some("0.0.0.0/0") {
            diags.warning_at(
                path.clone(),
                "NFS Open To Every Address",
                format!(
                    "{path} is 0.0.0.0/0: anything that can route to the mount targets may mount the Prometheus \
                     data (a VPC peering, a VPN, a public subnet). Allow the nodes' security group in \
                     allowed_security_group_ids, or the cluster's subnet or VPC CIDR block, instead."
                ),
            );
        }
    })
}
const QUANTITY: &str = r"^[1-9][0-9]*(Ki|Mi|Gi|Ti|Pi|Ei)?$";

fn strings(name: &str, mode_required: bool) -> Attribute {
    if mode_required {
        Attribute::required(name, Type::set(Type::String))
    } else {
        Attribute::optional(name, Type::set(Type::String))
    }
}

fn access_point_block() -> NestedBlock {
    let id = |name: &str, what: &str| {
        Attribute::optional(name, Type::Number)
            .default(Value::int(defaults::POSIX_ID))
            .description(format!(
                "{what} Default `{}` (`nobody`, the user the Prometheus image runs as).",
                defaults::POSIX_ID
            ))
            .validator(int_between(0, 4_294_967_295))
    };
    NestedBlock::new(
        "access_point",
        Nesting::Group,
        Block::new(
            "The EFS access point Prometheus mounts: every file operation runs as this POSIX user, inside this \
             root directory, which EFS creates with the given owner and permissions. The server's pod can then \
             write without an init container that changes ownership. Changing it replaces only the access point; \
             the data stays in the directory on the file system.",
        )
        .attribute(id("uid", "POSIX user id every request through the access point runs as."))
        .attribute(id("gid", "POSIX group id every request through the access point runs as."))
        .attribute(
            Attribute::optional("root_directory", Type::String)
                .default(Value::string(defaults::ROOT_DIRECTORY))
                .description(format!(
                    "Directory on the file system exposed as the root of the volume: `/`, or at most 4 directories \
                     (none starting with `.`), without a trailing slash. Default `{}`.",
                    defaults::ROOT_DIRECTORY
                ))
                .validator(string_length(1, 100))
                .validator(string_matches(r"^/[A-Za-z0-9._/-]*$", "must be an absolute path such as /prometheus"))
                .validator(root_directory()),
        )
        .attribute(id("owner_uid", "Owner user id of the root directory when EFS creates it."))
        .attribute(id("owner_gid", "Owner group id of the root directory when EFS creates it."))
        .attribute(
            Attribute::optional("permissions", Type::String)
                .default(Value::string(defaults::PERMISSIONS))
                .description(format!(
                    "Octal permissions of the root directory when EFS creates it. Default `{}`.",
                    defaults::PERMISSIONS
                ))
                .validator(string_matches(r"^0?[0-7]{3}$", "must be octal permissions such as 0755")),
        ),
    )
}

fn kubernetes_block() -> NestedBlock {
    let text = |name: &str, default: &str, description: &str, pattern: &str, rule: &str| {
        Attribute::optional(name, Type::String)
            .default(Value::string(default))
            .description(format!("{description} Default `{default}`."))
            .validator(string_length(1, 63))
            .validator(string_matches(pattern, rule))
    };
    NestedBlock::new(
        "kubernetes",
        Nesting::Group,
        Block::new(
            "How the rendered Kubernetes objects name and size the volume. Only the rendered outputs depend on it.",
        )
        .attribute(text(
            "namespace",
            defaults::NAMESPACE,
            "Namespace of the claim (where Prometheus runs).",
            DNS_LABEL,
            "must be a DNS label",
        ))
        .attribute(text(
            "storage_class_name",
            defaults::STORAGE_CLASS_NAME,
            "Name of the StorageClass.",
            DNS_SUBDOMAIN,
            "must be a DNS subdomain",
        ))
        .attribute(text(
            "pvc_name",
            defaults::PVC_NAME,
            "Name of the PersistentVolumeClaim the Prometheus chart uses as `server.persistentVolume.existingClaim`.",
            DNS_SUBDOMAIN,
            "must be a DNS subdomain",
        ))
        .attribute(text(
            "capacity",
            defaults::CAPACITY,
            "Requested capacity. EFS is elastic and ignores it, but Kubernetes requires one.",
            QUANTITY,
            "must be a quantity such as 50Gi",
        ))
        .attribute(
            Attribute::optional("provisioning", Type::String)
                .default(Value::string(defaults::PROVISIONING))
                .description(format!(
                    "`static`: a PersistentVolume bound to this resource's access point (recommended: one \
                         dedicated access point per Prometheus server). `dynamic`: a StorageClass with \
                         `provisioningMode: efs-ap` on this file system; the driver then creates an access point per \
                         claim, and needs the access point permissions of `efs_csi_driver_iam_policy`. Default `{}`.",
                    defaults::PROVISIONING
                ))
                .validator(one_of(PROVISIONING)),
        )
        .attribute(
            Attribute::optional("csi_controller_replicas", Type::Number)
                .default(Value::int(defaults::CSI_CONTROLLER_REPLICAS))
                .description(format!(
                    "Replicas of the aws-efs-csi-driver's controller in `csi_driver_helm_values` (the chart's \
                     default is 2). The controller runs on the host network, where its health port is a host \
                     port, so every replica needs a schedulable node of its own (a kubeadm master is tainted): \
                     a replica more than that stays Pending. One replica works at a time (leader election); \
                     more only shorten a failover. Default `{}`.",
                    defaults::CSI_CONTROLLER_REPLICAS
                ))
                .validator(int_between(1, 16)),
        ),
    )
}

fn mount_target_type() -> Type {
    Type::object([
        ("subnet_id", Type::String),
        ("availability_zone", Type::String),
        ("mount_target_id", Type::String),
        ("ip_address", Type::String),
        ("network_interface_id", Type::String),
    ])
}

pub fn schema() -> Schema {
    let computed = |name: &str, description: &str| {
        Attribute::computed(name, Type::String).description(description).use_state_for_unknown()
    };
    let rendered = |name: &str, description: &str| Attribute::computed(name, Type::String).description(description);
    Schema::new(
        0,
        Block::new(
            "An Amazon EFS file system prepared as the TSDB volume of one Prometheus server on a self-managed \
             Kubernetes cluster on EC2: the file system, one mount target per subnet, a security group allowing NFS \
             only from the given sources, an access point for the Prometheus user, a policy enforcing TLS, and the \
             Kubernetes manifests and Helm values that use them.\n\n\
             Prometheus does not support NFS (EFS included) for its TSDB: it can fail on lock files, report \
             permission errors on `queries.active`, and corrupt data when two servers share a directory. This \
             resource makes the safe shape the default (one server with the `Recreate` strategy, a dedicated access \
             point per server; the claim's ReadWriteOnce does not stop a second pod, as the EFS CSI driver does not \
             attach volumes) but cannot remove the risk. If you need durability or several \
             replicas, use local disks and `remote_write` to a long-term store instead.",
        )
        .attribute(computed("id", "The file system id."))
        .attribute(
            Attribute::required("name", Type::String)
                .description(
                    "Name of the volume: the `Name` tag, and the source of the file system's creation token, so a \
                     retried or crashed create never makes a second file system. Changing it replaces the file \
                     system (and deletes the Prometheus data on it).",
                )
                .requires_replace()
                .validator(string_length(1, 48))
                .validator(string_matches(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", "must be letters, digits, '.', '_' or '-'")),
        )
        .attribute(
            strings("subnet_ids", true)
                .description("Subnets to create one mount target in each; at most one per availability zone, all in one VPC.")
                .validator(each_element(string_matches(SUBNET_ID, "must be a subnet id such as subnet-0123456789abcdef0"))),
        )
        .attribute(
            strings("security_group_ids", false)
                .description(format!("Security groups for the mount targets (at most {MAX_MOUNT_TARGET_SECURITY_GROUPS}, EFS's limit). When set, no security group is created and the `allowed_*` arguments must be left out."))
                .validator(at_most_elements(MAX_MOUNT_TARGET_SECURITY_GROUPS, "EFS puts on a mount target"))
                .validator(each_element(string_matches(SECURITY_GROUP_ID, "must be a security group id such as sg-0123456789abcdef0"))),
        )
        .attribute(
            strings("allowed_security_group_ids", false)
                .description("Security groups (typically the nodes') allowed to reach the mount targets on tcp 2049, through the security group this resource creates.")
                .validator(each_element(string_matches(SECURITY_GROUP_ID, "must be a security group id such as sg-0123456789abcdef0"))),
        )
        .attribute(
            strings("allowed_cidr_blocks", false)
                .description("IPv4 CIDR blocks allowed to reach the mount targets on tcp 2049. Nothing is open by default; `0.0.0.0/0` gets a warning.")
                .validator(each_element(ipv4_cidr_block()))
                .validator(each_element(nfs_open_to_everyone())),
        )
        .attribute(
            Attribute::optional("encrypted", Type::Bool)
                .default(Value::Bool(defaults::ENCRYPTED))
                .requires_replace()
                .description(format!("Encrypt the file system at rest. Default `{}`. Changing it replaces the file system (and deletes the Prometheus data).", defaults::ENCRYPTED)),
        )
        .attribute(
            Attribute::optional_computed("kms_key_id", Type::String)
                .requires_replace()
                .use_state_for_unknown()
                .description("KMS key ARN for encryption at rest; AWS's default EFS key when left out. Changing it replaces the file system (and deletes the Prometheus data).")
                .validator(string_matches(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/.+$", "must be a KMS key or alias ARN")),
        )
        .attribute(
            Attribute::optional("performance_mode", Type::String)
                .default(Value::string(defaults::PERFORMANCE_MODE))
                .requires_replace()
                .description(format!("`generalPurpose` or `maxIO`. Default `{}`. `maxIO` does not work with `elastic` throughput. Changing it replaces the file system (and deletes the Prometheus data).", defaults::PERFORMANCE_MODE))
                .validator(one_of(PERFORMANCE_MODES)),
        )
        .attribute(
            Attribute::optional("throughput_mode", Type::String)
                .default(Value::string(defaults::THROUGHPUT_MODE))
                .description(format!("`bursting`, `provisioned` or `elastic`. Default `{}`, which suits Prometheus's bursty compactions. Within 24 hours of moving to `provisioned` or raising its throughput, EFS refuses to leave `provisioned` or lower the throughput (plan warns about such a change).", defaults::THROUGHPUT_MODE))
                .validator(one_of(THROUGHPUT_MODES)),
        )
        .attribute(
            Attribute::optional("provisioned_throughput_in_mibps", Type::Number)
                .description("Provisioned throughput in MiB/s; required with, and only allowed with, `throughput_mode = \"provisioned\"`.")
                .validator(int_between(1, 3414)),
        )
        .attribute(
            Attribute::optional("transition_to_ia", Type::String)
                .description("Move files not accessed for this long to Infrequent Access (`AFTER_30_DAYS`, ...). Left out: no lifecycle rule. Prometheus reads old blocks during compaction and queries, so IA can add cost.")
                .validator(one_of(TRANSITION_TO_IA)),
        )
        .attribute(
            Attribute::optional("backup", Type::Bool)
                .default(Value::Bool(defaults::BACKUP))
                .description(format!("Enable AWS Backup's automatic daily backups of the file system. Default `{}`.", defaults::BACKUP)),
        )
        .attribute(
            Attribute::optional("enforce_tls", Type::Bool)
                .default(Value::Bool(defaults::ENFORCE_TLS))
                .description(format!("Attach a file system policy that denies access without TLS (and allows mounting and writing through mount targets). The aws-efs-csi-driver mounts with TLS unless a manifest sets `encryptInTransit: \"false\"`, which the rendered manifests never do. Default `{}`.", defaults::ENFORCE_TLS)),
        )
        .attribute(tags_attribute())
        .attribute(tags_all_attribute())
        .attribute(crate::resources::ownership::owner_id_attribute())
        .attribute(computed("file_system_id", "The EFS file system id (`fs-...`)."))
        .attribute(computed("file_system_arn", "The EFS file system ARN."))
        .attribute(computed("dns_name", "The file system's DNS name (`fs-....efs.REGION.amazonaws.com`)."))
        .attribute(
            Attribute::nested(
                "mount_targets",
                Mode::Computed,
                Nesting::List,
                vec![
                    Attribute::computed("subnet_id", Type::String).description("Subnet of the mount target."),
                    Attribute::computed("availability_zone", Type::String).description("Availability zone of the mount target."),
                    Attribute::computed("mount_target_id", Type::String).description("Mount target id (`fsmt-...`)."),
                    Attribute::computed("ip_address", Type::String).description("IPv4 address of the mount target."),
                    Attribute::computed("network_interface_id", Type::String).description("Network interface of the mount target."),
                ],
            )
            .description("The mount targets, one per subnet, sorted by subnet id."),
        )
        .attribute(Attribute::computed("security_group_id", Type::String).description("The security group this resource created (null when `security_group_ids` is set)."))
        .attribute(Attribute::computed("access_point_id", Type::String).description("The access point id (`fsap-...`)."))
        .attribute(Attribute::computed("access_point_arn", Type::String).description("The access point ARN."))
        .attribute(rendered("volume_handle", "The CSI volume handle `fs-...::fsap-...` the aws-efs-csi-driver mounts."))
        .attribute(rendered("storage_class_manifest", "YAML of the StorageClass (`efs.csi.aws.com`; with `provisioningMode: efs-ap` for dynamic provisioning)."))
        .attribute(rendered("persistent_volume_manifest", "YAML of the PersistentVolume bound to the access point (static provisioning; null for dynamic)."))
        .attribute(rendered("persistent_volume_claim_manifest", "YAML of the ReadWriteOnce PersistentVolumeClaim for the Prometheus server."))
        .attribute(rendered("prometheus_helm_values", &format!("Values for the prometheus-community/prometheus chart (29.x): the claim as the server's persistent volume, one replica of a Deployment with the `Recreate` strategy, running as the access point's user ({}). Alertmanager's claim uses this StorageClass with dynamic provisioning; with static provisioning Alertmanager keeps its state in an emptyDir (a claim on the cluster's default StorageClass, which kubeadm clusters lack, would stay Pending).", defaults::POSIX_ID)))
        .attribute(rendered("csi_driver_helm_values", "Values for the aws-efs-csi-driver chart (4.x) on a non-EKS cluster: the controller on the host network, like the node DaemonSet, so both reach the instance credentials and the region through IMDSv2 with a hop limit of 1 (the chart has no region value), with `csi_controller_replicas` replicas."))
        .block(access_point_block())
        .block(kubernetes_block())
        .block(timeouts::block(&["create", "update", "delete"], &DEFAULT_TIMEOUTS)),
    )
}

/// The `kubernetes` block as the schema plans it when the configuration leaves it out: what a
/// state read without one (on import) gets.
pub fn kubernetes_defaults() -> Value {
    kubernetes_block().block.defaults()
}

pub fn mount_targets_type() -> Type {
    Type::list(mount_target_type())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::validators::validate_block;
    use crate::framework::{Diagnostics, Severity};

    fn diagnostics_for(access_point: &str, storage_class: &str) -> Vec<(Severity, String)> {
        let config = Value::object([
            ("access_point", Value::object([("root_directory", Value::string(access_point))])),
            ("kubernetes", Value::object([("storage_class_name", Value::string(storage_class))])),
            ("allowed_cidr_blocks", Value::set_of_strings(["0.0.0.0/0"])),
            ("security_group_ids", Value::set_of_strings((1..=6).map(|i| format!("sg-0000000{i}")))),
        ]);
        let mut diags = Diagnostics::new();
        validate_block(&schema().block, &config, None, &mut diags);
        diags.iter().map(|d| (d.severity, d.path.as_ref().map(|p| p.to_string()).unwrap_or_default())).collect()
    }

    #[test]
    fn root_directories_and_names_efs_and_kubernetes_refuse() {
        let base = diagnostics_for("/prometheus/server-1", "efs.prometheus");
        assert!(base.contains(&(Severity::Warning, "allowed_cidr_blocks[0]".into())), "{base:?}");
        assert!(base.contains(&(Severity::Error, "security_group_ids".into())), "{base:?}");
        assert_eq!(base.len(), 2, "{base:?}");
        for dir in ["/prometheus/", "/a//b", "/a/.snapshot", "/a/b/c/d/e"] {
            let found = diagnostics_for(dir, "efs");
            assert!(found.contains(&(Severity::Error, "access_point.root_directory".into())), "{dir}: {found:?}");
        }
        for name in ["efs..prometheus", "efs.-x", "efs."] {
            let found = diagnostics_for("/", name);
            assert!(found.contains(&(Severity::Error, "kubernetes.storage_class_name".into())), "{name}: {found:?}");
        }
    }
}
