# Terraform 1.12 and newer, OpenTofu 1.12 and newer: import by resource identity.
import {
  to = efs_prometheus_volume.this
  identity = {
    file_system_id = "fs-0123456789abcdef0"
  }
}
