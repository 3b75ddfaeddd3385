"""Hostile round 3 (issue 19), registry I/O: a registry that stalls, trickles, floods or lies can
delay a host by at most the registry deadline, never hold it, never make it read without bound,
never forge its log, and never make it deploy a failed digest again and again.

A real Apache and a real `mod-wasm` per test (tests/e2e/test_fleet.py's Host), and either a real
Debian `docker-registry` (test_fleet's Registry) or a small hostile registry of this file's own on
loopback (`Hostile`: a threaded `http.server` whose every answer a test chooses).

- `deploy --from` against a registry that trickles its manifest one byte every 2 s ends with
  `oci::timeout` naming the registry and the operation, with `--registry-timeout 2s` and with the
  host manifest's `registry timeout="2s"`; nothing changes under the root;
- `--follow` exits 0 within moments of SIGTERM while mid-pull on a stalled registry (the default
  deadline is 5 minutes: only the stop can end it that soon), and while sleeping between polls;
- registry-controlled text in the follow agent's log (an error message, a media type, an app
  name from a lock) carrying "\\n<time> deployed: …" stays on its own line, escaped;
- a flapping tag (A -> B(fails) -> A -> B) deploys B once: the second time it is skipped with a
  log line until the tag moves to a new digest.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness import CLI
from test_fleet import BODIES, Host, Registry, base_env, build_bundle, log_events, push, run, wait_for

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
FORGED = "2026-01-01T00:00:00Z deployed: sha256:0000 is live as release forged (previous none) in 1 ms"
# A log line of the agent: `<RFC 3339 time> <event>: <message>`.
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z [a-z]+: ")


class Hostile:
    """A registry of the test's own on 127.0.0.1: `GET /v2/` answers 200, every other request is
    `route(method, path) -> (status, headers, body)`, where body is bytes or a generator of bytes
    (written as it yields, so a generator that sleeps trickles)."""

    def __init__(self, route):
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                outer.requests.append(f"GET {self.path}")
                if self.path in ("/v2/", "/v2"):
                    status, headers, body = 200, {"Content-Type": "application/json"}, b"{}"
                else:
                    status, headers, body = route("GET", self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Connection", "close")
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                try:
                    for piece in body:
                        self.wfile.write(piece)
                        self.wfile.flush()
                except OSError:
                    pass  # the client hung up

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ref(self, suffix: str) -> str:
        return f"oci://{self.addr}/fleet/app{suffix}"

    def manifest_requests(self) -> int:
        return sum("/manifests/" in r for r in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def trickle(every: float = 2.0, total: int = 10_000):
    """A body of `total` spaces, one every `every` seconds."""
    for _ in range(total):
        yield b" "
        time.sleep(every)


def trickling_route(method, path):
    if "/manifests/" in path:
        return 200, {"Content-Type": OCI_MANIFEST, "Content-Length": "10000"}, trickle()
    return 404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}'


@pytest.fixture
def host(tmp_path, built):
    h = Host(tmp_path / "host")
    yield h
    h.close()


@pytest.fixture
def trickling():
    r = Hostile(trickling_route)
    yield r
    r.close()


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def host_manifest(tmp_path: Path, h: Host, extra: str = "") -> Path:
    folder = tmp_path / "host-settings"
    folder.mkdir(exist_ok=True)
    path = folder / "app.kdl"
    path.write_text(f'app "fleet"\n{extra}deploy {{\n    root "{h.root}"\n'
                    f'    apachectl "{h.switches[3]}"\n    url "{h.apache.base_url}"\n}}\n')
    return path


def test_deploy_from_a_trickling_registry_ends_with_the_registry_deadline(host, trickling, tmp_path):
    before = tree(host.root)
    # The flag, then the host manifest's `registry timeout=` (no flag).
    manifest = host_manifest(tmp_path, host, 'registry timeout="2s"\n')
    for how, args in (("flag", [*host.switches, "--registry-timeout", "2s"]), ("manifest", [manifest])):
        t0 = time.monotonic()
        res = run(host.env, "--json", "deploy", "--from", trickling.ref(":stable"), *args, check=False, timeout=120)
        elapsed = time.monotonic() - t0
        out = res.stdout + res.stderr
        assert res.returncode == 1, (how, out)
        assert "oci::timeout" in out, (how, out)
        assert f"registry {trickling.addr} did not finish resolving {trickling.ref(':stable')} within 2s" in out, (how, out)
        assert "--registry-timeout" in out, (how, out)  # the hint says how to raise it
        assert elapsed < 60, f"{how}: took {elapsed:.0f}s: it hung"
    assert trickling.manifest_requests() == 2, trickling.requests
    assert tree(host.root) == before
    # A bad value is refused at its place in the manifest, and as a flag.
    manifest.write_text(manifest.read_text().replace('timeout="2s"', 'timeout="soon"'))
    res = run(host.env, "check", manifest, check=False)
    assert res.returncode == 1 and "manifest::duration" in res.stderr and "bad registry `timeout`" in res.stderr, res.stderr
    res = run(host.env, "deploy", "--from", trickling.ref(":stable"), *host.switches, "--registry-timeout", "0",
              check=False)
    assert res.returncode != 0 and "--registry-timeout" in res.stderr, res.stderr


def follow(h: Host, ref: str, log: Path, *extra, json_lines: bool = True) -> subprocess.Popen:
    args = [str(CLI), *(["--json"] if json_lines else []), "deploy", "--from", ref, "--follow",
            "--interval", "1s", *map(str, h.switches), *map(str, extra)]
    return subprocess.Popen(args, stdout=open(log, "wb"), stderr=open(log.with_suffix(".err"), "wb"), env=h.env)


def stop_within(agent: subprocess.Popen, seconds: float) -> tuple[int, float]:
    t0 = time.monotonic()
    agent.send_signal(signal.SIGTERM)
    try:
        code = agent.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
        raise AssertionError(f"the agent was still running {seconds}s after SIGTERM")
    return code, time.monotonic() - t0


def test_follow_stops_promptly_on_sigterm_mid_pull_and_while_sleeping(host, trickling, tmp_path):
    # Mid-pull on a stalled registry, with the default deadline (5 minutes).
    log = tmp_path / "stalled.jsonl"
    agent = follow(host, trickling.ref(":stable"), log)
    try:
        wait_for(lambda: trickling.manifest_requests() >= 1, 60, "the agent's first manifest request")
        time.sleep(1.5)  # well inside the pull: a byte every 2 s, 10000 of them
        assert agent.poll() is None, log.with_suffix(".err").read_text()
        code, took = stop_within(agent, 20)
    finally:
        if agent.poll() is None:
            agent.kill()
    assert code == 0, log.with_suffix(".err").read_text()
    events = log_events(log)
    assert [e["event"] for e in events] == ["start", "stop"], events  # nothing failed, nothing retried
    assert trickling.manifest_requests() == 1
    print(f"\nSIGTERM mid-pull on a stalled registry: exited in {took:.2f}s")

    # Sleeping between polls (a long interval): a real registry, the tag deployed, then SIGTERM.
    registry = Registry(tmp_path / "registry")
    try:
        env = base_env(tmp_path / "builder")
        push(env, build_bundle(tmp_path / "builder", "hello", env), registry.ref(":stable"))
        log = tmp_path / "sleeping.jsonl"
        agent = subprocess.Popen([str(CLI), "--json", "deploy", "--from", registry.ref(":stable"), "--follow",
                                  "--interval", "10mi", *map(str, host.switches)],
                                 stdout=open(log, "wb"), stderr=open(log.with_suffix(".err"), "wb"), env=host.env)
        try:
            wait_for(lambda: any(e["event"] == "deployed" for e in log_events(log)), 300, "the first deploy")
            assert host.body() == BODIES["hello"]
            code, took = stop_within(agent, 20)
        finally:
            if agent.poll() is None:
                agent.kill()
        assert code == 0, log.with_suffix(".err").read_text()
        assert log_events(log)[-1]["event"] == "stop"
        print(f"SIGTERM while sleeping between polls: exited in {took:.2f}s")
    finally:
        registry.stop()


def forged_error_route(method, path):
    body = json.dumps({"errors": [{"code": "UNKNOWN", "message": "busy\n" + FORGED}]}).encode()
    return 500, {"Content-Type": "application/json"}, body


def forged_media_type_route(method, path):
    if "/manifests/" in path:
        body = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST + "\n" + FORGED,
            "config": {"mediaType": "application/vnd.mod-wasm.bundle.v1+json",
                       "digest": "sha256:" + "0" * 64, "size": 2},
            "layers": [],
        }).encode()
        return 200, {"Content-Type": OCI_MANIFEST}, body
    return 404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}'


def assert_not_forged(text: str, what: str, shown: bool = True) -> None:
    """Every line is the agent's own; with `shown`, the forged text appears, escaped."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, what
    for line in lines:
        assert LINE.match(line), f"{what}: a line the agent did not write: {line!r}\n{text}"
        assert not line.startswith("2026-01-01T00:00:00Z"), f"{what}: forged line {line!r}"
        assert not re.match(r"^\S+ deployed: ", line), f"{what}: nothing was deployed: {line!r}"
    if shown or FORGED in text:
        assert "\\n" + FORGED in text, f"{what}: the registry's text is not shown escaped:\n{text}"


def test_registry_text_in_follow_log_lines_is_escaped(host, tmp_path, built):
    for name, route, expected_event in (("error", forged_error_route, "retry"),
                                        ("media-type", forged_media_type_route, "refused")):
        hostile = Hostile(route)
        try:
            log = tmp_path / f"{name}.log"
            agent = follow(host, hostile.ref(":stable"), log, json_lines=False)
            try:
                wait_for(lambda: f" {expected_event}: " in log.with_suffix(".err").read_text(), 120,
                         f"the agent's {expected_event} line ({name})")
            finally:
                code, _ = stop_within(agent, 20)
            assert code == 0
            text = log.with_suffix(".err").read_text()
            assert_not_forged(text, name)
            # JSON lines too: one object per line, the message escaped.
            log = tmp_path / f"{name}.jsonl"
            agent = follow(host, hostile.ref(":stable"), log)
            try:
                wait_for(lambda: any(e["event"] == expected_event for e in log_events(log)), 120, f"{name} JSON")
            finally:
                stop_within(agent, 20)
            event = [e for e in log_events(log) if e["event"] == expected_event][0]
            assert "\\n" + FORGED in event["message"] and "\n" not in event["message"], event
        finally:
            hostile.close()

    # An app name from a lock (a consistent artifact on a real registry, as anyone with push
    # rights can write it): whatever refuses it, its line is the agent's own.
    registry = Registry(tmp_path / "registry")
    try:
        env = base_env(tmp_path / "builder")
        base = push(env, build_bundle(tmp_path / "builder", "hello", env), registry.ref(":base"))
        m = json.loads(registry.manifest(base)[0])
        lock = json.loads(registry.blob(m["config"]["digest"]))
        lock["app"] = "fleet\n" + FORGED
        data = json.dumps(lock).encode()
        m["config"] = {**m["config"], "digest": registry.put_blob(data), "size": len(data)}
        registry.put_manifest("stable", m)
        log = tmp_path / "lock.log"
        agent = follow(host, registry.ref(":stable"), log, json_lines=False)
        try:
            wait_for(lambda: re.search(r" (refused|failed): ", log.with_suffix(".err").read_text()), 120,
                     "the agent's refusal of the lock")
        finally:
            stop_within(agent, 20)
        # The refusal may or may not quote the name (fleet::unsafe-lock names the field); where it
        # does, it is escaped.
        assert_not_forged(log.with_suffix(".err").read_text(), "lock app name", shown=False)
        assert not (host.root / "current").exists()
    finally:
        registry.stop()


def tag(env: dict, registry: Registry, digest: str, name: str = "stable") -> None:
    run(env, "tag", registry.ref(f"@{digest}"), name)


def test_a_flapping_tag_does_not_redeploy_a_failed_digest(host, tmp_path, built):
    registry = Registry(tmp_path / "registry")
    try:
        env = base_env(tmp_path / "builder")
        good = push(env, build_bundle(tmp_path / "builder", "hello", env), registry.ref(":good"))
        bad = push(env, build_bundle(tmp_path / "builder", "trap", env), registry.ref(":bad"))
        tag(env, registry, good)
        log = tmp_path / "agent.jsonl"
        agent = follow(host, registry.ref(":stable"), log)
        try:
            def events(kind: str, digest: str) -> list[dict]:
                return [e for e in log_events(log) if e["event"] == kind and e.get("digest") == digest]

            wait_for(lambda: events("deployed", good), 300, "A deployed")
            tag(env, registry, bad)  # A -> B: fails (preflight), rolled back
            wait_for(lambda: events("failed", bad), 300, "B failed")
            tag(env, registry, good)  # B -> A: already live
            wait_for(lambda: events("live", good), 120, "A found live again")
            tag(env, registry, bad)  # A -> B again: skipped, not deployed
            wait_for(lambda: events("skipped", bad), 120, "B skipped")
            time.sleep(4)  # four more polls on B
            tag(env, registry, good)
            n = len(events("live", good))
            wait_for(lambda: len(events("live", good)) > n, 120, "A live once more")
            tag(env, registry, bad)  # and once more: still skipped
            wait_for(lambda: len(events("skipped", bad)) >= 2, 120, "B skipped again")
            for _ in range(10):
                r = host.apache.get("/app")
                assert r.status == 200 and r.body == BODIES["hello"]
        finally:
            code, _ = stop_within(agent, 60)
        assert code == 0, log.with_suffix(".err").read_text()
        deploying_bad = [e for e in log_events(log) if e["event"] == "deploying" and e.get("digest") == bad]
        assert len(deploying_bad) == 1, deploying_bad
        skipped = [e for e in log_events(log) if e["event"] == "skipped"]
        assert len(skipped) == 2 and all(e["digest"] == bad and e["code"] == "deploy::preflight" for e in skipped), skipped
        assert "not retried until the tag moves" in skipped[0]["message"], skipped
        listing = json.loads(run(host.env, "--json", "releases", "--root", host.root).stdout)
        current = [r for r in listing["releases"] if r["current"]][0]
        assert current["source"].endswith("@" + good), listing
    finally:
        registry.stop()
