output "file_system_id" {
  description = "The EFS file system."
  value       = efs_prometheus_volume.tsdb.file_system_id
}

output "access_point_id" {
  description = "The access point Prometheus writes through (uid/gid 65534)."
  value       = efs_prometheus_volume.tsdb.access_point_id
}

output "volume_handle" {
  description = "The CSI volume handle (fs-...::fsap-...)."
  value       = efs_prometheus_volume.tsdb.volume_handle
}

output "role_arn" {
  description = "The nodes' IAM role."
  value       = efs_csi_node_identity.nodes.role_arn
}

output "instance_profile_name" {
  description = "The instance profile associated with every node."
  value       = efs_csi_node_identity.nodes.instance_profile_name
}

output "storage_class_manifest" {
  description = "StorageClass for the aws-efs-csi-driver (kubectl apply -f -)."
  value       = efs_prometheus_volume.tsdb.storage_class_manifest
}

output "persistent_volume_manifest" {
  description = "PersistentVolume bound to the access point (static provisioning)."
  value       = efs_prometheus_volume.tsdb.persistent_volume_manifest
}

output "persistent_volume_claim_manifest" {
  description = "PersistentVolumeClaim for the Prometheus server."
  value       = efs_prometheus_volume.tsdb.persistent_volume_claim_manifest
}

output "prometheus_helm_values" {
  description = "Values for the prometheus-community/prometheus chart."
  value       = efs_prometheus_volume.tsdb.prometheus_helm_values
}

output "csi_driver_helm_values" {
  description = "Values for the aws-efs-csi-driver chart on a self-managed cluster."
  value       = efs_prometheus_volume.tsdb.csi_driver_helm_values
}

output "ready" {
  description = "Whether every readiness check passed (no check with status error)."
  value       = data.efs_cluster_readiness.prometheus.ready
}

output "readiness" {
  description = "The readiness verdict, then each problem found with its fix."
  value       = data.efs_cluster_readiness.prometheus.summary
}

output "readiness_checks" {
  description = "Every readiness check: name, status (ok, warning, error), subject, message and fix."
  value       = data.efs_cluster_readiness.prometheus.checks
}

output "summary" {
  description = "One paragraph on what was set up."
  value = join("\n", [
    "EFS file system ${efs_prometheus_volume.tsdb.file_system_id} with ${length(efs_prometheus_volume.tsdb.mount_targets)} mount targets,",
    "access point ${efs_prometheus_volume.tsdb.access_point_id} (volume handle ${efs_prometheus_volume.tsdb.volume_handle}),",
    "instance profile ${efs_csi_node_identity.nodes.instance_profile_name} on ${length(var.instance_ids)} nodes (role ${efs_csi_node_identity.nodes.role_arn}).",
  ])
}

output "namespace" {
  description = "Kubernetes namespace of Prometheus and its claim."
  value       = var.namespace
}

output "provisioning" {
  description = "\"static\" or \"dynamic\", as given."
  value       = var.provisioning
}
