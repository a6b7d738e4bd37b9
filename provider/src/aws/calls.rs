//! Counting the AWS calls a handler makes, by operation, with an SDK interceptor on copies of the
//! shared clients. Read-only checks log the count so their batching (a handful of calls whatever
//! the number of nodes) can be observed and tested, and how many of them came one after the other.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use super::AwsClients;

/// The operations called through clients made by [`AwsClients::counted`], as `SERVICE:Operation`,
/// once per call (retries of one call are not counted again), with when each started and ended.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

#[derive(Clone, Debug)]
struct Call {
    operation: String,
    started: Instant,
    ended: Option<Instant>,
}

/// Which entry of the log a call is, kept in the call's own configuration between its hooks.
#[derive(Clone, Copy, Debug)]
struct CallIndex(usize);

impl Storable for CallIndex {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    fn calls(&self) -> Vec<Call> {
        self.0.lock().map(|calls| calls.clone()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.0.lock().map(|calls| calls.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The operations called, sorted, each with its count: `EC2:DescribeInstances*1,...`.
    pub fn summary(&self) -> String {
        let mut calls: Vec<String> = self.calls().into_iter().map(|call| call.operation).collect();
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

    /// The longest run of calls each of which started only once the one before had ended: how many
    /// calls' worth of AWS's latency the handler waited for, one after the other (a call that has
    /// not ended counts as ending now).
    pub fn in_a_row(&self) -> usize {
        let now = Instant::now();
        let spans: Vec<(Instant, Instant)> =
            self.calls().into_iter().map(|call| (call.started, call.ended.unwrap_or(now))).collect();
        longest_run(&spans)
    }
}

/// The longest chain of `(start, end)` spans each starting at or after the end of the one before.
fn longest_run(spans: &[(Instant, Instant)]) -> usize {
    let mut by_start = spans.to_vec();
    by_start.sort();
    let mut run_ending_with: Vec<usize> = Vec::with_capacity(by_start.len());
    for (i, (started, _)) in by_start.iter().enumerate() {
        let before = by_start[..i]
            .iter()
            .zip(&run_ending_with)
            .filter(|((_, ended), _)| ended <= started)
            .map(|(_, run)| *run)
            .max()
            .unwrap_or(0);
        run_ending_with.push(before + 1);
    }
    run_ending_with.into_iter().max().unwrap_or(0)
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
        let call = Call {
            operation: operation.unwrap_or_else(|| "unknown".to_string()),
            started: Instant::now(),
            ended: None,
        };
        if let Ok(mut calls) = self.0.lock() {
            cfg.interceptor_state().store_put(CallIndex(calls.len()));
            calls.push(call);
        }
        Ok(())
    }

    /// Once per call, when its last attempt is over (answered or failed).
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(CallIndex(index)), Ok(mut calls)) = (cfg.load::<CallIndex>().copied(), self.0.lock()) {
            if let Some(call) = calls.get_mut(index) {
                call.ended = Some(Instant::now());
            }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_longest_run_counts_only_calls_that_waited_for_one_another() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(longest_run(&[]), 0);
        // Three at once, then two at once after the first three: two in a row.
        let rounds = [(at(0), at(10)), (at(1), at(12)), (at(2), at(11)), (at(12), at(20)), (at(13), at(21))];
        assert_eq!(longest_run(&rounds), 2);
        // A call starting the moment another ends waited for it; one started before did not.
        assert_eq!(longest_run(&[(at(0), at(10)), (at(10), at(20)), (at(9), at(30))]), 2);
        // Overlapping chains: the longest one counts, whatever order they were logged in.
        let chains = [(at(30), at(40)), (at(0), at(5)), (at(5), at(50)), (at(10), at(30)), (at(6), at(10))];
        assert_eq!(longest_run(&chains), 4, "0-5, 6-10, 10-30, 30-40");
    }
}
