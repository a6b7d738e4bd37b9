variable "name" {
  description = "Base name of everything created: IAM role, policy and instance profile, the EFS file system."
  type        = string
}

variable "instance_ids" {
  description = "EC2 instance ids of the cluster's nodes: the master and every worker."
  type        = list(string)
}

variable "subnet_ids" {
  description = "Subnets of the nodes, one per availability zone: each gets an EFS mount target."
  type        = list(string)
}

variable "node_security_group_id" {
  description = "Security group of the nodes: the only source allowed to reach the file system on NFS (tcp 2049)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of Prometheus."
  type        = string
  default     = "monitoring"
}

variable "provisioning" {
  description = "\"static\" (a PersistentVolume bound to this module's access point) or \"dynamic\" (a StorageClass that creates an access point per claim)."
  type        = string
  default     = "static"
}

variable "metadata_hop_limit" {
  description = "Require IMDSv2 on every node with this response hop limit. 1: the CSI driver's pods, on the host network, reach the instance credentials and no other pod does. 2 hands the node role's credentials to every pod; only a driver controller off the host network needs it. null: leave the nodes' metadata options as they are."
  type        = number
  default     = 1
}

variable "csi_controller_replicas" {
  description = "Replicas of the CSI driver's controller: at most one per schedulable worker (it runs on the host network)."
  type        = number
  default     = 1
}

variable "fail_on_not_ready" {
  description = "Stop the run with an error when a readiness check fails, instead of only reporting it in the readiness output."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every AWS object created."
  type        = map(string)
  default     = {}
}
