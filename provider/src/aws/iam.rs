//! IAM: finders, waiters and calls for roles, policies and instance profiles.
