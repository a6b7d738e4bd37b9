# Import by the IAM role name. The role must be in an instance profile and have the node policy
# (a customer-managed policy) attached; the profile's current associations become instance_ids.
# For an empty plan after importing a setup made by hand, set name to the role name, policy_name and
# instance_profile_name to the existing names, and policy_json to the same document text (e.g.
# file("iam-policy.json"), the file given to create-policy).
terraform import efs_csi_node_identity.nodes efs-csi-nodes
