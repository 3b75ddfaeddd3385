//! What each request's store carries when the code is a component: its WASI 0.2 context and
//! resource table, the wasi:http context, the memory limiter, and the hooks that decide which
//! outgoing HTTP requests the route allows.

use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

use crate::outbound::OutboundPolicy;
use crate::request_state::RequestLimiter;
use crate::streams::IoBridge;

/// The most resources (descriptors, streams, pollables, wasi:http fields, requests, responses…)
/// one component request may hold at once. With [`FIELDS_SIZE_LIMIT`] this bounds the host
/// memory behind a request's resources, which `WasmMemoryLimit` (the guest's own memory) does not
/// count: a guest creating resources in a loop gets an error, not the host's memory.
pub const MAX_RESOURCES: usize = 4096;

/// The most bytes of names and values one wasi:http `fields` may hold (Apache's own limit for a
/// request header line is 8 KiB).
pub const FIELDS_SIZE_LIMIT: usize = 64 * 1024;

/// The data of one component request's `Store`.
pub struct ComponentState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    pub(crate) limits: RequestLimiter,
}

impl ComponentState {
    /// A store's data for one request.
    pub fn new(
        wasi: WasiCtx,
        limits: StoreLimits,
        outbound: Arc<OutboundPolicy>,
        bridge: IoBridge,
    ) -> ComponentState {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(FIELDS_SIZE_LIMIT);
        ComponentState {
            wasi,
            table,
            http,
            hooks: OutboundHooks {
                policy: outbound,
                bridge,
            },
            limits: RequestLimiter::new(limits),
        }
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Outgoing requests go out only to what the route's `WasmAllowOutbound` names; every refusal
/// is logged against the request.
struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
    bridge: IoBridge,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let _ = fut;
        let uri = request.uri();
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        if !self.policy.allows(host, port) {
            self.bridge.log_notice(&format!(
                "outgoing request to {host}:{port} refused: not allowed by WasmAllowOutbound"
            ));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }

    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        // Let the guest run a little ahead of Apache's output filters.
        4
    }
}
