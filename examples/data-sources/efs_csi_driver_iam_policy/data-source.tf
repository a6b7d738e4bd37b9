# The policy the aws-efs-csi-driver needs, for dynamic provisioning (the default).
data "efs_csi_driver_iam_policy" "driver" {}

# Static provisioning only, limited to one file system.
data "efs_csi_driver_iam_policy" "static" {
  dynamic_provisioning = false
  file_system_arns     = ["arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123456789abcdef0"]
}

output "driver_policy" {
  value = data.efs_csi_driver_iam_policy.driver.json
}
