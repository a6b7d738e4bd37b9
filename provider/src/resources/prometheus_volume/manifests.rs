//! The rendered Kubernetes manifests and Helm values, as YAML.

use serde_json::{json, Value as Json};

use super::model::{KubernetesSpec, VolumeArgs};

/// The CSI driver's name, as StorageClasses and PersistentVolumes reference it.
pub const CSI_DRIVER: &str = "efs.csi.aws.com";

/// Everything rendered; a part is `None` when an id it needs is not known yet (at plan time of a
/// create) or when it does not apply (no PersistentVolume with dynamic provisioning).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    pub volume_handle: Option<String>,
    pub storage_class: Option<String>,
    pub persistent_volume: Option<String>,
    pub persistent_volume_claim: Option<String>,
    pub prometheus_helm_values: Option<String>,
    pub csi_driver_helm_values: Option<String>,
}

pub fn persistent_volume_name(args: &VolumeArgs) -> String {
    format!("{}-{}", args.kubernetes.namespace, args.kubernetes.pvc_name)
}

pub fn storage_class(args: &VolumeArgs, file_system_id: Option<&str>) -> Option<Json> {
    let mut sc = json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": { "name": args.kubernetes.storage_class_name },
        "provisioner": CSI_DRIVER,
        // Retain: deleting the claim must never delete the Prometheus data.
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate",
    });
    if args.kubernetes.dynamic {
        let ap = &args.access_point;
        sc["parameters"] = json!({
            "provisioningMode": "efs-ap",
            "fileSystemId": file_system_id?,
            "directoryPerms": ap.permissions.trim_start_matches('0'),
            "uid": ap.uid.to_string(),
            "gid": ap.gid.to_string(),
            "basePath": ap.path,
        });
    }
    Some(sc)
}

pub fn persistent_volume(args: &VolumeArgs, volume_handle: Option<&str>) -> Option<Json> {
    if args.kubernetes.dynamic {
        return None;
    }
    let k = &args.kubernetes;
    Some(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": { "name": persistent_volume_name(args) },
        "spec": {
            "capacity": { "storage": k.capacity },
            "volumeMode": "Filesystem",
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": k.storage_class_name,
            // No `tls` mount option: the driver mounts with TLS unless `encryptInTransit` is "false", and
            // logs a deprecation warning for every mount that still names it.
            "csi": { "driver": CSI_DRIVER, "volumeHandle": volume_handle? },
            "claimRef": { "namespace": k.namespace, "name": k.pvc_name },
        },
    }))
}

pub fn persistent_volume_claim(args: &VolumeArgs) -> Json {
    let k = &args.kubernetes;
    let mut pvc = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": { "name": k.pvc_name, "namespace": k.namespace },
        "spec": {
            // What the volume is for: one server. The EFS driver does not attach volumes, so this keeps no
            // second pod off it; the server's one replica with the Recreate strategy does.
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": k.storage_class_name,
            "resources": { "requests": { "storage": k.capacity } },
        },
    });
    if !k.dynamic {
        pvc["spec"]["volumeName"] = json!(persistent_volume_name(args));
    }
    pvc
}

/// prometheus-community/prometheus chart values (chart 29.x).
pub fn prometheus_values(args: &VolumeArgs) -> Json {
    let ap = &args.access_point;
    let k = &args.kubernetes;
    json!({
        "server": {
            // A Deployment, not the chart's StatefulSet option: the strategy below applies to it.
            "statefulSet": { "enabled": false },
            "replicaCount": 1,
            // The driver does not attach EFS volumes, so ReadWriteOnce does not keep a second pod off the
            // volume: a rolling update would run two servers on one TSDB for a while. Recreate stops the old
            // server before the new one starts.
            "strategy": { "type": "Recreate" },
            // With an existing claim the chart creates no claim of its own (its size and access modes go unread).
            "persistentVolume": { "enabled": true, "existingClaim": k.pvc_name },
            "securityContext": {
                "runAsUser": ap.uid,
                "runAsGroup": ap.gid,
                "runAsNonRoot": ap.uid != 0,
                "fsGroup": ap.gid,
            },
        },
        "alertmanager": { "persistence": alertmanager_persistence(k) },
    })
}

/// The chart enables Alertmanager with a claim on the cluster's default StorageClass, which a
/// kubeadm cluster does not have: that claim stays Pending and `helm install --wait` times out.
/// With dynamic provisioning the claim goes to this volume's StorageClass (the driver makes it an
/// access point of its own); with static provisioning a claim binds only a PersistentVolume made
/// for it, so Alertmanager keeps its silences and notification log in an emptyDir instead, and
/// loses them when its pod restarts.
fn alertmanager_persistence(k: &KubernetesSpec) -> Json {
    if k.dynamic {
        json!({ "enabled": true, "storageClass": k.storage_class_name })
    } else {
        json!({ "enabled": false })
    }
}

/// kubernetes-sigs/aws-efs-csi-driver chart values (chart 4.x) for a cluster that is not EKS. The
/// chart has no value for the region: the driver reads it from the instance metadata.
pub fn csi_driver_values(k: &KubernetesSpec) -> Json {
    json!({
        "controller": {
            // Without EKS there is no pod identity: the controller uses the instance credentials. On the
            // host network it reaches IMDSv2 with the hop limit of 1, which keeps every pod that is not on
            // the host network away from them (the node DaemonSet is always on the host network).
            "hostNetwork": true,
            // On the host network the health port is a host port: one replica per schedulable node at
            // most, and the chart's default of 2 leaves one Pending on a cluster with one worker.
            "replicaCount": k.csi_controller_replicas,
            "serviceAccount": { "create": true },
        },
        "node": {
            "serviceAccount": { "create": true },
        },
    })
}

pub fn render(args: &VolumeArgs, file_system_id: Option<&str>, access_point_id: Option<&str>) -> Rendered {
    let volume_handle = match (file_system_id, access_point_id) {
        (Some(fs), Some(ap)) => Some(format!("{fs}::{ap}")),
        _ => None,
    };
    Rendered {
        storage_class: storage_class(args, file_system_id).map(|j| to_yaml(&j)),
        persistent_volume: persistent_volume(args, volume_handle.as_deref()).map(|j| to_yaml(&j)),
        persistent_volume_claim: Some(to_yaml(&persistent_volume_claim(args))),
        prometheus_helm_values: Some(to_yaml(&prometheus_values(args))),
        csi_driver_helm_values: Some(to_yaml(&csi_driver_values(&args.kubernetes))),
        volume_handle,
    }
}

/// A small YAML emitter for JSON values: block style, strings always double-quoted (JSON string
/// syntax is valid YAML), so no value can be misread as a number, bool or null.
pub fn to_yaml(value: &Json) -> String {
    let mut out = String::new();
    emit(value, 0, &mut out);
    out
}

fn key(k: &str) -> String {
    let plain = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if plain {
        k.to_string()
    } else {
        Json::from(k).to_string()
    }
}

fn scalar(value: &Json) -> Option<String> {
    match value {
        Json::Null => Some("null".into()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        Json::String(s) => Some(Json::from(s.as_str()).to_string()),
        Json::Array(a) if a.is_empty() => Some("[]".into()),
        Json::Object(o) if o.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn emit(value: &Json, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                match scalar(v) {
                    Some(s) => out.push_str(&format!("{pad}{}: {s}\n", key(k))),
                    None => {
                        out.push_str(&format!("{pad}{}:\n", key(k)));
                        emit(v, indent + 2, out);
                    }
                }
            }
        }
        Json::Array(items) => {
            for item in items {
                match scalar(item) {
                    Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                    None => {
                        let mut nested = String::new();
                        emit(item, indent + 2, &mut nested);
                        // The first line of the nested block goes after the dash.
                        out.push_str(&format!("{pad}- {}", nested.trim_start()));
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other).unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quotes_strings_and_nests_blocks() {
        let yaml = to_yaml(&json!({"a": {"b": ["x", 1]}, "c": "065534", "d": [], "e": [{"f": true, "g": "h"}]}));
        assert_eq!(yaml, "a:\n  b:\n    - \"x\"\n    - 1\nc: \"065534\"\nd: []\ne:\n  - f: true\n    g: \"h\"\n");
    }
}

#[cfg(test)]
mod chart_keys {
    use super::*;
    use crate::framework::Value;

    /// Every leaf key path of a values document, dotted.
    fn leaf_keys(value: &Json, prefix: &str, out: &mut Vec<String>) {
        match value {
            Json::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    leaf_keys(v, &path, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    fn args() -> VolumeArgs {
        VolumeArgs::from_value(&Value::object([("name", Value::string("prom"))]))
    }

    fn dynamic_args() -> VolumeArgs {
        VolumeArgs::from_value(&Value::object([
            ("name", Value::string("prom")),
            ("kubernetes", Value::object([("provisioning", Value::string("dynamic"))])),
        ]))
    }

    /// The keys emitted for the aws-efs-csi-driver chart. acceptance-tests/tests/charts.rs renders the
    /// real chart (4.4.1) with them and checks that the chart reads each one; this list makes a new key
    /// a deliberate change.
    #[test]
    fn csi_driver_values_emit_these_keys() {
        let mut keys = Vec::new();
        leaf_keys(&csi_driver_values(&args().kubernetes), "", &mut keys);
        keys.sort();
        assert_eq!(
            keys,
            [
                "controller.hostNetwork",
                "controller.replicaCount",
                "controller.serviceAccount.create",
                "node.serviceAccount.create"
            ]
        );
        assert_eq!(csi_driver_values(&args().kubernetes)["controller"]["replicaCount"], 1);
    }

    /// The keys emitted for the prometheus chart (29.27.0 in acceptance-tests/tests/charts.rs).
    #[test]
    fn prometheus_values_emit_these_keys() {
        let mut keys = Vec::new();
        leaf_keys(&prometheus_values(&args()), "", &mut keys);
        keys.sort();
        assert_eq!(
            keys,
            [
                "alertmanager.persistence.enabled",
                "server.persistentVolume.enabled",
                "server.persistentVolume.existingClaim",
                "server.replicaCount",
                "server.securityContext.fsGroup",
                "server.securityContext.runAsGroup",
                "server.securityContext.runAsNonRoot",
                "server.securityContext.runAsUser",
                "server.statefulSet.enabled",
                "server.strategy.type",
            ]
        );
    }

    /// Alertmanager's claim needs a StorageClass that provisions: this volume's with dynamic
    /// provisioning; with static provisioning it has none and keeps its state in an emptyDir.
    #[test]
    fn alertmanager_storage_follows_the_provisioning() {
        assert_eq!(prometheus_values(&args())["alertmanager"]["persistence"], json!({ "enabled": false }));
        assert_eq!(
            prometheus_values(&dynamic_args())["alertmanager"]["persistence"],
            json!({ "enabled": true, "storageClass": "efs-prometheus" })
        );
    }

    /// No manifest names the deprecated `tls` mount option.
    #[test]
    fn no_deprecated_tls_mount_option() {
        for args in [args(), dynamic_args()] {
            let r = render(&args, Some("fs-1"), Some("fsap-2"));
            for manifest in [r.storage_class, r.persistent_volume].into_iter().flatten() {
                assert!(!manifest.contains("mountOptions") && !manifest.contains("tls"), "{manifest}");
            }
        }
    }

    #[test]
    fn static_claim_binds_the_access_point_volume() {
        let r = render(&args(), Some("fs-1"), Some("fsap-2"));
        assert_eq!(r.volume_handle.as_deref(), Some("fs-1::fsap-2"));
        assert!(r.persistent_volume.unwrap().contains("volumeHandle: \"fs-1::fsap-2\""));
        assert!(r.persistent_volume_claim.unwrap().contains("volumeName: \"monitoring-prometheus-server\""));
        let unknown = render(&args(), None, None);
        assert!(unknown.persistent_volume.is_none() && unknown.volume_handle.is_none());
    }
}
