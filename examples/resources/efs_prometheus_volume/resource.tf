resource "efs_prometheus_volume" "this" {
  name       = "prometheus"
  subnet_ids = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]

  # NFS (tcp 2049) only from the cluster nodes.
  allowed_security_group_ids = ["sg-0123456789abcdef0"]

  transition_to_ia = "AFTER_30_DAYS"

  kubernetes {
    namespace    = "monitoring"
    pvc_name     = "prometheus-server"
    capacity     = "50Gi"
    provisioning = "static"
  }

  tags = {
    team = "observability"
  }
}

output "persistent_volume" {
  value = efs_prometheus_volume.this.persistent_volume_manifest
}

output "prometheus_helm_values" {
  value = efs_prometheus_volume.this.prometheus_helm_values
}
