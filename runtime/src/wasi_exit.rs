//! `proc_exit` for WASI preview 1 that reports every exit status as an exit.
//!
//! wasmtime-wasi turns a `proc_exit` status of 126 or more into an error ("exit with invalid exit
//! status outside of [0..126)"), which the request runner would report as a trap. Programs do
//! exit so — PHP exits 255 after a fatal error, shells use 126–255 — and for a CGI program the
//! status is a fact to log, not a fault of the sandbox. This shadows the import: any status ends
//! the run as an [`I32Exit`] carrying it.

use wasmtime::Linker;
use wasmtime_wasi::I32Exit;

use crate::request_state::RequestState;

/// Replaces `proc_exit` in `linker` (which already holds wasmtime-wasi's preview 1 functions).
pub fn shadow_proc_exit(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "proc_exit",
        |status: i32| -> wasmtime::Result<()> { Err(I32Exit(status).into()) },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
