//! Conversions between protocol messages and framework types, all in one place.

use tfplugin_proto::tfplugin6 as proto;

use crate::framework::path::PathStep;
use crate::framework::schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema};
use crate::framework::value::CodecError;
use crate::framework::{json, msgpack, AttributePath, Diagnostic, Diagnostics, Identity, Severity, Type, Value};

/// Decodes a DynamicValue against a type (msgpack when present, otherwise JSON; absent is null).
pub fn decode(value: Option<&proto::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(value) = value else {
        return Ok(Value::Null);
    };
    let decoded = if !value.msgpack.is_empty() {
        msgpack::decode(&value.msgpack, ty)
    } else if !value.json.is_empty() {
        json::decode(&value.json, ty)
    } else {
        return Ok(Value::Null);
    };
    decoded.map_err(|e| match e {
        // The user wrote a number no i64 or f64 holds: say so where it is, instead of rounding it.
        CodecError::InexactNumber { attribute, text, .. } => {
            let mut diags = Diagnostics::new();
            let detail = format!(
                "The number {text} cannot be held exactly by this provider: it takes integers up to \
                 9223372036854775807 in magnitude (larger ones only when a 64-bit float holds them exactly) \
                 and decimals of at most 17 significant digits. Use a value within that range."
            );
            if attribute.steps.is_empty() {
                diags.error("Number Out Of Range", detail);
            } else {
                diags.error_at(attribute, "Number Out Of Range", detail);
            }
            diags
        }
        e => Diagnostics::from_error(
            "Invalid Value From Terraform",
            format!("The provider could not decode a value sent by Terraform: {e}. This is a bug; please report it."),
        ),
    })
}

/// Encodes a value as msgpack, the form Terraform expects back.
pub fn encode(value: &Value, ty: &Type) -> Result<proto::DynamicValue, Diagnostics> {
    msgpack::encode(value, ty).map(|msgpack| proto::DynamicValue { msgpack, json: Vec::new() }).map_err(|e| {
        Diagnostics::from_error(
            "Invalid Value From Provider",
            format!("The provider could not encode a value for Terraform: {e}. This is a bug; please report it."),
        )
    })
}

pub fn diagnostics(diags: &Diagnostics) -> Vec<proto::Diagnostic> {
    diags.iter().map(diagnostic).collect()
}

fn diagnostic(diag: &Diagnostic) -> proto::Diagnostic {
    let severity = match diag.severity {
        Severity::Error => proto::diagnostic::Severity::Error,
        Severity::Warning => proto::diagnostic::Severity::Warning,
    };
    proto::Diagnostic {
        severity: severity as i32,
        summary: diag.summary.clone(),
        detail: diag.detail.clone(),
        attribute: diag.path.as_ref().map(attribute_path),
    }
}

pub fn attribute_path(path: &AttributePath) -> proto::AttributePath {
    use proto::attribute_path::step::Selector;
    let steps = path
        .steps
        .iter()
        .map(|step| proto::attribute_path::Step {
            selector: Some(match step {
                PathStep::Attribute(name) => Selector::AttributeName(name.clone()),
                PathStep::Key(key) => Selector::ElementKeyString(key.clone()),
                PathStep::Index(index) => Selector::ElementKeyInt(*index),
            }),
        })
        .collect();
    proto::AttributePath { steps }
}

pub fn schema(schema: &Schema) -> proto::Schema {
    proto::Schema { version: schema.version, block: Some(block(&schema.block, schema.version)) }
}

fn block(block_schema: &Block, version: i64) -> proto::schema::Block {
    proto::schema::Block {
        version,
        attributes: block_schema.attributes.iter().map(attribute).collect(),
        block_types: block_schema.blocks.iter().map(nested_block).collect(),
        description: block_schema.description.clone(),
        description_kind: proto::StringKind::Markdown as i32,
        deprecated: block_schema.deprecated,
        ..Default::default()
    }
}

fn attribute(attr: &Attribute) -> proto::schema::Attribute {
    let (ty, nested_type) = match &attr.nested {
        // An attribute with nested attributes carries its type in `nested_type` only.
        Some(nested) => (Vec::new(), Some(nested_object(nested.nesting, &nested.attributes))),
        None => (attr.ty.to_json_bytes(), None),
    };
    let description = match &attr.deprecation {
        Some(message) => format!("{} **Deprecated:** {message}", attr.description),
        None => attr.description.clone(),
    };
    proto::schema::Attribute {
        name: attr.name.clone(),
        r#type: ty,
        nested_type,
        description,
        required: attr.mode == Mode::Required,
        optional: matches!(attr.mode, Mode::Optional | Mode::OptionalComputed),
        computed: attr.mode.is_computed(),
        sensitive: attr.sensitive,
        description_kind: proto::StringKind::Markdown as i32,
        deprecated: attr.deprecation.is_some(),
        deprecation_message: attr.deprecation.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn nested_object(nesting: Nesting, attributes: &[Attribute]) -> proto::schema::Object {
    use proto::schema::object::NestingMode;
    let mode = match nesting {
        Nesting::Single | Nesting::Group => NestingMode::Single,
        Nesting::List => NestingMode::List,
        Nesting::Set => NestingMode::Set,
        Nesting::Map => NestingMode::Map,
    };
    proto::schema::Object {
        attributes: attributes.iter().map(attribute).collect(),
        nesting: mode as i32,
        ..Default::default()
    }
}

fn nested_block(nested: &NestedBlock) -> proto::schema::NestedBlock {
    use proto::schema::nested_block::NestingMode;
    let mode = match nested.nesting {
        Nesting::Single => NestingMode::Single,
        Nesting::Group => NestingMode::Group,
        Nesting::List => NestingMode::List,
        Nesting::Set => NestingMode::Set,
        Nesting::Map => NestingMode::Map,
    };
    proto::schema::NestedBlock {
        type_name: nested.name.clone(),
        block: Some(block(&nested.block, 0)),
        nesting: mode as i32,
        min_items: nested.min_items,
        max_items: nested.max_items,
    }
}

/// The identity schema of a resource: its one attribute, required when importing by identity.
pub fn identity_schema(identity: &Identity) -> proto::ResourceIdentitySchema {
    proto::ResourceIdentitySchema {
        version: Identity::VERSION,
        identity_attributes: vec![proto::resource_identity_schema::IdentityAttribute {
            name: identity.attribute.to_string(),
            r#type: Type::String.to_json_bytes(),
            required_for_import: true,
            optional_for_import: false,
            description: identity.description.to_string(),
        }],
    }
}

/// The identity of the object `state` describes, encoded for a response; `None` when the resource
/// has no identity or the state does not name its object yet.
pub fn identity_data(identity: Option<&Identity>, state: &Value) -> Option<proto::ResourceIdentityData> {
    let identity = identity?;
    let value = identity.of(state)?;
    let identity_data = encode(&value, &identity.value_type()).ok()?;
    Some(proto::ResourceIdentityData { identity_data: Some(identity_data) })
}

/// Private state bytes (JSON object) to the framework's map; empty or invalid bytes are an empty map.
pub fn private_from_bytes(bytes: &[u8]) -> crate::framework::Private {
    if bytes.is_empty() {
        return Default::default();
    }
    serde_json::from_slice(bytes).unwrap_or_default()
}

pub fn private_to_bytes(private: &crate::framework::Private) -> Vec<u8> {
    if private.is_empty() {
        Vec::new()
    } else {
        serde_json::to_vec(private).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::Attribute;

    #[test]
    fn schema_marks_modes_and_markdown() {
        let s = Schema::new(
            1,
            Block::new("d")
                .attribute(Attribute::required("name", Type::String))
                .attribute(Attribute::optional("tags", Type::map(Type::String)))
                .attribute(Attribute::computed("arn", Type::String))
                .attribute(Attribute::optional_computed("path", Type::String).default(Value::string("/")))
                .attribute(Attribute::optional("secret", Type::String).sensitive()),
        );
        let converted = schema(&s);
        let attrs = converted.block.unwrap().attributes;
        let find = |n: &str| attrs.iter().find(|a| a.name == n).unwrap().clone();
        assert!(find("name").required && !find("name").optional && !find("name").computed);
        assert!(find("tags").optional && !find("tags").computed);
        assert!(find("arn").computed && !find("arn").optional);
        assert!(find("path").optional && find("path").computed);
        assert!(find("secret").sensitive);
        assert_eq!(find("tags").r#type, br#"["map","string"]"#.to_vec());
        assert_eq!(converted.version, 1);
    }

    #[test]
    fn diagnostics_carry_paths() {
        let mut diags = Diagnostics::new();
        diags.error_at(AttributePath::root("tags").key("env").attr("x"), "Bad", "detail");
        let converted = diagnostics(&diags);
        assert_eq!(converted[0].severity, proto::diagnostic::Severity::Error as i32);
        let steps = &converted[0].attribute.as_ref().unwrap().steps;
        assert_eq!(steps.len(), 3);
    }

    #[test]
    fn numbers_no_i64_or_f64_holds_are_refused_at_their_attribute() {
        let ty = Type::object([("n", Type::Number), ("ok", Type::Number)]);
        // cty sends a number that is neither an exact int64 nor an exact float64 as its decimal text.
        let mut bytes = vec![0x82, 0xa1, b'n', 0xb4];
        bytes.extend_from_slice(b"12345678901234567891");
        bytes.extend_from_slice(&[0xa2, b'o', b'k', 0xa3, b'0', b'.', b'1']);
        let value = proto::DynamicValue { msgpack: bytes, json: Vec::new() };
        let diags = decode(Some(&value), &ty).unwrap_err();
        let diag = diags.iter().next().expect("one diagnostic");
        assert_eq!(diag.summary, "Number Out Of Range");
        assert!(diag.detail.contains("12345678901234567891"), "{}", diag.detail);
        assert_eq!(diag.path.as_ref().map(ToString::to_string).as_deref(), Some("n"));

        let json = proto::DynamicValue { msgpack: vec![], json: br#"{"n":1.00000000000000000001,"ok":0.1}"#.to_vec() };
        let diags = decode(Some(&json), &ty).unwrap_err();
        assert_eq!(diags.iter().next().unwrap().summary, "Number Out Of Range");
        // 2^70 is an exact f64; 12345678901234567000 is not (the nearest is ...168).
        let inexact = proto::DynamicValue { msgpack: vec![], json: br#"{"n":12345678901234567000,"ok":0.1}"#.to_vec() };
        assert_eq!(decode(Some(&inexact), &ty).unwrap_err().iter().next().unwrap().summary, "Number Out Of Range");
        let exact = proto::DynamicValue { msgpack: vec![], json: br#"{"n":1180591620717411303424,"ok":0.1}"#.to_vec() };
        let value = decode(Some(&exact), &ty).expect("an exact f64 is kept");
        assert_eq!(value.get("ok").and_then(Value::as_number).map(|n| n.as_f64()), Some(0.1));
    }

    #[test]
    fn decodes_msgpack_before_json_and_absent_as_null() {
        let ty = Type::object([("a", Type::String)]);
        assert!(decode(None, &ty).unwrap().is_null());
        let v = Value::object([("a", Value::string("x"))]);
        let encoded = encode(&v, &ty).unwrap();
        assert_eq!(decode(Some(&encoded), &ty).unwrap(), v);
        let from_json = proto::DynamicValue { msgpack: vec![], json: br#"{"a":"y"}"#.to_vec() };
        assert_eq!(decode(Some(&from_json), &ty).unwrap().get("a").unwrap().as_str(), Some("y"));
    }
}
