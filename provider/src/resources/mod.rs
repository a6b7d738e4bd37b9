//! Resources, one module each.

pub mod prometheus_volume;
pub mod tags;

use std::sync::Arc;

use crate::framework::Resource;

/// Every resource the provider serves. Adding one is one module and one line here.
pub fn all() -> Vec<Arc<dyn Resource>> {
    vec![Arc::new(prometheus_volume::PrometheusVolume)]
}
