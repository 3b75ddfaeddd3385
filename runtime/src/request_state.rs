//! What each request's store carries: its WASI context, its memory limiter, and wasmtime-wasi's
//! own `poll_oneoff` once [`crate::wasi_sleep`] needed it. Its own file so the runtime (which
//! links against it) and the request runner (which fills it) need not import each other.

use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::p1::WasiP1Ctx;

/// The route's memory limit, remembering whether it ever refused a growth (a module that then
/// fails counts as `memory-limit`, not as a plain trap or exit).
pub struct RequestLimiter {
    limits: StoreLimits,
    pub(crate) refused: bool,
}

impl RequestLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: StoreLimits) -> RequestLimiter {
        RequestLimiter {
            limits,
            refused: false,
        }
    }
}

impl ResourceLimiter for RequestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
}

/// The descriptors a preview 1 request holds (stdio, its folders, what it opened) against the
/// route's `WasmMaxOpenFiles` (see [`crate::wasi_open_files`]).
#[derive(Clone, Copy, Debug)]
pub struct OpenFiles {
    pub(crate) open: u64,
    pub(crate) limit: u64,
    /// An open was refused at the limit at least once.
    pub(crate) refused: bool,
}

impl OpenFiles {
    /// `open` descriptors to start with (stdio and preopened folders), at most `limit`.
    pub fn new(open: u64, limit: u64) -> OpenFiles {
        OpenFiles {
            open,
            limit,
            refused: false,
        }
    }
}

/// The data of one request's `Store`.
pub struct RequestState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limits: RequestLimiter,
    pub(crate) open_files: OpenFiles,
}

impl RequestState {
    /// A store's data for one request.
    pub fn new(wasi: WasiP1Ctx, limits: StoreLimits, open_files: OpenFiles) -> RequestState {
        RequestState {
            wasi,
            limits: RequestLimiter::new(limits),
            open_files,
        }
    }
}
