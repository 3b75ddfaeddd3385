"""End-to-end serving tests (issue 2): real Apache + mod_wasm + Wasm samples compiled by clang.

One Apache per MPM (event, worker, prefork) serves every route below for the whole module; tests
that need their own server (server-wide directives, configtest, graceful restart) start one.
Covered: every per-directory directive, merge of nested/later/regex sections and of vhost
sections with the same path, CGI variables (and what must never be in the env), 3 MiB and chunked
request bodies by checksum, 200+ concurrent requests on two routes sharing one module, Status /
Set-Cookie / redirects / HEAD, a 24 MiB streamed response, preopened folders that cannot be
escaped, stderr in the error log, LimitRequestBody, and no child crash.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import (
    Apache,
    assert_no_crash,
    chunks_of,
    dechunk,
    fnv1a64,
    parse_echo,
    raw_request,
    request,
    serving,
    wasm_path,
)

pytestmark = pytest.mark.mpms("event", "worker", "prefork")

HELLO = b"Hello, World! (from a WASI module served by Apache)\n"
STDERR_MARKER = "stderr-marker-5f1c"

SERVE_CONF = r"""
# ---- name-based vhosts: the first is the default (127.0.0.1); two others share a path ----
<VirtualHost 127.0.0.1:@PORT@>
    ServerName 127.0.0.1
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName vhost-a.test
    # vhost-level directives, inherited by the vhost's sections
    WasmEnv VHOST_ENV from-vhost-a
    WasmEnableCGI On
    <Location /v>
        SetHandler wasm-handler
        WasmModule @WASM@/cgi_echo.wasm
        WasmArg vhost-a-arg
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName vhost-b.test
    <Location /v>
        SetHandler wasm-handler
        WasmModule @WASM@/cgi_echo.wasm
        WasmEnableCGI On
        WasmArg vhost-b-arg
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
    WasmArg "first arg"
    WasmArg second
    WasmEnv GREETING "hello world"
    WasmEnv ROUTE echo
</Location>

<Location /echo-nocgi>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI Off
    WasmEnv ONLY yes
</Location>

<Location /relroot>
    SetHandler wasm-handler
    WasmRoot @WASM@
    WasmModule hello.wasm
</Location>

<Location /relserverroot>
    SetHandler wasm-handler
    WasmModule modules/hello.wasm
</Location>

<Location /entry-default>
    SetHandler wasm-handler
    WasmModule @WASM@/entrypoints.wasm
</Location>
<Location /entry-alt>
    SetHandler wasm-handler
    WasmModule @WASM@/entrypoints.wasm
    WasmEntryPoint alt_entry
</Location>

<Location /fs-map>
    SetHandler wasm-handler
    WasmModule @WASM@/fs.wasm
    WasmMapDir /data @ROOT@/fsdata/data
    WasmArg /data
</Location>
<Location /fs-dir>
    SetHandler wasm-handler
    WasmModule @WASM@/fs.wasm
    WasmDir @ROOT@/fsdata/data
    WasmArg @ROOT@/fsdata/data
</Location>
<Location /fs-none>
    SetHandler wasm-handler
    WasmModule @WASM@/fs.wasm
    WasmArg /data
</Location>
<Location /fs-cgi>
    SetHandler wasm-handler
    WasmModule @WASM@/fs.wasm
    WasmEnableCGI On
    WasmMapDir /data @ROOT@/fsdata/data
    WasmArg /data
</Location>

<Location /mapnames-on>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
    WasmMapDir /site @DOCROOT@
    WasmMapCGIFileNames On
</Location>
<Location /mapnames-off>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
    WasmMapDir /site @DOCROOT@
    WasmMapCGIFileNames Off
</Location>

# ---- merging: a nested section overrides field by field; a list set in the child replaces ----
<Location /merge>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
    WasmArg parent-arg-1
    WasmArg parent-arg-2
    WasmEnv PARENT_ENV p
    WasmEnv SHARED from-parent
</Location>
<Location /merge/args>
    WasmArg child-arg
</Location>
<Location /merge/env>
    WasmEnv CHILD_ENV c
</Location>
<Location /merge/nocgi>
    WasmEnableCGI Off
</Location>
<LocationMatch "^/merge/re[0-9]+">
    WasmArg regex-arg
</LocationMatch>
# a later section for the same path wins field by field
<Location /later>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
    WasmArg early
</Location>
<Location /later>
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
</Location>

# ---- two routes, one module, different args/env ----
<Location /share/a>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
    WasmArg route-a
    WasmEnv ROUTE a
</Location>
<Location /share/b>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
    WasmArg route-b
    WasmEnv ROUTE b
</Location>

<Location /headers>
    SetHandler wasm-handler
    WasmModule @WASM@/headers.wasm
    WasmEnableCGI On
</Location>

<Location /stderr>
    SetHandler wasm-handler
    WasmModule @WASM@/stderr.wasm
    WasmArg STDERR_MARKER
</Location>

<Location /limited>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
    LimitRequestBody 1024
</Location>

<Location /duplex>
    SetHandler wasm-handler
    WasmModule @WASM@/duplex.wasm
</Location>

<Location /pathinfo>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
</Location>
""".replace("STDERR_MARKER", STDERR_MARKER)


def lay_out_fs(root) -> None:
    """The folder fs.wasm inspects, and a secret next to it that must stay out of reach."""
    base = root / "fsdata"
    (base / "data" / "sub").mkdir(parents=True, exist_ok=True)
    (base / "outside").mkdir(parents=True, exist_ok=True)
    (base / "data" / "hello.txt").write_text("inside\n")
    (base / "data" / "sub" / "nested.txt").write_text("nested\n")
    (base / "outside" / "secret.txt").write_text("SECRET outside the mapped folder\n")
    os.symlink("hello.txt", base / "data" / "link_in")
    os.symlink(base / "outside" / "secret.txt", base / "data" / "link_out")
    os.symlink(base / "outside", base / "data" / "dirlink_out")
    for dirpath, dirnames, filenames in os.walk(base):
        os.chmod(dirpath, 0o755)


@pytest.fixture(scope="module")
def srv(built, mpm):
    a = Apache(mpm=mpm, extra_conf=SERVE_CONF, log_level="info")
    lay_out_fs(a.root)
    (a.root / "modules").mkdir()
    shutil.copy(wasm_path("hello"), a.root / "modules" / "hello.wasm")
    yield from serving(a)


def echo(r) -> dict:
    assert r.status == 200, r
    return parse_echo(r.body)


# ---------------------------------------------------------------------------------------------
# basic directives
# ---------------------------------------------------------------------------------------------


def test_hello(srv):
    r = srv.get("/hello")
    assert r.status == 200, r
    assert r.body == HELLO
    assert r.complete


def test_module_path_relative_to_wasmroot(srv):
    r = srv.get("/relroot")
    assert (r.status, r.body) == (200, HELLO), r


def test_module_path_relative_to_serverroot(srv):
    r = srv.get("/relserverroot")
    assert (r.status, r.body) == (200, HELLO), r


def test_args_and_env(srv):
    e = echo(srv.get("/echo"))
    assert e["argv"][0].endswith("cgi_echo.wasm"), e
    assert e["argv"][1:] == ["first arg", "second"], e
    assert e["env"]["GREETING"] == "hello world"
    assert e["env"]["ROUTE"] == "echo"


def test_cgi_variables(srv):
    r = srv.request(
        "POST",
        "/echo/some/path?a=1&b=two",
        body=b"xyz",
        headers={"Content-Type": "application/x-test", "X-Custom-Thing": "custom value", "Cookie": "c=1"},
    )
    env = echo(r)["env"]
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["REQUEST_METHOD"] == "POST"
    assert env["QUERY_STRING"] == "a=1&b=two"
    assert env["SCRIPT_NAME"] == "/echo"
    assert env["PATH_INFO"] == "/some/path"
    assert env["CONTENT_TYPE"] == "application/x-test"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert "SERVER_SOFTWARE" in env
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit()
    assert env["HTTP_X_CUSTOM_THING"] == "custom value"
    assert env["HTTP_COOKIE"] == "c=1"
    assert env["HTTP_HOST"] == f"127.0.0.1:{srv.port}"
    assert env["REQUEST_URI"] == "/echo/some/path?a=1&b=two"


def test_script_name_and_path_info(srv):
    env = echo(srv.get("/pathinfo/x/y.z?q"))["env"]
    assert env["SCRIPT_NAME"] == "/pathinfo"
    assert env["PATH_INFO"] == "/x/y.z"
    assert env["QUERY_STRING"] == "q"
    env = echo(srv.get("/pathinfo"))["env"]
    assert env["SCRIPT_NAME"] == "/pathinfo"
    assert env.get("PATH_INFO", "") == ""


def test_nothing_of_apache_env_reaches_the_module(srv):
    """Apache runs with PATH, LD_LIBRARY_PATH, HTTP_PROXY and a canary set (harness.LEAK_CANARY_ENV)."""
    r = srv.get("/echo", headers={"Proxy": "http://evil.example:8080", "X-Ok": "1"})
    env = echo(r)["env"]
    assert env["HTTP_X_OK"] == "1"
    for name in ("HTTP_PROXY", "http_proxy", "PATH", "LD_LIBRARY_PATH", "MOD_WASM_LEAK_CANARY", "LANG"):
        assert name not in env, f"{name} leaked into the module's environment: {env.get(name)!r}"
    assert "leak-canary" not in r.text
    assert "evil.example" not in r.text


def test_cgi_off_env_is_exactly_the_route_env(srv):
    r = srv.get("/echo-nocgi?x=1", headers={"X-Custom": "1"})
    assert r.status == 200, r
    e = parse_echo(r.body)
    assert e["env"] == {"ONLY": "yes"}, e["env"]
    # With CGI off, the module's would-be header is just body text.
    assert r.body.startswith(b"Content-Type: text/plain\r\n\r\n"), r


def test_entry_point_default_and_named(srv):
    r = srv.get("/entry-default")
    assert (r.status, r.body) == (200, b"entry: _start\n"), r
    r = srv.get("/entry-alt")
    assert (r.status, r.body) == (200, b"entry: alt_entry\n"), r


# ---------------------------------------------------------------------------------------------
# folders
# ---------------------------------------------------------------------------------------------

FS_INSIDE_OK = [
    ("hello.txt", "inside"),
    ("sub/nested.txt", "nested"),
    ("sub/../hello.txt", "inside"),
    ("link_in", "inside"),
    ("./hello.txt", "inside"),
]
FS_ESCAPES = [
    "link_out",
    "dirlink_out/secret.txt",
    "../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "sub/../../../../../../etc/passwd",
]
FS_ABSOLUTE = ["/etc/passwd", "../outside/secret.txt", "outside/secret.txt", "/proc/self/environ"]


def check_fs_body(text: str, guest: str) -> None:
    lines = text.splitlines()
    assert f"list {guest}: dirlink_out hello.txt link_in link_out sub" in lines, text
    for rel, first in FS_INSIDE_OK:
        assert f"open {guest}/{rel}: ok {first}" in lines, text
    for rel in FS_ESCAPES:
        assert any(ln.startswith(f"open {guest}/{rel}: error") for ln in lines), f"{rel} escaped:\n{text}"
    for path in FS_ABSOLUTE:
        assert any(ln.startswith(f"open {path}: error") for ln in lines), f"{path} opened:\n{text}"
    assert any(ln.startswith(f"opendir {guest}/..: error") for ln in lines), text
    assert any(ln.startswith(f"opendir {guest}/dirlink_out: error") for ln in lines), text
    assert "SECRET" not in text
    assert "root:" not in text


def test_mapped_dir_only(srv):
    r = srv.get("/fs-map")
    assert r.status == 200, r
    check_fs_body(r.text, "/data")


def test_wasmdir_same_path_inside(srv):
    r = srv.get("/fs-dir")
    assert r.status == 200, r
    check_fs_body(r.text, str(srv.root / "fsdata" / "data"))


def test_fs_cgi_mode(srv):
    r = srv.get("/fs-cgi")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain")
    check_fs_body(r.text, "/data")


def test_no_dirs_granted_sees_nothing(srv):
    r = srv.get("/fs-none")
    assert r.status == 200, r
    assert "list /data: error" in r.text, r.text
    assert ": ok" not in r.text, r.text
    assert "SECRET" not in r.text and "root:" not in r.text


def test_map_cgi_filenames(srv):
    on = echo(srv.get("/mapnames-on/x"))["env"]
    off = echo(srv.get("/mapnames-off/x"))["env"]
    docroot = str(srv.docroot)
    assert off["SCRIPT_FILENAME"].startswith(docroot + "/mapnames-off"), off
    assert on["SCRIPT_FILENAME"].startswith("/site/mapnames-on"), on
    assert docroot not in on["SCRIPT_FILENAME"]


# ---------------------------------------------------------------------------------------------
# merging
# ---------------------------------------------------------------------------------------------


def test_merge_parent(srv):
    e = echo(srv.get("/merge"))
    assert e["argv"][1:] == ["parent-arg-1", "parent-arg-2"]
    assert e["env"]["PARENT_ENV"] == "p" and e["env"]["SHARED"] == "from-parent"


def test_merge_child_list_replaces_args_and_inherits_env(srv):
    e = echo(srv.get("/merge/args"))
    assert e["argv"][1:] == ["child-arg"], e
    assert e["env"]["PARENT_ENV"] == "p"
    assert e["env"]["SHARED"] == "from-parent"


def test_merge_child_env_replaces_env_and_inherits_args(srv):
    e = echo(srv.get("/merge/env"))
    assert e["argv"][1:] == ["parent-arg-1", "parent-arg-2"], e
    assert e["env"]["CHILD_ENV"] == "c"
    assert "PARENT_ENV" not in e["env"] and "SHARED" not in e["env"], e["env"]


def test_merge_child_flag_only(srv):
    r = srv.get("/merge/nocgi")
    assert r.status == 200, r
    e = parse_echo(r.body)
    assert r.body.startswith(b"Content-Type: text/plain"), r
    assert e["argv"][1:] == ["parent-arg-1", "parent-arg-2"]
    assert e["env"] == {"PARENT_ENV": "p", "SHARED": "from-parent"}


def test_merge_locationmatch(srv):
    e = echo(srv.get("/merge/re42"))
    assert e["argv"][1:] == ["regex-arg"], e
    assert e["env"]["PARENT_ENV"] == "p"


def test_later_section_wins_field_by_field(srv):
    e = echo(srv.get("/later"))
    assert e["argv"][0].endswith("cgi_echo.wasm")
    assert e["argv"][1:] == ["early"], e


def test_vhosts_with_same_path_stay_distinct(srv):
    ea = echo(srv.get("/v", headers={"Host": "vhost-a.test"}))
    eb = echo(srv.get("/v", headers={"Host": "vhost-b.test"}))
    assert ea["argv"][1:] == ["vhost-a-arg"], ea
    assert ea["env"]["VHOST_ENV"] == "from-vhost-a"
    assert ea["env"]["SERVER_NAME"] == "vhost-a.test"
    assert eb["argv"][1:] == ["vhost-b-arg"], eb
    assert "VHOST_ENV" not in eb["env"]
    # The default vhost has no /v route.
    assert srv.get("/v").status == 404


# ---------------------------------------------------------------------------------------------
# request bodies
# ---------------------------------------------------------------------------------------------

BIG = random.Random(3).randbytes(3 * 1024 * 1024 + 17)
BIG_FNV = fnv1a64(BIG)


def test_three_mib_body(srv):
    e = echo(srv.post("/echo", BIG, headers={"Content-Type": "application/octet-stream"}))
    assert e["stdin_bytes"] == len(BIG)
    assert e["stdin_fnv1a64"] == BIG_FNV
    assert e["env"]["CONTENT_LENGTH"] == str(len(BIG))


def test_chunked_body(srv):
    sizes = [1, 7, 4096, 65536, 100_000, 3, 1_000_000]
    pieces, pos = [], 0
    for s in sizes * 2:
        pieces.append(BIG[pos : pos + s])
        pos += s
    data = b"".join(pieces)
    e = echo(srv.request("POST", "/echo", body=iter(pieces), chunked=True))
    assert e["stdin_bytes"] == len(data)
    assert e["stdin_fnv1a64"] == fnv1a64(data)


def test_empty_body(srv):
    e = echo(srv.get("/echo"))
    assert e["stdin_bytes"] == 0
    assert e["stdin_fnv1a64"] == fnv1a64(b"")


def test_limit_request_body(srv):
    small = b"s" * 512
    e = echo(srv.post("/limited", small))
    assert e["stdin_bytes"] == 512 and e["stdin_fnv1a64"] == fnv1a64(small)
    r = srv.post("/limited", b"L" * 4096)
    assert r.status == 413, r
    r = srv.request("POST", "/limited", body=chunks_of(b"C" * 4096, 1000), chunked=True)
    assert r.status == 413, r


# ---------------------------------------------------------------------------------------------
# concurrency
# ---------------------------------------------------------------------------------------------


def test_concurrent_requests_two_routes_one_module(srv):
    n = 240

    def one(i: int):
        route = "a" if i % 2 == 0 else "b"
        body = f"request {i} on {route} ".encode() * (1 + i % 50)
        r = request(srv.port, "POST", f"/share/{route}?id={i}", body=body, headers={"X-Req-Id": str(i)}, timeout=120)
        return i, route, body, r

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(one, range(n)))
    problems = []
    for i, route, body, r in results:
        if r.status != 200:
            problems.append(f"{i}: status {r.status}")
            continue
        e = parse_echo(r.body)
        ok = (
            e["argv"][1:] == [f"route-{route}"]
            and e["env"].get("ROUTE") == route
            and e["env"].get("QUERY_STRING") == f"id={i}"
            and e["env"].get("HTTP_X_REQ_ID") == str(i)
            and e["env"].get("SCRIPT_NAME") == f"/share/{route}"
            and e["stdin_bytes"] == len(body)
            and e["stdin_fnv1a64"] == fnv1a64(body)
        )
        if not ok:
            problems.append(f"{i} ({route}): mixed up: {r.text[:400]!r}")
    assert not problems, f"{len(problems)} of {n} wrong:\n" + "\n".join(problems[:10])


# ---------------------------------------------------------------------------------------------
# response headers, redirects, HEAD, streaming
# ---------------------------------------------------------------------------------------------


def test_status_and_two_cookies(srv):
    r = srv.get("/headers")
    assert r.status == 201, r
    assert r.header_all("Set-Cookie") == ["first=1; Path=/", "second=2; Path=/"], r.headers
    assert r.header("X-Demo") == "headers sample"
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.body == b"created\n"


def test_content_type_from_module(srv):
    r = srv.get("/headers?type=application/x-demo")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/x-demo"
    assert r.body == b"typed body\n"


def test_absolute_redirect(srv):
    r = srv.get("/headers?redirect")
    assert r.status == 302, r
    assert r.header("Location") == "http://example.com/elsewhere"


def test_local_redirect(srv):
    r = srv.get("/headers?local")
    assert r.status == 200, r
    assert r.body == HELLO
    assert r.header("Location") is None


def test_head(srv):
    r = srv.request("HEAD", "/headers")
    assert r.status == 201, r
    assert r.header_all("Set-Cookie") == ["first=1; Path=/", "second=2; Path=/"]
    assert r.body == b""
    r = srv.request("HEAD", "/hello")
    assert r.status == 200 and r.body == b"", r
    r = srv.request("HEAD", "/headers?stream=24")
    assert r.status == 200 and r.body == b"", r
    assert r.header("X-Stream-MiB") == "24"
    # The connection stays usable after a HEAD (no stray body bytes on it).
    raw = raw_request(
        srv.port,
        b"HEAD /headers HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 201"), raw[:300]
    assert raw.count(b"HTTP/1.1 ") == 2, raw[:1000]
    assert HELLO in raw, raw[-300:]
    assert b"created" not in raw


def test_streamed_24_mib_response(srv):
    r = srv.get("/headers?stream=24", timeout=120)
    assert r.status == 200, r
    assert r.complete
    assert r.header("X-Stream-MiB") == "24"
    assert len(r.body) == 24 * 1024 * 1024
    assert r.body == bytes(range(256)) * (24 * 4096)
    # Streamed: the length was not known up front, so HTTP/1.1 sends it chunked.
    assert r.header("Transfer-Encoding") == "chunked", r.headers
    assert r.header("Content-Length") is None


def test_parallel_streams(srv):
    def one(_):
        return request(srv.port, "GET", "/headers?stream=4", timeout=120)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(6)))
    expected = bytes(range(256)) * (4 * 4096)
    for r in results:
        assert r.status == 200 and r.complete and r.body == expected, r


def test_duplex_streaming(srv):
    """The module's output reaches the client while the request body is still being sent."""
    block = 96 * 1024
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
    data = bytearray()

    def body() -> bytes:
        return bytes(data.split(b"\r\n\r\n", 1)[1]) if b"\r\n\r\n" in data else b""

    def read_until(pred) -> None:
        while not pred(body()):
            chunk = s.recv(65536)
            assert chunk, f"connection closed early; got {bytes(data[:300])!r}..."
            data.extend(chunk)

    try:
        s.sendall(b"POST /duplex HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        read_until(lambda b: b.count(b"A") >= block)
        s.sendall(b"2\r\nB\n\r\n")
        read_until(lambda b: b.count(b"B") >= block)
        s.sendall(b"2\r\nC\n\r\n0\r\n\r\n")
        read_until(lambda b: b.endswith(b"\r\n0\r\n\r\n"))
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 200"), bytes(data[:300])
    assert b"Transfer-Encoding: chunked" in data.split(b"\r\n\r\n", 1)[0]
    assert dechunk(body()) == b"A" * block + b"B" * block + b"C" * block + b"done\n"


# ---------------------------------------------------------------------------------------------
# stderr
# ---------------------------------------------------------------------------------------------


def test_stderr_lines_in_error_log(srv):
    mark = srv.log_mark()
    r = srv.get("/stderr")
    assert (r.status, r.body) == (200, b"body of the stderr sample\n"), r
    log = srv.wait_for_log(f"{STDERR_MARKER} last line without newline", since=mark)
    for text in ("line one", "line two", "last line without newline"):
        lines = [ln for ln in log.splitlines() if f"{STDERR_MARKER} {text}" in ln]
        assert len(lines) == 1, f"{text!r} should be logged once:\n{log}"
        assert "/stderr" in lines[0], f"stderr line not tagged with its location: {lines[0]}"
    assert_no_crash(log)


def test_unknown_route_is_404(srv):
    assert srv.get("/no-such-route").status == 404


# ---------------------------------------------------------------------------------------------
# tests with their own server
# ---------------------------------------------------------------------------------------------


SERVER_WIDE = [
    "WasmEngineOptLevel none\nWasmPooling Off\n",
    "WasmEngineOptLevel speed-and-size\nWasmPooling On\nWasmPoolingMaxInstances 64\n",
    "WasmEngineOptLevel speed\n",
]


@pytest.mark.parametrize("engine_conf", SERVER_WIDE, ids=["none-nopool", "size-pool64", "speed"])
def test_server_wide_directives(apache_factory, mpm, engine_conf):
    conf = engine_conf + """
<Location /hello>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
</Location>
<Location /echo>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
    WasmArg x
</Location>
"""
    a = apache_factory(mpm=mpm, extra_conf=conf)
    assert a.get("/hello").body == HELLO
    e = echo(a.post("/echo", b"abc"))
    assert e["argv"][1:] == ["x"] and e["stdin_fnv1a64"] == fnv1a64(b"abc")


def test_server_level_directives_are_inherited(apache_factory, mpm):
    conf = """
WasmEnableCGI On
WasmEnv FROM_SERVER server-level
WasmArg server-arg
WasmModule @WASM@/cgi_echo.wasm
<Location /inherit>
    SetHandler wasm-handler
</Location>
<Location /own>
    SetHandler wasm-handler
    WasmArg own-arg
</Location>
"""
    a = apache_factory(mpm=mpm, extra_conf=conf)
    e = echo(a.get("/inherit"))
    assert e["argv"][1:] == ["server-arg"] and e["env"]["FROM_SERVER"] == "server-level", e
    e = echo(a.get("/own"))
    assert e["argv"][1:] == ["own-arg"] and e["env"]["FROM_SERVER"] == "server-level", e


def test_cache_dir(apache_factory, mpm, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    conf = f"""
WasmCacheDir {cache}
<Location /hello>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
</Location>
"""
    a = apache_factory(mpm=mpm, extra_conf=conf)
    assert a.get("/hello").body == HELLO
    a.stop()
    written = [p for p in cache.rglob("*") if p.is_file()]
    assert written, "WasmCacheDir stayed empty"
    before = {p: p.stat().st_mtime_ns for p in written}
    b = apache_factory(mpm=mpm, extra_conf=conf)
    assert b.get("/hello").body == HELLO
    # The second start loaded the cached artefact instead of writing a new one.
    assert {p: p.stat().st_mtime_ns for p in written} == before
    assert [p for p in cache.rglob("*") if p.is_file()] == written


def test_graceful_restart_reloads_changed_module(apache_factory, mpm, public_tmp):
    mods = public_tmp
    shutil.copy(wasm_path("hello"), mods / "swap.wasm")
    shutil.copy(wasm_path("cgi_echo"), mods / "echo.wasm")
    conf = f"""
<Location /swap>
    SetHandler wasm-handler
    WasmModule {mods}/swap.wasm
</Location>
<Location /echo>
    SetHandler wasm-handler
    WasmModule {mods}/echo.wasm
    WasmEnableCGI On
</Location>
"""
    a = apache_factory(mpm=mpm, extra_conf=conf)
    assert a.get("/swap").body == HELLO
    shutil.copy(wasm_path("entrypoints"), mods / "swap.wasm")
    mark = a.log_mark()
    a.graceful()
    assert a.get("/swap").body == b"entry: _start\n"
    # The unchanged module is reused, not compiled again.
    log = a.error_log_since(mark)
    assert [ln for ln in log.splitlines() if "echo.wasm" in ln and re.search(r"reus", ln, re.I)], log
    assert not [ln for ln in log.splitlines() if "echo.wasm" in ln and re.search(r"compiled", ln, re.I)], log
    assert echo(a.get("/echo"))["stdin_bytes"] == 0
    a.restart()
    assert a.get("/swap").body == b"entry: _start\n"
    assert echo(a.get("/echo"))["stdin_bytes"] == 0


def test_configtest(built, tmp_path):
    good = Apache(extra_conf="<Location /h>\nSetHandler wasm-handler\nWasmModule @WASM@/hello.wasm\n</Location>\n")
    missing = Apache(extra_conf=f"<Location /h>\nSetHandler wasm-handler\nWasmModule {tmp_path}/nope.wasm\n</Location>\n")
    notwasm = tmp_path / "not.wasm"
    notwasm.write_bytes(b"this is not wasm")
    invalid = Apache(extra_conf=f"<Location /h>\nSetHandler wasm-handler\nWasmModule {notwasm}\n</Location>\n")
    bad_values = [
        "WasmTimeout banana",
        "WasmMemoryLimit 12Q",
        "WasmOutputLimit -1",
        "WasmEnableCGI maybe",
        "WasmEngineOptLevel fastest",
    ]
    try:
        code, out = good.configtest()
        assert code == 0 and "Syntax OK" in out, out
        code, out = missing.configtest()
        assert code != 0 and "nope.wasm" in out, out
        code, out = invalid.configtest()
        assert code != 0 and "not.wasm" in out, out
        for line in bad_values:
            a = Apache(extra_conf=line + "\n")
            try:
                code, out = a.configtest()
                assert code != 0, f"{line!r} accepted:\n{out}"
            finally:
                a.__exit__(None, None, None)
    finally:
        for a in (good, missing, invalid):
            a.__exit__(None, None, None)

