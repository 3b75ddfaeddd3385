//! The epoch ticker: one thread per process that advances the engine's epoch, so a module's
//! deadline is checked (against the wall clock, see `request.rs`) at its next loop back-edge or
//! function entry, at most one tick after it passed.
//!
//! Each tick also interrupts threads blocked in a host call past their deadline
//! ([`crate::watchdog`]). Started in each child (never in Apache's parent, which forks: threads do not survive fork).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use wasmtime::{Engine, EngineWeak};

/// How often the epoch advances; time limits are rounded up to this.
pub const TICK: Duration = Duration::from_millis(10);

/// A running ticker; dropping it stops the thread.
pub struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    /// Starts a ticker for `engine`. It stops by itself when the engine is dropped.
    pub fn start(engine: &Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let weak: EngineWeak = engine.weak();
        let flag = stop.clone();
        thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                    crate::watchdog::kick_overdue();
                }
            })
            .expect("spawn the epoch ticker thread");
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
