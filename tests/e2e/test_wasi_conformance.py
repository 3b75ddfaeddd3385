"""WASI preview 1 conformance through Apache (issue 19, findings 8 and 9), in the spirit of
WebAssembly/wasi-testsuite's poll_oneoff and fd tests (our own modules, not that suite's).

- `poll_oneoff` answers every subscription set, not only a plain sleep: `poll()` on stdin (the
  request body) and stdout, two clock subscriptions at once, a clock and an fd together, fd
  readiness on a file in a mapped folder, an absolute-clock sleep.
- An absolute-clock sleep an hour away ends at `WasmTimeout` with 504, its worker freed.
- A trap's log line starts with its cause even when the Wasm backtrace is thousands of frames.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import assert_no_crash, expect_log, request, timed

pytestmark = pytest.mark.mpms("event", "prefork")


@pytest.fixture
def data_dir(public_tmp) -> Path:
    d = public_tmp / "data"
    d.mkdir()
    (d / "file.txt").write_text("some bytes\n")
    os.chmod(d, 0o755)
    os.chmod(d / "file.txt", 0o644)
    return d


def conf(data_dir: Path) -> str:
    return f"""
<Location /poll>
    SetHandler wasm-handler
    WasmModule @WASM@/poll_fds.wasm
    WasmMapDir /data {data_dir}
    WasmArg /data/file.txt
    WasmTimeout 10
</Location>
<Location /abstime-near>
    SetHandler wasm-handler
    WasmModule @WASM@/poll_abstime.wasm
    WasmArg near
</Location>
<Location /abstime-far>
    SetHandler wasm-handler
    WasmModule @WASM@/poll_abstime.wasm
    WasmTimeout 2
</Location>
<Location /deep-divzero>
    SetHandler wasm-handler
    WasmModule @WASM@/deep_divzero.wasm
</Location>
<Location /recursion>
    SetHandler wasm-handler
    WasmModule @WASM@/recursion.wasm
</Location>
"""


def test_poll_oneoff_answers_every_subscription_set(apache_factory, mpm, data_dir):
    srv = apache_factory(mpm=mpm, extra_conf=conf(data_dir))
    for body in (None, b"a request body\n"):
        r = request(srv.port, "POST" if body else "GET", "/poll", body=body)
        assert r.status == 200, r.text
        lines = [line for line in r.text.splitlines() if line.strip()]
        names = [line.split()[0] for line in lines]
        assert names == ["stdin", "stdout", "two_clocks", "clock_and_fd", "file"], r.text
        assert all(" ok" in line for line in lines), r.text
        assert "first=101" in r.text  # the 5 ms clock fires before the 20 ms one
    r = request(srv.port, "GET", "/abstime-near")
    assert r.status == 200 and "abstime ok" in r.text, r.text
    assert_no_crash(srv)


def test_an_absolute_clock_far_away_ends_at_the_deadline(apache_factory, mpm):
    srv = apache_factory(mpm=mpm, extra_conf=conf(Path("/tmp")))
    r, took = timed(request, srv.port, "GET", "/abstime-far")
    assert r.status == 504, r.text
    assert took < 15, took
    r = request(srv.port, "GET", "/abstime-near")
    assert r.status == 200, r.text
    assert_no_crash(srv)


@pytest.mark.parametrize(
    "path, cause",
    [("/deep-divzero", "wasm trap: integer divide by zero"), ("/recursion", "wasm trap: call stack exhausted")],
)
def test_a_trap_log_line_starts_with_its_cause(apache_factory, mpm, path, cause):
    srv = apache_factory(mpm=mpm, extra_conf=conf(Path("/tmp")))
    mark = srv.log_mark()
    r = request(srv.port, "GET", path)
    assert r.status == 500
    line = expect_log(srv, mark, cause, "backtrace:")
    assert line.index(cause) < line.index("backtrace:"), line
    assert "more)" in line, line
    assert_no_crash(srv)
