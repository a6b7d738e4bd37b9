//! Counting the AWS calls a handler makes, by operation, with an SDK interceptor on copies of the
//! shared clients. Read-only checks log the count so their batching (a handful of calls whatever
//! the number of nodes) can be observed and tested.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::AwsClients;

/// The operations called through clients made by [`AwsClients::counted`], as `SERVICE:Operation`,
/// once per call (retries of one call are not counted again).
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    pub fn len(&self) -> usize {
        self.0.lock().map(|calls| calls.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The operations called, sorted, each with its count: `EC2:DescribeInstances*1,...`.
    pub fn summary(&self) -> String {
        let mut calls = self.0.lock().map(|calls| calls.clone()).unwrap_or_default();
        calls.sort();
        let mut counted: Vec<(String, usize)> = Vec::new();
        for call in calls {
            match counted.last_mut() {
                Some((last, n)) if *last == call => *n += 1,
                _ => counted.push((call, 1)),
            }
        }
        counted.iter().map(|(call, n)| format!("{call}*{n}")).collect::<Vec<_>>().join(",")
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    /// Once per call, after the operation's configuration (which names it) is in place; the
    /// earlier `read_before_execution` of a client interceptor runs before that.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| format!("{}:{}", m.service(), m.name()));
        if let Ok(mut calls) = self.0.lock() {
            calls.push(operation.unwrap_or_else(|| "unknown".to_string()));
        }
        Ok(())
    }
}

impl AwsClients {
    /// Copies of these clients (same configuration, credentials and connection settings) that record
    /// every call in `log`.
    pub fn counted(&self, log: &CallLog) -> AwsClients {
        AwsClients {
            iam: aws_sdk_iam::Client::from_conf(self.iam.config().to_builder().interceptor(log.clone()).build()),
            ec2: aws_sdk_ec2::Client::from_conf(self.ec2.config().to_builder().interceptor(log.clone()).build()),
            efs: aws_sdk_efs::Client::from_conf(self.efs.config().to_builder().interceptor(log.clone()).build()),
            sts: aws_sdk_sts::Client::from_conf(self.sts.config().to_builder().interceptor(log.clone()).build()),
            known: self.known.clone(),
            seen: self.seen.clone(),
        }
    }
}
