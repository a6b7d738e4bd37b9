//! terraform-provider-efs as a library: the plugin server and everything it serves.
//!
//! Layout: `plugin` talks go-plugin to the CLI; `server` answers tfplugin6 RPCs with the
//! `framework`; `provider_config` turns the provider block into AWS clients (`aws`); each resource
//! and data source is one module under `resources` / `data_sources`. `error` holds the one error
//! type, `logging` the hclog-format logger.

pub mod aws;
pub mod data_sources;
pub mod error;
pub mod framework;
pub mod logging;
pub mod plugin;
pub mod provider_config;
pub mod resources;
pub mod server;

/// The provider's version, as released.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
