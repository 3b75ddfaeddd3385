"""mod-wasm deploy / releases / rollback (issue 11) against a real Apache under real load.

The Apache here is the "running server" of a user: its httpd.conf includes ROOT/current/wasm.conf
once (IncludeOptional), and deploy drives it with `--apachectl "/usr/sbin/apache2 -f CONF"`.
A load generator keeps requesting the deployed route on fresh and kept-alive connections while
deploys happen. It counts as an HTTP client does: a request sent on a kept-alive connection that
the server closed (a graceful restart closes idle connections, as for static files) is retried
once on a new connection (RFC 9112 section 9.3.1) and reported as a retry; any other error, any
non-2xx status, or a body that belongs to neither release involved, is a failure.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import APACHE_BIN, CLI, WASM_DIR, Apache, LoadLoop, assert_no_crash

BODIES = {
    "hello": b"Hello, World! (from a WASI module served by Apache)\n",
    "stderr": b"body of the stderr sample\n",
}


def manifest(folder: Path, module: str, route: str = "/app", app: str = "deployed") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "app.kdl"
    path.write_text(
        f'app "{app}"\nmodule "m" source="{WASM_DIR / (module + ".wasm")}"\nroute "{route}" module="m"\n'
    )
    return path


def cli(*args, check: bool = True, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e["NO_COLOR"] = "1"
    e.update(env or {})
    res = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=e)
    if check:
        assert res.returncode == 0, f"mod-wasm {' '.join(map(str, args))} exited {res.returncode}:\n{res.stdout}\n{(res.stdout + res.stderr)}"
    return res


def build(manifest_path: Path, out: Path, cache: Path) -> Path:
    cli("build", manifest_path, "--out", out, env={"MOD_WASM_CACHE_DIR": str(cache)})
    return out


@pytest.fixture
def live(built, tmp_path, request):
    """A running Apache whose config includes ROOT/current/wasm.conf, and the deploy switches."""
    mpm = getattr(request, "param", "event")
    root = tmp_path / "root"
    a = Apache(mpm=mpm, modules=("authz_host",), extra_conf=f"IncludeOptional {root}/current/wasm.conf\n")
    a.start()
    cache = tmp_path / "cc"
    bundles = {name: build(manifest(tmp_path / f"m-{name}", name), tmp_path / f"b-{name}", cache) for name in BODIES}
    switches = ["--root", root, "--apachectl", f"{APACHE_BIN} -f {a.conf_path}", "--url", a.base_url]
    yield a, root, bundles, switches
    a.stop()
    assert_no_crash(a)
    a.__exit__(None, None, None)


def deploy(bundle: Path, switches: list, *extra, check: bool = True) -> subprocess.CompletedProcess:
    return cli("--json", "deploy", "--bundle", bundle, *switches, *extra, check=check)


def releases(root: Path) -> dict:
    return json.loads(cli("--json", "releases", "--root", root).stdout)


@pytest.mark.parametrize("live", ["event", "prefork"], indirect=True)
def test_ten_deploys_under_load_fail_no_request(live):
    a, root, bundles, switches = live
    deploy(bundles["hello"], switches)
    assert a.get("/app").body == BODIES["hello"]
    order = ["stderr", "hello"] * 5
    with LoadLoop(a.port, "/app", set(BODIES.values())) as load:
        for name in order:
            report = json.loads(deploy(bundles[name], switches).stdout)
            assert report["outcome"] == "ok", report
            assert a.get("/app").body == BODIES[name]
    assert load.failures == [], load.failures[:10]
    assert load.ok > 100, load.ok
    print(f"\nload: {load.ok} ok, {load.retries} retried on a closed kept-alive connection, 0 failed")
    listing = releases(root)
    assert len(listing["releases"]) == 5, listing  # --keep 5 by default
    assert listing["releases"][0]["current"] and listing["releases"][0]["outcome"] == "ok"
    # Each release's wasm.conf names its own files, never `current`.
    for rel in (root / "releases").iterdir():
        text = (rel / "wasm.conf").read_text()
        assert "/current/" not in text and f"{rel}/modules/" in text


def test_a_release_that_fails_preflight_never_goes_live(live, tmp_path):
    a, root, bundles, switches = live
    deploy(bundles["hello"], switches)
    bad = build(manifest(tmp_path / "m-bad", "trap"), tmp_path / "b-bad", tmp_path / "cc")
    with LoadLoop(a.port, "/app", {BODIES["hello"]}) as load:
        res = deploy(bad, switches, check=False)
    assert res.returncode == 1, res
    assert "deploy::preflight" in (res.stdout + res.stderr) and "/app answered 500" in (res.stdout + res.stderr), (res.stdout + res.stderr)
    assert load.failures == [], load.failures[:10]
    assert a.get("/app").body == BODIES["hello"]
    listing = releases(root)
    assert [r["outcome"] for r in listing["releases"]][:2] == ["failed", "ok"], listing
    assert listing["releases"][1]["current"]


def test_without_preflight_a_bad_release_is_rolled_back_by_itself(live, tmp_path):
    a, root, bundles, switches = live
    deploy(bundles["hello"], switches)
    before = releases(root)["current"]
    bad = build(manifest(tmp_path / "m-bad", "trap"), tmp_path / "b-bad", tmp_path / "cc")
    res = deploy(bad, switches, "--no-preflight", check=False)
    assert res.returncode == 1, res
    assert "deploy::verify" in (res.stdout + res.stderr) and f"rolled back to {before}" in (res.stdout + res.stderr), (res.stdout + res.stderr)
    assert a.get("/app").body == BODIES["hello"]
    listing = releases(root)
    assert listing["current"] == before
    assert listing["releases"][0]["outcome"] == "failed"


def test_a_bundle_apache_refuses_changes_nothing(live, tmp_path):
    a, root, bundles, switches = live
    deploy(bundles["hello"], switches)
    before = releases(root)["current"]
    tampered = tmp_path / "tampered"
    subprocess.run(["cp", "-r", str(bundles["stderr"]), str(tampered)], check=True)
    conf = tampered / "wasm.conf"
    conf.write_text(conf.read_text() + "\nWasmTimeout 0\n")
    res = deploy(tampered, switches, check=False)
    assert res.returncode == 1 and "deploy::configtest" in (res.stdout + res.stderr), (res.stdout + res.stderr)
    assert "WasmTimeout" in (res.stdout + res.stderr), (res.stdout + res.stderr)
    assert releases(root)["current"] == before
    assert a.get("/app").body == BODIES["hello"]


def test_a_config_without_the_include_gets_the_line_to_add(built, tmp_path):
    a = Apache(modules=("authz_host",))
    a.start()
    try:
        root = tmp_path / "root"
        bundle = build(manifest(tmp_path / "m", "hello"), tmp_path / "b", tmp_path / "cc")
        res = deploy(bundle, ["--root", root, "--apachectl", f"{APACHE_BIN} -f {a.conf_path}", "--url", a.base_url],
                     check=False)
        assert res.returncode == 1 and "deploy::not-included" in (res.stdout + res.stderr), (res.stdout + res.stderr)
        assert f"IncludeOptional {root}/current/wasm.conf" in (res.stdout + res.stderr), (res.stdout + res.stderr)
    finally:
        a.stop()
        a.__exit__(None, None, None)


def test_dry_run_changes_nothing(live):
    a, root, bundles, switches = live
    deploy(bundles["hello"], switches)
    before = releases(root)
    report = json.loads(deploy(bundles["stderr"], switches, "--dry-run").stdout)
    assert report["outcome"] == "dry-run"
    assert releases(root)["current"] == before["current"]
    assert a.get("/app").body == BODIES["hello"]


def test_two_deploys_at_once_never_both_switch(live):
    a, root, bundles, switches = live
    deploy(bundles["hello"], switches)
    args = [str(CLI), "--json", "deploy", *map(str, switches)]
    first = subprocess.Popen([*args, "--bundle", str(bundles["stderr"])], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    second = subprocess.run([*args, "--bundle", str(bundles["hello"])], capture_output=True, text=True, timeout=300)
    out1, err1 = first.communicate(timeout=300)
    if second.returncode != 0:
        assert "deploy::locked" in (second.stdout + second.stderr) and "pid" in (second.stdout + second.stderr), (second.stdout + second.stderr)
        assert first.returncode == 0, err1
    else:
        # The first had already finished: they ran one after the other.
        assert first.returncode == 0, err1
    waited = cli("--json", "deploy", "--bundle", bundles["stderr"], *switches, "--lock-wait", "5mi")
    assert json.loads(waited.stdout)["outcome"] == "ok"


def test_kill_minus_nine_never_leaves_a_broken_current(live):
    a, root, bundles, switches = live
    deploy(bundles["hello"], switches)
    rng = random.Random(11)
    args = [str(CLI), "deploy", *map(str, switches)]
    for i in range(10):
        name = "stderr" if i % 2 == 0 else "hello"
        proc = subprocess.Popen([*args, "--bundle", str(bundles[name])], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        current = root / "current"
        assert current.is_symlink()
        assert (current / "wasm.conf").is_file() and (current / "bundle.lock").is_file(), i
        r = a.get("/app")
        assert r.status == 200 and r.body in BODIES.values(), (i, r)
    report = json.loads(deploy(bundles["stderr"], switches).stdout)
    assert report["outcome"] == "ok"
    assert a.get("/app").body == BODIES["stderr"]


def test_keep_and_rollback_under_load(live):
    a, root, bundles, switches = live
    for i in range(6):
        deploy(bundles["hello" if i % 2 else "stderr"], switches, "--keep", "3")
    assert len(releases(root)["releases"]) == 3
    assert a.get("/app").body == BODIES["hello"]
    with LoadLoop(a.port, "/app", set(BODIES.values())) as load:
        res = cli("--json", "rollback", *switches)
    assert load.failures == [], load.failures[:10]
    assert json.loads(res.stdout)["outcome"] == "ok"
    assert a.get("/app").body == BODIES["stderr"]
    listing = releases(root)
    assert [r["outcome"] for r in listing["releases"]][:2] == ["rolled-back", "ok"], listing


# ------------------------------------------------------------------------------------------------
# The manifest's deploy { } block, and --debian
# ------------------------------------------------------------------------------------------------

STATUS_PATH = "/.well-known/mod-wasm/status"


def block_manifest(folder: Path, body: str, module: str = "hello", app: str = "blockapp") -> Path:
    """A manifest with a status node at the path deploy uses and a deploy { } block."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "app.kdl"
    path.write_text(
        f'app "{app}"\nmodule "m" source="{WASM_DIR / (module + ".wasm")}"\nroute "/app" module="m"\n'
        f'status "{STATUS_PATH}"\ndeploy {{\n{body}}}\n'
    )
    return path


def test_the_manifest_deploy_block_supplies_the_settings_and_flags_override_them(built, tmp_path):
    root = tmp_path / "root"
    a = Apache(modules=("authz_host",), extra_conf=f"IncludeOptional {root}/current/wasm.conf\n")
    a.start()
    try:
        # root is relative to the manifest's folder; health "/nope" answers 404, so only --health
        # (which overrides it) lets a deploy through.
        manifest = block_manifest(tmp_path / "m", (
            '    root "../root"\n'
            f'    apachectl "{APACHE_BIN} -f {a.conf_path}"\n'
            f'    url "{a.base_url}"\n'
            "    keep 2\n"
            '    health "/nope"\n'
        ))
        env = {"MOD_WASM_CACHE_DIR": str(tmp_path / "cc")}
        res = cli("deploy", manifest, check=False, env=env)
        assert res.returncode == 1, res
        assert "deploy::preflight" in res.stderr and "/nope answered 404" in res.stderr, res.stderr
        assert [r["outcome"] for r in releases(root)["releases"]] == ["failed"]  # the block's root

        ids = []
        for _ in range(3):
            report = json.loads(cli("--json", "deploy", manifest, "--health", "/app", env=env).stdout)
            assert report["outcome"] == "ok", report
            ids.append(report["id"])
            assert a.get("/app").body == BODIES["hello"]
        listing = releases(root)
        assert [r["id"] for r in listing["releases"]] == ids[:0:-1], listing  # keep 2, from the block
        # The bundle brings the status location deploy reads: no second, identical one.
        conf = (root / "current" / "wasm.conf").read_text()
        assert conf.count("SetHandler wasm-status") == 1, conf
        assert conf.count(f"WasmRelease {ids[-1]}") == 1 and "WasmRelease bundle-" not in conf, conf
        code, out = a.configtest()
        assert code == 0, out
        status = json.loads(a.get(STATUS_PATH + "?json").body)
        assert status["release"] == ids[-1]

        res = cli("--json", "rollback", "--manifest", manifest, "--health", "/app")
        assert json.loads(res.stdout)["id"] == ids[-2]
        assert releases(root)["current"] == ids[-2]
    finally:
        a.stop()
        assert_no_crash(a)
        a.__exit__(None, None, None)


def test_a_bad_deploy_block_stops_deploy_at_its_line(built, tmp_path):
    root = tmp_path / "root"
    manifest = block_manifest(tmp_path / "m", f'    root "{root}"\n    keep 0\n    url "https://x"\n')
    res = cli("deploy", manifest, check=False, env={"MOD_WASM_CACHE_DIR": str(tmp_path / "cc")})
    assert res.returncode == 1, res
    assert "manifest::deploy-keep" in res.stderr and "app.kdl:7:10" in res.stderr, res.stderr
    assert "manifest::deploy-url" in res.stderr and "app.kdl:8:9" in res.stderr, res.stderr
    assert not (root / "releases").exists()


def debian_confdir(public: Path, tmp_path: Path) -> tuple[Apache, Path, dict]:
    """A Debian-style configuration folder in `public` (apache2.conf, envvars, conf-available/,
    conf-enabled/, as /etc/apache2 has them; readable by Apache's children, it is also the
    ServerRoot) whose Apache the harness runs; the environment that points Debian's tools
    (apache2ctl, a2enconf) at it instead of /etc/apache2."""
    confdir = public / "apache2"
    a = Apache(root=confdir, modules=("authz_host",),
               extra_conf="IncludeOptional @ROOT@/conf-enabled/*.conf\n")
    for sub in ("conf-available", "conf-enabled", "lock"):
        (confdir / sub).mkdir()
    (confdir / "apache2.conf").write_text(f'Include "{confdir / "httpd.conf"}"\n')
    (confdir / "envvars").write_text(
        f"export APACHE_RUN_DIR={confdir / 'run'}\n"
        f"export APACHE_LOCK_DIR={confdir / 'lock'}\n"
        f"export APACHE_PID_FILE={confdir / 'run' / 'httpd.pid'}\n"
        f"export APACHE_LOG_DIR={confdir}\n"
        "export LANG=C\n"
    )
    env = {"APACHE_CONFDIR": str(confdir), "APACHE_STATE_DIRECTORY": str(tmp_path / "a2state"),
           "MOD_WASM_CACHE_DIR": str(tmp_path / "cc")}
    return a, confdir, env


def test_deploy_debian_writes_and_enables_the_include_and_reloads_with_apache2ctl(built, tmp_path, public_tmp):
    """`deploy --debian` end to end with Debian's own apache2ctl and a2enconf (run as root, as on a
    Debian server), pointed by APACHE_CONFDIR at a stand-in for /etc/apache2: nothing of the
    system's Apache is touched."""
    a, confdir, env = debian_confdir(public_tmp, tmp_path)
    a.start()
    try:
        root = tmp_path / "root"
        m = manifest(tmp_path / "m", "hello", app="debapp")
        switches = ["--debian", "--root", root, "--url", a.base_url]
        res = cli("deploy", m, *switches, env=env)
        conf = confdir / "conf-available" / "mod-wasm-debapp.conf"
        line = f"IncludeOptional {root}/current/wasm.conf"
        assert line in conf.read_text().splitlines(), conf.read_text()
        enabled = confdir / "conf-enabled" / "mod-wasm-debapp.conf"
        assert enabled.is_symlink() and enabled.resolve() == conf.resolve()
        assert f"Wrote `{line}`" in res.stderr and "a2enconf mod-wasm-debapp" in res.stderr, res.stderr
        assert a.get("/app").body == BODIES["hello"]

        # The next deploy finds the include in place: nothing written, the switch verified.
        manifest(tmp_path / "m", "stderr", app="debapp")
        res = cli("--json", "deploy", m, *switches, env=env)
        assert json.loads(res.stdout)["outcome"] == "ok"
        assert conf.read_text().count(line) == 1
        assert a.get("/app").body == BODIES["stderr"]
        status = json.loads(a.get(STATUS_PATH + "?json").body)
        assert status["release"] == releases(root)["current"]

        res = cli("--json", "rollback", *switches, env=env)
        assert json.loads(res.stdout)["outcome"] == "ok"
        assert a.get("/app").body == BODIES["hello"]
    finally:
        a.stop()
        assert_no_crash(a)


def test_deploy_debian_dry_run_writes_nothing(built, tmp_path, public_tmp):
    a, confdir, env = debian_confdir(public_tmp, tmp_path)
    a.start()
    try:
        root = tmp_path / "root"
        res = cli("--json", "deploy", manifest(tmp_path / "m", "hello", app="debapp"), "--debian", "--root", root,
                  "--url", a.base_url, "--dry-run", env=env)
        assert json.loads(res.stdout)["outcome"] == "dry-run"
        assert list((confdir / "conf-available").iterdir()) == []
        assert list((confdir / "conf-enabled").iterdir()) == []
        assert not (root / "current").exists()
    finally:
        a.stop()
        assert_no_crash(a)
