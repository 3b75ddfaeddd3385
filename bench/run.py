#!/usr/bin/env python3
"""The benchmark: one command that builds release artefacts, serves everything from one Apache and
measures it side by side, then writes bench/RESULTS.md.

    python3 bench/run.py                 # build + measure + write bench/RESULTS.md
    python3 bench/run.py --no-build      # reuse build/bench/ (after a first full run)
    python3 bench/run.py --duration 10 --reps 5 --out /tmp/results.md

Build (into build/bench/, never touching build/mod_wasm.so): `cargo build --workspace --release`,
mod_wasm.so by apxs linked with an rpath to target/release, hello.wasm and cgi_echo.wasm by clang
(wasm32-wasi), the same samples/c/hello.c compiled natively as a CGI program (bench/native_cgi_main.c
adds the header line), and the WASI CPython through samples/fetch-python.sh.

Throughput (one Apache, event MPM, loopback port, `wrk -t2 -c16 -dNs --latency` per endpoint after a
1 s warm-up, median of --rounds interleaved rounds; CPU time per request beside it): a static file, /hello (Wasm, CGI off), /echo (Wasm cgi_echo, CGI on), /cgi-bin/hello
(native CGI via mod_cgid), /prettyfy (samples/python/python.conf). Python also at 1 connection
(sequential p50) and 8 connections (throughput ratio).

Start-up to the first Python response (median of --reps): cold (empty WasmCacheDir), warm (same cache,
fresh Apache), graceful restart (SIGUSR1 until the log says Apache resumed and /prettyfy answers), and
`apache2 -t` on the same config. Targets (issue 3) are printed beside every number.

Components (issue 13), in the same rounds: the PrettyFy app as a componentize-py wasi:http component
(samples/python-http, pre-initialised CPython) beside the preview 1 CPython route, the C hello as a
wasi:cli command component beside the core module, and the same Python component under
`wasmtime serve -S cli=y` (wasmtime-cli 48.0.8 in build/tools/wasmtime-cli, from
`cargo install wasmtime-cli --version 48.0.8 --locked --root build/tools/wasmtime-cli`; the rows are
left out, and said so, when it is not installed).

Deploy (issue 11, median of --deploy-reps): `mod-wasm deploy --bundle` of hello and of the 20 MB Python
app (two bundles each, alternating) to a running Apache that includes ROOT/current/wasm.conf, timed from
the command's start to its exit (the new release verified), while a load loop keeps requesting the
route (fresh and kept-alive connections); failed requests during the deploys (goal: 0) beside it.
`measure_deploys()` is self-contained, so it also runs against debug build outputs:

    python3 -c 'import sys; sys.path.insert(0, "bench"); import run; print(run.deploy_smoke())'
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import json
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import APACHE_BIN, Apache, LoadLoop, request  # noqa: E402

OUT = REPO / "build" / "bench"
RELEASE = REPO / "target" / "release"
PY_ROUTE = "/prettyfy"
PY_GET = "Python prettyfy GET (Wasm CPython)"
PY_POST = "Python prettyfy POST JSON (Wasm CPython)"
POST_BODY = '{"name": "bench", "values": [1, 2.5, null, true], "nested": {"z": "caf\u00e9", "a": []}}'
HELLO_TEXT = b"Hello, World! (from a WASI module served by Apache)\n"
PY_COMPONENT_ROUTE = "/component/prettyfy"
PYC_GET = "Python prettyfy GET (wasi:http component)"
PYC_POST = "Python prettyfy POST JSON (wasi:http component)"
HELLO_COMPONENT = "hello (wasi:cli command component)"
SERVE_GET = "Python prettyfy GET (same component, `wasmtime serve`)"
SERVE_POST = "Python prettyfy POST JSON (same component, `wasmtime serve`)"
WASMTIME = REPO / "build" / "tools" / "wasmtime-cli" / "bin" / "wasmtime"
POST_ROWS = (PY_POST, PYC_POST, SERVE_POST)


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------


@dataclass
class Artefacts:
    mod_wasm: Path
    hello: Path
    cgi_echo: Path
    native_cgi_dir: Path
    python: Path
    hello_component: Path
    python_component: Path


def artefacts() -> Artefacts:
    return Artefacts(
        mod_wasm=OUT / "mod_wasm.so",
        hello=OUT / "wasm" / "hello.wasm",
        cgi_echo=OUT / "wasm" / "cgi_echo.wasm",
        native_cgi_dir=OUT / "cgi-bin",
        python=REPO / "build" / "python" / "python-3.11.3.wasm",
        hello_component=REPO / "build" / "components" / "hello.wasm",
        python_component=REPO / "build" / "components" / "python-http.wasm",
    )


def build() -> Artefacts:
    a = artefacts()
    for d in (OUT, OUT / "apxs", OUT / "wasm", a.native_cgi_dir):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o755)
    try:
        run(["cargo", "build", "--workspace", "--release"], cwd=REPO)
    except subprocess.CalledProcessError:
        # The server pair needs only the runtime; a broken sibling crate must not stop the benchmark.
        log("the workspace does not build; building only the runtime (-p wasm_runtime)")
        run(["cargo", "build", "--release", "-p", "wasm_runtime"], cwd=REPO)
    shutil.copy(REPO / "mod_wasm" / "mod_wasm.c", OUT / "apxs" / "mod_wasm.c")
    run(
        ["apxs", "-c", "-Wc,-O2", f"-I{REPO / 'runtime' / 'include'}", f"-L{RELEASE}", "-lwasm_runtime",
         f"-Wl,-Wl,-rpath,{RELEASE}", "mod_wasm.c"],
        cwd=OUT / "apxs", stdout=subprocess.DEVNULL,
    )
    shutil.copy(OUT / "apxs" / ".libs" / "mod_wasm.so", a.mod_wasm)
    for name, dest in (("hello", a.hello), ("cgi_echo", a.cgi_echo)):
        run(["clang", "--target=wasm32-wasi", "-O2", "-Wall", "-Werror", "-o", dest, REPO / "samples" / "c" / f"{name}.c"])
    obj = OUT / "hello_native.o"
    run(["cc", "-O2", "-Dmain=hello_main", "-c", "-o", obj, REPO / "samples" / "c" / "hello.c"])
    run(["cc", "-O2", "-o", a.native_cgi_dir / "hello", REPO / "bench" / "native_cgi_main.c", obj])
    run(["make", "PROFILE=release", "components"], cwd=REPO)
    path = run([REPO / "samples" / "fetch-python.sh"], stdout=subprocess.PIPE, text=True).stdout.strip()
    assert Path(path) == a.python, f"fetch-python.sh wrote {path}, expected {a.python}"
    return a


# ---------------------------------------------------------------------------------------------
# Apache
# ---------------------------------------------------------------------------------------------


def server_conf(a: Artefacts, cache_dir: Path) -> str:
    python = (REPO / "samples" / "python" / "python.conf").read_text().replace("@REPO@", str(REPO))
    return f"""
LoadModule wasm_module "{a.mod_wasm}"
WasmCacheDir "{cache_dir}"

ScriptAlias /cgi-bin/ "{a.native_cgi_dir}/"
<Directory "{a.native_cgi_dir}">
    Require all granted
</Directory>

<Location /hello>
    SetHandler wasm-handler
    WasmModule "{a.hello}"
</Location>

# The interpreter told to print its version: instantiates the same 20 MB module, exits before
# CPython initialises. What is left of a Python request beyond this is CPython's own work.
<Location /python-version>
    SetHandler wasm-handler
    WasmModule "{a.python}"
    WasmArg -V
</Location>

<Location /echo>
    SetHandler wasm-handler
    WasmModule "{a.cgi_echo}"
    WasmEnableCGI On
</Location>

{python}

# Components (issue 13): the C hello as a wasi:cli command component, and prettyfy as a
# componentize-py wasi:http handler (CPython's start-up and imports snapshotted at build time).
<Location /c/hello>
    SetHandler wasm-handler
    WasmModule "{a.hello_component}"
</Location>

<Location {PY_COMPONENT_ROUTE}>
    SetHandler wasm-handler
    WasmModule "{a.python_component}"
</Location>
"""


STATUS_CONF = """
<Location /wasm-status>
    SetHandler wasm-status
</Location>
"""


STATUS_ROW = "hello (Wasm), wasm-status location configured"


def new_apache(a: Artefacts, cache_dir: Path, with_status: bool = False) -> Apache:
    apache = Apache(
        mpm="event", cgi=True, load_mod_wasm=False, log_level="notice", start_timeout=300.0,
        extra_conf=server_conf(a, cache_dir) + (STATUS_CONF if with_status else ""),
    )
    (apache.docroot / "static.txt").write_bytes(HELLO_TEXT)
    os.chmod(apache.docroot / "static.txt", 0o644)
    return apache


def wait_for_python(apache: Apache, t0: float, timeout: float = 300.0) -> float:
    """Seconds from t0 until /prettyfy answers 200 (retrying while the port refuses)."""
    deadline = t0 + timeout
    while True:
        try:
            r = request(apache.port, "GET", PY_ROUTE, timeout=max(1.0, deadline - time.monotonic()))
            if r.status == 200:
                return time.monotonic() - t0
            raise SystemExit(f"bench: {PY_ROUTE} answered {r.status}: {r.text[:500]}\n{apache.diagnostics()}")
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: no Python response within {timeout} s\n{apache.diagnostics()}")
            time.sleep(0.005)


def graceful_to_python(apache: Apache) -> float:
    """Seconds from SIGUSR1 until Apache logged that it resumed and /prettyfy answers 200."""
    before = apache.error_log().count("resuming normal operations")
    t0 = time.monotonic()
    os.kill(apache.pid, signal.SIGUSR1)
    while apache.error_log().count("resuming normal operations") <= before:
        if time.monotonic() - t0 > 300 or not apache.running():
            raise SystemExit("bench: Apache did not resume after SIGUSR1\n" + apache.diagnostics())
        time.sleep(0.002)
    return wait_for_python(apache, t0)


def configtest_seconds(apache: Apache) -> float:
    t0 = time.monotonic()
    code, out = apache.configtest()
    took = time.monotonic() - t0
    if code != 0:
        raise SystemExit(f"bench: apache2 -t failed ({code}): {out}")
    return took


class WasmtimeServe:
    """`wasmtime serve -S cli=y` of a wasi:http component on a loopback port: the reference server."""

    def __init__(self, component: Path):
        from harness import free_port  # noqa: PLC0415

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = OUT / "wasmtime-serve.log"
        self.proc = subprocess.Popen(
            [str(WASMTIME), "serve", "-S", "cli=y", "--addr", f"127.0.0.1:{self.port}", str(component)],
            stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: wasmtime serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                r = request(self.port, "GET", "/", timeout=max(1.0, deadline - time.monotonic()))
                if r.status == 200:
                    return
                raise SystemExit(f"bench: wasmtime serve answered {r!r}")
            except (ConnectionRefusedError, ConnectionResetError):
                if time.monotonic() > deadline:
                    raise SystemExit("bench: wasmtime serve did not answer in time")
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---------------------------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_ms: float = float("nan")  # Apache's CPU time (user + system, all processes) per request


def median_load(loads: list[Load]) -> Load:
    """Each field's median over several runs of the same endpoint."""
    med = statistics.median
    return Load(med(x.rps for x in loads), med(x.p50_ms for x in loads), med(x.p99_ms for x in loads),
                sum(x.errors for x in loads), sum(x.requests for x in loads), med(x.cpu_ms for x in loads))


def apache_cpu_seconds(apache: "Apache | WasmtimeServe") -> float:
    """User + system CPU time of the server's processes and of the processes they reaped (clock ticks)."""
    kids = subprocess.run(["pgrep", "-P", str(apache.pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in [str(apache.pid), *kids]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, and the reaped children's (the native CGI programs forked by mod_cgid)
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def measured(apache: "Apache | WasmtimeServe", url: str, threads: int, conns: int, seconds: int, script: Path | None = None) -> Load:
    """wrk against `url`, plus Apache's CPU time per request over the run."""
    before = apache_cpu_seconds(apache)
    res = wrk(url, threads, conns, seconds, script)
    res.cpu_ms = (apache_cpu_seconds(apache) - before) * 1000 / max(1, res.requests)
    return res


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


POST_LUA = f"""-- written by bench/run.py: POST a small JSON document to the Python app
wrk.method = "POST"
wrk.body = [[{POST_BODY}]]
wrk.headers["Content-Type"] = "application/json"
"""


def wrk(url: str, threads: int, conns: int, seconds: int, script: Path | None = None) -> Load:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    lat = {m.group(1): _ms(m.group(2), m.group(3))
           for m in re.finditer(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not (rps and total and "50" in lat and "99" in lat):
        raise SystemExit(f"bench: cannot read wrk's output for {url}:\n{out}")
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    return Load(float(rps.group(1)), lat["50"], lat["99"], errors, int(total.group(1)))


# ---------------------------------------------------------------------------------------------
# Deploy (issue 11)
# ---------------------------------------------------------------------------------------------


@dataclass
class DeployRow:
    app: str
    seconds: list[float] = field(default_factory=list)  # wall time of each `mod-wasm deploy`
    steps: list[dict] = field(default_factory=list)  # the --json report's timings of each
    requests: int = 0  # answered under load during the deploys
    failed: int = 0
    retried: int = 0
    failures: list[str] = field(default_factory=list)


def deploy_manifests(folder: Path, hello: Path, python: Path | None) -> dict[str, tuple[str, list[Path], set[bytes]]]:
    """Two manifests per app (the second differs by one env setting, so its bundle digest differs):
    app -> (route, [manifest A, manifest B], bodies the route may answer)."""
    apps: dict[str, tuple[str, list[Path], set[bytes]]] = {}
    variants = []
    for v in ("a", "b"):
        d = folder / f"hello-{v}"
        d.mkdir(parents=True)
        (d / "app.kdl").write_text(f'app "bench-hello"\nmodule "hello" source="{hello}"\n'
                                   f'route "/hello" module="hello" {{\n    env "VARIANT" "{v}"\n}}\n')
        variants.append(d / "app.kdl")
    apps["hello"] = ("/hello", variants, {HELLO_TEXT})
    if python is not None:
        variants = []
        stdlib = python.parent / "python-3.11.3-stdlib"
        for v in ("a", "b"):
            d = folder / f"python-{v}"
            d.mkdir(parents=True)
            extra = (f'    map-dir "/stdlib" "{stdlib}" readonly=#true\n    env "PYTHONPATH" "/stdlib"\n'
                     if stdlib.is_dir() else "")
            (d / "app.kdl").write_text(
                f'app "bench-python"\nmodule "python" source="{python}"\n'
                f'route "{PY_ROUTE}" module="python" {{\n    arg "-B"\n    arg "-S"\n    arg "/app/main.py"\n'
                f'    map-dir "/app" "{REPO / "samples" / "python" / "app"}" readonly=#true\n{extra}'
                f'    env "VARIANT" "{v}"\n    cgi #true\n}}\n')
            variants.append(d / "app.kdl")
        apps["python"] = (PY_ROUTE, variants, set())
    return apps


def measure_deploys(cli: Path, mod_wasm_so: Path, hello: Path, python: Path | None, reps: int = 3,
                    mpm: str = "event") -> list[DeployRow]:
    """For each app: build two bundles with `cli`, start an Apache (loading `mod_wasm_so`) whose
    config includes ROOT/current/wasm.conf, put bundle A live, then `reps` timed deploys alternating
    B, A, … under a load loop on the app's route. Returns one row per app."""
    work = Path(tempfile.mkdtemp(prefix="mod-wasm-bench-deploy-"))
    os.chmod(work, 0o755)
    env = {**os.environ, "NO_COLOR": "1", "MOD_WASM_SO": str(mod_wasm_so), "MOD_WASM_CACHE_DIR": str(work / "cc")}
    rows = []
    try:
        for app, (route, manifests, allowed) in deploy_manifests(work / "manifests", hello, python).items():
            bundles = []
            for i, m in enumerate(manifests):
                out = work / f"bundle-{app}-{i}"
                run([cli, "build", m, "--out", out, "--mod-wasm-so", mod_wasm_so, "--quiet"], env=env)
                bundles.append(out)
            root = work / f"root-{app}"
            apache = Apache(
                mpm=mpm, load_mod_wasm=False, modules=("authz_host",), log_level="notice", start_timeout=300.0,
                extra_conf=f'LoadModule wasm_module "{mod_wasm_so}"\nIncludeOptional {root}/current/wasm.conf\n',
            )
            apache.start()
            switches = ["--root", root, "--apachectl", f"{APACHE_BIN} -f {apache.conf_path}", "--url", apache.base_url]
            row = DeployRow(app)

            def deploy(bundle: Path) -> tuple[float, dict]:
                t0 = time.monotonic()
                res = subprocess.run([str(cli), "--json", "deploy", "--bundle", str(bundle), *map(str, switches)],
                                     capture_output=True, text=True, env=env, timeout=900)
                took = time.monotonic() - t0
                if res.returncode != 0:
                    raise SystemExit(f"bench: deploy of {bundle} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n"
                                     + apache.diagnostics())
                return took, json.loads(res.stdout)

            try:
                deploy(bundles[0])
                r = request(apache.port, "GET", route, timeout=300)
                if r.status != 200 or (allowed and r.body not in allowed):
                    raise SystemExit(f"bench: {route} answered {r!r} after the first deploy\n{apache.diagnostics()}")
                with LoadLoop(apache.port, route, allowed) as load:
                    time.sleep(1.0)
                    for i in range(reps):
                        took, report = deploy(bundles[(i + 1) % 2])
                        row.seconds.append(took)
                        row.steps.append(report["timings"])
                        log(f"deploy {app} {i + 1}/{reps}: {took:.2f} s {report['timings']}")
                    time.sleep(1.0)
                row.requests, row.failed, row.retried = load.ok, len(load.failures), load.retries
                row.failures = load.failures[:5]
            finally:
                apache.stop()
                apache.__exit__(None, None, None)
            rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def deploy_lines(rows: list[DeployRow]) -> list[str]:
    """The report's deploy section."""
    med = statistics.median
    lines = [
        "## Deploy (issue 11)",
        "",
        "`mod-wasm deploy --bundle` to a running Apache (event MPM), timed from the command's start to its exit "
        "(configtest of the candidate, preflight in a private Apache, swap, graceful, wasm-status reports the new "
        "release, every route answers), alternating two bundles, while 4 threads request the route (half on "
        "kept-alive connections; a request on a kept-alive connection the graceful restart closed is retried once, "
        "as HTTP clients do).",
        "",
        "| app | deploys | median s | every run (s) | configtest / preflight / switch / verify (median ms) "
        "| requests under load | failed | retried |",
        "|---|---:|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        steps = " / ".join(f"{med(s[k] for s in r.steps):.0f}"
                           for k in ("configtest_ms", "preflight_ms", "switch_ms", "verify_ms"))
        lines.append(f"| {r.app} | {len(r.seconds)} | {med(r.seconds):.2f} | "
                     f"{', '.join(f'{x:.2f}' for x in r.seconds)} | {steps} | {r.requests} | {r.failed} | {r.retried} |")
    for r in rows:
        if r.failures:
            lines.append(f"\nFailures during the {r.app} deploys (first {len(r.failures)}): "
                         + "; ".join(r.failures))
    return lines + [""]


def deploy_smoke(reps: int = 1, python: bool = True) -> list[DeployRow]:
    """The deploy measurement against the default build outputs (`make PROFILE=debug` or release,
    whichever MOD_WASM_PROFILE names), for a quick check without the release benchmark build."""
    from harness import CLI, MOD_WASM_SO, wasm_path  # noqa: PLC0415

    py = REPO / "build" / "python" / "python-3.11.3.wasm"
    rows = measure_deploys(CLI, MOD_WASM_SO, wasm_path("hello"), py if python and py.is_file() else None, reps)
    print("\n".join(deploy_lines(rows)))
    return rows


# ---------------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------------


def first_line(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (res.stdout + res.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wasmtime = "?"
    m = re.search(r'name = "wasmtime"\nversion = "([^"]+)"', (REPO / "Cargo.lock").read_text())
    if m:
        wasmtime = m.group(1)
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": f"{platform.system()} {platform.release()}",
        "apache": first_line([str(APACHE_BIN), "-v"]),
        "rustc": first_line(["rustc", "--version"]),
        "wasmtime": wasmtime,
        "clang": first_line(["clang", "--version"]),
        "wrk": first_line(["wrk", "--version"]),
        "commit": first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-build", action="store_true", help="reuse build/bench/ from an earlier run")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each start-up measurement (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds over the endpoints (default 3)")
    ap.add_argument("--deploy-reps", type=int, default=3, help="timed deploys per app (default 3)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = ap.parse_args()

    cli = RELEASE / "mod-wasm"
    for tool in ("wrk", "apxs", "clang", "cc", "cargo"):
        if not shutil.which(tool):
            raise SystemExit(f"bench: `{tool}` not found (Debian: apt-get install wrk apache2-dev clang lld wasi-libc)")
    a = artefacts() if args.no_build else build()
    missing = [str(p) for p in (a.mod_wasm, a.hello, a.cgi_echo, a.native_cgi_dir / "hello", a.python, cli)
               if not p.exists()]
    if missing:
        raise SystemExit("bench: missing build outputs (run without --no-build): " + ", ".join(missing))
    mach = machine()
    log(f"machine: {mach}")

    # ---- start-up --------------------------------------------------------------------------
    cold, warm, graceful, dry = [], [], [], []
    compile_lines: list[str] = []
    cache_root = Path(tempfile.mkdtemp(prefix="mod-wasm-bench-cache-"))
    try:
        for rep in range(args.reps):
            cache = cache_root / f"rep{rep}"
            cache.mkdir()
            first = new_apache(a, cache)
            t0 = time.monotonic()
            first.start()
            cold.append(wait_for_python(first, t0))
            compile_lines += [ln for ln in first.error_log().splitlines() if "compiled" in ln and "python" in ln]
            first.stop()
            first.__exit__(None, None, None)

            second = new_apache(a, cache)
            t0 = time.monotonic()
            second.start()
            warm.append(wait_for_python(second, t0))
            graceful.append(graceful_to_python(second))
            dry.append(configtest_seconds(second))
            second.stop()
            second.__exit__(None, None, None)
            log(f"start-up rep {rep + 1}: cold {cold[-1]:.3f} s, warm {warm[-1]:.3f} s, "
                f"graceful {graceful[-1]:.3f} s, -t {dry[-1]:.3f} s")

        # ---- throughput: one Apache ----------------------------------------------------------
        apache = new_apache(a, cache_root / "rep0")
        apache.start()
        wait_for_python(apache, time.monotonic())
        base = apache.base_url
        # The same server with a wasm-status location, measured in the same rounds: the counters
        # must not cost the hot path.
        with_status = new_apache(a, cache_root / "rep0", with_status=True)
        with_status.start()
        if with_status.get("/wasm-status?json").status != 200:
            raise SystemExit(f"bench: /wasm-status does not answer\n{with_status.diagnostics()}")
        endpoints = [
            ("static file", "/static.txt", HELLO_TEXT),
            ("hello (Wasm)", "/hello", HELLO_TEXT),
            ("cgi_echo (Wasm, CGI)", "/echo", b"argv[0]="),
            ("hello (native CGI, mod_cgid)", "/cgi-bin/hello", HELLO_TEXT),
            (PY_GET, PY_ROUTE, b"prettyfy: POST a JSON document"),
            (PY_POST, PY_ROUTE, b'"name": "bench"'),
            (HELLO_COMPONENT, "/c/hello", HELLO_TEXT),
            (PYC_GET, PY_COMPONENT_ROUTE, b"prettyfy: POST a JSON document"),
            (PYC_POST, PY_COMPONENT_ROUTE, b'"name": "bench"'),
        ]
        # The same Python component under the reference server, in the same rounds.
        serve = WasmtimeServe(a.python_component) if WASMTIME.is_file() else None
        if serve is not None:
            serve.wait_ready()
        else:
            log(f"{WASMTIME} is not installed: the `wasmtime serve` rows are left out")
        peers = [(SERVE_GET, "/", None), (SERVE_POST, "/", None)] if serve is not None else []
        post_lua = OUT / "post.lua"
        post_lua.write_text(POST_LUA)
        results: dict[str, Load] = {}
        python: dict[str, tuple[Load, Load]] = {}
        try:
            for label, path, marker in endpoints:
                script = post_lua if label in POST_ROWS else None
                if script:
                    r = apache.post(path, POST_BODY, headers={"Content-Type": "application/json"})
                else:
                    r = apache.get(path)
                if r.status != 200 or marker not in r.body:
                    raise SystemExit(f"bench: {path} answered {r!r}\n{apache.diagnostics()}")
                wrk(base + path, 2, 16, 1, script)  # warm-up
            # Rounds interleave the endpoints, so a burst of other work on the machine hits them alike;
            # each figure is the median over the rounds.
            runs: dict[str, list[Load]] = {label: [] for label, _, _ in endpoints + peers}
            runs[STATUS_ROW] = []
            for round_ in range(args.rounds):
                for label, path, _ in endpoints + peers:
                    script = post_lua if label in POST_ROWS else None
                    server = serve if label in (SERVE_GET, SERVE_POST) else apache
                    runs[label].append(measured(server, server.base_url + path, 2, 16, args.duration, script))
                    log(f"round {round_ + 1}: {label}: {runs[label][-1]}")
                    if label == "hello (Wasm)":
                        # Right after the same endpoint without the location, so both see the same
                        # machine (not after the Python rows, which leave it busier).
                        runs[STATUS_ROW].append(
                            measured(with_status, with_status.base_url + "/hello", 2, 16, args.duration))
                        log(f"round {round_ + 1}: {STATUS_ROW}: {runs[STATUS_ROW][-1]}")
            results = {label: median_load(loads) for label, loads in runs.items()}
            r = apache.get("/python-version")
            if r.status != 200 or not r.body.startswith(b"Python 3.11"):
                raise SystemExit(f"bench: /python-version answered {r!r}")
            py_version = measured(apache, base + "/python-version", 1, 1, args.duration)
            log(f"python -V: {py_version}")
            sequential = [(PY_GET, apache, PY_ROUTE, None), (PY_POST, apache, PY_ROUTE, post_lua),
                          (PYC_GET, apache, PY_COMPONENT_ROUTE, None), (PYC_POST, apache, PY_COMPONENT_ROUTE, post_lua)]
            if serve is not None:
                sequential += [(SERVE_GET, serve, "/", None), (SERVE_POST, serve, "/", post_lua)]
            for label, server, path, script in sequential:
                one = measured(server, server.base_url + path, 1, 1, args.duration, script)
                eight = measured(server, server.base_url + path, 2, 8, args.duration, script)
                python[label] = (one, eight)
                log(f"{label}: 1 conn {one}; 8 conns {eight}")
            error_log = apache.error_log() + with_status.error_log()
        finally:
            if serve is not None:
                serve.stop()
            apache.stop()
            apache.__exit__(None, None, None)
            with_status.stop()
            with_status.__exit__(None, None, None)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)

    # ---- deploy: the release CLI puts new releases live on a running Apache under load ---------
    deploys = measure_deploys(cli, a.mod_wasm, a.hello, a.python, args.deploy_reps)
    mach["load after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    crashes = [ln for ln in error_log.splitlines() if "exit signal" in ln or "Segmentation" in ln]

    # ---- report ------------------------------------------------------------------------------
    static = results["static file"].rps
    hello = results["hello (Wasm)"].rps
    native = results["hello (native CGI, mod_cgid)"].rps
    c, w, g, t = (statistics.median(x) for x in (cold, warm, graceful, dry))
    targets = [
        ("hello ≥ 0.6× static", f"{hello / static:.2f}×", hello / static >= 0.6),
        ("hello ≥ 10× native CGI", f"{hello / native:.1f}×", hello / native >= 10),
        ("hello with a wasm-status location within 3% of without (issue 10)",
         f"{results[STATUS_ROW].rps / hello:.3f}×", results[STATUS_ROW].rps / hello >= 0.97),
        ("warm start ≤ 0.1× cold", f"{w / c:.3f}×", w / c <= 0.1),
        ("graceful restart ≤ 0.1× cold", f"{g / c:.3f}×", g / c <= 0.1),
        ("apache2 -t ≤ 0.1× cold", f"{t / c:.3f}×", t / c <= 0.1),
    ]
    failed_in_deploys = sum(r.failed for r in deploys)
    targets.append(("failed requests under load during the deploys (issue 11)", str(failed_in_deploys),
                    failed_in_deploys == 0))
    for label, (one, eight) in python.items():
        if label not in (PY_GET, PY_POST):
            continue
        short = "GET" if label == PY_GET else "POST JSON"
        targets += [
            (f"Python {short} p50 (1 conn) ≤ 30 ms", f"{one.p50_ms:.1f} ms", one.p50_ms <= 30),
            (f"Python {short} 8 conns ≥ 1.5× 1 conn", f"{eight.rps / one.rps:.2f}×", eight.rps / one.rps >= 1.5),
        ]

    # Components (issue 13): the component against the preview 1 route, and against the reference server.
    for short, p1, comp, peer in (("GET", PY_GET, PYC_GET, SERVE_GET), ("POST JSON", PY_POST, PYC_POST, SERVE_POST)):
        ratio = results[comp].rps / results[p1].rps
        p50 = python[comp][0].p50_ms / python[p1][0].p50_ms
        targets += [
            (f"Python {short}: component ≥ 10× the preview 1 route's req/s (issue 13)", f"{ratio:.1f}×", ratio >= 10),
            (f"Python {short}: component p50 (1 conn) ≤ 0.1× the preview 1 route's", f"{p50:.3f}×", p50 <= 0.1),
        ]
        if peer in results:
            vs = results[comp].rps / results[peer].rps
            targets.append((f"Python {short}: Apache + component ≥ 1.0× `wasmtime serve` req/s", f"{vs:.2f}×", vs >= 1.0))
    hc = results[HELLO_COMPONENT].rps / hello
    targets.append(("hello command component ≥ 0.7× the hello core module's req/s", f"{hc:.2f}×", hc >= 0.7))

    lines = [
        "# Benchmark results",
        "",
        f"Written by `python3 bench/run.py` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(commit {mach['commit']}). One Apache (event MPM, loopback), release build, `wrk -t2 -c16 -d{args.duration}s "
        "--latency` per endpoint after a 1 s warm-up, "
        f"median of {args.rounds} interleaved rounds. The machine is shared: numbers are one run's, not a lab's.",
        "",
        "## Throughput",
        "",
        "| endpoint | req/s | p50 | p99 | × static | CPU/request | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, res in results.items():
        lines.append(f"| {label} | {res.rps:,.0f} | {res.p50_ms:.2f} ms | {res.p99_ms:.2f} ms | "
                     f"{res.rps / static:.2f} | {res.cpu_ms:.3f} ms | {res.errors} |")
    lines += ["", "Python alone, sequential (`-t1 -c1`) and at 8 connections (`-t2 -c8`):", "",
              "| request | conns | req/s | p50 | p99 | CPU/request |", "|---|---:|---:|---:|---:|---:|"]
    for label, (one, eight) in python.items():
        for n, res in ((1, one), (8, eight)):
            lines.append(f"| {label} | {n} | {res.rps:.1f} | {res.p50_ms:.1f} ms | {res.p99_ms:.1f} ms | "
                         f"{res.cpu_ms:.1f} ms |")
    lines.append(f"| `python -V` (instantiate the 20 MB module, no CPython start-up) | 1 | {py_version.rps:.1f} | "
                 f"{py_version.p50_ms:.2f} ms | {py_version.p99_ms:.2f} ms | {py_version.cpu_ms:.2f} ms |")
    lines += [
        "",
        f"{PY_GET}: the usage text (interpreter start, no imports); {PY_POST}: pretty-prints the wrk script's "
        "document (imports `json`, hence `re`). CPU/request is the user + system time of Apache's processes (and of "
        "the CGI processes they reaped) over the run, divided by the requests served: what a request costs, whatever else the shared machine runs "
        "(the p50s include waiting for a core).",
        "",
        "Components: the same prettyfy logic as a componentize-py wasi:http component (CPython initialised and "
        "`json` imported at build time), instantiated per request from the pool with copy-on-write memory. "
        + (f"`wasmtime serve` rows: `{WASMTIME.relative_to(REPO)} serve -S cli=y` of the same component file (its "
           "default engine settings), CPU/request from its process." if WASMTIME.is_file()
           else "`wasmtime serve` was not installed for this run."),
        "",
        f"## Start-up to the first Python response (median of {args.reps})",
        "",
        "| measure | seconds | × cold | every run |",
        "|---|---:|---:|---|",
        f"| cold (empty WasmCacheDir) | {c:.3f} | 1.000 | {', '.join(f'{x:.3f}' for x in cold)} |",
        f"| warm (cache filled, fresh Apache) | {w:.3f} | {w / c:.3f} | {', '.join(f'{x:.3f}' for x in warm)} |",
        f"| graceful restart (SIGUSR1) | {g:.3f} | {g / c:.3f} | {', '.join(f'{x:.3f}' for x in graceful)} |",
        f"| `apache2 -t` | {t:.3f} | {t / c:.3f} | {', '.join(f'{x:.3f}' for x in dry)} |",
        "",
    ]
    if compile_lines:
        lines += ["Compile of the interpreter at a cold start, as logged: "
                  + "; ".join(sorted({re.sub(r'^.*mod_wasm: ', '', ln) for ln in compile_lines})[:3]), ""]
    lines += deploy_lines(deploys)
    lines += ["## Targets (issue 3)", "", "| target | measured | |", "|---|---:|---|"]
    lines += [f"| {name} | {value} | {verdict(ok)} |" for name, value, ok in targets]
    hello_cpu = results["hello (Wasm)"].cpu_ms
    lines += ["", "By CPU time per request, which the other work on a shared machine disturbs less than req/s: "
              f"hello costs {hello_cpu / results['static file'].cpu_ms:.2f}× the static file's CPU "
              f"(so at most {results['static file'].cpu_ms / hello_cpu:.2f}× its throughput when CPU-bound), "
              f"the native CGI {results['hello (native CGI, mod_cgid)'].cpu_ms / hello_cpu:.1f}× hello's."]
    lines += ["", f"Apache children that died on a signal during the run: {len(crashes)}.", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in mach.items()]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
