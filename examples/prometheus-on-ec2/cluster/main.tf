# The cluster half of the flow: the aws-efs-csi-driver, the StorageClass, PersistentVolume and claim,
# and Prometheus, from the manifests and Helm values the prometheus-on-ec2 module renders.
#
# One apply works while the file system and access point ids are still unknown at plan: the
# Kubernetes objects are typed resources whose unknown attributes are fine (kubernetes_manifest
# needs every manifest known at plan), the Helm releases take the rendered values as they are, and
# every count depends on the provisioning mode only, which is known.

# The Kubernetes objects as plain values, decoded from the rendered manifests. No provider: the
# tests apply it with the efs provider alone and check what is known at plan.
module "objects" {
  source = "./objects"

  storage = var.storage
}

# The driver, on the host network, with the nodes' instance credentials (see csi_driver_helm_values).
resource "helm_release" "csi_driver" {
  name       = "aws-efs-csi-driver"
  namespace  = "kube-system"
  repository = var.csi_driver_chart.repository
  chart      = var.csi_driver_chart.chart
  version    = var.csi_driver_chart.version
  values     = [var.storage.csi_driver_helm_values]
  wait       = true
  timeout    = var.helm_timeout
}

resource "kubernetes_storage_class_v1" "efs" {
  metadata {
    name = module.objects.storage_class.name
  }
  storage_provisioner = module.objects.storage_class.provisioner
  reclaim_policy      = module.objects.storage_class.reclaim_policy
  volume_binding_mode = module.objects.storage_class.volume_binding_mode
  # Dynamic provisioning only (provisioningMode efs-ap on this file system); null otherwise.
  parameters = module.objects.storage_class.parameters

  depends_on = [helm_release.csi_driver]
}

resource "kubernetes_persistent_volume_v1" "tsdb" {
  count = module.objects.static ? 1 : 0

  metadata {
    # From the claim, known at plan (the rest of the volume waits for the access point's id).
    name = module.objects.persistent_volume_claim.volume_name
  }
  spec {
    capacity                         = module.objects.persistent_volume.capacity
    access_modes                     = module.objects.persistent_volume.access_modes
    volume_mode                      = module.objects.persistent_volume.volume_mode
    persistent_volume_reclaim_policy = module.objects.persistent_volume.reclaim_policy
    storage_class_name               = kubernetes_storage_class_v1.efs.metadata[0].name
    persistent_volume_source {
      csi {
        driver        = module.objects.persistent_volume.driver
        volume_handle = module.objects.persistent_volume.volume_handle
      }
    }
    claim_ref {
      namespace = module.objects.persistent_volume_claim.namespace
      name      = module.objects.persistent_volume_claim.name
    }
  }
}

resource "kubernetes_namespace_v1" "prometheus" {
  metadata {
    name = module.objects.persistent_volume_claim.namespace
  }
}

resource "kubernetes_persistent_volume_claim_v1" "tsdb" {
  metadata {
    name      = module.objects.persistent_volume_claim.name
    namespace = kubernetes_namespace_v1.prometheus.metadata[0].name
  }
  spec {
    access_modes       = module.objects.persistent_volume_claim.access_modes
    storage_class_name = kubernetes_storage_class_v1.efs.metadata[0].name
    volume_name        = one(kubernetes_persistent_volume_v1.tsdb[*].metadata[0].name)
    resources {
      requests = module.objects.persistent_volume_claim.requests
    }
  }
  # Bound before Prometheus starts: at once to the static volume; with dynamic provisioning once the
  # driver's controller has made its access point.
  wait_until_bound = true
}

# One server, a Deployment with the Recreate strategy, on the claim; Alertmanager on this StorageClass
# (dynamic) or an emptyDir (static), never on a default StorageClass the cluster may not have.
resource "helm_release" "prometheus" {
  name       = "prometheus"
  namespace  = kubernetes_namespace_v1.prometheus.metadata[0].name
  repository = var.prometheus_chart.repository
  chart      = var.prometheus_chart.chart
  version    = var.prometheus_chart.version
  values     = [var.storage.prometheus_helm_values]
  wait       = true
  timeout    = var.helm_timeout

  depends_on = [kubernetes_persistent_volume_claim_v1.tsdb]
}
