# The Kubernetes objects the cluster module creates, as plain values decoded from the manifests
# efs_prometheus_volume renders, so that the manifests stay the one description of them.
#
# What a first plan knows: the provisioning mode (every count depends on it) and every name, taken
# from the claim, which needs no AWS id. The PersistentVolume's handle, and with dynamic provisioning
# the StorageClass parameters, are known after apply; typed resources plan with that.

terraform {
  required_version = ">= 1.0"
}

locals {
  static        = var.storage.provisioning == "static"
  storage_class = yamldecode(var.storage.storage_class_manifest)
  claim         = yamldecode(var.storage.persistent_volume_claim_manifest)
  volume        = local.static ? yamldecode(var.storage.persistent_volume_manifest) : null
}
