"""End-to-end tests of the `mod-wasm` CLI against a real Apache and real Wasm modules (clang-built samples).

- `mod-wasm build` on each sample manifest (samples/hello, samples/echo) writes a bundle whose `wasm.conf`
  is included into a real Apache config (the harness's, under event and prefork): `apache2 -t` passes,
  the server loads the CLI's precompiled `.cwasm` files (not a recompile), and requests get the answers
  the manifest asks for (args, env, CGI, mapped folder, headers, internal redirect).
- A second build with nothing changed compiles nothing (the reported counts).
- `wasm.conf` on its own loads mod_wasm through its guarded `LoadModule`.
- Quoting: arguments with quotes, backslashes and spaces reach the module byte for byte.
- `mod-wasm up` serves on its port, stops cleanly on SIGINT (Ctrl-C) and SIGTERM, and a configuration Apache refuses is a
  located diagnostic with exit code 1.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import (
    CLI,
    MOD_WASM_SO,
    REPO,
    Apache,
    assert_no_crash,
    fnv1a64,
    free_port,
    parse_echo,
    request,
    wasm_path,
)

SAMPLES = REPO / "samples"
HELLO = "Hello, World! (from a WASI module served by Apache)\n"



def mod_wasm(
    *args: str | Path, check: bool = True, timeout: float = 300, cache: Path | None = None
) -> subprocess.CompletedProcess:
    """Runs the CLI (with `cache` as its compiled-code cache, when given); with check, fails the test
    with its output on a non-zero exit."""
    env = {**os.environ, "NO_COLOR": "1", "MOD_WASM_SO": str(MOD_WASM_SO)}
    if cache is not None:
        env["MOD_WASM_CACHE_DIR"] = str(cache)
    res = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert res.returncode == 0, f"mod-wasm {' '.join(map(str, args))} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def build(manifest: Path, out: Path) -> dict:
    """`mod-wasm build --json MANIFEST --out OUT`: the parsed JSON report. The compiled-code cache is
    private to OUT's folder, so the compiled/reused counts do not depend on earlier runs."""
    res = mod_wasm("build", "--json", manifest, "--out", out, cache=out.parent / "compiled-cache")
    report = json.loads(res.stdout)
    assert report["ok"] is True
    assert Path(report["wasm_conf"]) == out / "wasm.conf"
    return report


def include(bundle: Path) -> str:
    return f'Include "{bundle / "wasm.conf"}"\n'


# ------------------------------------------------------------------------------------------------
# build + Include into a real Apache
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hello_bundle(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-hello") / "bundle"
    os.chmod(out.parent, 0o755)
    report = build(SAMPLES / "hello" / "app.kdl", out)
    assert (report["compiled"], report["reused"]) == (1, 0)
    return out


@pytest.fixture(scope="module")
def echo_bundle(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-echo") / "bundle"
    os.chmod(out.parent, 0o755)
    report = build(SAMPLES / "echo" / "app.kdl", out)
    assert (report["compiled"], report["reused"]) == (4, 0), report
    return out


def test_bundle_layout_and_lock(echo_bundle):
    lock = json.loads((echo_bundle / "bundle.lock").read_text())
    assert lock["app"] == "echo"
    assert [m["name"] for m in lock["modules"]] == ["echo", "headers", "hello", "fs"]
    for m in lock["modules"]:
        for suffix in (".wasm", ".cwasm", ".cwasm.meta"):
            assert (echo_bundle / "modules" / f"{m['name']}{suffix}").is_file()
        assert m["resolved"] == str(wasm_path({"echo": "cgi_echo"}.get(m["name"], m["name"])))
    conf = (echo_bundle / "wasm.conf").read_text()
    assert "<IfModule !wasm_module>" in conf and f'LoadModule wasm_module "{MOD_WASM_SO.resolve()}"' in conf
    assert conf.count("SetHandler wasm-handler") == 4
    assert f'WasmModule "{echo_bundle}/modules/echo.cwasm"' in conf


def test_second_build_compiles_nothing(cli, tmp_path):
    out = tmp_path / "bundle"
    first = build(SAMPLES / "echo" / "app.kdl", out)
    second = build(SAMPLES / "echo" / "app.kdl", out)
    assert (first["compiled"], first["reused"]) == (4, 0)
    assert (second["compiled"], second["reused"]) == (0, 4)
    assert [m["cwasm_sha256"] for m in first["modules"]] == [m["cwasm_sha256"] for m in second["modules"]]


def test_hello_bundle_serves(apache_factory, hello_bundle, mpm):
    apache = Apache(mpm=mpm, extra_conf=include(hello_bundle))
    code, out = apache.configtest()
    assert code == 0 and "Syntax OK" in out, out
    apache = apache_factory(mpm=mpm, extra_conf=include(hello_bundle))
    r = apache.get("/hello")
    assert r.status == 200, r
    assert r.text == HELLO
    # The server took the CLI's precompiled code: its sidecar matched this runtime's engine.
    assert f"precompiled {hello_bundle}/modules/hello.cwasm" in apache.error_log(), apache.diagnostics()


def test_echo_bundle_serves_every_route(apache_factory, echo_bundle, mpm):
    apache = apache_factory(mpm=mpm, extra_conf=include(echo_bundle))
    body = b"posted body \x00\xff" * 100
    r = apache.post("/echo/extra/path?x=1", body)
    assert r.status == 200, r
    echo = parse_echo(r.body)
    assert echo["argv"][1:] == ["--greeting", "hello from app.kdl"]
    assert echo["env"]["GREETING"] == "hi"
    assert echo["env"]["APP"] == "echo sample"
    assert echo["env"]["SCRIPT_NAME"] == "/echo"
    assert echo["env"]["PATH_INFO"] == "/extra/path"
    assert echo["env"]["QUERY_STRING"] == "x=1"
    assert echo["stdin_bytes"] == len(body)
    assert echo["stdin_fnv1a64"] == fnv1a64(body)

    r = apache.get("/headers")
    assert r.status == 201, r
    assert r.header_all("Set-Cookie") == ["first=1; Path=/", "second=2; Path=/"]
    assert r.header("X-Demo") == "headers sample"
    r = apache.get("/headers?local")
    assert r.status == 200 and r.text == HELLO, r

    r = apache.get("/files")
    assert r.status == 200, r
    assert "list /data: hello.txt" in r.text
    assert "open /data/hello.txt: ok This file is inside the echo sample's mapped folder (/data)." in r.text
    assert "open /data/../outside/secret.txt: ok" not in r.text

    log = apache.error_log()
    for name in ("echo", "headers", "hello", "fs"):
        assert f"precompiled {echo_bundle}/modules/{name}.cwasm" in log, apache.diagnostics()


def test_wasm_conf_alone_loads_mod_wasm(apache_factory, hello_bundle):
    """Without the harness's own LoadModule, the bundle's guarded LoadModule brings mod_wasm in."""
    apache = apache_factory(mpm="event", load_mod_wasm=False, extra_conf=include(hello_bundle))
    r = apache.get("/hello")
    assert r.status == 200 and r.text == HELLO, r


QUOTING = r"""app "quoting"
module "echo" source="ECHO"
route "/q w" module="echo" {
    arg "with \"quotes\" and \\ backslash"
    arg "  spaces  "
    env "ODD" "a \"b\" \\c 'd'"
    cgi #true
}
"""


def test_quoted_values_reach_the_module_byte_for_byte(apache_factory, cli, tmp_path):
    os.chmod(tmp_path, 0o755)
    manifest = tmp_path / "app.kdl"
    manifest.write_text(QUOTING.replace("ECHO", str(wasm_path("cgi_echo"))).replace("/q w", "/quoted"))
    build(manifest, tmp_path / "bundle")
    apache = apache_factory(mpm="event", extra_conf=include(tmp_path / "bundle"))
    r = apache.get("/quoted")
    assert r.status == 200, r
    echo = parse_echo(r.body)
    assert echo["argv"][1:] == ['with "quotes" and \\ backslash', "  spaces  "]
    assert echo["env"]["ODD"] == "a \"b\" \\c 'd'"


def test_init_starter_serves(apache_factory, cli, tmp_path):
    """`mod-wasm init` writes a starter that works as is: its WAT-built module answers over CGI."""
    os.chmod(tmp_path, 0o755)
    mod_wasm("init", tmp_path / "starter")
    build(tmp_path / "starter" / "app.kdl", tmp_path / "starter" / "bundle")
    apache = apache_factory(mpm="event", extra_conf=include(tmp_path / "starter" / "bundle"))
    r = apache.get("/hello")
    assert r.status == 200, r
    assert r.text == "Hello from WebAssembly!\n"
    assert r.header("Content-Type").startswith("text/plain"), r


def test_python_sample_builds_pinned_and_serves(apache_factory, cli, tmp_path):
    """samples/python/app.kdl: the sha256-pinned WASI CPython, precompiled by the CLI, runs prettyfy."""
    fetch = subprocess.run([str(SAMPLES / "fetch-python.sh")], capture_output=True, text=True, timeout=600)
    assert fetch.returncode == 0, f"samples/fetch-python.sh failed:\n{fetch.stdout}{fetch.stderr}"
    os.chmod(tmp_path, 0o755)
    report = build(SAMPLES / "python" / "app.kdl", tmp_path / "bundle")
    assert report["modules"][0]["sha256"] == "658cb6add2bbf8dfe84d67fb85430956d5a8b2b1d694d33432d654cdf048f813"
    apache = apache_factory(mpm="event", extra_conf=include(tmp_path / "bundle"), start_timeout=120.0)
    # The port opens before post_config has loaded the module: wait for the load line.
    apache.wait_for_log(re.escape(f"precompiled {tmp_path}/bundle/modules/python.cwasm"), timeout=120)
    r = apache.post("/prettyfy?indent=4&sort=1", b'{"b":[1,2],"a":null}', headers={"Content-Type": "application/json"},
                    timeout=120)
    assert r.status == 200, r
    assert json.loads(r.body) == {"a": None, "b": [1, 2]}
    assert r.text.startswith('{\n    "a": null'), r.text


# ------------------------------------------------------------------------------------------------
# mod-wasm up
# ------------------------------------------------------------------------------------------------


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"mod-wasm up exited {proc.returncode} before serving:\n{out}\n{err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"mod-wasm up did not listen on {port} within {timeout:.0f} s")


def port_closed(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_up_serves_and_stops_on_signal(cli, tmp_path, stop_signal):
    port = free_port()
    proc = subprocess.Popen(
        [str(CLI), "up", str(SAMPLES / "hello" / "app.kdl"), "--listen", f"127.0.0.1:{port}",
         "--out", str(tmp_path / "bundle")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "NO_COLOR": "1", "MOD_WASM_SO": str(MOD_WASM_SO)},
    )
    try:
        wait_for_port(port, proc)
        r = request(port, "GET", "/hello")
        assert r.status == 200 and r.text == HELLO, r
        r = request(port, "GET", "/nothing-here")
        assert r.status == 404, r
        os.kill(proc.pid, stop_signal)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    assert f"Serving `hello` on http://127.0.0.1:{port}/" in err
    assert "Apache stopped." in err
    assert "GET /hello HTTP/1.1\" 200" in out, out  # the access log goes to stdout
    assert_no_crash(err)
    assert port_closed(port), "Apache still listens after mod-wasm up exited"


def test_up_reports_a_config_apache_refuses(cli, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    builtin = (REPO / "templates" / "httpd.conf.j2").read_text()
    (templates / "httpd.conf.j2").write_text(builtin.replace("LogLevel warn", "LogLevel warn\nNoSuchDirective on"))
    res = mod_wasm("up", SAMPLES / "hello" / "app.kdl", "--listen", f"127.0.0.1:{free_port()}",
                   "--out", tmp_path / "bundle", "--templates", templates, check=False, timeout=120)
    assert res.returncode == 1, res
    assert "Apache refused the configuration" in res.stderr, res.stderr
    assert "NoSuchDirective" in res.stderr and "apache::config" in res.stderr, res.stderr
    assert "httpd.conf:" in res.stderr, res.stderr  # located: FILE:LINE:COL


def test_check_reports_problems_with_locations(cli, tmp_path):
    manifest = tmp_path / "app.kdl"
    manifest.write_text('app "x"\nmodule "hello" source="nope.wasm"\nroute "/hi" module="helo" {\n    mapdir "/a" "b"\n}\n')
    res = mod_wasm("check", "--json", manifest, check=False)
    assert res.returncode == 1
    problems = {(p["code"], p["line"], p["column"]) for p in json.loads(res.stdout)["problems"] if p["level"] == "error"}
    assert problems == {
        ("manifest::missing-file", 2, 23),
        ("manifest::unknown-module", 3, 20),
        ("manifest::unknown-node", 4, 5),
    }
