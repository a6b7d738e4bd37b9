//! EC2: instances (profile associations, metadata options) and networking (subnets, security groups).

pub mod instances;
pub mod network;

/// EC2 instance ids: `i-` and 8 or 17 hexadecimal digits.
pub const INSTANCE_ID_PATTERN: &str = r"^i-[0-9a-f]{8,17}$";
