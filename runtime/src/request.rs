//! Running one request: a fresh store and WASI context per request, limits, and a verdict.

use std::cell::Cell;
use std::time::{Duration, Instant};

use std::sync::Arc;

use wasmtime::{
    InstancePre, PoolConcurrencyLimitError, ResourceLimiter, Store, StoreLimits,
    StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::compiled::Code;
use crate::component_state::ComponentState;
use crate::directives::{
    DEFAULT_MAX_OPEN_FILES, DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT_MS,
};
use crate::host_io::HostIo;
use crate::http_head::HttpHead;
use crate::mapped_dir::MappedDir;
use crate::outbound::OutboundPolicy;
use crate::request_state::{OpenFiles, RequestState};
use crate::runtime::{LoadedModule, Runtime};
use crate::status::Outcome as CountedAs;
use crate::streams::{IoBridge, OutputFailure};
use crate::watchdog;

/// Per-route limits; `None` means the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
    /// Linear memory limit in bytes.
    pub memory: Option<u64>,
    /// Body limit in bytes.
    pub output: Option<u64>,
    /// Descriptors a preview 1 module may hold (`WasmMaxOpenFiles`).
    pub open_files: Option<u64>,
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
    /// Preopened folders: (guest path, folder opened at load time).
    pub dirs: Vec<(&'a str, &'a MappedDir)>,
    /// stdout starts with CGI headers.
    pub cgi: bool,
    /// Rewrite host paths in SCRIPT_FILENAME / PATH_TRANSLATED to guest paths.
    pub map_cgi_filenames: bool,
    /// Limits.
    pub limits: Limits,
    /// The request line and header fields, for a wasi:http handler (`None`: not needed).
    pub http: Option<HttpHead<'a>>,
    /// Outgoing HTTP destinations allowed (`WasmAllowOutbound`), each `host[:port]`.
    pub outbound: Vec<&'a str>,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Ran to completion.
    Ok,
    /// Exited with a non-zero code before giving a response.
    ExitFailure(i32),
    /// Exited with a non-zero code after giving its response, which was delivered whole (as
    /// mod_cgi does: it never looks at a CGI program's exit status). PHP exits 255 after printing
    /// a fatal error's page.
    ExitAfterResponse(i32),
    /// Trapped.
    Trap(String),
    /// Ran out of time.
    Timeout(Duration),
    /// Wrote more than allowed.
    OutputLimit(u64),
    /// The client went away.
    ClientGone,
    /// CGI headers (or a wasi:http response head) malformed, missing or refused: the text says
    /// which and why.
    BadHeaders(String),
    /// Could not start.
    SetupFailed(String),
    /// The request body could not be read; the host knows why.
    BodyReadFailed,
    /// Every instance slot of this process is in use: try again shortly.
    Busy,
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
    /// The memory limit refused a growth at least once.
    pub memory_limited: bool,
    /// `WasmMaxOpenFiles` refused an open at least once.
    pub open_files_limited: bool,
    /// Time inside the runtime, in microseconds.
    pub elapsed_us: u64,
}

impl Outcome {
    /// How wasm-status counts this run.
    pub fn counted_as(&self) -> CountedAs {
        // A refused growth is what the operator needs to see, whether the module then coped
        // (malloc returned NULL and it answered), trapped or exited; other limits tell more.
        let hit_memory_limit = self.memory_limited
            && matches!(
                self.status,
                RunStatus::Ok
                    | RunStatus::Trap(_)
                    | RunStatus::ExitFailure(_)
                    | RunStatus::ExitAfterResponse(_)
            );
        if hit_memory_limit {
            return CountedAs::MemoryLimit;
        }
        if self.open_files_limited && !matches!(self.status, RunStatus::Timeout(_)) {
            return CountedAs::OpenFilesLimit;
        }
        match self.status {
            RunStatus::Ok => CountedAs::Ok,
            RunStatus::ExitFailure(_) | RunStatus::ExitAfterResponse(_) => CountedAs::Exit,
            RunStatus::Trap(_) => CountedAs::Trap,
            RunStatus::Timeout(_) => CountedAs::Timeout,
            RunStatus::OutputLimit(_) => CountedAs::OutputLimit,
            RunStatus::ClientGone => CountedAs::ClientGone,
            RunStatus::BadHeaders(_) => CountedAs::BadHeaders,
            RunStatus::SetupFailed(_) => CountedAs::SetupFailed,
            RunStatus::BodyReadFailed => CountedAs::BodyError,
            RunStatus::Busy => CountedAs::Busy,
        }
    }

    /// A one-line description for the log (empty on success).
    pub fn message(&self) -> String {
        match &self.status {
            RunStatus::Ok => String::new(),
            RunStatus::ExitFailure(code) => format!("module exited with code {code}"),
            RunStatus::ExitAfterResponse(code) => {
                format!("module exited with code {code} after its response (delivered)")
            }
            RunStatus::Trap(what) => format!("module trapped: {what}"),
            RunStatus::Timeout(limit) => {
                format!("time limit of {} ms exceeded", limit.as_millis())
            }
            RunStatus::OutputLimit(limit) => format!("output limit of {limit} bytes exceeded"),
            RunStatus::ClientGone => "client went away".into(),
            RunStatus::BadHeaders(why) => why.clone(),
            RunStatus::SetupFailed(why) => format!("cannot start the module: {why}"),
            RunStatus::BodyReadFailed => "the request body could not be read".into(),
            RunStatus::Busy => "every instance slot of this process is in use".into(),
        }
    }
}

impl Runtime {
    /// Runs `req` to completion on this thread, streaming through `io`.
    ///
    /// The deadline covers everything: Wasm code (epoch interruption), awaited host calls such as
    /// sleeps (the run is abandoned at the deadline), host calls blocked in the kernel
    /// ([`crate::watchdog`]) and waits for the request body (the host is told the time left).
    pub fn run(&self, req: &Request<'_>, io: &mut dyn HostIo) -> Outcome {
        let started = Instant::now();
        self.ensure_ticker();
        let _in_use = crate::status::Counters::get().map(|c| c.instance_in_use());
        let output_limit = req.limits.output.unwrap_or(DEFAULT_OUTPUT_LIMIT);
        let timeout = req
            .limits
            .timeout
            .unwrap_or(Duration::from_millis(DEFAULT_TIMEOUT_MS));
        let deadline = Instant::now() + timeout;
        // A wasi:http handler's stdout is not the response: only a command's is.
        let cgi = req.cgi && !matches!(req.module.code, Code::Http(_));
        // SAFETY: `bridge.detach()` runs before `io`'s borrow ends, and the store (which owns
        // the streams) is dropped inside the runner, on this thread.
        let bridge = unsafe { IoBridge::attach(io, cgi, output_limit, deadline) };
        let run = Run {
            req,
            bridge: &bridge,
            timeout,
            deadline,
            open_files_limited: Cell::new(false),
        };
        let (status, memory_limited) = match &req.module.code {
            Code::Core(pre) => self.run_core(&run, pre),
            Code::Command(pre) => self.run_command(&run, pre),
            Code::Http(pre) => self.run_http(&run, pre),
        };
        let status = run.finish(status);
        let outcome = Outcome {
            status,
            output_started: bridge.output_started(),
            body_bytes: bridge.delivered(),
            memory_limited,
            open_files_limited: run.open_files_limited.get(),
            elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        };
        bridge.detach();
        outcome
    }

    /// A fresh store for one request: the route's memory limit, and Wasm code stopped at the
    /// very deadline the watchdog and the async timeout use (checked on every epoch tick against
    /// the wall clock: tick counts drift with sleep jitter).
    pub(crate) fn new_store<T: LimitedState>(&self, data: T, deadline: Instant) -> Store<T> {
        let mut store = Store::new(self.engine(), data);
        store.limiter(|state| state.limiter());
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store
    }

    fn run_core(&self, run: &Run<'_>, pre: &InstancePre<RequestState>) -> (RunStatus, bool) {
        let req = run.req;
        let wasi = match wasi_builder(req, run.bridge, true) {
            Ok(mut builder) => builder.build_p1(),
            Err(why) => return (RunStatus::SetupFailed(why), false),
        };
        // stdin, stdout, stderr and the route's folders are open from the start.
        let open_files = OpenFiles::new(
            3 + req.dirs.len() as u64,
            req.limits.open_files.unwrap_or(DEFAULT_MAX_OPEN_FILES),
        );
        let state = RequestState::new(wasi, store_limits(req), open_files);
        let mut store = self.new_store(state, run.deadline);
        let entry_point = req.entry_point;
        let result = run.drive(async {
            let instance = pre
                .instantiate_async(&mut store)
                .await
                .map_err(Failure::Instantiate)?;
            let entry = instance
                .get_typed_func::<(), ()>(&mut store, entry_point)
                .map_err(|_| Failure::NoEntryPoint)?;
            entry.call_async(&mut store, ()).await.map_err(Failure::Run)
        });
        let memory_limited = store.data().limits.refused;
        run.open_files_limited.set(store.data().open_files.refused);
        drop(store);
        (run.verdict(result), memory_limited)
    }

    fn run_command(&self, run: &Run<'_>, pre: &CommandPre<ComponentState>) -> (RunStatus, bool) {
        let state = match self.component_state(run, true) {
            Ok(state) => state,
            Err(why) => return (RunStatus::SetupFailed(why), false),
        };
        let mut store = self.new_store(state, run.deadline);
        let result = run.drive(async {
            let command = pre
                .instantiate_async(&mut store)
                .await
                .map_err(Failure::Instantiate)?;
            match command.wasi_cli_run().call_run(&mut store).await {
                Ok(Ok(())) => Ok(()),
                // `run` returned its error variant: the command failed, as `exit(1)`.
                Ok(Err(())) => Err(Failure::Run(I32Exit(1).into())),
                Err(e) => Err(Failure::Run(e)),
            }
        });
        let memory_limited = store.data().limits.refused;
        drop(store);
        (run.verdict(result), memory_limited)
    }

    /// The state of a component request's store: its WASI context (stdio bridged as for
    /// commands when `stdio`, else stdout and stderr to the log), limits and outbound policy.
    pub(crate) fn component_state(
        &self,
        run: &Run<'_>,
        stdio: bool,
    ) -> Result<ComponentState, String> {
        let req = run.req;
        let mut builder = wasi_builder(req, run.bridge, stdio)?;
        let outbound = OutboundPolicy::parse(req.outbound.iter().copied())?;
        Ok(ComponentState::new(
            builder.build(),
            store_limits(req),
            Arc::new(outbound),
            run.bridge.clone(),
        ))
    }
}

/// What every runner of one request shares.
pub(crate) struct Run<'a> {
    pub(crate) req: &'a Request<'a>,
    pub(crate) bridge: &'a IoBridge,
    pub(crate) timeout: Duration,
    pub(crate) deadline: Instant,
    /// Set by the preview 1 runner: `WasmMaxOpenFiles` refused an open.
    pub(crate) open_files_limited: Cell<bool>,
}

impl Run<'_> {
    /// Drives `run` on this thread until it ends or the deadline passes.
    pub(crate) fn drive<T>(
        &self,
        run: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let _armed = watchdog::arm(self.deadline);
        wasmtime_wasi::runtime::in_tokio(async {
            tokio::time::timeout_at(self.deadline.into(), run)
                .await
                .unwrap_or(Err(Failure::Deadline))
        })
    }

    /// How a run that ended with `result` is reported.
    pub(crate) fn verdict(&self, result: Result<(), Failure>) -> RunStatus {
        let (timeout, deadline) = (self.timeout, self.deadline);
        match result {
            Ok(()) => RunStatus::Ok,
            Err(Failure::Deadline) => RunStatus::Timeout(timeout),
            Err(Failure::NoEntryPoint) => RunStatus::SetupFailed(format!(
                "the module exports no function `{}` taking and returning nothing",
                self.req.entry_point
            )),
            Err(Failure::Instantiate(e)) => {
                if e.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
                    RunStatus::Busy
                } else {
                    RunStatus::SetupFailed(format!("{e:#}"))
                }
            }
            Err(Failure::Output) => match self.bridge.failure() {
                Some(failure) => failure_status(failure, timeout, deadline),
                None => RunStatus::Trap("the response could not be delivered".into()),
            },
            Err(Failure::Answer(why)) => RunStatus::Trap(why),
            // The fiber a call runs on comes from the same pool as the instance slots.
            Err(Failure::Run(e)) if e.downcast_ref::<PoolConcurrencyLimitError>().is_some() => {
                RunStatus::Busy
            }
            Err(Failure::Run(e)) => {
                if let Some(exit) = e.downcast_ref::<I32Exit>() {
                    if exit.0 == 0 {
                        RunStatus::Ok
                    } else {
                        RunStatus::ExitFailure(exit.0)
                    }
                } else if let Some(failure) = self.bridge.failure() {
                    failure_status(failure, timeout, deadline)
                } else if let Some(trap) = e.downcast_ref::<Trap>() {
                    if *trap == Trap::Interrupt {
                        RunStatus::Timeout(timeout)
                    } else {
                        RunStatus::Trap(crate::trap_message::describe(&e))
                    }
                } else if Instant::now() >= deadline {
                    // A host call cut short by the deadline (EINTR) surfaced as an error.
                    RunStatus::Timeout(timeout)
                } else {
                    RunStatus::Trap(crate::trap_message::describe(&e))
                }
            }
        }
    }

    /// Ends the output: pending body bytes delivered on success, and on an exit with a non-zero
    /// code once the module has begun its response (where a late failure, such as a body shorter
    /// than its `Content-Length`, still turns the verdict); dropped otherwise.
    fn finish(&self, status: RunStatus) -> RunStatus {
        let delivered = match status {
            RunStatus::Ok => RunStatus::Ok,
            RunStatus::ExitFailure(code) if self.bridge.response_begun() => {
                RunStatus::ExitAfterResponse(code)
            }
            other => {
                self.bridge.finish(false);
                return other;
            }
        };
        self.bridge.finish(true);
        match self.bridge.failure() {
            Some(failure) => failure_status(failure, self.timeout, self.deadline),
            None => delivered,
        }
    }
}

/// A store's data that carries the route's memory limiter.
pub(crate) trait LimitedState: Send + 'static {
    fn limiter(&mut self) -> &mut dyn ResourceLimiter;
}

impl LimitedState for RequestState {
    fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }
}

impl LimitedState for ComponentState {
    fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }
}

fn store_limits(req: &Request<'_>) -> StoreLimits {
    let memory = req.limits.memory.unwrap_or(DEFAULT_MEMORY_LIMIT);
    StoreLimitsBuilder::new()
        .memory_size(usize::try_from(memory).unwrap_or(usize::MAX))
        .trap_on_grow_failure(false)
        .build()
}

/// Why the run future ended early.
pub(crate) enum Failure {
    Instantiate(wasmtime::Error),
    NoEntryPoint,
    Run(wasmtime::Error),
    Deadline,
    /// The output side stopped the run (the bridge knows why).
    Output,
    /// A wasi:http handler answered with an error, or not at all.
    Answer(String),
}

fn failure_status(failure: OutputFailure, timeout: Duration, deadline: Instant) -> RunStatus {
    match failure {
        // A body read that failed because the deadline came is the module's time running out.
        OutputFailure::BodyRead if Instant::now() >= deadline => RunStatus::Timeout(timeout),
        OutputFailure::OutputLimit(limit) => RunStatus::OutputLimit(limit),
        OutputFailure::ClientGone => RunStatus::ClientGone,
        OutputFailure::BadHeaders(e) => RunStatus::BadHeaders(format!("bad CGI headers: {e}")),
        OutputFailure::BadHead(e) => RunStatus::BadHeaders(format!(
            "bad response head: {}",
            crate::response_head::describe(&e)
        )),
        OutputFailure::HeadersRefused => {
            RunStatus::BadHeaders("bad CGI headers: refused by the server".into())
        }
        OutputFailure::BodyRead => RunStatus::BodyReadFailed,
        failure @ OutputFailure::LengthMismatch { .. } => {
            RunStatus::BadHeaders(format!("bad CGI headers: {failure}"))
        }
    }
}

/// The WASI context of a request: args, environment, folders; stdio bridged to the host when
/// `stdio` (commands), else only stdout and stderr, both to the log (wasi:http handlers).
fn wasi_builder(
    req: &Request<'_>,
    bridge: &IoBridge,
    stdio: bool,
) -> Result<WasiCtxBuilder, String> {
    let mut builder = WasiCtxBuilder::new();
    builder.allow_blocking_current_thread(true);
    builder.arg(req.argv0);
    for arg in &req.args {
        builder.arg(arg);
    }
    let host_dirs: Vec<(&str, &str)> = req.dirs.iter().map(|(g, d)| (*g, d.host())).collect();
    for (name, value) in &req.env {
        if req.map_cgi_filenames && HOST_PATH_VARIABLES.contains(name) {
            // A host path no mapping contains would tell the module about the host: dropped.
            if let Some(guest) = map_to_guest(value, &host_dirs) {
                builder.env(name, guest);
            }
        } else {
            builder.env(name, value);
        }
    }
    for (guest, dir) in &req.dirs {
        let perms = if dir.read_only() {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder
            .preopened_dir(dir.handle_path(), guest, perms)
            .map_err(|e| format!("cannot open folder `{}` for `{guest}`: {e:#}", dir.host()))?;
    }
    if stdio {
        builder.stdin(bridge.stdin());
        builder.stdout(bridge.stdout());
    } else {
        builder.stdout(bridge.stderr());
    }
    builder.stderr(bridge.stderr());
    Ok(builder)
}

/// The CGI variables that hold host paths, which `WasmMapCGIFileNames` rewrites to guest paths.
pub const HOST_PATH_VARIABLES: [&str; 4] = [
    "SCRIPT_FILENAME",
    "PATH_TRANSLATED",
    "DOCUMENT_ROOT",
    "CONTEXT_DOCUMENT_ROOT",
];

/// Rewrites a host path to the guest path of the most specific mapping that contains it; `None`
/// when no mapping does.
pub fn map_to_guest(host_path: &str, dirs: &[(&str, &str)]) -> Option<String> {
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
    best.map(|(guest, host)| {
        let rest = &host_path[host.len()..];
        let guest = guest.trim_end_matches('/');
        if guest.is_empty() && rest.is_empty() {
            "/".to_string()
        } else {
            format!("{guest}{rest}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::map_to_guest;

    #[test]
    fn maps_the_most_specific_dir() {
        let dirs = [("/app", "/srv/app"), ("/lib", "/srv/app/lib")];
        let map = |p| map_to_guest(p, &dirs);
        assert_eq!(map("/srv/app/main.py").as_deref(), Some("/app/main.py"));
        assert_eq!(map("/srv/app/lib/x.py").as_deref(), Some("/lib/x.py"));
        assert_eq!(map("/srv/app").as_deref(), Some("/app"));
        // Outside every mapping: no guest path (the variable is dropped).
        assert_eq!(map("/srv/application/x"), None);
        assert_eq!(map("/elsewhere"), None);
        let root = [("/", "/srv/www")];
        assert_eq!(map_to_guest("/srv/www", &root).as_deref(), Some("/"));
        assert_eq!(
            map_to_guest("/srv/www/i.php", &root).as_deref(),
            Some("/i.php")
        );
    }
}
