# After the nodes' identity and the volume exist: is everything in place for the CSI driver and
# Prometheus? Read-only; stops the run on any error check.
data "efs_cluster_readiness" "prometheus" {
  instance_ids    = efs_csi_node_identity.nodes.instance_ids
  file_system_id  = efs_prometheus_volume.tsdb.file_system_id
  access_point_id = efs_prometheus_volume.tsdb.access_point_id
  manifests = compact([
    efs_prometheus_volume.tsdb.persistent_volume_manifest,
    efs_prometheus_volume.tsdb.storage_class_manifest,
  ])
  fail_on_error = true
}

output "readiness" {
  value = data.efs_cluster_readiness.prometheus.summary
}

# Checking an existing, hand-made setup, with Prometheus running as 1000:1000.
data "efs_cluster_readiness" "manual" {
  instance_ids         = ["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002"]
  file_system_id       = "fs-0123456789abcdef0"
  access_point_id      = "fsap-0123456789abcdef0"
  expected_posix_uid   = 1000
  expected_posix_gid   = 1000
  dynamic_provisioning = false
}
