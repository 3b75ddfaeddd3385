"""Hostile round 3 (issue 19), the server's side: clients and modules as attackers.

- A client that stops reading frees its worker and instance slot within WasmTimeout + Timeout,
  and its connection is closed (the watchdog never re-signals a thread inside Apache's output
  filters, whose `Timeout` wait restarts on every EINTR) — core modules and components.
- wasi:http handlers do not see `Authorization` unless `CGIPassAuth On`, as CGI programs;
  who Apache authenticated reaches them as REMOTE_USER / AUTH_TYPE.
- `WasmMapCGIFileNames On` never passes a host path: SCRIPT_FILENAME, PATH_TRANSLATED and
  DOCUMENT_ROOT are guest paths or absent.
- A `.cwasm` under a folder others can write (anywhere above it) is refused and the `.wasm`
  compiled instead.
- Exit statuses (issue 20): a program that began its response and then exits non-zero has that
  response delivered (as mod_cgi does), logged with its code and counted; a status of 126 or more
  is an exit with that code, not a trap.

Time bounds here only prove that something ended (never a performance claim).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import BUILD, Apache, assert_no_crash, expect_log, parse_echo, route_of, serving, status_doc

pytestmark = pytest.mark.mpms("event", "prefork")

HELLO = b"Hello, World! (from a WASI module served by Apache)\n"
PROBE = BUILD / "components" / "http_probe.wasm"
CACHE_DIR = "@REPO@/build/test-cache"
START_TIMEOUT = 900.0
# WasmTimeout + Timeout below is 1 s + 3 s; this only proves that the slot came back at all.
FREED_WITHIN = 60.0


def location(path: str, module: str | Path, *lines: str) -> str:
    file = module if isinstance(module, Path) else f"@WASM@/{module}.wasm"
    body = "\n    ".join(("SetHandler wasm-handler", f"WasmModule {file}", *lines))
    return f"<Location {path}>\n    {body}\n</Location>\n"


# --------------------------------------------------------------------------------------------
# A client that stops reading
# --------------------------------------------------------------------------------------------


def stalled_client(port: int, path: str) -> socket.socket:
    """Asks for `path` and then reads nothing, with a receive buffer as small as the kernel allows."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return s


def drained_to_eof(s: socket.socket, within: float) -> bool:
    """Reads what the server sent; True when the server closed the connection in time."""
    s.settimeout(1.0)
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
        if not data:
            return True
    return False


ONE_EVENT_CHILD = "StartServers 1\nServerLimit 1\nMaxRequestWorkers 32\nMinSpareThreads 1\nMaxSpareThreads 32\n"
# prefork has one request per process: few processes, so that stalled readers could take them all.
FEW_PREFORK_CHILDREN = "StartServers 2\nMinSpareServers 1\nMaxSpareServers 4\nServerLimit 4\nMaxRequestWorkers 4\n"


@pytest.mark.parametrize("kind", ["module", "component"])
def test_a_client_that_stops_reading_frees_its_worker_and_slot(apache_factory, mpm, kind):
    # The probe component answers /flood (it routes on the request's own path).
    flooder = location("/flood", PROBE if kind == "component" else "flood", "WasmTimeout 1s",
                       "WasmOutputLimit 1G")
    conf = ((ONE_EVENT_CHILD if mpm == "event" else FEW_PREFORK_CHILDREN)
            + "WasmPoolingMaxInstances 2\n" + f"WasmCacheDir {CACHE_DIR}\n"
            + location("/hello", "hello") + flooder
            + "<Location /wasm-status>\n    SetHandler wasm-status\n</Location>\n")
    srv = apache_factory(mpm=mpm, extra_conf=conf, timeout=3, start_timeout=START_TIMEOUT)
    mark = srv.log_mark()
    # event: both instance slots of the one child; prefork: two of the four worker processes.
    stalled = [stalled_client(srv.port, "/flood") for _ in range(2)]
    try:
        # Each module ends up writing to a client that never reads. Both must come back: once the
        # module's time is up, its write is bounded by Apache's Timeout, and the run ends.
        end = time.monotonic() + FREED_WITHIN
        while srv.error_log_since(mark).count("/flood: ") < 2:
            assert time.monotonic() < end, (
                f"stalled readers still hold their workers after {FREED_WITHIN} s; "
                f"log: {srv.error_log_since(mark)[-2000:]}"
            )
            time.sleep(0.5)
        log = srv.error_log_since(mark)
        assert "client went away" in log or "time limit" in log, log
        for s in stalled:
            assert drained_to_eof(s, FREED_WITHIN), "the server kept a stalled reader's connection open"
    finally:
        for s in stalled:
            s.close()
    # The slots are free again: two requests at once get instances (no 503).
    assert srv.get("/hello").body == HELLO
    if mpm == "event":
        assert status_doc(srv)["instances_in_use"] == 0
    srv.stop()
    assert_no_crash(srv)


# --------------------------------------------------------------------------------------------
# Descriptors
# --------------------------------------------------------------------------------------------


@pytest.fixture
def files_dir(public_tmp) -> Path:
    (public_tmp / "f").write_text("x")
    os.chmod(public_tmp / "f", 0o644)
    return public_tmp


def test_a_module_cannot_exhaust_its_childs_descriptors(apache_factory, mpm, files_dir):
    conf = (
        location("/files", "openfiles", f"WasmMapDir /data {files_dir} ro")
        + location("/files16", "openfiles", f"WasmMapDir /data {files_dir} ro", "WasmMaxOpenFiles 16")
        + location("/hello", "hello")
        + "<Location /wasm-status>\n    SetHandler wasm-status\n</Location>\n"
    )
    srv = apache_factory(mpm=mpm, extra_conf=conf)
    # stdin, stdout, stderr and /data are open from the start: 256 - 4 files more (the default).
    r = srv.get("/files")
    assert r.status == 200, r
    assert r.text.splitlines() == ["opened 252 errno 33", "after close: opened"], r.text
    r = srv.get("/files16")
    assert r.text.splitlines()[0] == "opened 12 errno 33", r.text
    # Many at once: every one is held to its limit, and the child keeps serving other routes.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(16) as pool:
        floods = [pool.submit(srv.get, "/files") for _ in range(32)]
        hellos = [pool.submit(srv.get, "/hello") for _ in range(32)]
        assert all(f.result().text.startswith("opened 252 errno 33") for f in floods)
        assert all(h.result().body == HELLO for h in hellos)
    row = route_of(status_doc(srv), "/files16")
    assert row["open_files_limit"] >= 1, row


# --------------------------------------------------------------------------------------------
# Credentials and host paths
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_srv(built, mpm):
    # Readable by Apache's children (User nobody), unlike pytest's own temporary folders.
    site = Path(tempfile.mkdtemp(prefix="mod-wasm-e2e-site-"))
    os.chmod(site, 0o755)
    (site / "index.html").write_text("x")
    htpasswd = site / "htpasswd"
    subprocess.run(["htpasswd", "-b", "-c", str(htpasswd), "alice", "secret"], check=True,
                   capture_output=True)
    os.chmod(htpasswd, 0o644)
    auth = ["AuthType Basic", 'AuthName "t"', f"AuthUserFile {htpasswd}", "Require valid-user"]
    conf = (
        f"WasmCacheDir {CACHE_DIR}\n"
        # The probe routes on the request's own path: /echo and /env, the CGIPassAuth case in a
        # name-based virtual host of its own.
        + "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName 127.0.0.1\n</VirtualHost>\n"
        + "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName pass.test\n"
        + location("/echo", PROBE, "CGIPassAuth On") + "</VirtualHost>\n"
        + location("/echo", PROBE)
        + location("/env", PROBE, *auth)
        + location("/fields", PROBE)
        + location("/map-on", "cgi_echo", "WasmEnableCGI On", "WasmMapCGIFileNames On",
                   "WasmMapDir /site @DOCROOT@")
        + location("/map-none", "cgi_echo", "WasmEnableCGI On", "WasmMapCGIFileNames On",
                   f"WasmMapDir /other {site}")
        + location("/map-off", "cgi_echo", "WasmEnableCGI On")
    )
    try:
        yield from serving(Apache(mpm=mpm, extra_conf=conf, start_timeout=START_TIMEOUT,
                                  modules=("auth_basic", "authn_core", "authn_file", "authz_user")))
    finally:
        shutil.rmtree(site, ignore_errors=True)


def probe_headers(srv, path: str, **headers) -> dict:
    r = srv.get(path, headers=headers)
    assert r.status == 200, r
    return {name.lower(): value for name, value in json.loads(r.body)["headers"]}


def test_a_component_sees_no_credentials_without_cgipassauth(auth_srv):
    creds = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode(),
             "Proxy-Authorization": "Basic eDp5"}
    plain = probe_headers(auth_srv, "/echo", **creds, **{"X-Other": "kept"})
    assert "authorization" not in plain and "proxy-authorization" not in plain, plain
    assert plain.get("x-other") == "kept", plain
    passed = probe_headers(auth_srv, "/echo", **creds, Host="pass.test")
    assert passed.get("authorization") == creds["Authorization"], passed


def test_a_component_learns_who_apache_authenticated(auth_srv):
    r = auth_srv.get("/env")
    assert r.status == 401, r
    token = base64.b64encode(b"alice:secret").decode()
    r = auth_srv.get("/env", headers={"Authorization": f"Basic {token}"})
    assert r.status == 200, r
    environ = json.loads(r.body)["environ"]
    assert environ.get("REMOTE_USER") == "alice", environ
    assert environ.get("AUTH_TYPE") == "Basic", environ
    # The credentials that authenticated the request stay with Apache.
    assert "HTTP_AUTHORIZATION" not in environ and token not in json.dumps(environ), environ


def test_mapped_cgi_file_names_never_pass_a_host_path(auth_srv):
    docroot = str(auth_srv.docroot)
    on = parse_echo(auth_srv.get("/map-on/x").body)["env"]
    assert on["SCRIPT_FILENAME"].startswith("/site/map-on"), on
    assert on["DOCUMENT_ROOT"] == "/site", on
    none = parse_echo(auth_srv.get("/map-none/x").body)["env"]
    for var in ("SCRIPT_FILENAME", "DOCUMENT_ROOT", "CONTEXT_DOCUMENT_ROOT", "PATH_TRANSLATED"):
        assert var not in none, (var, none)
    assert not [v for v in none.values() if docroot in v], none
    off = parse_echo(auth_srv.get("/map-off/x").body)["env"]
    assert off["SCRIPT_FILENAME"].startswith(docroot), off


def test_host_memory_behind_a_components_resources_is_bounded(auth_srv):
    """1 KiB header fields objects held in a loop: refused long before a million (the request ends
    with a trap, logged); a 1 MiB field is refused by the per-fields size cap."""
    mark = auth_srv.log_mark()
    r = auth_srv.get("/fields")
    if r.status == 200:
        doc = json.loads(r.body)
        assert doc["held"] <= 4096, doc
        assert doc["oversized"].startswith("refused"), doc
    else:
        assert r.status == 500, r
        expect_log(auth_srv, mark, "/fields", "trap")
    assert auth_srv.get("/echo").status == 200


# --------------------------------------------------------------------------------------------
# Exit statuses
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exit_srv(built, mpm):
    conf = (
        location("/x/cgi255", "exit255_after", "WasmEnableCGI On")
        + location("/x/raw255", "exit255_after", "WasmEnv QUERY_STRING raw")
        + location("/x/exit3-after", "exit3_after")
        + location("/x/exit3-before", "exit3_before")
        + location("/x/trap-after", "trap_after_output")
        + "<Location /wasm-status>\n    SetHandler wasm-status\n</Location>\n"
    )
    yield from serving(Apache(mpm=mpm, extra_conf=conf))


PAGE = b"<p>Fatal error: the page PHP printed</p>\n"


def test_a_complete_cgi_response_then_exit_255_is_delivered_and_logged(exit_srv):
    before = route_of(status_doc(exit_srv), "/x/cgi255")
    mark = exit_srv.log_mark()
    r = exit_srv.get("/x/cgi255")
    assert r.status == 200, r
    assert r.body == PAGE and r.complete, r
    assert (r.header("Content-Type") or "").startswith("text/html"), r
    line = expect_log(exit_srv, mark, "/x/cgi255", "exited with code 255")
    assert "trap" not in line, line
    after = route_of(status_doc(exit_srv), "/x/cgi255")
    assert after["exits"] == before["exits"] + 1, (before, after)
    assert after.get("traps", 0) == before.get("traps", 0), (before, after)


def test_output_then_a_non_zero_exit_is_delivered_whole(exit_srv):
    r = exit_srv.get("/x/raw255")
    assert r.status == 200 and r.body == PAGE and r.complete, r
    mark = exit_srv.log_mark()
    r = exit_srv.get("/x/exit3-after")
    assert r.status == 200 and r.complete, r
    assert r.body.startswith(b"output before exit(3)\n") and len(r.body) == 22 + 128 * 1024, r
    expect_log(exit_srv, mark, "/x/exit3-after", "exited with code 3")


def test_an_exit_before_any_output_and_a_trap_after_output_still_fail(exit_srv):
    mark = exit_srv.log_mark()
    r = exit_srv.get("/x/exit3-before")
    assert r.status == 500, r
    expect_log(exit_srv, mark, "/x/exit3-before", "exited with code 3")
    r = exit_srv.get("/x/trap-after")
    assert r.status == 500 or not r.complete, r
    expect_log(exit_srv, mark, "/x/trap-after", "trap")
