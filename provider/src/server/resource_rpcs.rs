//! Resource RPCs: ValidateResourceConfig, UpgradeResourceState, ReadResource, PlanResourceChange,
//! ApplyResourceChange and ImportResourceState.

use tfplugin_proto::tfplugin6 as proto;

use super::{convert, ProviderService};
use crate::framework::plan::plan_resource;
use crate::framework::validators::validate_block;
use crate::framework::{json, Diagnostics, PlanContext, Value};
use crate::logging;

impl ProviderService {
    pub(super) fn validate_resource_config(
        &self,
        request: proto::validate_resource_config::Request,
    ) -> proto::validate_resource_config::Response {
        let mut diags = Diagnostics::new();
        match self.resource(&request.type_name) {
            Ok(registered) => match convert::decode(request.config.as_ref(), &registered.schema.value_type()) {
                Ok(config) => {
                    validate_block(&registered.schema.block, &config, None, &mut diags);
                    registered.resource.validate(&config, &mut diags);
                }
                Err(e) => diags.extend(e),
            },
            Err(e) => diags.extend(e),
        }
        proto::validate_resource_config::Response { diagnostics: convert::diagnostics(&diags) }
    }

    pub(super) fn upgrade_resource_state(
        &self,
        request: proto::upgrade_resource_state::Request,
    ) -> proto::upgrade_resource_state::Response {
        let result = (|| {
            let registered = self.resource(&request.type_name)?;
            let raw = request.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                if !raw.flatmap.is_empty() {
                    return Err(Diagnostics::from_error(
                        "Unsupported State Format",
                        "This state was written in the pre-0.12 flatmap format, which this provider never wrote.",
                    ));
                }
                return Ok(None);
            }
            let parsed: serde_json::Value = serde_json::from_slice(&raw.json).map_err(|e| {
                Diagnostics::from_error("Invalid Stored State", format!("The stored state is not valid JSON: {e}."))
            })?;
            let upgraded = if request.version < registered.schema.version {
                registered.resource.upgrade_state(request.version, parsed)?
            } else {
                parsed
            };
            let ty = registered.schema.value_type();
            let value = json::decode_value(&upgraded, &ty).map_err(|e| {
                Diagnostics::from_error(
                    "Invalid Stored State",
                    format!("The stored state does not match the schema: {e}."),
                )
            })?;
            Ok(Some(convert::encode(&value, &ty)?))
        })();
        let (upgraded_state, diags) = match result {
            Ok(state) => (state, Diagnostics::new()),
            Err(diags) => (None, diags),
        };
        proto::upgrade_resource_state::Response { upgraded_state, diagnostics: convert::diagnostics(&diags) }
    }

    pub(super) async fn read_resource(&self, request: proto::read_resource::Request) -> proto::read_resource::Response {
        let private = convert::private_from_bytes(&request.private);
        let result = async {
            let registered = self.resource(&request.type_name)?;
            let ty = registered.schema.value_type();
            let current = convert::decode(request.current_state.as_ref(), &ty)?;
            if current.is_null() {
                return Ok((None, None, private.clone(), Diagnostics::new()));
            }
            let outcome = registered.resource.read(&self.ctx(), &current, &private).await;
            if outcome.diags.has_errors() {
                // Keep the current state: a failed refresh must not drop a resource from state.
                let identity = convert::identity_data(registered.identity.as_ref(), &current);
                return Ok((request.current_state.clone(), identity, private.clone(), outcome.diags));
            }
            // OpenTofu drops a stored identity that a read does not return: send it on every read.
            let identity = convert::identity_data(registered.identity.as_ref(), &outcome.state);
            Ok::<_, Diagnostics>((
                Some(convert::encode(&outcome.state, &ty)?),
                identity,
                outcome.private,
                outcome.diags,
            ))
        }
        .await;
        let (new_state, new_identity, private, diags) = result
            .unwrap_or_else(|diags| (request.current_state.clone(), request.current_identity.clone(), private, diags));
        proto::read_resource::Response {
            new_state,
            private: convert::private_to_bytes(&private),
            diagnostics: convert::diagnostics(&diags),
            new_identity,
            ..Default::default()
        }
    }

    pub(super) async fn plan_resource_change(
        &self,
        request: proto::plan_resource_change::Request,
    ) -> proto::plan_resource_change::Response {
        let result = async {
            let registered = self.resource(&request.type_name)?;
            let ty = registered.schema.value_type();
            let prior = convert::decode(request.prior_state.as_ref(), &ty)?;
            let proposed = convert::decode(request.proposed_new_state.as_ref(), &ty)?;
            let config = convert::decode(request.config.as_ref(), &ty)?;
            let planned = plan_resource(&registered.schema.block, &prior, &proposed, &config);
            let mut plan = PlanContext {
                block: &registered.schema.block,
                config: &config,
                prior: &prior,
                planned,
                requires_replace: Vec::new(),
                diags: Diagnostics::new(),
            };
            registered.resource.modify_plan(&self.ctx(), &mut plan).await;
            let replace = plan.replacing();
            if plan.diags.has_errors() {
                return Ok((None, None, Vec::new(), plan.diags));
            }
            let planned_state = convert::encode(&plan.planned, &ty)?;
            let planned_identity = convert::identity_data(registered.identity.as_ref(), &plan.planned);
            Ok::<_, Diagnostics>((Some(planned_state), planned_identity, replace, plan.diags))
        }
        .await;
        let (planned_state, planned_identity, replace, diags) =
            result.unwrap_or_else(|diags| (None, None, Vec::new(), diags));
        proto::plan_resource_change::Response {
            planned_state,
            requires_replace: replace.iter().map(convert::attribute_path).collect(),
            planned_private: request.prior_private,
            diagnostics: convert::diagnostics(&diags),
            planned_identity,
            ..Default::default()
        }
    }

    pub(super) async fn apply_resource_change(
        &self,
        request: proto::apply_resource_change::Request,
    ) -> proto::apply_resource_change::Response {
        let planned_private = convert::private_from_bytes(&request.planned_private);
        let result = async {
            let registered = self.resource(&request.type_name)?;
            let resource = &registered.resource;
            let ty = registered.schema.value_type();
            let prior = convert::decode(request.prior_state.as_ref(), &ty)?;
            let planned = convert::decode(request.planned_state.as_ref(), &ty)?;
            let config = convert::decode(request.config.as_ref(), &ty)?;
            let ctx = self.ctx();
            let (mut state, private, mut diags) = if planned.is_null() {
                logging::debug("deleting", &[("type", resource.type_name())]);
                let diags = resource.delete(&ctx, &prior, &planned_private).await;
                // A failed delete keeps the resource in state, so the next run finishes the job.
                let state = if diags.has_errors() { prior.clone() } else { Value::Null };
                (state, planned_private.clone(), diags)
            } else if prior.is_null() {
                logging::debug("creating", &[("type", resource.type_name())]);
                let outcome = resource.create(&ctx, &planned, &config).await;
                (outcome.state, outcome.private, outcome.diags)
            } else {
                logging::debug("updating", &[("type", resource.type_name())]);
                let outcome = resource.update(&ctx, &prior, &planned, &config, &planned_private).await;
                (outcome.state, outcome.private, outcome.diags)
            };
            if !state.is_known() {
                diags.error(
                    "Provider Returned Unknown Values",
                    format!(
                        "After applying {}, the provider left values unknown; they are stored as null. This is a bug in the provider; please report it.",
                        resource.type_name()
                    ),
                );
                state = state.unknown_to_null();
            }
            let identity = convert::identity_data(registered.identity.as_ref(), &state);
            Ok::<_, Diagnostics>((Some(convert::encode(&state, &ty)?), identity, private, diags))
        }
        .await;
        let (new_state, new_identity, private, diags) = result.unwrap_or_else(|diags| {
            (request.prior_state.clone(), request.planned_identity.clone(), planned_private, diags)
        });
        proto::apply_resource_change::Response {
            new_state,
            private: convert::private_to_bytes(&private),
            diagnostics: convert::diagnostics(&diags),
            new_identity,
            ..Default::default()
        }
    }

    pub(super) async fn import_resource_state(
        &self,
        request: proto::import_resource_state::Request,
    ) -> proto::import_resource_state::Response {
        let result = async {
            let registered = self.resource(&request.type_name)?;
            let ty = registered.schema.value_type();
            let id = match (request.id.as_str(), &request.identity) {
                ("", Some(given)) => import_id_from_identity(registered, given)?,
                (id, _) => id.to_string(),
            };
            let state = registered.resource.import(&self.ctx(), &id).await?;
            Ok::<_, Diagnostics>(proto::import_resource_state::ImportedResource {
                type_name: request.type_name.clone(),
                state: Some(convert::encode(&state, &ty)?),
                identity: convert::identity_data(registered.identity.as_ref(), &state),
                ..Default::default()
            })
        }
        .await;
        let (imported_resources, diags) = match result {
            Ok(imported) => (vec![imported], Diagnostics::new()),
            Err(diags) => (Vec::new(), diags),
        };
        proto::import_resource_state::Response {
            imported_resources,
            diagnostics: convert::diagnostics(&diags),
            ..Default::default()
        }
    }
}

/// The import id an `import { identity = {...} }` block stands for.
fn import_id_from_identity(
    registered: &super::RegisteredResource,
    given: &proto::ResourceIdentityData,
) -> Result<String, Diagnostics> {
    let type_name = registered.resource.type_name();
    let identity = registered.identity.as_ref().ok_or_else(|| {
        Diagnostics::from_error(
            "Resource Has No Identity",
            format!("The resource type {type_name} cannot be imported by identity; import it by id."),
        )
    })?;
    let value = convert::decode(given.identity_data.as_ref(), &identity.value_type())?;
    identity.import_id(&value).ok_or_else(|| {
        Diagnostics::from_error(
            "Incomplete Import Identity",
            format!("Importing a {type_name} by identity needs `{}` set to the object's name.", identity.attribute),
        )
    })
}
