//! The `provider "efs"` block: schema, typed model, and ConfigureProvider.
//!
//! Follows hashicorp/aws's conventions so its users feel at home: the same attribute names, the
//! standard AWS environment variables and credential chain, `assume_role`, `endpoints` and
//! `default_tags`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::aws::config::AwsSettings;
use crate::aws::AwsClients;
use crate::framework::duration::parse_duration;
use crate::framework::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use crate::framework::validators::{duration_between, each_element, int_between, string_length, string_matches};
use crate::framework::{AttributePath, Ctx, Diagnostics, Type, Value};

/// What every resource gets once the provider is configured.
#[derive(Debug)]
pub struct ProviderData {
    pub aws: AwsClients,
    pub region: String,
    /// The account the credentials belong to, when it could be determined.
    pub account_id: Option<String>,
    /// The AWS partition (`aws`, `aws-cn`, `aws-us-gov`) of the region, for building ARNs.
    pub partition: String,
    pub default_tags: BTreeMap<String, String>,
}

impl ProviderData {
    /// The configured provider a handler runs with, from the data the framework hands over
    /// untyped; an error diagnostic when Terraform has not configured the provider yet.
    pub fn from_ctx(ctx: &Ctx) -> Result<Arc<ProviderData>, Diagnostics> {
        let Some(data) = ctx.provider_data.clone() else {
            return Err(Diagnostics::from_error(
                "Provider Not Configured",
                "The efs provider was used before Terraform configured it. This is a bug in the provider or in \
                 Terraform; please report it.",
            ));
        };
        data.downcast::<ProviderData>().map_err(|_| {
            Diagnostics::from_error(
                "Unexpected Provider Data",
                "The efs provider's configuration is not of the type its resources expect. This is a bug in the \
                 provider; please report it.",
            )
        })
    }
}

pub const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$";
/// IAM's characters are ASCII; a regex `\w` would take any Unicode letter.
const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$";
const URL_PATTERN: &str = r"^https?://[^\s/]+(/\S*)?$";
pub const ENDPOINT_SERVICES: [&str; 4] = ["ec2", "efs", "iam", "sts"];

pub fn schema() -> Schema {
    let endpoint = |service: &str| {
        Attribute::optional(service, Type::String)
            .description(format!(
                "Use this URL for the {} API instead of the default endpoint (for example an emulator or a VPC endpoint).",
                service.to_uppercase()
            ))
            .validator(string_matches(URL_PATTERN, "must be a URL such as https://ec2.us-east-1.amazonaws.com"))
    };
    let endpoints =
        ENDPOINT_SERVICES.iter().fold(Block::new("Custom service endpoints, per service."), |block, service| {
            block.attribute(endpoint(service))
        });
    let assume_role = Block::new("Assume this IAM role with the credentials found, and use the role's credentials.")
        .attribute(
            Attribute::required("role_arn", Type::String)
                .description("ARN of the role to assume, e.g. `arn:aws:iam::123456789012:role/terraform`.")
                .validator(string_matches(
                    ROLE_ARN_PATTERN,
                    "must be an IAM role ARN like arn:aws:iam::123456789012:role/name",
                )),
        )
        .attribute(
            Attribute::optional("session_name", Type::String)
                .description("Session name recorded in CloudTrail (2 to 64 ASCII letters, digits or `+=,.@_-`).")
                .validator(string_matches(r"^[A-Za-z0-9_+=,.@-]{2,64}$", "must be 2 to 64 ASCII letters, digits or +=,.@_-")),
        )
        .attribute(
            Attribute::optional("external_id", Type::String)
                .description("External ID the role's trust policy requires, if any (2 to 1224 ASCII letters, digits or `+=,.@:/_-`).")
                .validator(string_length(2, 1224))
                .validator(string_matches(r"^[A-Za-z0-9_+=,.@:/-]+$", "may contain only ASCII letters, digits and +=,.@:/_-")),
        )
        .attribute(
            Attribute::optional("duration", Type::String)
                .description("How long the role's credentials last, between `15m` and `12h` (default `1h`).")
                .validator(crate::framework::validators::duration()),
        );
    let default_tags = Block::new("Tags added to every AWS object the provider tags.").attribute(
        Attribute::optional("tags", Type::map(Type::String))
            .description("Tags merged under each resource's own `tags` (a resource's tag wins on the same key). AWS's rules for tags apply: keys of 1 to 128 characters not starting with `aws:`, values of at most 256.")
            .validator(crate::aws::tags::tag_map(&[], &[])),
    );

    Schema::new(
        0,
        Block::new("The efs provider sets up Amazon EFS storage for Prometheus on self-managed Kubernetes clusters on EC2.")
            .attribute(
                Attribute::optional("region", Type::String)
                    .description("AWS region, e.g. `us-east-1`. Defaults to `AWS_REGION` / `AWS_DEFAULT_REGION` or the profile's region.")
                    .validator(string_matches(REGION_PATTERN, "must be an AWS region name such as us-east-1")),
            )
            .attribute(Attribute::optional("profile", Type::String).description("Named profile of the shared config and credentials files."))
            .attribute(
                Attribute::optional("access_key", Type::String)
                    .sensitive()
                    .description("Access key ID. Prefer the environment or a profile over writing keys in configuration."),
            )
            .attribute(Attribute::optional("secret_key", Type::String).sensitive().description("Secret access key."))
            .attribute(Attribute::optional("token", Type::String).sensitive().description("Session token, for temporary credentials."))
            .attribute(
                Attribute::optional("shared_config_files", Type::list(Type::String))
                    .description("Paths of shared config files (default `~/.aws/config`).")
                    .validator(each_element(string_length(1, 4096))),
            )
            .attribute(
                Attribute::optional("shared_credentials_files", Type::list(Type::String))
                    .description("Paths of shared credentials files (default `~/.aws/credentials`).")
                    .validator(each_element(string_length(1, 4096))),
            )
            .attribute(
                Attribute::optional("max_retries", Type::Number)
                    .description("How many times an AWS call is retried on throttling and transient errors (default 25).")
                    .validator(int_between(0, 100)),
            )
            .attribute(
                Attribute::optional("call_timeout", Type::String)
                    .description(format!(
                        "How long one attempt of an AWS call may wait for its answer, e.g. `30s` or `2m` (default `{}s`). \
                         An attempt that gets no answer in time is abandoned and retried like a dropped connection, \
                         within `max_retries`; when every attempt times out the operation fails with an error that says so.",
                        crate::aws::config::DEFAULT_CALL_TIMEOUT.as_secs()
                    ))
                    .validator(duration_between(std::time::Duration::from_secs(1), std::time::Duration::from_secs(15 * 60))),
            )
            .attribute(
                Attribute::optional("skip_credentials_validation", Type::Bool)
                    .description(
                        "Do not check the credentials with STS GetCallerIdentity when the provider is configured. The \
                         account is then unknown, so customer-managed policies are found by listing them \
                         (`iam:ListPolicies`) instead of by their ARN.",
                    ),
            )
            .block(NestedBlock::new("assume_role", Nesting::Single, assume_role))
            .block(NestedBlock::new("endpoints", Nesting::Single, endpoints))
            .block(NestedBlock::new("default_tags", Nesting::Single, default_tags)),
    )
}

/// The provider block as typed settings. Unknown values (from resources not created yet) read as unset.
pub fn settings_from_config(config: &Value) -> AwsSettings {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let strings = |v: Option<&Value>| {
        v.and_then(Value::elements)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let assume_role = config.get("assume_role").filter(|v| !v.is_null() && !v.is_unknown());
    // Out-of-range durations are refused by `validate`, which runs first.
    let duration = assume_role
        .and_then(|r| text(r.get("duration")))
        .and_then(|d| parse_duration(&d).ok())
        .filter(|d| SESSION_DURATIONS.contains(d));
    let endpoint = |service: &str| text(config.get("endpoints").and_then(|e| e.get(service)));
    AwsSettings {
        region: text(config.get("region")),
        profile: text(config.get("profile")),
        access_key: text(config.get("access_key")),
        secret_key: text(config.get("secret_key")),
        token: text(config.get("token")),
        shared_config_files: strings(config.get("shared_config_files")),
        shared_credentials_files: strings(config.get("shared_credentials_files")),
        max_retries: config.get("max_retries").and_then(Value::as_i64).map(|n| n as u32),
        // A zero or malformed duration is refused by `validate`, which runs first.
        call_timeout: text(config.get("call_timeout")).and_then(|d| parse_duration(&d).ok()).filter(|d| !d.is_zero()),
        skip_credentials_validation: config
            .get("skip_credentials_validation")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        assume_role: assume_role.and_then(|r| {
            Some(crate::aws::config::AssumeRole {
                role_arn: text(r.get("role_arn"))?,
                session_name: text(r.get("session_name")),
                external_id: text(r.get("external_id")),
                duration,
            })
        }),
        endpoints: ENDPOINT_SERVICES.iter().filter_map(|s| endpoint(s).map(|url| (s.to_string(), url))).collect(),
    }
}

/// `default_tags.tags` of the provider block.
pub fn default_tags_from_config(config: &Value) -> BTreeMap<String, String> {
    config
        .get("default_tags")
        .and_then(|d| d.get("tags"))
        .and_then(Value::as_map)
        .map(|tags| tags.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default()
}

/// How long assumed-role credentials may last: STS refuses a DurationSeconds outside 15 minutes to
/// 12 hours (and the role's own maximum, which only STS knows).
const SESSION_DURATIONS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(15 * 60)..=Duration::from_secs(12 * 3600);

/// Rules across attributes of the provider block, checked at validate time so no AWS call is made
/// with them: the access key and secret key given together, the token only with them, and an
/// assume_role duration STS accepts.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let set = |name: &str| config.get(name).is_some_and(|v| !v.is_null());
    let duration = config.get("assume_role").and_then(|r| r.get("duration")).and_then(Value::as_str);
    if let Some(Ok(parsed)) = duration.map(parse_duration) {
        if !SESSION_DURATIONS.contains(&parsed) {
            diags.error_at(
                AttributePath::root("assume_role").attr("duration"),
                "Invalid Session Duration",
                format!(
                    "assume_role.duration must be between 15m and 12h (STS's limits); got {:?}. Use for example \"1h\".",
                    duration.unwrap_or_default()
                ),
            );
        }
    }
    match (set("access_key"), set("secret_key")) {
        (true, false) => diags.error_at(
            AttributePath::root("access_key"),
            "Incomplete Static Credentials",
            "access_key is set but secret_key is not: set both, or neither to use the environment, a profile or an instance role.",
        ),
        (false, true) => diags.error_at(
            AttributePath::root("secret_key"),
            "Incomplete Static Credentials",
            "secret_key is set but access_key is not: set both, or neither to use the environment, a profile or an instance role.",
        ),
        _ => {}
    }
    if set("token") && !set("access_key") {
        diags.error_at(
            AttributePath::root("token"),
            "Incomplete Static Credentials",
            "token is only used together with access_key and secret_key.",
        );
    }
}

/// ConfigureProvider: builds the AWS clients and checks the credentials.
pub async fn configure(config: &Value) -> Result<ProviderData, Diagnostics> {
    let mut diags = Diagnostics::new();
    validate(config, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let settings = settings_from_config(config);
    let configured = crate::aws::config::build(&settings).await?;
    Ok(ProviderData {
        aws: configured.clients,
        partition: partition_of(&configured.region).to_string(),
        region: configured.region,
        account_id: configured.account_id,
        default_tags: default_tags_from_config(config),
    })
}

/// The ARN partition of a region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use aws_config::BehaviorVersion;
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn ctx(provider_data: Option<crate::framework::ProviderData>) -> Ctx {
        Ctx { provider_data, cancel: CancellationToken::new() }
    }

    fn summary(result: Result<Arc<ProviderData>, Diagnostics>) -> String {
        result.err().and_then(|d| d.iter().next().map(|d| d.summary.clone())).unwrap_or_default()
    }

    #[test]
    fn handlers_get_the_provider_data_the_server_stored() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let data = Arc::new(ProviderData {
            aws: AwsClients::new(
                aws_sdk_iam::Client::new(&sdk),
                aws_sdk_ec2::Client::new(&sdk),
                aws_sdk_efs::Client::new(&sdk),
                aws_sdk_sts::Client::new(&sdk),
            ),
            region: "eu-west-1".into(),
            account_id: None,
            partition: "aws".into(),
            default_tags: BTreeMap::new(),
        });
        let found = ProviderData::from_ctx(&ctx(Some(data.clone()))).unwrap();
        assert!(Arc::ptr_eq(&found, &data));
        assert_eq!(summary(ProviderData::from_ctx(&ctx(None))), "Provider Not Configured");
        assert_eq!(
            summary(ProviderData::from_ctx(&ctx(Some(Arc::new("not provider data"))))),
            "Unexpected Provider Data"
        );
    }
}
