//! Running one request: a fresh store and WASI context per request, limits, and a verdict.

use std::time::Duration;

use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::epoch::ticks_for;
use crate::host_io::HostIo;
use crate::runtime::{LoadedModule, Runtime};
use crate::streams::{IoBridge, OutputFailure};

/// Default `WasmTimeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `WasmMemoryLimit`.
pub const DEFAULT_MEMORY_LIMIT: u64 = 256 << 20;
/// Default `WasmOutputLimit`.
pub const DEFAULT_OUTPUT_LIMIT: u64 = 1 << 30;

/// What a store carries: the WASI context and the memory limiter.
pub struct RequestState {
    pub(crate) wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// Per-route limits; `None` means the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
    /// Linear memory limit in bytes.
    pub memory: Option<u64>,
    /// Body limit in bytes.
    pub output: Option<u64>,
}

/// One request: the module and what its route grants.
pub struct Request<'a> {
    /// The module to instantiate.
    pub module: &'a LoadedModule,
    /// Export to call (`_start` by default).
    pub entry_point: &'a str,
    /// `argv[0]`.
    pub argv0: &'a str,
    /// Arguments after `argv[0]`.
    pub args: Vec<&'a str>,
    /// Environment, in order.
    pub env: Vec<(&'a str, &'a str)>,
    /// Preopened folders: (guest path, host path).
    pub dirs: Vec<(&'a str, &'a str)>,
    /// stdout starts with CGI headers.
    pub cgi: bool,
    /// Rewrite host paths in SCRIPT_FILENAME / PATH_TRANSLATED to guest paths.
    pub map_cgi_filenames: bool,
    /// Limits.
    pub limits: Limits,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Ran to completion.
    Ok,
    /// Exited with a non-zero code.
    ExitFailure(i32),
    /// Trapped.
    Trap(String),
    /// Ran out of time.
    Timeout(Duration),
    /// Wrote more than allowed.
    OutputLimit(u64),
    /// The client went away.
    ClientGone,
    /// CGI headers malformed, missing or refused.
    BadHeaders(String),
    /// Could not start.
    SetupFailed(String),
    /// The request body could not be read; the host knows why.
    BodyReadFailed,
}

/// The verdict on one request.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: RunStatus,
    /// Whether anything reached the host (a status can no longer be chosen).
    pub output_started: bool,
    /// Body bytes delivered.
    pub body_bytes: u64,
}

impl Outcome {
    /// A one-line description for the log (empty on success).
    pub fn message(&self) -> String {
        match &self.status {
            RunStatus::Ok => String::new(),
            RunStatus::ExitFailure(code) => format!("module exited with code {code}"),
            RunStatus::Trap(what) => format!("module trapped: {what}"),
            RunStatus::Timeout(limit) => {
                format!("time limit of {} ms exceeded", limit.as_millis())
            }
            RunStatus::OutputLimit(limit) => format!("output limit of {limit} bytes exceeded"),
            RunStatus::ClientGone => "client went away".into(),
            RunStatus::BadHeaders(why) => format!("bad CGI headers: {why}"),
            RunStatus::SetupFailed(why) => format!("cannot start the module: {why}"),
            RunStatus::BodyReadFailed => "the request body could not be read".into(),
        }
    }
}

impl Runtime {
    /// Runs `req` to completion on this thread, streaming through `io`.
    pub fn run(&self, req: &Request<'_>, io: &mut dyn HostIo) -> Outcome {
        self.ensure_ticker();
        let output_limit = req.limits.output.unwrap_or(DEFAULT_OUTPUT_LIMIT);
        // SAFETY: `bridge.detach()` runs before `io`'s borrow ends, and the store (which owns
        // the streams) is dropped inside `run_with`, on this thread.
        let bridge = unsafe { IoBridge::attach(io, req.cgi, output_limit) };
        let status = self.run_with(req, &bridge);
        let outcome = Outcome {
            status,
            output_started: bridge.output_started(),
            body_bytes: bridge.delivered(),
        };
        bridge.detach();
        outcome
    }

    fn run_with(&self, req: &Request<'_>, bridge: &IoBridge) -> RunStatus {
        let wasi = match build_wasi(req, bridge) {
            Ok(wasi) => wasi,
            Err(why) => return RunStatus::SetupFailed(why),
        };
        let memory = req.limits.memory.unwrap_or(DEFAULT_MEMORY_LIMIT);
        let timeout = req.limits.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory).unwrap_or(usize::MAX))
            .trap_on_grow_failure(false)
            .build();
        let mut store = Store::new(&self.engine, RequestState { wasi, limits });
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(ticks_for(timeout));
        store.epoch_deadline_trap();

        let instance = match req.module.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => return RunStatus::SetupFailed(format!("{e:#}")),
        };
        let entry = match instance.get_typed_func::<(), ()>(&mut store, req.entry_point) {
            Ok(entry) => entry,
            Err(_) => {
                return RunStatus::SetupFailed(format!(
                    "the module exports no function `{}` taking and returning nothing",
                    req.entry_point
                ));
            }
        };
        let result = entry.call(&mut store, ());
        drop(store);

        let status = match result {
            Ok(()) => RunStatus::Ok,
            Err(e) => {
                if let Some(exit) = e.downcast_ref::<I32Exit>() {
                    if exit.0 == 0 {
                        RunStatus::Ok
                    } else {
                        RunStatus::ExitFailure(exit.0)
                    }
                } else if let Some(failure) = bridge.failure() {
                    failure_status(failure)
                } else if let Some(trap) = e.downcast_ref::<Trap>() {
                    if *trap == Trap::Interrupt {
                        RunStatus::Timeout(timeout)
                    } else {
                        RunStatus::Trap(trap.to_string())
                    }
                } else {
                    RunStatus::Trap(format!("{e:#}"))
                }
            }
        };
        match status {
            RunStatus::Ok => {
                bridge.finish(true);
                match bridge.failure() {
                    Some(failure) => failure_status(failure),
                    None => RunStatus::Ok,
                }
            }
            other => {
                bridge.finish(false);
                other
            }
        }
    }
}

fn failure_status(failure: OutputFailure) -> RunStatus {
    match failure {
        OutputFailure::OutputLimit(limit) => RunStatus::OutputLimit(limit),
        OutputFailure::ClientGone => RunStatus::ClientGone,
        OutputFailure::BadHeaders(e) => RunStatus::BadHeaders(e.to_string()),
        OutputFailure::HeadersRefused => RunStatus::BadHeaders("refused by the server".into()),
        OutputFailure::BodyRead => RunStatus::BodyReadFailed,
    }
}

fn build_wasi(req: &Request<'_>, bridge: &IoBridge) -> Result<WasiP1Ctx, String> {
    let mut builder = WasiCtxBuilder::new();
    builder.allow_blocking_current_thread(true);
    builder.arg(req.argv0);
    for arg in &req.args {
        builder.arg(arg);
    }
    for (name, value) in &req.env {
        if req.map_cgi_filenames && matches!(*name, "SCRIPT_FILENAME" | "PATH_TRANSLATED") {
            builder.env(name, map_to_guest(value, &req.dirs));
        } else {
            builder.env(name, value);
        }
    }
    for (guest, host) in &req.dirs {
        builder
            .preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(|e| format!("cannot open folder `{host}` for `{guest}`: {e:#}"))?;
    }
    builder.stdin(bridge.stdin());
    builder.stdout(bridge.stdout());
    builder.stderr(bridge.stderr());
    Ok(builder.build_p1())
}

/// Rewrites a host path to the guest path of the most specific mapping that contains it.
pub fn map_to_guest(host_path: &str, dirs: &[(&str, &str)]) -> String {
    let mut best: Option<(&str, &str)> = None;
    for &(guest, host) in dirs {
        let host_trimmed = host.trim_end_matches('/');
        let inside = host_path == host_trimmed
            || host_path
                .strip_prefix(host_trimmed)
                .is_some_and(|rest| rest.starts_with('/'));
        if inside && best.is_none_or(|(_, h)| h.len() < host_trimmed.len()) {
            best = Some((guest, host_trimmed));
        }
    }
    match best {
        Some((guest, host)) => {
            let rest = &host_path[host.len()..];
            format!("{}{rest}", guest.trim_end_matches('/'))
        }
        None => host_path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::map_to_guest;

    #[test]
    fn maps_the_most_specific_dir() {
        let dirs = [("/app", "/srv/app"), ("/lib", "/srv/app/lib")];
        assert_eq!(map_to_guest("/srv/app/main.py", &dirs), "/app/main.py");
        assert_eq!(map_to_guest("/srv/app/lib/x.py", &dirs), "/lib/x.py");
        assert_eq!(
            map_to_guest("/srv/application/x", &dirs),
            "/srv/application/x"
        );
        assert_eq!(map_to_guest("/elsewhere", &dirs), "/elsewhere");
    }
}
