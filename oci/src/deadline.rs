//! One total deadline per registry operation, and a stop that ends any of them at once.
//!
//! reqwest's read timeout restarts with every byte, so a registry that trickles one byte every
//! few seconds holds a request for ever. [`bounded`] runs a whole operation (a resolve, a pull of
//! a manifest and its blobs, a push, …) against one deadline and a stop flag: whichever comes
//! first drops the operation's future, which closes its connections and deletes any partial
//! blob (the cache only gains verified content). The flag is polled every 50 ms, so a stop (the
//! follow agent's SIGTERM) ends an operation stalled on a registry within a moment.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// How often the stop flag is looked at.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Runs `operation` (named `what`, on `registry`) until it ends, `timeout` passes, or `stop` is
/// set, whichever comes first.
pub(crate) async fn bounded<T>(
    registry: &str,
    what: impl FnOnce() -> String,
    timeout: Duration,
    stop: &AtomicBool,
    operation: impl Future<Output = Result<T>>,
) -> Result<T> {
    let stopped = async {
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(STOP_POLL).await;
        }
    };
    if stop.load(Ordering::SeqCst) {
        return Err(Error::Cancelled {
            registry: registry.to_string(),
            operation: what(),
        });
    }
    tokio::select! {
        result = operation => result,
        _ = tokio::time::sleep(timeout) => Err(Error::Timeout {
            registry: registry.to_string(),
            operation: what(),
            after: timeout,
        }),
        _ = stopped => Err(Error::Cancelled {
            registry: registry.to_string(),
            operation: what(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_stalled_operation_ends_with_the_deadline_or_the_stop() {
        let stop = AtomicBool::new(false);
        let stalled = std::future::pending::<Result<()>>;
        let err = run(bounded(
            "r:1",
            || "the pull of x".into(),
            Duration::from_millis(100),
            &stop,
            stalled(),
        ))
        .unwrap_err();
        assert_eq!(err.code(), "oci::timeout");
        assert!(
            err.to_string().contains("the pull of x within 100ms"),
            "{err}"
        );
        stop.store(true, Ordering::SeqCst);
        let err = run(bounded(
            "r:1",
            || "the pull of x".into(),
            Duration::from_secs(3600),
            &stop,
            stalled(),
        ))
        .unwrap_err();
        assert_eq!(err.code(), "oci::cancelled");
        let stop = AtomicBool::new(false);
        let ok = run(bounded(
            "r:1",
            String::new,
            Duration::from_secs(1),
            &stop,
            async { Ok(7) },
        ));
        assert_eq!(ok.unwrap(), 7);
    }
}
