//! The AWS layer: one SDK configuration per ConfigureProvider, the service clients built from it,
//! and how every AWS call's error becomes the provider's [`Error`] (with what was being done, and
//! "not found" as `None`). Per-service finders, waiters and retries live in the service's own module.

pub mod calls;
pub mod config;
pub mod ec2;
pub mod efs;
pub mod iam;
pub mod policy;
pub mod seen;
pub mod tags;
pub mod wait;

use crate::error::{AwsError, Error};

/// The SDK clients shared by every resource of one configured provider.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub efs: aws_sdk_efs::Client,
    pub sts: aws_sdk_sts::Client,
    /// What this provider process has learned that cannot change (see [`KnownFacts`]).
    pub known: std::sync::Arc<KnownFacts>,
    /// What this provider process has made, and read while it had changed nothing (see [`seen`]).
    pub seen: std::sync::Arc<seen::SeenFacts>,
}

impl AwsClients {
    pub fn new(
        iam: aws_sdk_iam::Client,
        ec2: aws_sdk_ec2::Client,
        efs: aws_sdk_efs::Client,
        sts: aws_sdk_sts::Client,
    ) -> AwsClients {
        AwsClients { iam, ec2, efs, sts, known: Default::default(), seen: Default::default() }
    }
}

/// Answers kept for the life of the provider process (one CLI command: the CLI starts a new one
/// for each), so that the plan checks and the apply of the same process do not ask twice. Only
/// facts AWS never changes for an object's lifetime are kept: a subnet's VPC and availability
/// zone, and the account and partition of the credentials (checked once, at configure). Whether
/// an object exists, its state, tags or rules are always asked again; and only answers are kept,
/// never "not found" (a subnet made meanwhile must be found).
#[derive(Debug, Default)]
pub struct KnownFacts {
    subnets: std::sync::Mutex<std::collections::BTreeMap<String, ec2::network::SubnetPlacement>>,
    /// `arn:PARTITION:iam::ACCOUNT:policy`, from the credentials check.
    policy_arn_prefix: std::sync::OnceLock<String>,
}

impl KnownFacts {
    /// Keeps the account of the credentials, from GetCallerIdentity's answer (`caller_arn` names
    /// the partition).
    pub fn remember_caller(&self, caller_arn: &str, account: &str) {
        let partition = caller_arn.split(':').nth(1).filter(|p| !p.is_empty());
        if let (Some(partition), false) = (partition, account.is_empty()) {
            let _ = self.policy_arn_prefix.set(format!("arn:{partition}:iam::{account}:policy"));
        }
    }

    /// The ARN of the customer-managed policy `name` under `path` (`/` or `/a/b/`), when the
    /// account is known.
    pub fn local_policy_arn(&self, path: &str, name: &str) -> Option<String> {
        self.policy_arn_prefix.get().map(|prefix| format!("{prefix}{path}{name}"))
    }

    /// The placements of `ids` if every one is known; otherwise none.
    pub fn subnets(&self, ids: &[String]) -> Option<Vec<ec2::network::SubnetPlacement>> {
        let known = self.subnets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.iter().map(|id| known.get(id).cloned()).collect()
    }

    pub fn remember_subnets(&self, placements: &[ec2::network::SubnetPlacement]) {
        let mut known = self.subnets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for placement in placements {
            known.insert(placement.subnet_id.clone(), placement.clone());
        }
    }
}

/// Wraps an SDK result's error with what was being done, e.g. `.context("creating IAM Role", name)`.
pub trait AwsResultExt<T> {
    fn context(self, action: &str, object: &str) -> Result<T, Error>;
}

impl<T, E: Into<AwsError>> AwsResultExt<T> for Result<T, E> {
    fn context(self, action: &str, object: &str) -> Result<T, Error> {
        self.map_err(|e| Error::Aws { action: action.to_string(), object: object.to_string(), source: e.into() })
    }
}

/// "Not found" as an outcome rather than an error, for finders (the object is gone) and deleters
/// (already deleted is done).
pub trait NotFoundExt<T> {
    /// `Ok(None)` when the call failed with one of `codes`, the service's codes for a missing
    /// object (`NoSuchEntity`, `FileSystemNotFound`, ...); other errors stay errors.
    fn or_not_found(self, codes: &[&str]) -> Result<Option<T>, Error>;
}

impl<T> NotFoundExt<T> for Result<T, Error> {
    fn or_not_found(self, codes: &[&str]) -> Result<Option<T>, Error> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if codes.iter().any(|code| e.is_aws(code)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use aws_sdk_iam::operation::get_role::GetRoleError;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// A GetRole that IAM answered with `code`, as the SDK reports it.
    fn get_role_failing_with(code: &str) -> Result<(), Error> {
        let error = GetRoleError::generic(ErrorMetadata::builder().code(code).message("answered").build());
        let response = Response::new(StatusCode::try_from(404).unwrap(), SdkBody::empty());
        Err(SdkError::service_error(error, response)).context("reading IAM Role", "nodes")
    }

    #[test]
    fn a_local_policy_arn_needs_the_callers_account_and_partition() {
        let known = KnownFacts::default();
        assert_eq!(known.local_policy_arn("/", "nodes"), None);
        known.remember_caller("arn:aws-cn:sts::123456789012:assumed-role/ci/session", "123456789012");
        assert_eq!(known.local_policy_arn("/", "nodes").as_deref(), Some("arn:aws-cn:iam::123456789012:policy/nodes"));
        assert_eq!(
            known.local_policy_arn("/k8s/", "nodes").as_deref(),
            Some("arn:aws-cn:iam::123456789012:policy/k8s/nodes")
        );
        let unknown = KnownFacts::default();
        unknown.remember_caller("", "123456789012");
        assert_eq!(unknown.local_policy_arn("/", "nodes"), None, "no partition, no guess");
    }

    #[test]
    fn not_found_codes_become_none_and_other_errors_keep_their_code_and_cause() {
        assert!(matches!(get_role_failing_with("NoSuchEntity").or_not_found(&[iam::NO_SUCH_ENTITY]), Ok(None)));
        let err = get_role_failing_with("AccessDenied").or_not_found(&[iam::NO_SUCH_ENTITY]).unwrap_err();
        assert!(err.is_aws("AccessDenied"), "{err}");
        assert_eq!(err.to_string(), "reading IAM Role (nodes): AccessDenied: answered");
        let aws = err.source().expect("the AWS error is the source");
        assert!(aws.source().is_some_and(|sdk| sdk.is::<SdkError<GetRoleError, Response>>()), "{aws:?}");
        assert!(matches!(Ok::<u8, Error>(7).or_not_found(&[iam::NO_SUCH_ENTITY]), Ok(Some(7))));
    }

    #[test]
    fn a_request_the_sdk_cannot_build_is_a_bug_not_a_cancellation() {
        let source = aws_sdk_efs::types::PosixUser::builder().build().unwrap_err();
        let err = Error::InvalidRequest { request: "CreateAccessPoint", source };
        assert!(err.to_string().starts_with("building the CreateAccessPoint request: "), "{err}");
        assert!(!err.to_string().contains("cancelled"), "{err}");
        assert!(err.source().is_some_and(|s| s.is::<aws_smithy_types::error::operation::BuildError>()));
    }

    #[test]
    fn known_facts_answer_only_when_every_subnet_is_known() {
        use ec2::network::SubnetPlacement;
        let known = KnownFacts::default();
        let placement = |id: &str| SubnetPlacement {
            subnet_id: id.to_string(),
            vpc_id: "vpc-1".to_string(),
            availability_zone: "eu-west-1a".to_string(),
        };
        let (a, b) = ("subnet-a".to_string(), "subnet-b".to_string());
        assert_eq!(known.subnets(std::slice::from_ref(&a)), None, "nothing is known at first");
        known.remember_subnets(&[placement("subnet-a")]);
        assert_eq!(known.subnets(std::slice::from_ref(&a)), Some(vec![placement("subnet-a")]));
        assert_eq!(known.subnets(&[a.clone(), b.clone()]), None, "one unknown subnet asks AWS for all");
        known.remember_subnets(&[placement("subnet-b")]);
        assert_eq!(
            known.subnets(&[b, a]),
            Some(vec![placement("subnet-b"), placement("subnet-a")]),
            "in the order asked"
        );
    }
}
