# Terraform 1.12 and newer, OpenTofu 1.12 and newer: import by resource identity.
import {
  to = efs_csi_node_identity.nodes
  identity = {
    role_name = "efs-csi-nodes"
  }
}
