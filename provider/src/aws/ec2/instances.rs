//! EC2 instances: IAM instance profile associations and instance metadata options.
