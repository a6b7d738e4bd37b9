variable "storage" {
  description = "The outputs of the prometheus-on-ec2 module (pass the whole module: `storage = module.prometheus_storage`)."
  type = object({
    namespace                        = string
    provisioning                     = string
    volume_handle                    = string
    storage_class_manifest           = string
    persistent_volume_manifest       = string
    persistent_volume_claim_manifest = string
    prometheus_helm_values           = string
    csi_driver_helm_values           = string
  })
}

variable "csi_driver_chart" {
  description = "Where the aws-efs-csi-driver chart comes from: a repository URL and chart name with a version, or `repository = null` and a local path as `chart`."
  type = object({
    repository = string
    chart      = string
    version    = string
  })
  default = {
    repository = "https://kubernetes-sigs.github.io/aws-efs-csi-driver/"
    chart      = "aws-efs-csi-driver"
    version    = "4.4.1"
  }
}

variable "prometheus_chart" {
  description = "Where the prometheus-community/prometheus chart comes from, as for csi_driver_chart."
  type = object({
    repository = string
    chart      = string
    version    = string
  })
  default = {
    repository = "https://prometheus-community.github.io/helm-charts"
    chart      = "prometheus"
    version    = "29.27.0"
  }
}

variable "helm_timeout" {
  description = "Seconds each Helm release may take until its pods are ready."
  type        = number
  default     = 600
}
