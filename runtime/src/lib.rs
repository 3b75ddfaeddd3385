//! `wasm_runtime`: the engine behind mod_wasm.
//!
//! Engine settings ([`engine`]) live here and nowhere else: the server builds its engine with
//! them and the CLI precompiles with them, so a `.cwasm` always matches the runtime that loads it.
//! The C API ([`ffi`], `include/wasm_runtime.h`) is what `mod_wasm.c` calls.

pub mod atomic_file;
pub mod digest;
pub mod engine;
pub mod error;
pub mod precompiled;
pub mod units;

pub use error::RuntimeError;

/// This crate's version, recorded in every `.cwasm` sidecar and bundle lock.
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");
