"""End to end: modules from an OCI registry through the `mod-wasm` CLI.

A real Debian `docker-registry` on a free loopback port (temporary storage) is started by the
test; `mod-wasm push` uploads build/wasm/hello.wasm; `samples/oci-hello/app.kdl` (its registry
address rewritten to the test's port) is pulled (`app.lock` written) and built; the bundle's
`wasm.conf` is included into a real Apache which serves the module. Then: the tag moves and a
locked build keeps the old module until `pull --update`; `--locked` refuses a lock change; the
registry stops and `build --offline` still works from the cache; an htpasswd-protected registry
takes `mod-wasm login` credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import CLI, MOD_WASM_SO, REPO, free_port, request, wasm_path

SAMPLE = REPO / "samples" / "oci-hello" / "app.kdl"
SAMPLE_REGISTRY = "127.0.0.1:5000"


class Registry:
    """`docker-registry serve` on a free loopback port with a temporary storage dir."""

    def __init__(self, root: Path, auth: tuple[str, str] | None = None):
        self.root = root
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        storage = root / "storage"
        storage.mkdir(parents=True)
        conf = (
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
            f"http:\n  addr: {self.addr}\n"
        )
        if auth:
            htpasswd = root / "htpasswd"
            res = subprocess.run(["htpasswd", "-Bbc", str(htpasswd), *auth], capture_output=True, text=True)
            assert res.returncode == 0, f"htpasswd (apache2-utils) failed: {res.stderr}"
            conf += f"auth:\n  htpasswd:\n    realm: mod-wasm-e2e\n    path: {htpasswd}\n"
        (root / "config.yml").write_text(conf)
        self.log = root / "registry.log"
        binary = shutil.which("docker-registry")
        assert binary, "docker-registry is not installed (Debian package docker-registry)"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, "serve", str(root / "config.yml")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"docker-registry exited ({self.proc.returncode}): {self.log.read_text()}")
            try:
                status = request(self.port, "GET", "/v2/").status
                if status in (200, 401):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"docker-registry did not answer on {self.addr}: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


HELLO = "Hello, World! (from a WASI module served by Apache)\n"



@pytest.fixture
def env(tmp_path) -> dict:
    """A private cache and Docker config for the CLI; no proxy variables."""
    e = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    e.update(
        NO_COLOR="1",
        MOD_WASM_SO=str(MOD_WASM_SO),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        DOCKER_CONFIG=str(tmp_path / "docker"),
    )
    return e


@pytest.fixture
def registry(tmp_path):
    r = Registry(tmp_path / "registry")
    yield r
    r.stop()


def mod_wasm(env: dict, *args, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [str(CLI), *map(str, args)], capture_output=True, text=True, timeout=300, env=env, input=stdin,
    )
    if check:
        assert res.returncode == 0, f"mod-wasm {' '.join(map(str, args))} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def sample_app(folder: Path, registry_addr: str) -> Path:
    """samples/oci-hello/app.kdl, its registry address rewritten to the test's registry."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    text = SAMPLE.read_text()
    assert SAMPLE_REGISTRY in text, f"{SAMPLE} no longer names {SAMPLE_REGISTRY}"
    manifest = folder / "app.kdl"
    manifest.write_text(text.replace(SAMPLE_REGISTRY, registry_addr))
    return manifest


def push(env: dict, wasm: Path, reference: str, *flags: str) -> str:
    res = mod_wasm(env, "push", wasm, reference, *flags)
    digest = res.stdout.strip()
    assert digest.startswith("sha256:") and len(digest) == 71, res.stdout
    return digest


def build(env: dict, manifest: Path, out: Path, *flags: str) -> dict:
    res = mod_wasm(env, "build", "--json", manifest, "--out", out, *flags)
    report = json.loads(res.stdout)
    assert report["ok"] is True, report
    return report


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def module_sha(bundle: Path, name: str) -> str:
    lock = json.loads((bundle / "bundle.lock").read_text())
    return next(m for m in lock["modules"] if m["name"] == name)["sha256"]


def test_push_pull_build_serve(cli, env, registry, public_tmp, apache_factory):
    reference = f"oci://{registry.addr}/mod-wasm/hello:v1"
    digest = push(env, wasm_path("hello"), reference)
    manifest = sample_app(public_tmp / "app", registry.addr)

    res = mod_wasm(env, "pull", "--json", manifest)
    pulled = json.loads(res.stdout)
    assert pulled["lock_written"] is True
    [entry] = pulled["modules"]
    assert entry["manifest_digest"] == digest and entry["downloaded"] is True
    assert entry["media_type"] == "application/wasm"
    lock_text = (manifest.parent / "app.lock").read_text()
    assert f'manifest-digest = "{digest}"' in lock_text
    assert f'layer-digest = "sha256:{sha256_of(wasm_path("hello"))}"' in lock_text
    # The blob sits in the content-addressed cache.
    blob = Path(env["XDG_CACHE_HOME"]) / "mod-wasm/blobs/sha256" / sha256_of(wasm_path("hello"))
    assert blob.read_bytes() == wasm_path("hello").read_bytes()

    bundle = public_tmp / "bundle"
    report = build(env, manifest, bundle)
    [module] = report["modules"]
    assert module["resolved"] == f"oci://{registry.addr}/mod-wasm/hello@{digest}"
    apache = apache_factory(mpm="event", extra_conf=f'Include "{bundle / "wasm.conf"}"\n')
    resp = request(apache.port, "GET", "/hello")
    assert resp.status == 200 and resp.body.decode() == HELLO


def test_moved_tag_locked_update_offline(cli, env, registry, tmp_path):
    reference = f"oci://{registry.addr}/mod-wasm/hello:v1"
    first = push(env, wasm_path("hello"), reference)
    manifest = sample_app(tmp_path / "app", registry.addr)
    mod_wasm(env, "pull", manifest)
    lock_before = (manifest.parent / "app.lock").read_text()

    # The tag moves to another module (legacy layout, to cover it through the CLI too).
    second = push(env, wasm_path("stderr"), reference, "--legacy-media-types")
    assert second != first

    # A locked build keeps the pinned module; --locked agrees nothing changes.
    bundle = tmp_path / "bundle"
    build(env, manifest, bundle, "--locked")
    assert module_sha(bundle, "hello") == sha256_of(wasm_path("hello"))
    assert (manifest.parent / "app.lock").read_text() == lock_before

    # pull --update --locked refuses to move the pin, naming the source in the manifest.
    res = mod_wasm(env, "pull", manifest, "--update", "--locked", check=False)
    assert res.returncode == 1, res.stderr
    assert "oci::lock-would-change" in res.stderr and "app.kdl:" in res.stderr, res.stderr
    assert (manifest.parent / "app.lock").read_text() == lock_before

    # pull --update hello moves it.
    mod_wasm(env, "pull", manifest, "--update", "hello")
    assert second in (manifest.parent / "app.lock").read_text()
    build(env, manifest, bundle)
    assert module_sha(bundle, "hello") == sha256_of(wasm_path("stderr"))

    # The registry goes away: --offline (and a plain build: all pinned and cached) still work.
    registry.stop()
    build(env, manifest, tmp_path / "offline", "--offline")
    assert module_sha(tmp_path / "offline", "hello") == sha256_of(wasm_path("stderr"))
    build(env, manifest, tmp_path / "again")

    # Without the cache, offline fails with a diagnostic at the module's source.
    shutil.rmtree(Path(env["XDG_CACHE_HOME"]))
    res = mod_wasm(env, "build", manifest, "--out", tmp_path / "none", "--offline", check=False)
    assert res.returncode == 1
    assert "oci::not-cached" in res.stderr and 'source="oci://' in res.stderr, res.stderr
    res = mod_wasm(env, "build", manifest, "--out", tmp_path / "none", check=False)
    assert res.returncode == 1
    assert "oci::unreachable" in res.stderr, res.stderr
    assert not (tmp_path / "none").exists(), "a failed build writes no bundle"


def test_login_then_push_and_pull(cli, env, tmp_path):
    registry = Registry(tmp_path / "registry", auth=("ci", "pa55word"))
    try:
        reference = f"oci://{registry.addr}/private/hello:v1"
        res = mod_wasm(env, "push", wasm_path("hello"), reference, check=False)
        assert res.returncode == 1 and "oci::unauthorized" in res.stderr, res.stderr

        res = mod_wasm(env, "login", registry.addr, "-u", "ci", "--password-stdin", stdin="wrong\n", check=False)
        assert res.returncode == 1 and "oci::unauthorized" in res.stderr, res.stderr
        config = Path(env["DOCKER_CONFIG"]) / "config.json"
        assert not config.exists()

        mod_wasm(env, "login", registry.addr, "-u", "ci", "--password-stdin", stdin="pa55word\n")
        auths = json.loads(config.read_text())["auths"]
        assert registry.addr in auths
        digest = push(env, wasm_path("hello"), reference)

        manifest = tmp_path / "app" / "app.kdl"
        manifest.parent.mkdir()
        manifest.write_text(f'app "private"\nmodule "hello" source="{reference}"\nroute "/hello" module="hello"\n')
        mod_wasm(env, "pull", manifest)
        assert digest in (manifest.parent / "app.lock").read_text()

        # Another user without credentials is refused, and no lock is written.
        other = dict(env, DOCKER_CONFIG=str(tmp_path / "nobody"), XDG_CACHE_HOME=str(tmp_path / "cache2"))
        (manifest.parent / "app.lock").unlink()
        res = mod_wasm(other, "pull", manifest, check=False)
        assert res.returncode == 1 and "oci::unauthorized" in res.stderr, res.stderr
        assert not (manifest.parent / "app.lock").exists(), "a failed pull writes no lock"
    finally:
        registry.stop()


def test_two_builds_share_one_cache(cli, env, registry, tmp_path):
    push(env, wasm_path("hello"), f"oci://{registry.addr}/mod-wasm/hello:v1")
    manifest = sample_app(tmp_path / "app", registry.addr)
    mod_wasm(env, "pull", manifest)
    shutil.rmtree(Path(env["XDG_CACHE_HOME"]))
    procs = [
        subprocess.Popen(
            [str(CLI), "build", str(manifest), "--out", str(tmp_path / f"b{i}")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for i in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    for i in range(2):
        assert module_sha(tmp_path / f"b{i}", "hello") == sha256_of(wasm_path("hello"))
