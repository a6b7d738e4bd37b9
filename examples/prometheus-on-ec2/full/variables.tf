variable "region" {
  description = "AWS region of the cluster's nodes."
  type        = string
}

variable "name" {
  description = "Base name of everything created in AWS."
  type        = string
}

variable "instance_ids" {
  description = "EC2 instance ids of the cluster's nodes: the master and every worker."
  type        = list(string)
}

variable "subnet_ids" {
  description = "Subnets of the nodes, one per availability zone."
  type        = list(string)
}

variable "node_security_group_id" {
  description = "Security group of the nodes."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of Prometheus."
  type        = string
  default     = "monitoring"
}

variable "provisioning" {
  description = "\"static\" or \"dynamic\" (see the prometheus-on-ec2 module)."
  type        = string
  default     = "static"
}

variable "csi_controller_replicas" {
  description = "Replicas of the CSI driver's controller: at most one per schedulable worker."
  type        = number
  default     = 1
}

variable "kubeconfig" {
  description = "Path of a kubeconfig for the cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kubeconfig_context" {
  description = "Context of the kubeconfig to use; null for its current context."
  type        = string
  default     = null
}
