//! The framework's part of PlanResourceChange: defaults, unknown computed values and replacement.
//!
//! Terraform proposes a new state (configuration merged with prior state for computed attributes).
//! The framework then:
//! 1. plans defaults for attributes the configuration leaves null;
//! 2. on create, marks computed attributes the configuration leaves null as unknown;
//! 3. on an update that changes anything, marks those computed attributes unknown too, unless the
//!    attribute keeps its prior value (`UseStateForUnknown`), because the provider may change them;
//! 4. after the resource's own plan hook, lists the `RequiresReplace` attributes whose planned value
//!    differs from the prior one, sorted and without duplicates.

use super::path::AttributePath;
use super::schema::{Attribute, Block, Nesting, PlanModifier};
use super::value::Value;

static NULL: Value = Value::Null;

fn field<'a>(object: &'a Value, name: &str) -> &'a Value {
    object.get(name).unwrap_or(&NULL)
}

/// Plans a resource from its prior state, Terraform's proposed new state and the configuration.
pub fn plan_resource(block: &Block, prior: &Value, proposed: &Value, config: &Value) -> Value {
    if proposed.is_null() {
        return Value::Null;
    }
    let creating = prior.is_null();
    let mut planned = plan_object(block, prior, proposed, config, creating);
    if !creating && planned != *prior {
        mark_computed_unknown(block, &mut planned, config);
    }
    planned
}

fn plan_object(block: &Block, prior: &Value, proposed: &Value, config: &Value, creating: bool) -> Value {
    if proposed.is_null() || proposed.is_unknown() {
        return proposed.clone();
    }
    let mut planned = proposed.clone();
    for attribute in &block.attributes {
        let configured = field(config, &attribute.name);
        let value = plan_attribute(
            attribute,
            field(prior, &attribute.name),
            field(proposed, &attribute.name),
            configured,
            creating,
        );
        set_field(&mut planned, &attribute.name, value);
    }
    for nested in &block.blocks {
        let (pri, prop, cfg) = (field(prior, &nested.name), field(proposed, &nested.name), field(config, &nested.name));
        let value = match (nested.nesting, prop) {
            (Nesting::Single | Nesting::Group, _) => {
                plan_object(&nested.block, pri, prop, cfg, creating || pri.is_null())
            }
            (Nesting::List, Value::List(items)) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let pri_item = pri.elements().and_then(|e| e.get(i)).unwrap_or(&NULL);
                        let cfg_item = cfg.elements().and_then(|e| e.get(i)).unwrap_or(&NULL);
                        plan_object(&nested.block, pri_item, item, cfg_item, creating || pri_item.is_null())
                    })
                    .collect(),
            ),
            _ => prop.clone(),
        };
        set_field(&mut planned, &nested.name, value);
    }
    planned
}

fn plan_attribute(attribute: &Attribute, prior: &Value, proposed: &Value, config: &Value, creating: bool) -> Value {
    if !config.is_null() || !attribute.mode.is_computed() {
        return proposed.clone();
    }
    if let Some(default) = &attribute.default {
        return default.clone();
    }
    if creating || prior.is_null() && !attribute.has_modifier(PlanModifier::UseStateForUnknown) {
        return Value::Unknown;
    }
    proposed.clone()
}

/// On a changing update: computed attributes null in configuration may change, so they become unknown.
fn mark_computed_unknown(block: &Block, planned: &mut Value, config: &Value) {
    for attribute in &block.attributes {
        let keeps_prior = attribute.default.is_some() || attribute.has_modifier(PlanModifier::UseStateForUnknown);
        if attribute.mode.is_computed() && field(config, &attribute.name).is_null() && !keeps_prior {
            set_field(planned, &attribute.name, Value::Unknown);
        }
    }
    for nested in &block.blocks {
        if matches!(nested.nesting, Nesting::Single | Nesting::Group) {
            let cfg = field(config, &nested.name).clone();
            if let Some(Value::Object(_)) = planned.get(&nested.name) {
                let mut inner = planned.get(&nested.name).cloned().unwrap_or(Value::Null);
                mark_computed_unknown(&nested.block, &mut inner, &cfg);
                set_field(planned, &nested.name, inner);
            }
        }
    }
}

fn set_field(object: &mut Value, name: &str, value: Value) {
    if let Value::Object(map) = object {
        map.insert(name.to_string(), value);
    }
}

/// The `RequiresReplace` attributes whose planned value differs from the prior one.
pub fn requires_replace(block: &Block, prior: &Value, planned: &Value) -> Vec<AttributePath> {
    let mut paths = Vec::new();
    if prior.is_null() || planned.is_null() {
        return paths;
    }
    collect_replacements(block, prior, planned, None, &mut paths);
    paths.sort_by_key(|p| p.to_string());
    paths.dedup();
    paths
}

fn collect_replacements(
    block: &Block,
    prior: &Value,
    planned: &Value,
    path: Option<&AttributePath>,
    out: &mut Vec<AttributePath>,
) {
    let at = |name: &str| path.map(|p| p.attr(name)).unwrap_or_else(|| AttributePath::root(name));
    for attribute in &block.attributes {
        if attribute.has_modifier(PlanModifier::RequiresReplace) {
            let (before, after) = (field(prior, &attribute.name), field(planned, &attribute.name));
            if after.is_unknown() && !before.is_unknown() || before != after {
                out.push(at(&attribute.name));
            }
        }
    }
    for nested in &block.blocks {
        if matches!(nested.nesting, Nesting::Single | Nesting::Group) {
            let (before, after) = (field(prior, &nested.name), field(planned, &nested.name));
            collect_replacements(&nested.block, before, after, Some(&at(&nested.name)), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, NestedBlock};
    use crate::framework::value::Type;

    fn block() -> Block {
        Block::new("t")
            .attribute(Attribute::required("name", Type::String).requires_replace())
            .attribute(Attribute::optional("size", Type::Number))
            .attribute(Attribute::computed("id", Type::String).use_state_for_unknown())
            .attribute(Attribute::computed("arn_suffix", Type::String))
            .attribute(Attribute::optional_computed("path", Type::String).default(Value::string("/")))
            .block(NestedBlock::new(
                "opts",
                Nesting::Single,
                Block::new("o")
                    .attribute(Attribute::optional("mode", Type::String).requires_replace())
                    .attribute(Attribute::computed("effective", Type::String)),
            ))
    }

    fn state(name: &str, size: i64) -> Value {
        Value::object([
            ("name", Value::string(name)),
            ("size", Value::int(size)),
            ("id", Value::string("abc")),
            ("arn_suffix", Value::string("x")),
            ("path", Value::string("/")),
            ("opts", Value::object([("mode", Value::string("a")), ("effective", Value::string("A"))])),
        ])
    }

    fn config(name: &str, size: i64) -> Value {
        Value::object([
            ("name", Value::string(name)),
            ("size", Value::int(size)),
            ("id", Value::Null),
            ("arn_suffix", Value::Null),
            ("path", Value::Null),
            ("opts", Value::object([("mode", Value::string("a")), ("effective", Value::Null)])),
        ])
    }

    #[test]
    fn create_plans_defaults_and_unknown_computed() {
        let cfg = config("a", 1);
        let planned = plan_resource(&block(), &Value::Null, &cfg, &cfg);
        assert!(planned.get("id").unwrap().is_unknown());
        assert!(planned.get("arn_suffix").unwrap().is_unknown());
        assert_eq!(planned.get("path").unwrap().as_str(), Some("/"));
        assert!(planned.get("opts").unwrap().get("effective").unwrap().is_unknown());
        assert!(requires_replace(&block(), &Value::Null, &planned).is_empty());
    }

    #[test]
    fn unchanged_update_keeps_prior_state() {
        let prior = state("a", 1);
        // Terraform's proposed new state carries prior values for computed attributes null in config.
        let planned = plan_resource(&block(), &prior, &prior, &config("a", 1));
        assert_eq!(planned, prior);
    }

    #[test]
    fn changing_update_marks_computed_unknown_except_use_state() {
        let prior = state("a", 1);
        let mut proposed = prior.clone();
        set_field(&mut proposed, "size", Value::int(2));
        let planned = plan_resource(&block(), &prior, &proposed, &config("a", 2));
        assert_eq!(planned.get("id").unwrap().as_str(), Some("abc"));
        assert!(planned.get("arn_suffix").unwrap().is_unknown());
        assert!(planned.get("opts").unwrap().get("effective").unwrap().is_unknown());
        assert_eq!(planned.get("path").unwrap().as_str(), Some("/"));
        assert!(requires_replace(&block(), &prior, &planned).is_empty());
    }

    #[test]
    fn replacement_paths_are_sorted_and_nested() {
        let prior = state("a", 1);
        let mut proposed = state("b", 1);
        set_field(
            &mut proposed,
            "opts",
            Value::object([("mode", Value::string("z")), ("effective", Value::string("A"))]),
        );
        let planned = plan_resource(&block(), &prior, &proposed, &config("b", 1));
        let paths: Vec<String> = requires_replace(&block(), &prior, &planned).iter().map(|p| p.to_string()).collect();
        assert_eq!(paths, vec!["name", "opts.mode"]);
    }

    #[test]
    fn destroy_plans_null() {
        assert!(plan_resource(&block(), &state("a", 1), &Value::Null, &Value::Null).is_null());
    }
}
