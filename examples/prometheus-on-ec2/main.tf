# Prometheus on a self-managed Kubernetes cluster on EC2, with its TSDB on Amazon EFS.
#
# 1. The nodes' IAM identity for the aws-efs-csi-driver: a role with the driver's policy, one instance
#    profile, associated with the master and every worker (no IRSA or Pod Identity outside EKS).
# 2. The storage: a regional EFS file system with a mount target per AZ, an NFS security group open
#    to the nodes only, and an access point owned by Prometheus' uid 65534; plus the manifests and
#    Helm values for the cluster side (see outputs.tf, and cluster.tf.example to install them).
# 3. Read-only checks, once both exist, that every node can mount the file system and Prometheus can
#    write to it; the readiness output says what to change otherwise.

resource "efs_csi_node_identity" "nodes" {
  name         = var.name
  instance_ids = var.instance_ids

  dynamic "metadata_options" {
    for_each = var.set_metadata_hop_limit ? [1] : []
    content {
      http_tokens                 = "required"
      http_put_response_hop_limit = 2
    }
  }

  tags = var.tags
}

resource "efs_prometheus_volume" "tsdb" {
  name                       = var.name
  subnet_ids                 = var.subnet_ids
  allowed_security_group_ids = [var.node_security_group_id]

  kubernetes {
    namespace    = var.namespace
    provisioning = var.provisioning
  }

  tags = var.tags
}

# Refers to both resources, so Terraform reads it after they are created or changed.
data "efs_cluster_readiness" "prometheus" {
  instance_ids         = efs_csi_node_identity.nodes.instance_ids
  file_system_id       = efs_prometheus_volume.tsdb.file_system_id
  access_point_id      = efs_prometheus_volume.tsdb.access_point_id
  dynamic_provisioning = var.provisioning == "dynamic"
  manifests = [
    for manifest in [efs_prometheus_volume.tsdb.persistent_volume_manifest, efs_prometheus_volume.tsdb.storage_class_manifest] :
    manifest if manifest != null
  ]
  fail_on_error = var.fail_on_not_ready
}
