//! Interrupting a module blocked in a system call once its time is up.
//!
//! The request runner abandons anything it awaits at the deadline (sleeps, polls); what it cannot
//! abandon is a host call that blocks the worker thread inside the kernel — `open()` of a FIFO in
//! a mapped folder waits for a writer for ever. So each thread that runs a request owns a slot
//! with its deadline; the epoch ticker ([`crate::epoch`]) calls [`kick_overdue`] on every tick,
//! and a thread still running past its deadline gets [`interrupt_signal`], whose handler does
//! nothing and is installed without `SA_RESTART`: the blocked call returns `EINTR`, the module
//! is back in Wasm code, and the epoch deadline traps it at once. The signal is unblocked only
//! while the thread runs a module (Apache's threaded MPMs block signals in worker threads).
//!
//! A thread inside a call into the host (Apache's output filters writing to a slow client, a
//! body read) is never signalled ([`in_host`]): httpd restarts its own `Timeout` wait on every
//! `EINTR`, so a signal each tick would keep a client that stopped reading attached for ever.
//! The host bounds those calls itself (Apache's `Timeout`, the body read's deadline), and once
//! the call returns past the deadline the module stops at its next epoch check. A slow reader
//! thus frees its worker within `WasmTimeout` + `Timeout`.
//!
//! The request path touches only its own slot (a few atomic stores and two `pthread_sigmask`
//! calls); the slot table's lock is taken once per thread, at its first request, and by the
//! ticker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// One thread's deadline (nanoseconds since [`epoch`], 0 when idle), whether it is inside a host
/// call, and its pthread id.
struct Slot {
    deadline: AtomicU64,
    in_host: AtomicBool,
    thread: libc::pthread_t,
}

fn slots() -> &'static Mutex<Vec<Arc<Slot>>> {
    static SLOTS: OnceLock<Mutex<Vec<Arc<Slot>>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(Vec::new()))
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// This thread's slot; it leaves the table (under the lock) before the thread exits, so the
/// ticker never signals a thread that is gone.
struct MySlot(Arc<Slot>);

impl Drop for MySlot {
    fn drop(&mut self) {
        let mut slots = slots().lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|s| !Arc::ptr_eq(s, &self.0));
    }
}

thread_local! {
    static MY_SLOT: MySlot = {
        let slot = Arc::new(Slot {
            deadline: AtomicU64::new(0),
            in_host: AtomicBool::new(false),
            // SAFETY: always safe to call.
            thread: unsafe { libc::pthread_self() },
        });
        slots().lock().unwrap_or_else(|p| p.into_inner()).push(slot.clone());
        MySlot(slot)
    };
}

/// The signal that interrupts a blocked host call: a real-time signal nothing else here uses.
pub fn interrupt_signal() -> libc::c_int {
    libc::SIGRTMIN() + 5
}

extern "C" fn on_interrupt(_: libc::c_int) {}

fn install_handler() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // SAFETY: installing a handler that does nothing, for a signal nothing else uses.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as *const () as usize;
            action.sa_flags = 0; // no SA_RESTART: a blocked call returns EINTR
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(interrupt_signal(), &action, std::ptr::null_mut());
        }
    });
}

fn set_signal_blocked(blocked: bool) {
    // SAFETY: a valid signal set, changing only this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, interrupt_signal());
        let how = if blocked {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// While alive, this thread is interrupted from blocking calls once `deadline` has passed.
pub struct Armed(());

/// Arms the watchdog for the current thread until the returned guard is dropped.
pub fn arm(deadline: Instant) -> Armed {
    install_handler();
    let nanos = deadline.saturating_duration_since(epoch()).as_nanos();
    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
    MY_SLOT.with(|slot| slot.0.deadline.store(nanos, Ordering::Release));
    set_signal_blocked(false);
    Armed(())
}

impl Drop for Armed {
    fn drop(&mut self) {
        MY_SLOT.with(|slot| slot.0.deadline.store(0, Ordering::Release));
        set_signal_blocked(true);
    }
}

/// While alive, this thread is inside a call into the host and is not signalled.
pub struct InHost {
    was: bool,
}

/// Marks the current thread as inside a host call until the returned guard is dropped.
pub fn in_host() -> InHost {
    let was = MY_SLOT.with(|slot| slot.0.in_host.swap(true, Ordering::AcqRel));
    InHost { was }
}

impl Drop for InHost {
    fn drop(&mut self) {
        MY_SLOT.with(|slot| slot.0.in_host.store(self.was, Ordering::Release));
    }
}

/// Signals every thread that is running a module past its deadline, unless it is inside a host
/// call. Called by the ticker.
pub fn kick_overdue() {
    let now = Instant::now().saturating_duration_since(epoch()).as_nanos();
    let now = u64::try_from(now).unwrap_or(u64::MAX);
    let slots = slots().lock().unwrap_or_else(|p| p.into_inner());
    for slot in slots.iter() {
        let deadline = slot.deadline.load(Ordering::Acquire);
        if deadline != 0 && deadline <= now && !slot.in_host.load(Ordering::Acquire) {
            // SAFETY: the thread is alive: a thread removes its slot, under this lock, before it
            // exits.
            unsafe { libc::pthread_kill(slot.thread, interrupt_signal()) };
        }
    }
}
