//! Data source RPCs: ValidateDataResourceConfig and ReadDataSource.

use tfplugin_proto::tfplugin6 as proto;

use super::{convert, ProviderService};
use crate::framework::validators::validate_block;
use crate::framework::Diagnostics;

impl ProviderService {
    pub(super) fn validate_data_resource_config(
        &self,
        request: proto::validate_data_resource_config::Request,
    ) -> proto::validate_data_resource_config::Response {
        let mut diags = Diagnostics::new();
        match self.data_source(&request.type_name) {
            Ok(registered) => {
                match convert::decode(request.config.as_ref(), &registered.schema.value_type()) {
                    Ok(config) => {
                        validate_block(&registered.schema.block, &config, None, &mut diags);
                        registered.data_source.validate(&config, &mut diags);
                    }
                    Err(e) => diags.extend(e),
                }
            }
            Err(e) => diags.extend(e),
        }
        proto::validate_data_resource_config::Response {
            diagnostics: convert::diagnostics(&diags),
        }
    }

    pub(super) async fn read_data_source(
        &self,
        request: proto::read_data_source::Request,
    ) -> proto::read_data_source::Response {
        let result = async {
            let registered = self.data_source(&request.type_name)?;
            let ty = registered.schema.value_type();
            let config = convert::decode(request.config.as_ref(), &ty)?;
            let (state, diags) = registered.data_source.read(&self.ctx(), &config).await;
            if diags.has_errors() {
                return Ok((None, diags));
            }
            Ok::<_, Diagnostics>((Some(convert::encode(&state, &ty)?), diags))
        }
        .await;
        let (state, diags) = result.unwrap_or_else(|diags| (None, diags));
        proto::read_data_source::Response {
            state,
            diagnostics: convert::diagnostics(&diags),
            ..Default::default()
        }
    }
}
