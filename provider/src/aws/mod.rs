//! The AWS layer: one SDK configuration per ConfigureProvider, the service clients built from it,
//! and the error type every AWS call returns. Per-service finders, waiters and retries live in the
//! service's own module.

pub mod calls;
pub mod config;
pub mod ec2;
pub mod efs;
pub mod iam;
pub mod wait;

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

/// The SDK clients shared by every resource of one configured provider.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub efs: aws_sdk_efs::Client,
    pub sts: aws_sdk_sts::Client,
}

/// A failed AWS call. The error code (`NoSuchEntity`, `IncorrectState`, ...) is kept so callers
/// match on it, never on message text; the SDK error stays as the source.
#[derive(Debug)]
pub struct AwsError {
    code: Option<String>,
    /// Whether the service answered at all (a response arrived, even one the SDK could not parse).
    answered: bool,
    message: String,
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl AwsError {
    /// The service's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// False when no answer arrived: connection refused, DNS failure, timeout.
    pub fn service_answered(&self) -> bool {
        self.answered
    }

    pub fn is(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// Throttling codes AWS services use; the SDK's retry layer already backs off on these, so a
    /// caller sees them only once retries are exhausted.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code(),
            Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException")
        )
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl StdError for AwsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

impl<E, R> From<SdkError<E, R>> for AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        let code = err.code().map(str::to_string);
        let answered = matches!(err, SdkError::ServiceError(_) | SdkError::ResponseError(_));
        let message = match (&err, err.message()) {
            (SdkError::ServiceError(_), Some(message)) => message.to_string(),
            // Transport problems (connection refused, timeouts) carry the useful part in the chain.
            _ => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        AwsError { code, answered, message, source: Box::new(err) }
    }
}

/// Wraps an SDK result's error with what was being done, e.g. `.context("creating IAM Role", name)`.
pub trait AwsResultExt<T> {
    fn context(self, action: &str, object: &str) -> Result<T, crate::error::Error>;
}

impl<T, E: Into<AwsError>> AwsResultExt<T> for Result<T, E> {
    fn context(self, action: &str, object: &str) -> Result<T, crate::error::Error> {
        self.map_err(|e| crate::error::Error::Aws {
            action: action.to_string(),
            object: object.to_string(),
            source: e.into(),
        })
    }
}
