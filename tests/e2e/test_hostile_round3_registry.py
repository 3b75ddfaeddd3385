"""Hostile round 3 (issue 19), the registry's side: whoever can push to a tag a host follows, or
write near its deploy root, must not get configuration, files or a root of their choosing.

A real Debian `docker-registry` on loopback and real Apaches (tests/e2e/test_fleet.py's Registry
and Host). Hostile bundles are written with the registry's own API: a good bundle's manifest with
its config (the bundle.lock) replaced, the module layers kept, so every digest verifies.

- a lock whose app name, route path, a route setting, the cache folder, the module limits, the
  status path or the opt-level carries a newline and a piped `ErrorLog` is refused
  (`fleet::unsafe-lock`, naming the field) before anything is written or started: the command
  never runs, the root is unchanged, the old release keeps serving; a signature by the host's key
  over such a bundle changes nothing;
- the deploy root is the host's: a bundle named `../x`, `/elsewhere` or another app is refused
  and nothing is created where its name points; `check` refuses such app names at the value;
- StrictModes: a root, ancestor or `releases/` that its group or others may write, or that another
  user owns, is refused with the path and the fix; a root-owned sticky ancestor (/tmp) is fine;
- `--keep 3` leaves at most 3 releases, the protected previous one counted, and failed releases do
  not pile up;
- the release's wasm-status location needs mod_authz_core only (no mod_authz_host); without
  mod_authz_core the release is refused before it goes live, naming the module.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest

from harness import APACHE_BIN, CLI, Apache, assert_no_crash
from test_fleet import BODIES, Host, Registry, base_env, build_bundle, key_pair, push, run

STATUS_PATH = "/.well-known/mod-wasm/status"


@pytest.fixture
def registry(built, tmp_path):
    r = Registry(tmp_path / "registry")
    yield r
    r.stop()


@pytest.fixture
def bundles(tmp_path, built):
    env = base_env(tmp_path / "builder")
    return env, {name: build_bundle(tmp_path / "builder", name, env) for name in ("hello", "stderr", "trap")}


@pytest.fixture
def host(tmp_path, built):
    h = Host(tmp_path / "host")
    yield h
    h.close()


def push_lock(registry: Registry, base: str, lock: dict, tag: str) -> str:
    """The bundle at digest `base` with its bundle.lock replaced by `lock`: a consistent artifact
    (every digest and size right), as anyone with push rights can write it."""
    m = json.loads(registry.manifest(base)[0])
    data = json.dumps(lock, indent=2).encode()
    m["config"] = {**m["config"], "digest": registry.put_blob(data), "size": len(data)}
    return registry.put_manifest(tag, m)


def tree(root: Path) -> dict:
    """Every path under `root` with its size and mode (symlinks: their target)."""
    if not root.exists():
        return {}
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            found[str(p.relative_to(root))] = os.readlink(p) if p.is_symlink() else (p.lstat().st_size, p.lstat().st_mode)
    return found


def injection(marker: Path) -> str:
    """A newline, then a piped ErrorLog that creates `marker` when Apache opens its logs."""
    return f"\nErrorLog '|/usr/bin/touch {marker}'\n#"


# Each field of the lock that reaches wasm.conf, how to poison it, and the name the refusal uses.
POISON = [
    ("app", lambda lock, bad: lock.__setitem__("app", "fleet" + bad), "app"),
    ("route-path", lambda lock, bad: lock["routes"][0].__setitem__("path", "/app" + bad), "routes[0].path"),
    ("env", lambda lock, bad: lock["routes"][0]["settings"].__setitem__("env", [["GREETING", "hi" + bad]]),
     "routes[0].settings.env[0]"),
    ("arg", lambda lock, bad: lock["routes"][0]["settings"].__setitem__("args", ["a" + bad]),
     "routes[0].settings.args[0]"),
    ("timeout", lambda lock, bad: lock["routes"][0]["settings"].__setitem__("timeout", "5s" + bad),
     "routes[0].settings.timeout"),
    ("cache-dir", lambda lock, bad: lock["engine"].__setitem__("cache_dir", "/tmp/c" + bad), "engine.cache_dir"),
    ("module-limits", lambda lock, bad: lock["engine"].__setitem__("module_limits", ["functions=5" + bad]),
     "engine.module_limits[0]"),
    ("opt-level", lambda lock, bad: lock["engine"].__setitem__("opt_level", "speed" + bad), "engine.opt_level"),
    ("status", lambda lock, bad: lock.__setitem__("status", STATUS_PATH + bad), "status"),
    ("map-dir", lambda lock, bad: lock["routes"][0]["settings"].__setitem__(
        "map_dirs", [{"guest": "/d", "host": "/tmp" + bad, "readonly": True}]), "routes[0].settings.map_dirs[0].host"),
]


def test_a_lock_with_a_newline_in_any_rendered_field_is_refused_before_anything_runs(registry, bundles, host, tmp_path):
    env, b = bundles
    good = push(env, b["hello"], registry.ref(":stable"))
    host.deploy(registry.ref(f"@{good}"))
    assert host.body() == BODIES["hello"]
    lock = json.loads((b["hello"] / "bundle.lock").read_text())
    before = tree(host.root)
    private, public = key_pair(tmp_path, "release")
    for name, poison, field in POISON:
        marker = tmp_path / f"ran-{name}"
        hostile = json.loads(json.dumps(lock))
        poison(hostile, injection(marker))
        digest = push_lock(registry, good, hostile, name)
        for extra in ([], ["--verify-key", public]):
            if extra:  # signed by the very key the host trusts: the lock's values are checked all the same
                run(env, "sign", "--key", private, registry.ref(f"@{digest}"))
            res = host.deploy(registry.ref(f"@{digest}"), *extra, check=False)
            out = res.stdout + res.stderr
            assert res.returncode == 1, (name, out)
            assert "fleet::unsafe-lock" in out and f"`{field}`" in out, (name, out)
            assert not marker.exists(), f"{name}: the injected command ran"
            assert tree(host.root) == before, f"{name}: something was written under the root"
            assert host.body() == BODIES["hello"]
    # Other ways out of a value: `${VAR}` expansion, quotes and spaces in a URL path, an empty value,
    # a relative host folder, an environment name Apache refuses.
    for name, poison, field in [
        ("expansion", lambda l: l["routes"][0]["settings"].__setitem__("args", ["${APACHE_RUN_USER}"]),
         "routes[0].settings.args[0]"),
        ("quote", lambda l: l["routes"][0].__setitem__("path", '/app" "/x'), "routes[0].path"),
        ("empty", lambda l: l["routes"][0]["settings"].__setitem__("entry_point", ""),
         "routes[0].settings.entry_point"),
        ("relative", lambda l: l["routes"][0]["settings"].__setitem__("dirs", [{"host": "etc", "readonly": False}]),
         "routes[0].settings.dirs[0].host"),
        ("env-name", lambda l: l["routes"][0]["settings"].__setitem__("env", [["A B", "x"]]),
         "routes[0].settings.env[0]"),
    ]:
        hostile = json.loads(json.dumps(lock))
        poison(hostile)
        res = host.deploy(registry.ref(f"@{push_lock(registry, good, hostile, name)}"), check=False)
        out = res.stdout + res.stderr
        assert res.returncode == 1 and "fleet::unsafe-lock" in out and f"`{field}`" in out, (name, out)
        assert tree(host.root) == before, name
    assert [r["outcome"] for r in host.releases()["releases"]] == ["ok"]


def test_a_following_agent_refuses_a_hostile_lock_and_keeps_serving(registry, bundles, host, tmp_path):
    env, b = bundles
    tag = registry.ref(":stable")
    good = push(env, b["hello"], tag)
    host.deploy(registry.ref(f"@{good}"))
    lock = json.loads((b["hello"] / "bundle.lock").read_text())
    marker = tmp_path / "ran-agent"
    lock["app"] = "fleet" + injection(marker)
    hostile = push_lock(registry, good, lock, "stable")
    log = tmp_path / "agent.jsonl"
    agent = host.follow(tag, log)
    try:
        from test_fleet import log_events, wait_for
        wait_for(lambda: any(e.get("digest") == hostile and e["event"] in ("failed", "refused")
                             for e in log_events(log)), 120, "the agent to refuse the hostile lock", step=0.2)
        time.sleep(3)  # three more polls: the same digest is not tried again
    finally:
        agent.send_signal(15)
        assert agent.wait(timeout=120) == 0
    events = [e for e in log_events(log) if e.get("digest") == hostile]
    refusals = [e for e in events if e["event"] in ("failed", "refused")]
    assert len(refusals) == 1 and refusals[0]["code"] == "fleet::unsafe-lock", events
    assert "`app`" in refusals[0]["message"], refusals
    assert not any(e["event"] in ("deploying", "deployed") for e in events), events
    assert not marker.exists()
    assert host.body() == BODIES["hello"]
    assert [r["outcome"] for r in host.releases()["releases"]] == ["ok"]


def test_the_deploy_root_is_the_hosts_never_the_bundles(registry, bundles, host, tmp_path):
    env, b = bundles
    good = push(env, b["hello"], registry.ref(":stable"))
    lock = json.loads((b["hello"] / "bundle.lock").read_text())
    tag = uuid.uuid4().hex[:8]
    shop, bank, solo = f"shop-{tag}", f"bank-{tag}", f"solo-{tag}"
    elsewhere = tmp_path / "elsewhere"
    system = Path("/var/lib/mod-wasm")
    # Where a bundle-chosen name would put a root (removed afterwards should one appear).
    targets = [system / shop, system.parent / f"x-{tag}", elsewhere, system / bank, system / solo]

    def hostile(app: str, case: str) -> str:
        changed = json.loads(json.dumps(lock))
        changed["app"] = app
        return push_lock(registry, good, changed, case)

    digests = {"dotdot": hostile(f"../x-{tag}", "dotdot"), "absolute": hostile(str(elsewhere), "absolute"),
               "other-app": hostile(bank, "other-app")}
    settings = tmp_path / "shop.kdl"
    # The host manifest names the app and no root: the root is /var/lib/mod-wasm/<the host's app>.
    settings.write_text(f'app "{shop}"\ndeploy {{\n    apachectl "{APACHE_BIN} -f {host.apache.conf_path}"\n'
                        f'    url "{host.apache.base_url}"\n}}\n')
    try:
        for case, digest in digests.items():
            res = run(host.env, "--json", "deploy", "--from", registry.ref(f"@{digest}"), settings, check=False)
            out = res.stdout + res.stderr
            code = "fleet::app-mismatch" if case == "other-app" else "fleet::unsafe-lock"
            assert res.returncode == 1 and code in out, (case, out)
            for t in targets:
                assert not t.exists(), f"{case}: {t} was created"
        assert f"`{bank}`" in out and f"`{shop}`" in out, out
        # With --root and no host manifest, a name that is not a plain name is refused all the same.
        for case in ("dotdot", "absolute"):
            res = host.deploy(registry.ref(f"@{digests[case]}"), check=False)
            assert res.returncode == 1 and "fleet::unsafe-lock" in res.stdout + res.stderr, (case, res.stderr)
            assert "`app`" in res.stdout + res.stderr, res.stderr
            assert not host.root.exists() and not any(t.exists() for t in targets), case
        # The root serves app `fleet`: a bundle of another app is refused there (its `current` stays).
        host.deploy(registry.ref(f"@{good}"))
        before = tree(host.root)
        res = host.deploy(registry.ref(f"@{digests['other-app']}"), check=False)
        out = res.stdout + res.stderr
        assert res.returncode == 1 and "fleet::app-mismatch" in out, out
        assert f"`{bank}`" in out and "`fleet`" in out, out
        assert tree(host.root) == before and host.body() == BODIES["hello"]
        # Without a host manifest or --root there is no host root to use: refused, nothing written.
        res = run(host.env, "deploy", "--from", registry.ref(f"@{hostile(solo, 'solo')}"), "--apachectl",
                  f"{APACHE_BIN} -f {host.apache.conf_path}", "--url", host.apache.base_url, check=False)
        assert res.returncode == 1 and "fleet::no-root" in res.stdout + res.stderr, res.stderr
        assert not (system / solo).exists()
    finally:
        for t in targets:
            if t.exists():
                shutil.rmtree(t, ignore_errors=True)


def test_check_refuses_app_names_that_are_not_plain_names(built, tmp_path):
    for app in ["../x", "/elsewhere", "a/b", ".hidden", "-flag", "a b", "x..y"]:
        m = tmp_path / "app.kdl"
        m.write_text(f'app "{app}"\n')
        res = run(base_env(tmp_path), "check", m, check=False)
        assert res.returncode == 1 and "manifest::app-name" in res.stderr, (app, res.stderr)
        assert "app.kdl:1:5" in res.stderr, (app, res.stderr)
    m.write_text('app "shop_2.web-1"\n')
    assert "manifest::app-name" not in run(base_env(tmp_path), "check", m, check=False).stderr


def test_a_dry_run_writes_nothing_under_the_root(registry, bundles, host, tmp_path):
    env, b = bundles
    good = push(env, b["hello"], registry.ref(":stable"))
    res = host.deploy(registry.ref(f"@{good}"), "--dry-run")
    assert json.loads(res.stdout)["outcome"] == "dry-run"
    assert not host.root.exists(), tree(host.root)
    # A local bundle, and a manifest built for the dry run: the same.
    res = run(env, "--json", "deploy", "--bundle", b["hello"], *host.switches, "--dry-run")
    assert json.loads(res.stdout)["outcome"] == "dry-run"
    assert not host.root.exists(), tree(host.root)
    res = run(env, "--json", "deploy", b["hello"].parent / "src-hello" / "app.kdl", *host.switches, "--dry-run")
    assert json.loads(res.stdout)["outcome"] == "dry-run"
    assert not host.root.exists(), tree(host.root)
    # After a real deploy, a dry run leaves the root exactly as it was (no record, no release).
    host.deploy(registry.ref(f"@{good}"))
    before = tree(host.root)
    res = run(env, "--json", "deploy", "--bundle", b["stderr"], *host.switches, "--dry-run")
    assert json.loads(res.stdout)["outcome"] == "dry-run"
    assert tree(host.root) == before
    assert host.body() == BODIES["hello"]


def test_strict_modes_for_the_deploy_root(registry, bundles, host, tmp_path):
    env, b = bundles
    good = push(env, b["hello"], registry.ref(":stable"))
    other = push(env, b["stderr"], registry.ref(":other"))
    host.deploy(registry.ref(f"@{good}"))
    before = tree(host.root)
    for path, mode, fix in [
        (host.root, 0o775, f"chmod go-w {host.root}"),
        (host.root, 0o757, f"chmod go-w {host.root}"),
        (host.root / "releases", 0o775, f"chmod go-w {host.root / 'releases'}"),
        (host.root.parent, 0o777, f"chmod go-w {host.root.parent}"),
        (host.root / "current", None, None),  # its release folder group-writable
    ]:
        target = path
        if mode is None:
            target = (host.root / "current").resolve()
            fix = f"chmod go-w {target}"
            mode = 0o775
        old = target.stat().st_mode & 0o7777
        os.chmod(target, mode)
        try:
            res = host.deploy(registry.ref(f"@{other}"), check=False)
            out = res.stdout + res.stderr
            assert res.returncode == 1 and "deploy::unsafe-root" in out, (target, out)
            assert fix in out and str(target) in out, (target, out)
            assert host.body() == BODIES["hello"]
        finally:
            os.chmod(target, old)
        assert tree(host.root) == before, target
    # Owned by another user: refused with the chown fix.
    os.chown(host.root, 65534, -1)
    try:
        res = host.deploy(registry.ref(f"@{other}"), check=False)
        out = res.stdout + res.stderr
        assert res.returncode == 1 and "deploy::unsafe-root" in out and f"chown root {host.root}" in out, out
    finally:
        os.chown(host.root, 0, -1)
    # A root-owned sticky ancestor (as /tmp) is fine; a root created under a shared folder is refused
    # before it is created.
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    a = Apache(modules=("authz_host",), extra_conf=f"IncludeOptional {sticky}/root/current/wasm.conf\n"
                                                   f"IncludeOptional {shared}/root/current/wasm.conf\n")
    a.start()
    try:
        sw = ["--apachectl", f"{APACHE_BIN} -f {a.conf_path}", "--url", a.base_url]
        res = run(host.env, "--json", "deploy", "--from", registry.ref(f"@{good}"), "--root", shared / "root", *sw,
                  check=False)
        assert res.returncode == 1 and "deploy::unsafe-root" in res.stdout + res.stderr, res.stderr
        assert f"chmod go-w {shared}" in res.stdout + res.stderr, res.stderr
        assert not (shared / "root").exists()
        res = run(host.env, "--json", "deploy", "--from", registry.ref(f"@{good}"), "--root", sticky / "root", *sw)
        assert json.loads(res.stdout)["outcome"] == "ok"
        assert a.get("/app").body == BODIES["hello"]
        # The same rule for a local bundle.
        res = run(host.env, "--json", "deploy", "--bundle", b["stderr"], "--root", shared / "root", *sw, check=False)
        assert res.returncode == 1 and "deploy::unsafe-root" in res.stdout + res.stderr, res.stderr
    finally:
        a.stop()
        assert_no_crash(a)
        a.__exit__(None, None, None)


def release_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "releases").iterdir() if not p.name.startswith("."))


def test_keep_counts_the_protected_previous_release_and_failed_ones_do_not_pile_up(registry, bundles, host):
    env, b = bundles
    hello = push(env, b["hello"], registry.ref(":hello"))
    stderr = push(env, b["stderr"], registry.ref(":stderr"))
    trap = push(env, b["trap"], registry.ref(":trap"))
    host.deploy(registry.ref(f"@{hello}"), "--keep", "3")
    first = host.releases()["current"]
    for _ in range(4):
        res = host.deploy(registry.ref(f"@{trap}"), "--keep", "3", check=False)
        assert res.returncode == 1 and "deploy::preflight" in res.stdout + res.stderr, res.stderr
        dirs = release_dirs(host.root)
        assert len(dirs) <= 3, dirs
        assert first in dirs, dirs  # the live release is never pruned
    host.deploy(registry.ref(f"@{stderr}"), "--keep", "3")
    dirs = release_dirs(host.root)
    assert len(dirs) == 3, dirs
    current = host.releases()["current"]
    assert current in dirs and first in dirs, dirs  # current and the previous (rollback target) kept
    assert host.body() == BODIES["stderr"]
    res = run(host.env, "--json", "rollback", *host.switches)
    assert json.loads(res.stdout)["id"] == first
    assert host.body() == BODIES["hello"]


def test_the_status_location_needs_mod_authz_core_only(registry, bundles, tmp_path):
    env, b = bundles
    good = push(env, b["hello"], registry.ref(":stable"))
    root = tmp_path / "core-root"
    a = Apache(modules=(), extra_conf=f"IncludeOptional {root}/current/wasm.conf\n")  # no mod_authz_host
    a.start()
    try:
        res = run(base_env(tmp_path / "h"), "--json", "deploy", "--from", registry.ref(f"@{good}"), "--root", root,
                  "--apachectl", f"{APACHE_BIN} -f {a.conf_path}", "--url", a.base_url)
        assert json.loads(res.stdout)["outcome"] == "ok", res.stdout
        assert a.get("/app").body == BODIES["hello"]
        status = json.loads(a.get(STATUS_PATH + "?json").body)
        assert status["release"] == json.loads(res.stdout)["id"]
        conf = (root / "current" / "wasm.conf").read_text()
        assert "authz_host_module" not in conf and "Require local" not in conf, conf
        assert "Require expr" in conf and "-R '127.0.0.0/8'" in conf, conf
    finally:
        a.stop()
        assert_no_crash(a)
        a.__exit__(None, None, None)


class NoAuthzApache(Apache):
    """An Apache without mod_authz_core (and so without any `Require`)."""

    def render_conf(self) -> str:
        return "\n".join(line for line in super().render_conf().splitlines()
                         if not line.startswith("LoadModule authz_core_module")
                         and line.strip() != "Require all granted") + "\n"


def test_without_mod_authz_core_the_release_is_refused_before_it_goes_live(registry, bundles, tmp_path):
    env, b = bundles
    good = push(env, b["hello"], registry.ref(":stable"))
    root = tmp_path / "bare-root"
    a = NoAuthzApache(extra_conf=f"IncludeOptional {root}/current/wasm.conf\n")
    a.start()
    try:
        res = run(base_env(tmp_path / "h"), "--json", "deploy", "--from", registry.ref(f"@{good}"), "--root", root,
                  "--apachectl", f"{APACHE_BIN} -f {a.conf_path}", "--url", a.base_url, check=False)
        out = res.stdout + res.stderr
        assert res.returncode == 1 and "deploy::configtest" in out and "mod_authz_core" in out, out
        assert not (root / "current").exists()
    finally:
        a.stop()
        assert_no_crash(a)
        a.__exit__(None, None, None)
