//! What EFS, EC2 and IAM accept as tags: the same limits for all three, checked at plan so that
//! no object is made with tags AWS then refuses.

use crate::framework::schema::Validator;

/// The most tags EFS, EC2 and IAM each keep on one object.
pub const MAX_TAGS: usize = 50;
/// AWS's limits on one tag, in characters.
pub const MAX_KEY_LENGTH: usize = 128;
pub const MAX_VALUE_LENGTH: usize = 256;

/// What EFS and IAM accept in a tag (EC2 accepts more): letters, digits and spaces in any
/// language, and `_ . : / = + - @`.
fn tag_charset() -> &'static regex::Regex {
    static CHARSET: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    CHARSET.get_or_init(|| regex::Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("tag pattern is valid"))
}

/// Why AWS would refuse this tag, if it would.
pub fn tag_problem(key: &str, value: &str) -> Option<String> {
    let key_len = key.chars().count();
    let value_len = value.chars().count();
    if key.is_empty() || key_len > MAX_KEY_LENGTH {
        Some(format!("the key must be 1 to {MAX_KEY_LENGTH} characters long; got {key_len}"))
    } else if key.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:")) {
        Some("keys starting with \"aws:\" are reserved for AWS's own tags; choose another key".to_string())
    } else if !tag_charset().is_match(key) {
        Some("the key may contain only letters, digits, spaces and _ . : / = + - @".to_string())
    } else if value_len > MAX_VALUE_LENGTH {
        Some(format!("the value must be at most {MAX_VALUE_LENGTH} characters long; got {value_len}"))
    } else if !tag_charset().is_match(value) {
        Some("the value may contain only letters, digits, spaces and _ . : / = + - @".to_string())
    } else {
        None
    }
}

/// A map of tags AWS accepts: each tag by [`tag_problem`], none of the `reserved` keys (the
/// provider's own), and at most [`MAX_TAGS`] together with those of `provider_keys` the map does
/// not set (the tags the provider adds itself).
pub fn tag_map(reserved: &'static [&'static str], provider_keys: &'static [&'static str]) -> Validator {
    Validator::new("tags AWS accepts", move |value, path, diags| {
        let Some(tags) = value.as_map() else { return };
        for (key, tag) in tags {
            let Some(text) = tag.as_str() else { continue };
            let problem = if reserved.contains(&key.as_str()) {
                Some(format!("{key} is the provider's own tag, set on every object it makes; choose another key"))
            } else {
                tag_problem(key, text)
            };
            if let Some(problem) = problem {
                let at = path.key(key);
                diags.error_at(at.clone(), "Invalid Tag", format!("{at}: {problem}."));
            }
        }
        let added: Vec<&str> = provider_keys.iter().copied().filter(|k| !tags.contains_key(*k)).collect();
        if tags.len() + added.len() > MAX_TAGS {
            let own =
                if added.is_empty() { String::new() } else { format!(" and the provider adds {}", added.join(", ")) };
            diags.error_at(
                path.clone(),
                "Too Many Tags",
                format!("{path} has {} tags{own}: AWS keeps at most {MAX_TAGS} on an object. Remove some.", tags.len()),
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{AttributePath, Diagnostics, Value};

    #[test]
    fn tags_aws_refuses_are_found() {
        assert_eq!(tag_problem("team", "observability"), None);
        assert_eq!(tag_problem("Name", ""), None);
        assert_eq!(tag_problem("équipe", "données 1"), None);
        for (key, value, why) in [
            ("", "x", "1 to 128"),
            (&*"k".repeat(129), "x", "1 to 128"),
            ("aws:createdBy", "x", "reserved"),
            ("AWS:x", "x", "reserved"),
            ("a*b", "x", "only letters"),
            ("k", &*"v".repeat(257), "at most 256"),
            ("k", "semi;colon", "only letters"),
        ] {
            let problem = tag_problem(key, value).unwrap_or_else(|| panic!("{key:?}={value:?} accepted"));
            assert!(problem.contains(why), "{key:?}: {problem}");
        }
    }

    fn check(validator: &Validator, tags: usize, extra: &[(&str, &str)]) -> Vec<String> {
        let mut map: Vec<(String, Value)> = (0..tags).map(|i| (format!("k{i}"), Value::string("v"))).collect();
        map.extend(extra.iter().map(|(k, v)| (k.to_string(), Value::string(*v))));
        let mut diags = Diagnostics::new();
        (validator.check)(&Value::Map(map.into_iter().collect()), &AttributePath::root("tags"), &mut diags);
        diags.iter().map(|d| d.detail.clone()).collect()
    }

    #[test]
    fn the_count_leaves_room_for_the_providers_own_tags() {
        let validator = tag_map(&["own"], &["own", "Name"]);
        assert!(check(&validator, 48, &[]).is_empty());
        assert!(check(&validator, 49, &[])[0].contains("has 49 tags and the provider adds own, Name"));
        // A Name set by the configuration replaces the provider's.
        assert!(check(&validator, 48, &[("Name", "prom")]).is_empty());
        assert!(check(&validator, 0, &[("own", "x")])[0].contains("tags[\"own\"]: own is the provider's own tag"));
    }
}
