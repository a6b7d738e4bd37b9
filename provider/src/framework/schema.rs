//! Schemas: what a provider, resource or data source accepts and returns.
//!
//! A schema is plain data plus behaviour hooks the framework runs for every attribute:
//! validators (at validate time, on known values) and plan modifiers (at plan time).
//! It converts to the protocol's schema in `server::convert`, and its value type drives the codecs.

use std::fmt;
use std::sync::Arc;

use super::diagnostics::Diagnostics;
use super::path::AttributePath;
use super::value::{Type, Value};

/// A versioned schema. The version is stored with the state, so a change of shape can be upgraded.
#[derive(Clone, Debug)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Self { version, block }
    }

    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}

/// An object with attributes and nested blocks.
#[derive(Clone, Debug, Default)]
pub struct Block {
    pub description: String,
    pub deprecated: bool,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

impl Block {
    pub fn new(description: impl Into<String>) -> Self {
        Self { description: description.into(), ..Self::default() }
    }

    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    pub fn value_type(&self) -> Type {
        let attributes = self.attributes.iter().map(|a| (a.name.as_str(), a.value_type()));
        let blocks = self.blocks.iter().map(|b| (b.name.as_str(), b.value_type()));
        Type::object(attributes.chain(blocks))
    }

    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The object the framework plans for this block when the configuration sets none of its
    /// attributes: each attribute's default, null where it has none. Nested blocks are left out.
    pub fn defaults(&self) -> Value {
        Value::object(self.attributes.iter().map(|a| (a.name.as_str(), a.default.clone().unwrap_or(Value::Null))))
    }
}

/// How a nested block or nested attribute repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// At most one; null when absent.
    Single,
    /// Exactly one object, never null (an absent block is an object of nulls).
    Group,
    List,
    Set,
    Map,
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

impl NestedBlock {
    /// An optional block: no item bounds. A single block is at most one by its nesting mode; the
    /// CLIs refuse `max_items = 1` on it unless `min_items` is 1 too (a required block).
    pub fn new(name: &str, nesting: Nesting, block: Block) -> Self {
        Self { name: name.to_string(), nesting, block, min_items: 0, max_items: 0 }
    }

    pub fn min_items(mut self, min: i64) -> Self {
        self.min_items = min;
        self
    }

    pub fn max_items(mut self, max: i64) -> Self {
        self.max_items = max;
        self
    }

    pub fn value_type(&self) -> Type {
        nested_type(self.nesting, self.block.value_type())
    }
}

fn nested_type(nesting: Nesting, object: Type) -> Type {
    match nesting {
        Nesting::Single | Nesting::Group => object,
        Nesting::List => Type::list(object),
        Nesting::Set => Type::set(object),
        Nesting::Map => Type::map(object),
    }
}

/// Whether the user sets an attribute, the provider does, or either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Required,
    Optional,
    Computed,
    /// Set by the user, or by the provider when the user leaves it out.
    OptionalComputed,
}

impl Mode {
    pub fn is_computed(self) -> bool {
        matches!(self, Mode::Computed | Mode::OptionalComputed)
    }
}

/// The check a [`Validator`] runs.
pub type ValidateFn = dyn Fn(&Value, &AttributePath, &mut Diagnostics) + Send + Sync;

/// Checks a known, non-null value of one attribute and records what is wrong with it.
#[derive(Clone)]
pub struct Validator {
    pub description: String,
    pub check: Arc<ValidateFn>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Validator({})", self.description)
    }
}

impl Validator {
    pub fn new(
        description: impl Into<String>,
        check: impl Fn(&Value, &AttributePath, &mut Diagnostics) + Send + Sync + 'static,
    ) -> Self {
        Self { description: description.into(), check: Arc::new(check) }
    }
}

/// What the framework does with an attribute while planning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanModifier {
    /// A change of this attribute replaces the resource.
    RequiresReplace,
    /// A computed attribute keeps its prior value on update instead of becoming unknown.
    UseStateForUnknown,
}

/// Attributes whose object type is given by nested attributes (protocol 6's `nested_type`).
#[derive(Clone, Debug)]
pub struct NestedAttributes {
    pub nesting: Nesting,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub nested: Option<NestedAttributes>,
    pub description: String,
    pub mode: Mode,
    pub sensitive: bool,
    pub deprecation: Option<String>,
    /// Planned when the configuration leaves the attribute null (the attribute must be optional+computed).
    pub default: Option<Value>,
    pub validators: Vec<Validator>,
    pub plan_modifiers: Vec<PlanModifier>,
}

impl Attribute {
    fn new(name: &str, ty: Type, mode: Mode) -> Self {
        Self {
            name: name.to_string(),
            ty,
            nested: None,
            description: String::new(),
            mode,
            sensitive: false,
            deprecation: None,
            default: None,
            validators: Vec::new(),
            plan_modifiers: Vec::new(),
        }
    }

    pub fn required(name: &str, ty: Type) -> Self {
        Self::new(name, ty, Mode::Required)
    }

    pub fn optional(name: &str, ty: Type) -> Self {
        Self::new(name, ty, Mode::Optional)
    }

    pub fn computed(name: &str, ty: Type) -> Self {
        Self::new(name, ty, Mode::Computed)
    }

    pub fn optional_computed(name: &str, ty: Type) -> Self {
        Self::new(name, ty, Mode::OptionalComputed)
    }

    /// An attribute whose value is objects described by nested attributes.
    pub fn nested(name: &str, mode: Mode, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        let object = Type::object(attributes.iter().map(|a| (a.name.as_str(), a.value_type())));
        let mut attribute = Self::new(name, nested_type(nesting, object), mode);
        attribute.nested = Some(NestedAttributes { nesting, attributes });
        attribute
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }

    /// The value planned when the configuration leaves this attribute out. Makes it optional+computed.
    pub fn default(mut self, value: Value) -> Self {
        self.mode = Mode::OptionalComputed;
        self.default = Some(value);
        self
    }

    pub fn validator(mut self, validator: Validator) -> Self {
        self.validators.push(validator);
        self
    }

    pub fn requires_replace(mut self) -> Self {
        self.plan_modifiers.push(PlanModifier::RequiresReplace);
        self
    }

    pub fn use_state_for_unknown(mut self) -> Self {
        self.plan_modifiers.push(PlanModifier::UseStateForUnknown);
        self
    }

    pub fn has_modifier(&self, modifier: PlanModifier) -> bool {
        self.plan_modifiers.contains(&modifier)
    }

    pub fn value_type(&self) -> Type {
        self.ty.clone()
    }
}
