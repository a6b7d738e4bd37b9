# Terraform 1.5 and newer, OpenTofu: import the file system (and its mount targets, security
# group and access point) at plan time; `plan -generate-config-out=generated.tf` writes its
# configuration.
import {
  to = efs_prometheus_volume.this
  id = "fs-0123456789abcdef0"
}
