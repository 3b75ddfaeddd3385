"""`mod-wasm status` and the manifest's `status` node (issue 10, CLI side) against a real Apache.

- `mod-wasm status --url …` reads a running server's wasm-status JSON and prints the release, the
  configuration generation and a row per route whose counters equal the requests the test sent;
  `--json` passes the server's document through; a base URL gets /.well-known/mod-wasm/status added.
- Clear diagnostics (exit 1) when nothing answers, when the page is missing (404), when the answer is
  not wasm-status JSON, and for a URL that is not http://.
- `mod-wasm up` serves a loopback-only status page at /.well-known/mod-wasm/status by default, prints
  its URL, and the page reports the bundle's `WasmRelease` id (bundle- + 12 hex of the SHA-256 of
  bundle.lock); a manifest's `status "/PATH"` moves it; `--no-status` leaves it out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import CLI, MOD_WASM_SO, WASM_DIR, Apache, assert_no_crash, free_port, request

STATUS_PATH = "/.well-known/mod-wasm/status"
HELLO = b"Hello, World! (from a WASI module served by Apache)\n"


def mod_wasm(*args, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "MOD_WASM_SO": str(MOD_WASM_SO)}
    res = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert res.returncode == 0, f"mod-wasm {' '.join(map(str, args))} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def server_conf(status_path: str) -> str:
    return f"""
WasmRelease rel-status-cli
<Location {status_path}>
    SetHandler wasm-status
    Require local
</Location>
<Location /ok>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
</Location>
<Location /trap>
    SetHandler wasm-handler
    WasmModule @WASM@/trap.wasm
</Location>
"""


def table_rows(text: str) -> dict[str, list[str]]:
    """The route rows of `mod-wasm status`'s table, by route: every cell after the route."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("ROUTE"))
    assert lines[head].split() == ["ROUTE", "SERVER", "REQUESTS", "2XX", "3XX", "4XX", "5XX", "TRAPS",
                                   "TIMEOUTS", "MEAN", "MS", "MAX", "MS"], lines[head]
    return {cells[0]: cells[1:] for cells in (line.split() for line in lines[head + 1:]) if cells}


def test_status_prints_release_generation_and_exact_route_counters(apache_factory):
    a = apache_factory(modules=("authz_host",), extra_conf=server_conf("/wasm-status"))
    for _ in range(3):
        assert a.get("/ok").body == HELLO
    for _ in range(2):
        assert a.get("/trap").status == 500
    res = mod_wasm("status", "--url", f"{a.base_url}/wasm-status")
    doc = json.loads(a.get("/wasm-status?json").body)
    out = res.stdout
    assert f"wasm-status of http://127.0.0.1:{a.port}/wasm-status" in out, out
    assert re.search(r"^release\s+rel-status-cli$", out, re.M), out
    assert re.search(rf"^generation\s+{doc['generation']}, started {re.escape(doc['started'])}$", out, re.M), out
    assert re.search(rf"^modules\s+{len(doc['modules'])}$", out, re.M), out
    for m in doc["modules"]:
        assert m["sha256"][:12] in out, out
    rows = table_rows(out)
    assert set(rows) == {"/ok", "/trap"}, out
    # server, requests, 2xx, 3xx, 4xx, 5xx, traps, timeouts, mean ms, max ms
    assert rows["/ok"][1:8] == ["3", "3", "0", "0", "0", "0", "0"], out
    assert rows["/trap"][1:8] == ["2", "0", "0", "0", "2", "2", "0"], out
    ok = next(r for r in doc["routes"] if r["route"] == "/ok")
    assert rows["/ok"][0] == ok["server"], out
    assert float(rows["/ok"][8]) == pytest.approx(ok["time_us"]["sum"] / 3 / 1000, abs=0.006), out
    assert float(rows["/ok"][9]) == pytest.approx(ok["time_us"]["max"] / 1000, abs=0.006), out

    # --json: the server's own document, passed through.
    passed = json.loads(mod_wasm("--json", "status", "--url", f"{a.base_url}/wasm-status").stdout)
    assert passed == json.loads(a.get("/wasm-status?json").body)
    assert passed["release"] == "rel-status-cli"


def test_a_base_url_gets_the_well_known_status_path(apache_factory):
    a = apache_factory(modules=("authz_host",), extra_conf=server_conf(STATUS_PATH))
    assert a.get("/ok").status == 200
    res = mod_wasm("status", "--url", a.base_url)
    assert f"wasm-status of http://127.0.0.1:{a.port}{STATUS_PATH}" in res.stdout, res.stdout
    assert table_rows(res.stdout)["/ok"][1] == "1", res.stdout


def test_status_diagnostics(apache_factory):
    a = apache_factory(modules=("authz_host",), extra_conf=server_conf("/wasm-status"))
    (a.docroot / "other.json").write_text('{"hello": "not wasm-status"}\n')
    (a.docroot / "page.txt").write_text("just text\n")

    nobody = free_port()
    res = mod_wasm("status", "--url", f"http://127.0.0.1:{nobody}", check=False)
    assert res.returncode == 1, res
    assert "status::unreachable" in res.stderr and f"127.0.0.1:{nobody}{STATUS_PATH}" in res.stderr, res.stderr

    res = mod_wasm("status", "--url", a.base_url, check=False)  # no page at the default path
    assert res.returncode == 1 and "status::http-status" in res.stderr and "answered 404" in res.stderr, res.stderr
    assert 'status "/.well-known/mod-wasm/status"' in res.stderr, res.stderr

    for page in ("/other.json", "/page.txt"):
        res = mod_wasm("status", "--url", a.base_url + page, check=False)
        assert res.returncode == 1 and "status::not-wasm-status" in res.stderr, res.stderr

    res = mod_wasm("status", "--url", f"https://127.0.0.1:{a.port}", check=False)
    assert res.returncode == 1 and "status::url" in res.stderr and "not an http:// URL" in res.stderr, res.stderr

    res = mod_wasm("--json", "status", "--url", f"http://127.0.0.1:{nobody}", check=False)
    assert res.returncode == 1
    assert json.loads(res.stdout)["error"]["code"] == "status::unreachable"


# ------------------------------------------------------------------------------------------------
# mod-wasm up
# ------------------------------------------------------------------------------------------------


def hello_manifest(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "app.kdl"
    path.write_text(f'app "statusup"\nmodule "hello" source="{WASM_DIR / "hello.wasm"}"\n'
                    f'route "/hello" module="hello"\n{extra}')
    return path


class Up:
    """`mod-wasm up MANIFEST --listen 127.0.0.1:PORT` in the background, stopped with SIGINT."""

    def __init__(self, manifest: Path, out: Path, *extra: str):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(CLI), "up", str(manifest), "--listen", f"127.0.0.1:{self.port}", "--out", str(out), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            env={**os.environ, "NO_COLOR": "1", "MOD_WASM_SO": str(MOD_WASM_SO)},
        )
        self.out = self.err = ""

    def __enter__(self) -> "Up":
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"mod-wasm up exited {self.proc.returncode}:\n{out}\n{err}")
            try:
                if request(self.port, "GET", "/hello", timeout=5).status == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("mod-wasm up did not serve /hello within 120 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.out, self.err = self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.out, self.err = self.proc.communicate()

    def __exit__(self, *exc) -> None:
        self.stop()


def test_up_serves_status_by_default_and_prints_its_url(cli, tmp_path):
    manifest = hello_manifest(tmp_path / "app")
    bundle = tmp_path / "bundle"
    with Up(manifest, bundle) as up:
        assert request(up.port, "GET", "/hello").body == HELLO
        r = request(up.port, "GET", STATUS_PATH + "?json")
        assert r.status == 200, r
        doc = json.loads(r.body)
        listing = mod_wasm("status", "--url", f"http://127.0.0.1:{up.port}").stdout
    assert up.proc.returncode == 0, up.err
    url = f"http://127.0.0.1:{up.port}{STATUS_PATH}"
    assert f"  {url} -> wasm-status" in up.err, up.err
    # The release the server reports is the bundle's id: bundle- + 12 hex of bundle.lock's SHA-256.
    lock = (bundle / "bundle.lock").read_bytes()
    release = "bundle-" + hashlib.sha256(lock).hexdigest()[:12]
    assert release.encode() not in lock
    assert doc["release"] == release, doc
    conf = (bundle / "wasm.conf").read_text()
    assert f"WasmRelease {release}\n" in conf
    assert conf.count("SetHandler wasm-status") == 1 and "Require expr \"-R '127.0.0.0/8' || -R '::1'\"" in conf
    assert json.loads(lock)["status"] == STATUS_PATH
    assert re.search(rf"^release\s+{release}$", listing, re.M), listing
    # up's own readiness probe and the test's request, both counted.
    assert table_rows(listing)["/hello"][1:3] == ["2", "2"], listing
    assert_no_crash(up.err)


def test_the_manifest_status_path_moves_it_and_no_status_removes_it(cli, tmp_path):
    manifest = hello_manifest(tmp_path / "app", 'status "/ops/wasm"\n')
    with Up(manifest, tmp_path / "b1") as up:
        assert request(up.port, "GET", "/ops/wasm?json").status == 200
        assert request(up.port, "GET", STATUS_PATH + "?json").status == 404
    assert f"http://127.0.0.1:{up.port}/ops/wasm -> wasm-status" in up.err, up.err
    with Up(hello_manifest(tmp_path / "plain"), tmp_path / "b2", "--no-status") as up:
        assert request(up.port, "GET", STATUS_PATH + "?json").status == 404
    assert "wasm-status" not in up.err, up.err
    assert "SetHandler wasm-status" not in (tmp_path / "b2" / "wasm.conf").read_text()


def test_build_writes_the_release_and_the_status_location(cli, tmp_path):
    manifest = hello_manifest(tmp_path / "app", f'status "{STATUS_PATH}"\n')
    report = json.loads(mod_wasm("build", "--json", manifest, "--out", tmp_path / "bundle").stdout)
    lock = (tmp_path / "bundle" / "bundle.lock").read_bytes()
    assert report["release"] == "bundle-" + hashlib.sha256(lock).hexdigest()[:12]
    assert report["status"] == STATUS_PATH
    # The bundle loads into a plain Apache (authz_host loaded): its status page answers, loopback only.
    a = Apache(modules=("authz_host",), extra_conf=f'Include "{tmp_path / "bundle" / "wasm.conf"}"\n')
    with a:
        doc = json.loads(a.get(STATUS_PATH + "?json").body)
        assert doc["release"] == report["release"]
        assert a.get("/hello").body == HELLO
    assert_no_crash(a)
    # With mod_authz_core alone (no mod_authz_host) the page answers too, to loopback clients
    # (`Require expr` on the client's address; issue 19): never an open one, never a missing one.
    b = Apache(extra_conf=f'Include "{tmp_path / "bundle" / "wasm.conf"}"\n')
    with b:
        assert json.loads(b.get(STATUS_PATH + "?json").body)["release"] == report["release"]
        assert b.get("/hello").body == HELLO
    assert_no_crash(b)
