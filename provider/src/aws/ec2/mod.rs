//! EC2: instances (profile associations, metadata options) and networking (subnets, security groups).

pub mod instances;
pub mod network;
