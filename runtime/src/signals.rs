//! Keeping Wasmtime's trap handlers in place under Apache.
//!
//! Wasmtime turns SIGSEGV/SIGBUS/SIGILL/SIGFPE inside Wasm code into traps with handlers it
//! installs when the first engine is created. Apache's MPMs install their own fatal-signal
//! handlers afterwards, before forking children; left alone, every trap would kill the child.
//! We save Wasmtime's handlers right after creating the engine (in the parent) and put them
//! back in each child (`child_init`). Wasmtime's handlers pass faults outside Wasm code on to
//! the handlers that were in place before them.
//!
//! Apache's children handle SIGTERM, SIGHUP, SIGUSR1, SIGWINCH on threads of their own choosing;
//! threads we start (the epoch ticker, the WASI tokio runtime) block every signal, so an Apache
//! signal handler never runs on them (seen here: a SIGTERM taken by such a thread ran the event
//! MPM's shutdown twice and crashed the child).

use std::sync::OnceLock;

const TRAP_SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

struct Saved([libc::sigaction; 4]);
// SAFETY: plain data (function pointers and masks), only read after being written once.
unsafe impl Send for Saved {}
unsafe impl Sync for Saved {}

static SAVED: OnceLock<Saved> = OnceLock::new();

/// Records the current handlers of the trap signals, once per process. Call right after the
/// first engine is created.
pub fn save_trap_handlers() {
    SAVED.get_or_init(|| {
        // SAFETY: sigaction with a null new action only reads the current one.
        let mut saved: [libc::sigaction; 4] = unsafe { std::mem::zeroed() };
        for (slot, &sig) in saved.iter_mut().zip(TRAP_SIGNALS.iter()) {
            unsafe {
                libc::sigaction(sig, std::ptr::null(), slot);
            }
        }
        Saved(saved)
    });
}

/// Puts back the handlers recorded by [`save_trap_handlers`], if any.
pub fn restore_trap_handlers() {
    if let Some(saved) = SAVED.get() {
        for (action, &sig) in saved.0.iter().zip(TRAP_SIGNALS.iter()) {
            // SAFETY: re-installing a sigaction that was read from the kernel earlier.
            unsafe {
                libc::sigaction(sig, action, std::ptr::null_mut());
            }
        }
    }
}

/// Runs `f` with every signal blocked on this thread; threads started inside inherit that mask.
pub fn with_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: plain sigset manipulation on this thread's mask; the old mask is restored.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let result = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}
