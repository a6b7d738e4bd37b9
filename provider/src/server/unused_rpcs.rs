//! RPCs for protocol features this provider does not offer (state moves, config
//! generation, ephemeral resources, list resources, functions, state stores, actions). Each answers
//! at once: an empty result where that is a valid answer, otherwise a clear error diagnostic.
//! Never an `Unimplemented` status, which the CLI would report as a crash of the provider.

use tfplugin_proto::tfplugin6 as proto;

use super::convert;
use crate::framework::Diagnostics;

/// An error diagnostic saying which feature the provider does not have.
pub fn not_offered(feature: &str) -> Vec<proto::Diagnostic> {
    convert::diagnostics(&Diagnostics::from_error(
        format!("{feature} Not Supported"),
        format!(
            "The efs provider offers no {}. Check that the configuration names a resource or data source of this provider.",
            feature.to_lowercase()
        ),
    ))
}

pub fn move_resource_state() -> proto::move_resource_state::Response {
    proto::move_resource_state::Response { diagnostics: not_offered("Resource State Moves"), ..Default::default() }
}

pub fn generate_resource_config() -> proto::generate_resource_config::Response {
    proto::generate_resource_config::Response {
        diagnostics: not_offered("Configuration Generation"),
        ..Default::default()
    }
}

pub fn validate_ephemeral_resource_config() -> proto::validate_ephemeral_resource_config::Response {
    proto::validate_ephemeral_resource_config::Response { diagnostics: not_offered("Ephemeral Resources") }
}

pub fn open_ephemeral_resource() -> proto::open_ephemeral_resource::Response {
    proto::open_ephemeral_resource::Response { diagnostics: not_offered("Ephemeral Resources"), ..Default::default() }
}

pub fn renew_ephemeral_resource() -> proto::renew_ephemeral_resource::Response {
    proto::renew_ephemeral_resource::Response { diagnostics: not_offered("Ephemeral Resources"), ..Default::default() }
}

pub fn close_ephemeral_resource() -> proto::close_ephemeral_resource::Response {
    proto::close_ephemeral_resource::Response { diagnostics: not_offered("Ephemeral Resources") }
}

pub fn list_resource_event() -> proto::list_resource::Event {
    proto::list_resource::Event { diagnostic: not_offered("List Resources"), ..Default::default() }
}

pub fn validate_list_resource_config() -> proto::validate_list_resource_config::Response {
    proto::validate_list_resource_config::Response { diagnostics: not_offered("List Resources") }
}

pub fn get_functions() -> proto::get_functions::Response {
    // No provider functions: an empty map is the complete answer.
    Default::default()
}

pub fn call_function() -> proto::call_function::Response {
    proto::call_function::Response {
        error: Some(proto::FunctionError {
            text: "The efs provider offers no functions.".to_string(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn validate_state_store() -> proto::validate_state_store::Response {
    proto::validate_state_store::Response { diagnostics: not_offered("State Stores") }
}

pub fn configure_state_store() -> proto::configure_state_store::Response {
    proto::configure_state_store::Response { diagnostics: not_offered("State Stores"), ..Default::default() }
}

pub fn read_state_bytes() -> proto::read_state_bytes::Response {
    proto::read_state_bytes::Response { diagnostics: not_offered("State Stores"), ..Default::default() }
}

pub fn write_state_bytes() -> proto::write_state_bytes::Response {
    proto::write_state_bytes::Response { diagnostics: not_offered("State Stores") }
}

pub fn lock_state() -> proto::lock_state::Response {
    proto::lock_state::Response { diagnostics: not_offered("State Stores"), ..Default::default() }
}

pub fn unlock_state() -> proto::unlock_state::Response {
    proto::unlock_state::Response { diagnostics: not_offered("State Stores") }
}

pub fn get_states() -> proto::get_states::Response {
    proto::get_states::Response { diagnostics: not_offered("State Stores"), ..Default::default() }
}

pub fn delete_state() -> proto::delete_state::Response {
    proto::delete_state::Response { diagnostics: not_offered("State Stores") }
}

pub fn plan_action() -> proto::plan_action::Response {
    proto::plan_action::Response { diagnostics: not_offered("Actions"), ..Default::default() }
}

pub fn invoke_action_event() -> proto::invoke_action::Event {
    proto::invoke_action::Event {
        r#type: Some(proto::invoke_action::event::Type::Completed(proto::invoke_action::event::Completed {
            diagnostics: not_offered("Actions"),
        })),
    }
}

pub fn validate_action_config() -> proto::validate_action_config::Response {
    proto::validate_action_config::Response { diagnostics: not_offered("Actions") }
}
