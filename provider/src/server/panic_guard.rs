//! The last line of defence: a handler that panics answers its RPC with an error diagnostic that
//! names the RPC and asks for a bug report, instead of ending the connection (which the CLI reports
//! only as "Request cancelled"). The process keeps serving the calls that follow.
//!
//! Every user-supplied value is parsed without panicking (see the property tests in
//! `framework`); this guard is for the bugs those tests have not found.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tfplugin_proto::tfplugin6 as proto;

use crate::framework::Diagnostics;
use crate::logging;

/// Where users report bugs.
const ISSUES_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/issues");

/// A response message that carries diagnostics.
pub(super) trait Diagnosed: Default {
    fn from_diagnostics(diagnostics: Vec<proto::Diagnostic>) -> Self;
}

macro_rules! diagnosed {
    ($($response:ty),* $(,)?) => {
        $(impl Diagnosed for $response {
            // Some responses have no field but the diagnostics; the others keep their defaults.
            #[allow(clippy::needless_update)]
            fn from_diagnostics(diagnostics: Vec<proto::Diagnostic>) -> Self {
                Self { diagnostics, ..Default::default() }
            }
        })*
    };
}

diagnosed!(
    proto::get_metadata::Response,
    proto::get_provider_schema::Response,
    proto::validate_provider_config::Response,
    proto::validate_resource_config::Response,
    proto::validate_data_resource_config::Response,
    proto::upgrade_resource_state::Response,
    proto::get_resource_identity_schemas::Response,
    proto::upgrade_resource_identity::Response,
    proto::configure_provider::Response,
    proto::read_resource::Response,
    proto::plan_resource_change::Response,
    proto::apply_resource_change::Response,
    proto::import_resource_state::Response,
    proto::read_data_source::Response,
);

/// Runs `handler`; when it panics, the answer is an error diagnostic naming `rpc`.
pub(super) async fn guarded<T: Diagnosed>(rpc: &'static str, handler: impl Future<Output = T>) -> T {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(response) => response,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            logging::error("handler panicked", &[("rpc", rpc), ("panic", &message)]);
            T::from_diagnostics(super::convert::diagnostics(&panic_diagnostics(rpc, &message)))
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

fn panic_diagnostics(rpc: &str, message: &str) -> Diagnostics {
    Diagnostics::from_error(
        "Internal Error In The efs Provider",
        format!(
            "The efs provider failed unexpectedly while handling {rpc}: {message}. This is a bug in the provider, \
             not in your configuration: please report it at {ISSUES_URL} with this message, the provider version \
             and the configuration that led to it. The provider is still running; the {rpc} call did nothing \
             further after the failure."
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use tfplugin_proto::tfplugin6::provider_server::Provider;
    use tokio_util::sync::CancellationToken;
    use tonic::Request;

    use super::*;
    use crate::framework::schema::{Attribute, Block, Schema};
    use crate::framework::{ApplyOutcome, Ctx, PlanContext, Private, ReadOutcome, Resource, Type, Value};
    use crate::server::{convert, ProviderService};

    /// A resource that exists only in this test: its validation panics on `explode = true` and its
    /// plan hook always does, as a bug in a handler would.
    struct Exploding;

    #[async_trait]
    impl Resource for Exploding {
        fn type_name(&self) -> &'static str {
            "efs_exploding"
        }

        fn schema(&self) -> Schema {
            Schema::new(0, Block::new("test only").attribute(Attribute::optional("explode", Type::Bool)))
        }

        fn validate(&self, config: &Value, _diags: &mut Diagnostics) {
            if config.get("explode").and_then(Value::as_bool) == Some(true) {
                panic!("validation blew up");
            }
        }

        async fn modify_plan(&self, _ctx: &Ctx, _plan: &mut PlanContext<'_>) {
            tokio::task::yield_now().await;
            panic!("{} blew up", "planning");
        }

        async fn create(&self, _ctx: &Ctx, planned: &Value, _config: &Value) -> ApplyOutcome {
            ApplyOutcome::ok(planned.clone())
        }

        async fn read(&self, _ctx: &Ctx, state: &Value, _private: &Private) -> ReadOutcome {
            ReadOutcome { state: state.clone(), private: Private::new(), diags: Diagnostics::new() }
        }

        async fn update(&self, _: &Ctx, _: &Value, planned: &Value, _: &Value, _: &Private) -> ApplyOutcome {
            ApplyOutcome::ok(planned.clone())
        }

        async fn delete(&self, _ctx: &Ctx, _prior: &Value, _private: &Private) -> Diagnostics {
            Diagnostics::new()
        }
    }

    fn config(explode: bool) -> Option<proto::DynamicValue> {
        let ty = Exploding.schema().value_type();
        Some(convert::encode(&Value::object([("explode", Value::Bool(explode))]), &ty).unwrap())
    }

    fn validate_request(explode: bool) -> Request<proto::validate_resource_config::Request> {
        Request::new(proto::validate_resource_config::Request {
            type_name: "efs_exploding".into(),
            config: config(explode),
            ..Default::default()
        })
    }

    fn only_error(diagnostics: &[proto::Diagnostic]) -> &proto::Diagnostic {
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let diag = &diagnostics[0];
        assert_eq!(diag.severity, proto::diagnostic::Severity::Error as i32, "{diag:?}");
        diag
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_with_a_diagnostic_and_the_provider_keeps_serving() {
        let service = ProviderService::with_registry(vec![Arc::new(Exploding)], Vec::new(), CancellationToken::new());

        let answer = Provider::validate_resource_config(&service, validate_request(true))
            .await
            .expect("an answer, not a status");
        let diag = only_error(&answer.get_ref().diagnostics);
        assert_eq!(diag.summary, "Internal Error In The efs Provider");
        for words in ["while handling ValidateResourceConfig: validation blew up", "This is a bug", ISSUES_URL] {
            assert!(diag.detail.contains(words), "{words:?} missing from {:?}", diag.detail);
        }
        assert!(ISSUES_URL.starts_with("https://github.com/"), "{ISSUES_URL}");

        // An async handler that panics after an await, with a String payload.
        let plan = proto::plan_resource_change::Request {
            type_name: "efs_exploding".into(),
            prior_state: Some(convert::encode(&Value::Null, &Exploding.schema().value_type()).unwrap()),
            proposed_new_state: config(false),
            config: config(false),
            ..Default::default()
        };
        let answer =
            Provider::plan_resource_change(&service, Request::new(plan)).await.expect("an answer, not a status");
        let diag = only_error(&answer.get_ref().diagnostics);
        assert!(diag.detail.contains("while handling PlanResourceChange: planning blew up"), "{:?}", diag.detail);

        // The same service answers the next calls as usual.
        let answer = Provider::validate_resource_config(&service, validate_request(false)).await.unwrap();
        assert!(answer.get_ref().diagnostics.is_empty(), "{:?}", answer.get_ref().diagnostics);
        let schema = Provider::get_provider_schema(&service, Request::new(Default::default())).await.unwrap();
        assert!(schema.get_ref().resource_schemas.contains_key("efs_exploding"));
    }
}
