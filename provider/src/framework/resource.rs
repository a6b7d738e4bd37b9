//! The traits a resource or data source implements, and what the framework hands them.
//!
//! A resource is one type implementing [`Resource`]: schema, validation, plan hook,
//! create/read/update/delete and import live together in its module. The server turns protocol
//! requests into these calls (decoding values with the schema) and their results back.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::diagnostics::Diagnostics;
use super::path::AttributePath;
use super::schema::{Block, Schema};
use super::value::{Type, Value};

/// Provider-private data stored with a resource's state (opaque to Terraform, JSON to us).
pub type Private = BTreeMap<String, serde_json::Value>;

/// Whatever ConfigureProvider produced, handed to every handler as terraform-plugin-framework hands
/// `ProviderData` to resources: untyped here, since the framework knows nothing of what a provider
/// configures; the provider's own code downcasts it to its type.
pub type ProviderData = Arc<dyn Any + Send + Sync>;

/// What every handler gets: the configured provider's data (once Terraform configured it) and the
/// cancellation signal raised by StopProvider.
#[derive(Clone)]
pub struct Ctx {
    pub provider_data: Option<ProviderData>,
    pub cancel: CancellationToken,
}

/// The framework's plan, handed to a resource's plan hook to refine.
pub struct PlanContext<'a> {
    /// The resource's schema, which the framework planned with.
    pub block: &'a Block,
    /// The configuration (may contain unknown values).
    pub config: &'a Value,
    /// The prior state; null on create.
    pub prior: &'a Value,
    /// The planned new state so far; null on destroy.
    pub planned: Value,
    /// Extra attribute paths whose change replaces the resource.
    pub requires_replace: Vec<AttributePath>,
    pub diags: Diagnostics,
}

impl PlanContext<'_> {
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }

    pub fn is_destroy(&self) -> bool {
        self.planned.is_null()
    }

    /// The attribute paths whose planned change replaces the resource, sorted and without
    /// duplicates: the schema's `RequiresReplace` attributes that change, and those a plan hook
    /// added to `requires_replace`. What Terraform is told, so a hook can warn about it.
    pub fn replacing(&self) -> Vec<AttributePath> {
        let mut paths = super::plan::requires_replace(self.block, self.prior, &self.planned);
        paths.extend(self.requires_replace.iter().cloned());
        paths.sort_by_key(|p| p.to_string());
        paths.dedup();
        paths
    }

    /// Sets a top-level attribute of the planned state.
    pub fn set(&mut self, name: &str, value: Value) {
        if let Value::Object(map) = &mut self.planned {
            map.insert(name.to_string(), value);
        }
    }
}

/// The result of create or update. After a create that reached AWS, `state` must describe what
/// exists even when `diags` has errors: Terraform then keeps (and taints) it instead of losing it.
pub struct ApplyOutcome {
    pub state: Value,
    pub private: Private,
    pub diags: Diagnostics,
}

impl ApplyOutcome {
    pub fn ok(state: Value) -> Self {
        Self { state, private: Private::new(), diags: Diagnostics::new() }
    }

    pub fn failed(state: Value, diags: Diagnostics) -> Self {
        Self { state, private: Private::new(), diags }
    }
}

/// The result of read: `state` is null when the resource no longer exists (Terraform then plans to
/// create it again).
pub struct ReadOutcome {
    pub state: Value,
    pub private: Private,
    pub diags: Diagnostics,
}

/// How a resource names its remote object independently of its state (protocol 6.9 resource
/// identity): one string attribute of the state, whose value is also the resource's import id.
/// OpenTofu 1.12 stores it with the state and accepts it in `import` blocks
/// (`import { to = ..., identity = { ... } }`); Terraform 1.0 never asks for it.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    /// The state attribute that names the object (e.g. `file_system_id`).
    pub attribute: &'static str,
    /// Markdown description of that attribute, as the identity schema serves it.
    pub description: &'static str,
}

impl Identity {
    /// The identity schema's version; identities of different versions never compare equal.
    pub const VERSION: i64 = 0;

    /// The type of the identity object: `{ <attribute> = string }`.
    pub fn value_type(&self) -> Type {
        Type::object([(self.attribute, Type::String)])
    }

    /// The identity of the object a state describes; `None` while the attribute is unknown or
    /// null (before create, or in a plan that replaces the object).
    pub fn of(&self, state: &Value) -> Option<Value> {
        let name = state.get(self.attribute)?.as_str()?;
        Some(Value::object([(self.attribute, Value::string(name))]))
    }

    /// The import id an identity given in an `import` block stands for.
    pub fn import_id(&self, identity: &Value) -> Option<String> {
        identity.get(self.attribute)?.as_str().filter(|id| !id.is_empty()).map(str::to_string)
    }
}

#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The full type name, e.g. `efs_csi_node_identity`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// The resource's identity, if it has one (see [`Identity`]).
    fn identity(&self) -> Option<Identity> {
        None
    }

    /// Cross-attribute rules beyond the per-attribute validators of the schema. Runs on
    /// configurations that may contain unknown values.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Refines the framework's plan: computed values known at plan time, plan-time checks against
    /// AWS, warnings, extra replacement paths.
    async fn modify_plan(&self, _ctx: &Ctx, _plan: &mut PlanContext<'_>) {}

    async fn create(&self, ctx: &Ctx, planned: &Value, config: &Value) -> ApplyOutcome;

    async fn read(&self, ctx: &Ctx, state: &Value, private: &Private) -> ReadOutcome;

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        config: &Value,
        private: &Private,
    ) -> ApplyOutcome;

    async fn delete(&self, ctx: &Ctx, prior: &Value, private: &Private) -> Diagnostics;

    /// The state to read after `terraform import` with `id`; the framework then calls [`Resource::read`].
    async fn import(&self, _ctx: &Ctx, _id: &str) -> Result<Value, Diagnostics> {
        Err(Diagnostics::from_error(
            "Import Not Supported",
            format!("The resource type {} cannot be imported.", self.type_name()),
        ))
    }

    /// Rewrites stored state JSON written by schema `version` into the current schema's shape.
    /// The default keeps it as it is (attributes the schema no longer has are dropped on decode).
    fn upgrade_state(&self, _version: i64, raw: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        Ok(raw)
    }
}

#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// The full type name, e.g. `efs_csi_driver_iam_policy`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Returns the data source's state for a wholly known configuration.
    async fn read(&self, ctx: &Ctx, config: &Value) -> (Value, Diagnostics);
}
