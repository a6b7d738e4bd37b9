//! Terraform's value model (cty): [`Type`], [`Number`], [`Value`] and the [`CodecError`]
//! shared by the two wire codecs ([`super::msgpack`] for `DynamicValue`s exchanged with
//! Terraform, [`super::json`] for stored state).
//!
//! A [`Value`] carries no type of its own: `Null` and `Unknown` are typeless, and lists,
//! sets and maps do not record their element type. The type always comes from the schema
//! and is passed to the codecs next to the value. The one exception is a value of an
//! attribute typed `dynamic`, which travels with its concrete type as [`Value::Dynamic`].

use std::collections::BTreeMap;
use std::fmt;

use super::path::{AttributePath, PathStep};

/// A Terraform (cty) type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// `DynamicPseudoType`: any type, decided by the value itself.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    /// Attribute name to attribute type.
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

impl Type {
    /// `list(element)`.
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    /// `set(element)`.
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    /// `map(element)`.
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    /// `object({name = type, ...})`.
    pub fn object<K: Into<String>>(attributes: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object(attributes.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }

    /// `tuple([type, ...])`.
    pub fn tuple(elements: impl IntoIterator<Item = Type>) -> Type {
        Type::Tuple(elements.into_iter().collect())
    }

    /// The JSON form of the type used in schemas and in dynamic values:
    /// `"string"`, `["list","string"]`, `["object",{"a":"number"}]`, `["tuple",["bool"]]`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(e) => J::Array(vec![J::from("list"), e.to_json()]),
            Type::Set(e) => J::Array(vec![J::from("set"), e.to_json()]),
            Type::Map(e) => J::Array(vec![J::from("map"), e.to_json()]),
            Type::Object(attrs) => {
                let attrs = attrs.iter().map(|(k, t)| (k.clone(), t.to_json()));
                J::Array(vec![J::from("object"), J::Object(attrs.collect())])
            }
            Type::Tuple(elems) => J::Array(vec![J::from("tuple"), J::Array(elems.iter().map(Type::to_json).collect())]),
        }
    }

    /// [`Type::to_json`] serialized compactly, exactly as cty writes it (object attributes
    /// in sorted order, no whitespace).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Parses the JSON form of a type. The optional-attributes list that may follow an object's
    /// attributes (`["object",{...},["opt"]]`) is accepted and ignored.
    pub fn from_json(json: &serde_json::Value) -> Result<Type, CodecError> {
        type_from_json(json).map_err(|detail| CodecError::Invalid { path: String::new(), detail })
    }

    /// The element type of a list, set or map.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(e) | Type::Set(e) | Type::Map(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses a JSON type; the error is a description without a path.
pub(crate) fn type_from_json(json: &serde_json::Value) -> Result<Type, String> {
    use serde_json::Value as J;
    let invalid = || format!("invalid type specification {json}");
    match json {
        J::String(name) => match name.as_str() {
            "bool" => Ok(Type::Bool),
            "number" => Ok(Type::Number),
            "string" => Ok(Type::String),
            "dynamic" => Ok(Type::Dynamic),
            _ => Err(invalid()),
        },
        J::Array(parts) => {
            let (Some(J::String(kind)), Some(arg)) = (parts.first(), parts.get(1)) else {
                return Err(invalid());
            };
            let extra_allowed = if kind == "object" { 1 } else { 0 };
            if parts.len() > 2 + extra_allowed {
                return Err(invalid());
            }
            match (kind.as_str(), arg) {
                ("list", e) => Ok(Type::list(type_from_json(e)?)),
                ("set", e) => Ok(Type::set(type_from_json(e)?)),
                ("map", e) => Ok(Type::map(type_from_json(e)?)),
                ("object", J::Object(attrs)) => {
                    if let Some(optional) = parts.get(2) {
                        if !optional.is_array() {
                            return Err(invalid());
                        }
                    }
                    let attrs = attrs.iter().map(|(k, t)| Ok((k.clone(), type_from_json(t)?)));
                    Ok(Type::Object(attrs.collect::<Result<_, String>>()?))
                }
                ("tuple", J::Array(elems)) => {
                    Ok(Type::Tuple(elems.iter().map(type_from_json).collect::<Result<_, _>>()?))
                }
                _ => Err(invalid()),
            }
        }
        _ => Err(invalid()),
    }
}

/// Friendly names, as used in error messages: `string`, `list of string`, `object`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(e) => write!(f, "list of {e}"),
            Type::Set(e) => write!(f, "set of {e}"),
            Type::Map(e) => write!(f, "map of {e}"),
            Type::Object(_) => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}

/// A number. cty numbers are arbitrary precision; here they are an `i64` when integral and
/// in range, otherwise an `f64`. The codecs refuse a number that neither holds exactly
/// ([`NumberError::Inexact`]) instead of rounding it: a rounded number written back would not be
/// the one the configuration holds.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    Int(i64),
    Float(f64),
}

/// Why a text is not a [`Number`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// Not a decimal number at all.
    NotANumber,
    /// A number, but beyond what an `i64` or an `f64` holds exactly: an integer beyond
    /// `i64`/`u64` that is no exact `f64`, more significant digits than an `f64` keeps, or a
    /// magnitude beyond its range.
    Inexact,
}

impl Number {
    /// The number as an `i64` if it is an integer in range (`Float(3.0)` gives `Some(3)`).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::Int(i) => Some(i),
            Number::Float(f) => exact_i64(f),
        }
    }

    /// The number as an `f64` (may round integers beyond 2^53).
    pub fn as_f64(&self) -> f64 {
        match *self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// Parses a decimal number as cty writes it when it does not fit an int or a float
    /// (`"12345678901234567890"`, `"-1.5"`, `"1e3"`), keeping it only when the `f64` it becomes
    /// is equal to it as cty compares numbers: an integer must be the same integer exactly
    /// (`"9223372036854775808"` is 2^63, an exact `f64`; `"12345678901234567891"` is no `f64`), a
    /// fraction must print back as the same shortest decimal (`"0.1"` does;
    /// `"0.10000000000000000001"` does not). Rejects anything else, including `inf`/`NaN`.
    pub fn parse(text: &str) -> Result<Number, NumberError> {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Number::Int(i));
        }
        let numeric = |c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E');
        if text.is_empty() || !text.chars().all(numeric) {
            return Err(NumberError::NotANumber);
        }
        let wanted = decimal_parts(text).ok_or(NumberError::NotANumber)?;
        let f = text.parse::<f64>().map_err(|_| NumberError::NotANumber)?;
        if !f.is_finite() {
            return Err(NumberError::Inexact);
        }
        let exact = match whole_number(&wanted) {
            // cty compares integers exactly.
            Some(integer) => exact_i128(f) == Some(integer),
            // It compares other numbers by their shortest decimal; `{:e}` prints the f64's.
            None => decimal_parts(&format!("{f:e}")).as_ref() == Some(&wanted),
        };
        if exact {
            Ok(Number::Float(f))
        } else {
            Err(NumberError::Inexact)
        }
    }

    /// An unsigned integer as msgpack carries it beyond `i64`: kept when an `f64` holds it exactly.
    pub fn from_u64(u: u64) -> Result<Number, NumberError> {
        if let Ok(i) = i64::try_from(u) {
            return Ok(Number::Int(i));
        }
        let f = u as f64;
        // f < 2^64 here, so the cast back saturates nowhere.
        if f < 18_446_744_073_709_551_616.0 && f as u64 == u {
            Ok(Number::Float(f))
        } else {
            Err(NumberError::Inexact)
        }
    }
}

/// The integer a decimal number is, when it is a whole number within `i128`; `None` for a
/// fraction. A whole number beyond `i128` (and so beyond any exact `f64` integer this provider
/// keeps) is `Some(i128::MAX)`, which no `f64` equals exactly.
fn whole_number((negative, digits, point): &(bool, String, i64)) -> Option<i128> {
    if digits.is_empty() {
        return Some(0);
    }
    let zeros = point.checked_sub(digits.len() as i64)?;
    if zeros < 0 {
        return None;
    }
    let text = format!("{}{digits}{}", if *negative { "-" } else { "" }, "0".repeat(zeros.min(40) as usize));
    Some(text.parse::<i128>().unwrap_or(i128::MAX))
}

/// `f` as an `i128` if it is a whole number that fits (every whole `f64` below 2^127 does).
pub(crate) fn exact_i128(f: f64) -> Option<i128> {
    const LIMIT: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0; // 2^127
    (f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i128)
}

/// A decimal number as (negative, significant digits without leading or trailing zeros, the
/// power of ten of the point before them): `-12.50` is `(true, "125", 2)`, zero is
/// `(false, "", 0)` whatever its sign. `None` when the text is not a decimal number.
fn decimal_parts(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_only(int) || !digits_only(frac) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0');
    let leading_zeros = (digits.len() - significant.len()) as i64;
    let significant = significant.trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = (int.len() as i64).checked_add(exponent)?.checked_sub(leading_zeros)?;
    Some((negative, significant.to_string(), point))
}

/// `f` as an `i64` if it is a whole number that fits.
pub(crate) fn exact_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every f64 below it that is whole fits in i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (*self, *other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => exact_i64(f) == Some(i),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            // Rust prints the shortest round-tripping decimal without an exponent, like cty.
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Number {
        Number::Int(i)
    }
}

impl From<f64> for Number {
    fn from(f: f64) -> Number {
        Number::Float(f)
    }
}

/// A Terraform value. See the module docs: the type comes from the schema.
///
/// Equality is structural except that sets compare as multisets (order-insensitive), and
/// numbers compare by value (`Int(3) == Float(3.0)`).
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    /// Not known until apply.
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    /// Element order carries no meaning; duplicates decoded from the wire are kept as-is.
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// Attribute name to value. Decoded objects have every attribute of their type.
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value of an attribute typed `dynamic`, with its concrete type. The inner value may
    /// be `Null` or `Unknown` (a typed null or unknown); accessors look through this wrapper.
    Dynamic(Type, Box<Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => same_elements(a, b),
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            (Dynamic(ta, a), Dynamic(tb, b)) => ta == tb && a == b,
            _ => false,
        }
    }
}

/// Multiset equality without requiring `Hash`/`Ord`: each element of `a` is matched with a
/// distinct equal element of `b`.
fn same_elements(a: &[Value], b: &[Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = (0..b.len()).find(|&i| !used[i] && b[i] == *x);
        found.map(|i| used[i] = true).is_some()
    })
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// An integer number value.
    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }

    /// A floating point number value.
    pub fn float(f: f64) -> Value {
        Value::Number(Number::Float(f))
    }

    /// A list value.
    pub fn list_of(items: impl IntoIterator<Item = Value>) -> Value {
        Value::List(items.into_iter().collect())
    }

    /// A set value.
    pub fn set_of(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Set(items.into_iter().collect())
    }

    /// A set of strings.
    pub fn set_of_strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::Set(items.into_iter().map(Value::string).collect())
    }

    /// A map value.
    pub fn map_of<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// An object value. Attributes of the type that are left out encode as null.
    pub fn object<K: Into<String>>(attributes: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(attributes.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A value of a `dynamic` attribute with its concrete type.
    pub fn dynamic(ty: Type, value: Value) -> Value {
        Value::Dynamic(ty, Box::new(value))
    }

    /// The value inside any [`Value::Dynamic`] wrappers.
    pub fn unwrap_dynamic(&self) -> &Value {
        let mut v = self;
        while let Value::Dynamic(_, inner) = v {
            v = inner;
        }
        v
    }

    fn unwrap_dynamic_mut(&mut self) -> &mut Value {
        match self {
            Value::Dynamic(_, inner) => inner.unwrap_dynamic_mut(),
            v => v,
        }
    }

    /// Whether the value is null (also a typed null inside [`Value::Dynamic`]).
    pub fn is_null(&self) -> bool {
        matches!(self.unwrap_dynamic(), Value::Null)
    }

    /// Whether the value itself is unknown (not whether it contains unknowns; see
    /// [`Value::is_known`]).
    pub fn is_unknown(&self) -> bool {
        matches!(self.unwrap_dynamic(), Value::Unknown)
    }

    /// Whether the value is wholly known: it is not unknown and contains no unknowns.
    pub fn is_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => items.iter().all(Value::is_known),
            Value::Map(entries) | Value::Object(entries) => entries.values().all(Value::is_known),
            Value::Dynamic(_, inner) => inner.is_known(),
        }
    }

    /// The value with every unknown, however deeply nested, replaced by null.
    pub fn unknown_to_null(self) -> Value {
        let all = |items: Vec<Value>| items.into_iter().map(Value::unknown_to_null).collect();
        let all_map =
            |entries: BTreeMap<String, Value>| entries.into_iter().map(|(k, v)| (k, v.unknown_to_null())).collect();
        match self {
            Value::Unknown => Value::Null,
            Value::List(items) => Value::List(all(items)),
            Value::Set(items) => Value::Set(all(items)),
            Value::Tuple(items) => Value::Tuple(all(items)),
            Value::Map(entries) => Value::Map(all_map(entries)),
            Value::Object(entries) => Value::Object(all_map(entries)),
            Value::Dynamic(ty, inner) => Value::Dynamic(ty, Box::new(inner.unknown_to_null())),
            v => v,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self.unwrap_dynamic() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self.unwrap_dynamic() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn as_number(&self) -> Option<Number> {
        match self.unwrap_dynamic() {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as an `i64`, if this is a number that is a whole `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(|n| n.as_i64())
    }

    /// The number as an `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().map(|n| n.as_f64())
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self.unwrap_dynamic() {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The elements, if this is a set.
    pub fn as_set(&self) -> Option<&[Value]> {
        match self.unwrap_dynamic() {
            Value::Set(items) => Some(items),
            _ => None,
        }
    }

    /// The elements, if this is a list, set or tuple.
    pub fn elements(&self) -> Option<&[Value]> {
        match self.unwrap_dynamic() {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unwrap_dynamic() {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The attributes, if this is an object.
    pub fn as_object(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unwrap_dynamic() {
            Value::Object(attrs) => Some(attrs),
            _ => None,
        }
    }

    /// An attribute of an object (`None` if this is not an object or has no such attribute).
    pub fn get(&self, attr: &str) -> Option<&Value> {
        self.as_object().and_then(|attrs| attrs.get(attr))
    }

    /// An attribute of an object, mutably.
    pub fn get_mut(&mut self, attr: &str) -> Option<&mut Value> {
        match self.unwrap_dynamic_mut() {
            Value::Object(attrs) => attrs.get_mut(attr),
            _ => None,
        }
    }

    /// The type this value evidently has, used when a value that is not a
    /// [`Value::Dynamic`] is encoded against `dynamic`. `None` when it cannot be told:
    /// null, unknown, an empty or mixed collection, or anything containing those.
    pub fn implied_type(&self) -> Option<Type> {
        fn common(items: &[Value]) -> Option<Type> {
            let (first, rest) = items.split_first()?;
            let ty = first.implied_type()?;
            rest.iter().all(|v| v.implied_type().as_ref() == Some(&ty)).then_some(ty)
        }
        match self {
            Value::Null | Value::Unknown => None,
            Value::Bool(_) => Some(Type::Bool),
            Value::Number(_) => Some(Type::Number),
            Value::String(_) => Some(Type::String),
            Value::List(items) => Some(Type::list(common(items)?)),
            Value::Set(items) => Some(Type::set(common(items)?)),
            Value::Map(entries) => {
                let items: Vec<Value> = entries.values().cloned().collect();
                Some(Type::map(common(&items)?))
            }
            Value::Object(attrs) => Some(Type::Object(
                attrs.iter().map(|(k, v)| Some((k.clone(), v.implied_type()?))).collect::<Option<_>>()?,
            )),
            Value::Tuple(items) => Some(Type::Tuple(items.iter().map(Value::implied_type).collect::<Option<_>>()?)),
            Value::Dynamic(ty, _) => Some(ty.clone()),
        }
    }

    /// A short description of what the value is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown => "unknown",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Tuple(_) => "tuple",
            Value::Dynamic(..) => "dynamic value",
        }
    }
}

/// An error encoding or decoding a value. `path` is where in the value the problem is, as
/// Terraform shows attribute paths (`spec.instance_ids[2]`, `tags["env"]`); it is empty for
/// the value as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input or value is not of the kind the type requires.
    #[error("{}: expected {expected}, found {found}", show(path))]
    Mismatch { path: String, expected: String, found: String },
    /// An object has an attribute its type does not have; `path` is the object's path.
    #[error("{}: unsupported attribute {name:?}", show(path))]
    UnexpectedAttribute { path: String, name: String },
    /// An unknown value where only known values can be written (stored state).
    #[error("{}: value is unknown, and unknown values cannot be stored", show(path))]
    UnknownValue { path: String },
    /// The input ends in the middle of a value.
    #[error("{}: unexpected end of input", show(path))]
    Truncated { path: String },
    /// A number the provider cannot hold exactly (see [`NumberError::Inexact`]); `attribute` is
    /// where it is, for the diagnostic.
    #[error("{}: the number {text} has more digits or range than this provider can hold exactly", show(path))]
    InexactNumber { path: String, attribute: AttributePath, text: String },
    /// Anything else that is malformed (invalid UTF-8, a bad type specification, trailing
    /// bytes, invalid JSON).
    #[error("{}: {detail}", show(path))]
    Invalid { path: String, detail: String },
}

fn show(path: &str) -> &str {
    if path.is_empty() {
        "<root>"
    } else {
        path
    }
}

impl CodecError {
    /// Where the problem is (empty for the value as a whole).
    pub fn path(&self) -> &str {
        match self {
            CodecError::Mismatch { path, .. }
            | CodecError::UnexpectedAttribute { path, .. }
            | CodecError::UnknownValue { path }
            | CodecError::Truncated { path }
            | CodecError::InexactNumber { path, .. }
            | CodecError::Invalid { path, .. } => path,
        }
    }
}

/// One step of a [`Trail`].
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Attr(String),
    Index(usize),
    Key(String),
}

/// The path of the value being encoded or decoded, kept as a stack by the codecs and
/// rendered only when an error is reported.
#[derive(Debug, Default)]
pub(crate) struct Trail(Vec<Step>);

impl Trail {
    pub(crate) fn push(&mut self, step: Step) {
        self.0.push(step);
    }

    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    /// Renders like Terraform: `a.b[2]["key"]`.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.0 {
            match step {
                Step::Attr(name) if out.is_empty() => out.push_str(name),
                Step::Attr(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
                Step::Key(key) => out.push_str(&format!("[{key:?}]")),
            }
        }
        out
    }

    pub(crate) fn mismatch(&self, expected: impl fmt::Display, found: impl fmt::Display) -> CodecError {
        CodecError::Mismatch { path: self.render(), expected: expected.to_string(), found: found.to_string() }
    }

    /// The error for a number text that [`Number::parse`] refused.
    pub(crate) fn number_error(&self, error: NumberError, text: &str) -> CodecError {
        match error {
            NumberError::NotANumber => self.mismatch(Type::Number, format!("string {text:?}")),
            NumberError::Inexact => CodecError::InexactNumber {
                path: self.render(),
                attribute: self.attribute_path(),
                text: text.to_string(),
            },
        }
    }

    /// The trail as a diagnostic's attribute path (a set element's index stands for the element).
    pub(crate) fn attribute_path(&self) -> AttributePath {
        let steps = self.0.iter().map(|step| match step {
            Step::Attr(name) => PathStep::Attribute(name.clone()),
            Step::Index(i) => PathStep::Index(*i as i64),
            Step::Key(key) => PathStep::Key(key.clone()),
        });
        AttributePath { steps: steps.collect() }
    }

    pub(crate) fn invalid(&self, detail: impl fmt::Display) -> CodecError {
        CodecError::Invalid { path: self.render(), detail: detail.to_string() }
    }

    pub(crate) fn unexpected_attribute(&self, name: &str) -> CodecError {
        CodecError::UnexpectedAttribute { path: self.render(), name: name.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_type() -> Type {
        Type::object([
            ("name", Type::String),
            ("count", Type::Number),
            ("ok", Type::Bool),
            ("any", Type::Dynamic),
            ("ids", Type::list(Type::String)),
            ("tags", Type::map(Type::String)),
            ("ports", Type::set(Type::Number)),
            ("pair", Type::tuple([Type::String, Type::Bool])),
            ("nested", Type::list(Type::object([("x", Type::Number)]))),
        ])
    }

    #[test]
    fn type_json_round_trip() {
        let ty = sample_type();
        let json = ty.to_json();
        assert_eq!(Type::from_json(&json).unwrap(), ty);
        let text = String::from_utf8(ty.to_json_bytes()).unwrap();
        // Sorted attribute names, compact, exactly like cty's MarshalJSON.
        assert!(text.starts_with(r#"["object",{"any":"dynamic","count":"number","ids":["list","string"],"#));
        assert!(text.contains(r#""nested":["list",["object",{"x":"number"}]]"#));
        assert!(text.contains(r#""pair":["tuple",["string","bool"]]"#));
        assert!(text.contains(r#""ports":["set","number"]"#));
        assert!(!text.contains(' '));
    }

    #[test]
    fn type_json_primitives_and_optional_attrs() {
        assert_eq!(Type::String.to_json_bytes(), br#""string""#);
        assert_eq!(Type::from_json(&json!("dynamic")).unwrap(), Type::Dynamic);
        let with_optional = json!(["object", {"a": "string", "b": "number"}, ["b"]]);
        assert_eq!(Type::from_json(&with_optional).unwrap(), Type::object([("a", Type::String), ("b", Type::Number)]));
        assert_eq!(Type::from_json(&json!(["map", ["set", "bool"]])).unwrap(), Type::map(Type::set(Type::Bool)));
    }

    #[test]
    fn type_json_rejects_garbage() {
        for bad in [
            json!("integer"),
            json!(["list"]),
            json!(["list", "string", "extra"]),
            json!(["object", ["a"]]),
            json!(["object", {"a": "string"}, "b"]),
            json!(["tuple", "string"]),
            json!(["frob", "string"]),
            json!(42),
            json!(["list", "strin"]),
        ] {
            let err = Type::from_json(&bad).unwrap_err();
            assert!(matches!(err, CodecError::Invalid { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn type_display() {
        assert_eq!(Type::list(Type::map(Type::String)).to_string(), "list of map of string");
        assert_eq!(sample_type().to_string(), "object");
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(Number::Int(3), Number::Float(3.0));
        assert_eq!(Number::Float(3.0), Number::Int(3));
        assert_ne!(Number::Int(3), Number::Float(3.5));
        assert_ne!(Number::Int(i64::MAX), Number::Float(9_223_372_036_854_775_808.0));
        assert_ne!(Number::Int((1 << 53) + 1), Number::Float((1u64 << 53) as f64));
        assert_eq!(Number::Float(-0.0), Number::Int(0));
        assert_eq!(Number::Float(1.5).as_i64(), None);
        assert_eq!(Number::Float(-4.0).as_i64(), Some(-4));
        assert_eq!(Number::Float(1e300).as_i64(), None);
        assert_eq!(Number::Int(7).as_f64(), 7.0);
        assert_eq!(Number::Int(-12).to_string(), "-12");
        assert_eq!(Number::Float(1.5).to_string(), "1.5");
        assert_eq!(Number::Float(1e20).to_string(), "100000000000000000000");
    }

    #[test]
    fn number_parse() {
        assert_eq!(Number::parse("42"), Ok(Number::Int(42)));
        assert_eq!(Number::parse("-9223372036854775808"), Ok(Number::Int(i64::MIN)));
        assert_eq!(Number::parse("-1.25"), Ok(Number::Float(-1.25)));
        assert_eq!(Number::parse("1e3"), Ok(Number::Int(1000)));
        assert_eq!(Number::parse("0.1"), Ok(Number::Float(0.1)));
        assert_eq!(Number::parse("-0.000"), Ok(Number::Int(0)));
        assert_eq!(Number::parse("1.5e-7"), Ok(Number::Float(1.5e-7)));
        // 1.2e23 = 3 * 5^22 * 2^24 is an exact f64; 1e23 (5^23 > 2^53) is not.
        assert_eq!(Number::parse("120000000000000000000000"), Ok(Number::Float(1.2e23)));
        assert_eq!(Number::parse("100000000000000000000000"), Err(NumberError::Inexact));
        assert_eq!(Number::parse("1.5e30"), Err(NumberError::Inexact));
        assert_eq!(Number::parse("1e400"), Err(NumberError::Inexact));
        // 2^63 and 2^64 are exact f64s; 2^63 + 1 is not.
        assert_eq!(Number::parse("9223372036854775808"), Ok(Number::Float(9_223_372_036_854_775_808.0)));
        assert_eq!(Number::parse("18446744073709551616"), Ok(Number::Float(18_446_744_073_709_551_616.0)));
        for inexact in [
            "9223372036854775809",
            "123456789012345678901234567890",
            "0.10000000000000000001",
            "1.00000000000000001",
            "3.14159265358979323846",
            "1e400",
            "-1e400",
        ] {
            assert_eq!(Number::parse(inexact), Err(NumberError::Inexact), "{inexact:?}");
        }
        for bad in ["", "abc", "inf", "NaN", "1.2.3", " 1", "0x10", "-", ".", "e5", "1e", "--1"] {
            assert_eq!(Number::parse(bad), Err(NumberError::NotANumber), "{bad:?}");
        }
    }

    #[test]
    fn unsigned_integers_beyond_i64_are_kept_only_when_exact() {
        assert_eq!(Number::from_u64(7), Ok(Number::Int(7)));
        assert_eq!(Number::from_u64(1 << 63), Ok(Number::Float(9_223_372_036_854_775_808.0)));
        assert_eq!(Number::from_u64((1 << 63) + 1), Err(NumberError::Inexact));
        assert_eq!(Number::from_u64(u64::MAX), Err(NumberError::Inexact));
    }

    #[test]
    fn sets_compare_as_multisets() {
        let a = Value::set_of_strings(["a", "b", "c"]);
        let b = Value::set_of_strings(["c", "a", "b"]);
        assert_eq!(a, b);
        assert_ne!(a, Value::set_of_strings(["a", "b"]));
        assert_ne!(Value::set_of_strings(["a", "a", "b"]), Value::set_of_strings(["a", "b", "b"]));
        // Lists are ordered.
        assert_ne!(Value::list_of([Value::int(1), Value::int(2)]), Value::list_of([Value::int(2), Value::int(1)]));
        // A set is not a list even with the same elements.
        assert_ne!(Value::set_of([Value::int(1)]), Value::list_of([Value::int(1)]));
        // Nested: sets of objects.
        let o = |n| Value::object([("n", Value::int(n))]);
        assert_eq!(Value::set_of([o(1), o(2)]), Value::set_of([o(2), o(1)]));
    }

    #[test]
    fn accessors() {
        let mut v = Value::object([
            ("name", Value::string("x")),
            ("n", Value::int(5)),
            ("f", Value::float(2.5)),
            ("ok", Value::Bool(true)),
            ("ids", Value::list_of([Value::string("a")])),
            ("set", Value::set_of_strings(["s"])),
            ("tags", Value::map_of([("env", Value::string("prod"))])),
            ("dyn", Value::dynamic(Type::String, Value::string("d"))),
            ("dyn_null", Value::dynamic(Type::String, Value::Null)),
        ]);
        assert_eq!(v.get("name").and_then(Value::as_str), Some("x"));
        assert_eq!(v.get("n").and_then(Value::as_i64), Some(5));
        assert_eq!(v.get("n").and_then(Value::as_f64), Some(5.0));
        assert_eq!(v.get("f").and_then(Value::as_i64), None);
        assert_eq!(v.get("ok").and_then(Value::as_bool), Some(true));
        assert_eq!(v.get("ids").and_then(Value::as_list).map(<[_]>::len), Some(1));
        assert_eq!(v.get("ids").and_then(Value::as_set), None);
        assert_eq!(v.get("set").and_then(Value::elements).map(<[_]>::len), Some(1));
        assert_eq!(v.get("tags").and_then(Value::as_map).and_then(|m| m.get("env")), Some(&Value::string("prod")));
        assert_eq!(v.get("dyn").and_then(Value::as_str), Some("d"));
        assert!(v.get("dyn_null").unwrap().is_null());
        assert!(v.get("missing").is_none());
        assert!(Value::string("x").get("name").is_none());
        *v.get_mut("name").unwrap() = Value::string("y");
        assert_eq!(v.get("name").and_then(Value::as_str), Some("y"));
    }

    #[test]
    fn knownness() {
        let nested_unknown = Value::object([("a", Value::list_of([Value::map_of([("k", Value::Unknown)])]))]);
        assert!(!nested_unknown.is_known());
        assert!(!nested_unknown.is_unknown());
        assert!(Value::Unknown.is_unknown());
        assert!(Value::dynamic(Type::Number, Value::Unknown).is_unknown());
        assert!(Value::Null.is_known());
        let cleaned = nested_unknown.unknown_to_null();
        assert!(cleaned.is_known());
        assert_eq!(cleaned, Value::object([("a", Value::list_of([Value::map_of([("k", Value::Null)])]))]));
    }

    #[test]
    fn implied_types() {
        let v = Value::object([
            ("s", Value::string("x")),
            ("l", Value::list_of([Value::int(1), Value::float(2.5)])),
            ("t", Value::Tuple(vec![Value::Bool(true), Value::string("y")])),
        ]);
        assert_eq!(
            v.implied_type(),
            Some(Type::object([
                ("s", Type::String),
                ("l", Type::list(Type::Number)),
                ("t", Type::tuple([Type::Bool, Type::String])),
            ]))
        );
        assert_eq!(Value::list_of([]).implied_type(), None);
        assert_eq!(Value::list_of([Value::int(1), Value::string("x")]).implied_type(), None);
        assert_eq!(Value::object([("a", Value::Null)]).implied_type(), None);
        assert_eq!(Value::dynamic(Type::set(Type::Bool), Value::Null).implied_type(), Some(Type::set(Type::Bool)));
    }

    #[test]
    fn trail_renders_like_terraform() {
        let mut trail = Trail::default();
        assert_eq!(trail.render(), "");
        trail.push(Step::Attr("spec".into()));
        trail.push(Step::Attr("instance_ids".into()));
        trail.push(Step::Index(2));
        assert_eq!(trail.render(), "spec.instance_ids[2]");
        trail.pop();
        trail.pop();
        trail.push(Step::Key("env\"x".into()));
        assert_eq!(trail.render(), r#"spec["env\"x"]"#);
        let err = trail.mismatch(Type::Number, "string");
        assert_eq!(err.to_string(), r#"spec["env\"x"]: expected number, found string"#);
        assert_eq!(err.path(), r#"spec["env\"x"]"#);
        let root = Trail::default().invalid("bad");
        assert_eq!(root.to_string(), "<root>: bad");
    }
}
