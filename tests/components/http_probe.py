"""http_probe: one wasi:http/proxy component (componentize-py) for the end-to-end tests.

Built by `make components` into build/components/http_probe.wasm. It dispatches on the path:

  /echo              200 JSON: method, path_with_query, scheme, authority, the request headers as
                     [name, value] pairs in order (repeated names kept), body_sha256 and body_len
                     (the body is read streamed and hashed incrementally).
  /status/NNN        that status, body "status NNN" (the bindings refuse codes outside 100..999:
                     that is an exception, so a trap).
  /repeat            two set-cookie headers (a=1, b=2) and x-multi twice.
  /stream?mib=N      N MiB (default 24) of bytes((i % 251) for i in range(65536)) repeated, written
                     in 64 KiB pieces, application/octet-stream, no content-length.
  /trickle?ms=N      writes "first\n", flushes, waits N ms (default 1500) on a monotonic-clock
                     pollable, then writes "second\n": the first piece must reach the client while
                     the handler waits.
  /trap              raises in handle (componentize-py turns that into a trap).
  /loop              spins forever.
  /memory?mib=N      allocates N MiB (bytearray, default 64), 200 "allocated N"; 507 "memory error"
                     when it cannot (MemoryError, or OverflowError for 2 GiB and more).
  /flood             writes 64 KiB chunks forever (until the host closes the body).
  /bad-header        tries a value with CR LF and a name with a space; 200 JSON saying which attempt
                     the bindings refused ({"value_refused": …, "name_refused": …}); an attempt that
                     was not refused is sent as is, for the host to drop.
  /hop               tries connection, transfer-encoding, keep-alive, upgrade, te, trailer and
                     proxy-foo headers (each may be refused) plus x-ok: 1; 200 "hop".
  /env               200 JSON: os.environ, sys.argv and a listing of "/" and of each folder named in
                     PROBE_DIRS (comma-separated; errors as strings).
  /outbound?url=URL  an outgoing GET (wasi:http/outgoing-handler): 200 JSON with the upstream status
                     and body, or 502 with the error text when the host refused or failed it.
  anything else      404.

Everything is blocking and sequential (no event loop): a stream that is not ready is waited for on
its pollable. Child resources (streams, pollables) are released before their parents are finished,
as wasi:http requires.
"""

import hashlib
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import monotonic_clock, outgoing_handler
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Connect,
    Method_Delete,
    Method_Get,
    Method_Head,
    Method_Options,
    Method_Other,
    Method_Patch,
    Method_Post,
    Method_Put,
    Method_Trace,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
    Scheme_Https,
    Scheme_Other,
)

CHUNK = 64 * 1024
MIB = 1024 * 1024
# The /stream and /flood pattern: 64 KiB, so every chunk is the same bytes.
PATTERN = bytes(i % 251 for i in range(CHUNK))

METHODS = {
    Method_Get: "GET",
    Method_Head: "HEAD",
    Method_Post: "POST",
    Method_Put: "PUT",
    Method_Delete: "DELETE",
    Method_Connect: "CONNECT",
    Method_Options: "OPTIONS",
    Method_Trace: "TRACE",
    Method_Patch: "PATCH",
}


def method_name(method) -> str:
    if isinstance(method, Method_Other):
        return method.value
    return METHODS.get(type(method), repr(method))


def scheme_name(scheme):
    if scheme is None:
        return None
    if isinstance(scheme, Scheme_Http):
        return "http"
    if isinstance(scheme, Scheme_Https):
        return "https"
    if isinstance(scheme, Scheme_Other):
        return scheme.value
    return repr(scheme)


def describe(exc: BaseException) -> str:
    """An exception as text; a WIT error (Err) shows its payload, e.g. ErrorCode_HttpRequestDenied()."""
    if isinstance(exc, Err):
        return f"Err({exc.value!r})"
    return f"{type(exc).__name__}: {exc}"


def read_chunks(body: IncomingBody):
    """Yields the chunks of an incoming body until it closes, then finishes the body."""
    with body.stream() as stream:
        while True:
            try:
                chunk = stream.blocking_read(CHUNK)
            except Err as err:
                if isinstance(err.value, StreamError_Closed):
                    break
                raise
            yield chunk
    with IncomingBody.finish(body):
        pass


def write_all(stream, data: bytes) -> None:
    """Writes all of `data` as check-write permits, waiting on the stream's pollable when it is 0."""
    offset = 0
    while offset < len(data):
        permit = stream.check_write()
        if permit == 0:
            with stream.subscribe() as ready:
                ready.block()
            continue
        stream.write(data[offset : offset + permit])
        offset += permit


def start(response_out: ResponseOutparam, status: int, headers: Fields):
    """Sends the head of a response; returns its body (an OutgoingBody) to write and finish."""
    response = OutgoingResponse(headers)
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    return body


def respond(response_out, status, body: bytes, content_type="text/plain; charset=utf-8", headers=None):
    """A whole response: status, content-type (plus `headers`, a Fields, when given) and body."""
    if headers is None:
        headers = Fields()
    headers.append("content-type", content_type.encode("ascii"))
    out = start(response_out, status, headers)
    with out.write() as stream:
        write_all(stream, body)
        stream.blocking_flush()
    OutgoingBody.finish(out, None)


def respond_json(response_out, status, value) -> None:
    respond(response_out, status, json.dumps(value).encode("utf-8"), "application/json")


def query_int(query: dict, name: str, default: int) -> int:
    values = query.get(name)
    if values and values[0].isdigit():
        return int(values[0])
    return default


def echo(request: IncomingRequest, response_out) -> None:
    with request.headers() as fields:
        headers = [[name, value.decode("latin-1")] for name, value in fields.entries()]
    digest = hashlib.sha256()
    length = 0
    for chunk in read_chunks(request.consume()):
        digest.update(chunk)
        length += len(chunk)
    respond_json(
        response_out,
        200,
        {
            "method": method_name(request.method()),
            "path_with_query": request.path_with_query(),
            "scheme": scheme_name(request.scheme()),
            "authority": request.authority(),
            "headers": headers,
            "body_sha256": digest.hexdigest(),
            "body_len": length,
        },
    )


def repeat(response_out) -> None:
    headers = Fields.from_list(
        [
            ("set-cookie", b"a=1"),
            ("set-cookie", b"b=2"),
            ("x-multi", b"one"),
            ("x-multi", b"two"),
        ]
    )
    respond(response_out, 200, b"repeat", headers=headers)


def stream_pattern(response_out, mib: int) -> None:
    out = start(response_out, 200, Fields.from_list([("content-type", b"application/octet-stream")]))
    with out.write() as stream:
        for _ in range(mib * (MIB // CHUNK)):
            write_all(stream, PATTERN)
            stream.flush()
        stream.blocking_flush()
    OutgoingBody.finish(out, None)


def trickle(response_out, ms: int) -> None:
    out = start(response_out, 200, Fields.from_list([("content-type", b"text/plain")]))
    with out.write() as stream:
        write_all(stream, b"first\n")
        stream.blocking_flush()
        with monotonic_clock.subscribe_duration(ms * 1_000_000) as later:
            later.block()
        write_all(stream, b"second\n")
        stream.blocking_flush()
    OutgoingBody.finish(out, None)


def flood(response_out) -> None:
    out = start(response_out, 200, Fields.from_list([("content-type", b"application/octet-stream")]))
    with out.write() as stream:
        try:
            while True:
                write_all(stream, PATTERN)
                stream.flush()
        except Err:
            # The host closed the body (output limit): nothing more can be said.
            pass
    # Not finished: the body is incomplete, and dropping it says so.


def memory(response_out, mib: int) -> None:
    try:
        block = bytearray(mib * MIB)
    except (MemoryError, OverflowError):
        # OverflowError: more than a wasm32 address space can even express (N >= 2048).
        respond(response_out, 507, b"memory error")
        return
    # Touch every page, so the memory is really there.
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    respond(response_out, 200, f"allocated {mib}".encode())


def bad_header(response_out) -> None:
    headers = Fields()
    refused = {}
    for key, name, value in (
        ("value_refused", "x-injected", b"x\r\nInjected: 1"),
        ("name_refused", "bad name", b"1"),
    ):
        try:
            headers.append(name, value)
            refused[key] = False
        except Err as err:
            refused[key] = True
            refused[key.replace("refused", "error")] = repr(err.value)
    respond(response_out, 200, json.dumps(refused).encode(), "application/json", headers)


def hop(response_out) -> None:
    headers = Fields()
    for name, value in (
        ("connection", b"close"),
        ("transfer-encoding", b"chunked"),
        ("keep-alive", b"x"),
        ("upgrade", b"h2c"),
        # wasi:http lets these through: the server drops them (and logs it).
        ("te", b"trailers"),
        ("trailer", b"x-checksum"),
        ("proxy-foo", b"1"),
        ("x-ok", b"1"),
    ):
        try:
            headers.append(name, value)
        except Err:
            pass
    respond(response_out, 200, b"hop", headers=headers)


def listing(path: str):
    try:
        return sorted(os.listdir(path))
    except OSError as err:
        return describe(err)


def env(response_out) -> None:
    dirs = ["/"] + [d for d in os.environ.get("PROBE_DIRS", "").split(",") if d]
    respond_json(
        response_out,
        200,
        {
            "environ": dict(os.environ),
            "argv": list(sys.argv),
            "dirs": {d: listing(d) for d in dirs},
        },
    )


def fetch(url: str):
    """An outgoing GET: (status, body bytes). Raises (Err or ValueError) when it cannot be done."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = OutgoingRequest(Fields())
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    future = outgoing_handler.handle(request, None)
    with future:
        while True:
            result = future.get()
            if result is not None:
                break
            with future.subscribe() as ready:
                ready.block()
    # Outer result: the future's value taken once; inner: the response or an error-code.
    if isinstance(result, Err):
        raise result
    inner = result.value
    if isinstance(inner, Err):
        raise inner
    response = inner.value
    with response:
        status = response.status()
        body = b"".join(read_chunks(response.consume()))
    return status, body


def outbound(response_out, query: dict) -> None:
    url = (query.get("url") or [""])[0]
    try:
        status, body = fetch(url)
    except Exception as exc:  # noqa: BLE001 — any failure is the answer
        respond(response_out, 502, describe(exc).encode("utf-8"))
        return
    respond_json(response_out, 200, {"status": status, "body": body.decode("utf-8", "replace")})


def fields_grab(response_out) -> None:
    """Holds ever more header fields objects on the host (1 KiB each), then one oversized one:
    the server bounds both (a resource cap per request, a size cap per fields)."""
    held = []
    try:
        Fields().append("x-big", b"v" * (1 << 20))
        oversized = "accepted"
    except Exception as exc:  # noqa: BLE001 — the refusal is the answer
        oversized = f"refused: {describe(exc)}"
    try:
        while len(held) < 1_000_000:
            f = Fields()
            f.append("x-fill", b"v" * 1024)
            held.append(f)
        stopped = "never"
    except Exception as exc:  # noqa: BLE001
        stopped = describe(exc)
    count = len(held)
    held.clear()
    respond_json(response_out, 200, {"oversized": oversized, "held": count, "stopped": stopped})


class IncomingHandler(exports.IncomingHandler):
    """The export componentize-py wires to `wasi:http/incoming-handler.handle`."""

    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        target = urlsplit(request.path_with_query() or "/")
        path = target.path
        query = parse_qs(target.query)
        if path == "/echo":
            echo(request, response_out)
        elif path.startswith("/status/") and path[len("/status/") :].isdigit():
            code = int(path[len("/status/") :])
            respond(response_out, code, f"status {code}".encode())
        elif path == "/repeat":
            repeat(response_out)
        elif path == "/stream":
            stream_pattern(response_out, query_int(query, "mib", 24))
        elif path == "/trickle":
            trickle(response_out, query_int(query, "ms", 1500))
        elif path == "/trap":
            raise RuntimeError("http_probe: /trap asked for a trap")
        elif path == "/loop":
            while True:
                pass
        elif path == "/memory":
            memory(response_out, query_int(query, "mib", 64))
        elif path == "/flood":
            flood(response_out)
        elif path == "/bad-header":
            bad_header(response_out)
        elif path == "/hop":
            hop(response_out)
        elif path == "/env":
            env(response_out)
        elif path == "/outbound":
            outbound(response_out, query)
        elif path == "/fields":
            fields_grab(response_out)
        else:
            respond(response_out, 404, f"not found: {path}".encode())
