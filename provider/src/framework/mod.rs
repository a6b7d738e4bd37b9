//! The provider framework: schemas, values and their codecs, diagnostics, validation, planning,
//! and the traits resources and data sources implement. Nothing here knows about AWS.

pub mod diagnostics;
pub mod duration;
pub mod json;
pub mod msgpack;
pub mod path;
pub mod plan;
pub mod resource;
pub mod schema;
pub mod timeouts;
pub mod validators;
pub mod value;

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use path::AttributePath;
pub use resource::{
    ApplyOutcome, Ctx, DataSource, Identity, PlanContext, Private, ProviderData, ReadOutcome, Resource,
};
pub use schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema};
pub use value::{Type, Value};
