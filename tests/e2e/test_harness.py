"""Self-test of harness.py: a stock Apache (no mod_wasm) serves a static file under every MPM.

Proves the harness itself (config, start in its own session, port wait, graceful, configtest, stop)
so a failure elsewhere in the suite points at mod_wasm, not at the harness.
"""

import os
import signal
import subprocess
import time

import pytest

from harness import Apache, assert_no_crash, crash_lines

pytestmark = pytest.mark.mpms("event", "worker", "prefork")


def test_static_file_graceful_and_stop(mpm):
    with Apache(mpm=mpm, load_mod_wasm=False, cgi=True) as a:
        (a.docroot / "hello.txt").write_text("static hello\n")
        r = a.get("/hello.txt")
        assert r.status == 200, r
        assert r.body == b"static hello\n"
        assert r.header("Content-Type").startswith("text/plain")
        assert a.get("/missing").status == 404
        code, out = a.configtest()
        assert code == 0, out
        a.graceful()
        assert a.get("/hello.txt").body == b"static hello\n"
        assert os.getpgid(a.pid) == a.pid, "Apache must run in its own session"
        assert os.getpgid(a.pid) != os.getpgid(0)
        assert a.stop() is not None
        assert not a.running()
    assert_no_crash(a.error_log())


def test_configtest_reports_errors():
    a = Apache(load_mod_wasm=False, extra_conf="NoSuchDirective here\n")
    try:
        code, out = a.configtest()
        assert code != 0
        assert "NoSuchDirective" in out
    finally:
        a.__exit__(None, None, None)


def test_crash_detector_sees_signal_lines():
    log = "[Mon Nov 23 00:00:00 2026] [core:notice] [pid 1] AH00052: child pid 42 exit signal Illegal instruction (4)\n"
    with pytest.raises(AssertionError):
        assert_no_crash(log)
    assert_no_crash("[core:notice] AH00094: Command line: 'apache2'\n")


@pytest.mark.mpms("event", "prefork")
def test_crash_detector_sees_a_real_dead_child(mpm):
    """A child killed by SIGSEGV shows up in a real error log, and the detector catches it."""
    with Apache(mpm=mpm, load_mod_wasm=False) as a:
        assert a.get("/").status in (200, 403, 404)
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(a.pid)], capture_output=True, text=True).stdout
        children = [int(p) for p in out.split()]
        assert children, "Apache has no children"
        os.kill(children[0], signal.SIGSEGV)
        deadline = time.monotonic() + 15
        while not crash_lines(a.error_log()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert crash_lines(a.error_log()), a.error_log()[-2000:]
        with pytest.raises(AssertionError):
            assert_no_crash(a)
