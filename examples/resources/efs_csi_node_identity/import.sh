# Import by the IAM role name. The role must be in an instance profile and have the node policy
# (a customer-managed policy) attached; the profile's current associations become instance_ids.
terraform import efs_csi_node_identity.nodes efs-csi-nodes
