variable "storage" {
  description = "The outputs of the prometheus-on-ec2 module (or an object with these of efs_prometheus_volume's attributes, plus namespace and provisioning)."
  type = object({
    namespace                        = string
    provisioning                     = string
    volume_handle                    = string
    storage_class_manifest           = string
    persistent_volume_manifest       = string
    persistent_volume_claim_manifest = string
  })
}
