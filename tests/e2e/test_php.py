"""End-to-end tests of PHP: php-cgi built for WASI from Debian's sources (scripts/build-php.sh, `make php`),
served by a real Apache through mod_wasm, under event and prefork.

The corpus (tests/php/*.php) is served from a folder mapped as /www; `.php` files go to the wasm handler
through <FilesMatch>, so SCRIPT_NAME/SCRIPT_FILENAME are Apache's own (WasmMapCGIFileNames turns the
host path into /www/...). Uploads land in a mapped /tmp, sessions in a mapped /sessions, SQLite in /data.
Exit statuses follow mod_cgi: a page PHP wrote is delivered whatever the exit status, which is logged.
The tests fail (never skip) when build/php/php-cgi.wasm is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import REPO, Apache, assert_no_crash, expect_log, request

PHP_WASM = REPO / "build" / "php" / "php-cgi.wasm"
CORPUS = REPO / "tests" / "php"
PYTHON_CONF = REPO / "samples" / "python" / "python.conf"
PYTHON_WASM = REPO / "build" / "python" / "python-3.11.3.wasm"
FIRST_REQUEST_TIMEOUT = 300.0

PHP_CONF = """
WasmCacheDir "@CACHE@"
Alias /php "@WWW@"
<Directory "@WWW@">
    Require all granted
    <FilesMatch "\\.php$">
        SetHandler wasm-handler
    </FilesMatch>
    WasmModule @REPO@/build/php/php-cgi.wasm
    WasmMapDir /www @WWW@
    WasmMapDir /tmp @TMP@
    WasmMapDir /sessions @SESSIONS@
    WasmMapDir /data @DATA@
    WasmMapCGIFileNames On
    WasmEnableCGI On
    WasmEnv REDIRECT_STATUS 200
    WasmEnv TMPDIR /tmp
    WasmArg -d
    WasmArg upload_tmp_dir=/tmp
    WasmArg -d
    WasmArg session.save_path=/sessions
    WasmArg -d
    WasmArg display_errors=1
    WasmArg -d
    WasmArg memory_limit=128M
    WasmTimeout 3
    WasmMemoryLimit 256M
</Directory>
"""


@pytest.fixture(scope="session")
def php_wasm() -> Path:
    if not PHP_WASM.is_file():
        pytest.fail(f"{PHP_WASM} is missing: run `make php` (scripts/build-php.sh) first", pytrace=False)
    return PHP_WASM


@pytest.fixture(scope="session")
def cache_dir():
    path = Path(tempfile.mkdtemp(prefix="mod-wasm-e2e-phpcache-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def writable(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    return path


@pytest.fixture(scope="module")
def server(built, php_wasm, cache_dir, mpm):
    base = Path(tempfile.mkdtemp(prefix="mod-wasm-e2e-php-"))
    os.chmod(base, 0o755)
    www = base / "www"
    shutil.copytree(CORPUS, www)
    os.chmod(www, 0o755)
    dirs = {"@TMP@": writable(base / "tmp"), "@SESSIONS@": writable(base / "sessions"), "@DATA@": writable(base / "data")}
    conf = PHP_CONF.replace("@CACHE@", str(cache_dir)).replace("@WWW@", str(www))
    for k, v in dirs.items():
        conf = conf.replace(k, str(v))
    if PYTHON_WASM.is_file():
        conf += PYTHON_CONF.read_text()
    apache = Apache(mpm=mpm, extra_conf=conf)
    apache.start()
    apache.dirs = {k.strip("@").lower(): v for k, v in dirs.items()}
    try:
        first = apache.get("/php/hello.php", timeout=FIRST_REQUEST_TIMEOUT)
        assert first.status == 200, f"first PHP request failed: {first!r}\n{apache.diagnostics()}"
        yield apache
    finally:
        apache.stop()
        assert_no_crash(apache)
        apache.__exit__(None, None, None)
        shutil.rmtree(base, ignore_errors=True)


def test_hello(server):
    r = server.get("/php/hello.php")
    assert r.status == 200, r
    assert r.text.startswith("Hello from PHP 8.2."), r.text
    assert "text/html" in (r.header("Content-Type") or ""), r


def test_superglobals_from_cgi_variables(server):
    r = request(server.port, "POST", "/php/vars.php?a=1&b[]=x&b[]=y",
                body="p=hello+world&q[k]=v",
                headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "c1=one; c2=two",
                         "X-Test": "yes"})
    assert r.status == 200, r
    doc = json.loads(r.body)
    assert doc["get"] == {"a": "1", "b": ["x", "y"]}, doc
    assert doc["post"] == {"p": "hello world", "q": {"k": "v"}}, doc
    assert doc["cookie"] == {"c1": "one", "c2": "two"}, doc
    s = doc["server"]
    assert s["REQUEST_METHOD"] == "POST" and s["QUERY_STRING"] == "a=1&b[]=x&b[]=y", s
    assert s["SCRIPT_NAME"] == "/php/vars.php" and s["PHP_SELF"] == "/php/vars.php", s
    assert s["SCRIPT_FILENAME"] == "/www/vars.php", s
    assert s["HTTP_X_TEST"] == "yes" and s["GATEWAY_INTERFACE"] == "CGI/1.1", s
    assert doc["int_size"] == 4, "wasm32 PHP has 32-bit integers"
    for ext in ["Core", "date", "pcre", "json", "hash", "random", "SPL", "ctype", "filter", "tokenizer",
                "mbstring", "session", "PDO", "pdo_sqlite", "sqlite3"]:
        assert ext in doc["extensions"], (ext, doc["extensions"])


def test_raw_body_and_path_info(server):
    r = request(server.port, "PUT", "/php/vars.php/extra/path", body=b'{"x": 1}',
                headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    doc = json.loads(r.body)
    assert doc["raw"] == '{"x": 1}', doc
    assert doc["server"]["PATH_INFO"] == "/extra/path", doc


def test_extensions_work(server):
    r = server.get("/php/info.php")
    assert r.status == 200, r
    doc = json.loads(r.body)
    assert doc["mb"] == "HÉLLO" and doc["sha"] == hashlib.sha256(b"abc").hexdigest(), doc
    assert doc["rand"] == 32 and doc["date"] == "1970" and doc["preg"] == "a<1>b<22>", doc
    assert doc["filter"] == "a@b.example" and doc["ctype"] is True and doc["tokens"] >= 3, doc
    assert doc["realpath"] == "/www/hello.php", doc
    assert doc["dotdot"] is False, "'..' inside a preopen now resolves: update docs/php.md"
    assert doc["max_int"] == 2**31 - 1, doc


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "----modwasm" + os.urandom(8).hex()
    out = b""
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for k, (name, data) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_multipart_upload_into_mapped_temp_folder(server):
    big = os.urandom(700_000)
    small = b"hello upload\n"
    body, ctype = multipart({"title": "two files"}, {"one": ("a.bin", big), "two": ("b.txt", small)})
    r = request(server.port, "POST", "/php/upload.php", body=body, headers={"Content-Type": ctype})
    assert r.status == 200, r
    doc = json.loads(r.body)
    assert doc["post"] == {"title": "two files"}, doc
    one, two = doc["files"]["one"], doc["files"]["two"]
    assert one["error"] == 0 and one["size"] == len(big) and one["md5"] == hashlib.md5(big).hexdigest(), doc
    assert two["md5"] == hashlib.md5(small).hexdigest() and two["name"] == "b.txt", doc
    assert one["tmp_dir"] == "/tmp" and one["uploaded"] is True and doc["temp"] == "/tmp", doc
    # PHP deletes its upload files at the end of the request.
    assert not [p for p in server.dirs["tmp"].iterdir() if p.name.startswith("php")], list(server.dirs["tmp"].iterdir())


def test_status_headers_redirects_cookies(server):
    r = server.get("/php/headers.php?case=status")
    assert r.status == 201 and r.header("X-Php") == "yes" and r.text == "created\n", r
    r = server.get("/php/headers.php?case=status-header")
    assert r.status == 418 and r.text == "teapot\n", r
    r = server.get("/php/headers.php?case=redirect")
    assert r.status == 302 and r.header("Location", ) in ("/php/hello.php", f"{server.base_url}/php/hello.php"), r
    r = server.get("/php/headers.php?case=cookie")
    cookies = r.header_all("Set-Cookie")
    assert r.status == 200 and len(cookies) == 2, r
    assert cookies[0].startswith("flavour=oat%20meal") and "HttpOnly" in cookies[0] and "SameSite=Lax" in cookies[0], cookies
    r = server.get("/php/headers.php?case=type")
    assert r.header("Content-Type") == "text/csv; charset=utf-8" and r.text == "a,b\n1,2\n", r


def test_sessions_in_a_mapped_folder(server):
    r = server.get("/php/session.php")
    assert r.status == 200 and r.text.startswith("n=1 "), r
    cookie = r.header("Set-Cookie")
    assert cookie and cookie.startswith("PHPSESSID="), r
    sid = cookie.split(";")[0].split("=", 1)[1]
    for n in (2, 3):
        r = server.get("/php/session.php", headers={"Cookie": f"PHPSESSID={sid}"})
        assert r.status == 200 and r.text == f"n={n} id={sid}\n", r
    assert (server.dirs["sessions"] / f"sess_{sid}").is_file()


def test_sqlite_in_a_mapped_folder(server):
    counts = []
    for i in range(3):
        r = server.get(f"/php/sqlite.php?who=t{i}")
        assert r.status == 200, r
        doc = json.loads(r.body)
        counts.append(doc["count"])
        assert doc["sqlite"].startswith("3.40.1"), doc
    assert counts == sorted(counts) and counts[-1] - counts[0] == 2, counts
    assert not list(server.dirs["data"].glob("*.lock")), "a finished request left a SQLite lock behind"


def test_fatal_error_page_is_delivered_and_exit_code_logged(server):
    mark = server.log_mark()
    r = server.get("/php/fatal.php")
    assert r.complete, r
    assert "before the error" in r.text and "this_function_does_not_exist" in r.text, r
    assert "never printed" not in r.text, r
    assert r.status in (200, 500), r
    expect_log(server, mark, "exited with code 255")


def test_uncaught_exception_runs_shutdown_functions(server):
    mark = server.log_mark()
    r = server.get("/php/exception.php")
    assert "start" in r.text and "RuntimeException" in r.text and "boom" in r.text, r
    assert "shutdown ran" in r.text, r
    expect_log(server, mark, "exited with code 255")


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exit_code_after_a_page(server, code):
    mark = server.log_mark()
    r = server.get(f"/php/exit.php?code={code}")
    assert r.status == 200 and r.text == f"exiting with {code}\n", r
    if code:
        line = expect_log(server, mark, f"exited with code {code}")
        assert "trap" not in line.lower(), line


def test_endless_loop_is_stopped_by_wasm_timeout(server):
    t0 = time.monotonic()
    r = server.get("/php/loop.php", timeout=30)
    elapsed = time.monotonic() - t0
    # The guest began its response ("looping") before the deadline: either a 504 (nothing sent yet)
    # or a cut-off response; never a hang.
    assert elapsed < 15, elapsed
    assert r.status == 504 or not r.complete, r
    assert server.get("/php/hello.php").status == 200


def test_memory_exhausted_is_phps_error(server):
    mark = server.log_mark()
    r = server.get("/php/memory.php?limit=32M")
    assert "Allowed memory size of 33554432 bytes exhausted" in r.text, r
    expect_log(server, mark, "exited with code 255")


def test_memory_beyond_the_sandbox_limit_is_phps_error_or_507(server):
    """memory_limit off: Zend's allocator runs into WasmMemoryLimit. Either its request for more memory
    fails (PHP's own "Out of memory" fatal error, exit 255) or the sandbox ends the request (507)."""
    r = server.get("/php/memory.php?limit=-1")
    assert r.status == 507 or not r.complete or "Out of memory" in r.text, r
    assert server.get("/php/hello.php").status == 200


def test_htaccess_style_files_are_not_php(server):
    r = server.get("/php/hello.php.txt")
    assert r.status == 404, r


def test_100_concurrent_requests_mixing_php_and_python(server):
    if not PYTHON_WASM.is_file():
        pytest.fail(f"{PYTHON_WASM} is missing: run `make python` first", pytrace=False)
    assert server.get("/prettyfy", timeout=FIRST_REQUEST_TIMEOUT).status == 200

    def one(i: int):
        if i % 2:
            r = server.get(f"/php/vars.php?i={i}", timeout=120)
            return i, r.status, json.loads(r.body)["get"]["i"] == str(i) if r.status == 200 else r
        r = request(server.port, "POST", "/prettyfy", body=json.dumps({"i": i}), timeout=120,
                    headers={"Content-Type": "application/json"})
        return i, r.status, f'"i": {i}' in r.text

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(one, range(100)))
    bad = [x for x in results if x[1] != 200 or x[2] is not True]
    assert not bad, bad[:5]
