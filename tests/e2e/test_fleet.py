"""Fleet (issue 12): bundles as signed OCI artifacts, and several Apache hosts converging on one digest.

A real Debian `docker-registry` on a loopback port; three real Apaches on three loopback ports, each
with its own ServerRoot, deploy root, blob cache and compiled-code cache (three "hosts"), each
including ROOT/current/wasm.conf once and driven by `mod-wasm deploy --from oci://…` through
`--apachectl "/usr/sbin/apache2 -f CONF"`.

- push --bundle writes one artifact (artifactType, bundle.lock as config, titled application/wasm
  layers, no .cwasm); three hosts deploy its digest and serve byte-identical responses.
- three `--follow` agents (interval 1s) converge on every move of the tag with a load loop on each
  host and no failed request; a bad release on the tag never goes live and is not retried until the
  tag moves; registry down: the agent keeps serving and retries with backoff.
- refusals, each with its own code and nothing changed live: a tampered blob, a manifest whose layer
  does not match its lock, a manifest that does not match its digest, unsigned with --verify-key, a
  signature by another key.
- signatures interoperate with OpenSSL both ways (and Python's `cryptography` where installed).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import APACHE_BIN, CLI, MOD_WASM_SO, WASM_DIR, Apache, LoadLoop, assert_no_crash, free_port, request

BODIES = {
    "hello": b"Hello, World! (from a WASI module served by Apache)\n",
    "stderr": b"body of the stderr sample\n",
}
ARTIFACT_TYPE = "application/vnd.mod-wasm.bundle.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
REPO_NAME = "fleet/app"


class Registry:
    """`docker-registry serve` on a loopback port with a storage dir; can be stopped and started again."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.storage = root / "storage"
        self.storage.mkdir(parents=True)
        (root / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.addr}\n"
        )
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        binary = shutil.which("docker-registry")
        assert binary, "docker-registry is not installed (Debian package docker-registry)"
        with open(self.root / "registry.log", "ab") as log:
            self.proc = subprocess.Popen([binary, "serve", str(self.root / "config.yml")], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, (self.root / "registry.log").read_text()
            try:
                if request(self.port, "GET", "/v2/").status == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, (self.root / "registry.log").read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def ref(self, suffix: str) -> str:
        return f"oci://{self.addr}/{REPO_NAME}{suffix}"

    def blob_file(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    # --- the distribution API, spoken directly (independent of mod-wasm) ---
    def http(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, dict(r.getheaders()), data

    def manifest(self, tag_or_digest: str) -> tuple[bytes, str]:
        status, headers, data = self.http("GET", f"/v2/{REPO_NAME}/manifests/{tag_or_digest}",
                                          headers={"Accept": OCI_MANIFEST})
        assert status == 200, (status, data)
        return data, headers.get("Docker-Content-Digest", "")

    def blob(self, digest: str) -> bytes:
        status, _, data = self.http("GET", f"/v2/{REPO_NAME}/blobs/{digest}")
        assert status == 200, (status, data)
        return data

    def put_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, _ = self.http("POST", f"/v2/{REPO_NAME}/blobs/uploads/")
        assert status == 202, status
        location = headers["Location"]
        if location.startswith("http"):
            location = "/" + location.split("/", 3)[3]
        sep = "&" if "?" in location else "?"
        status, _, body = self.http("PUT", f"{location}{sep}digest={digest}", body=data,
                                    headers={"Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        return digest

    def put_manifest(self, tag: str, manifest: dict) -> str:
        data = json.dumps(manifest).encode()
        status, _, body = self.http("PUT", f"/v2/{REPO_NAME}/manifests/{tag}", body=data,
                                    headers={"Content-Type": OCI_MANIFEST})
        assert status == 201, (status, body)
        return "sha256:" + hashlib.sha256(data).hexdigest()


def run(env: dict, *args, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    res = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert res.returncode == 0, f"mod-wasm {' '.join(map(str, args))} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def base_env(folder: Path) -> dict:
    e = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    e.update(NO_COLOR="1", MOD_WASM_SO=str(MOD_WASM_SO), XDG_CACHE_HOME=str(folder / "cache"),
             DOCKER_CONFIG=str(folder / "docker"))
    e.pop("MOD_WASM_CACHE_DIR", None)
    return e


class Host:
    """One "host": an Apache on its own port with its own ServerRoot, deploy root and caches."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.root = folder / "root"
        self.env = base_env(folder)
        self.apache = Apache(modules=("authz_host",), extra_conf=f"IncludeOptional {self.root}/current/wasm.conf\n")
        self.apache.start()
        self.switches = ["--root", self.root, "--apachectl", f"{APACHE_BIN} -f {self.apache.conf_path}",
                         "--url", self.apache.base_url]

    def deploy(self, ref: str, *extra, check: bool = True) -> subprocess.CompletedProcess:
        return run(self.env, "--json", "deploy", "--from", ref, *self.switches, *extra, check=check)

    def releases(self) -> dict:
        return json.loads(run(self.env, "--json", "releases", "--root", self.root).stdout)

    def body(self) -> bytes:
        return self.apache.get("/app").body

    def follow(self, ref: str, log: Path, *extra) -> subprocess.Popen:
        return subprocess.Popen([str(CLI), "--json", "deploy", "--from", ref, "--follow", "--interval", "1s",
                                 *map(str, self.switches), *extra],
                                stdout=open(log, "wb"), stderr=open(log.with_suffix(".err"), "wb"), env=self.env)

    def close(self) -> None:
        self.apache.stop()
        assert_no_crash(self.apache)
        self.apache.__exit__(None, None, None)


def build_bundle(tmp: Path, module: str, env: dict, app: str = "fleet") -> Path:
    folder = tmp / f"src-{module}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.kdl").write_text(
        f'app "{app}"\nmodule "m" source="{WASM_DIR / (module + ".wasm")}"\nroute "/app" module="m"\n')
    out = tmp / f"bundle-{module}"
    run(env, "build", folder / "app.kdl", "--out", out)
    return out


def push(env: dict, bundle: Path, ref: str) -> str:
    res = run(env, "--json", "push", "--bundle", bundle, ref)
    doc = json.loads(res.stdout)
    assert doc["digest"].startswith("sha256:") and len(doc["digest"]) == 71, doc
    assert doc["reference"] == ref, doc
    return doc["digest"]


def key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    ec, private, public = folder / f"{name}.ec", folder / f"{name}.pem", folder / f"{name}.pub"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ec], check=True)
    subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", ec, "-out", private], check=True)
    subprocess.run(["openssl", "ec", "-in", private, "-pubout", "-out", public], check=True, capture_output=True)
    return private, public


def wait_for(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def log_events(log: Path) -> list[dict]:
    events = []
    for line in log.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


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
def hosts(tmp_path, built):
    made: list[Host] = []

    def make(n: int) -> list[Host]:
        for i in range(n):
            made.append(Host(tmp_path / f"host{len(made)}"))
        return made[-n:]

    yield make
    for h in made:
        h.close()


def test_push_bundle_is_one_artifact_with_titled_wasm_layers(registry, bundles):
    env, b = bundles
    digest = push(env, b["hello"], registry.ref(":canary"))
    # The digest alone on stdout without --json, and the same digest again (no timestamps).
    again = run(env, "push", "--bundle", b["hello"], registry.ref(":canary")).stdout.strip()
    assert again == digest
    manifest_bytes, announced = registry.manifest("canary")
    assert announced == digest == "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    m = json.loads(manifest_bytes)
    assert m["mediaType"] == OCI_MANIFEST and m["artifactType"] == ARTIFACT_TYPE, m
    assert m["config"]["mediaType"] == ARTIFACT_TYPE
    assert registry.blob(m["config"]["digest"]) == (b["hello"] / "bundle.lock").read_bytes()
    assert [(l["mediaType"], l["annotations"]["org.opencontainers.image.title"]) for l in m["layers"]] == [
        ("application/wasm", "m.wasm")]
    assert registry.blob(m["layers"][0]["digest"]) == (WASM_DIR / "hello.wasm").read_bytes()
    assert not any("cwasm" in json.dumps(l) for l in m["layers"])


def test_three_hosts_deploy_one_digest_and_serve_identical_bytes(registry, bundles, hosts):
    env, b = bundles
    digest = push(env, b["hello"], registry.ref(":stable"))
    three = hosts(3)
    started = time.monotonic()
    procs = [subprocess.Popen([str(CLI), "--json", "deploy", "--from", registry.ref(f"@{digest}"),
                               *map(str, h.switches)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=h.env) for h in three]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    print(f"\nthree hosts deployed {digest[:19]}… in parallel in {time.monotonic() - started:.1f}s "
          f"(each: {', '.join(str(r['timings']) for r in reports)})")
    bodies = {h.body() for h in three}
    assert bodies == {BODIES["hello"]}, bodies
    for h, report in zip(three, reports):
        assert report["outcome"] == "ok" and report["manifest_digest"] == digest, report
        # Each host compiled the modules itself (its own cache); the lock is the artifact's byte for byte.
        assert report["compiled"] == 1 and report["lock_identical"] is True, report
        listing = h.releases()
        assert listing["releases"][0]["current"] and listing["releases"][0]["source"].endswith("@" + digest)
        directives = [line for line in (h.root / "current" / "wasm.conf").read_text().splitlines()
                      if line.strip() and not line.lstrip().startswith("#")]
        modules = [line for line in directives if line.strip().startswith("WasmModule ")]
        assert modules and all(f"{h.root}/releases/" in line for line in modules), modules
        assert not any("/current/" in line or ".fleet-" in line for line in directives), directives
    # By tag: the tag is resolved and its digest recorded.
    res = three[0].deploy(registry.ref(":stable"))
    report = json.loads(res.stdout)
    assert report["manifest_digest"] == digest and report["source"] == registry.ref(f":stable@{digest}"), report
    assert report["compiled"] == 0 and report["reused"] == 1, report  # the compiled-code cache served


def test_follow_agents_converge_under_load_and_keep_the_old_release_on_a_bad_one(registry, bundles, hosts, tmp_path):
    env, b = bundles
    tag = registry.ref(":stable")
    v1 = push(env, b["hello"], tag)
    three = hosts(3)
    logs = [tmp_path / f"agent{i}.jsonl" for i in range(3)]
    agents = [h.follow(tag, log) for h, log in zip(three, logs)]
    try:
        wait_for(lambda: all(h.body() == BODIES["hello"] for h in three), 300, "the first deploy on every host",
                 step=0.2)
        loads = [LoadLoop(h.apache.port, "/app", set(BODIES.values()), threads=2) for h in three]
        for load in loads:
            load.__enter__()
        try:
            times = []
            for name in ("stderr", "hello", "stderr"):
                t0 = time.monotonic()
                digest = push(env, b[name], tag)
                done = {}

                def converged() -> bool:
                    for i, h in enumerate(three):
                        if i not in done and h.body() == BODIES[name]:
                            done[i] = time.monotonic() - t0
                    return len(done) == 3

                wait_for(converged, 300, f"every host on {name}")
                times.append(max(done.values()))
                # The agent records the release once it verified it, a moment after it serves it.
                wait_for(lambda: all((h.releases()["releases"][0]["source"] or "").endswith("@" + digest)
                                     for h in three), 60, f"every host recording {name} as {digest}")
            # A bad release on the tag: refused by every host (preflight), the old one keeps serving.
            good = digest
            bad = push(env, b["trap"], tag)

            def refused_everywhere() -> bool:
                return all(any(e.get("digest") == bad and e["event"] == "failed" for e in log_events(log))
                           for log in logs)

            wait_for(refused_everywhere, 300, "every agent to refuse the bad release", step=0.2)
            time.sleep(4)  # four more polls: not retried while the tag stays on it
            for h, log in zip(three, logs):
                assert h.body() == BODIES["stderr"]
                listing = h.releases()
                current = [r for r in listing["releases"] if r["current"]][0]
                assert current["source"].endswith("@" + good), listing
                attempts = [e for e in log_events(log) if e.get("digest") == bad and e["event"] == "deploying"]
                assert len(attempts) == 1, attempts
                failed = [e for e in log_events(log) if e.get("digest") == bad and e["event"] == "failed"]
                assert failed[0]["code"] == "deploy::preflight", failed
            # The tag moves again: every host follows.
            t0 = time.monotonic()
            push(env, b["hello"], tag)
            wait_for(lambda: all(h.body() == BODIES["hello"] for h in three), 300, "recovery after the bad release")
            times.append(time.monotonic() - t0)
        finally:
            for load in loads:
                load.__exit__(None, None, None)
        failures = [f for load in loads for f in load.failures]
        ok = sum(load.ok for load in loads)
        print(f"\nthree-host convergence after a tag move: {', '.join(f'{t:.1f}s' for t in times)} "
              f"(max {max(times):.1f}s, interval 1s); load: {ok} ok, "
              f"{sum(l.retries for l in loads)} retried on a closed kept-alive connection, {len(failures)} failed")
        (tmp_path / "convergence.json").write_text(json.dumps({"times": times, "ok": ok, "failed": len(failures)}))
        artifacts = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "fleet-convergence.json").write_text(
            json.dumps({"convergence_s": times, "requests_ok": ok, "requests_failed": len(failures)}, indent=1))
        assert failures == [], failures[:10]
        assert ok > 100, ok
        assert v1
    finally:
        for a in agents:
            a.send_signal(signal.SIGTERM)
        codes = [a.wait(timeout=120) for a in agents]
    assert codes == [0, 0, 0], [log.with_suffix(".err").read_text()[-2000:] for log in logs]
    for log in logs:
        events = log_events(log)
        assert events[0]["event"] == "start" and events[-1]["event"] == "stop", events[-3:]


def test_a_bad_release_without_preflight_is_rolled_back(registry, bundles, hosts):
    env, b = bundles
    (h,) = hosts(1)
    good = push(env, b["hello"], registry.ref(":stable"))
    h.deploy(registry.ref(f"@{good}"))
    bad = push(env, b["trap"], registry.ref(":stable"))
    res = h.deploy(registry.ref(":stable"), "--no-preflight", check=False)
    assert res.returncode == 1 and "deploy::verify" in res.stdout + res.stderr, res.stdout + res.stderr
    assert "rolled back to" in res.stdout + res.stderr
    assert h.body() == BODIES["hello"]
    listing = h.releases()
    current = [r for r in listing["releases"] if r["current"]][0]
    assert current["source"].endswith("@" + good)
    assert listing["releases"][0]["outcome"] == "failed" and listing["releases"][0]["source"].endswith("@" + bad)


def refused(h: Host, ref: str, code: str, *extra) -> str:
    before = h.releases()
    res = h.deploy(ref, *extra, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 1 and code in out, (ref, code, extra, out)
    assert h.releases() == before, "nothing is recorded or switched"
    assert h.body() == BODIES["hello"]
    return out


def test_tampered_or_mismatched_or_unsigned_or_foreign_bundles_are_refused(registry, bundles, hosts, tmp_path):
    env, b = bundles
    (h,) = hosts(1)
    good = push(env, b["hello"], registry.ref(":stable"))
    private, public = key_pair(tmp_path, "release")
    other_private, _ = key_pair(tmp_path, "other")
    run(env, "sign", "--key", private, registry.ref(f"@{good}"))
    h.deploy(registry.ref(f"@{good}"), "--verify-key", public)
    assert h.body() == BODIES["hello"]

    # Unsigned, with a key configured.
    unsigned = push(env, b["stderr"], registry.ref(":next"))
    out = refused(h, registry.ref(f"@{unsigned}"), "oci::unsigned", "--verify-key", public)
    assert f"sha256-{unsigned.split(':')[1]}.sig" in out
    # Signed by another key.
    run(env, "sign", "--key", other_private, registry.ref(":next"))
    refused(h, registry.ref(":next"), "oci::bad-signature", "--verify-key", public)

    # A tampered blob in the registry's storage (this host never cached it; a blob once verified into
    # a host's cache is served from there, as content addressing allows).
    stderr_layer = json.loads(registry.manifest(unsigned)[0])["layers"][0]
    blob = registry.blob_file(stderr_layer["digest"])
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    out = refused(h, registry.ref(f"@{unsigned}"), "oci::digest-mismatch")
    assert not (h.folder / "cache" / "mod-wasm" / "blobs" / "sha256" / stderr_layer["digest"].split(":")[1]).exists()
    blob.write_bytes(original)

    # A manifest whose layer is not the module its lock records: hello's lock, stderr's bytes.
    m = json.loads(registry.manifest(good)[0])
    stderr_layer = json.loads(registry.manifest(unsigned)[0])["layers"][0]
    m["layers"] = [stderr_layer]
    forged = registry.put_manifest("forged", m)
    out = refused(h, registry.ref(f"@{forged}"), "fleet::bundle-mismatch")
    assert "bundle.lock records" in out

    # The manifest in the registry's storage no longer hashes to its digest.
    stored = registry.blob_file(unsigned)
    original = stored.read_bytes()
    stored.write_bytes(original.replace(stderr_layer["digest"].encode(), m["config"]["digest"].encode()))
    refused(h, registry.ref(f"@{unsigned}"), "oci::manifest-mismatch")
    stored.write_bytes(original)
    # Repaired: the same digest deploys (without a key, as nothing requires one).
    h.deploy(registry.ref(f"@{unsigned}"))
    assert h.body() == BODIES["stderr"]


def test_signatures_interoperate_with_openssl_both_ways(registry, bundles, hosts, tmp_path):
    env, b = bundles
    private, public = key_pair(tmp_path, "release")
    digest = push(env, b["hello"], registry.ref(":v1"))
    res = run(env, "--json", "sign", "--key", private, registry.ref(":v1"))
    assert json.loads(res.stdout)["digest"] == digest
    # Where cosign looks: tag sha256-<hex>.sig, a simple-signing layer whose blob is the payload,
    # the base64 DER signature in its annotation.
    sig_manifest = json.loads(registry.manifest(f"sha256-{digest.split(':')[1]}.sig")[0])
    (layer,) = sig_manifest["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING
    payload = registry.blob(layer["digest"])
    doc = json.loads(payload)
    assert doc == {"critical": {"identity": {"docker-reference": f"{registry.addr}/{REPO_NAME}"},
                                "image": {"docker-manifest-digest": digest},
                                "type": "cosign container image signature"}, "optional": None}
    sig = tmp_path / "sig.der"
    sig.write_bytes(base64.b64decode(layer["annotations"][SIG_ANNOTATION]))
    (tmp_path / "payload.json").write_bytes(payload)
    check = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public, "-signature", sig,
                            tmp_path / "payload.json"], capture_output=True, text=True)
    assert check.returncode == 0 and "Verified OK" in check.stdout, check
    try:  # a second independent verifier, where Python's cryptography is installed
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        key = serialization.load_pem_public_key(public.read_bytes())
        key.verify(sig.read_bytes(), payload, ec.ECDSA(hashes.SHA256()))
    except ImportError:
        pass

    # The other way: a signature made by OpenSSL, stored by hand the way cosign stores it, verifies.
    (h,) = hosts(1)
    other = push(env, b["stderr"], registry.ref(":v2"))
    payload = json.dumps({"critical": {"identity": {"docker-reference": f"{registry.addr}/{REPO_NAME}"},
                                       "image": {"docker-manifest-digest": other},
                                       "type": "cosign container image signature"}, "optional": None}).encode()
    (tmp_path / "p2.json").write_bytes(payload)
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", private, "-out", tmp_path / "p2.sig",
                    tmp_path / "p2.json"], check=True)
    payload_digest = registry.put_blob(payload)
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [payload_digest]}}).encode()
    config_digest = registry.put_blob(config)
    registry.put_manifest(f"sha256-{other.split(':')[1]}.sig", {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": SIMPLE_SIGNING, "digest": payload_digest, "size": len(payload),
                    "annotations": {SIG_ANNOTATION: base64.b64encode((tmp_path / "p2.sig").read_bytes()).decode()}}],
    })
    report = json.loads(h.deploy(registry.ref(":v2"), "--verify-key", public).stdout)
    assert report["verified"] is True and report["manifest_digest"] == other, report
    assert h.body() == BODIES["stderr"]


def test_tag_promotes_a_digest(registry, bundles):
    env, b = bundles
    canary = push(env, b["stderr"], registry.ref(":canary"))
    stable = push(env, b["hello"], registry.ref(":stable"))
    res = json.loads(run(env, "--json", "tag", registry.ref(f"@{canary}"), "stable").stdout)
    assert res["digest"] == canary and res["previous"] == stable, res
    assert registry.manifest("stable")[1] == canary
    # Back again (a fleet-wide rollback is a tag move), from a tag this time.
    res = run(env, "tag", registry.ref(f"@{stable}"), "stable")
    assert f"(was {canary})" in res.stdout
    assert registry.manifest("stable")[1] == stable
    bad = run(env, "tag", registry.ref(f"@{stable}"), "no/slash", check=False)
    assert bad.returncode == 1 and "oci::invalid-reference" in bad.stderr, bad.stderr


def test_registry_down_during_follow_keeps_serving_and_retries(registry, bundles, hosts, tmp_path):
    env, b = bundles
    tag = registry.ref(":stable")
    push(env, b["hello"], tag)
    (h,) = hosts(1)
    log = tmp_path / "agent.jsonl"
    agent = h.follow(tag, log)
    try:
        wait_for(lambda: h.body() == BODIES["hello"], 300, "the first deploy")
        registry.stop()
        wait_for(lambda: len([e for e in log_events(log) if e["event"] == "unreachable"]) >= 3, 60,
                 "three failed polls")
        for _ in range(20):
            r = h.apache.get("/app")
            assert r.status == 200 and r.body == BODIES["hello"]
        assert agent.poll() is None, "the agent is still running"
        waits = [float(e["message"].rsplit("retrying in ", 1)[1].rstrip("s"))
                 for e in log_events(log) if e["event"] == "unreachable"]
        assert waits[:3] == sorted(waits[:3]) and waits[2] > waits[0], waits  # backoff grows
        registry.start()
        push(env, b["stderr"], tag)
        wait_for(lambda: h.body() == BODIES["stderr"], 120, "the deploy once the registry is back")
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(timeout=120)
    assert code == 0, log.with_suffix(".err").read_text()


def test_the_manifest_deploy_block_configures_deploy_from(registry, bundles, hosts, tmp_path):
    """A host keeps only a small app.kdl: `deploy { root; apachectl; url; verify-key }`."""
    env, b = bundles
    (h,) = hosts(1)
    private, public = key_pair(tmp_path, "release")
    settings = tmp_path / "host-settings"
    settings.mkdir()
    shutil.copy(public, settings / "release.pub")
    (settings / "app.kdl").write_text(
        'app "fleet"\ndeploy {\n'
        f'    root "{h.root}"\n    apachectl "{APACHE_BIN} -f {h.apache.conf_path}"\n'
        f'    url "{h.apache.base_url}"\n    verify-key "release.pub"\n}}\n')
    unsigned = push(env, b["hello"], registry.ref(":stable"))
    res = run(h.env, "deploy", "--from", registry.ref(":stable"), settings / "app.kdl", check=False)
    assert res.returncode == 1 and "oci::unsigned" in res.stderr, res.stderr
    assert not (h.root / "current").exists()
    run(env, "sign", "--key", private, registry.ref(f"@{unsigned}"))
    report = json.loads(run(h.env, "--json", "deploy", "--from", registry.ref(":stable"), settings / "app.kdl").stdout)
    assert report["verified"] is True and report["manifest_digest"] == unsigned, report
    assert h.body() == BODIES["hello"]


UNIT = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "mod-wasm-follow@.service"


def test_the_systemd_unit_verifies_and_its_command_line_runs_the_agent(registry, bundles, hosts, tmp_path):
    # systemd's own checker: only the binary and man page, not installed here, may be missing.
    if shutil.which("systemd-analyze"):
        units = tmp_path / "units"
        units.mkdir()
        shutil.copy(UNIT, units / UNIT.name)
        (units / "mod-wasm-follow@app.service").symlink_to(UNIT.name)
        res = subprocess.run(["systemd-analyze", "verify", str(units / "mod-wasm-follow@app.service")],
                             capture_output=True, text=True)
        problems = [line for line in (res.stdout + res.stderr).splitlines()
                    if line.strip() and "/usr/bin/mod-wasm is not executable" not in line and "man mod-wasm" not in line]
        assert problems == [], problems
    # ExecStart, as systemd would expand it for instance "fleet", runs the agent.
    env, b = bundles
    (h,) = hosts(1)
    digest = push(env, b["hello"], registry.ref(":stable"))
    settings = tmp_path / "fleet.kdl"
    settings.write_text('app "fleet"\ndeploy {\n'
                        f'    root "{h.root}"\n    apachectl "{APACHE_BIN} -f {h.apache.conf_path}"\n'
                        f'    url "{h.apache.base_url}"\n}}\n')
    exec_start = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")][0]
    words = []
    for word in exec_start.split():
        word = word.replace("%i", "fleet")
        if word == "$MOD_WASM_FOLLOW_ARGS":
            continue
        word = (word.replace("/usr/bin/mod-wasm", str(CLI)).replace("${MOD_WASM_FROM}", registry.ref(":stable"))
                .replace("${MOD_WASM_INTERVAL}", "1s").replace("/etc/mod-wasm/fleet.kdl", str(settings)))
        words.append(word)
    assert words[1:5] == ["deploy", "--from", registry.ref(":stable"), "--follow"], words
    log = tmp_path / "unit.err"
    agent = subprocess.Popen(words, stdout=subprocess.DEVNULL, stderr=open(log, "wb"), env=h.env)
    try:
        wait_for(lambda: h.apache.get("/app").body == BODIES["hello"], 300, "the agent's first deploy")
        assert h.releases()["releases"][0]["source"].endswith("@" + digest)
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(timeout=120)
    text = log.read_text()
    assert code == 0, text
    assert " deployed: " in text and " stop: " in text, text
