//! Deadlines, the one state waiter and bounded retries shared by every service module.
//!
//! Every wait has a deadline and stops early when Terraform stops the provider. Retries are only
//! for conditions AWS documents as transient (IAM propagation, dependent objects still being
//! released); a step done in the wrong order is a bug to fix, not to retry.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::Error;

/// How long IAM changes (a new role or instance profile) may take to be visible to other services.
pub const IAM_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// Polling starts at once, pauses this long, and doubles the pause up to [`MAX_POLL_INTERVAL`]:
/// quick for what is ready at once (moto, most IAM and EC2 changes), and at most 5 s late for what
/// takes a minute (an EFS mount target).
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The state of an object its status function did not find. A target of deletion waits; pending
/// where AWS may not list a just-created object at once.
pub const NOT_FOUND: &str = "not found";

/// A wait for an object to reach a state, as terraform-provider-aws's `StateChangeConf` has it: the
/// states on the way (`pending`), the states that end the wait (`target`), and a deadline. Any
/// other state ends it at once with [`Error::UnexpectedState`]: an EFS file system in `error`
/// never becomes available, however long one polls.
#[derive(Clone, Copy, Debug)]
pub struct StateWaiter<'a> {
    /// The object, for messages: "EFS File System fs-1".
    pub object: &'a str,
    pub pending: &'a [&'a str],
    pub target: &'a [&'a str],
    pub timeout: Duration,
}

impl StateWaiter<'_> {
    /// Polls `refresh` (the object, or `None` when it is not found; `None` reads as the state
    /// [`NOT_FOUND`]) with backoff until the object is in a target state, and returns what the last
    /// poll found: `Some` object, or `None` when [`NOT_FOUND`] is the target it reached. Gives up
    /// on a state neither pending nor target, at the deadline, or when `cancel` fires.
    pub async fn wait<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        mut refresh: F,
        state_of: impl Fn(&T) -> &str,
    ) -> Result<Option<T>, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, Error>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut interval = MIN_POLL_INTERVAL;
        loop {
            let found = refresh().await?;
            let state = found.as_ref().map_or(NOT_FOUND, &state_of).to_string();
            if self.target.contains(&state.as_str()) {
                return Ok(found);
            }
            if !self.pending.contains(&state.as_str()) {
                return Err(Error::UnexpectedState {
                    what: self.object.to_string(),
                    state,
                    expected: self.target.join(" or "),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} to be {} (last seen: {state})", self.object, self.target.join(" or ")),
                    after: self.timeout,
                });
            }
            let pause = interval.min(deadline - now);
            tokio::select! {
                _ = cancel.cancelled() => {
                    return Err(Error::Cancelled(format!("waiting for {} to be {}", self.object, self.target.join(" or "))));
                }
                _ = tokio::time::sleep(pause) => {}
            }
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// [`StateWaiter::wait`] for a target of states the object is found in: the object.
    pub async fn wait_found<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        refresh: F,
        state_of: impl Fn(&T) -> &str,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, Error>>,
    {
        self.wait(cancel, refresh, state_of).await?.ok_or_else(|| Error::UnexpectedState {
            what: self.object.to_string(),
            state: NOT_FOUND.to_string(),
            expected: self.target.join(" or "),
        })
    }
}

/// Runs `call` again while it fails with an error for which `is_transient` holds, backing off,
/// until `timeout`; the last error is returned when time runs out.
pub async fn retry_while<T, F, Fut>(
    what: &str,
    timeout: Duration,
    cancel: &CancellationToken,
    is_transient: impl Fn(&Error) -> bool,
    mut call: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = MIN_POLL_INTERVAL;
    loop {
        match call().await {
            Err(e) if is_transient(&e) && Instant::now() < deadline => {
                crate::logging::debug("retrying a transient AWS error", &[("what", what), ("error", &e.to_string())]);
                let pause = interval.min(deadline.saturating_duration_since(Instant::now()));
                tokio::select! {
                    _ = cancel.cancelled() => return Err(Error::Cancelled(what.to_string())),
                    _ = tokio::time::sleep(pause) => {}
                }
                interval = (interval * 2).min(MAX_POLL_INTERVAL);
            }
            other => return other,
        }
    }
}

/// Runs `work`, giving up when `cancel` fires (StopProvider) or `timeout` passes.
pub async fn with_deadline<T>(
    what: &str,
    timeout: Duration,
    cancel: &CancellationToken,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::select! {
        _ = cancel.cancelled() => Err(Error::Cancelled(what.to_string())),
        result = tokio::time::timeout(timeout, work) => match result {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { what: what.to_string(), after: timeout }),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    use super::*;

    /// An object whose state is `states[n]` at the n-th poll (the last one from then on); `None`
    /// reads as not found.
    struct Scripted {
        states: Vec<Option<&'static str>>,
        polls: AtomicU32,
        at: Mutex<Vec<Instant>>,
    }

    impl Scripted {
        fn new(states: &[Option<&'static str>]) -> Scripted {
            Scripted { states: states.to_vec(), polls: AtomicU32::new(0), at: Mutex::new(Vec::new()) }
        }

        async fn poll(&self) -> Result<Option<String>, Error> {
            let n = self.polls.fetch_add(1, Ordering::SeqCst) as usize;
            self.at.lock().unwrap().push(Instant::now());
            Ok(self.states[n.min(self.states.len() - 1)].map(str::to_string))
        }

        fn polls(&self) -> u32 {
            self.polls.load(Ordering::SeqCst)
        }
    }

    const AVAILABLE: StateWaiter<'static> = StateWaiter {
        object: "EFS File System fs-1",
        pending: &["creating", NOT_FOUND],
        target: &["available"],
        timeout: Duration::from_secs(60),
    };

    const DELETED: StateWaiter<'static> = StateWaiter {
        object: "EFS File System fs-1",
        pending: &["available", "deleting"],
        target: &[NOT_FOUND],
        timeout: Duration::from_secs(60),
    };

    async fn wait(waiter: &StateWaiter<'_>, object: &Scripted) -> Result<Option<String>, Error> {
        waiter.wait(&CancellationToken::new(), || object.poll(), |s: &String| s.as_str()).await
    }

    #[tokio::test(start_paused = true)]
    async fn waits_through_pending_states_with_backoff_until_the_target() {
        let object = Scripted::new(&[None, Some("creating"), Some("creating"), Some("available")]);
        let started = Instant::now();
        assert_eq!(wait(&AVAILABLE, &object).await.unwrap().as_deref(), Some("available"));
        assert_eq!(object.polls(), 4);
        let gaps: Vec<Duration> = object.at.lock().unwrap().windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, [MIN_POLL_INTERVAL, MIN_POLL_INTERVAL * 2, MIN_POLL_INTERVAL * 4]);
        assert_eq!(started.elapsed(), MIN_POLL_INTERVAL * 7);
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_as_the_target_ends_a_deletion() {
        let object = Scripted::new(&[Some("deleting"), Some("deleting"), None]);
        assert_eq!(wait(&DELETED, &object).await.unwrap(), None);
        assert_eq!(object.polls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unexpected_state_fails_at_once() {
        let object = Scripted::new(&[Some("creating"), Some("error"), Some("available")]);
        let started = Instant::now();
        let err = wait(&AVAILABLE, &object).await.unwrap_err();
        assert!(
            matches!(&err, Error::UnexpectedState { state, expected, .. } if state == "error" && expected == "available"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "EFS File System fs-1: unexpected state \"error\" (waiting for available)");
        assert_eq!(object.polls(), 2, "no poll after the unexpected state");
        assert_eq!(started.elapsed(), MIN_POLL_INTERVAL, "no pause after it either");
        // Gone while waiting for it to become available, where not found is not pending: at once too.
        let strict = StateWaiter { pending: &["creating"], ..AVAILABLE };
        let gone = Scripted::new(&[Some("creating"), None]);
        let err = wait(&strict, &gone).await.unwrap_err();
        assert!(matches!(&err, Error::UnexpectedState { state, .. } if state == NOT_FOUND), "{err:?}");
        // A deletion that ends in `error` instead of disappearing.
        let failed = Scripted::new(&[Some("deleting"), Some("error")]);
        assert!(matches!(wait(&DELETED, &failed).await, Err(Error::UnexpectedState { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_at_the_deadline_naming_the_last_state() {
        let object = Scripted::new(&[Some("creating")]);
        let waiter = StateWaiter { timeout: Duration::from_secs(5), ..AVAILABLE };
        let started = Instant::now();
        let err = wait(&waiter, &object).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(5), "polls up to the deadline, not past it");
        assert!(matches!(err, Error::Timeout { after, .. } if after == Duration::from_secs(5)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("fs-1 to be available") && text.contains("last seen: creating"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_of_the_status_call_ends_the_wait() {
        let polls = AtomicU32::new(0);
        let err = AVAILABLE
            .wait(
                &CancellationToken::new(),
                || async {
                    polls.fetch_add(1, Ordering::SeqCst);
                    Err::<Option<String>, _>(Error::Vanished { what: "the status call".into(), step: "a test" })
                },
                |s: &String| s.as_str(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Vanished { .. }), "{err:?}");
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_stops_waiting() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let object = Scripted::new(&[Some("creating")]);
        let err = AVAILABLE.wait(&cancel, || object.poll(), |s: &String| s.as_str()).await.unwrap_err();
        assert!(matches!(err, Error::Cancelled(_)), "{err:?}");
        assert_eq!(object.polls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_transient_errors() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, Error> = retry_while(
            "associate",
            Duration::from_secs(60),
            &CancellationToken::new(),
            |e| matches!(e, Error::Vanished { what, .. } if what == "transient"),
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    Err(Error::Vanished { what: "transient".into(), step: "a test" })
                } else {
                    Ok(n)
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 2);
        let permanent: Result<(), Error> = retry_while(
            "x",
            Duration::from_secs(60),
            &CancellationToken::new(),
            |_| false,
            || async { Err(Error::Vanished { what: "permanent".into(), step: "a test" }) },
        )
        .await;
        assert!(permanent.is_err());
    }
}
