//! Whether IAM policy documents allow the actions the driver needs, evaluated locally from the
//! role's attached and inline policies.
//!
//! An action is allowed when an `Allow` statement covers it (its `Action`, with `*` and `?`
//! wildcards, case-insensitive, or its `NotAction` leaving it out) and no `Deny` statement without
//! a `Condition` covers it. Resources and conditions of `Allow` statements are not evaluated: the
//! driver's own policy scopes access point changes with tag conditions, which only a real request
//! can settle. Permissions boundaries and organization SCPs are not read.

use serde_json::Value as Json;

/// The `required` actions that `documents` do not allow, in the order given.
pub fn missing_actions(documents: &[String], required: &[String]) -> Vec<String> {
    let parsed: Vec<Json> = documents.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
    let statements: Vec<&Json> = parsed.iter().flat_map(statements).collect();
    required
        .iter()
        .filter(|action| {
            let allowed = statements.iter().any(|s| s["Effect"] == "Allow" && covers(s, action));
            let denied =
                statements.iter().any(|s| s["Effect"] == "Deny" && s.get("Condition").is_none() && covers(s, action));
            !allowed || denied
        })
        .cloned()
        .collect()
}

/// `Statement` is a single object or a list of them.
fn statements(document: &Json) -> Vec<&Json> {
    match &document["Statement"] {
        Json::Array(list) => list.iter().collect(),
        statement @ Json::Object(_) => vec![statement],
        _ => Vec::new(),
    }
}

/// `Action` / `NotAction` is a string or a list of strings.
fn patterns(value: &Json) -> Vec<&str> {
    match value {
        Json::String(s) => vec![s.as_str()],
        Json::Array(list) => list.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

fn covers(statement: &Json, action: &str) -> bool {
    if let Some(actions) = statement.get("Action") {
        patterns(actions).iter().any(|p| wildcard_match(p, action))
    } else if let Some(excluded) = statement.get("NotAction") {
        !patterns(excluded).iter().any(|p| wildcard_match(p, action))
    } else {
        false
    }
}

/// IAM's action matching: `*` is any run of characters, `?` any one character, case-insensitive.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let text: Vec<char> = text.to_ascii_lowercase().chars().collect();
    // Greedy matching with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn required() -> Vec<String> {
        [
            "ec2:DescribeAvailabilityZones",
            "elasticfilesystem:DescribeMountTargets",
            "elasticfilesystem:CreateAccessPoint",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn wildcards_cover_actions_case_insensitively() {
        assert!(wildcard_match("elasticfilesystem:*", "elasticfilesystem:DescribeMountTargets"));
        assert!(wildcard_match("*", "ec2:DescribeAvailabilityZones"));
        assert!(wildcard_match("ElasticFileSystem:Describe*", "elasticfilesystem:DescribeMountTargets"));
        assert!(wildcard_match("ec2:Describe?vailabilityZones", "ec2:DescribeAvailabilityZones"));
        assert!(wildcard_match("elasticfilesystem:*Access*", "elasticfilesystem:CreateAccessPoint"));
        assert!(!wildcard_match("elasticfilesystem:Describe*", "elasticfilesystem:CreateAccessPoint"));
        assert!(!wildcard_match("ec2:*", "elasticfilesystem:DescribeMountTargets"));
        assert!(!wildcard_match("ec2:Describe", "ec2:DescribeAvailabilityZones"));
    }

    #[test]
    fn the_drivers_own_policy_allows_every_action_it_lists() {
        use crate::aws::policy::{csi_driver_policy, policy_actions, PolicyOptions};
        let document = csi_driver_policy(&PolicyOptions { dynamic_provisioning: true, ..Default::default() });
        let actions = policy_actions(&document);
        assert!(missing_actions(&[document.to_string()], &actions).is_empty());
    }

    #[test]
    fn reports_what_no_statement_allows() {
        let describe_only = r#"{"Statement":{"Effect":"Allow","Action":["ec2:Describe*","elasticfilesystem:Describe*"],"Resource":"*"}}"#;
        assert_eq!(missing_actions(&[describe_only.into()], &required()), ["elasticfilesystem:CreateAccessPoint"]);
        // Split over two documents (a managed and an inline policy), with a wildcard.
        let create = r#"{"Statement":[{"Effect":"Allow","Action":"elasticfilesystem:*","Resource":"*"}]}"#;
        assert!(missing_actions(&[describe_only.into(), create.into()], &required()).is_empty());
        assert_eq!(missing_actions(&[], &required()), required());
        let everything = r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        assert!(missing_actions(&[everything.into()], &required()).is_empty());
    }

    #[test]
    fn not_action_and_unconditional_denies_are_honoured() {
        let all_but_ec2 = r#"{"Statement":[{"Effect":"Allow","NotAction":"ec2:*","Resource":"*"}]}"#;
        assert_eq!(missing_actions(&[all_but_ec2.into()], &required()), ["ec2:DescribeAvailabilityZones"]);
        let allow_all_deny_create = r#"{"Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"elasticfilesystem:Create*","Resource":"*"}]}"#;
        assert_eq!(
            missing_actions(&[allow_all_deny_create.into()], &required()),
            ["elasticfilesystem:CreateAccessPoint"]
        );
        // A conditional deny cannot be settled without a request: it does not count.
        let conditional_deny = r#"{"Statement":[
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        assert!(missing_actions(&[conditional_deny.into()], &required()).is_empty());
        assert_eq!(missing_actions(&["not json".into()], &required()), required());
    }
}
