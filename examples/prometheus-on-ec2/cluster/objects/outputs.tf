output "static" {
  description = "Whether the claim binds a PersistentVolume of this module (static provisioning)."
  value       = local.static
}

output "storage_class" {
  description = "The StorageClass: name, provisioner, reclaim_policy, volume_binding_mode, parameters (null with static provisioning)."
  value = {
    # The claim names the class too, and is known at plan.
    name                = local.claim.spec.storageClassName
    provisioner         = local.storage_class.provisioner
    reclaim_policy      = local.storage_class.reclaimPolicy
    volume_binding_mode = local.storage_class.volumeBindingMode
    parameters          = try(local.storage_class.parameters, null)
  }
}

output "persistent_volume" {
  description = "The PersistentVolume on the module's access point (null with dynamic provisioning)."
  value = local.static ? {
    name           = local.claim.spec.volumeName
    capacity       = local.volume.spec.capacity
    access_modes   = local.volume.spec.accessModes
    volume_mode    = local.volume.spec.volumeMode
    reclaim_policy = local.volume.spec.persistentVolumeReclaimPolicy
    driver         = local.volume.spec.csi.driver
    volume_handle  = local.volume.spec.csi.volumeHandle
  } : null
}

output "persistent_volume_claim" {
  description = "The Prometheus server's claim: namespace, name, access_modes, requests, storage_class_name, volume_name (the PersistentVolume it binds; null with dynamic provisioning)."
  value = {
    namespace          = local.claim.metadata.namespace
    name               = local.claim.metadata.name
    access_modes       = local.claim.spec.accessModes
    requests           = local.claim.spec.resources.requests
    storage_class_name = local.claim.spec.storageClassName
    volume_name        = try(local.claim.spec.volumeName, null)
  }
}
