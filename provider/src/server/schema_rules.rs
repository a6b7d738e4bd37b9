//! The rules every current Terraform (>= 1.1) and OpenTofu apply to a provider's schemas when they
//! load it (configschema `InternalValidate`, `internal/configs/configschema/internal_validate.go`
//! in hashicorp/terraform and opentofu/opentofu). One violation and the CLI refuses the whole
//! provider ("invalid schema ..., which is a bug in the provider"): nothing validates, plans or
//! applies. Terraform 1.0.3 predates these checks, so they are applied here, to the protocol
//! schemas exactly as GetProviderSchema serves them.
//!
//! Beyond the CLIs' rules, attribute names are held to `^[a-z0-9_]+$` too: the CLIs only leave
//! that check out so as not to break old providers, and HCL cannot write other names anyway.

use tfplugin_proto::tfplugin6 as proto;

use crate::framework::Type;

/// Every rule violation in `schema`, each prefixed with `what` (e.g. `resource efs_x`) and the
/// path of the offending attribute or block. Empty when the CLIs accept the schema.
pub fn violations(what: &str, schema: &proto::Schema) -> Vec<String> {
    let mut found = Vec::new();
    match &schema.block {
        Some(block) => check_block(block, &format!("{what}: "), &mut found),
        None => found.push(format!("{what}: top-level block schema is nil")),
    }
    found
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_block(block: &proto::schema::Block, prefix: &str, found: &mut Vec<String>) {
    use proto::schema::nested_block::NestingMode;
    for attribute in &block.attributes {
        check_attribute(attribute, prefix, found);
    }
    for nested in &block.block_types {
        let name = &nested.type_name;
        let at = format!("{prefix}{name}");
        if block.attributes.iter().any(|a| &a.name == name) {
            found.push(format!("{at}: name defined as both attribute and child block type"));
        } else if !valid_name(name) {
            found.push(format!("{at}: name may contain only lowercase letters, digits and underscores"));
        }
        let (min, max) = (nested.min_items, nested.max_items);
        if min < 0 || max < 0 {
            found.push(format!("{at}: MinItems and MaxItems must both be greater than zero"));
        }
        match NestingMode::try_from(nested.nesting) {
            Ok(NestingMode::Single) => {
                if min != max {
                    found.push(format!("{at}: MinItems and MaxItems must match in NestingSingle mode"));
                } else if !(0..=1).contains(&min) {
                    found.push(format!(
                        "{at}: MinItems and MaxItems must be set to either 0 or 1 in NestingSingle mode"
                    ));
                }
            }
            Ok(NestingMode::Group) => {
                if min != 0 || max != 0 {
                    found.push(format!("{at}: MinItems and MaxItems cannot be used in NestingGroup mode"));
                }
            }
            Ok(mode @ (NestingMode::List | NestingMode::Set)) => {
                if min > max && max != 0 {
                    found.push(format!("{at}: MinItems must be less than or equal to MaxItems in {mode:?} mode"));
                }
                if mode == NestingMode::Set && nested.block.as_ref().is_some_and(block_has_dynamic_types) {
                    found.push(format!("{at}: NestingSet blocks may not contain attributes of cty.DynamicPseudoType"));
                }
            }
            Ok(NestingMode::Map) => {
                if min != 0 || max != 0 {
                    found.push(format!("{at}: MinItems and MaxItems must both be 0 in NestingMap mode"));
                }
            }
            Ok(NestingMode::Invalid) | Err(_) => found.push(format!("{at}: invalid nesting mode {}", nested.nesting)),
        }
        match &nested.block {
            Some(inner) => check_block(inner, &format!("{at}."), found),
            None => found.push(format!("{at}: block schema is nil")),
        }
    }
}

fn check_attribute(attribute: &proto::schema::Attribute, prefix: &str, found: &mut Vec<String>) {
    use proto::schema::object::NestingMode;
    let at = format!("{prefix}{}", attribute.name);
    if !valid_name(&attribute.name) {
        found.push(format!("{at}: name may contain only lowercase letters, digits and underscores"));
    }
    if !attribute.optional && !attribute.required && !attribute.computed {
        found.push(format!("{at}: must set Optional, Required or Computed"));
    }
    if attribute.optional && attribute.required {
        found.push(format!("{at}: cannot set both Optional and Required"));
    }
    if attribute.computed && attribute.required {
        found.push(format!("{at}: cannot set both Computed and Required"));
    }
    let has_type = !attribute.r#type.is_empty();
    match (&attribute.nested_type, has_type) {
        (None, false) => found.push(format!("{at}: either Type or NestedType must be defined")),
        (Some(_), true) => found.push(format!("{at}: Type and NestedType cannot both be set")),
        (None, true) => {
            if let Err(e) = attribute_type(attribute) {
                found.push(format!("{at}: {e}"));
            }
        }
        (Some(object), false) => {
            match NestingMode::try_from(object.nesting) {
                Ok(NestingMode::Single | NestingMode::Map | NestingMode::List) => {}
                Ok(NestingMode::Set) => {
                    if object.attributes.iter().any(attribute_has_dynamic_types) {
                        found.push(format!(
                            "{at}: NestingSet attributes may not contain attributes of cty.DynamicPseudoType"
                        ));
                    }
                }
                Ok(NestingMode::Invalid) | Err(_) => {
                    found.push(format!("{at}: invalid nesting mode {}", object.nesting))
                }
            }
            // The CLIs check nested attributes with the parent's prefix, not the attribute's.
            for inner in &object.attributes {
                check_attribute(inner, prefix, found);
            }
        }
    }
}

fn attribute_type(attribute: &proto::schema::Attribute) -> Result<Type, String> {
    let json: serde_json::Value =
        serde_json::from_slice(&attribute.r#type).map_err(|e| format!("type is not JSON: {e}"))?;
    Type::from_json(&json).map_err(|e| e.to_string())
}

fn attribute_has_dynamic_types(attribute: &proto::schema::Attribute) -> bool {
    match &attribute.nested_type {
        Some(object) => object.attributes.iter().any(attribute_has_dynamic_types),
        None => attribute_type(attribute).is_ok_and(|ty| type_has_dynamic(&ty)),
    }
}

fn block_has_dynamic_types(block: &proto::schema::Block) -> bool {
    block.attributes.iter().any(attribute_has_dynamic_types)
        || block.block_types.iter().any(|b| b.block.as_ref().is_some_and(block_has_dynamic_types))
}

fn type_has_dynamic(ty: &Type) -> bool {
    match ty {
        Type::Dynamic => true,
        Type::List(e) | Type::Set(e) | Type::Map(e) => type_has_dynamic(e),
        Type::Object(attributes) => attributes.values().any(type_has_dynamic),
        Type::Tuple(elements) => elements.iter().any(type_has_dynamic),
        Type::Bool | Type::Number | Type::String => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema};
    use crate::framework::{Diagnostics, Value};
    use crate::server::{convert, ProviderService};

    fn served(schema: &Schema) -> proto::Schema {
        convert::schema(schema)
    }

    /// The rules the CLIs run, over every schema this provider serves: the provider block, each
    /// resource and each data source, as GetProviderSchema sends them.
    #[test]
    fn every_served_schema_passes_the_cli_rules() {
        let service = ProviderService::new(tokio_util::sync::CancellationToken::new());
        let response = service.get_provider_schema();
        let mut found = violations("provider", response.provider.as_ref().expect("provider schema"));
        assert!(!response.resource_schemas.is_empty() && !response.data_source_schemas.is_empty());
        for (name, schema) in &response.resource_schemas {
            found.extend(violations(&format!("resource {name}"), schema));
        }
        for (name, schema) in &response.data_source_schemas {
            found.extend(violations(&format!("data source {name}"), schema));
        }
        assert!(found.is_empty(), "schemas a current CLI refuses:\n{}", found.join("\n"));
    }

    /// Every validator runs on a string and on a number without panicking: the regular
    /// expressions compile lazily, so this is where a bad pattern shows.
    #[test]
    fn every_validator_runs_on_any_value() {
        fn run(block: &Block, path: &crate::framework::AttributePath, count: &mut usize) {
            for attribute in &block.attributes {
                let at = path.attr(&attribute.name);
                for validator in &attribute.validators {
                    for value in [Value::string("x"), Value::string(""), Value::int(1), Value::Bool(true)] {
                        (validator.check)(&value, &at, &mut Diagnostics::new());
                    }
                    *count += 1;
                }
            }
            for nested in &block.blocks {
                run(&nested.block, &path.attr(&nested.name), count);
            }
        }
        let mut count = 0;
        let root = crate::framework::AttributePath::default();
        run(&crate::provider_config::schema().block, &root, &mut count);
        for resource in crate::resources::all() {
            run(&resource.schema().block, &root, &mut count);
        }
        for data_source in crate::data_sources::all() {
            run(&data_source.schema().block, &root, &mut count);
        }
        assert!(count > 20, "only {count} validators found");
    }

    #[test]
    fn single_blocks_are_served_as_zero_zero() {
        let block = NestedBlock::new("timeouts", Nesting::Single, Block::new("t"));
        assert_eq!((block.min_items, block.max_items), (0, 0));
        let schema = Schema::new(0, Block::new("r").block(block));
        assert!(violations("r", &served(&schema)).is_empty());
    }

    #[test]
    fn refuses_single_blocks_with_min_zero_max_one() {
        let schema = Schema::new(
            0,
            Block::new("r").block(NestedBlock::new("timeouts", Nesting::Single, Block::new("t")).max_items(1)),
        );
        let found = violations("resource r", &served(&schema));
        assert_eq!(found, ["resource r: timeouts: MinItems and MaxItems must match in NestingSingle mode"]);
        let required = Schema::new(
            0,
            Block::new("r").block(NestedBlock::new("x", Nesting::Single, Block::new("x")).min_items(1).max_items(1)),
        );
        assert!(violations("r", &served(&required)).is_empty());
        let two = Schema::new(
            0,
            Block::new("r").block(NestedBlock::new("x", Nesting::Single, Block::new("x")).min_items(2).max_items(2)),
        );
        assert_eq!(violations("r", &served(&two)).len(), 1);
    }

    #[test]
    fn refuses_min_max_on_group_and_map_and_min_above_max_on_lists() {
        let group = NestedBlock::new("g", Nesting::Group, Block::new("g")).max_items(1);
        let map = NestedBlock::new("m", Nesting::Map, Block::new("m")).min_items(1);
        let list = NestedBlock::new("l", Nesting::List, Block::new("l")).min_items(3).max_items(2);
        let unbounded = NestedBlock::new("u", Nesting::List, Block::new("u")).min_items(3);
        let negative = NestedBlock::new("n", Nesting::Set, Block::new("n")).min_items(-1);
        let schema =
            Schema::new(0, Block::new("r").block(group).block(map).block(list).block(unbounded).block(negative));
        let found = violations("r", &served(&schema));
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found.iter().any(|f| f.starts_with("r: g: ") && f.contains("NestingGroup")));
        assert!(found.iter().any(|f| f.starts_with("r: m: ") && f.contains("NestingMap")));
        assert!(found.iter().any(|f| f.starts_with("r: l: ") && f.contains("less than or equal")));
        assert!(found.iter().any(|f| f.starts_with("r: n: ") && f.contains("greater than zero")));
    }

    #[test]
    fn refuses_bad_names_and_modes() {
        let mut both = Attribute::required("both", Type::String);
        both.mode = Mode::Required;
        let schema = Schema::new(
            0,
            Block::new("r")
                .attribute(Attribute::optional("Name", Type::String))
                .attribute(Attribute::optional("dup", Type::String))
                .block(NestedBlock::new("dup", Nesting::List, Block::new("d")))
                .block(NestedBlock::new("Bad-Block", Nesting::List, Block::new("d"))),
        );
        let found = violations("r", &served(&schema));
        assert!(found.iter().any(|f| f.starts_with("r: Name: name may contain")), "{found:#?}");
        assert!(found.iter().any(|f| f.starts_with("r: dup: name defined as both")), "{found:#?}");
        assert!(found.iter().any(|f| f.starts_with("r: Bad-Block: name may contain")), "{found:#?}");

        let mut wire = served(&Schema::new(0, Block::new("r").attribute(both)));
        let attribute = &mut wire.block.as_mut().unwrap().attributes[0];
        attribute.optional = true;
        attribute.computed = true;
        let found = violations("r", &wire);
        assert!(found.iter().any(|f| f.ends_with("cannot set both Optional and Required")), "{found:#?}");
        assert!(found.iter().any(|f| f.ends_with("cannot set both Computed and Required")), "{found:#?}");
        let attribute = &mut wire.block.as_mut().unwrap().attributes[0];
        (attribute.optional, attribute.required, attribute.computed) = (false, false, false);
        assert_eq!(violations("r", &wire), ["r: both: must set Optional, Required or Computed"]);
    }

    #[test]
    fn refuses_type_with_nested_type_and_dynamic_types_in_sets() {
        let nested =
            Attribute::nested("n", Mode::Optional, Nesting::List, vec![Attribute::optional("x", Type::String)]);
        let mut wire = served(&Schema::new(0, Block::new("r").attribute(nested)));
        wire.block.as_mut().unwrap().attributes[0].r#type = Type::String.to_json_bytes();
        assert_eq!(violations("r", &wire), ["r: n: Type and NestedType cannot both be set"]);
        wire.block.as_mut().unwrap().attributes[0].r#type.clear();
        wire.block.as_mut().unwrap().attributes[0].nested_type = None;
        assert_eq!(violations("r", &wire), ["r: n: either Type or NestedType must be defined"]);

        let dynamic_set =
            Attribute::nested("s", Mode::Optional, Nesting::Set, vec![Attribute::optional("d", Type::Dynamic)]);
        let dynamic_block = NestedBlock::new(
            "b",
            Nesting::Set,
            Block::new("b").attribute(Attribute::optional("d", Type::list(Type::Dynamic))),
        );
        let dynamic_list =
            NestedBlock::new("l", Nesting::List, Block::new("l").attribute(Attribute::optional("d", Type::Dynamic)));
        let schema = Schema::new(0, Block::new("r").attribute(dynamic_set).block(dynamic_block).block(dynamic_list));
        let found = violations("r", &served(&schema));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found.iter().all(|f| f.contains("DynamicPseudoType")));
    }
}
