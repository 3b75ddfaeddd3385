//! What each request's store carries: its WASI context, its memory limiter, and wasmtime-wasi's
//! own `poll_oneoff` once [`crate::wasi_sleep`] needed it. Its own file so the runtime (which
//! links against it) and the request runner (which fills it) need not import each other.

use wasmtime::{Func, StoreLimits};
use wasmtime_wasi::p1::WasiP1Ctx;

/// The data of one request's `Store`.
pub struct RequestState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limits: StoreLimits,
    /// wasmtime-wasi's own `poll_oneoff`, made on first use (see [`crate::wasi_sleep`]).
    pub(crate) original_poll_oneoff: Option<Func>,
}

impl RequestState {
    /// A store's data for one request.
    pub fn new(wasi: WasiP1Ctx, limits: StoreLimits) -> RequestState {
        RequestState {
            wasi,
            limits,
            original_poll_oneoff: None,
        }
    }
}
