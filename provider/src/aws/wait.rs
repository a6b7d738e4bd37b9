//! Deadlines, polling and bounded retries shared by every service module.
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

/// Polling starts at this interval and doubles up to [`MAX_POLL_INTERVAL`].
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(200);
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// What one poll found.
pub enum Poll<T> {
    Done(T),
    /// Not there yet; `state` describes what was seen, for the timeout message.
    Pending(String),
}

/// Polls `check` until it returns `Done`, an error, the `timeout` passes, or `cancel` fires.
/// `what` names the awaited condition ("EFS file system fs-1 to become available").
pub async fn poll_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    cancel: &CancellationToken,
    mut check: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, Error>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = MIN_POLL_INTERVAL;
    loop {
        let last_state = match check().await? {
            Poll::Done(value) => return Ok(value),
            Poll::Pending(state) => state,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout { what: format!("{what} (last seen: {last_state})"), after: timeout });
        }
        let pause = interval.min(deadline - now);
        tokio::select! {
            _ = cancel.cancelled() => return Err(Error::Cancelled(format!("waiting for {what}"))),
            _ = tokio::time::sleep(pause) => {}
        }
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
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

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn polls_until_done_with_backoff() {
        let calls = AtomicU32::new(0);
        let found = poll_until("thing", Duration::from_secs(60), &CancellationToken::new(), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(if n < 3 { Poll::Pending(format!("creating ({n})")) } else { Poll::Done(n) })
        })
        .await
        .unwrap();
        assert_eq!(found, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn poll_times_out_with_last_state() {
        let err = poll_until::<(), _, _>(
            "fs-1 to become available",
            Duration::from_secs(5),
            &CancellationToken::new(),
            || async { Ok(Poll::Pending("creating".into())) },
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("fs-1 to become available") && text.contains("creating"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_stops_waiting() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err =
            poll_until::<(), _, _>("x", Duration::from_secs(600), &cancel, || async { Ok(Poll::Pending("p".into())) })
                .await
                .unwrap_err();
        assert!(matches!(err, Error::Cancelled(_)));
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
