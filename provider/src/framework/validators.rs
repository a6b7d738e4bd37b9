//! Reusable attribute validators, and the walk that runs a schema's validators over a configuration.
//!
//! Validators see only known, non-null values: an unknown value (from another resource not yet
//! created) is checked again at apply time, when it is known.

use std::time::Duration;

use regex::Regex;

use super::duration::{format_duration, parse_duration};

use super::diagnostics::Diagnostics;
use super::path::AttributePath;
use super::schema::{Attribute, Block, Nesting, Validator};
use super::value::Value;

/// Runs every validator and deprecation check of `block` over `value`.
pub fn validate_block(block: &Block, value: &Value, path: Option<&AttributePath>, diags: &mut Diagnostics) {
    if value.is_null() || value.is_unknown() {
        return;
    }
    let at = |name: &str| match path {
        Some(p) => p.attr(name),
        None => AttributePath::root(name),
    };
    for attribute in &block.attributes {
        let Some(v) = value.get(&attribute.name) else {
            continue;
        };
        validate_attribute(attribute, v, &at(&attribute.name), diags);
    }
    for nested in &block.blocks {
        let Some(v) = value.get(&nested.name) else {
            continue;
        };
        let nested_path = at(&nested.name);
        for_each_nested(nested.nesting, v, &nested_path, |element, element_path| {
            validate_block(&nested.block, element, Some(element_path), diags)
        });
    }
}

fn validate_attribute(attribute: &Attribute, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    if value.is_null() || value.is_unknown() {
        return;
    }
    if let Some(message) = &attribute.deprecation {
        diags.warning_at(path.clone(), "Deprecated Attribute", message.clone());
    }
    for validator in &attribute.validators {
        (validator.check)(value, path, diags);
    }
    if let Some(nested) = &attribute.nested {
        for_each_nested(nested.nesting, value, path, |element, element_path| {
            if element.is_null() || element.is_unknown() {
                return;
            }
            for inner in &nested.attributes {
                if let Some(v) = element.get(&inner.name) {
                    validate_attribute(inner, v, &element_path.attr(&inner.name), diags);
                }
            }
        });
    }
}

/// Calls `f` for each object of a nested block or nested attribute value, with its path.
fn for_each_nested(nesting: Nesting, value: &Value, path: &AttributePath, mut f: impl FnMut(&Value, &AttributePath)) {
    match (nesting, value) {
        (Nesting::Single | Nesting::Group, v) => f(v, path),
        (Nesting::List | Nesting::Set, Value::List(items) | Value::Set(items)) => {
            for (i, item) in items.iter().enumerate() {
                f(item, &path.index(i));
            }
        }
        (Nesting::Map, Value::Map(items)) => {
            for (key, item) in items {
                f(item, &path.key(key));
            }
        }
        _ => {}
    }
}

/// A string whose length (in characters) lies in `min..=max`.
pub fn string_length(min: usize, max: usize) -> Validator {
    Validator::new(format!("length between {min} and {max}"), move |value, path, diags| {
        if let Some(s) = value.as_str() {
            let len = s.chars().count();
            if len < min || len > max {
                diags.error_at(
                    path.clone(),
                    "Invalid Attribute Value Length",
                    format!("{path} must be between {min} and {max} characters long; got {len} characters: {s:?}."),
                );
            }
        }
    })
}

/// A string matching `pattern` (anchored by the caller); `what` explains the rule to the user.
///
/// The regular expression is compiled the first time the validator runs, not when the schema is
/// built: the CLI starts the provider several times per command, mostly for calls that validate
/// nothing, and compiling every pattern up front was nearly all of a start-up.
pub fn string_matches(pattern: &str, what: &str) -> Validator {
    let pattern = pattern.to_string();
    let regex = std::sync::OnceLock::new();
    let what = what.to_string();
    Validator::new(what.clone(), move |value, path, diags| {
        if let Some(s) = value.as_str() {
            let regex: &Regex =
                regex.get_or_init(|| Regex::new(&pattern).expect("validator pattern is a valid regular expression"));
            if !regex.is_match(s) {
                diags.error_at(path.clone(), "Invalid Attribute Value", format!("{path} {what}; got {s:?}."));
            }
        }
    })
}

/// A string that is one of `allowed`.
pub fn one_of(allowed: &'static [&'static str]) -> Validator {
    Validator::new(format!("one of {allowed:?}"), move |value, path, diags| {
        if let Some(s) = value.as_str() {
            if !allowed.contains(&s) {
                let list = allowed.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
                diags.error_at(
                    path.clone(),
                    "Invalid Attribute Value",
                    format!("{path} must be one of {list}; got {s:?}."),
                );
            }
        }
    })
}

/// A whole number in `min..=max`.
pub fn int_between(min: i64, max: i64) -> Validator {
    Validator::new(format!("between {min} and {max}"), move |value, path, diags| match value.as_f64() {
        Some(n) if n.fract() != 0.0 => {
            diags.error_at(path.clone(), "Invalid Attribute Value", format!("{path} must be a whole number; got {n}."))
        }
        Some(n) if n < min as f64 || n > max as f64 => diags.error_at(
            path.clone(),
            "Invalid Attribute Value",
            format!("{path} must be between {min} and {max}; got {n}."),
        ),
        _ => {}
    })
}

/// A list, set or map with at least one element: where an empty collection would change what the
/// argument means (no nodes, or a policy widened to every resource), `advice` says what to write.
pub fn non_empty(advice: &'static str) -> Validator {
    Validator::new("at least one element", move |value, path, diags| {
        let empty = match value {
            Value::List(items) | Value::Set(items) => items.is_empty(),
            Value::Map(items) => items.is_empty(),
            _ => false,
        };
        if empty {
            diags.error_at(path.clone(), "Empty Collection", format!("{path} is empty: {advice}"));
        }
    })
}

/// A list, set or map of at most `max` elements; `why` names the limit's owner.
pub fn at_most_elements(max: usize, why: &'static str) -> Validator {
    Validator::new(format!("at most {max} elements"), move |value, path, diags| {
        let count = match value {
            Value::List(items) | Value::Set(items) => items.len(),
            Value::Map(items) => items.len(),
            _ => 0,
        };
        if count > max {
            diags.error_at(
                path.clone(),
                "Too Many Elements",
                format!("{path} has {count} elements; {why} at most {max}. Remove some."),
            );
        }
    })
}

/// Applies `inner` to every known element of a list, set or map.
pub fn each_element(inner: Validator) -> Validator {
    Validator::new(format!("each element: {}", inner.description), move |value, path, diags| {
        let check = |element: &Value, element_path: &AttributePath, diags: &mut Diagnostics| {
            if !element.is_null() && !element.is_unknown() {
                (inner.check)(element, element_path, diags);
            }
        };
        match value {
            Value::List(items) | Value::Set(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(item, &path.index(i), diags);
                }
            }
            Value::Map(items) => {
                for (key, item) in items {
                    check(item, &path.key(key), diags);
                }
            }
            _ => {}
        }
    })
}

/// An IPv4 CIDR block in network form: four octets of 0 to 255, a prefix of 0 to 32, and no host bits
/// set (AWS would store `10.0.0.0/16` for `10.0.0.1/16`, and the next plan would show a change).
pub fn ipv4_cidr_block() -> Validator {
    Validator::new("an IPv4 CIDR block such as 10.0.0.0/16", |value, path, diags| {
        if let Some(s) = value.as_str() {
            if let Err(problem) = parse_ipv4_cidr(s) {
                diags.error_at(
                    path.clone(),
                    "Invalid CIDR Block",
                    format!("{path} must be an IPv4 CIDR block such as 10.0.0.0/16; {s:?} {problem}."),
                );
            }
        }
    })
}

/// Parses `a.b.c.d/n`; the error says what is wrong and, for host bits, which block was meant.
fn parse_ipv4_cidr(text: &str) -> Result<(u32, u32), String> {
    let (address, prefix) = text.split_once('/').ok_or("has no /prefix length (e.g. /16)")?;
    let prefix: u32 = match prefix.parse() {
        Ok(n) if n <= 32 && !prefix.starts_with('+') => n,
        _ => return Err(format!("has prefix length {prefix:?}; it must be 0 to 32")),
    };
    let octets: Vec<&str> = address.split('.').collect();
    if octets.len() != 4 {
        return Err(format!("has {} octets; an IPv4 address has 4", octets.len()));
    }
    let mut bits = 0u32;
    for octet in octets {
        match octet.parse::<u32>() {
            Ok(n) if n <= 255 && !octet.is_empty() && octet.len() <= 3 && octet.bytes().all(|b| b.is_ascii_digit()) => {
                bits = bits << 8 | n
            }
            _ => return Err(format!("has octet {octet:?}; each octet must be 0 to 255")),
        }
    }
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    if bits & !mask != 0 {
        let network = std::net::Ipv4Addr::from(bits & mask);
        return Err(format!("has host bits set; write the network address, {network}/{prefix}"));
    }
    Ok((bits, prefix))
}

/// A Go-style duration within `min..=max`, as a deadline needs: zero would give up at once, and a
/// value beyond `max` is a typo rather than a wait anyone means.
pub fn duration_between(min: Duration, max: Duration) -> Validator {
    let (low, high) = (format_duration(min), format_duration(max));
    Validator::new(format!("a duration between {low} and {high}"), move |value, path, diags| {
        let Some(s) = value.as_str() else { return };
        match parse_duration(s) {
            Err(problem) => diags.error_at(
                path.clone(),
                "Invalid Duration",
                format!("{path} must be a duration such as \"30s\", \"20m\" or \"1h30m\"; {problem}."),
            ),
            Ok(d) if d < min || d > max => diags.error_at(
                path.clone(),
                "Invalid Duration",
                format!("{path} must be between {low} and {high}; got {s:?}. Use for example \"30m\", or leave it out for the default."),
            ),
            Ok(_) => {}
        }
    })
}

/// A Go-style duration such as `30m`, `1h30m` or `90s`; the range is the caller's rule.
pub fn duration() -> Validator {
    Validator::new("a duration such as 30m or 1h30m", |value, path, diags| {
        if let Some(s) = value.as_str() {
            if let Err(problem) = parse_duration(s) {
                diags.error_at(
                    path.clone(),
                    "Invalid Duration",
                    format!("{path} must be a duration such as \"30s\", \"20m\" or \"1h30m\"; {problem}."),
                );
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schema::{Attribute, NestedBlock};
    use crate::framework::value::Type;

    fn errors(diags: &Diagnostics) -> Vec<String> {
        diags
            .iter()
            .map(|d| format!("{}: {}", d.path.as_ref().map(|p| p.to_string()).unwrap_or_default(), d.detail))
            .collect()
    }

    #[test]
    fn runs_validators_with_paths_in_nested_blocks() {
        let block = Block::new("test")
            .attribute(Attribute::required("name", Type::String).validator(string_length(1, 3)))
            .attribute(
                Attribute::optional("ids", Type::set(Type::String))
                    .validator(each_element(string_matches("^i-[0-9a-f]+$", "must be an instance ID"))),
            )
            .block(NestedBlock::new(
                "opts",
                Nesting::Single,
                Block::new("opts").attribute(Attribute::optional("mode", Type::String).validator(one_of(&["a", "b"]))),
            ));
        let value = Value::object([
            ("name", Value::string("toolong")),
            ("ids", Value::set_of_strings(["i-0abc", "bogus"])),
            ("opts", Value::object([("mode", Value::string("c"))])),
        ]);
        let mut diags = Diagnostics::new();
        validate_block(&block, &value, None, &mut diags);
        let found = errors(&diags);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("name: name must be between 1 and 3"), "{found:?}");
        assert!(found[1].starts_with("ids[1]: ids[1] must be an instance ID"), "{found:?}");
        assert!(found[2].starts_with("opts.mode: opts.mode must be one of \"a\", \"b\""), "{found:?}");
    }

    #[test]
    fn cidr_blocks_need_valid_octets_prefix_and_no_host_bits() {
        assert_eq!(parse_ipv4_cidr("10.0.0.0/16"), Ok((0x0a00_0000, 16)));
        assert_eq!(parse_ipv4_cidr("0.0.0.0/0"), Ok((0, 0)));
        assert_eq!(parse_ipv4_cidr("192.168.1.7/32"), Ok((0xc0a8_0107, 32)));
        for (bad, why) in [
            ("10.0.0.0", "no /prefix"),
            ("10.0.0.0/33", "prefix length \"33\""),
            ("10.0.0.0/-1", "prefix length"),
            ("10.0.0/16", "3 octets"),
            ("10.256.0.0/16", "octet \"256\""),
            ("999.1.1.1/8", "octet \"999\""),
            ("10.0.0.x/24", "octet \"x\""),
            ("10.0.0.1/16", "write the network address, 10.0.0.0/16"),
        ] {
            let problem = parse_ipv4_cidr(bad).expect_err(bad);
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn skips_unknown_and_null_values() {
        let block = Block::new("t").attribute(Attribute::optional("n", Type::Number).validator(int_between(1, 2)));
        for value in [Value::Unknown, Value::Null] {
            let mut diags = Diagnostics::new();
            validate_block(&block, &Value::object([("n", value)]), None, &mut diags);
            assert!(diags.is_empty());
        }
        let mut diags = Diagnostics::new();
        validate_block(&block, &Value::object([("n", Value::int(3))]), None, &mut diags);
        assert!(diags.has_errors());
    }
}
