//! The JSON encoding of stored state (cty's `json` package): plain JSON against a type.
//!
//! - null is `null`; numbers are JSON numbers (whole numbers are written as integers);
//!   lists, sets and tuples are arrays; maps and objects are JSON objects;
//! - a value of a `dynamic` attribute is `{"value": V, "type": T}`;
//! - unknown values cannot be stored: encoding one is an error naming its path.
//!
//! Decoding is lenient where cty's is, and in one way more: attributes in the input that the
//! type does not have are ignored, because state written under an older schema may still carry
//! attributes that have since been removed. Attributes missing from the input decode as null.
//! Like cty, a string holding a number decodes as a number, a number or bool decodes as a
//! string, and `"true"`/`"false"` decode as bools.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::value::{exact_i128, exact_i64, type_from_json, CodecError, Number, Step, Trail, Type, Value};

/// Decodes JSON text as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            CodecError::Truncated { path: String::new() }
        } else {
            CodecError::Invalid { path: String::new(), detail: format!("invalid JSON: {e}") }
        }
    })?;
    decode_value(&json, ty)
}

/// Decodes a parsed JSON document as a value of type `ty`.
pub fn decode_value(json: &Json, ty: &Type) -> Result<Value, CodecError> {
    decode_at(json, ty, &mut Trail::default())
}

/// Encodes `value` (of type `ty`) as JSON text.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let json = encode_value(value, ty)?;
    serde_json::to_vec(&json)
        .map_err(|e| CodecError::Invalid { path: String::new(), detail: format!("JSON write failed: {e}") })
}

/// Encodes `value` (of type `ty`) as a JSON document. Fails on unknown values, values that do
/// not conform to the type, and numbers JSON cannot hold (infinities, NaN).
pub fn encode_value(value: &Value, ty: &Type) -> Result<Json, CodecError> {
    encode_at(value, ty, &mut Trail::default())
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// A JSON number, kept exactly or refused: serde_json's `arbitrary_precision` keeps the text as
/// written, so a number an `f64` would round is seen as such.
fn number_from_json(n: &serde_json::Number, trail: &Trail) -> Result<Number, CodecError> {
    let text = n.to_string();
    Number::parse(&text).map_err(|e| trail.number_error(e, &text))
}

fn decode_at(json: &Json, ty: &Type, trail: &mut Trail) -> Result<Value, CodecError> {
    let value = match (json, ty) {
        (Json::Null, _) => Value::Null,
        (_, Type::Dynamic) => decode_dynamic(json, trail)?,
        (Json::Bool(b), Type::Bool) => Value::Bool(*b),
        (Json::String(s), Type::Bool) if s == "true" || s == "false" => Value::Bool(s == "true"),
        (Json::Number(n), Type::Number) => Value::Number(number_from_json(n, trail)?),
        (Json::String(s), Type::Number) => Value::Number(Number::parse(s).map_err(|e| trail.number_error(e, s))?),
        (Json::String(s), Type::String) => Value::String(s.clone()),
        (Json::Number(n), Type::String) => Value::String(n.to_string()),
        (Json::Bool(b), Type::String) => Value::String(b.to_string()),
        (Json::Array(items), Type::List(ety)) => Value::List(decode_elements(items, ety, trail)?),
        (Json::Array(items), Type::Set(ety)) => Value::Set(decode_elements(items, ety, trail)?),
        (Json::Array(items), Type::Tuple(etys)) => {
            if items.len() != etys.len() {
                let expected = format!("a tuple of {} elements", etys.len());
                return Err(trail.mismatch(expected, format!("{} elements", items.len())));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, ety)) in items.iter().zip(etys).enumerate() {
                trail.push(Step::Index(i));
                out.push(decode_at(item, ety, trail)?);
                trail.pop();
            }
            Value::Tuple(out)
        }
        (Json::Object(entries), Type::Map(ety)) => {
            let mut out = BTreeMap::new();
            for (key, item) in entries {
                trail.push(Step::Key(key.clone()));
                out.insert(key.clone(), decode_at(item, ety, trail)?);
                trail.pop();
            }
            Value::Map(out)
        }
        (Json::Object(entries), Type::Object(atys)) => {
            let mut out = BTreeMap::new();
            for (name, aty) in atys {
                let item = match entries.get(name) {
                    Some(item) => {
                        trail.push(Step::Attr(name.clone()));
                        let item = decode_at(item, aty, trail)?;
                        trail.pop();
                        item
                    }
                    None => Value::Null,
                };
                out.insert(name.clone(), item);
            }
            // Attributes the type lacks are ignored (see the module docs).
            Value::Object(out)
        }
        _ => return Err(trail.mismatch(ty, json_kind(json))),
    };
    Ok(value)
}

fn decode_elements(items: &[Json], ety: &Type, trail: &mut Trail) -> Result<Vec<Value>, CodecError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        trail.push(Step::Index(i));
        out.push(decode_at(item, ety, trail)?);
        trail.pop();
    }
    Ok(out)
}

/// `{"value": V, "type": T}`; `null` was handled by the caller.
fn decode_dynamic(json: &Json, trail: &mut Trail) -> Result<Value, CodecError> {
    let Json::Object(entries) = json else {
        let expected = r#"a dynamic value ({"value": ..., "type": ...})"#;
        return Err(trail.mismatch(expected, json_kind(json)));
    };
    if let Some(key) = entries.keys().find(|k| *k != "value" && *k != "type") {
        return Err(trail.invalid(format!("invalid key {key:?} in a dynamic value")));
    }
    let type_json = entries.get("type").ok_or_else(|| trail.invalid("missing \"type\" in a dynamic value"))?;
    let inner = entries.get("value").ok_or_else(|| trail.invalid("missing \"value\" in a dynamic value"))?;
    let ty = type_from_json(type_json).map_err(|detail| trail.invalid(detail))?;
    let inner = decode_at(inner, &ty, trail)?;
    Ok(Value::Dynamic(ty, Box::new(inner)))
}

fn encode_at(value: &Value, ty: &Type, trail: &mut Trail) -> Result<Json, CodecError> {
    let json = match (value, ty) {
        (Value::Unknown, _) => return Err(CodecError::UnknownValue { path: trail.render() }),
        (Value::Null, _) => Json::Null,
        (Value::Dynamic(concrete, inner), Type::Dynamic) => encode_dynamic(concrete, inner, trail)?,
        (Value::Dynamic(concrete, inner), _) if concrete == ty => encode_at(inner, ty, trail)?,
        (_, Type::Dynamic) => match value.implied_type() {
            Some(concrete) => encode_dynamic(&concrete, value, trail)?,
            None => {
                let expected = "a value whose type can be told (wrap it in Value::Dynamic)";
                return Err(trail.mismatch(expected, value.kind()));
            }
        },
        (Value::Bool(b), Type::Bool) => Json::Bool(*b),
        (Value::Number(n), Type::Number) => match *n {
            Number::Int(i) => Json::from(i),
            // Whole numbers are written as their exact digits (cty compares integers exactly);
            // fractions as the shortest decimal that reads back as the same f64.
            Number::Float(f) => match (exact_i64(f), exact_i128(f)) {
                (Some(i), _) => Json::from(i),
                (None, Some(i)) => Json::Number(
                    serde_json::Number::from_i128(i)
                        .ok_or_else(|| trail.invalid(format!("{f} cannot be stored in JSON")))?,
                ),
                (None, None) if f.is_finite() && f.fract() == 0.0 => {
                    return Err(trail.invalid(format!("the whole number {f:e} is too large to store exactly")))
                }
                (None, None) => match serde_json::Number::from_f64(f) {
                    Some(n) => Json::Number(n),
                    None => return Err(trail.invalid(format!("{f} cannot be stored in JSON"))),
                },
            },
        },
        (Value::String(s), Type::String) => Json::String(s.clone()),
        (Value::List(items), Type::List(ety)) | (Value::Set(items), Type::Set(ety)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                trail.push(Step::Index(i));
                out.push(encode_at(item, ety, trail)?);
                trail.pop();
            }
            Json::Array(out)
        }
        (Value::Tuple(items), Type::Tuple(etys)) => {
            if items.len() != etys.len() {
                let expected = format!("a tuple of {} elements", etys.len());
                return Err(trail.mismatch(expected, format!("{} elements", items.len())));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, ety)) in items.iter().zip(etys).enumerate() {
                trail.push(Step::Index(i));
                out.push(encode_at(item, ety, trail)?);
                trail.pop();
            }
            Json::Array(out)
        }
        (Value::Map(entries), Type::Map(ety)) => {
            let mut out = serde_json::Map::new();
            for (key, item) in entries {
                trail.push(Step::Key(key.clone()));
                out.insert(key.clone(), encode_at(item, ety, trail)?);
                trail.pop();
            }
            Json::Object(out)
        }
        (Value::Object(attrs), Type::Object(atys)) => {
            if let Some(name) = attrs.keys().find(|k| !atys.contains_key(*k)) {
                return Err(trail.unexpected_attribute(name));
            }
            let mut out = serde_json::Map::new();
            for (name, aty) in atys {
                trail.push(Step::Attr(name.clone()));
                let item = encode_at(attrs.get(name).unwrap_or(&Value::Null), aty, trail)?;
                trail.pop();
                out.insert(name.clone(), item);
            }
            Json::Object(out)
        }
        _ => return Err(trail.mismatch(ty, value.kind())),
    };
    Ok(json)
}

fn encode_dynamic(concrete: &Type, inner: &Value, trail: &mut Trail) -> Result<Json, CodecError> {
    let mut out = serde_json::Map::new();
    out.insert("value".into(), encode_at(inner, concrete, trail)?);
    out.insert("type".into(), concrete.to_json());
    Ok(Json::Object(out))
}

/// The text `jsonencode()` gives for the JSON document `text`: object keys sorted, no whitespace,
/// `<`, `>`, `&`, U+2028 and U+2029 escaped as Go's encoder escapes them. A JSON string attribute
/// stored in this form is what `-generate-config-out` writes back as `jsonencode(...)`, so an
/// imported document plans without a whitespace-only change. `None` when `text` is not JSON.
pub fn jsonencode_form(text: &str) -> Option<String> {
    fn write(value: &Json, out: &mut String) {
        match value {
            Json::Object(map) => {
                let mut entries: Vec<(&String, &Json)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Json::String(s) => write_string(s, out),
            other => out.push_str(&other.to_string()),
        }
    }
    fn write_string(s: &str, out: &mut String) {
        let quoted = Json::String(s.to_string()).to_string();
        for c in quoted.chars() {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
    }
    let value: Json = serde_json::from_str(text).ok()?;
    let mut out = String::with_capacity(text.len());
    write(&value, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jsonencode_form_sorts_keys_and_escapes_like_go() {
        let text = "{ \"b\": [1, {\"z\": true, \"a\": null}], \"a\": \"x<y>&\\u2028\" }";
        assert_eq!(
            jsonencode_form(text).as_deref(),
            Some(r#"{"a":"x\u003cy\u003e\u0026\u2028","b":[1,{"a":null,"z":true}]}"#)
        );
        assert_eq!(jsonencode_form("{not json"), None);
    }

    fn round_trip(value: &Value, ty: &Type) -> String {
        let bytes = encode(value, ty).unwrap_or_else(|e| panic!("encode {value:?}: {e}"));
        let text = String::from_utf8(bytes).unwrap();
        let back = decode(text.as_bytes(), ty).unwrap_or_else(|e| panic!("decode {text}: {e}"));
        assert_eq!(&back, value, "JSON {text}");
        text
    }

    fn resource_type() -> Type {
        Type::object([
            ("id", Type::String),
            ("count", Type::Number),
            ("enabled", Type::Bool),
            ("tags", Type::map(Type::String)),
            ("ports", Type::set(Type::Number)),
            ("pair", Type::tuple([Type::String, Type::Number])),
            ("extra", Type::Dynamic),
            (
                "spec",
                Type::object([
                    ("instance_ids", Type::list(Type::String)),
                    (
                        "volumes",
                        Type::list(Type::object([
                            ("name", Type::String),
                            ("size", Type::Number),
                            ("labels", Type::set(Type::String)),
                        ])),
                    ),
                ]),
            ),
        ])
    }

    fn resource_value() -> Value {
        Value::object([
            ("id", Value::string("fs-0123")),
            ("count", Value::int(-42)),
            ("enabled", Value::Bool(false)),
            ("tags", Value::map_of([("env", Value::string("prod")), ("none", Value::Null)])),
            ("ports", Value::set_of([Value::int(443), Value::int(80)])),
            ("pair", Value::Tuple(vec![Value::string("a"), Value::float(0.5)])),
            (
                "extra",
                Value::dynamic(
                    Type::object([("k", Type::String), ("n", Type::list(Type::Number))]),
                    Value::object([("k", Value::string("v")), ("n", Value::list_of([Value::int(1), Value::Null]))]),
                ),
            ),
            (
                "spec",
                Value::object([
                    ("instance_ids", Value::list_of([Value::string("i-1"), Value::Null])),
                    (
                        "volumes",
                        Value::list_of([
                            Value::object([
                                ("name", Value::string("data")),
                                ("size", Value::int(1 << 40)),
                                ("labels", Value::set_of_strings(["b", "a"])),
                            ]),
                            Value::object([("name", Value::Null), ("size", Value::Null), ("labels", Value::Null)]),
                        ]),
                    ),
                ]),
            ),
        ])
    }

    #[test]
    fn primitives_round_trip() {
        assert_eq!(round_trip(&Value::Bool(true), &Type::Bool), "true");
        assert_eq!(round_trip(&Value::string("héllo \"q\""), &Type::String), r#""héllo \"q\"""#);
        assert_eq!(round_trip(&Value::int(i64::MAX), &Type::Number), "9223372036854775807");
        assert_eq!(round_trip(&Value::int(i64::MIN), &Type::Number), "-9223372036854775808");
        assert_eq!(round_trip(&Value::int(-7), &Type::Number), "-7");
        assert_eq!(round_trip(&Value::float(1.5), &Type::Number), "1.5");
        for f in [-0.25, 1e-300, 2.5e-8, 1e20, 0.1] {
            round_trip(&Value::float(f), &Type::Number);
        }
        // Whole floats are written as their exact integer digits, also beyond i64.
        assert_eq!(encode(&Value::float(2.0), &Type::Number).unwrap(), b"2");
        assert_eq!(round_trip(&Value::float(2f64.powi(100)), &Type::Number), "1267650600228229401496703205376");
        // A whole float beyond i128 would need hundreds of digits: refused rather than rounded.
        assert!(encode(&Value::float(1e300), &Type::Number).is_err());
        for ty in [Type::String, Type::Dynamic, Type::list(Type::Bool), Type::object([("a", Type::Bool)])] {
            assert_eq!(round_trip(&Value::Null, &ty), "null");
        }
    }

    #[test]
    fn nested_structures_round_trip() {
        round_trip(&resource_value(), &resource_type());
        let ty = Type::object([
            ("attr", Type::String),
            ("list", Type::list(Type::Number)),
            ("map", Type::map(Type::String)),
            ("set", Type::set(Type::String)),
        ]);
        let text = round_trip(
            &Value::object([
                ("attr", Value::Null),
                ("list", Value::list_of([Value::int(1), Value::Null])),
                ("map", Value::map_of([("k", Value::Null)])),
                ("set", Value::set_of([Value::Null, Value::string("s")])),
            ]),
            &ty,
        );
        assert_eq!(text, r#"{"attr":null,"list":[1,null],"map":{"k":null},"set":[null,"s"]}"#);
        round_trip(&Value::list_of([]), &Type::list(Type::String));
        round_trip(&Value::map_of::<&str>([]), &Type::map(Type::String));
    }

    #[test]
    fn exact_encodings() {
        let ab = Type::object([("b", Type::String), ("a", Type::String)]);
        let v = Value::object([("a", Value::string("x"))]);
        assert_eq!(encode(&v, &ab).unwrap(), br#"{"a":"x","b":null}"#);
        let dynamic = Value::dynamic(Type::list(Type::String), Value::list_of([Value::string("x")]));
        assert_eq!(encode(&dynamic, &Type::Dynamic).unwrap(), br#"{"value":["x"],"type":["list","string"]}"#);
        assert_eq!(
            encode(&Value::dynamic(Type::Number, Value::Null), &Type::Dynamic).unwrap(),
            br#"{"value":null,"type":"number"}"#
        );
        assert_eq!(encode(&Value::int(5), &Type::Dynamic).unwrap(), br#"{"value":5,"type":"number"}"#);
        assert_eq!(encode_value(&Value::set_of_strings(["a"]), &Type::set(Type::String)).unwrap(), json!(["a"]));
    }

    #[test]
    fn decoding_is_lenient_like_cty() {
        let ty = Type::object([
            ("n", Type::Number),
            ("s", Type::String),
            ("t", Type::String),
            ("b", Type::Bool),
            ("big", Type::Number),
            ("f", Type::Number),
            ("missing", Type::list(Type::String)),
        ]);
        let input = json!({
            "n": "42", "s": 12, "t": true, "b": "true", "big": 9223372036854775808u64,
            "f": 3.0, "removed_long_ago": {"x": 1}
        });
        let decoded = decode_value(&input, &ty).unwrap();
        assert_eq!(
            decoded,
            Value::object([
                ("n", Value::int(42)),
                ("s", Value::string("12")),
                ("t", Value::string("true")),
                ("b", Value::Bool(true)),
                ("big", Value::float(9_223_372_036_854_775_808.0)),
                ("f", Value::int(3)),
                ("missing", Value::Null),
            ])
        );
        // Sets decode in any order, duplicates kept.
        let set = decode(br#"["b","a","a"]"#, &Type::set(Type::String)).unwrap();
        assert_eq!(set, Value::set_of_strings(["a", "b", "a"]));
        // A dynamic value with its keys in either order.
        let dynamic = decode(br#"{"type":"bool","value":true}"#, &Type::Dynamic).unwrap();
        assert_eq!(dynamic, Value::dynamic(Type::Bool, Value::Bool(true)));
        assert_eq!(decode(b"null", &Type::Dynamic).unwrap(), Value::Null);
    }

    #[test]
    fn unknown_values_cannot_be_stored() {
        let ty = Type::object([
            ("spec", Type::object([("instance_ids", Type::list(Type::String))])),
            ("tags", Type::map(Type::String)),
        ]);
        let v = Value::object([(
            "spec",
            Value::object([("instance_ids", Value::list_of([Value::string("a"), Value::string("b"), Value::Unknown]))]),
        )]);
        let err = encode(&v, &ty).unwrap_err();
        assert_eq!(err, CodecError::UnknownValue { path: "spec.instance_ids[2]".into() });
        assert_eq!(err.to_string(), "spec.instance_ids[2]: value is unknown, and unknown values cannot be stored");
        let v = Value::object([("tags", Value::map_of([("env", Value::Unknown)]))]);
        assert_eq!(encode(&v, &ty).unwrap_err().path(), r#"tags["env"]"#);
        assert_eq!(encode(&Value::Unknown, &Type::String).unwrap_err().path(), "");
        let in_dynamic = Value::dynamic(Type::String, Value::Unknown);
        assert!(matches!(encode(&in_dynamic, &Type::Dynamic), Err(CodecError::UnknownValue { .. })));
    }

    #[test]
    fn errors_name_the_path() {
        let ty = Type::object([("spec", Type::object([("sizes", Type::list(Type::Number))]))]);
        let err = decode(br#"{"spec":{"sizes":[1,2,"abc"]}}"#, &ty).unwrap_err();
        assert_eq!(err.to_string(), r#"spec.sizes[2]: expected number, found string "abc""#);
        let err = decode(br#"{"spec":{"sizes":[true]}}"#, &ty).unwrap_err();
        assert_eq!(err.to_string(), "spec.sizes[0]: expected number, found bool");
        let err = decode(br#"{"spec":[]}"#, &ty).unwrap_err();
        assert_eq!(err.to_string(), "spec: expected object, found array");
        let err = decode(br#"{"m":{"k":[]}}"#, &Type::object([("m", Type::map(Type::String))])).unwrap_err();
        assert_eq!(err.to_string(), r#"m["k"]: expected string, found array"#);
        let err = decode(br#"[1]"#, &Type::tuple([Type::Number, Type::Number])).unwrap_err();
        assert!(matches!(err, CodecError::Mismatch { .. }));
        // Encode-side mismatches and extra attributes.
        let err = encode(&Value::object([("spec", Value::string("x"))]), &ty).unwrap_err();
        assert_eq!(err.to_string(), "spec: expected object, found string");
        let err = encode(&Value::object([("bogus", Value::Null)]), &ty).unwrap_err();
        assert!(matches!(&err, CodecError::UnexpectedAttribute { name, .. } if name == "bogus"));
        assert!(encode(&Value::float(f64::INFINITY), &Type::Number).is_err());
    }

    #[test]
    fn malformed_input_errors() {
        let full = encode(&resource_value(), &resource_type()).unwrap();
        for len in 0..full.len() {
            // Every proper prefix is invalid JSON (or, for a bare prefix like `{"id"`, truncated).
            assert!(decode(&full[..len], &resource_type()).is_err(), "{len}");
        }
        assert!(matches!(decode(br#"{"id":"x""#, &resource_type()), Err(CodecError::Truncated { .. })));
        assert!(matches!(decode(b"{]", &resource_type()), Err(CodecError::Invalid { .. })));
        for bad_dynamic in [
            r#"{"value":1}"#,
            r#"{"type":"number"}"#,
            r#"{"value":1,"type":"number","extra":0}"#,
            r#"{"value":1,"type":"integer"}"#,
            r#"[1]"#,
        ] {
            let err = decode(bad_dynamic.as_bytes(), &Type::Dynamic).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad_dynamic}");
        }
    }
}
