# The whole flow in one apply: the AWS half (the prometheus-on-ec2 module: the nodes' identity, the
# EFS volume, the readiness checks), then the cluster half (the cluster module: the CSI driver, the
# storage objects and Prometheus). Nothing is installed on the cluster unless every readiness check
# passed.

provider "efs" {
  region = var.region
}

provider "kubernetes" {
  config_path    = var.kubeconfig
  config_context = var.kubeconfig_context
}

provider "helm" {
  kubernetes = {
    config_path    = var.kubeconfig
    config_context = var.kubeconfig_context
  }
}

module "prometheus_storage" {
  source = "../"

  name                    = var.name
  instance_ids            = var.instance_ids
  subnet_ids              = var.subnet_ids
  node_security_group_id  = var.node_security_group_id
  namespace               = var.namespace
  provisioning            = var.provisioning
  csi_controller_replicas = var.csi_controller_replicas
  # A readiness error stops the run before anything reaches the cluster.
  fail_on_not_ready = true
}

module "prometheus_cluster" {
  source = "../cluster"

  storage = module.prometheus_storage

  # After the whole AWS half, readiness checks included: the driver's pods need the nodes'
  # instance profile from their first start.
  depends_on = [module.prometheus_storage]
}
