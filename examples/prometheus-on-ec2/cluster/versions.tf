terraform {
  required_version = ">= 1.0"

  required_providers {
    # 3.x: the provider's `kubernetes` setting is an attribute (`kubernetes = { ... }`), not a block.
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.1"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2"
    }
  }
}
