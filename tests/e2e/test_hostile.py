"""Hostile modules and hostile requests (issue 4), against a real Apache under event and prefork.

Each hostile module (tests/modules/) is first requested alone — expected status, a generous
upper bound proving the request ended (never a performance claim), and the log line naming the
route and the cause — then all of them at once beside 300+ innocent requests that must all
succeed. A slow-body client and a client that never reads tie up only their own request. At the
end of each server's life the error log must show no child that exited on a signal.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import Apache, assert_no_crash, chunks_of, fnv1a64, parse_echo, raw_request, request, serving, timed

pytestmark = pytest.mark.mpms("event", "prefork")

HELLO = b"Hello, World! (from a WASI module served by Apache)\n"
APACHE_TIMEOUT = 5  # Apache's `Timeout`: cuts slow and non-reading clients
ENDED_WITHIN = 30.0  # generous bound: only proves a request ended

HOSTILE_CONF = r"""
<VirtualHost 127.0.0.1:@PORT@>
    ServerName 127.0.0.1
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName limits.test
    # limits at vhost level, inherited by the vhost's sections
    WasmTimeout 1s
    <Location /vloop>
        SetHandler wasm-handler
        WasmModule @WASM@/loop.wasm
    </Location>
</VirtualHost>

<Location /hello>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
</Location>
<Location /echo>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
</Location>
<Location /stream>
    SetHandler wasm-handler
    WasmModule @WASM@/headers.wasm
    WasmEnableCGI On
</Location>

<Location /h/loop>
    SetHandler wasm-handler
    WasmModule @WASM@/loop.wasm
    WasmTimeout 1s
</Location>
<Location /h/loop-ms>
    SetHandler wasm-handler
    WasmModule @WASM@/loop.wasm
    WasmTimeout 700ms
</Location>
<Location /h/loop-after-output>
    SetHandler wasm-handler
    WasmModule @WASM@/loop_after_output.wasm
    WasmTimeout 1s
</Location>
<Location /h/memgrab>
    SetHandler wasm-handler
    WasmModule @WASM@/memgrab.wasm
    WasmMemoryLimit 16M
</Location>
<Location /h/memgrab-default>
    SetHandler wasm-handler
    WasmModule @WASM@/memgrab.wasm
</Location>
<Location /h/trap>
    SetHandler wasm-handler
    WasmModule @WASM@/trap.wasm
</Location>
<Location /h/trap-after>
    SetHandler wasm-handler
    WasmModule @WASM@/trap_after_output.wasm
</Location>
<Location /h/recursion>
    SetHandler wasm-handler
    WasmModule @WASM@/recursion.wasm
</Location>
<Location /h/divzero>
    SetHandler wasm-handler
    WasmModule @WASM@/divzero.wasm
</Location>
<Location /h/oob>
    SetHandler wasm-handler
    WasmModule @WASM@/oob.wasm
</Location>
<Location /h/flood>
    SetHandler wasm-handler
    WasmModule @WASM@/flood.wasm
    WasmOutputLimit 1M
</Location>
<Location /h/flood-small>
    SetHandler wasm-handler
    WasmModule @WASM@/flood.wasm
    WasmOutputLimit 10K
</Location>
<Location /h/no-cgi-headers>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
    WasmEnableCGI On
</Location>
<Location /h/exit3-before>
    SetHandler wasm-handler
    WasmModule @WASM@/exit3_before.wasm
</Location>
<Location /h/exit3-after>
    SetHandler wasm-handler
    WasmModule @WASM@/exit3_after.wasm
</Location>
<Location /h/exit3-after-small>
    SetHandler wasm-handler
    WasmModule @WASM@/exit3_after.wasm
    WasmEnv QUERY_STRING small
</Location>
<Location /h/stdin>
    SetHandler wasm-handler
    WasmModule @WASM@/stdin_past_eof.wasm
</Location>
<Location /h/inject>
    SetHandler wasm-handler
    WasmModule @WASM@/hdr_inject.wasm
    WasmEnableCGI On
</Location>
<Location /h/bigheaders>
    SetHandler wasm-handler
    WasmModule @WASM@/big_headers.wasm
    WasmEnableCGI On
</Location>

# limits merge like every other directive: the child inherits what it does not set
<Location /lim>
    SetHandler wasm-handler
    WasmModule @WASM@/loop.wasm
    WasmTimeout 1s
    WasmMemoryLimit 16M
</Location>
<Location /lim/mem>
    WasmModule @WASM@/memgrab.wasm
</Location>
<Location /lim/out>
    WasmOutputLimit 2M
</Location>
"""


@pytest.fixture(scope="module")
def srv(built, mpm):
    a = Apache(mpm=mpm, extra_conf=HOSTILE_CONF, timeout=APACHE_TIMEOUT, log_level="info")
    yield from serving(a)


def log_lines_matching(text: str, *patterns: str) -> list[str]:
    rxs = [re.compile(p, re.I) for p in patterns]
    return [ln for ln in text.splitlines() if all(rx.search(ln) for rx in rxs)]


def expect_log(srv: Apache, mark: int, *patterns: str) -> str:
    """Waits for one error-log line (written after `mark`) matching every pattern; returns it."""
    deadline = time.monotonic() + 10
    while True:
        text = srv.error_log_since(mark)
        found = log_lines_matching(text, *patterns)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no error-log line matches all of {patterns}; the log since the request:\n{text[-3000:]}")
        time.sleep(0.05)


def still_serving(srv: Apache) -> None:
    r = srv.get("/hello")
    assert (r.status, r.body) == (200, HELLO), r
    assert srv.running()


# ---------------------------------------------------------------------------------------------
# each hostile module alone
# ---------------------------------------------------------------------------------------------

TRAPS = [
    ("/h/trap", r"unreachable"),
    ("/h/recursion", r"stack"),
    ("/h/divzero", r"divi(de|sion) by zero"),
    ("/h/oob", r"out of bounds"),
]


@pytest.mark.parametrize("path,trap", TRAPS, ids=[t[0].rsplit("/", 1)[1] for t in TRAPS])
def test_trap_before_output_is_500(srv, path, trap):
    mark = srv.log_mark()
    r, took = timed(srv.get, path)
    assert r.status == 500, r
    assert took < ENDED_WITHIN
    expect_log(srv, mark, re.escape(path), trap)
    still_serving(srv)
    assert_no_crash(srv)


def test_trap_after_output_cuts_the_response(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/h/trap-after")
    assert r.status == 200, r
    assert r.body.startswith(b"partial output before the trap\n"), r
    assert not r.complete, "a response cut by a trap must be visibly truncated"
    assert took < ENDED_WITHIN
    expect_log(srv, mark, re.escape("/h/trap-after"), r"unreachable")
    still_serving(srv)
    assert_no_crash(srv)


@pytest.mark.parametrize("path", ["/h/loop", "/h/loop-ms"])
def test_endless_loop_times_out_with_504(srv, path):
    mark = srv.log_mark()
    r, took = timed(srv.get, path, timeout=60)
    assert r.status == 504, r
    assert took < ENDED_WITHIN
    expect_log(srv, mark, re.escape(path), r"time")
    still_serving(srv)


def test_timeout_after_output_cuts_the_response(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/h/loop-after-output", timeout=60)
    assert r.status == 200, r
    assert not r.complete, "a response cut by the time limit must be visibly truncated"
    assert r.body and set(r.body) == {ord("L")}
    assert took < ENDED_WITHIN
    expect_log(srv, mark, re.escape("/h/loop-after-output"), r"time")
    still_serving(srv)


def test_timeout_set_at_vhost_level(srv):
    r, took = timed(srv.get, "/vloop", headers={"Host": "limits.test"}, timeout=60)
    assert r.status == 504, r
    assert took < ENDED_WITHIN


def got_mib(r) -> int:
    assert r.status == 200, r
    m = re.fullmatch(rb"got (\d+) MiB\n", r.body)
    assert m, r
    return int(m.group(1))


def test_memory_grab_stops_at_the_limit(srv):
    n = got_mib(srv.get("/h/memgrab"))
    assert 0 < n < 16, f"malloc gave {n} MiB under WasmMemoryLimit 16M"
    still_serving(srv)


def test_memory_grab_default_limit(srv):
    n = got_mib(srv.get("/h/memgrab-default", timeout=120))
    assert 16 < n < 256, f"malloc gave {n} MiB under the default 256M limit"


def test_limits_merge_into_child_sections(srv):
    n = got_mib(srv.get("/lim/mem"))
    assert 0 < n < 16, "the child section must inherit WasmMemoryLimit 16M"
    r, took = timed(srv.get, "/lim/out", timeout=60)
    assert r.status == 504, "the child section must inherit WasmTimeout 1s"
    assert took < ENDED_WITHIN


def test_output_flood_is_cut_at_the_limit(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/h/flood", timeout=60)
    assert took < ENDED_WITHIN
    assert r.status == 200, r
    assert not r.complete, "a response cut by the output limit must be visibly truncated"
    assert 0 < len(r.body) <= 1024 * 1024, len(r.body)
    assert set(r.body) == {ord("F")}
    expect_log(srv, mark, re.escape("/h/flood"), r"output")
    still_serving(srv)


def test_output_limit_before_anything_was_sent_is_500(srv):
    mark = srv.log_mark()
    r, took = timed(srv.get, "/h/flood-small", timeout=60)
    assert took < ENDED_WITHIN
    assert r.status == 500, r
    assert b"FFFF" not in r.body
    expect_log(srv, mark, re.escape("/h/flood-small"), r"output")


def test_cgi_mode_without_headers_is_500(srv):
    mark = srv.log_mark()
    r = srv.get("/h/no-cgi-headers")
    assert r.status == 500, r
    assert b"Hello" not in r.body
    expect_log(srv, mark, re.escape("/h/no-cgi-headers"))


def test_exit3_before_output_is_500_with_code_logged(srv):
    mark = srv.log_mark()
    r = srv.get("/h/exit3-before")
    assert r.status == 500, r
    expect_log(srv, mark, re.escape("/h/exit3-before"), r"\b3\b", r"exit|code|status")


def test_exit3_after_output_delivers_the_response_whole(srv):
    """As mod_cgi: a program's output is its response whatever its exit status (issue 20)."""
    mark = srv.log_mark()
    r = srv.get("/h/exit3-after")
    assert r.status == 200, r
    assert r.body.startswith(b"output before exit(3)\n"), r
    assert r.complete and len(r.body) == 22 + 128 * 1024, r
    expect_log(srv, mark, re.escape("/h/exit3-after"), r"\b3\b", "after its response")


def test_exit3_after_small_output_is_delivered_with_the_code_logged(srv):
    """22 bytes, flushed, then exit(3): the 22 bytes are the response; the code is in the log."""
    mark = srv.log_mark()
    r = srv.get("/h/exit3-after-small")
    assert r.status == 200 and r.complete and r.body == b"output before exit(3)\n", r
    expect_log(srv, mark, re.escape("/h/exit3-after-small"), r"\b3\b")


# ---------------------------------------------------------------------------------------------
# stdin ends at the body's end
# ---------------------------------------------------------------------------------------------

STDIN_EXTRA = "".join(f"extra read {i}: 0\n" for i in range(5))


def test_stdin_past_eof(srv):
    r = srv.post("/h/stdin", b"hello")
    assert r.status == 200, r
    assert r.text == f"body=5 fnv1a64={fnv1a64(b'hello'):016x} first_end=0\n" + STDIN_EXTRA
    r = srv.get("/h/stdin")
    assert r.text == f"body=0 fnv1a64={fnv1a64(b''):016x} first_end=0\n" + STDIN_EXTRA, r
    body = b"x" * 70000
    r = srv.request("POST", "/h/stdin", body=chunks_of(body, 9999), chunked=True)
    assert r.text == f"body=70000 fnv1a64={fnv1a64(body):016x} first_end=0\n" + STDIN_EXTRA, r


def test_stdin_never_reads_the_next_pipelined_request(srv):
    raw = raw_request(
        srv.port,
        b"POST /h/stdin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert raw.count(b"HTTP/1.1 200") == 2, raw[:2000]
    assert f"body=5 fnv1a64={fnv1a64(b'hello'):016x} first_end=0\n".encode() in raw
    assert b"extra read 0: 0\n" in raw and b"extra read 4: 0\n" in raw
    assert HELLO in raw


# ---------------------------------------------------------------------------------------------
# response headers the module may not smuggle
# ---------------------------------------------------------------------------------------------


def raw_get(srv: Apache, path: str) -> tuple[int, bytes]:
    raw = raw_request(srv.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    m = re.match(rb"HTTP/1\.1 (\d{3})", raw)
    assert m, raw[:500]
    return int(m.group(1)), raw


@pytest.mark.parametrize("mode", ["bare_cr", "nul", "ctl", "status_cr"])
def test_header_injection_refused(srv, mode):
    mark = srv.log_mark()
    status, raw = raw_get(srv, f"/h/inject?{mode}")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert status == 500, raw[:1000]
    assert b"injected" not in raw, raw[:1000]
    assert b"\r" not in head.replace(b"\r\n", b""), "a bare CR reached the client"
    expect_log(srv, mark, re.escape("/h/inject"))


def test_header_folding_cannot_inject(srv):
    status, raw = raw_get(srv, "/h/inject?fold")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"\r\nSet-Cookie:\s*injected", head, re.I), raw[:1000]


def test_well_formed_headers_pass(srv):
    status, raw = raw_get(srv, "/h/inject?ok")
    assert status == 200, raw[:1000]
    assert b"\r\nX-A: a\r\n" in raw


def test_header_block_over_64k_refused(srv):
    mark = srv.log_mark()
    r = srv.get("/h/bigheaders")
    assert r.status == 500, r
    assert r.header("X-Pad-00") is None
    expect_log(srv, mark, re.escape("/h/bigheaders"))


# ---------------------------------------------------------------------------------------------
# hostile clients
# ---------------------------------------------------------------------------------------------


def innocent_burst(srv: Apache, n: int) -> list[str]:
    """n innocent requests (hello and echo with a body); returns a description of every failure."""

    def one(i: int) -> str | None:
        try:
            if i % 2:
                r = request(srv.port, "GET", "/hello", timeout=60)
                return None if (r.status, r.body) == (200, HELLO) else f"hello {i}: {r!r}"
            body = f"innocent {i} ".encode() * (1 + i % 40)
            r = request(srv.port, "POST", f"/echo?i={i}", body=body, timeout=60)
            e = parse_echo(r.body) if r.status == 200 else {}
            ok = (
                r.status == 200
                and e["stdin_fnv1a64"] == fnv1a64(body)
                and e["env"].get("QUERY_STRING") == f"i={i}"
            )
            return None if ok else f"echo {i}: {r!r}"
        except Exception as exc:  # a refused or reset connection is a failure too
            return f"request {i}: {exc!r}"

    with ThreadPoolExecutor(max_workers=24) as pool:
        return [p for p in pool.map(one, range(n)) if p]


def test_slow_body_client_ties_up_only_its_request(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=ENDED_WITHIN + 10)
    try:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"0123456789")
        t0 = time.monotonic()
        problems = innocent_burst(srv, 60)
        assert not problems, "\n".join(problems[:10])
        # Apache's Timeout ends the stalled upload; the module never sees the missing bytes.
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        assert time.monotonic() - t0 < ENDED_WITHIN + APACHE_TIMEOUT
        assert got.startswith(b"HTTP/1.1 408"), got[:1000]
        assert b"stdin.bytes" not in got, got[:1000]
    finally:
        s.close()
    still_serving(srv)


def test_non_reading_client_ties_up_only_its_request(srv):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(ENDED_WITHIN + 10)
    s.connect(("127.0.0.1", srv.port))
    try:
        s.sendall(b"GET /stream?stream=24 HTTP/1.1\r\nHost: x\r\n\r\n")
        problems = innocent_burst(srv, 60)
        assert not problems, "\n".join(problems[:10])
        # Keep not reading for longer than Apache's Timeout, then drain: the response was cut.
        time.sleep(APACHE_TIMEOUT + 5)
        t0 = time.monotonic()
        total = 0
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        assert time.monotonic() - t0 < ENDED_WITHIN
        assert total < 24 * 1024 * 1024, "a client that stopped reading was not cut off"
    finally:
        s.close()
    still_serving(srv)


# ---------------------------------------------------------------------------------------------
# everything at once
# ---------------------------------------------------------------------------------------------

HOSTILE_EXPECT = {
    "/h/trap": {500},
    "/h/recursion": {500},
    "/h/divzero": {500},
    "/h/oob": {500},
    "/h/trap-after": {200},
    "/h/loop": {504},
    "/h/loop-after-output": {200},
    "/h/flood-small": {500},
    "/h/memgrab": {200},
    "/h/flood": {200},
    "/h/exit3-before": {500},
    "/h/exit3-after": {200},
    "/h/inject?bare_cr": {500},
    "/h/bigheaders": {500},
}


def test_all_hostile_at_once_beside_innocent_requests(srv):
    hostile_results: dict[str, list] = {}
    lock = threading.Lock()

    def hostile(path: str) -> None:
        try:
            outcome = request(srv.port, "GET", path, timeout=60).status
        except Exception as exc:  # recorded, then reported by the assertion below
            outcome = repr(exc)
        with lock:
            hostile_results.setdefault(path, []).append(outcome)

    # A stalled upload and a client that never reads join the crowd.
    slow = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    slow.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc")
    deaf = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.connect(("127.0.0.1", srv.port))
    deaf.sendall(b"GET /stream?stream=24 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        threads = [
            threading.Thread(target=hostile, args=(p,)) for p in HOSTILE_EXPECT for _ in range(2)
        ]
        for t in threads:
            t.start()
        problems = innocent_burst(srv, 320)
        for t in threads:
            t.join(timeout=120)
        assert not problems, f"{len(problems)} innocent requests failed:\n" + "\n".join(problems[:10])
        for path, want in HOSTILE_EXPECT.items():
            got = hostile_results.get(path, [])
            assert len(got) == 2 and set(got) <= want, f"{path}: statuses {got}, expected {want}"
    finally:
        slow.close()
        deaf.close()
    still_serving(srv)
    assert_no_crash(srv)
