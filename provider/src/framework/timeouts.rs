//! The `timeouts` block (`create`, `update`, `delete`, ...), as terraform-provider-aws offers it.

use std::time::Duration;

use super::duration::{format_duration, parse_duration};
use super::schema::{Attribute, Block, NestedBlock, Nesting};
use super::validators;
use super::value::{Type, Value};

/// The shortest deadline: below a second no AWS call can even be answered.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest deadline: no EFS, EC2 or IAM operation the provider waits for takes a day.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The `timeouts` nested block for the given operations, e.g. `&["create", "update", "delete"]`.
pub fn block(operations: &[&str], defaults: &Timeouts) -> NestedBlock {
    let mut block = Block::new("Deadlines for each operation, as durations such as `30m` or `1h`.");
    for op in operations {
        let default = defaults.get(op);
        block = block.attribute(
            Attribute::optional(op, Type::String)
                .description(format!(
                    "How long to wait for the {op} operation before giving up, between `{}` and `{}` (default `{}`).",
                    format_duration(MIN_TIMEOUT),
                    format_duration(MAX_TIMEOUT),
                    format_duration(default)
                ))
                .validator(validators::duration_between(MIN_TIMEOUT, MAX_TIMEOUT)),
        );
    }
    NestedBlock::new("timeouts", Nesting::Single, block)
}

/// Deadlines per operation; missing entries fall back to the resource's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub create: Duration,
    pub read: Duration,
    pub update: Duration,
    pub delete: Duration,
}

impl Timeouts {
    pub const fn new(create: Duration, update: Duration, delete: Duration) -> Self {
        Self { create, read: Duration::from_secs(5 * 60), update, delete }
    }

    pub fn get(&self, operation: &str) -> Duration {
        match operation {
            "create" => self.create,
            "update" => self.update,
            "delete" => self.delete,
            _ => self.read,
        }
    }

    /// The deadlines set in a resource's `timeouts` attribute value, over `defaults`.
    /// Values were validated at plan time; one that still fails to parse keeps its default.
    pub fn from_value(value: Option<&Value>, defaults: &Timeouts) -> Timeouts {
        let mut out = defaults.clone();
        let Some(value) = value else { return out };
        let pick = |name: &str, slot: &mut Duration| {
            if let Some(parsed) = value.get(name).and_then(|v| v.as_str()).and_then(|s| parse_duration(s).ok()) {
                *slot = parsed;
            }
        };
        pick("create", &mut out.create);
        pick("read", &mut out.read);
        pick("update", &mut out.update);
        pick("delete", &mut out.delete);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_overrides_over_defaults() {
        let defaults = Timeouts::new(Duration::from_secs(600), Duration::from_secs(600), Duration::from_secs(300));
        let value = Value::object([("create", Value::string("1h")), ("delete", Value::Null)]);
        let t = Timeouts::from_value(Some(&value), &defaults);
        assert_eq!(t.create, Duration::from_secs(3600));
        assert_eq!(t.delete, Duration::from_secs(300));
    }
}
