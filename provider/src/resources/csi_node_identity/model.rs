//! The resource's typed model and its conversion to and from framework values, in one place.

use std::collections::{BTreeMap, BTreeSet};

use super::schema::defaults;
use crate::framework::Value;

/// `metadata_options { ... }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataOptions {
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i64>,
}

/// One entry of the computed `associations` map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssociationState {
    pub association_id: String,
    pub state: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub name: String,
    pub role_name: String,
    pub policy_name: String,
    pub instance_profile_name: String,
    pub path: String,
    pub instance_ids: BTreeSet<String>,
    pub policy_json: String,
    /// `None` when the configuration leaves the attribute out (kept apart from an empty set).
    pub additional_policy_arns: Option<BTreeSet<String>>,
    pub replace_existing_association: bool,
    pub metadata_options: Option<MetadataOptions>,
    pub tags: Option<BTreeMap<String, String>>,
    pub tags_all: BTreeMap<String, String>,
    /// The `timeouts` block, kept as given.
    pub timeouts: Option<Value>,
    pub role_arn: String,
    /// The role's trust policy as IAM holds it (the canonical text when it means the same).
    pub assume_role_policy: String,
    pub policy_arn: String,
    pub instance_profile_arn: String,
    pub associations: BTreeMap<String, AssociationState>,
    /// The owner id (see `resources::ownership`); `None` in a state from before owner ids, or after
    /// an import of objects without the owner tag.
    pub owner_id: Option<String>,
}

fn string(value: &Value, name: &str) -> String {
    value.get(name).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn string_set(value: Option<&Value>) -> Option<BTreeSet<String>> {
    value.and_then(Value::elements).map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

fn string_map(value: Option<&Value>) -> Option<BTreeMap<String, String>> {
    value
        .and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
}

fn map_value(map: &BTreeMap<String, String>) -> Value {
    Value::Map(map.iter().map(|(k, v)| (k.clone(), Value::string(v.clone()))).collect())
}

fn empty_to_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        Value::string(text)
    }
}

impl Model {
    /// Reads a known configuration, plan or state value.
    pub fn from_value(value: &Value) -> Model {
        let metadata_options =
            value.get("metadata_options").filter(|m| m.is_known() && !m.is_null()).map(|m| MetadataOptions {
                http_tokens: m.get("http_tokens").and_then(Value::as_str).map(str::to_string),
                http_put_response_hop_limit: m.get("http_put_response_hop_limit").and_then(Value::as_i64),
            });
        let associations = value
            .get("associations")
            .and_then(Value::as_map)
            .map(|m| {
                m.iter()
                    .map(|(id, a)| {
                        (
                            id.clone(),
                            AssociationState { association_id: string(a, "association_id"), state: string(a, "state") },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Model {
            name: string(value, "name"),
            role_name: string(value, "role_name"),
            policy_name: string(value, "policy_name"),
            instance_profile_name: string(value, "instance_profile_name"),
            path: value.get("path").and_then(Value::as_str).unwrap_or(defaults::PATH).to_string(),
            instance_ids: string_set(value.get("instance_ids")).unwrap_or_default(),
            policy_json: string(value, "policy_json"),
            additional_policy_arns: string_set(value.get("additional_policy_arns")),
            replace_existing_association: value
                .get("replace_existing_association")
                .and_then(Value::as_bool)
                .unwrap_or(defaults::REPLACE_EXISTING_ASSOCIATION),
            metadata_options,
            tags: string_map(value.get("tags")),
            tags_all: string_map(value.get("tags_all")).unwrap_or_default(),
            timeouts: value.get("timeouts").filter(|t| !t.is_null()).cloned(),
            role_arn: string(value, "role_arn"),
            assume_role_policy: string(value, "assume_role_policy"),
            policy_arn: string(value, "policy_arn"),
            instance_profile_arn: string(value, "instance_profile_arn"),
            associations,
            owner_id: value.get("owner_id").and_then(Value::as_str).map(str::to_string),
        }
    }

    /// The state value. `id` is the role name, which is also the import id.
    pub fn to_value(&self) -> Value {
        let metadata_options = match &self.metadata_options {
            Some(m) => Value::object([
                ("http_tokens", m.http_tokens.clone().map(Value::string).unwrap_or(Value::Null)),
                ("http_put_response_hop_limit", m.http_put_response_hop_limit.map(Value::int).unwrap_or(Value::Null)),
            ]),
            None => Value::Null,
        };
        let associations = Value::Map(
            self.associations
                .iter()
                .map(|(id, a)| {
                    (
                        id.clone(),
                        Value::object([
                            ("association_id", Value::string(a.association_id.clone())),
                            ("state", Value::string(a.state.clone())),
                        ]),
                    )
                })
                .collect(),
        );
        Value::object([
            ("id", empty_to_null(&self.role_name)),
            ("name", Value::string(self.name.clone())),
            ("role_name", Value::string(self.role_name.clone())),
            ("policy_name", Value::string(self.policy_name.clone())),
            ("instance_profile_name", Value::string(self.instance_profile_name.clone())),
            ("path", Value::string(self.path.clone())),
            ("instance_ids", Value::set_of_strings(self.instance_ids.iter().cloned())),
            ("policy_json", Value::string(self.policy_json.clone())),
            (
                "additional_policy_arns",
                self.additional_policy_arns
                    .as_ref()
                    .map(|s| Value::set_of_strings(s.iter().cloned()))
                    .unwrap_or(Value::Null),
            ),
            ("replace_existing_association", Value::Bool(self.replace_existing_association)),
            ("metadata_options", metadata_options),
            ("tags", self.tags.as_ref().map(map_value).unwrap_or(Value::Null)),
            ("tags_all", map_value(&self.tags_all)),
            ("timeouts", self.timeouts.clone().unwrap_or(Value::Null)),
            ("role_arn", empty_to_null(&self.role_arn)),
            ("assume_role_policy", empty_to_null(&self.assume_role_policy)),
            ("policy_arn", empty_to_null(&self.policy_arn)),
            ("instance_profile_arn", empty_to_null(&self.instance_profile_arn)),
            ("associations", associations),
            ("owner_id", self.owner_id.clone().map(Value::string).unwrap_or(Value::Null)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_values() {
        let model = Model {
            name: "n".into(),
            role_name: "r".into(),
            policy_name: "p".into(),
            instance_profile_name: "ip".into(),
            path: "/x/".into(),
            instance_ids: ["i-0123456789abcdef0".to_string()].into(),
            policy_json: "{}".into(),
            additional_policy_arns: Some(BTreeSet::new()),
            replace_existing_association: true,
            metadata_options: Some(MetadataOptions {
                http_tokens: Some("required".into()),
                http_put_response_hop_limit: None,
            }),
            tags: None,
            tags_all: [("a".to_string(), "b".to_string())].into(),
            timeouts: None,
            role_arn: "arn:aws:iam::1:role/x/r".into(),
            assume_role_policy: r#"{"Version":"2012-10-17"}"#.into(),
            policy_arn: "arn:aws:iam::1:policy/x/p".into(),
            instance_profile_arn: "arn:aws:iam::1:instance-profile/x/ip".into(),
            associations: [(
                "i-0123456789abcdef0".to_string(),
                AssociationState { association_id: "iip-assoc-1".into(), state: "associated".into() },
            )]
            .into(),
            owner_id: Some("0123456789abcdef0123456789abcdef".into()),
        };
        let value = model.to_value();
        assert_eq!(value.get("id").and_then(Value::as_str), Some("r"));
        assert_eq!(Model::from_value(&value), model);
    }
}
