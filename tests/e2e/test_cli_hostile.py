"""The CLI against hostile inputs (issue 15): the real `mod-wasm` binary and clang-built modules.

- `build --out .` inside a project, `--out` the manifest's folder or a parent, and `--out` a non-empty
  folder that is not a bundle are refused (exit 1, a diagnostic), and nothing in them is touched.
- A module source that is `/dev/zero` or a FIFO is refused at once, at its `source=`, without
  reading the device or blocking on the FIFO.
- A manifest nested 1,500 deep is a `manifest::too-deep` diagnostic (exit 1), not a stack overflow.
- A compile bomb (200,000 empty functions) is refused before compiling, naming the limit.
- A forged `.cwasm` (with a sidecar updated to vouch for it) in a bundle never survives a rebuild: the
  CLI takes compiled code only from its own cache, or compiles.

Every CLI run has a private compiled-code cache (`MOD_WASM_CACHE_DIR`) so counts do not depend on history.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from harness import CLI, MOD_WASM_SO, missing_build_outputs, wasm_functions_module, wasm_path

TIMEOUT = 20.0
ONE_MODULE = 'app "x"\nmodule "a" source="{source}"\nroute "/a" module="a"\n'


@pytest.fixture(scope="module")
def cli() -> Path:
    """The `mod-wasm` binary built by `make` (fails, never skips, when missing)."""
    missing = missing_build_outputs(need_cli=True)
    if missing:
        pytest.fail("build outputs are missing; run `make` first:\n  " + "\n  ".join(missing), pytrace=False)
    return CLI


def run(cwd: Path, cache: Path, *args: str | Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Runs the CLI in `cwd`; a run that outlives `timeout` fails the test (TimeoutExpired)."""
    return subprocess.run(
        [str(CLI), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", "MOD_WASM_SO": str(MOD_WASM_SO), "MOD_WASM_CACHE_DIR": str(cache)},
    )


def project(tmp_path: Path, source: str = "a.wasm") -> Path:
    """A project folder: app.kdl, a.wasm (the hello sample) and a source file of the user's."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    shutil.copy(wasm_path("hello"), root / "a.wasm")
    (root / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "app.kdl").write_text(ONE_MODULE.format(source=source))
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_dot_inside_a_project_is_refused_and_nothing_deleted(cli, tmp_path):
    root = project(tmp_path)
    before = snapshot(root)
    for out in (".", "..", str(root), "src/.."):
        res = run(root, tmp_path / "cache", "build", "app.kdl", "--out", out)
        assert res.returncode == 1, (out, res.stdout, res.stderr)
        assert "build::out-holds-project" in res.stderr, res.stderr
    # From the parent folder: `--out project` is the manifest's own folder.
    res = run(tmp_path, tmp_path / "cache", "build", "project/app.kdl", "--out", "project")
    assert res.returncode == 1 and "build::out-holds-project" in res.stderr, res.stderr
    assert snapshot(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"], "no bundle, no staging folder, no cache"


def test_out_a_foreign_non_empty_folder_is_refused_and_its_files_intact(cli, tmp_path):
    root = project(tmp_path)
    work = tmp_path / "work"
    (work / "docs").mkdir(parents=True)
    (work / "docs" / "thesis.txt").write_text("years of work\n")
    res = run(root, tmp_path / "cache", "build", "app.kdl", "--out", work)
    assert res.returncode == 1, res.stderr
    assert "build::out-not-a-bundle" in res.stderr, res.stderr
    assert snapshot(work) == {"docs/thesis.txt": b"years of work\n"}
    # The same folder, emptied, takes a bundle; the bundle is then rebuilt in place.
    shutil.rmtree(work / "docs")
    for _ in range(2):
        res = run(root, tmp_path / "cache", "build", "--json", "app.kdl", "--out", work)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["bundle"] == str(work)


def test_dev_zero_as_a_source_is_refused_quickly(cli, tmp_path):
    root = project(tmp_path, source="/dev/zero")
    for command in ("check", "build"):
        started = time.monotonic()
        res = run(root, tmp_path / "cache", command, "app.kdl")
        assert time.monotonic() - started < TIMEOUT
        assert res.returncode == 1, res.stderr
        assert "manifest::not-a-file" in res.stderr and "character device" in res.stderr, res.stderr
        assert 'source="/dev/zero"' in res.stderr, "the diagnostic shows the source= value"


def test_a_fifo_as_a_source_is_refused_without_hanging(cli, tmp_path):
    root = project(tmp_path, source="pipe.wasm")
    os.mkfifo(root / "pipe.wasm")
    for command in ("check", "build"):
        try:
            res = run(root, tmp_path / "cache", command, "--json", "app.kdl")
        except subprocess.TimeoutExpired:
            pytest.fail(f"`mod-wasm {command}` blocked on a FIFO source for {TIMEOUT}s")
        assert res.returncode == 1, res.stderr
        problem = json.loads(res.stdout)["problems"][0]
        assert problem["code"] == "manifest::not-a-file", problem
        assert "FIFO" in problem["message"], problem
        assert (problem["line"], problem["column"]) == (2, 19), problem


def test_a_manifest_nested_1500_deep_is_a_diagnostic_not_an_abort(cli, tmp_path):
    root = project(tmp_path)
    (root / "app.kdl").write_text(ONE_MODULE.format(source="a.wasm") + "a {\n" * 1500 + "}\n" * 1500)
    res = run(root, tmp_path / "cache", "check", "app.kdl")
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])
    assert "manifest::too-deep" in res.stderr, res.stderr
    assert "app.kdl:68:3" in res.stderr, "located at the 65th level"


def test_a_compile_bomb_is_refused_by_build_quickly_with_the_limit_named(cli, tmp_path):
    root = project(tmp_path)
    (root / "a.wasm").write_bytes(wasm_functions_module(200_000))
    started = time.monotonic()
    res = run(root, tmp_path / "cache", "build", "--json", "app.kdl")
    elapsed = time.monotonic() - started
    assert res.returncode == 1, res.stderr
    assert elapsed < 10, f"refused after {elapsed:.1f}s: was it compiled?"
    problem = json.loads(res.stdout)["problems"][0]
    assert problem["code"] == "manifest::module-limit", problem
    assert "functions" in problem["message"] and "200000" in problem["message"], problem
    assert not (root / "bundle").exists()
    # A small module of the same shape builds: the refusal is the limit, not the writer.
    (root / "a.wasm").write_bytes(wasm_functions_module(10))
    (root / "app.kdl").write_text(ONE_MODULE.format(source="a.wasm"))
    res = run(root, tmp_path / "cache", "build", "--json", "app.kdl")
    assert res.returncode == 0, res.stderr


def test_a_forged_cwasm_is_replaced_by_a_clean_rebuild(cli, tmp_path):
    root = project(tmp_path)
    cache = tmp_path / "cache"
    res = run(root, cache, "build", "--json", "app.kdl")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["compiled"], json.loads(res.stdout)["reused"]) == (1, 0)
    cwasm = root / "bundle" / "modules" / "a.cwasm"
    sidecar = root / "bundle" / "modules" / "a.cwasm.meta"
    clean = cwasm.read_bytes()

    def forge() -> bytes:
        forged = bytearray(clean)
        middle = len(forged) // 2
        forged[middle : middle + 64] = b"\xcc" * 64  # int3
        forged = bytes(forged)
        cwasm.write_bytes(forged)
        lines = [
            f"cwasm_sha256 = {hashlib.sha256(forged).hexdigest()}" if line.startswith("cwasm_sha256") else line
            for line in sidecar.read_text().splitlines()
        ]
        sidecar.write_text("\n".join(lines) + "\n")
        return forged

    # With the CLI's cache: its own code comes back, whatever the bundle held.
    forged = forge()
    res = run(root, cache, "build", "--json", "app.kdl")
    assert res.returncode == 0, res.stderr
    assert cwasm.read_bytes() != forged
    assert cwasm.read_bytes() == clean

    # With an empty cache: compiled again, the forged file never reused.
    forged = forge()
    res = run(root, tmp_path / "fresh-cache", "build", "--json", "app.kdl")
    report = json.loads(res.stdout)
    assert (report["compiled"], report["reused"]) == (1, 0), report
    assert cwasm.read_bytes() != forged
    text = run(root, tmp_path / "third-cache", "build", "app.kdl").stdout
    assert "1 compiled, 0 reused" in text, text

    # Everything in the bundle is 0644 (files) or 0755 (folders): the server's trust rules.
    for path in [root / "bundle", *(root / "bundle").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))

