//! The real upstream charts rendered with the Helm values `efs_prometheus_volume` computes against
//! moto: prometheus-community/prometheus 29.27.0 and aws-efs-csi-driver 4.4.1, by the real `helm
//! template`, every rendered object and every manifest of the resource validated by
//! `kubernetes-validate`. What a self-managed (kubeadm) cluster needs of them is asserted: the
//! Prometheus server on the claim bound to the access point, as 65534, one replica with `Recreate`;
//! no claim without a StorageClass that exists; the CSI controller on the host network with replicas
//! that fit the workers; every value the resource emits is read by its chart.

use std::collections::BTreeSet;

use acceptance_tests::charts::{
    keys_the_chart_ignores, kubernetes_validate, template, yaml_documents, Rendered, CSI_DRIVER_CHART, PROMETHEUS_CHART,
};
use acceptance_tests::cluster::{hcl_list, Cluster};
use acceptance_tests::{provider_block, skip_unless_acceptance, Moto, Scenario, Workdir};
use serde_json::Value;

const ADDR: &str = "efs_prometheus_volume.this";
/// The stand-in cluster: a master (tainted, as kubeadm makes it) and this many workers.
const WORKERS: usize = 2;

fn config(moto: &Moto, cluster: &Cluster, kubernetes: &str) -> String {
    format!(
        "{}\nresource \"efs_prometheus_volume\" \"this\" {{\n  name                       = \"prom\"\n  subnet_ids                 = {}\n  allowed_security_group_ids = [\"{}\"]\n  kubernetes {{\n{kubernetes}  }}\n}}\n",
        provider_block(moto),
        hcl_list(&cluster.subnet_ids),
        cluster.node_security_group_id
    )
}

fn text<'a>(state: &'a Value, name: &str) -> &'a str {
    state[name].as_str().unwrap_or_else(|| panic!("{name} is not a string in {state}"))
}

fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or_else(|| panic!("no {pointer} in {value:#}"))
}

/// The one YAML document of `yaml`.
fn document(yaml: &str) -> Value {
    let mut documents = yaml_documents(yaml);
    assert_eq!(documents.len(), 1, "{yaml}");
    documents.remove(0)
}

/// What one apply rendered, and both charts rendered with its values.
struct Flow {
    state: Value,
    storage_class: Value,
    persistent_volume: Option<Value>,
    claim: Value,
    prometheus_values: Value,
    csi_values: Value,
    prometheus: Rendered,
    csi_driver: Rendered,
}

impl Flow {
    fn apply(wd: &Workdir) -> Flow {
        wd.apply();
        let state = wd.state_resource(ADDR);
        let claim = document(text(&state, "persistent_volume_claim_manifest"));
        let namespace = at(&claim, "/metadata/namespace").as_str().unwrap().to_string();
        let prometheus_yaml = text(&state, "prometheus_helm_values").to_string();
        let csi_yaml = text(&state, "csi_driver_helm_values").to_string();
        Flow {
            storage_class: document(text(&state, "storage_class_manifest")),
            persistent_volume: state["persistent_volume_manifest"].as_str().map(document),
            prometheus_values: document(&prometheus_yaml),
            csi_values: document(&csi_yaml),
            // As the guide installs them: Prometheus in the claim's namespace, the driver in kube-system.
            prometheus: template(PROMETHEUS_CHART, "prometheus", &namespace, &prometheus_yaml),
            csi_driver: template(CSI_DRIVER_CHART, "aws-efs-csi-driver", "kube-system", &csi_yaml),
            claim,
            state,
        }
    }

    fn namespace(&self) -> &str {
        at(&self.claim, "/metadata/namespace").as_str().unwrap()
    }

    /// Every object a user applies: the resource's manifests and both charts' objects.
    fn all_objects(&self) -> Vec<Value> {
        let mut objects = vec![self.storage_class.clone(), self.claim.clone()];
        objects.extend(self.persistent_volume.clone());
        objects.extend(self.prometheus.objects.iter().cloned());
        objects.extend(self.csi_driver.objects.iter().cloned());
        objects
    }

    /// Every StorageClass that exists once everything is applied.
    fn storage_class_names(&self) -> BTreeSet<String> {
        self.all_objects()
            .iter()
            .filter(|o| o["kind"] == "StorageClass")
            .map(|o| at(o, "/metadata/name").as_str().unwrap().to_string())
            .collect()
    }

    /// `(who, storageClassName)` of every claim: PersistentVolumeClaims, and the claim templates of
    /// StatefulSets.
    fn claims(&self) -> Vec<(String, Option<String>)> {
        let class = |spec: &Value| spec["storageClassName"].as_str().map(str::to_string);
        let mut claims = Vec::new();
        for object in self.all_objects() {
            let name = format!("{}/{}", object["kind"].as_str().unwrap(), at(&object, "/metadata/name"));
            if object["kind"] == "PersistentVolumeClaim" {
                claims.push((name.clone(), class(&object["spec"])));
            }
            for template in object.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).into_iter().flatten()
            {
                claims.push((
                    format!("{name} claim template {}", at(template, "/metadata/name")),
                    class(&template["spec"]),
                ));
            }
        }
        claims
    }

    /// Every claim names a StorageClass that exists: a claim without one waits for a default
    /// StorageClass, which a kubeadm cluster does not have, and stays Pending.
    fn assert_every_claim_has_a_storage_class(&self) {
        let classes = self.storage_class_names();
        for (who, class) in self.claims() {
            match class {
                Some(class) if classes.contains(&class) => {}
                other => panic!("{who} asks for StorageClass {other:?}, but only {classes:?} exist"),
            }
        }
    }

    /// The Prometheus server: one Deployment replica, `Recreate`, as 65534, on the resource's claim.
    fn assert_server_on_the_claim(&self) {
        assert!(
            !self.prometheus.of_kind("StatefulSet").iter().any(|s| s["metadata"]["name"] == "prometheus-server"),
            "the server must be a Deployment (the strategy applies to it)"
        );
        let server = self.prometheus.get("Deployment", "prometheus-server");
        assert_eq!(at(server, "/metadata/namespace"), self.namespace());
        assert_eq!(at(server, "/spec/replicas"), 1);
        assert_eq!(at(server, "/spec/strategy/type"), "Recreate");
        let pod = at(server, "/spec/template/spec");
        for key in ["runAsUser", "runAsGroup", "fsGroup"] {
            assert_eq!(pod["securityContext"][key], 65534, "{key}: {:#}", pod["securityContext"]);
        }
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let volumes = at(pod, "/volumes").as_array().unwrap();
        let storage = volumes.iter().find(|v| v["name"] == "storage-volume").expect("storage-volume");
        assert_eq!(at(storage, "/persistentVolumeClaim/claimName"), at(&self.claim, "/metadata/name"), "{storage:#}");
        let container =
            at(pod, "/containers").as_array().unwrap().iter().find(|c| c["name"] == "prometheus-server").unwrap();
        let mount =
            at(container, "/volumeMounts").as_array().unwrap().iter().find(|m| m["name"] == "storage-volume").unwrap();
        assert_eq!(at(mount, "/mountPath"), "/data");
        assert!(at(container, "/args").as_array().unwrap().iter().any(|a| a == "--storage.tsdb.path=/data"));
        assert!(
            !self
                .prometheus
                .of_kind("PersistentVolumeClaim")
                .iter()
                .any(|c| c["metadata"]["name"] == "prometheus-server"),
            "the chart must use the existing claim, not make its own"
        );
    }

    /// The driver's controller and node pods on the host network (IMDSv2 at hop limit 1), the
    /// controller with `replicas` replicas, which must fit the workers: the controller does not
    /// tolerate the control plane's taint, and on the host network two replicas cannot share a node
    /// (their health port is a host port).
    fn assert_csi_driver_on_the_host_network(&self, replicas: u64) {
        let controller = self.csi_driver.get("Deployment", "efs-csi-controller");
        assert_eq!(at(controller, "/spec/template/spec/hostNetwork"), true);
        assert_eq!(at(controller, "/spec/replicas"), replicas);
        assert!(replicas as usize <= WORKERS, "{replicas} controller replicas do not fit {WORKERS} workers");
        let tolerations = controller
            .pointer("/spec/template/spec/tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert!(
            !tolerations.iter().any(|t| t["key"] == "node-role.kubernetes.io/control-plane"
                || (t["operator"] == "Exists" && t.get("key").is_none())),
            "the controller would also run on the master, so the workers would not bound its replicas: {tolerations:?}"
        );
        let ports = at(controller, "/spec/template/spec/containers/0/ports").as_array().unwrap();
        assert!(ports.iter().any(|p| p["name"] == "healthz"), "{ports:?}");
        let node = self.csi_driver.get("DaemonSet", "efs-csi-node");
        assert_eq!(at(node, "/spec/template/spec/hostNetwork"), true);
    }

    /// The static volume: the claim binds the PersistentVolume on the resource's access point.
    fn assert_claim_bound_to_the_access_point(&self) {
        let volume = self.persistent_volume.as_ref().expect("a PersistentVolume with static provisioning");
        let handle = format!("{}::{}", text(&self.state, "file_system_id"), text(&self.state, "access_point_id"));
        assert_eq!(at(volume, "/spec/csi/volumeHandle"), handle.as_str());
        assert_eq!(at(volume, "/spec/csi/driver"), "efs.csi.aws.com");
        assert_eq!(at(&self.claim, "/spec/volumeName"), at(volume, "/metadata/name"));
        assert_eq!(at(volume, "/spec/claimRef/name"), at(&self.claim, "/metadata/name"));
        assert_eq!(at(volume, "/spec/claimRef/namespace"), at(&self.claim, "/metadata/namespace"));
        assert_eq!(at(volume, "/spec/storageClassName"), at(&self.claim, "/spec/storageClassName"));
        assert_eq!(at(volume, "/spec/accessModes"), at(&self.claim, "/spec/accessModes"));
    }

    /// No manifest names the `tls` mount option (deprecated: the driver mounts with TLS by default
    /// and logs a warning per mount that still asks for it), and none turns TLS off.
    fn assert_no_deprecated_mount_options(&self) {
        for manifest in [Some(&self.storage_class), self.persistent_volume.as_ref()].into_iter().flatten() {
            assert!(
                manifest.pointer("/mountOptions").is_none() && manifest.pointer("/spec/mountOptions").is_none(),
                "{manifest:#}"
            );
            assert!(!manifest.to_string().contains("encryptInTransit"), "{manifest:#}");
        }
    }

    /// Every value the resource emits is read by its chart: changing it alone changes what the
    /// chart renders.
    fn assert_every_key_is_read(&self) {
        let ignored = keys_the_chart_ignores(PROMETHEUS_CHART, "prometheus", self.namespace(), &self.prometheus_values);
        assert!(ignored.is_empty(), "the prometheus chart ignores {ignored:?} of {:#}", self.prometheus_values);
        let ignored = keys_the_chart_ignores(CSI_DRIVER_CHART, "aws-efs-csi-driver", "kube-system", &self.csi_values);
        assert!(ignored.is_empty(), "the aws-efs-csi-driver chart ignores {ignored:?} of {:#}", self.csi_values);
    }
}

#[test]
fn static_provisioning_renders_both_charts_for_a_kubeadm_cluster() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 3, WORKERS);
    let wd = Scenario::new(&moto);
    wd.write("main.tf", &config(&moto, &cluster, ""));
    let flow = Flow::apply(&wd);

    kubernetes_validate(&flow.all_objects());
    flow.assert_server_on_the_claim();
    flow.assert_claim_bound_to_the_access_point();
    flow.assert_every_claim_has_a_storage_class();
    // A static class provisions nothing, so Alertmanager keeps its state in an emptyDir.
    let alertmanager = flow.prometheus.get("StatefulSet", "prometheus-alertmanager");
    assert!(alertmanager.pointer("/spec/volumeClaimTemplates").is_none(), "{alertmanager:#}");
    let volumes = at(alertmanager, "/spec/template/spec/volumes").as_array().unwrap();
    assert!(volumes.iter().any(|v| v["name"] == "storage" && v.get("emptyDir").is_some()), "{volumes:?}");
    assert!(flow.storage_class.get("parameters").is_none(), "static: the class provisions nothing");
    flow.assert_csi_driver_on_the_host_network(1);
    flow.assert_no_deprecated_mount_options();
    flow.assert_every_key_is_read();
}

#[test]
fn dynamic_provisioning_binds_alertmanager_and_fits_two_controllers() {
    skip_unless_acceptance!();
    let moto = Moto::start();
    let cluster = Cluster::create(&moto, 3, WORKERS);
    let wd = Scenario::new(&moto);
    wd.write(
        "main.tf",
        &config(&moto, &cluster, "    provisioning            = \"dynamic\"\n    csi_controller_replicas = 2\n"),
    );
    let flow = Flow::apply(&wd);

    kubernetes_validate(&flow.all_objects());
    assert!(flow.persistent_volume.is_none(), "no PersistentVolume with dynamic provisioning");
    flow.assert_server_on_the_claim();
    assert!(flow.claim.pointer("/spec/volumeName").is_none(), "{:#}", flow.claim);
    // The class provisions an access point per claim on this file system, as the access point's user.
    assert_eq!(at(&flow.storage_class, "/parameters/provisioningMode"), "efs-ap");
    assert_eq!(at(&flow.storage_class, "/parameters/fileSystemId"), text(&flow.state, "file_system_id"));
    assert_eq!(at(&flow.storage_class, "/parameters/uid"), "65534");
    // Alertmanager's claim goes to that class, not to a default one.
    let alertmanager = flow.prometheus.get("StatefulSet", "prometheus-alertmanager");
    assert_eq!(
        at(alertmanager, "/spec/volumeClaimTemplates/0/spec/storageClassName"),
        at(&flow.storage_class, "/metadata/name")
    );
    flow.assert_every_claim_has_a_storage_class();
    flow.assert_csi_driver_on_the_host_network(2);
    flow.assert_no_deprecated_mount_options();
    flow.assert_every_key_is_read();
}
