//! `tags` / `tags_all`, as terraform-provider-aws has them: the resource's own tags merged over the
//! provider's `default_tags` (the resource wins on the same key) into the computed `tags_all`,
//! which is what is applied to AWS.

use std::collections::BTreeMap;

use crate::aws::tags::{tag_map, MAX_KEY_LENGTH, MAX_TAGS, MAX_VALUE_LENGTH};
use crate::framework::schema::Attribute;
use crate::framework::{AttributePath, PlanContext, Type, Value};
use crate::resources::ownership::OWNER_TAG;

/// Tag key that marks an AWS object as made by this provider for one resource instance; the value
/// identifies the instance. A create that finds an object carrying its own mark adopts it (the
/// previous run crashed after creating it) instead of failing or creating a duplicate.
pub const MANAGED_BY_TAG: &str = "terraform-provider-efs:managed-by";

/// Tag keys only the provider may set: its marks of which resource made an object and which state
/// owns it. A configuration that set them could claim another state's objects.
pub const RESERVED_TAG_KEYS: [&str; 2] = [MANAGED_BY_TAG, OWNER_TAG];

/// Tag keys the provider sets itself on the objects it makes (its marks, and the `Name` of a file
/// system and of its security group), which count against AWS's limit unless the configuration
/// sets them.
pub const PROVIDER_TAG_KEYS: [&str; 3] = [MANAGED_BY_TAG, OWNER_TAG, "Name"];

/// Tag keys starting with this are AWS's own (`aws:elasticfilesystem:default-backup`,
/// `aws:cloudformation:stack-id`, ...): AWS sets them and refuses to change or remove them. They are
/// never part of `tags_all`, and never untagged (terraform-provider-aws: `IgnoreAWS()`).
pub const SYSTEM_TAG_PREFIX: &str = "aws:";

/// True for a key AWS reserves for itself, see [`SYSTEM_TAG_PREFIX`].
pub fn is_system_key(key: &str) -> bool {
    key.starts_with(SYSTEM_TAG_PREFIX)
}

/// The tags without AWS's own.
pub fn without_system_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter().filter(|(k, _)| !is_system_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub fn tags_attribute() -> Attribute {
    Attribute::optional("tags", Type::map(Type::String))
        .description(format!(
            "Tags for the AWS objects this resource creates, merged over the provider's `default_tags`. Keys are 1 to \
             {MAX_KEY_LENGTH} characters and may not start with `aws:`, values at most {MAX_VALUE_LENGTH}; together \
             with `default_tags` and the provider's own tags ({}) at most {MAX_TAGS}.",
            PROVIDER_TAG_KEYS.join(", ")
        ))
        .validator(tag_map(&RESERVED_TAG_KEYS, &PROVIDER_TAG_KEYS))
}

pub fn tags_all_attribute() -> Attribute {
    Attribute::computed("tags_all", Type::map(Type::String))
        .description("All tags applied: the provider's `default_tags` merged with `tags`.")
}

/// The tags map of a value's `tags` attribute (null reads as empty).
pub fn tags_of(value: &Value) -> BTreeMap<String, String> {
    value
        .get("tags")
        .and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}

/// `default_tags` overlaid with the resource's own tags.
pub fn merge(default_tags: &BTreeMap<String, String>, own: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = default_tags.clone();
    all.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

pub fn to_value(tags: &BTreeMap<String, String>) -> Value {
    Value::Map(tags.iter().map(|(k, v)| (k.clone(), Value::string(v.clone()))).collect())
}

/// Plans `tags_all` from the configuration's `tags` and the provider's `default_tags`; unknown when
/// the configured tags are not known yet.
pub fn plan_tags_all(plan: &mut PlanContext<'_>, default_tags: &BTreeMap<String, String>) {
    if plan.is_destroy() {
        return;
    }
    let configured = plan.config.get("tags").cloned().unwrap_or(Value::Null);
    if !configured.is_known() {
        plan.set("tags_all", Value::Unknown);
        return;
    }
    let all = merge(default_tags, &tags_of(plan.config));
    for reserved in RESERVED_TAG_KEYS.iter().filter(|k| all.contains_key(**k)) {
        plan.diags.error_at(
            AttributePath::root("tags"),
            "Reserved Tag",
            format!(
                "{reserved} is the provider's own tag, set on every object it makes; remove it from tags and the \
                 provider's default_tags."
            ),
        );
    }
    let added = PROVIDER_TAG_KEYS.iter().filter(|k| !all.contains_key(**k)).count();
    if all.len() + added > MAX_TAGS {
        plan.diags.error_at(
            AttributePath::root("tags"),
            "Too Many Tags",
            format!(
                "tags and the provider's default_tags make {} tags, and the provider adds {added} of its own ({}): \
                 AWS keeps at most {MAX_TAGS} on an object. Remove some from tags or default_tags.",
                all.len(),
                PROVIDER_TAG_KEYS.join(", ")
            ),
        );
    }
    plan.set("tags_all", to_value(&all));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_tags_are_left_out() {
        let read = BTreeMap::from([
            ("aws:elasticfilesystem:default-backup".to_string(), "enabled".to_string()),
            ("team".to_string(), "a".to_string()),
            ("xaws:y".to_string(), "b".to_string()),
        ]);
        assert_eq!(without_system_tags(&read).keys().collect::<Vec<_>>(), ["team", "xaws:y"]);
    }

    #[test]
    fn own_tags_win_over_defaults() {
        let defaults = BTreeMap::from([("team".to_string(), "a".to_string()), ("env".to_string(), "dev".to_string())]);
        let own = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let all = merge(&defaults, &own);
        assert_eq!(all["env"], "prod");
        assert_eq!(all["team"], "a");
    }
}
