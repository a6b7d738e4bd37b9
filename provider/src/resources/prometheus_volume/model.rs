//! The typed model of `efs_prometheus_volume` and its conversion to and from [`Value`].

use std::collections::BTreeMap;

use super::schema::defaults;
use crate::aws::ec2::network::NfsSources;
use crate::aws::efs::AccessPointSpec;
use crate::framework::Value;
use crate::resources::ownership::OWNER_TAG;

/// Prefix of the creation token; the token is this plus the name (at most 64 characters in all).
pub const CREATION_TOKEN_PREFIX: &str = "efs-prometheus-";

pub fn creation_token(name: &str) -> String {
    format!("{CREATION_TOKEN_PREFIX}{name}")
}

fn text(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(str::to_string)
}

fn strings(value: &Value, name: &str) -> Vec<String> {
    let mut items: Vec<String> = value
        .get(name)
        .and_then(Value::elements)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    items.sort();
    items
}

fn int(value: &Value, name: &str, default: i64) -> i64 {
    value.get(name).and_then(Value::as_i64).unwrap_or(default)
}

/// The Kubernetes side of the volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesSpec {
    pub namespace: String,
    pub storage_class_name: String,
    pub pvc_name: String,
    pub capacity: String,
    pub dynamic: bool,
    /// Replicas of the CSI driver's controller in the rendered Helm values.
    pub csi_controller_replicas: i64,
}

/// The arguments, with defaults applied (the framework plans them).
#[derive(Clone, Debug)]
pub struct VolumeArgs {
    pub name: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub allowed: NfsSources,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub performance_mode: String,
    pub throughput_mode: String,
    pub provisioned_throughput_in_mibps: Option<f64>,
    pub transition_to_ia: Option<String>,
    pub backup: bool,
    pub enforce_tls: bool,
    pub access_point: AccessPointSpec,
    pub kubernetes: KubernetesSpec,
    pub tags_all: BTreeMap<String, String>,
    /// The owner id (see `resources::ownership`); `None` in a state from before owner ids.
    pub owner_id: Option<String>,
}

impl VolumeArgs {
    pub fn from_value(v: &Value) -> VolumeArgs {
        let null = Value::Null;
        let ap = v.get("access_point").unwrap_or(&null);
        let k8s = v.get("kubernetes").unwrap_or(&null);
        VolumeArgs {
            name: text(v, "name").unwrap_or_default(),
            subnet_ids: strings(v, "subnet_ids"),
            security_group_ids: strings(v, "security_group_ids"),
            allowed: NfsSources {
                security_group_ids: strings(v, "allowed_security_group_ids"),
                cidr_blocks: strings(v, "allowed_cidr_blocks"),
            },
            encrypted: v.get("encrypted").and_then(Value::as_bool).unwrap_or(defaults::ENCRYPTED),
            kms_key_id: text(v, "kms_key_id"),
            performance_mode: text(v, "performance_mode").unwrap_or_else(|| defaults::PERFORMANCE_MODE.into()),
            throughput_mode: text(v, "throughput_mode").unwrap_or_else(|| defaults::THROUGHPUT_MODE.into()),
            provisioned_throughput_in_mibps: v.get("provisioned_throughput_in_mibps").and_then(Value::as_f64),
            transition_to_ia: text(v, "transition_to_ia"),
            backup: v.get("backup").and_then(Value::as_bool).unwrap_or(defaults::BACKUP),
            enforce_tls: v.get("enforce_tls").and_then(Value::as_bool).unwrap_or(defaults::ENFORCE_TLS),
            access_point: AccessPointSpec {
                uid: int(ap, "uid", defaults::POSIX_ID),
                gid: int(ap, "gid", defaults::POSIX_ID),
                path: text(ap, "root_directory").unwrap_or_else(|| defaults::ROOT_DIRECTORY.into()),
                owner_uid: int(ap, "owner_uid", defaults::POSIX_ID),
                owner_gid: int(ap, "owner_gid", defaults::POSIX_ID),
                permissions: text(ap, "permissions").unwrap_or_else(|| defaults::PERMISSIONS.into()),
            },
            kubernetes: KubernetesSpec {
                namespace: text(k8s, "namespace").unwrap_or_else(|| defaults::NAMESPACE.into()),
                storage_class_name: text(k8s, "storage_class_name")
                    .unwrap_or_else(|| defaults::STORAGE_CLASS_NAME.into()),
                pvc_name: text(k8s, "pvc_name").unwrap_or_else(|| defaults::PVC_NAME.into()),
                capacity: text(k8s, "capacity").unwrap_or_else(|| defaults::CAPACITY.into()),
                dynamic: text(k8s, "provisioning").as_deref() == Some("dynamic"),
                csi_controller_replicas: int(k8s, "csi_controller_replicas", defaults::CSI_CONTROLLER_REPLICAS),
            },
            tags_all: v
                .get("tags_all")
                .and_then(Value::as_map)
                .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
                .unwrap_or_default(),
            owner_id: text(v, "owner_id"),
        }
    }

    /// Whether this resource makes its own security group.
    pub fn creates_security_group(&self) -> bool {
        self.security_group_ids.is_empty()
    }

    /// Tags for every AWS object: `tags_all`, the `Name`, the ownership mark and the owner id.
    pub fn aws_tags(&self) -> Vec<(String, String)> {
        let mut tags = self.tags_all.clone();
        tags.entry("Name".into()).or_insert_with(|| self.name.clone());
        tags.insert(crate::resources::tags::MANAGED_BY_TAG.into(), creation_token(&self.name));
        if let Some(owner) = &self.owner_id {
            tags.insert(OWNER_TAG.into(), owner.clone());
        }
        tags.into_iter().collect()
    }
}

/// One mount target as stored in state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountTarget {
    pub subnet_id: String,
    pub availability_zone: String,
    pub mount_target_id: String,
    pub ip_address: String,
    pub network_interface_id: String,
}

impl MountTarget {
    pub fn from_aws(mt: &aws_sdk_efs::types::MountTargetDescription) -> MountTarget {
        MountTarget {
            subnet_id: mt.subnet_id().to_string(),
            availability_zone: mt.availability_zone_name().unwrap_or_default().to_string(),
            mount_target_id: mt.mount_target_id().to_string(),
            ip_address: mt.ip_address().unwrap_or_default().to_string(),
            network_interface_id: mt.network_interface_id().unwrap_or_default().to_string(),
        }
    }

    pub fn to_value(&self) -> Value {
        Value::object([
            ("subnet_id", Value::string(&self.subnet_id)),
            ("availability_zone", Value::string(&self.availability_zone)),
            ("mount_target_id", Value::string(&self.mount_target_id)),
            ("ip_address", Value::string(&self.ip_address)),
            ("network_interface_id", Value::string(&self.network_interface_id)),
        ])
    }

    pub fn list_from_value(v: &Value) -> Vec<MountTarget> {
        v.get("mount_targets")
            .and_then(Value::elements)
            .unwrap_or_default()
            .iter()
            .map(|m| MountTarget {
                subnet_id: text(m, "subnet_id").unwrap_or_default(),
                availability_zone: text(m, "availability_zone").unwrap_or_default(),
                mount_target_id: text(m, "mount_target_id").unwrap_or_default(),
                ip_address: text(m, "ip_address").unwrap_or_default(),
                network_interface_id: text(m, "network_interface_id").unwrap_or_default(),
            })
            .collect()
    }
}

/// What exists in AWS (every part optional: a partial create or an out-of-band deletion).
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub file_system_id: Option<String>,
    pub file_system_arn: Option<String>,
    pub mount_targets: Vec<MountTarget>,
    pub security_group_id: Option<String>,
    pub access_point_id: Option<String>,
    pub access_point_arn: Option<String>,
}

impl Observed {
    pub fn from_state(v: &Value) -> Observed {
        Observed {
            file_system_id: text(v, "file_system_id"),
            file_system_arn: text(v, "file_system_arn"),
            mount_targets: MountTarget::list_from_value(v),
            security_group_id: text(v, "security_group_id"),
            access_point_id: text(v, "access_point_id"),
            access_point_arn: text(v, "access_point_arn"),
        }
    }

    /// Writes the observed ids into `state`.
    pub fn write(&self, state: &mut Value, region: &str) {
        let opt = |s: &Option<String>| s.clone().map(Value::string).unwrap_or(Value::Null);
        let Value::Object(map) = state else { return };
        map.insert("id".into(), opt(&self.file_system_id));
        map.insert("file_system_id".into(), opt(&self.file_system_id));
        map.insert("file_system_arn".into(), opt(&self.file_system_arn));
        map.insert(
            "dns_name".into(),
            opt(&self.file_system_id.as_ref().map(|id| format!("{id}.efs.{region}.amazonaws.com"))),
        );
        let mut mts = self.mount_targets.clone();
        mts.sort_by(|a, b| a.subnet_id.cmp(&b.subnet_id));
        map.insert("mount_targets".into(), Value::List(mts.iter().map(MountTarget::to_value).collect()));
        map.insert("security_group_id".into(), opt(&self.security_group_id));
        map.insert("access_point_id".into(), opt(&self.access_point_id));
        map.insert("access_point_arn".into(), opt(&self.access_point_arn));
    }
}
