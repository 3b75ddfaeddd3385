//! Serving one request with a `wasi:http/incoming-handler` component.
//!
//! The Apache request becomes a wasi:http `incoming-request` (method, path with query, scheme,
//! authority, every header field) whose body is read from the host on demand, on this thread, as
//! the guest reads it — no ceiling of our own. The guest's `response-outparam.set` hands the
//! status and fields to the host at once (checked by [`crate::response_head`]); the body is then
//! pumped from wasi:http's body channel to the host as the guest writes it, concurrently with the
//! guest on this thread, never buffered whole. The output limit, a client that went away and a
//! body that does not match its `Content-Length` stop the guest, as for commands.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{Error as HttpError, WasiHttpView};

use crate::component_state::ComponentState;
use crate::http_head::HttpHead;
use crate::request::{Failure, Run, RunStatus};
use crate::runtime::Runtime;
use crate::streams::IoBridge;

impl Runtime {
    pub(crate) fn run_http(
        &self,
        run: &Run<'_>,
        pre: &ProxyPre<ComponentState>,
    ) -> (RunStatus, bool) {
        let Some(head) = &run.req.http else {
            return (
                RunStatus::SetupFailed(
                    "the host gave no request head for a wasi:http handler".into(),
                ),
                false,
            );
        };
        let request = match incoming_request(head, run.bridge) {
            Ok(request) => request,
            Err(why) => return (RunStatus::SetupFailed(why), false),
        };
        let state = match self.component_state(run, false) {
            Ok(state) => state,
            Err(why) => return (RunStatus::SetupFailed(why), false),
        };
        let scheme = if head.scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let mut store = self.new_store(state, run.deadline);
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel();
        let bridge = run.bridge.clone();
        let resources = (|| -> wasmtime::Result<_> {
            let mut http = store.data_mut().http();
            let request = http.new_incoming_request(scheme, request)?;
            let out = http.new_response_outparam_from_callback(move |answer| {
                // The guest's `response-outparam.set`, on this thread: the head goes out now.
                let body = match answer {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        bridge
                            .start_response(&parts)
                            .map(|()| body)
                            .map_err(|_| None)
                    }
                    Err(code) => Err(Some(code)),
                };
                let _ = answer_tx.send(body);
            })?;
            Ok((request, out))
        })();
        let (request, out) = match resources {
            Ok(pair) => pair,
            Err(e) => return (RunStatus::SetupFailed(format!("{e:#}")), false),
        };

        let bridge = run.bridge;
        let memory_limited = std::cell::Cell::new(false);
        let memory_flag = &memory_limited;
        let result = run.drive(async move {
            let pump = pump_answer(answer_rx, bridge);
            tokio::pin!(pump);
            let mut pumped = false;
            let ended = {
                let guest = async {
                    let proxy = pre
                        .instantiate_async(&mut store)
                        .await
                        .map_err(Failure::Instantiate)?;
                    proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, request, out)
                        .await
                        .map_err(Failure::Run)
                };
                tokio::pin!(guest);
                loop {
                    tokio::select! {
                        ended = &mut guest => break ended,
                        // The output side stopped: the guest stops with it. (A body that ended
                        // before the guest returned is simply done.)
                        result = &mut pump, if !pumped => match result {
                            Ok(()) => pumped = true,
                            Err(failure) => break Err(failure),
                        },
                    }
                }
            };
            memory_flag.set(store.data().limits.refused);
            // Whatever body the guest did not end is ended by dropping its resources with the
            // store; what it wrote is still delivered.
            drop(store);
            ended?;
            if pumped { Ok(()) } else { pump.await }
        });
        (run.verdict(result), memory_limited.get())
    }
}

/// The Apache request as wasi:http wants it; its body is read from the host as the guest reads.
fn incoming_request(
    head: &HttpHead<'_>,
    bridge: &IoBridge,
) -> Result<http::Request<HostBody>, String> {
    let mut builder = http::Request::builder().method(head.method).uri(format!(
        "{}://{}{}",
        head.scheme.to_ascii_lowercase(),
        head.authority,
        head.path_with_query
    ));
    for (name, value) in &head.headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(HostBody {
            bridge: bridge.clone(),
            done: false,
        })
        .map_err(|e| format!("the request cannot be given to a wasi:http handler: {e}"))
}

/// Waits for the guest's answer, then moves its body to the host frame by frame, flushing
/// whenever the guest pauses.
async fn pump_answer(
    answer: tokio::sync::oneshot::Receiver<Result<HyperOutgoingBody, Option<ErrorCode>>>,
    bridge: &IoBridge,
) -> Result<(), Failure> {
    let mut body = match answer.await {
        Ok(Ok(body)) => body,
        Ok(Err(None)) => return Err(Failure::Output),
        Ok(Err(Some(code))) => {
            return Err(Failure::Answer(format!(
                "the handler answered with the error {code:?}"
            )));
        }
        Err(_) => {
            return Err(Failure::Answer(
                "the handler returned without setting a response".into(),
            ));
        }
    };
    loop {
        // A piece ready now is passed on; when none is, the guest is busy or waiting, and what
        // Apache holds so far is pushed to the client before waiting for the next piece.
        let frame = match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx)))
            .await
        {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                bridge.push_out().map_err(|_| Failure::Output)?;
                body.frame().await
            }
        };
        let Some(frame) = frame else { break };
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && bridge.write_body(&data).is_err()
                {
                    return Err(Failure::Output);
                }
            }
            Err(e) => {
                return Err(Failure::Answer(format!(
                    "the response body ended with an error: {e}"
                )));
            }
        }
    }
    Ok(())
}

/// The request body, read from the host when the guest asks (on the request's thread).
struct HostBody {
    bridge: IoBridge,
    done: bool,
}

impl Body for HostBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.bridge.read_chunk() {
            Ok(Some(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Ok(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Err(_) => {
                self.done = true;
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
