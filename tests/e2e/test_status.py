"""wasm-status (issue 10): exact counters across every child and thread, JSON, Prometheus, HTML,
request notes for the access log, stderr lines that share the access log's request id.

Counts are compared with what the client saw, request by request, after traffic spread over many
connections (prefork with 8 children, event with 2+). promtool (Debian's `prometheus` package,
fetched by scripts/fetch-promtool.sh) checks the Prometheus text; headless Chromium renders the
HTML page (screenshot kept in build/test-artifacts/).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import BUILD, WASM_DIR, Apache, assert_no_crash, route_of

pytestmark = pytest.mark.mpms("event", "prefork")

PROMTOOL = BUILD / "tools" / "promtool"
ARTIFACTS = BUILD / "test-artifacts"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

ROUTES = {
    # route: (module, extra directives, outcome counter it must raise)
    "/ok": ("hello", "", None),
    "/trap": ("trap", "", "traps"),
    "/timeout": ("loop", "WasmTimeout 300ms", "timeouts"),
    "/exit": ("exit3_before", "", "exits"),
    "/flood": ("flood", "WasmOutputLimit 10K", "output_limit"),
    "/mem": ("memgrab", "WasmMemoryLimit 16M", "memory_limit"),
}
LOG_FORMAT = '"%{wasm-route}n %{wasm-module}n %{wasm-outcome}n %{wasm-us}n %>s %L"'


def status_conf(release: str = "rel-1", routes: dict = ROUTES) -> str:
    parts = [
        f"WasmRelease {release}",
        'ErrorLogFormat "[%t] [%m:%l] [pid %P] [L:%L] %M"',
        f"LogFormat {LOG_FORMAT} wasmnotes",
        'CustomLog "@ROOT@/notes.log" wasmnotes',
        "<Location /wasm-status>\n    SetHandler wasm-status\n    Require local\n</Location>",
        "<Location /stderr>\n    SetHandler wasm-handler\n"
        "    WasmModule @WASM@/stderr.wasm\n    WasmArg log-id-marker\n</Location>",
    ]
    for route, (module, extra, _) in routes.items():
        parts.append(f"<Location {route}>\n    SetHandler wasm-handler\n    WasmModule @WASM@/{module}.wasm\n"
                     f"    {extra}\n</Location>")
    return "\n".join(parts) + "\n"


def status_json(srv: Apache) -> dict:
    r = srv.get("/wasm-status?json")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/json"), r
    return json.loads(r.body)



def fire(srv: Apache, path: str, n: int) -> Counter:
    """n requests on fresh connections from 8 threads; the statuses the client saw."""
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: srv.get(path, timeout=60).status, range(n)))
    return Counter(statuses)


def class_counts(statuses: Counter) -> dict:
    out = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    for status, n in statuses.items():
        out[f"{status // 100}xx"] += n
    return out


@pytest.fixture(scope="module")
def srv(built, mpm):
    a = Apache(mpm=mpm, extra_conf=status_conf(), modules=("authz_host",))
    a.start()
    yield a
    a.stop()
    assert_no_crash(a)
    a.__exit__(None, None, None)


def test_counters_are_exact_across_children(srv, mpm):
    seen = {route: fire(srv, route, 24) for route in ROUTES}
    doc = status_json(srv)
    for route, (_, _, counter) in ROUTES.items():
        got = route_of(doc, route)
        assert got["requests"] == 24, (route, got)
        assert got["responses"] == class_counts(seen[route]), (route, got, seen[route])
        for name in ("traps", "timeouts", "exits", "output_limit", "memory_limit", "bad_headers", "client_gone"):
            expected = 24 if name == counter else 0
            assert got[name] == expected, (route, name, got)
        assert got["time_us"]["max"] > 0 and got["time_us"]["sum"] >= got["time_us"]["max"], got
        assert got["server"] == f"127.0.0.1:{srv.port}", got


def test_json_shape(srv):
    doc = status_json(srv)
    assert isinstance(doc["generation"], int)
    assert doc["release"] == "rel-1"
    assert RFC3339.match(doc["started"]), doc["started"]
    paths = {m["path"]: m for m in doc["modules"]}
    hello = paths[str(WASM_DIR / "hello.wasm")]
    assert HEX64.match(hello["sha256"]) and hello["kind"] == "module" and hello["precompiled"] is False
    for r in doc["routes"]:
        assert HEX64.match(r["sha256"]), r
        assert set(r["responses"]) == {"2xx", "3xx", "4xx", "5xx"}
    assert srv.get("/wasm-status", headers={"Accept": "application/json"}).header("Content-Type").startswith(
        "application/json")


def test_prometheus_text_passes_promtool(srv):
    if not PROMTOOL.is_file():
        pytest.fail(f"{PROMTOOL} is missing: run scripts/fetch-promtool.sh (scripts/install-deps.sh does)")
    fire(srv, "/ok", 3)
    r = srv.get("/wasm-status?prometheus")
    assert r.status == 200 and r.header("Content-Type").startswith("text/plain; version=0.0.4"), r
    text = r.text
    check = subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, f"promtool: {check.stdout}{check.stderr}\n---\n{text[:3000]}"
    for metric in ("mod_wasm_requests_total", "mod_wasm_request_duration_seconds_bucket", "mod_wasm_traps_total",
                   "mod_wasm_timeouts_total", "mod_wasm_output_limit_total", "mod_wasm_memory_limit_total",
                   "mod_wasm_module_info", "mod_wasm_release_info", "mod_wasm_config_generation",
                   "mod_wasm_instances_in_use"):
        assert f"\n{metric}" in "\n" + text, metric
    assert 'mod_wasm_release_info{release="rel-1"} 1' in text
    ok = re.search(r'mod_wasm_requests_total\{route="/ok",server="[^"]*",code_class="2xx"\} (\d+)', text)
    assert ok and int(ok.group(1)) >= 3, text[:2000]
    assert srv.get("/wasm-status", headers={"Accept": "text/plain; version=0.0.4"}).text.startswith("# HELP")


def test_html_page_renders_the_route_table(srv, mpm):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.fail("chromium is not installed (Debian package `chromium`; scripts/install-deps.sh installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"wasm-status-{mpm}.png"
    shot.unlink(missing_ok=True)
    url = f"{srv.base_url}/wasm-status"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,700"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert '<table id="routes">' in dom.stdout, dom.stdout[:2000] + dom.stderr[-2000:]
    for route in ROUTES:
        assert f"<code>{route}</code>" in dom.stdout, route
    subprocess.run([chromium, *flags, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 5000, f"no screenshot at {shot}"


def test_access_log_notes_and_a_shared_log_id(srv):
    r = srv.get("/stderr")
    assert r.status == 200, r
    srv.get("/trap")
    notes = (srv.root / "notes.log")
    lines = []
    for _ in range(50):
        lines = notes.read_text().splitlines() if notes.exists() else []
        if any(ln.startswith("/stderr ") for ln in lines) and any(ln.startswith("/trap ") for ln in lines):
            break
        time.sleep(0.1)
    trap = [ln for ln in lines if ln.startswith("/trap ")][-1].split()
    assert trap[2] == "trap" and trap[4] == "500" and re.match(r"^[0-9a-f]{12}$", trap[1]), trap
    assert int(trap[3]) > 0
    stderr_line = [ln for ln in lines if ln.startswith("/stderr ")][-1].split()
    assert stderr_line[2] == "ok" and stderr_line[4] == "200", stderr_line
    log_id = stderr_line[5]
    assert log_id != "-", stderr_line
    errors = [ln for ln in srv.error_log().splitlines() if "log-id-marker line one" in ln]
    assert errors, srv.error_log()[-2000:]
    assert f"[L:{log_id}]" in errors[-1], (log_id, errors[-1])


def test_bad_queries_and_methods(srv):
    assert json.loads(srv.get("/wasm-status?json&x=%ff").body)["release"] == "rel-1"
    r = srv.get("/wasm-status?nonsense=1")
    assert r.status == 200 and r.header("Content-Type").startswith("text/html"), r
    r = srv.post("/wasm-status", b"x")
    assert r.status == 405 and "GET" in (r.header("Allow") or ""), r
    r = srv.request("HEAD", "/wasm-status?json")
    assert r.status == 200 and r.body == b"", r
    assert srv.get("/ok").status == 200


def test_counters_survive_a_graceful_restart(built, mpm):
    a = Apache(mpm=mpm, modules=("authz_host",),
               extra_conf=status_conf("rel-1", {"/ok": ("hello", "", None), "/gone": ("hello", "", None)}))
    try:
        a.start()
        fire(a, "/ok", 10)
        fire(a, "/gone", 4)
        gen = status_json(a)["generation"]
        a.extra_conf = status_conf("rel-2", {"/ok": ("hello", "", None), "/new": ("trap", "", None)})
        a.graceful()
        doc = status_json(a)
        assert doc["generation"] > gen and doc["release"] == "rel-2", doc
        assert route_of(doc, "/ok")["requests"] == 10
        assert route_of(doc, "/new")["requests"] == 0
        assert not [r for r in doc["routes"] if r["route"] == "/gone"]
    finally:
        a.stop()
        assert_no_crash(a)
        a.__exit__(None, None, None)
