//! `WasmMaxOpenFiles` for WASI preview 1: a request holds at most so many descriptors.
//!
//! Every file or folder a module opens inside a mapped folder is a real descriptor of the Apache
//! child; a module opening files in a loop would use up the child's `RLIMIT_NOFILE`, and the
//! child could then accept no connection (`AH02179 Too many open files`). This shadows
//! `path_open` (refused with `EMFILE` once the request holds its limit, stdio and preopened
//! folders included), `fd_close` and `fd_renumber` (which free one), calling wasmtime-wasi's own
//! generated functions with the caller's memory otherwise.

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};

use crate::request_state::RequestState;

const MODULE: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
/// `errno::mfile`: too many open files.
const ERRNO_MFILE: i32 = 33;

/// Runs `$call` (a generated preview 1 function) with this caller's memory and WASI context.
macro_rules! with_wasi {
    ($caller:expr, |$wasi:ident, $guest:ident| $call:expr) => {{
        let caller: &mut Caller<'_, RequestState> = $caller;
        let fuel = caller.as_context_mut().hostcall_fuel();
        let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
            return Err(wasmtime::Error::msg("the module exports no memory"));
        };
        let (data, state) = memory.data_and_store_mut(&mut *caller);
        let $wasi = &mut state.wasi;
        $wasi.set_hostcall_fuel(fuel);
        let mut $guest = wiggle::GuestMemory::Unshared(data);
        $call
    }};
}

/// Replaces `path_open`, `fd_close` and `fd_renumber` in `linker`.
pub fn shadow_open_files(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        MODULE,
        "path_open",
        |mut caller: Caller<'_, RequestState>,
         (fd, dirflags, path, path_len, oflags, base, inheriting, fdflags, out): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i64,
            i64,
            i32,
            i32,
        )| {
            Box::new(async move {
                let files = caller.data().open_files;
                if files.open >= files.limit {
                    caller.data_mut().open_files.refused = true;
                    return Ok(ERRNO_MFILE);
                }
                let errno = with_wasi!(&mut caller, |wasi, guest| {
                    p1::path_open(
                        wasi, &mut guest, fd, dirflags, path, path_len, oflags, base, inheriting,
                        fdflags, out,
                    )
                    .await?
                });
                if errno == ERRNO_SUCCESS {
                    caller.data_mut().open_files.open += 1;
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_close",
        |mut caller: Caller<'_, RequestState>, (fd,): (i32,)| {
            Box::new(async move {
                let errno = with_wasi!(&mut caller, |wasi, guest| p1::fd_close(
                    wasi, &mut guest, fd
                )
                .await?);
                closed_one(&mut caller, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_renumber",
        |mut caller: Caller<'_, RequestState>, (from, to): (i32, i32)| {
            Box::new(async move {
                let errno = with_wasi!(&mut caller, |wasi, guest| {
                    p1::fd_renumber(wasi, &mut guest, from, to).await?
                });
                // Renumbering closes what `to` held; `from` lives on as `to`.
                closed_one(&mut caller, errno);
                Ok(errno)
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn closed_one(caller: &mut Caller<'_, RequestState>, errno: i32) {
    if errno == ERRNO_SUCCESS {
        let files = &mut caller.data_mut().open_files;
        files.open = files.open.saturating_sub(1);
    }
}
