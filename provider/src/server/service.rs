//! The generated tfplugin6 `Provider` trait, implemented by delegating each RPC to its handler;
//! every handler runs guarded, so one that panics answers with an error diagnostic.

use std::pin::Pin;

use futures::Stream;
use tfplugin_proto::tfplugin6 as proto;
use tfplugin_proto::tfplugin6::provider_server::Provider;
use tonic::{Request, Response, Status, Streaming};

use super::panic_guard::guarded;
use super::{unused_rpcs, ProviderService};

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn one_event<T: Send + 'static>(event: T) -> Response<EventStream<T>> {
    Response::new(Box::pin(futures::stream::once(async move { Ok(event) })))
}

fn ok<T>(message: T) -> Result<Response<T>, Status> {
    Ok(Response::new(message))
}

#[tonic::async_trait]
impl Provider for ProviderService {
    async fn get_metadata(
        &self,
        _request: Request<proto::get_metadata::Request>,
    ) -> Result<Response<proto::get_metadata::Response>, Status> {
        ok(guarded("GetMetadata", async { ProviderService::get_metadata(self) }).await)
    }

    async fn get_provider_schema(
        &self,
        _request: Request<proto::get_provider_schema::Request>,
    ) -> Result<Response<proto::get_provider_schema::Response>, Status> {
        ok(guarded("GetProviderSchema", async { ProviderService::get_provider_schema(self) }).await)
    }

    async fn validate_provider_config(
        &self,
        request: Request<proto::validate_provider_config::Request>,
    ) -> Result<Response<proto::validate_provider_config::Response>, Status> {
        ok(guarded("ValidateProviderConfig", async {
            ProviderService::validate_provider_config(self, request.into_inner())
        })
        .await)
    }

    async fn validate_resource_config(
        &self,
        request: Request<proto::validate_resource_config::Request>,
    ) -> Result<Response<proto::validate_resource_config::Response>, Status> {
        ok(guarded("ValidateResourceConfig", async {
            ProviderService::validate_resource_config(self, request.into_inner())
        })
        .await)
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<proto::validate_data_resource_config::Request>,
    ) -> Result<Response<proto::validate_data_resource_config::Response>, Status> {
        ok(guarded("ValidateDataResourceConfig", async {
            ProviderService::validate_data_resource_config(self, request.into_inner())
        })
        .await)
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<proto::upgrade_resource_state::Request>,
    ) -> Result<Response<proto::upgrade_resource_state::Response>, Status> {
        ok(guarded("UpgradeResourceState", async {
            ProviderService::upgrade_resource_state(self, request.into_inner())
        })
        .await)
    }

    async fn get_resource_identity_schemas(
        &self,
        _request: Request<proto::get_resource_identity_schemas::Request>,
    ) -> Result<Response<proto::get_resource_identity_schemas::Response>, Status> {
        ok(guarded("GetResourceIdentitySchemas", async { ProviderService::get_resource_identity_schemas(self) }).await)
    }

    async fn upgrade_resource_identity(
        &self,
        request: Request<proto::upgrade_resource_identity::Request>,
    ) -> Result<Response<proto::upgrade_resource_identity::Response>, Status> {
        ok(guarded("UpgradeResourceIdentity", async {
            ProviderService::upgrade_resource_identity(self, request.into_inner())
        })
        .await)
    }

    async fn configure_provider(
        &self,
        request: Request<proto::configure_provider::Request>,
    ) -> Result<Response<proto::configure_provider::Response>, Status> {
        ok(guarded("ConfigureProvider", ProviderService::configure_provider(self, request.into_inner())).await)
    }

    async fn read_resource(
        &self,
        request: Request<proto::read_resource::Request>,
    ) -> Result<Response<proto::read_resource::Response>, Status> {
        ok(guarded("ReadResource", ProviderService::read_resource(self, request.into_inner())).await)
    }

    async fn plan_resource_change(
        &self,
        request: Request<proto::plan_resource_change::Request>,
    ) -> Result<Response<proto::plan_resource_change::Response>, Status> {
        ok(guarded("PlanResourceChange", ProviderService::plan_resource_change(self, request.into_inner())).await)
    }

    async fn apply_resource_change(
        &self,
        request: Request<proto::apply_resource_change::Request>,
    ) -> Result<Response<proto::apply_resource_change::Response>, Status> {
        ok(guarded("ApplyResourceChange", ProviderService::apply_resource_change(self, request.into_inner())).await)
    }

    async fn import_resource_state(
        &self,
        request: Request<proto::import_resource_state::Request>,
    ) -> Result<Response<proto::import_resource_state::Response>, Status> {
        ok(guarded("ImportResourceState", ProviderService::import_resource_state(self, request.into_inner())).await)
    }

    async fn move_resource_state(
        &self,
        _request: Request<proto::move_resource_state::Request>,
    ) -> Result<Response<proto::move_resource_state::Response>, Status> {
        ok(unused_rpcs::move_resource_state())
    }

    async fn read_data_source(
        &self,
        request: Request<proto::read_data_source::Request>,
    ) -> Result<Response<proto::read_data_source::Response>, Status> {
        ok(guarded("ReadDataSource", ProviderService::read_data_source(self, request.into_inner())).await)
    }

    async fn generate_resource_config(
        &self,
        _request: Request<proto::generate_resource_config::Request>,
    ) -> Result<Response<proto::generate_resource_config::Response>, Status> {
        ok(unused_rpcs::generate_resource_config())
    }

    async fn validate_ephemeral_resource_config(
        &self,
        _request: Request<proto::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<proto::validate_ephemeral_resource_config::Response>, Status> {
        ok(unused_rpcs::validate_ephemeral_resource_config())
    }

    async fn open_ephemeral_resource(
        &self,
        _request: Request<proto::open_ephemeral_resource::Request>,
    ) -> Result<Response<proto::open_ephemeral_resource::Response>, Status> {
        ok(unused_rpcs::open_ephemeral_resource())
    }

    async fn renew_ephemeral_resource(
        &self,
        _request: Request<proto::renew_ephemeral_resource::Request>,
    ) -> Result<Response<proto::renew_ephemeral_resource::Response>, Status> {
        ok(unused_rpcs::renew_ephemeral_resource())
    }

    async fn close_ephemeral_resource(
        &self,
        _request: Request<proto::close_ephemeral_resource::Request>,
    ) -> Result<Response<proto::close_ephemeral_resource::Response>, Status> {
        ok(unused_rpcs::close_ephemeral_resource())
    }

    type ListResourceStream = EventStream<proto::list_resource::Event>;

    async fn list_resource(
        &self,
        _request: Request<proto::list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        Ok(one_event(unused_rpcs::list_resource_event()))
    }

    async fn validate_list_resource_config(
        &self,
        _request: Request<proto::validate_list_resource_config::Request>,
    ) -> Result<Response<proto::validate_list_resource_config::Response>, Status> {
        ok(unused_rpcs::validate_list_resource_config())
    }

    async fn get_functions(
        &self,
        _request: Request<proto::get_functions::Request>,
    ) -> Result<Response<proto::get_functions::Response>, Status> {
        ok(unused_rpcs::get_functions())
    }

    async fn call_function(
        &self,
        _request: Request<proto::call_function::Request>,
    ) -> Result<Response<proto::call_function::Response>, Status> {
        ok(unused_rpcs::call_function())
    }

    async fn validate_state_store_config(
        &self,
        _request: Request<proto::validate_state_store::Request>,
    ) -> Result<Response<proto::validate_state_store::Response>, Status> {
        ok(unused_rpcs::validate_state_store())
    }

    async fn configure_state_store(
        &self,
        _request: Request<proto::configure_state_store::Request>,
    ) -> Result<Response<proto::configure_state_store::Response>, Status> {
        ok(unused_rpcs::configure_state_store())
    }

    type ReadStateBytesStream = EventStream<proto::read_state_bytes::Response>;

    async fn read_state_bytes(
        &self,
        _request: Request<proto::read_state_bytes::Request>,
    ) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        Ok(one_event(unused_rpcs::read_state_bytes()))
    }

    async fn write_state_bytes(
        &self,
        _request: Request<Streaming<proto::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<proto::write_state_bytes::Response>, Status> {
        ok(unused_rpcs::write_state_bytes())
    }

    async fn lock_state(
        &self,
        _request: Request<proto::lock_state::Request>,
    ) -> Result<Response<proto::lock_state::Response>, Status> {
        ok(unused_rpcs::lock_state())
    }

    async fn unlock_state(
        &self,
        _request: Request<proto::unlock_state::Request>,
    ) -> Result<Response<proto::unlock_state::Response>, Status> {
        ok(unused_rpcs::unlock_state())
    }

    async fn get_states(
        &self,
        _request: Request<proto::get_states::Request>,
    ) -> Result<Response<proto::get_states::Response>, Status> {
        ok(unused_rpcs::get_states())
    }

    async fn delete_state(
        &self,
        _request: Request<proto::delete_state::Request>,
    ) -> Result<Response<proto::delete_state::Response>, Status> {
        ok(unused_rpcs::delete_state())
    }

    async fn plan_action(
        &self,
        _request: Request<proto::plan_action::Request>,
    ) -> Result<Response<proto::plan_action::Response>, Status> {
        ok(unused_rpcs::plan_action())
    }

    type InvokeActionStream = EventStream<proto::invoke_action::Event>;

    async fn invoke_action(
        &self,
        _request: Request<proto::invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        Ok(one_event(unused_rpcs::invoke_action_event()))
    }

    async fn validate_action_config(
        &self,
        _request: Request<proto::validate_action_config::Request>,
    ) -> Result<Response<proto::validate_action_config::Response>, Status> {
        ok(unused_rpcs::validate_action_config())
    }

    async fn stop_provider(
        &self,
        _request: Request<proto::stop_provider::Request>,
    ) -> Result<Response<proto::stop_provider::Response>, Status> {
        ok(ProviderService::stop_provider(self))
    }
}
