terraform {
  required_version = ">= 1.0"

  # Pinned: the versions this configuration was written and checked against.
  required_providers {
    efs = {
      source  = "seedlabs/efs"
      version = "~> 0.1"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "3.1.2"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "3.2.1"
    }
  }
}
