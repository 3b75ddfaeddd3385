//! Request counters shared by every process and thread of one Apache: exact, lock-free.
//!
//! One anonymous shared mapping (`MAP_SHARED | MAP_ANONYMOUS`) is made by the first process that
//! asks — Apache's parent, in `post_config` — so every child forked afterwards writes the same
//! memory; each counter is an `AtomicU64` incremented in place. The mapping belongs to the
//! process, not to a [`crate::Runtime`], so it survives graceful restarts and runtime rebuilds:
//! a route keeps its slot (and its counts) for as long as it exists under the same server and
//! path, and a new route gets a fresh, zeroed slot. Slots are never reused while the parent
//! lives (children of an older generation may still be writing to them).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Upper bounds (seconds) of the duration histogram's buckets; `+Inf` follows.
pub const BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Route slots in the shared mapping.
pub const SLOTS: usize = 4096;

/// How a request ended, as counted (and as the `wasm-outcome` request note names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Ran to completion.
    Ok,
    /// Exited non-zero.
    Exit,
    /// Trapped.
    Trap,
    /// Past its time limit.
    Timeout,
    /// Past its output limit.
    OutputLimit,
    /// Hit its memory limit (a growth was refused), whether it then coped, trapped or exited.
    MemoryLimit,
    /// CGI headers refused.
    BadHeaders,
    /// The client went away.
    ClientGone,
    /// The request body could not be read.
    BodyError,
    /// No instance slot free (503).
    Busy,
    /// Could not start.
    SetupFailed,
    /// `WasmMaxOpenFiles` refused an open (EMFILE) at least once, whether the module then coped,
    /// trapped or exited.
    OpenFilesLimit,
}

impl Outcome {
    /// The name in request notes and logs.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exit => "exit",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::OutputLimit => "output-limit",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::BadHeaders => "bad-headers",
            Outcome::ClientGone => "client-gone",
            Outcome::BodyError => "body-error",
            Outcome::Busy => "busy",
            Outcome::SetupFailed => "setup-failed",
            Outcome::OpenFilesLimit => "open-files-limit",
        }
    }
}

/// One route's counters (in shared memory).
#[repr(C)]
pub struct Slot {
    /// Requests seen.
    pub requests: AtomicU64,
    /// Responses by class: 1xx (never sent by us, kept for alignment), 2xx, 3xx, 4xx, 5xx.
    pub classes: [AtomicU64; 5],
    /// Outcomes other than `Ok`, indexed by [`outcome_index`].
    pub outcomes: [AtomicU64; 11],
    /// Total microseconds inside the runtime.
    pub time_sum_us: AtomicU64,
    /// Longest request, microseconds.
    pub time_max_us: AtomicU64,
    /// Duration histogram: one count per bucket of [`BUCKETS`], then `+Inf` (not cumulative).
    pub buckets: [AtomicU64; BUCKETS.len() + 1],
}

/// The index of a non-`Ok` outcome in [`Slot::outcomes`].
pub fn outcome_index(outcome: Outcome) -> Option<usize> {
    Some(match outcome {
        Outcome::Ok => return None,
        Outcome::Exit => 0,
        Outcome::Trap => 1,
        Outcome::Timeout => 2,
        Outcome::OutputLimit => 3,
        Outcome::MemoryLimit => 4,
        Outcome::BadHeaders => 5,
        Outcome::ClientGone => 6,
        Outcome::BodyError => 7,
        Outcome::Busy => 8,
        Outcome::SetupFailed => 9,
        Outcome::OpenFilesLimit => 10,
    })
}

#[repr(C)]
struct Region {
    instances_in_use: AtomicI64,
    slots: [Slot; SLOTS],
}

/// The process's shared counters.
pub struct Counters {
    region: &'static Region,
}

impl Counters {
    /// The counters, mapped on first use (do it in the parent, before forking).
    pub fn get() -> Option<&'static Counters> {
        static COUNTERS: OnceLock<Option<Counters>> = OnceLock::new();
        COUNTERS.get_or_init(map_region).as_ref()
    }

    /// Slot `index`.
    pub fn slot(&self, index: usize) -> Option<&Slot> {
        self.region.slots.get(index)
    }

    /// Counts one finished request on slot `index`.
    pub fn record(&self, index: usize, http_status: u16, outcome: Outcome, elapsed_us: u64) {
        let Some(slot) = self.slot(index) else {
            return;
        };
        slot.requests.fetch_add(1, Ordering::Relaxed);
        let class = usize::from(http_status / 100).clamp(1, 5) - 1;
        slot.classes[class].fetch_add(1, Ordering::Relaxed);
        if let Some(i) = outcome_index(outcome) {
            slot.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
        slot.time_sum_us.fetch_add(elapsed_us, Ordering::Relaxed);
        slot.time_max_us.fetch_max(elapsed_us, Ordering::Relaxed);
        let seconds = elapsed_us as f64 / 1e6;
        let bucket = BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(BUCKETS.len());
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Instances running now, in every process.
    pub fn instances_in_use(&self) -> i64 {
        self.region.instances_in_use.load(Ordering::Relaxed).max(0)
    }

    /// Counts an instance in use until the guard is dropped.
    pub fn instance_in_use(&self) -> InUse<'_> {
        self.region.instances_in_use.fetch_add(1, Ordering::Relaxed);
        InUse(self)
    }
}

/// One running instance (see [`Counters::instance_in_use`]).
pub struct InUse<'a>(&'a Counters);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0
            .region
            .instances_in_use
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn map_region() -> Option<Counters> {
    let size = std::mem::size_of::<Region>();
    // SAFETY: a fresh anonymous shared mapping, zero-filled by the kernel: all-zero bytes are
    // valid atomics. It is never unmapped, so the 'static reference stays valid.
    unsafe {
        let ptr = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Counters {
            region: &*(ptr as *const Region),
        })
    }
}

/// What a route slot stands for (kept in the parent, inherited by children).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteInfo {
    /// `ServerName:port` of the virtual host.
    pub server: String,
    /// The `<Location>` path.
    pub route: String,
    /// SHA-256 of the module it runs now.
    pub sha256: String,
    /// Its slot in the shared counters.
    pub slot: usize,
    /// Configured in the current load cycle.
    pub active: bool,
}

/// Route slots by (server, route), for the whole life of the process.
pub struct Routes {
    routes: Mutex<Vec<RouteInfo>>,
}

impl Routes {
    /// The process's route table.
    pub fn get() -> &'static Routes {
        static ROUTES: OnceLock<Routes> = OnceLock::new();
        ROUTES.get_or_init(|| Routes {
            routes: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RouteInfo>> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a load cycle: every route is inactive until registered again.
    pub fn begin_cycle(&self) {
        for route in self.lock().iter_mut() {
            route.active = false;
        }
    }

    /// The slot of (server, route), kept from an earlier cycle or newly taken; `None` when every
    /// slot is taken.
    pub fn register(&self, server: &str, route: &str, sha256: &str) -> Option<usize> {
        let mut routes = self.lock();
        if let Some(found) = routes
            .iter_mut()
            .find(|r| r.server == server && r.route == route)
        {
            found.active = true;
            found.sha256 = sha256.to_string();
            return Some(found.slot);
        }
        let slot = routes.len();
        if slot >= SLOTS {
            return None;
        }
        routes.push(RouteInfo {
            server: server.to_string(),
            route: route.to_string(),
            sha256: sha256.to_string(),
            slot,
            active: true,
        });
        Some(slot)
    }

    /// The routes of the current cycle, in the order they were configured.
    pub fn active(&self) -> Vec<RouteInfo> {
        self.lock().iter().filter(|r| r.active).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_slot_and_bucket() {
        let counters = Counters::get().expect("shared memory");
        let routes = Routes::get();
        let slot = routes.register("test:1", "/counted", "ab").unwrap();
        assert_eq!(routes.register("test:1", "/counted", "cd"), Some(slot));
        counters.record(slot, 200, Outcome::Ok, 150);
        counters.record(slot, 504, Outcome::Timeout, 2_000_000);
        let s = counters.slot(slot).unwrap();
        assert_eq!(s.requests.load(Ordering::Relaxed), 2);
        assert_eq!(s.classes[1].load(Ordering::Relaxed), 1);
        assert_eq!(s.classes[4].load(Ordering::Relaxed), 1);
        assert_eq!(s.outcomes[2].load(Ordering::Relaxed), 1);
        assert_eq!(s.time_max_us.load(Ordering::Relaxed), 2_000_000);
        assert_eq!(s.buckets[1].load(Ordering::Relaxed), 1, "150 us <= 250 us");
        assert_eq!(s.buckets[13].load(Ordering::Relaxed), 1, "2 s <= 2.5 s");
        let guard = counters.instance_in_use();
        assert!(counters.instances_in_use() >= 1);
        drop(guard);
    }

    #[test]
    fn a_new_cycle_keeps_slots_of_routes_that_remain() {
        let routes = Routes::get();
        let a = routes.register("cycle:1", "/a", "x").unwrap();
        let b = routes.register("cycle:1", "/b", "x").unwrap();
        routes.begin_cycle();
        assert_eq!(routes.register("cycle:1", "/b", "y"), Some(b));
        let c = routes.register("cycle:1", "/c", "x").unwrap();
        assert!(c != a && c != b);
        let active: Vec<String> = routes
            .active()
            .into_iter()
            .filter(|r| r.server == "cycle:1")
            .map(|r| r.route)
            .collect();
        assert_eq!(active, ["/b", "/c"]);
    }
}
