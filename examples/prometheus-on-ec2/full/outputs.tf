output "readiness" {
  description = "The readiness verdict of the AWS half."
  value       = module.prometheus_storage.readiness
}

output "volume_handle" {
  description = "The CSI volume handle (fs-...::fsap-...)."
  value       = module.prometheus_storage.volume_handle
}

output "persistent_volume_claim" {
  description = "Namespace and name of the Prometheus server's claim."
  value       = module.prometheus_cluster.persistent_volume_claim
}

output "releases" {
  description = "The two Helm releases."
  value       = [module.prometheus_cluster.csi_driver_release, module.prometheus_cluster.prometheus_release]
}
