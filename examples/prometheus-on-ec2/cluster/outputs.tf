output "csi_driver_release" {
  description = "The aws-efs-csi-driver release: name, namespace, chart version, status."
  value = {
    name      = helm_release.csi_driver.name
    namespace = helm_release.csi_driver.namespace
    version   = helm_release.csi_driver.version
    status    = helm_release.csi_driver.status
  }
}

output "prometheus_release" {
  description = "The Prometheus release: name, namespace, chart version, status."
  value = {
    name      = helm_release.prometheus.name
    namespace = helm_release.prometheus.namespace
    version   = helm_release.prometheus.version
    status    = helm_release.prometheus.status
  }
}

output "persistent_volume_claim" {
  description = "Namespace and name of the Prometheus server's claim."
  value       = "${kubernetes_persistent_volume_claim_v1.tsdb.metadata[0].namespace}/${kubernetes_persistent_volume_claim_v1.tsdb.metadata[0].name}"
}
