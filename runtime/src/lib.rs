//! `wasm_runtime`: the engine behind mod_wasm.
//!
//! Engine settings ([`engine`]) live here and nowhere else: the server builds its engine with
//! them and the CLI precompiles with them, so a `.cwasm` always matches the runtime that loads it.
//! A [`Runtime`] loads each module once per content digest ([`loader`]) and runs every request
//! in a fresh store ([`request`]) whose stdio streams to the host ([`streams`], [`host_io`]).
//! The C API ([`ffi`], `include/wasm_runtime.h`) is what `mod_wasm.c` calls.

pub mod atomic_file;
pub mod cgi_headers;
pub mod compiled;
pub mod component_state;
pub mod digest;
pub mod directives;
pub mod engine;
pub mod epoch;
pub mod error;
pub mod ffi;
pub mod host_io;
pub mod http_handler;
pub mod http_head;
pub mod loader;
pub mod mapped_dir;
pub mod module_limits;
pub mod native_trust;
pub mod outbound;
pub mod precompiled;
pub mod request;
pub mod request_state;
pub mod response_head;
pub mod runtime;
pub mod safe_path;
pub mod signals;
pub mod status;
pub mod streams;
pub mod trap_message;
pub mod units;
pub mod wasi_exit;
pub mod wasi_open_files;
pub mod wasi_sleep;
pub mod watchdog;

pub use error::RuntimeError;
pub use host_io::{HeadersAnswer, HostIo, MemoryIo};
pub use mapped_dir::MappedDir;
pub use module_limits::ModuleLimits;
pub use request::{Limits, Outcome, Request, RunStatus};
pub use runtime::{LoadOrigin, LoadPolicy, LoadedModule, LogLevel, Logger, Runtime};

/// This crate's version, recorded in every `.cwasm` sidecar and bundle lock.
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");
