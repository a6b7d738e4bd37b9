//! Builds the AWS SDK configuration from the provider block, once per ConfigureProvider, and the
//! service clients every resource shares.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

use super::AwsClients;
use crate::framework::{AttributePath, Diagnostics};
use crate::logging;

/// The provider block's AWS settings, typed. `Debug` leaves the secrets out.
#[derive(Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub token: Option<String>,
    pub shared_config_files: Vec<String>,
    pub shared_credentials_files: Vec<String>,
    pub max_retries: Option<u32>,
    /// How long one attempt of a call may wait for its answer ([`DEFAULT_CALL_TIMEOUT`] if unset).
    pub call_timeout: Option<Duration>,
    pub skip_credentials_validation: bool,
    pub assume_role: Option<AssumeRole>,
    /// Service name (`ec2`, `efs`, `iam`, `sts`) to endpoint URL.
    pub endpoints: BTreeMap<String, String>,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("static_credentials", &self.access_key.is_some())
            .field("endpoints", &self.endpoints)
            .field("assume_role", &self.assume_role.as_ref().map(|r| &r.role_arn))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration: Option<Duration>,
}

/// The result of [`build`].
pub struct Configured {
    pub clients: AwsClients,
    pub region: String,
    pub account_id: Option<String>,
}

/// Retries per AWS call by default: the SDK backs off exponentially on throttling and 5xx.
const DEFAULT_MAX_RETRIES: u32 = 25;

/// How long one attempt of an AWS call waits for its answer by default. AWS answers in well under
/// a second; a minute covers a slow one, and bounds a connection that never answers (the SDK has
/// no timeout of its own), which is then retried like a dropped one.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn build(settings: &AwsSettings) -> Result<Configured, Diagnostics> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if !settings.shared_config_files.is_empty() || !settings.shared_credentials_files.is_empty() {
        let mut files = EnvConfigFiles::builder();
        for path in &settings.shared_config_files {
            files = files.with_file(EnvConfigFileKind::Config, expand_home(path));
        }
        for path in &settings.shared_credentials_files {
            files = files.with_file(EnvConfigFileKind::Credentials, expand_home(path));
        }
        loader = loader.profile_files(files.build());
    }
    if let (Some(access_key), Some(secret_key)) = (&settings.access_key, &settings.secret_key) {
        let credentials = Credentials::new(access_key, secret_key, settings.token.clone(), None, "provider-block");
        loader = loader.credentials_provider(credentials);
    }
    let max_attempts = settings.max_retries.unwrap_or(DEFAULT_MAX_RETRIES) + 1;
    loader = loader.retry_config(
        RetryConfig::standard().with_max_attempts(max_attempts).with_max_backoff(Duration::from_secs(20)),
    );
    loader = loader.timeout_config(
        TimeoutConfig::builder()
            .operation_attempt_timeout(settings.call_timeout.unwrap_or(DEFAULT_CALL_TIMEOUT))
            .build(),
    );
    let mut sdk = loader.load().await;

    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        return Err(Diagnostics::from_error_at(
            AttributePath::root("region"),
            "Missing AWS Region",
            "The provider needs a region: set `region` in the provider block, or AWS_REGION in the environment.",
        ));
    };

    if let Some(role) = &settings.assume_role {
        let sts_config = with_endpoint(&sdk, settings.endpoints.get("sts"));
        let mut builder = AssumeRoleProvider::builder(&role.role_arn)
            .session_name(role.session_name.clone().unwrap_or_else(|| "terraform-provider-efs".to_string()));
        if let Some(external_id) = &role.external_id {
            builder = builder.external_id(external_id);
        }
        if let Some(duration) = role.duration {
            builder = builder.session_length(duration);
        }
        let provider = builder.configure(&sts_config).build().await;
        sdk = sdk.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
    }

    let clients = AwsClients::new(
        aws_sdk_iam::Client::new(&with_endpoint(&sdk, settings.endpoints.get("iam"))),
        aws_sdk_ec2::Client::new(&with_endpoint(&sdk, settings.endpoints.get("ec2"))),
        aws_sdk_efs::Client::new(&with_endpoint(&sdk, settings.endpoints.get("efs"))),
        aws_sdk_sts::Client::new(&with_endpoint(&sdk, settings.endpoints.get("sts"))),
    );
    logging::debug(
        "configured AWS clients",
        &[("region", &region), ("custom_endpoints", &settings.endpoints.keys().cloned().collect::<Vec<_>>().join(","))],
    );

    let account_id =
        if settings.skip_credentials_validation { None } else { Some(validate_credentials(&clients, settings).await?) };
    Ok(Configured { clients, region, account_id })
}

/// Asks STS who the credentials belong to, so bad credentials fail at plan time with a clear message.
async fn validate_credentials(clients: &AwsClients, settings: &AwsSettings) -> Result<String, Diagnostics> {
    match clients.sts.get_caller_identity().send().await {
        Ok(identity) => {
            let account = identity.account().unwrap_or_default().to_string();
            clients.known.remember_caller(identity.arn().unwrap_or_default(), &account);
            logging::debug("validated AWS credentials", &[("account", &account)]);
            Ok(account)
        }
        Err(e) => Err(credentials_check_failed(&crate::error::AwsError::from(e), settings)),
    }
}

/// The diagnostic for a failed credentials check. It points at what to fix in the provider block:
/// `endpoints.sts` when STS did not answer at a custom endpoint, `access_key` when STS refused the
/// block's own keys; otherwise the credentials came from elsewhere and it names no attribute.
fn credentials_check_failed(err: &crate::error::AwsError, settings: &AwsSettings) -> Diagnostics {
    let sts_endpoint = settings.endpoints.get("sts");
    let failed = format!("Checking the credentials with STS GetCallerIdentity failed: {err}.");
    let skip = "or set skip_credentials_validation = true to skip this check";
    if !err.service_answered() {
        let (path, at) = match sts_endpoint {
            Some(url) => (Some(AttributePath::root("endpoints").attr("sts")), format!(" at {url}")),
            None => (None, String::new()),
        };
        let detail = format!(
            "{failed}\n\nNo answer came from STS{at}: check endpoints.sts (the URL, and that it is reachable from \
             this machine) and any proxy settings, {skip}."
        );
        return diagnostic(path, "Cannot Reach AWS", detail);
    }
    let static_keys = settings.access_key.is_some();
    let detail = format!(
        "{failed}\n\nSet access_key/secret_key{}, a profile, or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY \
         environment variables to valid credentials; check endpoints.sts if you use a custom endpoint; {skip}.",
        if static_keys { " (the provider block's keys were refused)" } else { "" }
    );
    diagnostic(static_keys.then(|| AttributePath::root("access_key")), "Invalid AWS Credentials", detail)
}

fn diagnostic(path: Option<AttributePath>, summary: &str, detail: String) -> Diagnostics {
    match path {
        Some(path) => Diagnostics::from_error_at(path, summary, detail),
        None => Diagnostics::from_error(summary, detail),
    }
}

/// The SDK config with the provider block's endpoint for one service. The endpoint is marked as
/// set by configuration: otherwise the SDK lets `AWS_ENDPOINT_URL[_<SERVICE>]` from the
/// environment override it, and the block's `endpoints` would be silently ignored.
fn with_endpoint(sdk: &SdkConfig, endpoint: Option<&String>) -> SdkConfig {
    match endpoint {
        Some(url) => {
            let mut builder = sdk.to_builder().endpoint_url(url);
            builder.insert_origin("endpoint_url", aws_types::origin::Origin::shared_config());
            builder.build()
        }
        None => sdk.clone(),
    }
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}
