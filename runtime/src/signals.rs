//! Keeping Wasmtime's trap handlers in place under Apache.
//!
//! Wasmtime turns SIGSEGV/SIGBUS/SIGILL/SIGFPE inside Wasm code into traps with handlers it
//! installs when the first engine is created. Apache's MPMs install their own fatal-signal
//! handlers afterwards, before forking children; left alone, every trap would kill the child.
//! We save Wasmtime's handlers right after creating the engine (in the parent) and put them
//! back in each child (`child_init`). Wasmtime's handlers pass faults outside Wasm code on to
//! the handlers that were in place before them.

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
