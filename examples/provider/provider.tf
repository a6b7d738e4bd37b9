terraform {
  required_providers {
    efs = {
      source  = "seedlabs/efs"
      version = "~> 0.1"
    }
  }
}

# Credentials come from the standard AWS chain (environment, shared files, instance role),
# exactly as with hashicorp/aws.
provider "efs" {
  region = "eu-west-1"

  default_tags {
    tags = {
      team    = "observability"
      managed = "terraform"
    }
  }
}
