//! Resources, one module each.

pub mod csi_node_identity;
pub mod ownership;
pub mod prometheus_volume;
pub mod tags;

use std::sync::Arc;

use crate::framework::Resource;

/// Every resource the provider serves. Adding one is one module and one line here.
pub fn all() -> Vec<Arc<dyn Resource>> {
    vec![Arc::new(csi_node_identity::CsiNodeIdentity), Arc::new(prometheus_volume::PrometheusVolume)]
}
