//! The msgpack encoding of `DynamicValue`s exchanged with Terraform, byte-compatible with
//! cty's `msgpack` package:
//!
//! - null is `nil`; an unknown value is an extension (any extension type decodes as unknown,
//!   including type 12, an unknown with refinements whose payload is ignored; unknowns are
//!   written as cty writes a wholly unknown value, fixext1 type 0 with a zero byte:
//!   `d4 00 00`);
//! - numbers are written as the smallest int encoding when whole and within `i64` (positive
//!   ints use the unsigned forms, like cty), otherwise as float64; decoding accepts every int
//!   and float width and a string holding a decimal number (how cty sends big numbers);
//! - lists, sets and tuples are arrays; maps and objects are maps with string keys; objects
//!   are written with every attribute of the type in sorted order;
//! - a value of a `dynamic` attribute is `[type JSON as bin, value]` (str is accepted too).

use std::collections::BTreeMap;

use rmp::Marker;

use super::value::{type_from_json, CodecError, Number, Step, Trail, Type, Value};

/// What cty writes for a wholly unknown value: fixext1, extension type 0, one zero byte.
const UNKNOWN: [u8; 3] = [0xd4, 0x00, 0x00];

/// Encodes `value` as a value of type `ty`.
///
/// The value must conform to the type: a mismatch, an object attribute the type lacks, or a
/// tuple of the wrong length is an error. A value that is not a [`Value::Dynamic`] can be
/// encoded against `dynamic` when its type is evident ([`Value::implied_type`]).
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut encoder = Encoder { out: Vec::new(), trail: Trail::default() };
    encoder.value(value, ty)?;
    Ok(encoder.out)
}

/// Decodes a msgpack value of type `ty`. Object attributes missing from the input decode as
/// null; an attribute the type lacks is an error. Bytes after the value are an error.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut decoder = Decoder { input: bytes, pos: 0, trail: Trail::default(), dynamic_depth: 0 };
    let value = decoder.value(ty)?;
    let rest = bytes.len() - decoder.pos;
    if rest > 0 {
        return Err(decoder.trail.invalid(format!("{rest} unexpected bytes after the value")));
    }
    Ok(value)
}

struct Encoder {
    out: Vec<u8>,
    trail: Trail,
}

impl Encoder {
    fn value(&mut self, value: &Value, ty: &Type) -> Result<(), CodecError> {
        match (value, ty) {
            (Value::Unknown, _) => self.out.extend_from_slice(&UNKNOWN),
            (Value::Null, _) => self.out.push(0xc0),
            (Value::Dynamic(concrete, inner), Type::Dynamic) => self.dynamic(concrete, inner)?,
            (Value::Dynamic(concrete, inner), _) if concrete == ty => self.value(inner, ty)?,
            (_, Type::Dynamic) => match value.implied_type() {
                Some(concrete) => self.dynamic(&concrete, value)?,
                None => {
                    let expected = "a value whose type can be told (wrap it in Value::Dynamic)";
                    return Err(self.trail.mismatch(expected, value.kind()));
                }
            },
            (Value::Bool(b), Type::Bool) => self.out.push(if *b { 0xc3 } else { 0xc2 }),
            (Value::Number(n), Type::Number) => self.number(*n)?,
            (Value::String(s), Type::String) => self.str(s)?,
            (Value::List(items), Type::List(ety)) | (Value::Set(items), Type::Set(ety)) => {
                self.len(items.len(), rmp::encode::write_array_len)?;
                for (i, item) in items.iter().enumerate() {
                    self.trail.push(Step::Index(i));
                    self.value(item, ety)?;
                    self.trail.pop();
                }
            }
            (Value::Tuple(items), Type::Tuple(etys)) => {
                if items.len() != etys.len() {
                    let expected = format!("a tuple of {} elements", etys.len());
                    let found = format!("{} elements", items.len());
                    return Err(self.trail.mismatch(expected, found));
                }
                self.len(items.len(), rmp::encode::write_array_len)?;
                for (i, (item, ety)) in items.iter().zip(etys).enumerate() {
                    self.trail.push(Step::Index(i));
                    self.value(item, ety)?;
                    self.trail.pop();
                }
            }
            (Value::Map(entries), Type::Map(ety)) => {
                self.len(entries.len(), rmp::encode::write_map_len)?;
                for (key, item) in entries {
                    self.trail.push(Step::Key(key.clone()));
                    self.str(key)?;
                    self.value(item, ety)?;
                    self.trail.pop();
                }
            }
            (Value::Object(attrs), Type::Object(atys)) => {
                if let Some(name) = attrs.keys().find(|k| !atys.contains_key(*k)) {
                    return Err(self.trail.unexpected_attribute(name));
                }
                self.len(atys.len(), rmp::encode::write_map_len)?;
                for (name, aty) in atys {
                    self.trail.push(Step::Attr(name.clone()));
                    self.str(name)?;
                    self.value(attrs.get(name).unwrap_or(&Value::Null), aty)?;
                    self.trail.pop();
                }
            }
            _ => return Err(self.trail.mismatch(ty, value.kind())),
        }
        Ok(())
    }

    fn dynamic(&mut self, concrete: &Type, inner: &Value) -> Result<(), CodecError> {
        self.out.push(0x92);
        let type_json = concrete.to_json_bytes();
        written(&self.trail, rmp::encode::write_bin(&mut self.out, &type_json))?;
        self.value(inner, concrete)
    }

    fn number(&mut self, n: Number) -> Result<(), CodecError> {
        match n {
            Number::Int(i) => written(&self.trail, rmp::encode::write_sint(&mut self.out, i)),
            Number::Float(f) => match n.as_i64() {
                Some(i) => written(&self.trail, rmp::encode::write_sint(&mut self.out, i)),
                None if f.is_nan() => Err(self.trail.invalid("NaN is not a number Terraform accepts")),
                None => written(&self.trail, rmp::encode::write_f64(&mut self.out, f)),
            },
        }
    }

    fn str(&mut self, s: &str) -> Result<(), CodecError> {
        written(&self.trail, rmp::encode::write_str(&mut self.out, s))
    }

    fn len<T, E: std::fmt::Display>(
        &mut self,
        len: usize,
        write: fn(&mut Vec<u8>, u32) -> Result<T, E>,
    ) -> Result<(), CodecError> {
        let len = u32::try_from(len).map_err(|_| self.trail.invalid("too many elements"))?;
        written(&self.trail, write(&mut self.out, len))
    }
}

/// Writing to a `Vec` cannot fail, but the rmp API returns a `Result` anyway.
fn written<T, E: std::fmt::Display>(trail: &Trail, result: Result<T, E>) -> Result<(), CodecError> {
    result.map(|_| ()).map_err(|e| trail.invalid(format!("msgpack write failed: {e}")))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    trail: Trail,
    /// How many dynamic values enclose the one being decoded. Each carries its own type JSON
    /// (serde_json bounds the nesting of one), so only this bound keeps a crafted input from
    /// recursing until the stack overflows, which would abort the process.
    dynamic_depth: usize,
}

/// Dynamic values inside dynamic values, at most: cty sends the concrete type of a dynamic value,
/// so real values nest one or two deep.
const MAX_DYNAMIC_DEPTH: usize = 8;

/// What a marker introduces, for error messages.
fn describe(marker: Marker) -> &'static str {
    use Marker::*;
    match marker {
        FixPos(_) | FixNeg(_) | U8 | U16 | U32 | U64 | I8 | I16 | I32 | I64 => "integer",
        F32 | F64 => "float",
        Null => "nil",
        True | False => "bool",
        FixStr(_) | Str8 | Str16 | Str32 => "string",
        Bin8 | Bin16 | Bin32 => "binary",
        FixArray(_) | Array16 | Array32 => "array",
        FixMap(_) | Map16 | Map32 => "map",
        FixExt1 | FixExt2 | FixExt4 | FixExt8 | FixExt16 | Ext8 | Ext16 | Ext32 => "extension",
        Reserved => "the reserved byte 0xc1",
    }
}

fn is_extension(marker: Marker) -> bool {
    use Marker::*;
    matches!(marker, FixExt1 | FixExt2 | FixExt4 | FixExt8 | FixExt16 | Ext8 | Ext16 | Ext32)
}

impl<'a> Decoder<'a> {
    fn truncated(&self) -> CodecError {
        CodecError::Truncated { path: self.trail.render() }
    }

    fn peek(&self) -> Result<Marker, CodecError> {
        let byte = self.input.get(self.pos).ok_or_else(|| self.truncated())?;
        Ok(Marker::from_u8(*byte))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.input.len());
        let end = end.ok_or_else(|| self.truncated())?;
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.be::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, CodecError> {
        Ok(u16::from_be_bytes(self.be()?).into())
    }

    fn u32(&mut self) -> Result<usize, CodecError> {
        let n = u32::from_be_bytes(self.be()?);
        usize::try_from(n).map_err(|_| self.truncated())
    }

    fn value(&mut self, ty: &Type) -> Result<Value, CodecError> {
        let marker = self.peek()?;
        if is_extension(marker) {
            self.skip_extension(marker)?;
            return Ok(Value::Unknown);
        }
        if marker == Marker::Null {
            self.pos += 1;
            return Ok(Value::Null);
        }
        match ty {
            Type::Dynamic => self.dynamic(),
            Type::Bool => match marker {
                Marker::True | Marker::False => {
                    self.pos += 1;
                    Ok(Value::Bool(marker == Marker::True))
                }
                _ => Err(self.trail.mismatch(ty, describe(marker))),
            },
            Type::Number => self.number(marker).map(Value::Number),
            Type::String => self.string(ty).map(Value::String),
            Type::List(ety) => self.elements(ty, ety).map(Value::List),
            Type::Set(ety) => self.elements(ty, ety).map(Value::Set),
            Type::Tuple(etys) => {
                let len = self.array_len(ty)?;
                if len != etys.len() {
                    let expected = format!("a tuple of {} elements", etys.len());
                    return Err(self.trail.mismatch(expected, format!("{len} elements")));
                }
                let mut items = Vec::with_capacity(len);
                for (i, ety) in etys.iter().enumerate() {
                    self.trail.push(Step::Index(i));
                    items.push(self.value(ety)?);
                    self.trail.pop();
                }
                Ok(Value::Tuple(items))
            }
            Type::Map(ety) => {
                let len = self.map_len(ty)?;
                let mut entries = BTreeMap::new();
                for _ in 0..len {
                    let key = self.string(&Type::String)?;
                    self.trail.push(Step::Key(key.clone()));
                    let item = self.value(ety)?;
                    self.trail.pop();
                    entries.insert(key, item);
                }
                Ok(Value::Map(entries))
            }
            Type::Object(atys) => {
                let len = self.map_len(ty)?;
                let mut attrs = BTreeMap::new();
                for _ in 0..len {
                    let name = self.string(&Type::String)?;
                    let aty = atys.get(&name).ok_or_else(|| self.trail.unexpected_attribute(&name))?;
                    self.trail.push(Step::Attr(name.clone()));
                    let item = self.value(aty)?;
                    self.trail.pop();
                    attrs.insert(name, item);
                }
                for name in atys.keys() {
                    if !attrs.contains_key(name) {
                        attrs.insert(name.clone(), Value::Null);
                    }
                }
                Ok(Value::Object(attrs))
            }
        }
    }

    fn skip_extension(&mut self, marker: Marker) -> Result<(), CodecError> {
        self.pos += 1;
        let len = match marker {
            Marker::FixExt1 => 1,
            Marker::FixExt2 => 2,
            Marker::FixExt4 => 4,
            Marker::FixExt8 => 8,
            Marker::FixExt16 => 16,
            Marker::Ext8 => self.u8()?.into(),
            Marker::Ext16 => self.u16()?,
            _ => self.u32()?,
        };
        // The extension type byte, then the payload.
        self.take(1 + len)?;
        Ok(())
    }

    /// `[type JSON, value]`; a dynamic null or unknown was handled by the caller.
    fn dynamic(&mut self) -> Result<Value, CodecError> {
        let expected = "a dynamic value ([type, value] array)";
        let marker = self.peek()?;
        let len = match marker {
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => self.array_len(&Type::Dynamic)?,
            _ => return Err(self.trail.mismatch(expected, describe(marker))),
        };
        if len != 2 {
            return Err(self.trail.mismatch(expected, format!("an array of {len} elements")));
        }
        let marker = self.peek()?;
        let type_json = match marker {
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => self.str_bytes()?,
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => self.str_bytes()?,
            _ => {
                let expected = "the type of a dynamic value (JSON in bin or str)";
                return Err(self.trail.mismatch(expected, describe(marker)));
            }
        };
        let json: serde_json::Value = serde_json::from_slice(type_json)
            .map_err(|e| self.trail.invalid(format!("invalid type JSON of a dynamic value: {e}")))?;
        let ty = type_from_json(&json).map_err(|detail| self.trail.invalid(detail))?;
        if self.dynamic_depth >= MAX_DYNAMIC_DEPTH {
            return Err(self.trail.invalid(format!("dynamic values nested more than {MAX_DYNAMIC_DEPTH} deep")));
        }
        self.dynamic_depth += 1;
        let inner = self.value(&ty);
        self.dynamic_depth -= 1;
        Ok(Value::Dynamic(ty, Box::new(inner?)))
    }

    fn number(&mut self, marker: Marker) -> Result<Number, CodecError> {
        use Marker::*;
        let n = match marker {
            FixPos(n) => {
                self.pos += 1;
                Number::Int(n.into())
            }
            FixNeg(n) => {
                self.pos += 1;
                Number::Int(n.into())
            }
            U8 | U16 | U32 | U64 | I8 | I16 | I32 | I64 | F32 | F64 => {
                self.pos += 1;
                match marker {
                    U8 => Number::Int(self.u8()?.into()),
                    U16 => Number::Int(u16::from_be_bytes(self.be()?).into()),
                    U32 => Number::Int(u32::from_be_bytes(self.be()?).into()),
                    U64 => {
                        let u = u64::from_be_bytes(self.be()?);
                        Number::from_u64(u).map_err(|e| self.trail.number_error(e, &u.to_string()))?
                    }
                    I8 => Number::Int(i8::from_be_bytes(self.be()?).into()),
                    I16 => Number::Int(i16::from_be_bytes(self.be()?).into()),
                    I32 => Number::Int(i32::from_be_bytes(self.be()?).into()),
                    I64 => Number::Int(i64::from_be_bytes(self.be()?)),
                    F32 => Number::Float(f32::from_be_bytes(self.be()?).into()),
                    _ => Number::Float(f64::from_be_bytes(self.be()?)),
                }
            }
            FixStr(_) | Str8 | Str16 | Str32 => {
                let text = self.string(&Type::Number)?;
                return Number::parse(&text).map_err(|e| self.trail.number_error(e, &text));
            }
            _ => return Err(self.trail.mismatch(Type::Number, describe(marker))),
        };
        Ok(n)
    }

    /// A str (or bin) as UTF-8 text; `ty` is what was expected, for the error message.
    fn string(&mut self, ty: &Type) -> Result<String, CodecError> {
        let marker = self.peek()?;
        match marker {
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {}
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {}
            _ => return Err(self.trail.mismatch(ty, describe(marker))),
        }
        let bytes = self.str_bytes()?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(self.trail.invalid("string is not valid UTF-8")),
        }
    }

    /// The payload of a str or bin whose marker the caller has checked.
    fn str_bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let marker = Marker::from_u8(self.u8()?);
        let len = match marker {
            Marker::FixStr(n) => n.into(),
            Marker::Str8 | Marker::Bin8 => self.u8()?.into(),
            Marker::Str16 | Marker::Bin16 => self.u16()?,
            _ => self.u32()?,
        };
        self.take(len)
    }

    fn array_len(&mut self, ty: &Type) -> Result<usize, CodecError> {
        let marker = self.peek()?;
        let len = match marker {
            Marker::FixArray(n) => {
                self.pos += 1;
                n.into()
            }
            Marker::Array16 => {
                self.pos += 1;
                self.u16()?
            }
            Marker::Array32 => {
                self.pos += 1;
                self.u32()?
            }
            _ => return Err(self.trail.mismatch(ty, describe(marker))),
        };
        self.check_len(len)
    }

    fn map_len(&mut self, ty: &Type) -> Result<usize, CodecError> {
        let marker = self.peek()?;
        let len = match marker {
            Marker::FixMap(n) => {
                self.pos += 1;
                n.into()
            }
            Marker::Map16 => {
                self.pos += 1;
                self.u16()?
            }
            Marker::Map32 => {
                self.pos += 1;
                self.u32()?
            }
            _ => return Err(self.trail.mismatch(ty, describe(marker))),
        };
        self.check_len(len)
    }

    /// Every element takes at least one byte, so a longer claimed length is truncated input
    /// (and must not be used to reserve memory).
    fn check_len(&self, len: usize) -> Result<usize, CodecError> {
        if len > self.input.len() - self.pos {
            return Err(self.truncated());
        }
        Ok(len)
    }

    fn elements(&mut self, ty: &Type, ety: &Type) -> Result<Vec<Value>, CodecError> {
        let len = self.array_len(ty)?;
        let mut items = Vec::with_capacity(len);
        for i in 0..len {
            self.trail.push(Step::Index(i));
            items.push(self.value(ety)?);
            self.trail.pop();
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    /// A crafted input of dynamic values nested far deeper than the stack could recurse is an
    /// error, not an abort.
    #[test]
    fn deeply_nested_dynamic_values_are_refused() {
        let mut bytes = Vec::new();
        for _ in 0..100_000 {
            bytes.push(0x92); // [type, value]
            bytes.push(0xa9); // a 9-byte str: the type JSON
            bytes.extend_from_slice(b"\"dynamic\"");
        }
        bytes.push(0xc0);
        let err = super::decode(&bytes, &super::Type::Dynamic).unwrap_err();
        assert!(err.to_string().contains("nested more than"), "{err}");
        // One dynamic value in another still decodes.
        let two = [0x92, 0xa9, b'"', b'd', b'y', b'n', b'a', b'm', b'i', b'c', b'"', 0x92, 0xa8]
            .iter()
            .copied()
            .chain(*b"\"string\"")
            .chain([0xa1, b'x'])
            .collect::<Vec<u8>>();
        assert!(super::decode(&two, &super::Type::Dynamic).is_ok());
    }

    use super::*;

    fn round_trip(value: &Value, ty: &Type) -> Vec<u8> {
        let bytes = encode(value, ty).unwrap_or_else(|e| panic!("encode {value:?}: {e}"));
        let back = decode(&bytes, ty).unwrap_or_else(|e| panic!("decode {value:?}: {e}"));
        assert_eq!(&back, value, "bytes {bytes:02x?}");
        bytes
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
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
            ("enabled", Value::Bool(true)),
            ("tags", Value::map_of([("env", Value::string("prod")), ("team", Value::Unknown)])),
            ("ports", Value::set_of([Value::int(443), Value::int(80), Value::Unknown])),
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
                    ("instance_ids", Value::list_of([Value::string("i-1"), Value::Unknown, Value::Null])),
                    (
                        "volumes",
                        Value::list_of([
                            Value::object([
                                ("name", Value::string("data")),
                                ("size", Value::int(1 << 40)),
                                ("labels", Value::set_of_strings(["b", "a"])),
                            ]),
                            Value::object([("name", Value::Unknown), ("size", Value::Null), ("labels", Value::Null)]),
                        ]),
                    ),
                ]),
            ),
        ])
    }

    #[test]
    fn primitives_round_trip() {
        round_trip(&Value::Bool(true), &Type::Bool);
        round_trip(&Value::Bool(false), &Type::Bool);
        round_trip(&Value::string(""), &Type::String);
        round_trip(&Value::string("héllo ✓"), &Type::String);
        round_trip(&Value::string("x".repeat(300)), &Type::String);
        round_trip(&Value::string("y".repeat(70_000)), &Type::String);
        for i in [
            0,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
            i64::MAX,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32_768,
            -32_769,
            i32::MIN as i64,
            i32::MIN as i64 - 1,
            i64::MIN,
        ] {
            let bytes = round_trip(&Value::int(i), &Type::Number);
            assert_eq!(decode(&bytes, &Type::Number).unwrap().as_i64(), Some(i));
        }
        for f in [1.5, -0.25, 1e300, -1e-300, 9.5e18, 1e20, f64::INFINITY] {
            round_trip(&Value::float(f), &Type::Number);
        }
    }

    #[test]
    fn null_and_unknown_round_trip_everywhere() {
        for ty in [
            Type::Bool,
            Type::Number,
            Type::String,
            Type::Dynamic,
            Type::list(Type::String),
            Type::set(Type::Number),
            Type::map(Type::Bool),
            Type::object([("a", Type::String)]),
            Type::tuple([Type::String]),
        ] {
            assert_eq!(round_trip(&Value::Null, &ty), [0xc0]);
            assert_eq!(round_trip(&Value::Unknown, &ty), UNKNOWN);
        }
        let ty = Type::object([
            ("attr", Type::String),
            ("list", Type::list(Type::Number)),
            ("map", Type::map(Type::String)),
            ("set", Type::set(Type::String)),
        ]);
        for special in [Value::Null, Value::Unknown] {
            round_trip(
                &Value::object([
                    ("attr", special.clone()),
                    ("list", Value::list_of([Value::int(1), special.clone()])),
                    ("map", Value::map_of([("k", special.clone())])),
                    ("set", Value::set_of([special.clone(), Value::string("s")])),
                ]),
                &ty,
            );
        }
    }

    #[test]
    fn nested_structures_round_trip() {
        round_trip(&resource_value(), &resource_type());
        round_trip(
            &Value::object([("tags", Value::map_of::<&str>([]))]),
            &Type::object([("tags", Type::map(Type::String))]),
        );
        round_trip(&Value::list_of([]), &Type::list(Type::String));
        let many: Vec<Value> = (0..20).map(Value::int).collect();
        round_trip(&Value::List(many.clone()), &Type::list(Type::Number));
        let many_keys = (0..20).map(|i| (format!("k{i}"), Value::int(i)));
        round_trip(&Value::map_of(many_keys), &Type::map(Type::Number));
        round_trip(
            &Value::Tuple(vec![Value::Bool(false), Value::Null, Value::Unknown]),
            &Type::tuple([Type::Bool, Type::String, Type::Number]),
        );
    }

    #[test]
    fn sets_decode_order_insensitively_and_keep_duplicates() {
        let ty = Type::set(Type::String);
        // ["b", "a", "a"]
        let decoded = decode(&hex("93 a1 62 a1 61 a1 61"), &ty).unwrap();
        assert_eq!(decoded.as_set().map(<[_]>::len), Some(3));
        assert_eq!(decoded, Value::set_of_strings(["a", "a", "b"]));
        assert_ne!(decoded, Value::set_of_strings(["a", "b", "b"]));
    }

    #[test]
    fn dynamic_values() {
        // A string in a dynamic attribute: [bin "\"string\"", "x"].
        let bytes = round_trip(&Value::dynamic(Type::String, Value::string("x")), &Type::Dynamic);
        assert_eq!(bytes, hex("92 c4 08 22 73 74 72 69 6e 67 22 a1 78"));
        // The type JSON may also come as str.
        let from_str = decode(&hex("92 a8 22 73 74 72 69 6e 67 22 a1 78"), &Type::Dynamic).unwrap();
        assert_eq!(from_str, Value::dynamic(Type::String, Value::string("x")));
        // A typed null and a typed unknown keep their type.
        let typed_null = round_trip(&Value::dynamic(Type::Number, Value::Null), &Type::Dynamic);
        assert_eq!(typed_null, hex("92 c4 08 22 6e 75 6d 62 65 72 22 c0"));
        assert!(decode(&typed_null, &Type::Dynamic).unwrap().is_null());
        let typed_unknown = round_trip(&Value::dynamic(Type::Bool, Value::Unknown), &Type::Dynamic);
        assert!(decode(&typed_unknown, &Type::Dynamic).unwrap().is_unknown());
        // A plain value against dynamic gets its evident type.
        assert_eq!(encode(&Value::string("x"), &Type::Dynamic).unwrap(), bytes);
        let obj = Value::object([("a", Value::int(1))]);
        let decoded = decode(&encode(&obj, &Type::Dynamic).unwrap(), &Type::Dynamic).unwrap();
        assert_eq!(decoded, Value::dynamic(Type::object([("a", Type::Number)]), obj));
        // A dynamic wrapper against its own concrete type is unwrapped.
        assert_eq!(encode(&Value::dynamic(Type::String, Value::string("x")), &Type::String).unwrap(), hex("a1 78"));
    }

    #[test]
    fn byte_exact_cty_encodings() {
        let ab = Type::object([("a", Type::String), ("b", Type::String)]);
        let v = Value::object([("a", Value::string("x")), ("b", Value::Null)]);
        assert_eq!(encode(&v, &ab).unwrap(), hex("82 a1 61 a1 78 a1 62 c0"));
        // Attributes left out of the value are written as nil, in sorted order.
        let v = Value::object([("a", Value::string("x"))]);
        assert_eq!(encode(&v, &ab).unwrap(), hex("82 a1 61 a1 78 a1 62 c0"));
        assert_eq!(encode(&Value::Unknown, &Type::String).unwrap(), hex("d4 00 00"));
        let cases: &[(Value, &str)] = &[
            (Value::int(1), "01"),
            (Value::int(0), "00"),
            (Value::int(-1), "ff"),
            (Value::int(-33), "d0 df"),
            (Value::int(200), "cc c8"),
            (Value::int(1000), "cd 03 e8"),
            (Value::int(100_000), "ce 00 01 86 a0"),
            (Value::int(1 << 40), "cf 00 00 01 00 00 00 00 00"),
            (Value::int(-1000), "d1 fc 18"),
            (Value::int(i64::MIN), "d3 80 00 00 00 00 00 00 00"),
            (Value::float(1.5), "cb 3f f8 00 00 00 00 00 00"),
            // Whole floats are written as ints, as cty does.
            (Value::float(3.0), "03"),
            (Value::float(-2.0), "fe"),
            (Value::float(1e20), "cb 44 15 af 1d 78 b5 8c 40"),
        ];
        for (value, expected) in cases {
            assert_eq!(encode(value, &Type::Number).unwrap(), hex(expected), "{value:?}");
        }
        assert_eq!(encode(&Value::Bool(true), &Type::Bool).unwrap(), [0xc3]);
        assert_eq!(encode(&Value::list_of([Value::string("a")]), &Type::list(Type::String)).unwrap(), hex("91 a1 61"));
        assert_eq!(
            encode(&Value::map_of([("k", Value::int(1))]), &Type::map(Type::Number)).unwrap(),
            hex("81 a1 6b 01")
        );
        let long = encode(&Value::string("z".repeat(40)), &Type::String).unwrap();
        assert_eq!(&long[..2], &[0xd9, 40]);
    }

    #[test]
    fn decodes_every_number_encoding() {
        let cases: &[(&str, Number)] = &[
            ("05", Number::Int(5)),
            ("e0", Number::Int(-32)),
            ("cc ff", Number::Int(255)),
            ("cd 01 00", Number::Int(256)),
            ("ce ff ff ff ff", Number::Int(4_294_967_295)),
            ("cf 00 00 00 00 00 00 00 07", Number::Int(7)),
            ("cf 80 00 00 00 00 00 00 00", Number::Float(9_223_372_036_854_775_808.0)),
            ("d0 80", Number::Int(-128)),
            ("d1 80 00", Number::Int(-32_768)),
            ("d2 80 00 00 00", Number::Int(i32::MIN as i64)),
            ("d3 ff ff ff ff ff ff ff fe", Number::Int(-2)),
            ("ca 3f c0 00 00", Number::Float(1.5)),
            ("cb c0 04 00 00 00 00 00 00", Number::Float(-2.5)),
            // Numbers cty cannot fit in an int or float come as decimal strings.
            ("a2 34 32", Number::Int(42)),
            ("a4 2d 37 2e 35", Number::Float(-7.5)),
            // 2^70 as cty writes it: an exact f64.
            (
                "b6 31 31 38 30 35 39 31 36 32 30 37 31 37 34 31 31 33 30 33 34 32 34",
                Number::Float(1_180_591_620_717_411_303_424.0),
            ),
        ];
        for (bytes, expected) in cases {
            let decoded = decode(&hex(bytes), &Type::Number).unwrap();
            assert_eq!(decoded, Value::Number(*expected), "{bytes}");
        }
        // Numbers no i64 or f64 holds exactly are refused, not rounded: u64::MAX, a 23-digit integer.
        for bytes in
            ["cf ff ff ff ff ff ff ff ff", "b7 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 32 33"]
        {
            let refused = decode(&hex(bytes), &Type::Number).unwrap_err();
            assert!(matches!(refused, CodecError::InexactNumber { .. }), "{bytes}: {refused:?}");
        }
        // u64 beyond i64 becomes a float; i64::MAX stays exact.
        let max = decode(&hex("cf 7f ff ff ff ff ff ff ff"), &Type::Number).unwrap();
        assert_eq!(max.as_i64(), Some(i64::MAX));
    }

    #[test]
    fn decodes_any_extension_as_unknown() {
        let ty = Type::object([("a", Type::String), ("b", Type::Number), ("c", Type::Bool)]);
        for ext in [
            "d4 00 00",                                              // cty's wholly unknown
            "c7 00 00",                                              // zero-length ext8
            "c7 03 0c 81 01 c2",                                     // type 12: unknown, refined as not null
            "c7 04 0c 81 02 a1 78",                                  // type 12: string prefix "x"
            "d6 05 01 02 03 04",                                     // fixext4 of another type
            "c8 00 02 0c 01 02",                                     // ext16
            "c9 00 00 00 01 0c 01",                                  // ext32
            "d5 01 01 02",                                           // fixext2
            "d7 01 01 02 03 04 05 06 07 08",                         // fixext8
            "d8 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", // fixext16
        ] {
            // The extension sits between other attributes, so its length must be skipped exactly.
            let bytes = hex(&format!("83 a1 61 {ext} a1 62 07 a1 63 c3"));
            let decoded = decode(&bytes, &ty).unwrap();
            assert_eq!(
                decoded,
                Value::object([("a", Value::Unknown), ("b", Value::int(7)), ("c", Value::Bool(true)),]),
                "{ext}"
            );
            assert!(decode(&hex(ext), &Type::Dynamic).unwrap().is_unknown());
        }
    }

    #[test]
    fn missing_object_attributes_decode_as_null() {
        let ty = Type::object([("a", Type::String), ("b", Type::list(Type::String))]);
        let decoded = decode(&hex("81 a1 61 a1 78"), &ty).unwrap();
        assert_eq!(decoded, Value::object([("a", Value::string("x")), ("b", Value::Null)]));
        assert_eq!(decode(&hex("80"), &ty).unwrap().get("b"), Some(&Value::Null));
    }

    #[test]
    fn wrong_kind_errors_name_the_path() {
        let ty = Type::object([("spec", Type::object([("instance_ids", Type::list(Type::Number))]))]);
        // {spec: {instance_ids: [1, 2, "abc"]}}
        let bytes = hex("81 a4 73 70 65 63 81 ac 69 6e 73 74 61 6e 63 65 5f 69 64 73 93 01 02 a3 61 62 63");
        let err = decode(&bytes, &ty).unwrap_err();
        assert_eq!(err.path(), "spec.instance_ids[2]");
        assert!(matches!(err, CodecError::Mismatch { .. }), "{err}");
        assert_eq!(err.to_string(), r#"spec.instance_ids[2]: expected number, found string "abc""#);
        // A bool where a string is expected, inside a map.
        let ty = Type::object([("tags", Type::map(Type::String))]);
        let err = decode(&hex("81 a4 74 61 67 73 81 a3 65 6e 76 c3"), &ty).unwrap_err();
        assert_eq!(err.to_string(), r#"tags["env"]: expected string, found bool"#);
        // An array where an object is expected, at the root.
        let err = decode(&hex("90"), &Type::object([("a", Type::String)])).unwrap_err();
        assert_eq!(err.to_string(), "<root>: expected object, found array");
        // Tuple length.
        let err = decode(&hex("91 01"), &Type::tuple([Type::Number, Type::Number])).unwrap_err();
        assert!(matches!(err, CodecError::Mismatch { .. }), "{err}");
        // Invalid UTF-8.
        let err = decode(&hex("a2 c3 28"), &Type::String).unwrap_err();
        assert!(matches!(err, CodecError::Invalid { .. }), "{err}");
        // Trailing bytes.
        let err = decode(&hex("01 02"), &Type::Number).unwrap_err();
        assert!(matches!(err, CodecError::Invalid { .. }), "{err}");
        // A bad dynamic type.
        let err = decode(&hex("92 a5 22 66 6f 6f 22 01"), &Type::Dynamic).unwrap_err();
        assert!(matches!(err, CodecError::Invalid { .. }), "{err}");
        let err = decode(&hex("93 a5 22 66 6f 6f 22 01 01"), &Type::Dynamic).unwrap_err();
        assert!(matches!(err, CodecError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn unexpected_attribute_is_an_error_naming_it() {
        let ty = Type::object([("spec", Type::object([("a", Type::String)]))]);
        // {spec: {a: "x", bogus: 1}}
        let bytes = hex("81 a4 73 70 65 63 82 a1 61 a1 78 a5 62 6f 67 75 73 01");
        let err = decode(&bytes, &ty).unwrap_err();
        assert_eq!(err, CodecError::UnexpectedAttribute { path: "spec".into(), name: "bogus".into() });
        assert_eq!(err.to_string(), r#"spec: unsupported attribute "bogus""#);
        // Encoding a value with an attribute the type lacks fails too.
        let v = Value::object([("spec", Value::object([("b", Value::Null)]))]);
        let err = encode(&v, &ty).unwrap_err();
        assert!(matches!(&err, CodecError::UnexpectedAttribute { name, .. } if name == "b"));
    }

    #[test]
    fn encode_rejects_values_not_of_the_type() {
        let ty = Type::object([("ids", Type::list(Type::Number))]);
        let v = Value::object([("ids", Value::list_of([Value::int(1), Value::string("x")]))]);
        let err = encode(&v, &ty).unwrap_err();
        assert_eq!(err.to_string(), "ids[1]: expected number, found string");
        let err = encode(&Value::set_of([]), &Type::list(Type::String)).unwrap_err();
        assert!(matches!(err, CodecError::Mismatch { .. }));
        let err = encode(&Value::Tuple(vec![]), &Type::tuple([Type::Bool])).unwrap_err();
        assert!(matches!(err, CodecError::Mismatch { .. }));
        let err = encode(&Value::list_of([]), &Type::Dynamic).unwrap_err();
        assert!(matches!(err, CodecError::Mismatch { .. }));
        let err = encode(&Value::dynamic(Type::Bool, Value::Bool(true)), &Type::String).unwrap_err();
        assert!(matches!(err, CodecError::Mismatch { .. }));
        assert!(encode(&Value::float(f64::NAN), &Type::Number).is_err());
    }

    #[test]
    fn truncated_input_errors_without_panicking() {
        let bytes = encode(&resource_value(), &resource_type()).unwrap();
        for len in 0..bytes.len() {
            let result = decode(&bytes[..len], &resource_type());
            assert!(result.is_err(), "prefix of {len} bytes decoded: {result:?}");
        }
        assert!(matches!(decode(&[], &Type::String), Err(CodecError::Truncated { .. })));
        // Huge claimed lengths must not allocate or panic.
        for huge in ["dd ff ff ff ff", "df ff ff ff ff", "db ff ff ff ff 61", "c9 ff ff ff ff 00"] {
            let ty = Type::list(Type::String);
            assert!(decode(&hex(huge), &ty).is_err(), "{huge}");
            assert!(decode(&hex(huge), &Type::map(Type::String)).is_err(), "{huge}");
            assert!(decode(&hex(huge), &Type::String).is_err(), "{huge}");
        }
    }

    #[test]
    fn garbage_input_never_panics() {
        let ty = resource_type();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let valid = encode(&resource_value(), &ty).unwrap();
        for round in 0..2000 {
            let mut bytes = valid.clone();
            // Flip a few bytes of a valid encoding, or produce pure noise.
            let flips = 1 + round % 4;
            for _ in 0..flips {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            if round % 5 == 0 {
                bytes.truncate((state % 40) as usize);
            }
            let _ = decode(&bytes, &ty);
            let _ = decode(&bytes, &Type::Dynamic);
        }
    }
}
