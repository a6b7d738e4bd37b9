//! Data sources, one module each.

pub mod cluster_readiness;
pub mod csi_driver_iam_policy;

use std::sync::Arc;

use crate::framework::DataSource;

/// Every data source the provider serves. Adding one is one module and one line here.
pub fn all() -> Vec<Arc<dyn DataSource>> {
    vec![Arc::new(csi_driver_iam_policy::CsiDriverIamPolicy), Arc::new(cluster_readiness::ClusterReadiness)]
}
