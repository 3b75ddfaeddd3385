//! Running Apache in the foreground for `mod-wasm up`: in its own process group (so the
//! terminal's Ctrl-C reaches us, not Apache's children directly), with Ctrl-C and SIGTERM
//! forwarded as a graceful stop, and Apache's exit status reported.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};

/// How Apache's run ended.
#[derive(Debug)]
pub struct RunEnd {
    /// Apache's exit status.
    pub status: ExitStatus,
    /// Whether we asked it to stop (Ctrl-C / SIGTERM).
    pub stopped_by_signal: bool,
}

/// Starts `apache -f conf -DFOREGROUND` and waits; the first SIGINT/SIGTERM becomes a graceful
/// stop (`SIGWINCH`), a second one a hard stop (`SIGTERM`).
pub fn run_foreground(apache: &Path, conf: &Path) -> std::io::Result<RunEnd> {
    let signals = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for sig in [SIGINT, SIGTERM] {
        let counter = signals.clone();
        // SAFETY: the handler only does an atomic increment, which is async-signal-safe.
        ids.push(unsafe {
            signal_hook::low_level::register(sig, move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
        }?);
    }
    let result = (|| {
        let mut child = Command::new(apache)
            .arg("-f")
            .arg(conf)
            .arg("-DFOREGROUND")
            .env_remove("HTTP_PROXY")
            .process_group(0)
            .spawn()?;
        let pid = child.id() as libc::pid_t;
        let mut sent = 0;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(RunEnd {
                    status,
                    stopped_by_signal: sent > 0,
                });
            }
            let seen = signals.load(Ordering::SeqCst);
            if seen > sent {
                let sig = if sent == 0 {
                    libc::SIGWINCH
                } else {
                    libc::SIGTERM
                };
                // SAFETY: plain kill(2) on our own child.
                unsafe { libc::kill(pid, sig) };
                sent = seen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })();
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    result
}

/// A one-line description of an exit status.
pub fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "unknown status".into(),
    }
}
