"""Hostile modules, round 2 (issue 15): each finding reproduced against a real Apache, then refused.

- A mapped folder swapped for a symlink by one request never redirects another request, another
  mapping or another route; a configured path through a symlink is refused at load.
- `WasmTimeout` ends a module sleeping, blocked opening a FIFO, or spinning; a flood of sleepers
  frees its workers at the deadline; a graceful stop needs no SIGKILL.
- A module cannot frame the response: hop-by-hop fields dropped, `Content-Length` held to the
  body, statuses outside 200-599 refused, an over-long header line is a 500; a kept-alive
  connection never carries a smuggled response to the next request.
- A forged `.cwasm` never runs for a route that names clean `.wasm` bytes; a group/world-writable
  or run-user-owned `.cwasm` is refused and the `.wasm` compiled instead.
- Compile limits refuse a compile bomb before compiling (and under `apachectl -t`).
- Read-only folders; an exhausted instance pool answers 503 with Retry-After.

Time bounds here only prove that a request ended (never a performance claim).
"""

from __future__ import annotations

import http.client
import os
import pwd
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import WASM_DIR, Apache, assert_no_crash, expect_log, timed, wasm_functions_module

HELLO = b"Hello, World! (from a WASI module served by Apache)\n"
ENDED_WITHIN = 30.0


def nobody_uid() -> int:
    return pwd.getpwnam("nobody").pw_uid


def location(path: str, module: str | Path, *lines: str) -> str:
    """A <Location> serving `module` (a name in build/wasm, or a file path)."""
    file = module if isinstance(module, Path) else f"@WASM@/{module}.wasm"
    body = "\n    ".join(("SetHandler wasm-handler", f"WasmModule {file}", *lines))
    return f"<Location {path}>\n    {body}\n</Location>\n"


# --------------------------------------------------------------------------------------------
# 1. Mapped folders: opened once, no symlinks, sealed from one another
# --------------------------------------------------------------------------------------------


@pytest.fixture
def shared_dir(public_tmp) -> Path:
    """A folder the module (User nobody) may write, with a nested folder mapped separately."""
    d = public_tmp / "d"
    (d / "cache").mkdir(parents=True)
    (d / "uploads").mkdir()
    for p in (d, d / "cache", d / "uploads"):
        os.chmod(p, 0o777)
    return d


@pytest.mark.mpms("event", "prefork")
def test_swapping_a_mapped_folder_for_a_symlink_escapes_nothing(apache_factory, mpm, shared_dir, tmp_path):
    outside = tmp_path / "outside"  # stands for the host's /tmp or /etc
    outside.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(outside, 0o777)
    (outside / "passwd").write_text("root:x:0:0:secret\n")
    os.chmod(outside / "passwd", 0o644)
    conf = (
        location("/swap", "fsops", "WasmEnableCGI On", f"WasmMapDir /data {shared_dir}",
                 f"WasmMapDir /cache {shared_dir}/cache")
        + location("/b", "fsops", "WasmEnableCGI On", f"WasmMapDir /uploads {shared_dir}/uploads")
        + location("/hello", "hello")
    )
    srv = apache_factory(mpm=mpm, extra_conf=conf)
    # Request 1 replaces /data/cache by a relative symlink to the outside folder (WASI refuses
    # absolute targets; a relative one that climbs out is what an attacker writes).
    up = os.path.relpath(outside, shared_dir)
    r = srv.get(f"/swap?rmdir=/data/cache&symlink={up},/data/cache")
    assert r.status == 200, r
    assert "rmdir /data/cache: ok" in r.text and f"symlink {up},/data/cache: ok" in r.text, r.text
    assert (shared_dir / "cache").is_symlink(), "the module could not even plant the symlink"
    # Request 2 writes /cache/x and reads /cache/passwd: the mapping still names the old folder.
    r = srv.get("/swap?write=/cache/x,pwned&read=/cache/passwd")
    assert r.status == 200, r
    assert not (outside / "x").exists(), "a write through /cache landed outside the mapped folder"
    assert "secret" not in r.text, f"/cache/passwd read the outside file: {r.text}"
    # Across routes: route A (/data) swaps uploads; route B (/uploads) must not follow.
    r = srv.get(f"/swap?rmdir=/data/uploads&symlink={up},/data/uploads")
    assert "rmdir /data/uploads: ok" in r.text and f"symlink {up},/data/uploads: ok" in r.text, r.text
    r = srv.get("/b?write=/uploads/y,pwned&read=/uploads/passwd")
    assert r.status == 200, r
    assert not (outside / "y").exists(), "route B wrote through route A's symlink"
    assert "secret" not in r.text, r.text
    # A restart re-opens folders: the path now passes through a symlink and is refused.
    mark = srv.log_mark()
    srv.graceful()
    expect_log(srv, mark, "symlink", f"{shared_dir}/cache")
    r = srv.get("/swap?read=/data/x")
    assert r.status == 500, r
    assert srv.get("/hello").body == HELLO


def test_a_configured_path_through_a_symlink_is_refused_by_configtest(shared_dir, tmp_path, built):
    link = tmp_path / "link"
    link.symlink_to(shared_dir)
    a = Apache(extra_conf=location("/x", "fsops", f"WasmMapDir /data {link}"))
    try:
        code, out = a.configtest()
    finally:
        a.__exit__(None, None, None)
    assert code != 0, out
    assert "symlink" in out and str(link) in out, out


@pytest.mark.mpms("event")
def test_read_only_folders(apache_factory, mpm, shared_dir):
    (shared_dir / "note.txt").write_text("readable\n")
    os.chmod(shared_dir / "note.txt", 0o644)
    conf = (
        location("/ro", "fsops", "WasmEnableCGI On", f"WasmMapDir /data {shared_dir} ro")
        + location("/rodir", "fsops", "WasmEnableCGI On", f"WasmDir {shared_dir} RO")
        + location("/rw", "fsops", "WasmEnableCGI On", f"WasmMapDir /data {shared_dir} rw")
    )
    srv = apache_factory(mpm=mpm, extra_conf=conf)
    r = srv.get("/ro?read=/data/note.txt&write=/data/new.txt,x&mkdir=/data/sub&symlink=note.txt,/data/l")
    assert "read /data/note.txt: ok readable" in r.text, r.text
    for op in ("write /data/new.txt,x: error", "mkdir /data/sub: error", "symlink note.txt,/data/l: error"):
        assert op in r.text, r.text
    r = srv.get(f"/rodir?write={shared_dir}/new.txt,x")
    assert "error" in r.text, r.text
    assert not (shared_dir / "new.txt").exists() and not (shared_dir / "sub").exists()
    r = srv.get("/rw?write=/data/new.txt,x")
    assert "write /data/new.txt,x: ok" in r.text, r.text
    assert (shared_dir / "new.txt").read_text() == "x"


def test_a_bad_access_mode_is_a_config_error(built, tmp_path):
    a = Apache(extra_conf=location("/x", "fsops", f"WasmMapDir /data {tmp_path} rx"))
    try:
        code, out = a.configtest()
    finally:
        a.__exit__(None, None, None)
    assert code != 0 and "ro or rw" in out, out


# --------------------------------------------------------------------------------------------
# 2. Time limits cover blocking host calls
# --------------------------------------------------------------------------------------------

SLEEP_CONF = location("/hello", "hello") + location("/t", "fsops", "WasmEnableCGI On", "WasmTimeout 2s")
BLOCKING_CONF = SLEEP_CONF + location(
    "/fifo", "fsops", "WasmEnableCGI On", "WasmTimeout 2s", "WasmMapDir /data @ROOT@/fifo"
)


@pytest.fixture(params=["event", "prefork"])
def blocking_srv(request, built):
    a = Apache(mpm=request.param, extra_conf=BLOCKING_CONF)
    fifo_dir = a.root / "fifo"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / "pipe")
    os.chmod(fifo_dir / "pipe", 0o666)
    a.start()
    yield a
    a.stop()
    assert_no_crash(a)
    a.__exit__(None, None, None)


@pytest.mark.parametrize("route", ["/t?sleep=20", "/fifo?open=/data/pipe", "/t?spin=1"])
def test_the_deadline_ends_a_blocked_or_busy_module(blocking_srv, route):
    mark = blocking_srv.log_mark()
    r, took = timed(blocking_srv.get, route, timeout=60)
    assert r.status == 504, r
    assert took < 15, f"{route}: answered after {took:.1f} s under WasmTimeout 2s"
    expect_log(blocking_srv, mark, route.split("?")[0], "time limit")
    assert blocking_srv.get("/hello").body == HELLO


@pytest.mark.mpms("event", "prefork")
def test_a_flood_of_sleepers_frees_every_worker_at_the_deadline(apache_factory, mpm):
    workers = 128 if mpm != "prefork" else 48
    srv = apache_factory(mpm=mpm, extra_conf=SLEEP_CONF)
    flood = workers + 8
    results: list[int] = []

    def sleeper():
        try:
            r = srv.get("/t?sleep=3600", timeout=120)
            results.append(r.status if r.complete else -1)
        except Exception:
            results.append(-2)

    threads = [threading.Thread(target=sleeper) for _ in range(flood)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # Another route, behind a full house of sleepers: served once their deadline frees workers.
    r, took = timed(srv.get, "/hello", timeout=120)
    assert r.body == HELLO, r
    assert took < 60, f"/hello waited {took:.1f} s behind {flood} sleepers"
    for t in threads:
        t.join(timeout=120)
    assert len(results) == flood
    # Each sleeper ended at its deadline with a 504.
    assert results == [504] * flood, results
    # A graceful stop needs no SIGKILL, even right after a second flood.
    for _ in range(10):
        threading.Thread(target=sleeper, daemon=True).start()
    time.sleep(0.5)
    os.kill(srv.pid, signal.SIGWINCH)
    srv.proc.wait(timeout=30)  # raises if Apache would need SIGKILL
    assert srv.proc.returncode == 0, srv.diagnostics()


# --------------------------------------------------------------------------------------------
# 3. The module never frames the response
# --------------------------------------------------------------------------------------------

FRAMING_CONF = location("/hello", "hello") + location("/f", "framing", "WasmEnableCGI On")


@pytest.fixture(scope="module", params=["event", "prefork"])
def framing_srv(request, built):  # `request`: pytest's fixture request
    a = Apache(mpm=request.param, extra_conf=FRAMING_CONF)
    a.start()
    yield a
    a.stop()
    assert_no_crash(a)
    a.__exit__(None, None, None)


def two_requests(port: int, trick: str):
    """The trick on a kept-alive connection, then /hello on the same client (as curl/http.client do)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", f"/f?{trick}")
        first = conn.getresponse()
        try:
            body = first.read()
            complete = True
        except http.client.IncompleteRead as e:
            body, complete = e.partial, False
        first_info = (first.status, first.getheaders(), body, complete, first.will_close)
        if not complete:
            conn.close()
        try:
            conn.request("GET", "/hello")
            second = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the kept-alive connection after a cut response: a client retries
            # an idempotent request once on a new connection (RFC 9112 section 9.3.1).
            conn.close()
            conn.request("GET", "/hello")
            second = conn.getresponse()
            first_info = first_info[:4] + (True,)
        return first_info, (second.status, second.getheaders(), second.read())
    finally:
        conn.close()


@pytest.mark.parametrize("trick", ["te", "short-cl", "long-cl", "hop", "exact-cl"])
def test_no_smuggled_response_reaches_the_next_request(framing_srv, trick):
    first, second = two_requests(framing_srv.port, trick)
    status2, headers2, body2 = second
    assert status2 == 200 and body2 == HELLO, f"{trick}: the next request got {second}"
    assert not any(v == "session=attacker" for k, v in headers2), headers2
    status1, headers1, body1, complete1, will_close1 = first
    names1 = {k.lower(): v for k, v in headers1}
    assert "trailer" not in names1 and "upgrade" not in names1, headers1
    assert names1.get("keep-alive", "") != "timeout=999", headers1
    if trick == "te":
        assert status1 == 200 and complete1, first
        assert body1.startswith(b"5\r\nhello\r\n0\r\n\r\n"), body1  # opaque body, framed by Apache
    elif trick == "short-cl":
        assert body1 == b"hello" and will_close1, first  # exactly what was declared, then closed
    elif trick == "long-cl":
        assert not complete1 or will_close1, first  # cut and closed, never left waiting
    elif trick == "hop":
        assert status1 == 200 and names1.get("x-kept") == "yes" and body1 == b"hop body\n", first
    elif trick == "exact-cl":
        assert (status1, body1, complete1) == (200, b"exact\n", True), first


def test_dropped_fields_and_length_mismatches_are_logged(framing_srv):
    mark = framing_srv.log_mark()
    two_requests(framing_srv.port, "hop")
    expect_log(framing_srv, mark, "/f", "dropped", "Upgrade")
    two_requests(framing_srv.port, "long-cl")
    expect_log(framing_srv, mark, "/f", "Content-Length 1000")


@pytest.mark.parametrize("code", ["100", "101", "199", "600", "000"])
def test_statuses_outside_200_to_599_are_refused(framing_srv, code):
    mark = framing_srv.log_mark()
    r = framing_srv.get(f"/f?status{code}")
    assert r.status == 500, r
    expect_log(framing_srv, mark, "/f", f"Status: {code}")


def test_an_overlong_header_line_before_output_is_a_500(framing_srv):
    mark = framing_srv.log_mark()
    r = framing_srv.get("/f?longline")
    assert r.status == 500, r
    expect_log(framing_srv, mark, "/f", "longer than")


# --------------------------------------------------------------------------------------------
# 4. Native code trust
# --------------------------------------------------------------------------------------------


def cache_entries(cache: Path) -> dict[str, Path]:
    """sha256 -> .cwasm path in a WasmCacheDir."""
    return {p.stem: p for p in cache.rglob("*.cwasm")}


def sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def forged_bundle(apache_factory, public_tmp) -> Path:
    """modules/hello.cwasm holds cgi_echo's native code; its sidecar is updated to match (a forger's
    work). Compiled code comes from a real server's WasmCacheDir."""
    cache = public_tmp / "cache"
    conf = f"WasmCacheDir {cache}\n" + location("/hello", "hello") + location("/echo", "cgi_echo")
    srv = apache_factory(extra_conf=conf)
    assert srv.get("/hello").body == HELLO
    srv.stop()
    entries = cache_entries(cache)
    hello_sha, echo_sha = sha256_file(WASM_DIR / "hello.wasm"), sha256_file(WASM_DIR / "cgi_echo.wasm")
    assert {hello_sha, echo_sha} <= set(entries), entries
    bundle = public_tmp / "bundle"
    bundle.mkdir(mode=0o755)
    os.chmod(bundle, 0o755)
    shutil.copy(WASM_DIR / "hello.wasm", bundle / "hello.wasm")
    forged = bundle / "hello.cwasm"
    shutil.copy(entries[echo_sha], forged)
    meta = Path(str(entries[hello_sha]) + ".meta").read_text()
    lines = [ln for ln in meta.splitlines() if not ln.startswith("cwasm_sha256")]
    lines.append(f"cwasm_sha256 = {sha256_file(forged)}")
    Path(str(forged) + ".meta").write_text("\n".join(lines) + "\n")
    for p in bundle.iterdir():
        os.chmod(p, 0o644)
    return bundle


@pytest.mark.mpms("event")
def test_a_forged_cwasm_never_runs_for_a_route_naming_clean_wasm(apache_factory, mpm, forged_bundle):
    # The precompiled route first, so a digest-claiming registry would hand its code to /clean.
    conf = location("/pre", forged_bundle / "hello.cwasm") + location("/clean", forged_bundle / "hello.wasm")
    srv = apache_factory(mpm=mpm, extra_conf=conf)
    r = srv.get("/clean")
    assert r.body == HELLO, f"/clean ran code it never named: {r}"


@pytest.mark.parametrize("how", ["world-writable", "group-writable-folder", "run-user-owned"])
def test_an_untrusted_cwasm_is_refused_and_the_wasm_compiled(apache_factory, forged_bundle, how):
    forged = forged_bundle / "hello.cwasm"
    if how == "world-writable":
        os.chmod(forged, 0o666)
    elif how == "group-writable-folder":
        os.chmod(forged_bundle, 0o775)
    else:
        if os.geteuid() != 0:
            pytest.fail("this test needs root: Apache must start as root and run requests as nobody")
        os.chown(forged, nobody_uid(), -1)
    conf = location("/pre", forged)
    srv = apache_factory(extra_conf=conf)
    text = srv.error_log()
    assert "refusing precompiled" in text and str(forged) in text, text[-2000:]
    assert srv.get("/pre").body == HELLO  # compiled from hello.wasm, not the forged code


# --------------------------------------------------------------------------------------------
# 5. Compile limits
# --------------------------------------------------------------------------------------------


@pytest.fixture
def bomb(public_tmp) -> Path:
    path = public_tmp / "bomb.wasm"
    path.write_bytes(wasm_functions_module(200_000))
    os.chmod(path, 0o644)
    return path


@pytest.mark.mpms("event", "prefork")
def test_a_compile_bomb_is_refused_before_compiling(apache_factory, mpm, bomb):
    conf = location("/bomb", bomb) + location("/hello", "hello")
    srv = apache_factory(mpm=mpm, extra_conf=conf)
    line = expect_log(srv, 0, str(bomb), "compile limit functions")
    assert "200000" in line and "100000" in line, line
    assert srv.get("/bomb").status == 500
    assert srv.get("/hello").body == HELLO


def test_configtest_names_the_limit(bomb, built):
    a = Apache(extra_conf=location("/bomb", bomb))
    try:
        code, out = a.configtest()
    finally:
        a.__exit__(None, None, None)
    assert code != 0 and "compile limit functions" in out, out


def test_wasm_module_limits_directive(apache_factory):
    conf = "WasmModuleLimits functions=5 module-size=64M\n" + location("/hello", "hello")
    srv = apache_factory(extra_conf=conf)
    line = expect_log(srv, 0, "hello.wasm", "compile limit functions", "the limit is 5")
    assert srv.get("/hello").status == 500, line
    bad = Apache(extra_conf="WasmModuleLimits speed=1\n")
    try:
        code, out = bad.configtest()
    finally:
        bad.__exit__(None, None, None)
    assert code != 0 and "unknown limit" in out, out


# --------------------------------------------------------------------------------------------
# 6. An exhausted instance pool answers 503
# --------------------------------------------------------------------------------------------


def test_an_exhausted_pool_answers_503_with_retry_after(apache_factory):
    one_child = "StartServers 1\nServerLimit 1\nMaxRequestWorkers 32\nMinSpareThreads 1\nMaxSpareThreads 32\n"
    conf = (one_child + "WasmPoolingMaxInstances 1\n" + location("/hello", "hello")
            + location("/hold", "fsops", "WasmEnableCGI On", "WasmTimeout 30s"))
    srv = apache_factory(mpm="event", extra_conf=conf)
    holder = ThreadPoolExecutor(1).submit(srv.get, "/hold?sleep=4", timeout=60)
    time.sleep(1.5)
    mark = srv.log_mark()
    r = srv.get("/hello")
    assert r.status == 503, r
    assert r.header("Retry-After") == "1", r
    expect_log(srv, mark, "instance slot")
    assert holder.result(timeout=60).status == 200
    assert srv.get("/hello").body == HELLO
