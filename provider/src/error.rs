//! The provider's one error type. Variants are named after the step that failed and keep their
//! cause, so callers can still match an AWS error by its code.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("plugin handshake: {0}")]
    Handshake(String),

    #[error("setting up TLS for the plugin connection: {0}")]
    Tls(String),

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
        source: crate::aws::AwsError,
    },

    #[error("timed out after {}s waiting for {what}", after.as_secs())]
    Timeout { what: String, after: Duration },

    #[error("{0} was cancelled because Terraform is stopping")]
    Cancelled(String),
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
