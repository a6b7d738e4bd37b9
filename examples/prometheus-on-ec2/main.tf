# Prometheus on a self-managed Kubernetes cluster on EC2, with its TSDB on Amazon EFS.
#
# 1. The nodes' IAM identity for the aws-efs-csi-driver: a role with the driver's policy, one instance
#    profile, associated with the master and every worker (no IRSA or Pod Identity outside EKS).
# 2. The storage: a regional EFS file system with a mount target per AZ, an NFS security group open
#    to the nodes only, and an access point owned by Prometheus' uid 65534; plus the manifests and
#    Helm values for the cluster side (see outputs.tf; the module in cluster/ installs them, and
#    full/ runs both halves in one apply).
# 3. Read-only checks, once both exist, that every node can mount the file system and Prometheus can
#    write to it; the readiness output says what to change otherwise.

# The driver's policy, limited to this file system; the rights to create and delete access points
# only with dynamic provisioning.
data "efs_csi_driver_iam_policy" "nodes" {
  file_system_arns     = [efs_prometheus_volume.tsdb.file_system_arn]
  dynamic_provisioning = var.provisioning == "dynamic"
}

resource "efs_csi_node_identity" "nodes" {
  name         = var.name
  instance_ids = var.instance_ids
  policy_json  = data.efs_csi_driver_iam_policy.nodes.json

  # IMDSv2 only. With hop limit 1 the driver's pods, on the host network, reach the instance
  # credentials and no other pod does.
  dynamic "metadata_options" {
    for_each = var.metadata_hop_limit == null ? [] : [var.metadata_hop_limit]
    content {
      http_tokens                 = "required"
      http_put_response_hop_limit = metadata_options.value
    }
  }

  tags = var.tags
}

resource "efs_prometheus_volume" "tsdb" {
  name                       = var.name
  subnet_ids                 = var.subnet_ids
  allowed_security_group_ids = [var.node_security_group_id]

  kubernetes {
    namespace               = var.namespace
    provisioning            = var.provisioning
    csi_controller_replicas = var.csi_controller_replicas
  }

  tags = var.tags
}

# Refers to both resources, so Terraform reads it after they are created or changed.
data "efs_cluster_readiness" "prometheus" {
  instance_ids         = efs_csi_node_identity.nodes.instance_ids
  file_system_id       = efs_prometheus_volume.tsdb.file_system_id
  access_point_id      = efs_prometheus_volume.tsdb.access_point_id
  dynamic_provisioning = var.provisioning == "dynamic"
  # The rendered csi_driver_helm_values run the driver's controller on the host network.
  controller_host_network = true
  manifests = [
    for manifest in [efs_prometheus_volume.tsdb.persistent_volume_manifest, efs_prometheus_volume.tsdb.storage_class_manifest] :
    manifest if manifest != null
  ]
  fail_on_error = var.fail_on_not_ready
}
