//! EC2 networking: subnets, VPCs and security groups.
