# Terraform 1.5 and newer, OpenTofu: import the role (and its policy, instance profile and
# associations) at plan time; `plan -generate-config-out=generated.tf` writes its configuration.
import {
  to = efs_csi_node_identity.nodes
  id = "efs-csi-nodes"
}
