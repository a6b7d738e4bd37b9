# The IAM identity of the nodes that run the aws-efs-csi-driver: a role trusted by EC2, the
# driver's policy, an instance profile, and the profile associated with every node.
resource "efs_csi_node_identity" "nodes" {
  name         = "efs-csi-nodes"
  instance_ids = concat([aws_instance.master.id], aws_instance.worker[*].id)

  # Defaults to the efs_csi_driver_iam_policy document; override to scope it.
  policy_json = data.efs_csi_driver_iam_policy.this.json

  # IMDSv2 only, hop limit 1: the driver's pods, on the host network, reach the instance
  # credentials; no other pod does.
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tags = {
    cluster = "prometheus"
  }
}

data "efs_csi_driver_iam_policy" "this" {}
