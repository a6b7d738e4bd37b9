//! The provider's one error type, and [`AwsError`], the failed AWS call it wraps.
//!
//! Each variant is one condition, named after what happened, and keeps its cause as `source`, so a
//! caller can still match an AWS error by its code. The message includes the cause too, because
//! diagnostics show one line of text.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Started without the magic cookie: run by hand, not by a CLI.
    #[error("plugin handshake: missing or wrong magic cookie")]
    NotLaunchedByCli,

    #[error(
        "plugin handshake: this provider speaks plugin protocol {served}, but the CLI offered only {offered}; \
         use Terraform 1.0 or newer, or OpenTofu"
    )]
    ProtocolMismatch { served: u32, offered: String },

    #[error("plugin handshake: no free port between PLUGIN_MIN_PORT={min} and PLUGIN_MAX_PORT={max}")]
    NoFreePort { min: u16, max: u16 },

    #[error("setting up TLS for the plugin connection: PLUGIN_CLIENT_CERT is not a PEM certificate: {0}")]
    ClientCertificate(#[source] rustls::pki_types::pem::Error),

    #[error("setting up TLS for the plugin connection: generating the server certificate: {0}")]
    ServerCertificate(#[source] rcgen::Error),

    #[error("setting up TLS for the plugin connection: {0}")]
    Tls(#[source] rustls::Error),

    #[error("plugin I/O: {0}")]
    Io(#[from] std::io::Error),

    #[error("serving gRPC: {0}")]
    Transport(#[from] tonic::transport::Error),

    /// An AWS call failed: `action` and `object` say what was being done ("creating IAM Role", "efs-csi").
    #[error("{action} ({object}): {source}")]
    Aws {
        action: String,
        object: String,
        #[source]
        source: AwsError,
    },

    /// The SDK refused to build a request (a required field was missing): a bug in the provider,
    /// since every field comes from a validated configuration.
    #[error("building the {request} request: {source}")]
    InvalidRequest {
        request: &'static str,
        #[source]
        source: aws_smithy_types::error::operation::BuildError,
    },

    #[error("timed out after {}s waiting for {what}", after.as_secs())]
    Timeout { what: String, after: Duration },

    /// A waited-for object is in a state that is neither the target nor one on the way to it
    /// (an EFS file system in `error`, ...): waiting longer cannot help.
    #[error("{what}: unexpected state {state:?} (waiting for {expected})")]
    UnexpectedState { what: String, state: String, expected: String },

    /// An object that was just created or changed is gone when read back (deleted out of band).
    #[error("{what} was gone right after {step}")]
    Vanished { what: String, step: &'static str },

    #[error("{0} was cancelled because Terraform is stopping")]
    Cancelled(String),

    /// An object a create would make exists already and is not this resource instance's (see
    /// `resources::ownership`): it is not taken over.
    #[error(
        "{object} already exists and belongs to {owner}. It is not taken over, and nothing was changed. To manage \
         it with this resource on purpose, import it: `terraform import {resource_type}.<label> {import_id}` (or \
         `tofu import ...`), or an import block `import {{ to = {resource_type}.<label>  id = \"{import_id}\" }}`. \
         Otherwise choose another {attribute}."
    )]
    NotOwned { object: String, owner: String, resource_type: &'static str, import_id: String, attribute: &'static str },
}

impl Error {
    /// The AWS error code behind this error, if it is an AWS error.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { source, .. } => source.code(),
            _ => None,
        }
    }

    /// Whether this is an AWS error with the given code.
    pub fn is_aws(&self, code: &str) -> bool {
        self.aws_code() == Some(code)
    }

    /// This error as an error diagnostic with `summary` (title-case, e.g. "Error Creating EFS File System").
    pub fn to_diagnostics(&self, summary: &str) -> crate::framework::Diagnostics {
        crate::framework::Diagnostics::from_error(summary, self.to_string())
    }
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
            (SdkError::TimeoutError(_), _) => format!(
                "no answer within the provider's call_timeout, retried up to max_retries times ({})",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
            // Transport problems (connection refused, timeouts) carry the useful part in the chain.
            _ => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        AwsError { code, answered, message, source: Box::new(err) }
    }
}
