# Import by file system id; the mount targets, security group and access point are found from it.
terraform import efs_prometheus_volume.this fs-0123456789abcdef0
