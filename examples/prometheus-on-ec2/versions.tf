terraform {
  required_version = ">= 1.0"

  required_providers {
    efs = {
      source  = "seedlabs/efs"
      version = "~> 0.1"
    }
  }
}
