//! `mod-wasm deploy --from oci://REG/REPO:TAG --follow [--interval 30s]`: the agent that keeps
//! one host on the digest a tag names.
//!
//! Every interval (plus up to 10 % random jitter, so a fleet does not poll in step) it resolves
//! the tag. A digest it has not handled yet is pulled, verified (signature, every blob) and put
//! live through the same verified switch as `deploy`; a release that fails (or a bundle that is
//! refused) is rolled back by the deploy itself and its digest remembered: it is not tried again
//! while the tag stays on it, nor when the tag comes back to it later (a flapping tag
//! A → B → A → B deploys B once), until the agent restarts. A signature that is not there yet is
//! looked for again at each poll. A registry that cannot be reached, stalls past the registry
//! deadline (`--registry-timeout`), or a deploy lock held by someone else, is retried with
//! exponential backoff (up to 8 intervals, at most 5 minutes unless the interval is longer)
//! while Apache keeps serving what it serves.
//!
//! Each decision is one log line (text on stderr, or JSON lines on stdout with `--json`), its
//! text passed through [`escape`]: tags, digests, media types, app names and error messages come
//! from the registry, and none of them can end a line and forge another.
//!
//! SIGTERM or SIGINT stop it at once in any state: while it sleeps, and mid-pull on a stalled
//! registry (the registry client's stop flag ends the operation under way); only a deploy under
//! way (compile, switch, verify) is finished first. A second signal ends it at once (exit 1).
//! Exit 0 after a stop.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mod_wasm_oci::Digest;
use mod_wasm_oci::untrusted::escape;
use serde_json::{Value, json};

use super::run::Ctx;
use super::{FleetFailure, Retry};
use crate::exit::CliError;
use crate::output::Output;

/// The longest backoff, unless the interval itself is longer.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Refused digests remembered (the oldest is forgotten first).
const REMEMBERED: usize = 64;

/// One decision, logged as one line.
struct Log {
    json: bool,
    quiet: bool,
}

impl Log {
    /// One line: `message` (and `details` in `extra`) escaped, whatever they carry.
    fn line(&self, event: &str, digest: Option<&Digest>, message: &str, mut extra: Value) {
        let time = wasm_runtime::status::rfc3339(SystemTime::now());
        let message = escape(message);
        if let Some(Value::String(details)) = extra.get_mut("details") {
            *details = escape(details).into_owned();
        }
        if self.json {
            let mut value = json!({"time": time, "event": event, "message": message});
            if let Some(d) = digest {
                value["digest"] = json!(d.to_string());
            }
            if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
                v.extend(e.clone());
            }
            println!("{value}");
        } else if !self.quiet || matches!(event, "failed" | "refused" | "unreachable" | "skipped") {
            eprintln!("{time} {event}: {message}");
        }
    }
}

/// A number in [0, 1) from the process's random hasher keys and the clock.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// The wait before the next poll: the interval plus up to 10 % jitter.
pub fn next_poll(interval: Duration) -> Duration {
    interval + interval.mul_f64(0.1 * random_unit())
}

/// The wait after `failures` passing failures in a row: 2, 4, then 8 intervals, capped.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.clamp(1, 3);
    (interval * factor).min(MAX_BACKOFF.max(interval))
}

/// Sleeps `d`, waking early when `stop` is set; true when stopped.
fn sleep(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    stop.load(Ordering::Relaxed)
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(ctx: &Ctx<'_>, out: &Output) -> Result<(), CliError> {
    let interval_text = ctx.args.fleet.interval.as_deref().unwrap_or("30s");
    let interval = wasm_runtime::units::parse_duration(interval_text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::user(miette::miette!(
                code = "fleet::interval",
                help = "e.g. --interval 30s, --interval 5mi",
                "`{interval_text}` is not a polling interval"
            ))
        })?;
    if ctx.reference.tag().is_none() {
        return Err(CliError::user(miette::miette!(
            code = "fleet::follow-digest",
            help = "follow a tag: --from oci://REGISTRY/REPO:TAG --follow",
            "{} is pinned to a digest: there is nothing to follow",
            ctx.reference
        )));
    }
    // The registry client's own stop flag: a signal also ends a registry operation under way.
    let stop = ctx.client.stop_flag();
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // First a second signal's exit (armed once the flag is set), then the flag itself.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| {
                CliError::internal(miette::miette!("cannot handle signal {signal}: {e}"))
            })?;
    }
    let log = Log {
        json: out.json,
        quiet: out.quiet,
    };
    let tag = ctx.reference.to_string();
    log.line(
        "start",
        None,
        &format!(
            "following {tag} every {interval_text} (+ up to 10% jitter){}",
            match &ctx.key {
                Some(k) => format!(", signatures by {}", k.path().display()),
                None => String::new(),
            }
        ),
        json!({"tag": tag}),
    );
    let mut agent = Agent {
        ctx,
        log,
        interval,
        handled: None,
        refused: VecDeque::new(),
        waiting: None,
        failures: 0,
        stop: Arc::clone(&stop),
    };
    loop {
        let wait = agent.poll();
        if stop.load(Ordering::SeqCst) || sleep(wait, &stop) {
            break;
        }
    }
    agent.log.line(
        "stop",
        agent.handled.as_ref(),
        "stopped by a signal",
        json!({}),
    );
    Ok(())
}

struct Agent<'a, 'b> {
    ctx: &'a Ctx<'b>,
    log: Log,
    /// `--interval`.
    interval: Duration,
    /// The digest last acted on (deployed, found live, refused, or skipped as refused before).
    handled: Option<Digest>,
    /// Digests refused for good here (failed and rolled back, tampered, wrongly signed), with
    /// the code they failed with: skipped whenever the tag names them again.
    refused: VecDeque<(Digest, String)>,
    /// A digest waiting for its signature, and the code last logged for it.
    waiting: Option<(Digest, String)>,
    /// Passing failures in a row.
    failures: u32,
    /// Set by SIGTERM/SIGINT (the registry client's stop flag).
    stop: Arc<AtomicBool>,
}

impl Agent<'_, '_> {
    /// One poll; returns how long to wait before the next.
    fn poll(&mut self) -> Duration {
        let interval = self.interval;
        let digest = match self.ctx.resolve() {
            Ok(d) => d,
            // No digest to settle on (registry down, tag deleted, credentials refused): back
            // off, whatever the cause, until the tag resolves again.
            Err(f) => {
                let f = FleetFailure {
                    retry: Retry::Backoff,
                    ..f
                };
                return self.failed(None, f, interval);
            }
        };
        if self.handled.as_ref() == Some(&digest) {
            self.failures = 0;
            return next_poll(interval);
        }
        if let Some((_, code)) = self.refused.iter().find(|(d, _)| *d == digest) {
            // The tag came back to a digest that failed here: once per move, one line.
            self.log.line(
                "skipped",
                Some(&digest),
                &format!(
                    "{} is {digest} again, which was refused here before [{code}]; not retried until the tag moves to a new digest",
                    self.ctx.reference
                ),
                json!({"code": code}),
            );
            self.failures = 0;
            self.handled = Some(digest);
            return next_poll(interval);
        }
        let t = Instant::now();
        let fetched = match self.ctx.fetch(&digest) {
            Ok(f) => f,
            Err(f) => return self.failed(Some(&digest), f, interval),
        };
        let pull_ms = t.elapsed().as_millis();
        self.failures = 0;
        self.waiting = None;
        if self.ctx.live_digest(&fetched.lock.app).as_ref() == Some(&digest) {
            self.log.line(
                "live",
                Some(&digest),
                &format!("{} is {digest}, already live here", self.ctx.reference),
                json!({}),
            );
            self.handled = Some(digest);
            return next_poll(interval);
        }
        self.log.line(
            "deploying",
            Some(&digest),
            &format!(
                "{} moved to {digest}{}; deploying",
                self.ctx.reference,
                if fetched.verified {
                    " (signature verified)"
                } else {
                    ""
                }
            ),
            json!({"verified": fetched.verified}),
        );
        match self.ctx.deploy(&fetched, pull_ms) {
            Ok(d) => {
                self.log.line(
                    "deployed",
                    Some(&digest),
                    &format!(
                        "{digest} is live as release {} (previous {}) in {} ms",
                        d.report.id,
                        d.report.previous.as_deref().unwrap_or("none"),
                        t.elapsed().as_millis()
                    ),
                    json!({"release": d.report.id, "previous": d.report.previous, "ms": t.elapsed().as_millis() as u64, "outcome": d.report.outcome}),
                );
                self.handled = Some(digest);
                next_poll(interval)
            }
            Err(f) => self.failed(Some(&digest), f, interval),
        }
    }

    /// Remembers that `digest` was refused with `code` (the oldest memory goes first).
    fn remember_refused(&mut self, digest: &Digest, code: &str) {
        if self.refused.iter().any(|(d, _)| d == digest) {
            return;
        }
        if self.refused.len() == REMEMBERED {
            self.refused.pop_front();
        }
        self.refused.push_back((digest.clone(), code.to_string()));
    }

    fn failed(&mut self, digest: Option<&Digest>, f: FleetFailure, interval: Duration) -> Duration {
        if self.stop.load(Ordering::SeqCst) && f.code == "oci::cancelled" {
            // Stopped mid-operation by a signal: nothing failed; the loop ends now.
            return Duration::ZERO;
        }
        let extra = json!({"code": f.code, "details": f.details});
        match f.retry {
            Retry::Backoff => {
                self.failures += 1;
                let wait = backoff(interval, self.failures);
                let event = if matches!(f.code.as_str(), "oci::unreachable" | "oci::timeout") {
                    "unreachable"
                } else {
                    "retry"
                };
                self.log.line(
                    event,
                    digest,
                    &format!(
                        "{} [{}]; Apache keeps serving; retrying in {:.1}s",
                        f.message,
                        f.code,
                        wait.as_secs_f64()
                    ),
                    extra,
                );
                wait
            }
            Retry::NextPoll => {
                self.failures = 0;
                let digest = digest.cloned();
                let key = digest.clone().map(|d| (d, f.code.clone()));
                if self.waiting != key {
                    self.log.line(
                        "waiting",
                        digest.as_ref(),
                        &format!("{} [{}]; looking again at each poll", f.message, f.code),
                        extra,
                    );
                    self.waiting = key;
                }
                next_poll(interval)
            }
            Retry::TagMoves => {
                self.failures = 0;
                let event = if f.code.starts_with("deploy::") {
                    "failed"
                } else {
                    "refused"
                };
                self.log.line(
                    event,
                    digest,
                    &format!(
                        "{} [{}]; not retried until the tag moves",
                        f.message, f.code
                    ),
                    extra,
                );
                if let Some(d) = digest {
                    self.handled = Some(d.clone());
                    self.remember_refused(d, &f.code);
                }
                next_poll(interval)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_and_backoff_stay_in_bounds() {
        let i = Duration::from_secs(30);
        for _ in 0..100 {
            let w = next_poll(i);
            assert!(w >= i && w <= i + Duration::from_secs(3), "{w:?}");
        }
        assert_eq!(backoff(i, 1), Duration::from_secs(60));
        assert_eq!(backoff(i, 2), Duration::from_secs(120));
        assert_eq!(backoff(i, 3), Duration::from_secs(240));
        assert_eq!(backoff(i, 9), Duration::from_secs(240));
        assert_eq!(backoff(Duration::from_secs(60), 5), MAX_BACKOFF);
        assert_eq!(
            backoff(Duration::from_secs(600), 5),
            Duration::from_secs(600)
        );
        assert_eq!(backoff(Duration::from_secs(1), 4), Duration::from_secs(8));
    }
}
