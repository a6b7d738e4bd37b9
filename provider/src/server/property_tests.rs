//! Property tests: no value a user or the CLI can send makes the provider panic. Each property runs
//! on thousands of generated inputs: arbitrary strings (biased towards digits, units, separators
//! and non-ASCII characters, and long runs of them), arbitrary and mutated bytes, and whole
//! configurations of every schema with arbitrary values at every attribute.
//!
//! The inputs come from a seeded generator, so a failure is reproducible: the message names the
//! seed and the input, and `EFS_PROPERTY_SEED=<seed>` replays the run. A fixed seed by default
//! keeps the test command deterministic; set the variable to explore other inputs.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::framework::duration::{parse_duration, MAX_DURATION};
use crate::framework::schema::Block;
use crate::framework::validators::{ipv4_cidr_block, validate_block};
use crate::framework::value::Number;
use crate::framework::{json, msgpack, AttributePath, Diagnostics, Type, Value};

/// Inputs per property.
const CASES: usize = 3000;

fn seed() -> u64 {
    std::env::var("EFS_PROPERTY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_ef50)
}

/// Runs `property` on `CASES` inputs made by `generate`; a panic fails the test with the input.
fn check<T: std::fmt::Debug>(name: &str, generate: impl Fn(&mut StdRng) -> T, property: impl Fn(&T)) {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed ^ name.len() as u64);
    for case in 0..CASES {
        let input = generate(&mut rng);
        if catch_unwind(AssertUnwindSafe(|| property(&input))).is_err() {
            panic!("property {name:?} panicked on case {case} (EFS_PROPERTY_SEED={seed}) with input {input:?}");
        }
    }
}

/// Characters that matter to the parsers, and some that only look like they do.
const ALPHABET: &[char] = &[
    '0', '1', '2', '5', '9', '.', '/', ':', '-', '+', '_', '=', ',', '@', '*', ' ', 'h', 'm', 's', 'n', 'u', 'a', 'w',
    'A', 'Z', 'x', 'e', 'E', 'i', 'f', '"', '\\', '{', '}', '[', ']', '\n', '\t', '\0', 'µ', 'μ', 'é', 'ß', '٣',
    '\u{200b}', '\u{fffd}', '𝟘', '😀',
];

fn string(rng: &mut StdRng) -> String {
    let mut out = String::new();
    let parts = rng.random_range(0..6);
    for _ in 0..parts {
        let c = ALPHABET[rng.random_range(0..ALPHABET.len())];
        // Mostly single characters, sometimes a long run (huge numbers, long names).
        let repeat = if rng.random_bool(0.1) { rng.random_range(1..500) } else { rng.random_range(1..4) };
        out.extend(std::iter::repeat_n(c, repeat));
    }
    out
}

/// A valid-looking example with a few characters replaced, inserted or removed.
fn mutated(rng: &mut StdRng, examples: &[&str]) -> String {
    let mut chars: Vec<char> = examples[rng.random_range(0..examples.len())].chars().collect();
    for _ in 0..rng.random_range(0..4) {
        let at = rng.random_range(0..=chars.len());
        let c = ALPHABET[rng.random_range(0..ALPHABET.len())];
        match rng.random_range(0..3) {
            0 if at < chars.len() => chars[at] = c,
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.insert(at, c),
        }
    }
    chars.into_iter().collect()
}

const EXAMPLES: &[&str] = &[
    "1h30m",
    "9999999999999999h",
    "500ms",
    "10.0.0.0/16",
    "0.0.0.0/0",
    "arn:aws:iam::123456789012:role/terraform",
    "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
    "i-0123456789abcdef0",
    "/prometheus/data",
    "efs-prometheus.example",
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
    "us-east-1",
    "0755",
    "50Gi",
];

fn text(rng: &mut StdRng) -> String {
    if rng.random_bool(0.5) {
        string(rng)
    } else {
        mutated(rng, EXAMPLES)
    }
}

fn number(rng: &mut StdRng) -> Value {
    match rng.random_range(0..6) {
        0 => Value::int(rng.random()),
        1 => Value::int(rng.random_range(-3..70)),
        2 => Value::int([i64::MIN, i64::MAX, 0, -1, 4_294_967_296][rng.random_range(0..5)]),
        3 => Value::float(rng.random_range(-1e3..1e3)),
        4 => Value::float([1e300, -1e300, 0.5, f64::MIN_POSITIVE, 1.5][rng.random_range(0..5)]),
        _ => Value::float(rng.random::<f64>() * 1e20),
    }
}

/// An arbitrary value of `ty`, null and unknown included, at most `depth` levels deep.
fn value(rng: &mut StdRng, ty: &Type, depth: usize) -> Value {
    if rng.random_bool(0.08) {
        return if rng.random_bool(0.5) { Value::Null } else { Value::Unknown };
    }
    let elements = |rng: &mut StdRng, element: &Type| -> Vec<Value> {
        let count = if depth == 0 { 0 } else { rng.random_range(0..4) };
        (0..count).map(|_| value(rng, element, depth.saturating_sub(1))).collect()
    };
    match ty {
        Type::Bool => Value::Bool(rng.random()),
        Type::Number => number(rng),
        Type::String => Value::string(text(rng)),
        Type::Dynamic => Value::dynamic(Type::String, Value::string(text(rng))),
        Type::List(element) => Value::List(elements(rng, element)),
        Type::Set(element) => Value::Set(elements(rng, element)),
        Type::Map(element) => {
            let values = elements(rng, element);
            Value::Map(values.into_iter().map(|v| (text(rng), v)).collect())
        }
        Type::Object(attributes) => {
            Value::Object(attributes.iter().map(|(name, t)| (name.clone(), value(rng, t, depth))).collect())
        }
        Type::Tuple(types) => Value::Tuple(types.iter().map(|t| value(rng, t, depth)).collect()),
    }
}

/// Every schema the provider serves, with what checks its configurations beyond the validators.
/// A schema's checks across attributes (`validate` of the provider, a resource or a data source).
type CrossChecks = Box<dyn Fn(&Value, &mut Diagnostics)>;

fn schemas() -> Vec<(String, Block, CrossChecks)> {
    let mut out: Vec<(String, Block, CrossChecks)> =
        vec![("provider".into(), crate::provider_config::schema().block, Box::new(crate::provider_config::validate))];
    for resource in crate::resources::all() {
        let r = resource.clone();
        out.push((resource.type_name().into(), resource.schema().block, Box::new(move |v, d| r.validate(v, d))));
    }
    for data_source in crate::data_sources::all() {
        let ds = data_source.clone();
        out.push((data_source.type_name().into(), data_source.schema().block, Box::new(move |v, d| ds.validate(v, d))));
    }
    out
}

#[test]
fn durations_parse_or_fail_without_panicking() {
    check("parse_duration", text, |s| {
        if let Ok(d) = parse_duration(s) {
            assert!(d <= MAX_DURATION, "{s:?} parsed to {d:?}");
        }
    });
}

#[test]
fn cidr_blocks_and_numbers_parse_or_fail_without_panicking() {
    let cidr = ipv4_cidr_block();
    check("cidr", text, |s| {
        (cidr.check)(&Value::string(s.clone()), &AttributePath::root("cidr"), &mut Diagnostics::new())
    });
    check("number", text, |s| {
        let _ = Number::parse(s);
    });
    check("jsonencode_form", text, |s| {
        let _ = json::jsonencode_form(s);
    });
}

#[test]
fn every_configuration_of_every_schema_validates_without_panicking() {
    for (name, block, validate) in schemas() {
        let ty = block.value_type();
        check(
            &name,
            |rng| value(rng, &ty, 3),
            |config| {
                let mut diags = Diagnostics::new();
                validate_block(&block, config, None, &mut diags);
                if !config.is_null() && !config.is_unknown() {
                    validate(config, &mut diags);
                }
            },
        );
    }
}

#[test]
fn wire_values_decode_or_fail_without_panicking() {
    for (name, block, _) in schemas() {
        let ty = block.value_type();
        // A valid encoding of an arbitrary value, then cut, or with bytes changed or added.
        let wire = |rng: &mut StdRng, encode: fn(&Value, &Type) -> Option<Vec<u8>>| -> Vec<u8> {
            let mut bytes = encode(&value(rng, &ty, 2), &ty).unwrap_or_default();
            if bytes.is_empty() || rng.random_bool(0.1) {
                return (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
            }
            match rng.random_range(0..3) {
                0 => bytes.truncate(rng.random_range(0..bytes.len())),
                1 => {
                    for _ in 0..rng.random_range(1..4) {
                        let at = rng.random_range(0..bytes.len());
                        bytes[at] = rng.random();
                    }
                }
                _ => bytes.insert(rng.random_range(0..=bytes.len()), rng.random()),
            }
            bytes
        };
        check(
            &format!("msgpack {name}"),
            |rng| wire(rng, |v, t| msgpack::encode(v, t).ok()),
            |bytes| {
                let _ = msgpack::decode(bytes, &ty);
            },
        );
        check(
            &format!("json {name}"),
            |rng| wire(rng, |v, t| json::encode(&v.clone().unknown_to_null(), t).ok()),
            |bytes| {
                let _ = json::decode(bytes, &ty);
            },
        );
    }
    // The dynamic type carries its type on the wire: arbitrary type JSON must not panic either.
    check(
        "msgpack dynamic",
        |rng| (0..rng.random_range(0..48)).map(|_| rng.random::<u8>()).collect::<Vec<u8>>(),
        |b| {
            let _ = msgpack::decode(b, &Type::Dynamic);
        },
    );
    check("json type", text, |s| {
        if let Ok(j) = serde_json::from_str::<serde_json::Value>(s) {
            let _ = Type::from_json(&j);
        }
    });
}
