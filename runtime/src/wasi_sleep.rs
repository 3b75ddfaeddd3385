//! `poll_oneoff` for WASI preview 1, so that a sleeping module can be stopped at its deadline.
//!
//! wasmtime-wasi answers the commonest `poll_oneoff` — one relative clock subscription, i.e.
//! `sleep()` — with `std::thread::sleep` when blocking the current thread is allowed, which is
//! what makes file system calls cheap here. A thread sleep cannot be abandoned: `sleep(3600)`
//! would hold an Apache worker for an hour whatever `WasmTimeout` says. This shadows the import:
//! that one case becomes a Tokio sleep, which the request runner drops at the deadline; every
//! other subscription set (several subscriptions, absolute clocks, fd readiness) goes to
//! wasmtime-wasi's own generated `poll_oneoff`, called directly with this caller's memory (as
//! wasmtime-wasi's linker glue does), which already waits asynchronously.

use std::time::Duration;

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};

use crate::request_state::RequestState;

const MODULE: &str = "wasi_snapshot_preview1";
const NAME: &str = "poll_oneoff";

/// `subscription` is 48 bytes: userdata u64 @0, tag u8 @8, clock {id u32 @16, timeout u64 @24,
/// precision u64 @32, flags u16 @40}.
const SUBSCRIPTION_SIZE: usize = 48;
/// `event` is 32 bytes: userdata u64 @0, error u16 @8, type u8 @10, fd_readwrite @16.
const EVENT_SIZE: usize = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;

/// Replaces `poll_oneoff` in `linker` (which already holds wasmtime-wasi's preview 1 functions).
pub fn shadow_poll_oneoff(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        MODULE,
        NAME,
        move |mut caller: Caller<'_, RequestState>,
              (subs, events, count, nevents): (i32, i32, i32, i32)| {
            Box::new(async move {
                if count == 1
                    && let Some((userdata, delay)) = relative_sleep(&mut caller, subs)
                {
                    tokio::time::sleep(delay).await;
                    return Ok(write_clock_event(&mut caller, events, nevents, userdata));
                }
                wasi_poll_oneoff(&mut caller, subs, events, count, nevents).await
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// wasmtime-wasi's `poll_oneoff` on this caller's memory and WASI context.
async fn wasi_poll_oneoff(
    caller: &mut Caller<'_, RequestState>,
    subs: i32,
    events: i32,
    count: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(memory) = memory(caller) else {
        return Err(wasmtime::Error::msg(
            "poll_oneoff: the module exports no memory",
        ));
    };
    let (data, state) = memory.data_and_store_mut(&mut *caller);
    let wasi = &mut state.wasi;
    wasi.set_hostcall_fuel(fuel);
    let mut guest = wiggle::GuestMemory::Unshared(data);
    let errno = p1::poll_oneoff(wasi, &mut guest, subs, events, count, nevents).await?;
    Ok(errno)
}

fn memory(caller: &mut Caller<'_, RequestState>) -> Option<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Some(memory),
        _ => None,
    }
}

/// The userdata and delay of a single relative clock subscription at `subs`, if that is what it is.
fn relative_sleep(caller: &mut Caller<'_, RequestState>, subs: i32) -> Option<(u64, Duration)> {
    let memory = memory(caller)?;
    let mut sub = [0u8; SUBSCRIPTION_SIZE];
    memory.read(&caller, subs as u32 as usize, &mut sub).ok()?;
    let field = |at: usize| u64::from_le_bytes(sub[at..at + 8].try_into().expect("8 bytes"));
    let flags = u16::from_le_bytes([sub[40], sub[41]]);
    if sub[8] != EVENTTYPE_CLOCK || flags & SUBCLOCKFLAGS_ABSTIME != 0 {
        return None;
    }
    Some((field(0), Duration::from_nanos(field(24))))
}

fn write_clock_event(
    caller: &mut Caller<'_, RequestState>,
    events: i32,
    nevents: i32,
    userdata: u64,
) -> i32 {
    let Some(memory) = memory(caller) else {
        return ERRNO_FAULT;
    };
    let mut event = [0u8; EVENT_SIZE];
    event[..8].copy_from_slice(&userdata.to_le_bytes());
    event[10] = EVENTTYPE_CLOCK;
    let wrote = memory
        .write(&mut *caller, events as u32 as usize, &event)
        .and_then(|()| memory.write(&mut *caller, nevents as u32 as usize, &1u32.to_le_bytes()));
    if wrote.is_ok() {
        ERRNO_SUCCESS
    } else {
        ERRNO_FAULT
    }
}
