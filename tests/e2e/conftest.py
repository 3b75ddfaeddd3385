"""pytest fixtures shared by the end-to-end suite: build check, MPM parametrisation, Apache factory.

- `built` (session): fails, never skips, when `make` has not produced build/mod_wasm.so and every
  build/wasm/NAME.wasm; tests that need the server depend on it.
- `cli` (session): the `mod-wasm` binary, failing the same way when it is missing.
- `mpm`: parametrised over event and prefork (and worker, for test files that opt in with
  `pytestmark = pytest.mark.mpms("event", "worker", "prefork")`).
- `public_tmp`: a temporary folder readable by Apache's children.
- `apache_factory`: starts an `Apache` from harness.py and stops every one it started at teardown,
  checking that no child died on a signal.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import CLI, Apache, assert_no_crash, missing_build_outputs  # noqa: E402

DEFAULT_MPMS = ("event", "prefork")


def pytest_configure(config):
    config.addinivalue_line("markers", "mpms(*names): MPMs the `mpm` fixture runs this test (or module) under")


def pytest_generate_tests(metafunc):
    if "mpm" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("mpms")
        names = marker.args if marker else DEFAULT_MPMS
        metafunc.parametrize("mpm", names, scope="module")


@pytest.fixture(scope="session")
def built():
    """Fails with a clear message when the build outputs are missing (run `make` first)."""
    missing = missing_build_outputs()
    if missing:
        pytest.fail(
            "build outputs are missing; run `make` at the repository root first:\n  " + "\n  ".join(missing),
            pytrace=False,
        )
    return True


@pytest.fixture(scope="session")
def cli(built) -> Path:
    """The `mod-wasm` binary built by `make` (fails, never skips, when missing)."""
    missing = missing_build_outputs(need_cli=True)
    if missing:
        pytest.fail("build outputs are missing; run `make` first:\n  " + "\n  ".join(missing), pytrace=False)
    return CLI


@pytest.fixture
def apache_factory(built):
    """Returns start(**Apache kwargs) -> a started Apache; every one is stopped and checked at teardown."""
    started: list[Apache] = []

    def start(**kw) -> Apache:
        a = Apache(**kw)
        started.append(a)
        a.start()
        return a

    yield start
    for a in started:
        a.stop()
    for a in started:
        assert_no_crash(a)
        a.__exit__(None, None, None)


@pytest.fixture
def public_tmp():
    """A temporary folder Apache's unprivileged children (User nobody) can read, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="mod-wasm-e2e-data-"))
    os.chmod(path, 0o755)
    yield path
    if not os.environ.get("MOD_WASM_KEEP_TMP"):
        shutil.rmtree(path, ignore_errors=True)
