//! Provider-level RPCs: GetMetadata, GetProviderSchema, ValidateProviderConfig, ConfigureProvider,
//! StopProvider.

use std::collections::HashMap;
use std::sync::Arc;

use tfplugin_proto::tfplugin6 as proto;

use super::{convert, ProviderService};
use crate::framework::validators::validate_block;
use crate::framework::Diagnostics;
use crate::logging;

/// What the provider tells the CLI it can do.
pub fn server_capabilities() -> proto::ServerCapabilities {
    proto::ServerCapabilities {
        // The plan for a destroy needs nothing from the provider.
        plan_destroy: false,
        // Schemas are cheap and fixed: the CLI may skip GetProviderSchema and use GetMetadata.
        get_provider_schema_optional: true,
        move_resource_state: false,
        ..Default::default()
    }
}

impl ProviderService {
    pub(super) fn get_metadata(&self) -> proto::get_metadata::Response {
        proto::get_metadata::Response {
            server_capabilities: Some(server_capabilities()),
            diagnostics: Vec::new(),
            resources: self
                .inner
                .resources
                .keys()
                .map(|name| proto::get_metadata::ResourceMetadata {
                    type_name: name.to_string(),
                })
                .collect(),
            data_sources: self
                .inner
                .data_sources
                .keys()
                .map(|name| proto::get_metadata::DataSourceMetadata {
                    type_name: name.to_string(),
                })
                .collect(),
            ..Default::default()
        }
    }

    pub(super) fn get_provider_schema(&self) -> proto::get_provider_schema::Response {
        let resource_schemas: HashMap<String, proto::Schema> = self
            .inner
            .resources
            .iter()
            .map(|(name, r)| (name.to_string(), convert::schema(&r.schema)))
            .collect();
        let data_source_schemas: HashMap<String, proto::Schema> = self
            .inner
            .data_sources
            .iter()
            .map(|(name, d)| (name.to_string(), convert::schema(&d.schema)))
            .collect();
        proto::get_provider_schema::Response {
            provider: Some(convert::schema(&self.inner.provider_schema)),
            resource_schemas,
            data_source_schemas,
            server_capabilities: Some(server_capabilities()),
            ..Default::default()
        }
    }

    pub(super) fn validate_provider_config(
        &self,
        request: proto::validate_provider_config::Request,
    ) -> proto::validate_provider_config::Response {
        let mut diags = Diagnostics::new();
        let schema = &self.inner.provider_schema;
        match convert::decode(request.config.as_ref(), &schema.value_type()) {
            Ok(config) => {
                validate_block(&schema.block, &config, None, &mut diags);
                crate::provider_config::validate(&config, &mut diags);
            }
            Err(e) => diags.extend(e),
        }
        proto::validate_provider_config::Response {
            diagnostics: convert::diagnostics(&diags),
        }
    }

    pub(super) async fn configure_provider(
        &self,
        request: proto::configure_provider::Request,
    ) -> proto::configure_provider::Response {
        let schema = &self.inner.provider_schema;
        let diags = match convert::decode(request.config.as_ref(), &schema.value_type()) {
            Ok(config) => {
                logging::debug(
                    "configuring provider",
                    &[("terraform_version", &request.terraform_version)],
                );
                match crate::provider_config::configure(&config).await {
                    Ok(data) => {
                        if let Ok(mut slot) = self.inner.configured.write() {
                            *slot = Some(Arc::new(data));
                        }
                        Diagnostics::new()
                    }
                    Err(diags) => diags,
                }
            }
            Err(diags) => diags,
        };
        proto::configure_provider::Response {
            diagnostics: convert::diagnostics(&diags),
        }
    }

    pub(super) fn stop_provider(&self) -> proto::stop_provider::Response {
        logging::info("stop requested: cancelling in-flight AWS operations", &[]);
        if let Ok(token) = self.inner.stop.lock() {
            token.cancel();
        }
        proto::stop_provider::Response {
            error: String::new(),
        }
    }
}
