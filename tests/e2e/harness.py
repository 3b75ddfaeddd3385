"""Test harness for the end-to-end suite: a real Apache in a temporary ServerRoot, and a tiny HTTP client.

Everything here is stdlib only, so other test files (the CLI's, the hostile suite's) can import it:

    from harness import Apache, request, wasm_path, assert_no_crash

`Apache` writes a complete httpd.conf for one MPM (event, worker or prefork), starts
`/usr/sbin/apache2 -f CONF -DFOREGROUND` in its own session (so stopping it never signals pytest),
waits for its port, and offers graceful/restart/configtest/stop plus the error log's text.
`request()` speaks HTTP/1.1 through `http.client`, never follows redirects, and returns every header
as a (name, value) pair, so repeated headers such as two `Set-Cookie` stay visible.

Environment: MOD_WASM_PROFILE (cargo profile, default release, as the Makefile), APACHE_BIN, APACHE_MODULES, and
MOD_WASM_KEEP_TMP=1 to keep every temporary ServerRoot (config, error log) for inspection.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

# --------------------------------------------------------------------------------------------
# Where things are
# --------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
"""The repository root (tests/e2e/harness.py -> ../..)."""

PROFILE = os.environ.get("MOD_WASM_PROFILE", "release")
"""Cargo profile whose outputs the tests use (the Makefile's PROFILE, release by default; `make test` sets it)."""

BUILD = REPO / "build"
MOD_WASM_SO = BUILD / "mod_wasm.so"
WASM_DIR = BUILD / "wasm"
CLI = REPO / "target" / PROFILE / "mod-wasm"
RUNTIME_SO = REPO / "target" / PROFILE / "libwasm_runtime.so"

APACHE_BIN = Path(os.environ.get("APACHE_BIN", "/usr/sbin/apache2"))
APACHE_MODULES = Path(os.environ.get("APACHE_MODULES", "/usr/lib/apache2/modules"))

MPMS = ("event", "worker", "prefork")


def wasm_path(name: str) -> Path:
    """`build/wasm/NAME.wasm`, the compiled form of `samples/c/NAME.c` or `tests/modules/NAME.{c,wat}`."""
    return WASM_DIR / f"{name}.wasm"


def expected_wasm_names() -> list[str]:
    """Every module `make` must have built: one per sample source and per test module source."""
    names = set()
    for folder, exts in ((REPO / "samples" / "c", (".c",)), (REPO / "tests" / "modules", (".c", ".wat"))):
        if folder.is_dir():
            for src in folder.iterdir():
                if src.suffix in exts:
                    names.add(src.stem)
    return sorted(names)


def missing_build_outputs(need_cli: bool = False) -> list[str]:
    """Paths `make` should have produced but did not (empty when the build is complete)."""
    wanted = [MOD_WASM_SO] + [wasm_path(n) for n in expected_wasm_names()]
    if need_cli:
        wanted.append(CLI)
    return [str(p) for p in wanted if not p.is_file()]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wasm_functions_module(count: int) -> bytes:
    """A core module of `count` empty functions, written byte by byte (a compile bomb when large)."""

    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    def section(sid: int, payload: bytes) -> bytes:
        return bytes([sid]) + leb(len(payload)) + payload

    types = section(1, leb(1) + b"\x60\x00\x00")
    funcs = section(3, leb(count) + b"\x00" * count)
    code = section(10, leb(count) + b"\x02\x00\x0b" * count)
    return b"\x00asm\x01\x00\x00\x00" + types + funcs + code


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64-bit, the checksum the cgi_echo sample prints for its stdin."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fnv1a64_stream(chunks: Iterable[bytes]) -> int:
    """FNV-1a 64 over a sequence of chunks (same result as over their concatenation)."""
    h = 0xCBF29CE484222325
    for data in chunks:
        for b in data:
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


# --------------------------------------------------------------------------------------------
# Crash detection
# --------------------------------------------------------------------------------------------

CRASH_PATTERNS = (
    re.compile(r"exited on signal", re.I),
    re.compile(r"Segmentation fault", re.I),
    re.compile(r"child pid \d+ exit signal", re.I),
    re.compile(r"\bAH00052\b"),  # "child pid N exit signal ..."
    re.compile(r"possible coredump", re.I),
)


def _allow_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def crash_lines(log_text: str) -> list[str]:
    """Error-log lines that say an Apache child died on a signal."""
    return [line for line in log_text.splitlines() if any(p.search(line) for p in CRASH_PATTERNS)]


def assert_no_crash(apache_or_log: "Apache | str") -> None:
    """Fails when the error log shows a child that exited on a signal (trap handling broke).
    With a core dump in the server's `cores/` folder, the failure carries gdb's backtrace."""
    text = apache_or_log if isinstance(apache_or_log, str) else apache_or_log.error_log()
    bad = crash_lines(text)
    if bad and not isinstance(apache_or_log, str):
        bad += core_backtraces(apache_or_log.root / "cores")
    assert not bad, "an Apache child died on a signal:\n" + "\n".join(bad[:200])


def core_backtraces(folder: Path) -> list[str]:
    """gdb backtraces of every core file in `folder` (empty when gdb or cores are missing)."""
    out: list[str] = []
    if not shutil.which("gdb") or not folder.is_dir():
        return out
    for core in sorted(folder.glob("core*")):
        res = subprocess.run(
            ["gdb", "-batch", "-ex", "thread apply all bt 30", str(APACHE_BIN), str(core)],
            capture_output=True, text=True, timeout=120,
        )
        out += [f"--- backtrace of {core.name} ---"] + res.stdout.splitlines()[-150:]
    return out


# --------------------------------------------------------------------------------------------
# Apache
# --------------------------------------------------------------------------------------------

MPM_TUNING = {
    # Enough workers for the concurrency tests, small enough for a 2-core machine.
    "event": """
StartServers 2
ServerLimit 4
ThreadsPerChild 32
ThreadLimit 32
MaxRequestWorkers 128
MinSpareThreads 8
MaxSpareThreads 128
MaxConnectionsPerChild 0
""",
    "worker": """
StartServers 2
ServerLimit 4
ThreadsPerChild 32
ThreadLimit 32
MaxRequestWorkers 128
MinSpareThreads 8
MaxSpareThreads 128
MaxConnectionsPerChild 0
""",
    "prefork": """
StartServers 8
MinSpareServers 8
MaxSpareServers 48
ServerLimit 48
MaxRequestWorkers 48
MaxConnectionsPerChild 0
""",
}

# Apache's own process environment. Canaries prove nothing of it reaches a module.
LEAK_CANARY_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LD_LIBRARY_PATH": "/nonexistent/mod-wasm-leak-canary",
    "HTTP_PROXY": "http://leak-canary.invalid:3128",
    "http_proxy": "http://leak-canary.invalid:3128",
    "MOD_WASM_LEAK_CANARY": "apache-process-env",
    "LANG": "C",
}


class ApacheError(AssertionError):
    """Apache could not start or stop; the message carries the error log's tail."""


@dataclass
class Apache:
    """A real Apache httpd in a temporary ServerRoot, as a context manager.

    extra_conf: appended to httpd.conf after the placeholders @PORT@, @ROOT@ (ServerRoot),
    @DOCROOT@, @WASM@ (build/wasm) and @REPO@ are replaced.
    """

    mpm: str = "event"
    extra_conf: str = ""
    log_level: str = "info"
    load_mod_wasm: bool = True
    cgi: bool = False
    modules: tuple[str, ...] = ()
    timeout: int | None = None
    pre_conf: str = ""
    start_timeout: float = 15.0
    root: Path = field(default=None)  # type: ignore[assignment]
    port: int = 0
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        if self.mpm not in MPMS:
            raise ValueError(f"unknown MPM {self.mpm!r}")
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix=f"mod-wasm-e2e-{self.mpm}-"))
            self._own_root = True
        else:
            self.root = Path(self.root)
            self.root.mkdir(parents=True, exist_ok=True)
            self._own_root = False
        os.chmod(self.root, 0o755)
        self.docroot = self.root / "htdocs"
        self.docroot.mkdir(exist_ok=True)
        os.chmod(self.docroot, 0o755)
        (self.root / "run").mkdir(exist_ok=True)
        self.conf_path = self.root / "httpd.conf"
        self.error_log_path = self.root / "error.log"
        self.access_log_path = self.root / "access.log"
        self.stdio_path = self.root / "apache.stdio"
        if not self.port:
            self.port = free_port()

    # ---- configuration -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def substitute(self, text: str) -> str:
        return (
            text.replace("@PORT@", str(self.port))
            .replace("@ROOT@", str(self.root))
            .replace("@DOCROOT@", str(self.docroot))
            .replace("@WASM@", str(WASM_DIR))
            .replace("@REPO@", str(REPO))
        )

    def render_conf(self) -> str:
        mods = APACHE_MODULES
        lines = [
            f"# httpd.conf written by tests/e2e/harness.py for MPM {self.mpm}",
            f'ServerRoot "{self.root}"',
            f'DefaultRuntimeDir "{self.root / "run"}"',
            f'PidFile "{self.root / "run" / "httpd.pid"}"',
            f"LoadModule mpm_{self.mpm}_module {mods}/mod_mpm_{self.mpm}.so",
            f"LoadModule authz_core_module {mods}/mod_authz_core.so",
            f"LoadModule mime_module {mods}/mod_mime.so",
            f"LoadModule alias_module {mods}/mod_alias.so",
        ]
        if self.cgi:
            if self.mpm == "prefork":
                lines.append(f"LoadModule cgi_module {mods}/mod_cgi.so")
            else:
                lines.append(f"LoadModule cgid_module {mods}/mod_cgid.so")
                lines.append(f'ScriptSock "{self.root / "run" / "cgisock"}"')
        for m in self.modules:
            lines.append(f"LoadModule {m}_module {mods}/mod_{m}.so")
        if self.load_mod_wasm:
            lines.append(f'LoadModule wasm_module "{MOD_WASM_SO}"')
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        lines += [
            f"Listen 127.0.0.1:{self.port}",
            "ServerName 127.0.0.1",
            f'ErrorLog "{self.error_log_path}"',
            f"LogLevel {self.log_level}",
            'LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" timed',
            f'CustomLog "{self.access_log_path}" timed',
            "TypesConfig /etc/mime.types",
            f'DocumentRoot "{self.docroot}"',
            f'<Directory "{self.docroot}">',
            "    Require all granted",
            "</Directory>",
            "KeepAlive On",
            "MaxKeepAliveRequests 0",
            "KeepAliveTimeout 5",
            MPM_TUNING[self.mpm].strip(),
        ]
        if self.timeout is not None:
            lines.append(f"Timeout {self.timeout}")
        # A child that dies on a signal leaves a core here for assert_no_crash's backtrace.
        (self.root / "cores").mkdir(exist_ok=True)
        os.chmod(self.root / "cores", 0o777)
        lines.append(f'CoreDumpDirectory "{self.root / "cores"}"')
        lines.append("GracefulShutdownTimeout 5")
        text = "\n".join(lines) + "\n"
        if self.pre_conf:
            text = self.substitute(self.pre_conf) + "\n" + text
        return text + "\n" + self.substitute(self.extra_conf) + "\n"

    def write_conf(self) -> Path:
        self.conf_path.write_text(self.render_conf())
        return self.conf_path

    # ---- lifecycle -----------------------------------------------------------------------

    def configtest(self) -> tuple[int, str]:
        """`apache2 -t -f CONF`: (exit code, combined output)."""
        self.write_conf()
        res = subprocess.run(
            [str(APACHE_BIN), "-t", "-f", str(self.conf_path)],
            capture_output=True,
            text=True,
            env=dict(LEAK_CANARY_ENV),
            timeout=120,
        )
        return res.returncode, res.stdout + res.stderr

    def start(self) -> "Apache":
        if not APACHE_BIN.is_file():
            raise ApacheError(f"{APACHE_BIN} not found: install Debian's apache2")
        self.write_conf()
        stdio = open(self.stdio_path, "ab")
        self.proc = subprocess.Popen(
            [str(APACHE_BIN), "-f", str(self.conf_path), "-DFOREGROUND"],
            stdin=subprocess.DEVNULL,
            stdout=stdio,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(LEAK_CANARY_ENV),
            cwd=str(self.root),
            preexec_fn=_allow_core_dumps,
        )
        stdio.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ApacheError(
                    f"apache2 ({self.mpm}) exited with {self.proc.returncode} at start-up\n" + self.diagnostics()
                )
            if self._port_answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise ApacheError(f"apache2 ({self.mpm}) did not answer on port {self.port} within "
                          f"{self.start_timeout:.0f} s\n" + self.diagnostics())

    def _port_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None, "Apache is not running"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _resumes(self) -> int:
        return self.error_log().count("resuming normal operations")

    def _signal_and_wait_resume(self, sig: int, timeout: float) -> None:
        before = self._resumes()
        os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ApacheError(f"apache2 exited after signal {sig}\n" + self.diagnostics())
            if self._resumes() > before and self._port_answers():
                return
            time.sleep(0.05)
        raise ApacheError(f"apache2 did not resume within {timeout:.0f} s after signal {sig}\n" + self.diagnostics())

    def graceful(self, timeout: float = 30.0) -> None:
        """Graceful restart (SIGUSR1 to the parent); returns once Apache resumed serving.

        The config file is rewritten first, so a test may change `extra_conf` before calling this.
        """
        self.write_conf()
        self._signal_and_wait_resume(signal.SIGUSR1, timeout)

    def restart(self, timeout: float = 30.0) -> None:
        """Restart (SIGHUP to the parent); returns once Apache resumed serving. Rewrites the config."""
        self.write_conf()
        self._signal_and_wait_resume(signal.SIGHUP, timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        """Graceful stop (SIGWINCH: requests in flight finish, within GracefulShutdownTimeout),
        then SIGKILL the process group we created if it is still there. Returns the exit code.

        Not SIGTERM: Apache 2.4's event MPM can crash a child on an ungraceful stop while its
        workers are busy (seen here: SIGSEGV in apr_os_sock_get from the child's main thread while
        it shuts down worker sockets), which would hide the crashes these tests look for."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGWINCH)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def __enter__(self) -> "Apache":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._own_root and not os.environ.get("MOD_WASM_KEEP_TMP"):
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- logs ----------------------------------------------------------------------------

    def error_log(self) -> str:
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def error_log_since(self, mark: int) -> str:
        """The error log from byte offset `mark` (see `log_mark()`)."""
        try:
            with open(self.error_log_path, "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        try:
            return self.error_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_log(self, pattern: str | re.Pattern, since: int = 0, timeout: float = 10.0) -> str:
        """Waits until the error log (from `since`) matches `pattern`; returns that log text."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.error_log_since(since)
            if rx.search(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"error log never matched {rx.pattern!r}; it has:\n{text[-4000:]}")

    def diagnostics(self, lines: int = 40) -> str:
        parts = []
        for label, path in (("error log", self.error_log_path), ("apache stdout/stderr", self.stdio_path)):
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                tail = ["(none)"]
            parts.append(f"--- {label} ({path}) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    # ---- requests ------------------------------------------------------------------------

    def request(self, method: str, path: str, **kw) -> "Response":
        return request(self.port, method, path, **kw)

    def get(self, path: str, **kw) -> "Response":
        return request(self.port, "GET", path, **kw)

    def post(self, path: str, body, **kw) -> "Response":
        return request(self.port, "POST", path, body=body, **kw)


def expect_log(srv: Apache, mark: int, *needles: str, timeout: float = 10.0) -> str:
    """Waits for one error-log line (written after `mark`, see `Apache.log_mark()`) that contains every
    needle (case-insensitive substrings); returns that line, or fails with the log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        text = srv.error_log_since(mark)
        for line in text.splitlines():
            if all(n.lower() in line.lower() for n in needles):
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no error-log line holds all of {needles}; the log since the mark:\n{text[-3000:]}")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------------------------


@dataclass
class Response:
    """One HTTP response. `complete` is False when the connection closed before the body's end."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool = True

    def header(self, name: str) -> str | None:
        """The first header with this name (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def __repr__(self) -> str:  # short, for assertion messages
        return (f"Response({self.status} {self.reason}, complete={self.complete}, headers={self.headers}, "
                f"body[{len(self.body)}]={self.body[:300]!r})")


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | Iterable[bytes] | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    chunked: bool = False,
    timeout: float = 60.0,
    host: str = "127.0.0.1",
) -> Response:
    """Sends one request on a fresh connection and reads the whole response (no redirects followed).

    body: bytes/str, or an iterator of bytes (sent with `Transfer-Encoding: chunked` when
    `chunked` is True). A response cut short by the server comes back with complete=False.
    """
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        names = {k.lower() for k, _ in hdrs}
        conn.putrequest(method, path, skip_host="host" in names, skip_accept_encoding=True)
        if isinstance(body, str):
            body = body.encode()
        for k, v in hdrs:
            conn.putheader(k, v)
        if chunked:
            if "transfer-encoding" not in names:
                conn.putheader("Transfer-Encoding", "chunked")
        elif body is not None and "content-length" not in names:
            if not isinstance(body, (bytes, bytearray)):
                body = b"".join(body)
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if chunked:
            chunks = [body] if isinstance(body, (bytes, bytearray)) else (body or [])
            for chunk in chunks:
                if chunk:
                    conn.send(b"%x\r\n" % len(chunk) + bytes(chunk) + b"\r\n")
            conn.send(b"0\r\n\r\n")
        elif body:
            conn.send(bytes(body))
        resp = conn.getresponse()
        complete = True
        try:
            data = resp.read()
        except http.client.IncompleteRead as e:
            data = e.partial
            complete = False
        except (ConnectionResetError, http.client.HTTPException):
            data = b""
            complete = False
        return Response(resp.status, resp.reason, resp.getheaders(), data, complete)
    finally:
        conn.close()


class LoadLoop:
    """Threads requesting `path` until stopped, half on kept-alive connections, half on new ones.

    Counted as an HTTP client counts: a request on a kept-alive connection that the server closed
    (a graceful restart closes idle connections) is retried once on a new connection and counted as a
    retry; any other error, a non-2xx status, or a body not in `allowed` (when given) is a failure.
    Used by the deploy and fleet tests and by bench/run.py."""

    def __init__(self, port: int, path: str, allowed: set[bytes], threads: int = 4, max_seconds: float = 900):
        self.port, self.path, self.allowed = port, path, allowed
        self.deadline = time.monotonic() + max_seconds  # bounded, whatever happens
        self.ok = self.retries = 0
        self.failures: list[str] = []
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(i % 2 == 0,), daemon=True) for i in range(threads)]

    def __enter__(self) -> "LoadLoop":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=120)

    def _one(self, conn: http.client.HTTPConnection) -> tuple[int, bytes]:
        conn.request("GET", self.path)
        r = conn.getresponse()
        return r.status, r.read()

    def _fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def _loop(self, keep_alive: bool) -> None:
        conn = None
        while not self.stop_flag.is_set() and time.monotonic() < self.deadline:
            if conn is None or not keep_alive:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            reused = keep_alive and conn.sock is not None
            try:
                status, body = self._one(conn)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if not reused:
                    self._fail(f"fresh connection: {e!r}")
                    continue
                with self.lock:
                    self.retries += 1
                try:
                    status, body = self._one(conn)
                except Exception as e2:  # noqa: BLE001
                    self._fail(f"after a retry: {e2!r}")
                    conn.close()
                    conn = None
                    continue
            except Exception as e:  # noqa: BLE001
                self._fail(repr(e))
                conn.close()
                conn = None
                continue
            if not 200 <= status < 300 or (self.allowed and body not in self.allowed):
                self._fail(f"{status} {body[:80]!r}")
            else:
                with self.lock:
                    self.ok += 1
            if not keep_alive:
                conn.close()
            time.sleep(0.002)


def raw_request(port: int, data: bytes, timeout: float = 30.0, read: bool = True) -> bytes:
    """Sends raw bytes on a fresh connection and returns everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if not read:
            return b""
        out = bytearray()
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)


def timed(fn, *args, **kw):
    """`fn(*args, **kw)` and the seconds it took (to show that a request ended, never as a speed claim)."""
    t0 = time.monotonic()
    r = fn(*args, **kw)
    return r, time.monotonic() - t0


def dechunk(raw: bytes) -> bytes:
    """The payload of a complete chunked body (fails on malformed framing)."""
    out, pos = bytearray(), 0
    while True:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += raw[eol + 2 : eol + 2 + size]
        assert raw[eol + 2 + size : eol + 4 + size] == b"\r\n", "chunk not followed by CRLF"
        pos = eol + 4 + size


def parse_echo(body: bytes | str) -> dict:
    """Parses the cgi_echo sample's output into {'argv': [...], 'env': {...}, 'stdin_bytes': n, 'stdin_fnv1a64': n}.

    Lines it does not know (e.g. a `Content-Type:` header printed as body with CGI off) are kept in 'other'.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    out: dict = {"argv": [], "env": {}, "stdin_bytes": None, "stdin_fnv1a64": None, "other": []}
    for line in text.splitlines():
        if line.startswith("argv["):
            _, _, value = line.partition("]=")
            out["argv"].append(value)
        elif line.startswith("env:"):
            name, _, value = line[4:].partition("=")
            out["env"][name] = value
        elif line.startswith("stdin.bytes="):
            out["stdin_bytes"] = int(line.split("=", 1)[1])
        elif line.startswith("stdin.fnv1a64="):
            out["stdin_fnv1a64"] = int(line.split("=", 1)[1], 16)
        else:
            out["other"].append(line)
    return out


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    """Yields `data` in pieces of `size` bytes (for chunked uploads)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def status_doc(srv: "Apache") -> dict:
    """The server's wasm-status document (`/wasm-status?json`; the test's config must serve it)."""
    r = srv.get("/wasm-status?json")
    assert r.status == 200, r
    return json.loads(r.body)


def route_of(doc: dict, route: str) -> dict:
    """The one row of a wasm-status document for `route`."""
    found = [r for r in doc["routes"] if r["route"] == route]
    assert len(found) == 1, f"{route} appears {len(found)} times in {doc['routes']}"
    return found[0]


def serving(a: "Apache"):
    """For a module-scoped fixture: starts `a`, yields it, stops it and checks that no child died."""
    try:
        a.start()
        yield a
    finally:
        a.stop()
        log = a.error_log()
        a.__exit__(None, None, None)
    assert_no_crash(log)
