//! The `timeouts` block (`create`, `update`, `delete`, ...), as terraform-provider-aws offers it.

use std::time::Duration;

use super::schema::{Attribute, Block, NestedBlock, Nesting};
use super::validators;
use super::value::{Type, Value};

/// The `timeouts` nested block for the given operations, e.g. `&["create", "update", "delete"]`.
pub fn block(operations: &[&str], defaults: &Timeouts) -> NestedBlock {
    let mut block = Block::new("Deadlines for each operation, as durations such as `30m` or `1h`.");
    for op in operations {
        let default = defaults.get(op);
        block = block.attribute(
            Attribute::optional(op, Type::String)
                .description(format!(
                    "How long to wait for the {op} operation before giving up (default `{}`).",
                    format_duration(default)
                ))
                .validator(validators::duration()),
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

/// Parses a Go-style duration (`1h30m`, `45s`, `500ms`, `2h`). A bare number is refused: the unit matters.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("the value is empty".into());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let number: f64 =
            rest[..digits_end].parse().map_err(|_| format!("{:?} is not a number", &rest[..digits_end]))?;
        rest = &rest[digits_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "" => return Err(format!("{text:?} has a number without a unit (use h, m, s or ms)")),
            other => return Err(format!("unknown unit {other:?} (use h, m, s or ms)")),
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way users write it (`20m`, `1h30m`, `45s`).
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn reads_overrides_over_defaults() {
        let defaults = Timeouts::new(Duration::from_secs(600), Duration::from_secs(600), Duration::from_secs(300));
        let value = Value::object([("create", Value::string("1h")), ("delete", Value::Null)]);
        let t = Timeouts::from_value(Some(&value), &defaults);
        assert_eq!(t.create, Duration::from_secs(3600));
        assert_eq!(t.delete, Duration::from_secs(300));
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
    }
}
