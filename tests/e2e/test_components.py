"""WebAssembly components served by Apache, end to end: wasi:http handlers and wasi:cli commands.

The components come from `make components` (build/components/): `http_probe` (tests/components/
http_probe.py, a wasi:http/proxy component built by componentize-py; its routes are at the root),
`python-http` (the PrettyFy sample) and the C samples and test modules of build/wasm/ wrapped as
wasi:cli/command components. One server per MPM (event, prefork) serves them all for the whole file;
compiled code is kept in build/test-cache, so only the first server of a build compiles the Python
components (tens of seconds each), and every later one loads them from there.

- wasi:http requests: method, path and query as sent (percent-encoding kept), scheme, authority,
  the request header fields (a repeated field as Apache combines it, values in order), bodies streamed
  from Apache (3 MiB with Content-Length, 2 MiB chunked) compared by sha256; HEAD sends the head only.
- wasi:http responses: 24 MiB streamed without Content-Length, byte-exact; repeated fields kept;
  statuses 200-599 passed through, other ones (1xx, 600 and more) a 500 with a log line.
- Limits and failures as for core modules: a trap is a 500, WasmTimeout a 504, WasmMemoryLimit is seen
  by the app (its 507) and counted by wasm-status, WasmOutputLimit cuts the response; the server keeps
  serving and no child dies.
- Header safety: a value with CR LF or a bad name never reaches the client; hop-by-hop fields never
  frame the response, and the kept-alive connection serves the next request.
- Outgoing HTTP (wasi:http/outgoing-handler): refused (HttpRequestDenied, and a log line) unless
  `WasmAllowOutbound` names the URL's host and port; allowed, the upstream's answer comes back.
- `WasmEnv`, `WasmMapDir` and `WasmArg` reach a wasi:http component.
- The PrettyFy sample: usage text, pretty JSON, 400 on bad JSON.
- wasi:cli/run commands keep the preview 1 command semantics of their core twins: output, CGI (the
  same argv, environment and stdin as the core module), exit codes, traps, limits, stderr lines.
- 240 concurrent requests mixing both kinds; a core module beside components; graceful restarts
  swapping a route between a core module and a component while requests keep coming.

Time bounds here only prove that a request ended (never a performance claim).
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import random
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from harness import (
    BUILD,
    WASM_DIR,
    Apache,
    LoadLoop,
    assert_no_crash,
    chunks_of,
    dechunk,
    expect_log,
    fnv1a64,
    free_port,
    parse_echo,
    raw_request,
    route_of,
    status_doc,
    timed,
)

pytestmark = pytest.mark.mpms("event", "prefork")

COMPONENTS = BUILD / "components"
PROBE = COMPONENTS / "http_probe.wasm"
COMPONENT_NAMES = ("http_probe", "python-http", "hello", "cgi_echo", "trap", "loop", "memgrab", "flood",
                   "exit3_before", "stderr")
CACHE_DIR = "@REPO@/build/test-cache"

HELLO = b"Hello, World! (from a WASI module served by Apache)\n"
STDERR_BODY = b"body of the stderr sample\n"
STDERR_MARKER = "component-stderr-7d2e"
MIB = 1024 * 1024
# What the probe's /stream and /flood write, over and over (tests/components/http_probe.py).
PATTERN = bytes(i % 251 for i in range(64 * 1024))
# Compiling a Python component takes tens of seconds (minutes on a busy machine) when the cache is cold.
START_TIMEOUT = 900.0
ENDED_WITHIN = 30.0


def component(name: str) -> Path:
    return COMPONENTS / f"{name}.wasm"


def location(path: str, module: Path | None, *lines: str) -> str:
    """A <Location> serving `module` (the handler is set once, on `/`); `module` None: directives only."""
    body = ([f"WasmModule {module}"] if module else []) + list(lines)
    return f"<Location {path}>\n    " + "\n    ".join(body) + "\n</Location>\n"


def server_conf(upstream_port: int, data_dir: Path) -> str:
    """The file's server. `<Location />` comes first: later, more specific sections override it."""
    allowed = f"127.0.0.1:{upstream_port}"
    return "\n".join([
        f"WasmCacheDir {CACHE_DIR}",
        # Name-based vhosts: the first is the default one; the others only change outbound rules.
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName 127.0.0.1\n</VirtualHost>",
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName allowed.test\n"
        f"    <Location /outbound>\n        WasmAllowOutbound {allowed}\n    </Location>\n</VirtualHost>",
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName portless.test\n"
        "    <Location /outbound>\n        WasmAllowOutbound 127.0.0.1\n    </Location>\n</VirtualHost>",
        location("/", PROBE, "SetHandler wasm-handler"),
        # Routes of their own (own WasmModule: own wasm-status row) for the limits.
        location("/loop", PROBE, "WasmTimeout 2s"),
        location("/memory", PROBE, "WasmMemoryLimit 128M"),
        location("/flood", PROBE, "WasmOutputLimit 8M"),
        location("/env", PROBE, "WasmEnv PROBE_DIRS /data", f"WasmMapDir /data {data_dir}", "WasmArg x",
                 'WasmArg "two words"'),
        location("/prettyfy", component("python-http")),
        # wasi:cli/command components, and a core twin to compare with (under /c/ too, so that Apache
        # maps both to the same SCRIPT_FILENAME).
        location("/c/hello", component("hello")),
        location("/c/echo", component("cgi_echo"), "WasmEnableCGI On", 'WasmArg "first arg"', "WasmArg second",
                 'WasmEnv GREETING "hello world"'),
        location("/c/core-echo", WASM_DIR / "cgi_echo.wasm", "WasmEnableCGI On", 'WasmArg "first arg"',
                 "WasmArg second", 'WasmEnv GREETING "hello world"'),
        location("/c/exit3", component("exit3_before")),
        location("/c/trap", component("trap")),
        location("/c/loop", component("loop"), "WasmTimeout 2s"),
        location("/c/memgrab", component("memgrab"), "WasmMemoryLimit 16M"),
        location("/c/flood", component("flood"), "WasmOutputLimit 1M"),
        location("/c/flood-small", component("flood"), "WasmOutputLimit 10K"),
        location("/c/stderr", component("stderr"), f"WasmArg {STDERR_MARKER}"),
        location("/wasm-status", None, "SetHandler wasm-status"),
    ]) + "\n"


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def components_built(built):
    missing = [str(component(n)) for n in COMPONENT_NAMES if not component(n).is_file()]
    if missing:
        pytest.fail("components are missing; run `make components` first:\n  " + "\n  ".join(missing),
                    pytrace=False)
    return True


class Upstream(http.server.ThreadingHTTPServer):
    """A loopback HTTP server for outgoing requests: answers every GET with the path it saw."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), UpstreamHandler)
        self.seen: list[str] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.seen.append(self.path)
        body = f"upstream saw {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def upstream():
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def data_dir():
    """The folder /env maps at /data: readable by Apache's children (User nobody)."""
    path = Path(tempfile.mkdtemp(prefix="mod-wasm-e2e-components-"))
    (path / "sub").mkdir()
    (path / "note.txt").write_text("a note\n")
    for p in (path, path / "sub"):
        os.chmod(p, 0o755)
    os.chmod(path / "note.txt", 0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def srv(components_built, mpm, upstream, data_dir):
    a = Apache(mpm=mpm, extra_conf=server_conf(upstream.port, data_dir), start_timeout=START_TIMEOUT)
    try:
        a.start()
        # The first request to each kind may be slow on a loaded machine: wait for it here, not in a test.
        for path in ("/echo", "/prettyfy", "/c/hello"):
            r = a.get(path, timeout=300)
            assert r.status == 200, (path, r, a.diagnostics())
        yield a
    finally:
        a.stop()
        log = a.error_log()
        a.__exit__(None, None, None)
    assert_no_crash(log)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def echo_of(r) -> dict:
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json", r
    return json.loads(r.body)


def header_values(doc: dict, name: str) -> list[str]:
    """The values of request field `name` (case-insensitive) as the probe saw them, in order."""
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def still_serving(srv: Apache) -> None:
    r = srv.get("/echo?still=serving")
    assert echo_of(r)["path_with_query"] == "/echo?still=serving"
    r = srv.get("/c/hello")
    assert (r.status, r.body) == (200, HELLO), r
    assert srv.running()
    assert_no_crash(srv)




def kind_of_route(doc: dict, route: str) -> str:
    sha = route_of(doc, route)["sha256"]
    kinds = {m["sha256"]: m["kind"] for m in doc["modules"]}
    return kinds[sha]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# 1. A wasi:http request: head and body as Apache received them
# --------------------------------------------------------------------------------------------


def test_method_path_query_scheme_and_authority(srv):
    target = "/echo?q=a%20b&plus=1+2&slash=%2F%3F&utf=%E2%9C%93&empty=&flag"
    doc = echo_of(srv.get(target))
    assert doc["method"] == "GET"
    assert doc["path_with_query"] == target, "the path and query must reach the component as sent"
    assert doc["scheme"] == "http"
    assert doc["authority"] == f"127.0.0.1:{srv.port}"
    assert (doc["body_len"], doc["body_sha256"]) == (0, sha256(b""))
    doc = echo_of(srv.request("DELETE", "/echo"))
    assert doc["method"] == "DELETE"
    doc = echo_of(srv.request("PATCH", "/echo", body=b"{}"))
    assert doc["method"] == "PATCH"


def test_request_header_fields(srv):
    sent = [
        ("X-One", "1"),
        ("X-Rep", "first"),
        ("X-Mixed-Case", "Some Value; q=1"),
        ("X-Rep", "second"),
        ("Accept", "text/plain"),
    ]
    doc = echo_of(srv.request("GET", "/echo", headers=sent))
    assert header_values(doc, "x-one") == ["1"], doc["headers"]
    assert header_values(doc, "x-mixed-case") == ["Some Value; q=1"], doc["headers"]
    assert header_values(doc, "accept") == ["text/plain"], doc["headers"]
    # Apache combines a repeated request field into one before any module sees it (RFC 9110
    # section 5.3): both values, in the order sent.
    assert ", ".join(header_values(doc, "x-rep")) == "first, second", doc["headers"]


def test_a_3_mib_body_is_streamed_to_the_component(srv):
    body = random.Random(1).randbytes(3 * MIB)
    doc = echo_of(srv.post("/echo", body, headers={"Content-Type": "application/octet-stream"}, timeout=120))
    assert doc["method"] == "POST"
    assert (doc["body_len"], doc["body_sha256"]) == (len(body), sha256(body))
    assert header_values(doc, "content-length") == [str(len(body))], doc["headers"]
    assert header_values(doc, "content-type") == ["application/octet-stream"], doc["headers"]


def test_a_chunked_upload_is_streamed_to_the_component(srv):
    body = random.Random(2).randbytes(2 * MIB + 12345)
    r = srv.request("PUT", "/echo", body=chunks_of(body, 50_000), chunked=True, timeout=120)
    doc = echo_of(r)
    assert doc["method"] == "PUT"
    assert (doc["body_len"], doc["body_sha256"]) == (len(body), sha256(body))


def test_head_sends_the_head_only(srv):
    get = srv.get("/echo")
    raw = raw_request(srv.port, b"HEAD /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, raw
    status_line, *fields = head.decode("latin-1").split("\r\n")
    assert status_line.startswith(f"HTTP/1.1 {get.status} "), raw
    assert rest == b"", f"HEAD answered with a body: {raw!r}"
    names = {f.split(":", 1)[0].lower(): f.split(":", 1)[1].strip() for f in fields}
    assert names.get("content-type") == get.header("Content-Type"), raw


# --------------------------------------------------------------------------------------------
# 2-4. The response: streamed body, repeated fields, statuses
# --------------------------------------------------------------------------------------------


def test_a_24_mib_response_is_streamed_byte_exact(srv):
    r = srv.get("/stream?mib=24", timeout=300)
    assert r.status == 200 and r.complete, r
    assert r.header("Content-Length") is None, r
    assert r.header("Transfer-Encoding") == "chunked", r
    assert r.header("Content-Type") == "application/octet-stream", r
    assert len(r.body) == 24 * MIB
    assert sha256(r.body) == sha256(PATTERN * (24 * MIB // len(PATTERN))), "the streamed body differs"


def test_a_piece_reaches_the_client_while_the_handler_waits(srv):
    """The handler writes "first", then waits 3 s before "second": Apache must not hold the first piece
    in its output buffers until the end (no wall-clock claim: only the order of what arrives)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=ENDED_WITHIN) as s:
        s.sendall(b"GET /trickle?ms=3000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        seen = bytearray()
        while b"first\n" not in seen:
            chunk = s.recv(65536)
            assert chunk, f"the connection closed before the first piece: {bytes(seen)!r}"
            seen += chunk
        assert b"second" not in seen, f"the first piece was held until the handler ended: {bytes(seen)!r}"
        while chunk:
            chunk = s.recv(65536)
            seen += chunk
    head, _, body = bytes(seen).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding: chunked" in head, head
    assert dechunk(body) == b"first\nsecond\n", body


def test_repeated_response_fields_are_kept(srv):
    r = srv.get("/repeat")
    assert (r.status, r.body) == (200, b"repeat"), r
    assert r.header_all("Set-Cookie") == ["a=1", "b=2"], r
    assert r.header_all("X-Multi") == ["one", "two"], r


@pytest.mark.parametrize("code", [200, 201, 299, 404, 418, 503, 599])
def test_final_statuses_pass_through_with_their_body(srv, code):
    r = srv.get(f"/status/{code}")
    assert (r.status, r.body) == (code, f"status {code}".encode()), r
    assert r.complete, r


@pytest.mark.parametrize("code", [100, 101, 199, 600, 999])
def test_statuses_outside_200_to_599_are_a_500(srv, code):
    mark = srv.log_mark()
    r = srv.get(f"/status/{code}")
    assert r.status == 500, r
    assert f"status {code}".encode() not in r.body, r
    expect_log(srv, mark, "status", "refused", str(code))
    still_serving(srv)


# --------------------------------------------------------------------------------------------
# 5. Failures and limits
# --------------------------------------------------------------------------------------------


def test_a_trap_is_a_500(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/trap", timeout=120)
    assert r.status == 500, r
    assert took < ENDED_WITHIN
    expect_log(srv, mark, "mod_wasm: /:", "module trapped")
    still_serving(srv)


def test_an_endless_loop_ends_at_the_time_limit(srv):
    before = route_of(status_doc(srv), "/loop")
    mark = srv.log_mark()
    r, took = timed(srv.get, "/loop", timeout=120)
    assert r.status == 504, r
    assert took < ENDED_WITHIN, f"answered after {took:.1f} s under WasmTimeout 2s"
    expect_log(srv, mark, "/loop", "time limit")
    after = route_of(status_doc(srv), "/loop")
    assert after["timeouts"] == before["timeouts"] + 1, (before, after)
    still_serving(srv)


def test_the_memory_limit_is_seen_by_the_app_and_counted(srv):
    before = route_of(status_doc(srv), "/memory")
    r = srv.get("/memory?mib=300", timeout=120)
    assert (r.status, r.body) == (507, b"memory error"), r
    mid = route_of(status_doc(srv), "/memory")
    assert mid["memory_limit"] == before["memory_limit"] + 1, (before, mid)
    assert mid["responses"]["5xx"] == before["responses"]["5xx"] + 1, (before, mid)
    # Below the limit the same allocation works: the limit is the route's, not a broken heap.
    r = srv.get("/memory?mib=32", timeout=120)
    assert (r.status, r.body) == (200, b"allocated 32"), r
    after = route_of(status_doc(srv), "/memory")
    assert after["memory_limit"] == mid["memory_limit"], (mid, after)
    still_serving(srv)


def test_an_output_flood_is_cut_at_the_limit(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/flood", timeout=120)
    assert took < ENDED_WITHIN
    assert r.status == 200, r
    assert not r.complete, "a response cut by the output limit must be visibly truncated"
    assert 0 < len(r.body) <= 8 * MIB, len(r.body)
    whole = PATTERN * (8 * MIB // len(PATTERN))
    assert r.body == whole[: len(r.body)], "the bytes before the cut differ from what the app wrote"
    expect_log(srv, mark, "/flood", "output limit")
    still_serving(srv)


# --------------------------------------------------------------------------------------------
# 6. Response fields the component may not send
# --------------------------------------------------------------------------------------------


def test_injected_values_and_bad_names_never_reach_the_client(srv):
    r = srv.get("/bad-header")
    assert r.status == 200, r
    names = {k.lower() for k, _ in r.headers}
    assert not names & {"injected", "x-injected", "bad name", "bad"}, r.headers
    assert b"Injected" not in raw_request(
        srv.port, b"GET /bad-header HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ).partition(b"\r\n\r\n")[0]
    doc = json.loads(r.body)
    assert doc["value_refused"] is True and doc["name_refused"] is True, doc


def test_hop_by_hop_fields_never_frame_the_response(srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    mark = srv.log_mark()
    try:
        conn.request("GET", "/hop")
        sock = conn.sock
        first = conn.getresponse()
        body = first.read()
        assert (first.status, body) == (200, b"hop"), first.getheaders()
        assert first.getheader("x-ok") == "1", first.getheaders()
        fields = [(k.lower(), v) for k, v in first.getheaders()]
        assert "upgrade" not in dict(fields), fields
        assert ("keep-alive", "x") not in fields, fields
        assert ("connection", "close") not in fields, fields
        assert [v for k, v in fields if k == "transfer-encoding"] in ([], ["chunked"]), fields
        assert not first.will_close, f"the connection was closed after /hop: {fields}"
        # Those wasi:http lets through are dropped by the server, which says so.
        for name in ("te", "trailer", "proxy-foo"):
            assert name not in dict(fields), fields
        line = expect_log(srv, mark, "dropped response header field(s) the server frames itself")
        assert "te" in line and "trailer" in line and "proxy-foo" in line, line
        # The same connection serves the next request.
        conn.request("GET", "/echo?after=hop")
        second = conn.getresponse()
        doc = json.loads(second.read())
        assert second.status == 200 and doc["path_with_query"] == "/echo?after=hop"
        assert conn.sock is sock, "the client had to reconnect: /hop closed the kept-alive connection"
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# 7. Outgoing requests
# --------------------------------------------------------------------------------------------

DENIED = b"Err(ErrorCode_HttpRequestDenied())"


def outbound(srv: Apache, url: str, host: str | None = None):
    headers = {"Host": host} if host else None
    return srv.get("/outbound?url=" + quote(url, safe=""), headers=headers, timeout=120)


def test_outgoing_requests_are_refused_by_default(srv, upstream):
    seen = len(upstream.seen)
    mark = srv.log_mark()
    r = outbound(srv, f"http://127.0.0.1:{upstream.port}/x")
    assert (r.status, r.body) == (502, DENIED), r
    expect_log(srv, mark, f"outgoing request to 127.0.0.1:{upstream.port} refused: not allowed by WasmAllowOutbound")
    r = outbound(srv, "https://example.com/")
    assert (r.status, r.body) == (502, DENIED), r
    expect_log(srv, mark, "outgoing request to example.com:443 refused: not allowed by WasmAllowOutbound")
    assert len(upstream.seen) == seen, "a refused request reached the upstream server"


def test_wasm_allow_outbound_lets_the_named_host_and_port_through(srv, upstream):
    r = outbound(srv, f"http://127.0.0.1:{upstream.port}/allowed?q=1", host="allowed.test")
    assert r.status == 200, r
    assert json.loads(r.body) == {"status": 200, "body": "upstream saw /allowed?q=1"}, r
    assert "/allowed?q=1" in upstream.seen
    # Only that host and port: not another port, nor a name resolving to the same address.
    seen = len(upstream.seen)
    other = free_port()
    for url, refused in (
        (f"http://127.0.0.1:{other}/x", f"127.0.0.1:{other}"),
        (f"http://localhost:{upstream.port}/x", f"localhost:{upstream.port}"),
    ):
        mark = srv.log_mark()
        r = outbound(srv, url, host="allowed.test")
        assert (r.status, r.body) == (502, DENIED), (url, r)
        expect_log(srv, mark, f"outgoing request to {refused}", "not allowed by WasmAllowOutbound")
    # Without a port, an entry allows 80 and 443 only.
    mark = srv.log_mark()
    r = outbound(srv, f"http://127.0.0.1:{upstream.port}/x", host="portless.test")
    assert (r.status, r.body) == (502, DENIED), r
    expect_log(srv, mark, f"outgoing request to 127.0.0.1:{upstream.port} refused")
    assert len(upstream.seen) == seen, "a refused request reached the upstream server"


# --------------------------------------------------------------------------------------------
# 8. Environment, folders and arguments of a wasi:http component
# --------------------------------------------------------------------------------------------


def test_env_dirs_and_args_reach_a_wasi_http_component(srv):
    r = srv.get("/env", headers={"X-Not-Env": "1", "Proxy": "http://evil.example:8080"})
    assert r.status == 200, r
    doc = json.loads(r.body)
    # The route's WasmEnv and nothing else: no CGI variables, nothing of Apache's own environment.
    assert doc["environ"] == {"PROBE_DIRS": "/data"}, doc["environ"]
    assert doc["argv"] == ["http_probe.wasm", "x", "two words"], doc["argv"]
    assert doc["dirs"]["/data"] == ["note.txt", "sub"], doc["dirs"]


# --------------------------------------------------------------------------------------------
# 9. The PrettyFy sample
# --------------------------------------------------------------------------------------------


def test_prettyfy_component(srv):
    r = srv.get("/prettyfy")
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain; charset=utf-8", r
    assert r.text.startswith("prettyfy: POST a JSON document; options: ?indent=N&sort=1\n"), r
    assert "(wasi:http component)" in r.text, r
    doc = {"zeta": [1, 2.5, None], "alpha": {"b": True, "a": "\u00e9t\u00e9 \u2713"}, "mid": ""}
    r = srv.post("/prettyfy?indent=4&sort=1", json.dumps(doc), headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json; charset=utf-8", r
    assert r.body == (json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False) + "\n").encode(), r.text
    r = srv.post("/prettyfy", json.dumps(doc))
    assert r.body == (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(), r.text
    r = srv.post("/prettyfy?indent=2", b'{"a": 1,,}')
    assert r.status == 400, r
    assert r.text.startswith("invalid JSON: "), r


# --------------------------------------------------------------------------------------------
# 10. wasi:cli/run command components
# --------------------------------------------------------------------------------------------


def test_command_hello(srv):
    r = srv.get("/c/hello")
    assert (r.status, r.body, r.complete) == (200, HELLO, True), r


def normalised_echo(r, prefix: str) -> dict:
    """cgi_echo's report with the route's own path replaced by /ROUTE. Dropped: the client's port, and
    PATH_TRANSLATED, which Apache derives from its own mapping of the URL to DocumentRoot (so it
    names the route's last segment)."""
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain", r
    e = parse_echo(r.body)
    e["env"] = {k: v.replace(prefix, "/ROUTE") for k, v in e["env"].items()
                if k not in ("REMOTE_PORT", "PATH_TRANSLATED")}
    return e


def test_command_cgi_matches_the_core_module(srv):
    body = random.Random(3).randbytes(MIB + 7)
    results = {}
    for prefix in ("/c/echo", "/c/core-echo"):
        r = srv.request(
            "POST", f"{prefix}/some/path?a=1&b=two", body=chunks_of(body, 40_000), chunked=True,
            headers={"Content-Type": "application/x-test", "X-Custom-Thing": "custom value"}, timeout=120,
        )
        results[prefix] = normalised_echo(r, prefix)
    e = results["/c/echo"]
    assert e["argv"] == ["cgi_echo.wasm", "first arg", "second"], e
    assert (e["stdin_bytes"], e["stdin_fnv1a64"]) == (len(body), fnv1a64(body)), e
    env = e["env"]
    assert env["GREETING"] == "hello world"
    assert env["REQUEST_METHOD"] == "POST"
    assert env["QUERY_STRING"] == "a=1&b=two"
    assert env["SCRIPT_NAME"] == "/ROUTE" and env["PATH_INFO"] == "/some/path", env
    assert env["CONTENT_TYPE"] == "application/x-test"
    assert env["HTTP_X_CUSTOM_THING"] == "custom value"
    for leak in ("PATH", "LD_LIBRARY_PATH", "MOD_WASM_LEAK_CANARY", "HTTP_PROXY"):
        assert leak not in env, env
    # Exactly what the core module is given.
    core = results["/c/core-echo"]
    differ = {k: (env.get(k), core["env"].get(k)) for k in env.keys() | core["env"].keys()
              if env.get(k) != core["env"].get(k)}
    assert not differ, f"environment (component, core module): {differ}"
    assert e == core


def test_command_exit_code_is_a_500_logged(srv):
    before = route_of(status_doc(srv), "/c/exit3")
    mark = srv.log_mark()
    r = srv.get("/c/exit3")
    assert r.status == 500, r
    # exit(3) inside the wrapped module: wasmtime 48's command adapter turns a non-zero proc_exit into
    # wasi:cli/exit `exit(err)`, which carries no number, so the host sees a failure (code 1), not 3.
    line = expect_log(srv, mark, "/c/exit3", "module exited with code")
    assert not line.rstrip().endswith("code 0"), line
    after = route_of(status_doc(srv), "/c/exit3")
    assert after["exits"] == before["exits"] + 1, (before, after)
    still_serving(srv)


def test_command_trap_is_a_500(srv):
    mark = srv.log_mark()
    r = srv.get("/c/trap")
    assert r.status == 500, r
    expect_log(srv, mark, "/c/trap", "module trapped", "unreachable")
    still_serving(srv)


def test_command_loop_ends_at_the_time_limit(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/c/loop", timeout=120)
    assert r.status == 504, r
    assert took < ENDED_WITHIN
    expect_log(srv, mark, "/c/loop", "time limit")
    still_serving(srv)


def test_command_memory_grab_stops_at_the_limit(srv):
    before = route_of(status_doc(srv), "/c/memgrab")
    r = srv.get("/c/memgrab", timeout=120)
    assert r.status == 200, r
    got = r.body.decode()
    assert got.startswith("got ") and got.endswith(" MiB\n"), r
    n = int(got[4:-5])
    assert 0 < n < 16, f"malloc gave {n} MiB under WasmMemoryLimit 16M"
    after = route_of(status_doc(srv), "/c/memgrab")
    assert after["memory_limit"] == before["memory_limit"] + 1, (before, after)
    still_serving(srv)


def test_command_flood_is_cut_at_the_output_limit(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/c/flood", timeout=120)
    assert took < ENDED_WITHIN
    assert r.status == 200, r
    assert not r.complete, "a response cut by the output limit must be visibly truncated"
    assert 0 < len(r.body) <= MIB and set(r.body) == {ord("F")}, len(r.body)
    expect_log(srv, mark, "/c/flood", "output limit")
    # A limit reached before anything was sent: a plain 500.
    mark = srv.log_mark()
    r = srv.get("/c/flood-small", timeout=120)
    assert r.status == 500 and b"FFFF" not in r.body, r
    expect_log(srv, mark, "/c/flood-small", "output limit")
    still_serving(srv)


def test_command_stderr_lines_in_the_error_log(srv):
    mark = srv.log_mark()
    r = srv.get("/c/stderr")
    assert (r.status, r.body) == (200, STDERR_BODY), r
    log = srv.wait_for_log(f"{STDERR_MARKER} last line without newline", since=mark)
    for text in ("line one", "line two", "last line without newline"):
        lines = [ln for ln in log.splitlines() if f"{STDERR_MARKER} {text}" in ln]
        assert len(lines) == 1, f"{text!r} should be logged once:\n{log}"
        assert "/c/stderr" in lines[0], f"stderr line not tagged with its location: {lines[0]}"


# --------------------------------------------------------------------------------------------
# 11. Many requests at once
# --------------------------------------------------------------------------------------------


def test_240_concurrent_requests_mixing_both_kinds(srv):
    rng = random.Random(11)
    jobs = [("echo", rng.randbytes(rng.randint(1, 4096))) for _ in range(120)] + [("hello", b"")] * 120
    rng.shuffle(jobs)
    threads = 24
    failures: list[str] = []
    answered = [0]
    lock = threading.Lock()

    def work(index: int) -> None:
        keep_alive = index % 2 == 0  # half on one kept-alive connection, half on fresh ones
        conn = None
        for kind, body in jobs[index::threads]:
            if conn is None or not keep_alive:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
            try:
                if kind == "echo":
                    conn.request("POST", "/echo", body=body, headers={"Content-Type": "application/octet-stream"})
                else:
                    conn.request("GET", "/c/hello")
                r = conn.getresponse()
                data = r.read()
            except Exception as e:  # noqa: BLE001 — any failure is counted
                with lock:
                    failures.append(f"{kind}: {e!r}")
                conn.close()
                conn = None
                continue
            if kind == "echo":
                good = r.status == 200 and json.loads(data)["body_sha256"] == sha256(body)
            else:
                good = (r.status, data) == (200, HELLO)
            with lock:
                if good:
                    answered[0] += 1
                else:
                    failures.append(f"{kind}: {r.status} {data[:200]!r}")
            if not keep_alive:
                conn.close()
        if conn is not None:
            conn.close()

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in pool), "requests still running after 10 minutes"
    assert not failures, f"{len(failures)} of {len(jobs)} failed: {failures[:20]}"
    assert answered[0] == len(jobs)
    assert srv.running()
    assert_no_crash(srv)


# --------------------------------------------------------------------------------------------
# 12. Core modules and components side by side, swapped by a graceful restart
# --------------------------------------------------------------------------------------------


def swap_conf(kind: str) -> str:
    """/swap serves the core stderr sample (kind "module") or the hello component ("component")."""
    target = WASM_DIR / "stderr.wasm" if kind == "module" else component("hello")
    return "\n".join([
        f"WasmCacheDir {CACHE_DIR}",
        location("/", None, "SetHandler wasm-handler"),
        location("/core/hello", WASM_DIR / "hello.wasm"),
        location("/c/hello", component("hello")),
        location("/swap", target),
        location("/wasm-status", None, "SetHandler wasm-status"),
    ]) + "\n"


def test_core_and_component_side_by_side_and_swapped_by_graceful(apache_factory, components_built, mpm):
    srv = apache_factory(mpm=mpm, extra_conf=swap_conf("module"), start_timeout=START_TIMEOUT)
    assert srv.get("/core/hello").body == HELLO
    assert srv.get("/c/hello").body == HELLO
    assert srv.get("/swap").body == STDERR_BODY
    doc = status_doc(srv)
    kinds = {m["path"]: m["kind"] for m in doc["modules"]}
    assert kinds[str(WASM_DIR / "hello.wasm")] == "module", kinds
    assert kinds[str(component("hello"))] == "component", kinds
    assert kind_of_route(doc, "/swap") == "module"

    with LoadLoop(srv.port, "/c/hello", {HELLO}, threads=4) as load:
        for kind, body in (("component", HELLO), ("module", STDERR_BODY), ("component", HELLO)):
            srv.extra_conf = swap_conf(kind)
            srv.graceful()
            r = srv.get("/swap")
            assert (r.status, r.body) == (200, body), (kind, r)
            assert kind_of_route(status_doc(srv), "/swap") == kind
            assert srv.get("/core/hello").body == HELLO
            time.sleep(0.5)
    assert not load.failures, load.failures[:20]
    assert load.ok > 0
    assert_no_crash(srv)
