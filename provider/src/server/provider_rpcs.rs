//! Provider-level RPCs: GetMetadata, GetProviderSchema, ValidateProviderConfig, ConfigureProvider,
//! StopProvider.

use std::collections::HashMap;
use std::sync::Arc;

use tfplugin_proto::tfplugin6 as proto;

use super::{convert, ProviderService};
use crate::framework::validators::validate_block;
use crate::framework::{json, Diagnostics, Identity};
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
                .map(|name| proto::get_metadata::ResourceMetadata { type_name: name.to_string() })
                .collect(),
            data_sources: self
                .inner
                .data_sources
                .keys()
                .map(|name| proto::get_metadata::DataSourceMetadata { type_name: name.to_string() })
                .collect(),
            ..Default::default()
        }
    }

    pub(super) fn get_provider_schema(&self) -> proto::get_provider_schema::Response {
        let resource_schemas: HashMap<String, proto::Schema> =
            self.inner.resources.iter().map(|(name, r)| (name.to_string(), convert::schema(&r.schema))).collect();
        let data_source_schemas: HashMap<String, proto::Schema> =
            self.inner.data_sources.iter().map(|(name, d)| (name.to_string(), convert::schema(&d.schema))).collect();
        proto::get_provider_schema::Response {
            provider: Some(convert::schema(&self.inner.provider_schema)),
            resource_schemas,
            data_source_schemas,
            server_capabilities: Some(server_capabilities()),
            ..Default::default()
        }
    }

    pub(super) fn get_resource_identity_schemas(&self) -> proto::get_resource_identity_schemas::Response {
        let identity_schemas = self
            .inner
            .resources
            .iter()
            .filter_map(|(name, r)| Some((name.to_string(), convert::identity_schema(r.identity.as_ref()?))))
            .collect();
        proto::get_resource_identity_schemas::Response { identity_schemas, diagnostics: Vec::new() }
    }

    /// Identities have had one shape so far (version 0): the stored JSON is re-encoded as it is.
    pub(super) fn upgrade_resource_identity(
        &self,
        request: proto::upgrade_resource_identity::Request,
    ) -> proto::upgrade_resource_identity::Response {
        let result = (|| {
            let registered = self.resource(&request.type_name)?;
            let identity = registered.identity.as_ref().ok_or_else(|| {
                Diagnostics::from_error(
                    "Resource Has No Identity",
                    format!("The resource type {} has no identity to upgrade.", request.type_name),
                )
            })?;
            if request.version > Identity::VERSION {
                return Err(Diagnostics::from_error(
                    "Identity From A Newer Provider",
                    format!(
                        "The stored identity of this {} was written by a newer version of the provider (identity \
                         version {}, this provider writes {}). Upgrade the provider.",
                        request.type_name,
                        request.version,
                        Identity::VERSION
                    ),
                ));
            }
            let raw = request.raw_identity.unwrap_or_default().json;
            let parsed: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
                Diagnostics::from_error(
                    "Invalid Stored Identity",
                    format!("The stored identity is not valid JSON: {e}."),
                )
            })?;
            let ty = identity.value_type();
            let value = json::decode_value(&parsed, &ty).map_err(|e| {
                Diagnostics::from_error("Invalid Stored Identity", format!("The stored identity does not match: {e}."))
            })?;
            Ok(proto::ResourceIdentityData { identity_data: Some(convert::encode(&value, &ty)?) })
        })();
        match result {
            Ok(upgraded) => proto::upgrade_resource_identity::Response {
                upgraded_identity: Some(upgraded),
                diagnostics: Vec::new(),
            },
            Err(diags) => proto::upgrade_resource_identity::Response {
                upgraded_identity: None,
                diagnostics: convert::diagnostics(&diags),
            },
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
        proto::validate_provider_config::Response { diagnostics: convert::diagnostics(&diags) }
    }

    pub(super) async fn configure_provider(
        &self,
        request: proto::configure_provider::Request,
    ) -> proto::configure_provider::Response {
        let schema = &self.inner.provider_schema;
        let diags = match convert::decode(request.config.as_ref(), &schema.value_type()) {
            Ok(config) => {
                logging::debug("configuring provider", &[("terraform_version", &request.terraform_version)]);
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
        proto::configure_provider::Response { diagnostics: convert::diagnostics(&diags) }
    }

    pub(super) fn stop_provider(&self) -> proto::stop_provider::Response {
        logging::info("stop requested: cancelling in-flight AWS operations", &[]);
        if let Ok(mut token) = self.inner.stop.lock() {
            token.cancel();
            *token = self.inner.shutdown.child_token();
        }
        proto::stop_provider::Response { error: String::new() }
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::ProviderService;

    #[test]
    fn stop_cancels_work_in_flight_and_later_calls_start_fresh() {
        let shutdown = CancellationToken::new();
        let service = ProviderService::new(shutdown.clone());
        let in_flight = service.ctx().cancel;
        service.stop_provider();
        assert!(in_flight.is_cancelled(), "StopProvider cancels what was running");
        let later = service.ctx().cancel;
        assert!(!later.is_cancelled(), "a call after StopProvider starts with a live token");
        service.stop_provider();
        assert!(later.is_cancelled(), "a second StopProvider cancels the calls started after the first");
        let after_shutdown = service.ctx().cancel;
        shutdown.cancel();
        assert!(after_shutdown.is_cancelled(), "process shutdown still cancels everything");
    }
}
