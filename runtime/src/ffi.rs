//! The C API declared in `include/wasm_runtime.h`. Every function catches panics: nothing
//! unwinds into Apache. Ownership rules are stated in the header.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_char, c_int, c_long, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::compiled::ModuleKind;
use crate::engine::{EngineSettings, OptLevel};
use crate::host_io::{BodyReadError, ClientGone, HeadersAnswer, HostIo};
use crate::http_head::HttpHead;
use crate::loader::check_module_file;
use crate::mapped_dir::MappedDir;
use crate::module_limits::ModuleLimits;
use crate::request::{Limits, Outcome, Request, RunStatus};
use crate::runtime::{LoadPolicy, LoadedModule, LogLevel, Logger, Runtime};
use crate::status::Outcome as StatusOutcome;

/// `wasm_engine_settings_t`.
#[repr(C)]
pub struct wasm_engine_settings_t {
    pub opt_level: c_int,
    pub pooling: c_int,
    pub pooling_max_instances: u32,
    pub cache_dir: *const c_char,
}

/// `wasm_log_fn`.
pub type wasm_log_fn = Option<unsafe extern "C" fn(level: c_int, message: *const c_char)>;

/// `wasm_pair_t`.
#[repr(C)]
pub struct wasm_pair_t {
    pub name: *const c_char,
    pub value: *const c_char,
}

/// `wasm_preopen_t`.
#[repr(C)]
pub struct wasm_preopen_t {
    pub guest: *const c_char,
    pub dir: *const MappedDir,
}

/// `wasm_module_limits_t` is [`ModuleLimits`] (`#[repr(C)]`, four `u64`).
pub type wasm_module_limits_t = ModuleLimits;

/// `wasm_load_policy_t`.
#[repr(C)]
pub struct wasm_load_policy_t {
    pub limits: wasm_module_limits_t,
    pub run_uid: i64,
}

/// `wasm_io_t`.
#[repr(C)]
pub struct wasm_io_t {
    pub ctx: *mut c_void,
    pub read_body: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize, u64) -> c_long>,
    pub write_headers: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> c_int>,
    pub write_body: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> c_int>,
    pub log_stderr: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize)>,
    pub flush: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    pub log_notice: Option<unsafe extern "C" fn(*mut c_void, *const c_char)>,
    pub write_head:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const wasm_pair_t, usize) -> c_int>,
}

/// `wasm_request_t`.
#[repr(C)]
pub struct wasm_request_t {
    pub module: *const LoadedModule,
    pub entry_point: *const c_char,
    pub argv0: *const c_char,
    pub args: *const *const c_char,
    pub nargs: usize,
    pub env: *const wasm_pair_t,
    pub nenv: usize,
    pub dirs: *const wasm_preopen_t,
    pub ndirs: usize,
    pub cgi: c_int,
    pub map_cgi_filenames: c_int,
    pub timeout_ms: u64,
    pub memory_limit: u64,
    pub output_limit: u64,
    pub method: *const c_char,
    pub path_with_query: *const c_char,
    pub scheme: *const c_char,
    pub authority: *const c_char,
    pub headers: *const wasm_pair_t,
    pub nheaders: usize,
    pub outbound: *const *const c_char,
    pub noutbound: usize,
    pub max_open_files: u64,
}

/// `wasm_module_kind_t` values.
pub const WASM_KIND_MODULE: c_int = 0;
pub const WASM_KIND_HTTP_COMPONENT: c_int = 1;
pub const WASM_KIND_COMMAND_COMPONENT: c_int = 2;

/// `wasm_outcome_t`.
#[repr(C)]
pub struct wasm_outcome_t {
    pub status: c_int,
    pub exit_code: c_int,
    pub output_started: c_int,
    pub body_bytes: u64,
    pub elapsed_us: u64,
    pub counted_as: c_int,
    pub message: [c_char; 512],
}

/// `wasm_run_status_t` values.
pub const WASM_RUN_OK: c_int = 0;
pub const WASM_RUN_EXIT_FAILURE: c_int = 1;
pub const WASM_RUN_TRAP: c_int = 2;
pub const WASM_RUN_TIMEOUT: c_int = 3;
pub const WASM_RUN_OUTPUT_LIMIT: c_int = 4;
pub const WASM_RUN_CLIENT_GONE: c_int = 5;
pub const WASM_RUN_BAD_HEADERS: c_int = 6;
pub const WASM_RUN_SETUP_FAILED: c_int = 7;
pub const WASM_RUN_BODY_ERROR: c_int = 8;
pub const WASM_RUN_BUSY: c_int = 9;
pub const WASM_RUN_EXIT_AFTER_RESPONSE: c_int = 10;

/// The C status code and exit code for a run's status.
pub fn status_code(status: &RunStatus) -> (c_int, c_int) {
    match status {
        RunStatus::Ok => (WASM_RUN_OK, 0),
        RunStatus::ExitFailure(code) => (WASM_RUN_EXIT_FAILURE, *code),
        RunStatus::Trap(_) => (WASM_RUN_TRAP, 0),
        RunStatus::Timeout(_) => (WASM_RUN_TIMEOUT, 0),
        RunStatus::OutputLimit(_) => (WASM_RUN_OUTPUT_LIMIT, 0),
        RunStatus::ClientGone => (WASM_RUN_CLIENT_GONE, 0),
        RunStatus::BadHeaders(_) => (WASM_RUN_BAD_HEADERS, 0),
        RunStatus::SetupFailed(_) => (WASM_RUN_SETUP_FAILED, 0),
        RunStatus::BodyReadFailed => (WASM_RUN_BODY_ERROR, 0),
        RunStatus::Busy => (WASM_RUN_BUSY, 0),
        RunStatus::ExitAfterResponse(code) => (WASM_RUN_EXIT_AFTER_RESPONSE, *code),
    }
}

fn write_str(buf: *mut c_char, len: usize, message: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let mut n = message.len().min(len - 1);
    while !message.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller gave `len` writable bytes at `buf`.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr().cast::<c_char>(), buf, n);
        *buf.add(n) = 0;
    }
}

/// Runs `f` without letting a panic cross into C; a failure's message goes into `errbuf`.
fn guarded<T>(
    errbuf: *mut c_char,
    errlen: usize,
    doing: &str,
    f: impl FnOnce() -> Result<T, String>,
) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(message)) => {
            write_str(errbuf, errlen, &message);
            None
        }
        Err(_) => {
            write_str(
                errbuf,
                errlen,
                &format!("internal error (panic) while {doing}"),
            );
            None
        }
    }
}

/// Borrowed C string as text (invalid UTF-8 replaced). NULL is `None`.
unsafe fn text<'a>(ptr: *const c_char) -> Option<Cow<'a, str>> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: the caller passes a NUL-terminated string valid for the call.
        Some(unsafe { CStr::from_ptr(ptr) }.to_string_lossy())
    }
}

unsafe fn settings_from(s: &wasm_engine_settings_t) -> (EngineSettings, Option<PathBuf>) {
    let opt_level = match s.opt_level {
        0 => OptLevel::None,
        2 => OptLevel::SpeedAndSize,
        _ => OptLevel::Speed,
    };
    let settings = EngineSettings {
        opt_level,
        pooling: s.pooling != 0,
        pooling_max_instances: s.pooling_max_instances,
        parallel_compilation: true,
    };
    // SAFETY: borrowed string, see the header.
    let cache = unsafe { text(s.cache_dir) }
        .filter(|c| !c.is_empty())
        .map(|c| PathBuf::from(c.into_owned()));
    (settings, cache)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_new(
    settings: *const wasm_engine_settings_t,
    log: wasm_log_fn,
    errbuf: *mut c_char,
    errlen: usize,
) -> *mut Runtime {
    guarded(errbuf, errlen, "creating the runtime", || {
        if settings.is_null() {
            return Err("no settings given".to_string());
        }
        // SAFETY: non-null, borrowed for the call.
        let (settings, cache) = unsafe { settings_from(&*settings) };
        Runtime::new(settings, cache, host_logger(log)).map_err(|e| e.to_string())
    })
    .map_or(std::ptr::null_mut(), |runtime| {
        Box::into_raw(Box::new(runtime))
    })
}

/// The host's logging function as a [`Logger`].
fn host_logger(log: wasm_log_fn) -> Option<Logger> {
    log.map(|f| {
        Arc::new(move |level: LogLevel, message: &str| {
            let line = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: the host's logger, given a valid NUL-terminated string.
            unsafe { f(level as c_int, line.as_ptr()) }
        }) as Logger
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_set_log(rt: *mut Runtime, log: wasm_log_fn) {
    // SAFETY: valid runtime per the header.
    if let Some(rt) = unsafe { rt.as_ref() } {
        let _ = catch_unwind(AssertUnwindSafe(|| rt.set_logger(host_logger(log))));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_has_settings(
    rt: *const Runtime,
    settings: *const wasm_engine_settings_t,
) -> c_int {
    if rt.is_null() || settings.is_null() {
        return 0;
    }
    // SAFETY: valid pointers per the header.
    let (rt, (settings, cache)) = unsafe { (&*rt, settings_from(&*settings)) };
    (rt.settings() == &settings && rt.cache_dir() == cache.as_deref()) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_free(rt: *mut Runtime) {
    if !rt.is_null() {
        // SAFETY: created by wasm_runtime_new, freed once.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(rt) })));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_child_init(rt: *mut Runtime) {
    if !rt.is_null() {
        // SAFETY: valid runtime.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { &*rt }.child_init()));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_begin_load(rt: *mut Runtime) {
    if !rt.is_null() {
        // SAFETY: valid runtime.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { &*rt }.begin_load()));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_end_load(rt: *mut Runtime) {
    if !rt.is_null() {
        // SAFETY: valid runtime.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { &*rt }.end_load()));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_set_load_policy(
    rt: *mut Runtime,
    policy: *const wasm_load_policy_t,
) {
    // SAFETY: valid runtime and policy per the header.
    if let (Some(rt), Some(policy)) = (unsafe { rt.as_ref() }, unsafe { policy.as_ref() }) {
        let policy = LoadPolicy {
            limits: policy.limits,
            run_uid: u32::try_from(policy.run_uid).ok(),
        };
        let _ = catch_unwind(AssertUnwindSafe(|| rt.set_load_policy(policy)));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_open_dir(
    rt: *mut Runtime,
    host: *const c_char,
    read_only: c_int,
    errbuf: *mut c_char,
    errlen: usize,
) -> *const MappedDir {
    guarded(errbuf, errlen, "opening the folder", || {
        // SAFETY: valid runtime and string per the header.
        let (Some(rt), Some(host)) = (unsafe { rt.as_ref() }, unsafe { text(host) }) else {
            return Err("no runtime or no folder".to_string());
        };
        rt.open_dir(&host, read_only != 0)
            .map(|d| Arc::as_ptr(&d))
            .map_err(|e| e.to_string())
    })
    .unwrap_or(std::ptr::null())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_check_dir(
    host: *const c_char,
    errbuf: *mut c_char,
    errlen: usize,
) -> c_int {
    guarded(errbuf, errlen, "checking the folder", || {
        // SAFETY: borrowed string.
        let host = unsafe { text(host) }.ok_or_else(|| "no folder".to_string())?;
        MappedDir::open(&host, true).map(drop)
    })
    .map_or(-1, |()| 0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_parse_module_limit(
    setting: *const c_char,
    limits: *mut wasm_module_limits_t,
    errbuf: *mut c_char,
    errlen: usize,
) -> c_int {
    guarded(errbuf, errlen, "parsing the limit", || {
        // SAFETY: borrowed string and caller-owned limits, per the header.
        let setting = unsafe { text(setting) }.ok_or_else(|| "no value given".to_string())?;
        let limits = unsafe { limits.as_mut() }.ok_or_else(|| "no limits given".to_string())?;
        limits.apply_setting(&setting)
    })
    .map_or(-1, |()| 0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_load_module(
    rt: *mut Runtime,
    path: *const c_char,
    errbuf: *mut c_char,
    errlen: usize,
) -> *const LoadedModule {
    guarded(errbuf, errlen, "loading the module", || {
        // SAFETY: valid runtime and string per the header.
        let (Some(rt), Some(path)) = (unsafe { rt.as_ref() }, unsafe { text(path) }) else {
            return Err("no runtime or no path".to_string());
        };
        rt.load_module(Path::new(path.as_ref()))
            .map(|m| Arc::as_ptr(&m))
            .map_err(|e| e.to_string())
    })
    .unwrap_or(std::ptr::null())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_check_module_file(
    path: *const c_char,
    limits: *const wasm_module_limits_t,
    errbuf: *mut c_char,
    errlen: usize,
) -> c_int {
    guarded(errbuf, errlen, "checking the module", || {
        // SAFETY: borrowed string and limits (NULL: defaults).
        let path = unsafe { text(path) }.ok_or_else(|| "no path".to_string())?;
        let limits = unsafe { limits.as_ref() }.copied().unwrap_or_default();
        check_module_file(Path::new(path.as_ref()), &limits).map_err(|e| e.to_string())
    })
    .map_or(-1, |()| 0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_directive_parse(
    name: *const c_char,
    args: *const *const c_char,
    nargs: usize,
    out: *mut u64,
    errbuf: *mut c_char,
    errlen: usize,
) -> c_int {
    let parsed = guarded(errbuf, errlen, "checking the directive", || {
        // SAFETY: borrowed strings, per the header.
        let name = unsafe { text(name) }.ok_or_else(|| "no directive name".to_string())?;
        let args: Vec<Cow<str>> = unsafe { slice(args, nargs) }
            .iter()
            .map(|&a| unsafe { text(a) }.unwrap_or_default())
            .collect();
        let args: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        crate::directives::parse(&name, &args)
    });
    match parsed {
        Some(value) => {
            if !out.is_null() {
                // SAFETY: caller-owned output.
                unsafe { *out = value };
            }
            0
        }
        None => -1,
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn wasm_runtime_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Apache's callbacks as a [`HostIo`].
struct CallbackIo<'a>(&'a wasm_io_t);

impl HostIo for CallbackIo<'_> {
    fn read_body(&mut self, buf: &mut [u8], time_left: Duration) -> Result<usize, BodyReadError> {
        let Some(read) = self.0.read_body else {
            return Ok(0);
        };
        let millis = u64::try_from(time_left.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // SAFETY: the host's callback with a writable buffer of `buf.len()` bytes.
        let n = unsafe { read(self.0.ctx, buf.as_mut_ptr().cast(), buf.len(), millis) };
        usize::try_from(n)
            .map(|n| n.min(buf.len()))
            .map_err(|_| BodyReadError)
    }
    fn write_headers(&mut self, block: &[u8]) -> HeadersAnswer {
        let Some(write) = self.0.write_headers else {
            return HeadersAnswer::Continue;
        };
        // SAFETY: the host's callback with a readable buffer.
        match unsafe { write(self.0.ctx, block.as_ptr().cast(), block.len()) } {
            0 => HeadersAnswer::Continue,
            1 => HeadersAnswer::DiscardBody,
            _ => HeadersAnswer::Abort,
        }
    }
    fn write_head(&mut self, status: u16, fields: &[(String, String)]) -> HeadersAnswer {
        let Some(write) = self.0.write_head else {
            return HeadersAnswer::Abort;
        };
        // Checked fields hold no NUL; a CString per name and value, valid for the call.
        let owned: Vec<(CString, CString)> = fields
            .iter()
            .filter_map(|(n, v)| {
                Some((
                    CString::new(n.as_str()).ok()?,
                    CString::new(v.as_str()).ok()?,
                ))
            })
            .collect();
        let pairs: Vec<wasm_pair_t> = owned
            .iter()
            .map(|(n, v)| wasm_pair_t {
                name: n.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        // SAFETY: the host's callback with `pairs.len()` borrowed pairs.
        match unsafe { write(self.0.ctx, c_int::from(status), pairs.as_ptr(), pairs.len()) } {
            0 => HeadersAnswer::Continue,
            1 => HeadersAnswer::DiscardBody,
            _ => HeadersAnswer::Abort,
        }
    }
    fn write_body(&mut self, bytes: &[u8]) -> Result<(), ClientGone> {
        let Some(write) = self.0.write_body else {
            return Ok(());
        };
        // SAFETY: the host's callback with a readable buffer.
        match unsafe { write(self.0.ctx, bytes.as_ptr().cast(), bytes.len()) } {
            0 => Ok(()),
            _ => Err(ClientGone),
        }
    }
    fn log_stderr(&mut self, line: &[u8]) {
        if let Some(log) = self.0.log_stderr {
            // SAFETY: the host's callback with a readable buffer.
            unsafe { log(self.0.ctx, line.as_ptr().cast(), line.len()) }
        }
    }
    fn log_notice(&mut self, message: &str) {
        if let Some(log) = self.0.log_notice {
            let line = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: the host's callback with a NUL-terminated string valid for the call.
            unsafe { log(self.0.ctx, line.as_ptr()) }
        }
    }
    fn flush(&mut self) -> Result<(), ClientGone> {
        match self.0.flush {
            // SAFETY: the host's callback.
            Some(flush) if unsafe { flush(self.0.ctx) } != 0 => Err(ClientGone),
            _ => Ok(()),
        }
    }
}

unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller passes `len` valid elements.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

unsafe fn pairs<'a>(ptr: *const wasm_pair_t, len: usize) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    // SAFETY: borrowed array of borrowed strings.
    unsafe { slice(ptr, len) }
        .iter()
        .filter_map(|p| unsafe { Some((text(p.name)?, text(p.value)?)) })
        .collect()
}

fn set_outcome(out: &mut wasm_outcome_t, run: &Outcome) {
    let (status, exit) = status_code(&run.status);
    out.status = status;
    out.exit_code = exit;
    out.output_started = run.output_started as c_int;
    out.body_bytes = run.body_bytes;
    out.elapsed_us = run.elapsed_us;
    out.counted_as = run.counted_as() as c_int;
    write_str(out.message.as_mut_ptr(), out.message.len(), &run.message());
}

/// Every counted outcome sits at its own index (`counted_as` round-trips).
#[cfg(test)]
#[test]
fn counted_outcomes_round_trip() {
    for (i, o) in STATUS_OUTCOMES.iter().enumerate() {
        assert_eq!(*o as usize, i, "{}", o.name());
    }
}

fn setup_failed(message: String) -> Outcome {
    Outcome {
        status: RunStatus::SetupFailed(message),
        output_started: false,
        body_bytes: 0,
        memory_limited: false,
        open_files_limited: false,
        elapsed_us: 0,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_runtime_run(
    rt: *const Runtime,
    req: *const wasm_request_t,
    io: *const wasm_io_t,
    outcome: *mut wasm_outcome_t,
) {
    if outcome.is_null() {
        return;
    }
    // SAFETY: caller-owned outcome.
    let out = unsafe { &mut *outcome };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: all pointers valid for the call, per the header.
        let (Some(rt), Some(req), Some(io)) =
            (unsafe { rt.as_ref() }, unsafe { req.as_ref() }, unsafe {
                io.as_ref()
            })
        else {
            return Err("missing runtime, request or io".to_string());
        };
        // SAFETY: a module pointer handed out by wasm_runtime_load_module, still owned by `rt`.
        let Some(module) = (unsafe { req.module.as_ref() }) else {
            return Err("no module".to_string());
        };
        let entry = unsafe { text(req.entry_point) }.unwrap_or(Cow::Borrowed("_start"));
        let argv0 = unsafe { text(req.argv0) }.unwrap_or(Cow::Borrowed("module.wasm"));
        let args: Vec<Cow<str>> = unsafe { slice(req.args, req.nargs) }
            .iter()
            .filter_map(|&a| unsafe { text(a) })
            .collect();
        let env = unsafe { pairs(req.env, req.nenv) };
        let mut dirs = Vec::with_capacity(req.ndirs);
        for preopen in unsafe { slice(req.dirs, req.ndirs) } {
            // SAFETY: borrowed guest string; a folder handed out by wasm_runtime_open_dir.
            match (unsafe { text(preopen.guest) }, unsafe {
                preopen.dir.as_ref()
            }) {
                (Some(guest), Some(dir)) => dirs.push((guest, dir)),
                _ => return Err("a mapped folder is missing (see the start-up log)".to_string()),
            }
        }
        let nonzero = |v: u64| (v != 0).then_some(v);
        let headers = unsafe { pairs(req.headers, req.nheaders) };
        let head_text = |p: *const c_char| unsafe { text(p) }.unwrap_or(Cow::Borrowed(""));
        let (method, path, scheme, authority) = (
            head_text(req.method),
            head_text(req.path_with_query),
            head_text(req.scheme),
            head_text(req.authority),
        );
        let http = (!method.is_empty()).then(|| HttpHead {
            method: &method,
            path_with_query: &path,
            scheme: &scheme,
            authority: &authority,
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_ref(), v.as_ref()))
                .collect(),
        });
        let outbound: Vec<Cow<str>> = unsafe { slice(req.outbound, req.noutbound) }
            .iter()
            .filter_map(|&a| unsafe { text(a) })
            .collect();
        let request = Request {
            module,
            entry_point: &entry,
            argv0: &argv0,
            args: args.iter().map(|a| a.as_ref()).collect(),
            env: env.iter().map(|(n, v)| (n.as_ref(), v.as_ref())).collect(),
            dirs: dirs.iter().map(|(g, d)| (g.as_ref(), *d)).collect(),
            cgi: req.cgi != 0,
            map_cgi_filenames: req.map_cgi_filenames != 0,
            limits: Limits {
                timeout: nonzero(req.timeout_ms).map(Duration::from_millis),
                memory: nonzero(req.memory_limit),
                output: nonzero(req.output_limit),
                open_files: nonzero(req.max_open_files),
            },
            http,
            outbound: outbound.iter().map(|o| o.as_ref()).collect(),
        };
        let mut host = CallbackIo(io);
        Ok(rt.run(&request, &mut host))
    }));
    let run = match result {
        Ok(Ok(run)) => run,
        Ok(Err(message)) => setup_failed(message),
        Err(_) => setup_failed("internal error (panic) while running the module".into()),
    };
    set_outcome(out, &run);
}

/// The status counter outcome stored in `counted_as`.
fn counted_as(outcome: &wasm_outcome_t) -> StatusOutcome {
    STATUS_OUTCOMES
        .get(usize::try_from(outcome.counted_as).unwrap_or(usize::MAX))
        .copied()
        .unwrap_or(StatusOutcome::SetupFailed)
}

/// Every counted outcome, in declaration order (`Outcome as c_int` indexes it).
const STATUS_OUTCOMES: [StatusOutcome; 12] = [
    StatusOutcome::Ok,
    StatusOutcome::Exit,
    StatusOutcome::Trap,
    StatusOutcome::Timeout,
    StatusOutcome::OutputLimit,
    StatusOutcome::MemoryLimit,
    StatusOutcome::BadHeaders,
    StatusOutcome::ClientGone,
    StatusOutcome::BodyError,
    StatusOutcome::Busy,
    StatusOutcome::SetupFailed,
    StatusOutcome::OpenFilesLimit,
];

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_outcome_not_run(outcome: *mut wasm_outcome_t, status: c_int) {
    // SAFETY: a caller-owned outcome, or NULL.
    if let Some(out) = unsafe { outcome.as_mut() } {
        let run = Outcome {
            status: if status == WASM_RUN_BODY_ERROR {
                RunStatus::BodyReadFailed
            } else {
                RunStatus::SetupFailed(String::new())
            },
            output_started: false,
            body_bytes: 0,
            memory_limited: false,
            open_files_limited: false,
            elapsed_us: 0,
        };
        set_outcome(out, &run);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_outcome_name(outcome: *const wasm_outcome_t) -> *const c_char {
    // SAFETY: a caller-owned outcome filled by wasm_runtime_run, or NULL.
    let name = unsafe { outcome.as_ref() }.map_or("setup-failed", |o| counted_as(o).name());
    // The names are static ASCII; hand out NUL-terminated copies made once.
    static NAMES: std::sync::OnceLock<Vec<(&'static str, CString)>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        STATUS_OUTCOMES
            .iter()
            .map(|o| (o.name(), CString::new(o.name()).expect("no NUL")))
            .collect()
    });
    names
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(std::ptr::null(), |(_, c)| c.as_ptr())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_status_begin_cycle(release: *const c_char) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: borrowed string or NULL.
        let release = unsafe { text(release) };
        crate::status::begin_cycle(release.as_deref());
    }));
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_status_route(
    server: *const c_char,
    route: *const c_char,
    module: *const LoadedModule,
) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: borrowed strings; a module from wasm_runtime_load_module or NULL.
        let (Some(server), Some(route)) = (unsafe { text(server) }, unsafe { text(route) }) else {
            return -1;
        };
        let sha256 = unsafe { module.as_ref() }.map_or("", |m| m.digest.as_str());
        crate::status::Routes::get()
            .register(&server, &route, sha256)
            .and_then(|slot| c_int::try_from(slot).ok())
            .unwrap_or(-1)
    }))
    .unwrap_or(-1)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_status_record(
    slot: c_int,
    http_status: c_int,
    outcome: *const wasm_outcome_t,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a caller-owned outcome or NULL.
        let (Ok(slot), Some(outcome)) = (usize::try_from(slot), unsafe { outcome.as_ref() }) else {
            return;
        };
        if let Some(counters) = crate::status::Counters::get() {
            let http = u16::try_from(http_status).unwrap_or(500);
            counters.record(slot, http, counted_as(outcome), outcome.elapsed_us);
        }
    }));
}

/// `wasm_status_format_t` values.
pub const WASM_STATUS_HTML: c_int = 0;
pub const WASM_STATUS_JSON: c_int = 1;
pub const WASM_STATUS_PROMETHEUS: c_int = 2;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_status_render(
    rt: *const Runtime,
    format: c_int,
    config_generation: i64,
) -> *mut c_char {
    catch_unwind(AssertUnwindSafe(|| {
        let format = match format {
            WASM_STATUS_JSON => crate::status::Format::Json,
            WASM_STATUS_PROMETHEUS => crate::status::Format::Prometheus,
            _ => crate::status::Format::Html,
        };
        // SAFETY: a runtime from wasm_runtime_new, or NULL.
        let text = crate::status::render(unsafe { rt.as_ref() }, format, config_generation);
        CString::new(text.replace('\0', " ")).map_or(std::ptr::null_mut(), CString::into_raw)
    }))
    .unwrap_or(std::ptr::null_mut())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: a string from wasm_status_render, freed once.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// `wasm_module_kind()`: how the module is served.
///
/// # Safety
/// `module` is NULL or a module handed out by `wasm_runtime_load_module`, still owned by its runtime.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_module_kind(module: *const LoadedModule) -> c_int {
    // SAFETY: per the header.
    match unsafe { module.as_ref() }.map(|m| m.code.kind()) {
        Some(ModuleKind::HttpComponent) => WASM_KIND_HTTP_COMPONENT,
        Some(ModuleKind::CommandComponent) => WASM_KIND_COMMAND_COMPONENT,
        _ => WASM_KIND_MODULE,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn wasm_module_sha256(module: *const LoadedModule) -> *const c_char {
    // SAFETY: a module from wasm_runtime_load_module, or NULL.
    unsafe { module.as_ref() }.map_or(std::ptr::null(), |m| m.digest_c.as_ptr())
}
