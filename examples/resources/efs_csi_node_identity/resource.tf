# The IAM identity of the nodes that run the aws-efs-csi-driver: a role trusted by EC2, the
# driver's policy, an instance profile, and the profile associated with every node.
resource "efs_csi_node_identity" "nodes" {
  name         = "efs-csi-nodes"
  instance_ids = concat([aws_instance.master.id], aws_instance.worker[*].id)

  # Defaults to the efs_csi_driver_iam_policy document; override to scope it.
  policy_json = data.efs_csi_driver_iam_policy.this.json

  # The driver's pods are one network hop away from IMDS: IMDSv2 needs a hop limit of 2.
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  tags = {
    cluster = "prometheus"
  }
}

data "efs_csi_driver_iam_policy" "this" {}
