//! EFS: finders, waiters and calls for file systems, mount targets and access points.
