//! The tfplugin6 Provider service: decodes requests with the schemas, calls the framework and the
//! resources, and encodes their answers. Provider-level RPCs are in `provider_rpcs`, resource RPCs
//! in `resource_rpcs`, data source RPCs in `data_source_rpcs`; the RPCs the provider has no use for
//! (functions, ephemeral resources, list resources, actions, ...) answer in `unused_rpcs`.

mod convert;
mod data_source_rpcs;
mod panic_guard;
#[cfg(test)]
mod property_tests;
mod provider_rpcs;
mod resource_rpcs;
#[cfg(test)]
mod schema_rules;
mod service;
mod unused_rpcs;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use tfplugin_proto::tfplugin6::provider_server::ProviderServer;
use tokio_util::sync::CancellationToken;

use crate::framework::{Ctx, DataSource, Diagnostics, Identity, Resource, Schema};
use crate::provider_config::ProviderData;

/// A resource with its schema and identity computed once.
struct RegisteredResource {
    resource: Arc<dyn Resource>,
    schema: Schema,
    identity: Option<Identity>,
}

struct RegisteredDataSource {
    data_source: Arc<dyn DataSource>,
    schema: Schema,
}

/// The provider as the gRPC server sees it; cheap to clone.
#[derive(Clone)]
pub struct ProviderService {
    inner: Arc<Inner>,
}

struct Inner {
    provider_schema: Schema,
    resources: BTreeMap<&'static str, RegisteredResource>,
    data_sources: BTreeMap<&'static str, RegisteredDataSource>,
    configured: RwLock<Option<Arc<ProviderData>>>,
    /// Cancelled by StopProvider (or process shutdown): in-flight AWS work stops at its next await.
    /// StopProvider then puts a fresh child of `shutdown` here, as terraform-plugin-go does, so
    /// that the calls the CLI makes after a stop on the same process do not start cancelled.
    stop: Mutex<CancellationToken>,
    shutdown: CancellationToken,
}

impl ProviderService {
    pub fn new(shutdown: CancellationToken) -> Self {
        Self::with_registry(crate::resources::all(), crate::data_sources::all(), shutdown)
    }

    fn with_registry(
        resources: Vec<Arc<dyn Resource>>,
        data_sources: Vec<Arc<dyn DataSource>>,
        shutdown: CancellationToken,
    ) -> Self {
        let resources = resources
            .into_iter()
            .map(|resource| {
                let registered =
                    RegisteredResource { schema: resource.schema(), identity: resource.identity(), resource };
                (registered.resource.type_name(), registered)
            })
            .collect();
        let data_sources = data_sources
            .into_iter()
            .map(|data_source| {
                (data_source.type_name(), RegisteredDataSource { schema: data_source.schema(), data_source })
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                provider_schema: crate::provider_config::schema(),
                resources,
                data_sources,
                configured: RwLock::new(None),
                stop: Mutex::new(shutdown.child_token()),
                shutdown,
            }),
        }
    }

    pub fn into_server(self) -> ProviderServer<Self> {
        // Schemas of large providers exceed tonic's 4 MiB default; Terraform itself allows 256 MiB.
        ProviderServer::new(self).max_decoding_message_size(256 << 20).max_encoding_message_size(256 << 20)
    }

    /// The context handed to resource handlers.
    fn ctx(&self) -> Ctx {
        Ctx {
            provider_data: self
                .inner
                .configured
                .read()
                .map(|c| c.clone().map(|data| data as crate::framework::ProviderData))
                .unwrap_or(None),
            cancel: self.inner.stop.lock().map(|t| t.clone()).unwrap_or_default(),
        }
    }

    fn resource(&self, type_name: &str) -> Result<&RegisteredResource, Diagnostics> {
        self.inner.resources.get(type_name).ok_or_else(|| unknown_type("resource", type_name))
    }

    fn data_source(&self, type_name: &str) -> Result<&RegisteredDataSource, Diagnostics> {
        self.inner.data_sources.get(type_name).ok_or_else(|| unknown_type("data source", type_name))
    }
}

fn unknown_type(kind: &str, type_name: &str) -> Diagnostics {
    Diagnostics::from_error(
        format!("Unknown {kind} type"),
        format!("The efs provider has no {kind} type {type_name:?}. Check the spelling, or upgrade the provider."),
    )
}
