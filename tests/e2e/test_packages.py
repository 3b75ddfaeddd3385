"""The Debian packages (`make deb`) against the real system Apache, as root.

`make deb` builds libapache2-mod-wasm and mod-wasm from the same build as the rest of the suite
(MOD_WASM_PROFILE); lintian must report no error and no warning (the kept ones are overridden, with
the reason, in packaging/*/lintian-overrides). Then, on this machine's own Apache: `dpkg -i` both,
`a2enmod wasm`, routes in conf-available + `a2enconf`, `apache2ctl configtest`, `apache2ctl start`
on a free loopback port (a ports.conf the test writes), requests; a bundle built by the packaged CLI,
included and served after a graceful restart; then `apt-get purge` both and nothing of ours is left,
and Apache still starts. Everything the test changes in /etc/apache2 and /var/lib/apache2 is put back.

Needs root and Debian's apache2 (CI is root on a throwaway machine). It fails, saying why, when it
cannot run: not root, our packages already installed (it would purge them), the system Apache running.
(`mod-wasm deploy --debian` is not tested here: that command does not exist yet.)
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import PROFILE, REPO, Apache, assert_no_crash, free_port, parse_echo, request, wasm_path

DEB_DIR = REPO / "build" / "deb"
ARTIFACTS = REPO / "build" / "test-artifacts"
PACKAGES = ("libapache2-mod-wasm", "mod-wasm")
RUNTIME_DIR = "/usr/lib/mod-wasm"
ETC = Path("/etc/apache2")
VAR_LIB = Path("/var/lib/apache2")
ERROR_LOG = Path("/var/log/apache2/error.log")
PIDFILE = Path("/var/run/apache2/apache2.pid")
# apache2ctl and the maintainer scripts get a plain environment, as from a root shell.
SYSTEM_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C",
              "DEBIAN_FRONTEND": "noninteractive"}


def run(cmd: list[str], timeout: float = 300, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Runs a command, failing with its output when `check` and it exits non-zero."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        pytest.fail(f"`{shlex.join(cmd)}` exited {res.returncode}:\n{res.stdout}{res.stderr}", pytrace=False)
    return res


def workspace_version() -> str:
    text = (REPO / "Cargo.toml").read_text()
    section = text.split("[workspace.package]", 1)[1]
    return re.search(r'^version\s*=\s*"([^"]+)"', section, re.M).group(1)


def deb_files(deb: Path) -> list[str]:
    """Every path (files and symlinks, not folders) in a .deb, as installed ("/usr/...")."""
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout.splitlines()
    paths = []
    for line in listing:
        if line.startswith("d"):
            continue
        path = line.split(None, 5)[5].split(" -> ")[0]
        paths.append(path.removeprefix("."))
    return paths


@pytest.fixture(scope="module")
def debs(built) -> dict[str, Path]:
    """Runs `make deb` for this suite's profile; {package: .deb path}."""
    start = time.monotonic()
    res = subprocess.run(["make", "-C", str(REPO), f"PROFILE={PROFILE}", "deb"],
                         capture_output=True, text=True, timeout=1800)
    took = time.monotonic() - start
    if res.returncode != 0:
        pytest.fail(f"`make deb` failed (exit {res.returncode}):\n{res.stdout[-6000:]}{res.stderr[-6000:]}",
                    pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "make-deb.txt").write_text(f"make deb (PROFILE={PROFILE}) took {took:.1f} s\n"
                                            + res.stdout[-4000:])
    version = workspace_version()
    found = {}
    for pkg in PACKAGES:
        matches = sorted(DEB_DIR.glob(f"{pkg}_{version}_*.deb"))
        assert len(matches) == 1, f"`make deb` should write one {pkg}_{version}_ARCH.deb in {DEB_DIR}: {matches}"
        found[pkg] = matches[0]
    return found


def test_make_deb_builds_both_packages_with_the_workspace_version(debs):
    version = workspace_version()
    for pkg, deb in debs.items():
        fields = run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Maintainer"]).stdout
        assert f"Package: {pkg}\n" in fields and f"Version: {version}\n" in fields, fields
    changelog = (REPO / "packaging" / "changelog").read_text().splitlines()[0]
    assert changelog.startswith(f"mod-wasm ({version})"), f"packaging/changelog's first entry is not {version}: {changelog}"


def test_lintian_reports_no_error_and_no_warning(debs):
    if not shutil.which("lintian"):
        pytest.fail("lintian is not installed (scripts/install-deps.sh installs it)", pytrace=False)
    res = run(["lintian", "--fail-on", "error,warning", "--display-info", "--pedantic", *map(str, debs.values())],
              check=False, timeout=600)
    tags = [line for line in res.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    (ARTIFACTS / "lintian.txt").write_text(res.stdout + res.stderr)
    assert res.returncode == 0 and not any(t.startswith(("E:", "W:")) for t in tags), \
        f"lintian (exit {res.returncode}):\n{res.stdout}{res.stderr}"


def test_package_contents_follow_debian_conventions(debs):
    mod = set(deb_files(debs["libapache2-mod-wasm"]))
    cli = set(deb_files(debs["mod-wasm"]))
    for path in ("/usr/lib/apache2/modules/mod_wasm.so", f"{RUNTIME_DIR}/libwasm_runtime.so",
                 "/etc/apache2/mods-available/wasm.load", "/etc/apache2/mods-available/wasm.conf",
                 "/etc/apache2/conf-available/wasm-status.conf", "/usr/include/mod-wasm/wasm_runtime.h",
                 "/usr/share/doc/libapache2-mod-wasm/copyright", "/usr/share/doc/libapache2-mod-wasm/changelog.gz"):
        assert path in mod, f"libapache2-mod-wasm lacks {path}: {sorted(mod)}"
    for path in ("/usr/bin/mod-wasm", "/usr/share/man/man1/mod-wasm.1.gz", "/usr/share/man/man1/mod-wasm-build.1.gz",
                 "/usr/share/bash-completion/completions/mod-wasm", "/usr/share/zsh/vendor-completions/_mod-wasm",
                 "/usr/share/fish/vendor_completions.d/mod-wasm.fish", "/usr/share/mod-wasm/templates/wasm.conf.j2",
                 "/usr/share/mod-wasm/templates/httpd.conf.j2", "/usr/share/doc/mod-wasm/copyright"):
        assert path in cli, f"mod-wasm lacks {path}: {sorted(cli)}"
    assert not mod & cli, f"both packages ship {mod & cli}"
    # No ldconfig entry of ours: the runtime is private, outside the linker's search path.
    assert not any(p.startswith(("/etc/ld.so.conf", "/usr/lib/x86_64-linux-gnu/libwasm")) for p in mod)

    depends = run(["dpkg-deb", "-f", str(debs["libapache2-mod-wasm"]), "Depends"]).stdout
    mmn = re.search(r"^#define MODULE_MAGIC_NUMBER_MAJOR (\d+)", Path("/usr/include/apache2/ap_mmn.h").read_text(), re.M)
    assert f"apache2-api-{mmn.group(1)}" in depends and "libc6" in depends, depends
    with tempfile.TemporaryDirectory() as tmp:
        run(["dpkg-deb", "-e", str(debs["libapache2-mod-wasm"]), tmp])
        conffiles = Path(tmp, "conffiles").read_text().split()
        assert sorted(conffiles) == ["/etc/apache2/conf-available/wasm-status.conf",
                                     "/etc/apache2/mods-available/wasm.conf", "/etc/apache2/mods-available/wasm.load"]
        for script, word in (("postinst", "enmod wasm"), ("prerm", "dismod wasm"), ("postrm", "dismod wasm")):
            text = Path(tmp, script).read_text()
            assert "apache2-maintscript-helper" in text and f"apache2_invoke {word}" in text, f"{script}:\n{text}"
        assert not Path(tmp, "triggers").exists() and not Path(tmp, "shlibs").exists()


def test_packaged_module_finds_its_runtime_through_its_rpath(debs, tmp_path):
    run(["dpkg-deb", "-x", str(debs["libapache2-mod-wasm"]), str(tmp_path)])
    dyn = run(["readelf", "-d", str(tmp_path / "usr/lib/apache2/modules/mod_wasm.so")]).stdout
    assert re.search(r"\((RUNPATH|RPATH)\).*\[" + re.escape(RUNTIME_DIR) + r"\]", dyn), dyn
    assert "Shared library: [libwasm_runtime.so]" in dyn, dyn
    # The runtime keeps -z nodelete (Apache unloads and reloads modules on restart).
    rt = run(["readelf", "-d", str(tmp_path / RUNTIME_DIR.lstrip("/") / "libwasm_runtime.so")]).stdout
    assert "NODELETE" in rt, rt
    # The test copy in build/ still points at the cargo target folder.
    assert f"target/{PROFILE}" in run(["readelf", "-d", str(REPO / "build" / "mod_wasm.so")]).stdout


def test_module_conf_shows_defaults_apache_accepts(built, tmp_path):
    """Every directive commented out in mods-available/wasm.conf, uncommented, passes `apache2 -t`."""
    text = (REPO / "packaging" / "libapache2-mod-wasm" / "wasm.conf").read_text()
    lines = [line.strip()[1:] for line in text.splitlines() if re.match(r"\s*#Wasm", line)]
    assert len(lines) >= 5, text
    cache = tmp_path / "cache"
    cache.mkdir()
    conf = "\n".join(line.replace("/var/cache/apache2/mod_wasm", str(cache)) for line in lines)
    apache = Apache(extra_conf=conf)
    try:
        code, out = apache.configtest()
    finally:
        apache.__exit__(None, None, None)
    assert code == 0, f"apache2 -t refused the defaults shown in wasm.conf:\n{conf}\n{out}"


def dockerfile_copies() -> list[list[str]]:
    """The sources of every COPY in the Dockerfile that reads the build context (not --from)."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    copies = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        assert not any(w.startswith("--from") for w in words), f"COPY --from in the Dockerfile: {line}"
        copies.append(args[:-1])
    return copies


def test_dockerfile_copies_only_what_make_deb_and_make_produce(debs):
    # The Python interpreter and its stdlib come from samples/fetch-python.sh (`make python`).
    res = subprocess.run(["make", "-C", str(REPO), f"PROFILE={PROFILE}", "python"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"`make python` failed:\n{res.stdout}{res.stderr}"
    copies = dockerfile_copies()
    assert copies, "the Dockerfile copies nothing"
    for sources in copies:
        for src in sources:
            matches = [p for p in REPO.glob(src.rstrip("/"))] if any(c in src for c in "*?[") else \
                [REPO / src.rstrip("/")] if (REPO / src.rstrip("/")).exists() else []
            assert matches, f"the Dockerfile copies {src}, which does not exist after `make deb`"
            if src.endswith(".deb"):
                assert {p.resolve() for p in matches} <= {d.resolve() for d in debs.values()}, \
                    f"{src} matches {matches}: not (only) the packages `make deb` just built"
    copied_debs = [p.resolve() for s in copies for src in s if src.endswith(".deb") for p in REPO.glob(src)]
    assert sorted(copied_debs) == sorted(d.resolve() for d in debs.values()), copied_debs
    # Packaged paths the Dockerfile relies on are in the packages.
    shipped = set(deb_files(debs["mod-wasm"])) | set(deb_files(debs["libapache2-mod-wasm"]))
    for path in re.findall(r"/usr/share/mod-wasm/\S+", (REPO / "Dockerfile").read_text()):
        assert path.rstrip(";") in shipped, f"the Dockerfile uses {path}, which no package ships"


# ------------------------------------------------------------------------------------------------
# The system Apache
# ------------------------------------------------------------------------------------------------

def installed(pkg: str) -> bool:
    """True when dpkg knows the package in any state but not-installed (installed, config-files, half-…)."""
    res = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg], capture_output=True, text=True)
    return res.returncode == 0 and res.stdout.strip() not in ("", "not-installed")


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a daemon's parent may be slow to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def apache_pid() -> int | None:
    """The system Apache's parent, from its PidFile, while it runs."""
    try:
        pid = int(PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def apache2ctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["apache2ctl", *args], check=check, env=dict(SYSTEM_ENV), start_new_session=True, timeout=180)


def wait_for_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request(port, "GET", "/", timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the system Apache did not answer on 127.0.0.1:{port} within {timeout:.0f} s:\n" + log_tail(),
                pytrace=False)


def stop_apache(timeout: float = 30.0) -> str | None:
    """`apache2ctl stop`, then waits for the parent and its children to go. Returns None, or what went
    wrong; in that case the whole process group (the daemon's session, ours) is killed."""
    pid = apache_pid()
    if pid is None:
        return None
    res = apache2ctl("stop", check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    group = [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if _pgid(p) == pid and alive(p)]
    if not group:
        return None
    for p in group:
        os.kill(p, signal.SIGKILL)
    return (f"`apache2ctl stop` (exit {res.returncode}: {res.stdout}{res.stderr}) left processes {group} "
            f"after {timeout:.0f} s; killed them\n" + log_tail())


def _pgid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def log_tail(mark: int = 0, lines: int = 40) -> str:
    try:
        with open(ERROR_LOG, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no error log)"
    return "--- /var/log/apache2/error.log ---\n" + "\n".join(text.splitlines()[-lines:])


def log_mark() -> int:
    try:
        return ERROR_LOG.stat().st_size
    except FileNotFoundError:
        return 0


def wait_for_log(pattern: str, mark: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, log_tail(mark, lines=10_000)):
            return
        time.sleep(0.1)
    pytest.fail(f"the error log never said {pattern!r}:\n" + log_tail(mark), pytrace=False)


@pytest.fixture
def system_apache(tmp_path_factory):
    """Checks the machine can host the test, snapshots /etc/apache2 and /var/lib/apache2, and at the end
    stops Apache, purges our packages if still there and puts both folders back as they were."""
    if os.geteuid() != 0:
        pytest.fail("the package test installs packages into the system: it must run as root (CI does)", pytrace=False)
    for tool in ("apache2ctl", "a2enmod", "a2enconf", "dpkg", "apt-get"):
        if not shutil.which(tool, path=SYSTEM_ENV["PATH"]):
            pytest.fail(f"{tool} not found: install Debian's apache2 (scripts/install-deps.sh)", pytrace=False)
    already = [p for p in PACKAGES if installed(p)]
    if already:
        pytest.fail(f"{already} already installed on this machine: the test would purge them; "
                    f"remove them first (apt-get purge {' '.join(already)})", pytrace=False)
    if apache_pid() is not None:
        pytest.fail(f"the system Apache is running (pid {apache_pid()}): the test starts and stops it on a "
                    "port of its own; stop it first (apache2ctl stop)", pytrace=False)
    backup = tmp_path_factory.mktemp("system-apache-backup")
    run(["cp", "-a", str(ETC), str(backup / "etc")])
    if VAR_LIB.exists():
        run(["cp", "-a", str(VAR_LIB), str(backup / "var-lib")])
    try:
        yield
    finally:
        problem = stop_apache()
        left = [p for p in PACKAGES if installed(p)]
        if left:
            subprocess.run(["apt-get", "purge", "-y", *left], capture_output=True, env=dict(SYSTEM_ENV), timeout=300)
        shutil.rmtree(ETC, ignore_errors=True)
        subprocess.run(["cp", "-a", str(backup / "etc"), str(ETC)], check=True)
        if (backup / "var-lib").exists():
            shutil.rmtree(VAR_LIB, ignore_errors=True)
            subprocess.run(["cp", "-a", str(backup / "var-lib"), str(VAR_LIB)], check=True)
        if problem:
            pytest.fail(problem, pytrace=False)


def test_install_enable_serve_purge_on_the_system_apache(debs, system_apache, tmp_path_factory):
    port = free_port()
    # Apache's children (www-data) read the modules and the bundle from here.
    data = Path(tempfile.mkdtemp(prefix="mod-wasm-pkg-"))
    os.chmod(data, 0o755)
    try:
        for name in ("hello", "cgi_echo"):
            shutil.copy(wasm_path(name), data / f"{name}.wasm")
            os.chmod(data / f"{name}.wasm", 0o644)
        _install_serve_purge(debs, port, data)
    finally:
        shutil.rmtree(data, ignore_errors=True)


DEPLOY_ROOT = Path("/var/lib/mod-wasm/hello")


def _deploy_debian(port: int, cli_env: dict) -> None:
    """`mod-wasm deploy --debian` of the hello sample with the packaged CLI: the include line in
    conf-available (enabled with a2enconf), a release under /var/lib/mod-wasm/hello, a graceful
    restart through apache2ctl, and wasm-status naming the release. Everything it wrote is removed."""
    conf = ETC / "conf-available" / "mod-wasm-hello.conf"
    assert not DEPLOY_ROOT.exists() and not conf.exists(), "a deploy of the hello sample is already here"
    try:
        res = run(["/usr/bin/mod-wasm", "--json", "deploy", str(REPO / "samples" / "hello" / "app.kdl"),
                   "--debian", "--url", f"http://127.0.0.1:{port}"], env=cli_env)
        report = json.loads(res.stdout)
        assert report["outcome"] == "ok", report
        assert (ETC / "conf-enabled" / "mod-wasm-hello.conf").is_symlink(), "a2enconf did not enable it"
        assert f"IncludeOptional {DEPLOY_ROOT}/current/wasm.conf" in conf.read_text()
        r = request(port, "GET", "/hello")
        assert r.status == 200 and "Hello, World!" in r.text, r
        status = json.loads(request(port, "GET", "/.well-known/mod-wasm/status?json").body)
        assert status["release"] == report["id"], (status["release"], report)
    finally:
        run(["a2disconf", "-q", "mod-wasm-hello"], env=dict(SYSTEM_ENV), check=False)
        conf.unlink(missing_ok=True)
        shutil.rmtree(DEPLOY_ROOT, ignore_errors=True)
        try:
            DEPLOY_ROOT.parent.rmdir()
        except OSError:
            pass


def _install_serve_purge(debs: dict[str, Path], port: int, data: Path) -> None:
    version = workspace_version()
    (ETC / "ports.conf").write_text(f"# written by tests/e2e/test_packages.py\nListen 127.0.0.1:{port}\n")

    # ---- install: the module is enabled by its postinst, as Debian's own modules are ----------------
    run(["dpkg", "-i", str(debs["libapache2-mod-wasm"]), str(debs["mod-wasm"])], env=dict(SYSTEM_ENV))
    for pkg in PACKAGES:
        assert installed(pkg), f"{pkg} is not installed after dpkg -i"
    for link in ("mods-enabled/wasm.load", "mods-enabled/wasm.conf", "conf-enabled/wasm-status.conf"):
        assert (ETC / link).is_symlink(), f"postinst did not enable {link}"
    res = run(["a2enmod", "wasm"], env=dict(SYSTEM_ENV))
    assert "already enabled" in res.stdout, res.stdout
    ldd = run(["ldd", "/usr/lib/apache2/modules/mod_wasm.so"], env=dict(SYSTEM_ENV)).stdout
    assert f"libwasm_runtime.so => {RUNTIME_DIR}/libwasm_runtime.so" in ldd, ldd
    assert "libwasm_runtime" not in run(["ldconfig", "-p"]).stdout, "the private runtime is in the linker cache"

    # ---- the packaged CLI: version, man page, completions, and a bundle for the system Apache -------
    assert version in run(["/usr/bin/mod-wasm", "--version"]).stdout
    with gzip.open("/usr/share/man/man1/mod-wasm.1.gz", "rt") as f:
        assert ".TH mod-wasm 1" in f.read()
    bundle = data / "bundle"
    cli_env = dict(SYSTEM_ENV, HOME=str(data / "home"), MOD_WASM_CACHE_DIR=str(data / "cache"))
    run(["/usr/bin/mod-wasm", "build", str(REPO / "samples" / "hello" / "app.kdl"), "--out", str(bundle)],
        env=cli_env)
    wasm_conf = (bundle / "wasm.conf").read_text()
    assert 'LoadModule wasm_module "/usr/lib/apache2/modules/mod_wasm.so"' in wasm_conf, wasm_conf

    # ---- routes in conf-available, a2enconf, configtest, start --------------------------------------
    (ETC / "conf-available" / "mod-wasm-e2e.conf").write_text(f"""\
# written by tests/e2e/test_packages.py
<IfModule mod_wasm.c>
    <Location /e2e/hello>
        SetHandler wasm-handler
        WasmModule {data}/hello.wasm
        ForceType "text/plain; charset=utf-8"
    </Location>
    <Location /e2e/echo>
        SetHandler wasm-handler
        WasmModule {data}/cgi_echo.wasm
        WasmArg packaged
        WasmEnableCGI On
    </Location>
</IfModule>
""")
    run(["a2enconf", "mod-wasm-e2e"], env=dict(SYSTEM_ENV))
    res = apache2ctl("configtest")
    assert "Syntax OK" in res.stdout + res.stderr
    mark = log_mark()
    apache2ctl("start")
    wait_for_port(port)
    r = request(port, "GET", "/e2e/hello")
    assert r.status == 200 and "Hello, World!" in r.text, f"{r}\n{log_tail(mark)}"
    assert r.header("Content-Type") == "text/plain; charset=utf-8", r
    r = request(port, "POST", "/e2e/echo/more?q=1", body=b"package body")
    assert r.status == 200, f"{r}\n{log_tail(mark)}"
    echo = parse_echo(r.body)
    assert echo["argv"][1:] == ["packaged"] and echo["stdin_bytes"] == len(b"package body"), echo
    assert echo["env"]["QUERY_STRING"] == "q=1" and echo["env"]["PATH_INFO"] == "/more", echo
    r = request(port, "GET", "/wasm-status")
    assert r.status == 200, f"/wasm-status (conf-available/wasm-status.conf, enabled on install): {r}"
    assert "/e2e/hello" in r.text, r

    # ---- the packaged CLI's bundle, included and served after a graceful restart --------------------
    (ETC / "conf-available" / "mod-wasm-e2e-bundle.conf").write_text(
        f"# written by tests/e2e/test_packages.py\nInclude {bundle}/wasm.conf\n")
    run(["a2enconf", "mod-wasm-e2e-bundle"], env=dict(SYSTEM_ENV))
    apache2ctl("configtest")
    graceful_mark = log_mark()
    apache2ctl("graceful")
    wait_for_log(r"resuming normal operations", graceful_mark)
    wait_for_port(port)
    r = request(port, "GET", "/hello")
    assert r.status == 200 and "Hello, World!" in r.text, f"{r}\n{log_tail(graceful_mark)}"
    # The .cwasm the packaged CLI wrote is loaded as is: same engine, same settings.
    wait_for_log(r"loaded precompiled " + re.escape(str(bundle.resolve() / "modules" / "hello.cwasm")), mark)

    # ---- mod-wasm deploy --debian: a verified release on the running system Apache -----------------
    run(["a2disconf", "mod-wasm-e2e-bundle"], env=dict(SYSTEM_ENV))
    _deploy_debian(port, cli_env)
    problem = stop_apache()
    assert problem is None, problem
    assert_no_crash(log_tail(mark, lines=100_000))

    # ---- purge: nothing of ours is left, and Apache still starts ------------------------------------
    shipped = deb_files(debs["libapache2-mod-wasm"]) + deb_files(debs["mod-wasm"])
    # The bundle's wasm.conf loads mod_wasm.so itself: take it out first, as its owner would.
    run(["a2disconf", "mod-wasm-e2e-bundle"], env=dict(SYSTEM_ENV))
    run(["apt-get", "purge", "-y", *PACKAGES], env=dict(SYSTEM_ENV))
    for pkg in PACKAGES:
        assert not installed(pkg), f"{pkg} is still known to dpkg after purge"
    left = [p for p in shipped if os.path.lexists(p)]
    assert not left, f"left after purge: {left}"
    for path in ("/etc/apache2/mods-enabled/wasm.load", "/etc/apache2/mods-enabled/wasm.conf",
                 "/etc/apache2/conf-enabled/wasm-status.conf", RUNTIME_DIR, "/usr/include/mod-wasm",
                 "/usr/share/mod-wasm", "/usr/share/doc/libapache2-mod-wasm", "/usr/share/doc/mod-wasm"):
        assert not os.path.lexists(path), f"{path} is left after purge"
    state = [str(p) for p in VAR_LIB.glob("*/enabled_by_*/*") if p.name in ("wasm", "wasm-status")]
    assert not state, f"apache2-maintscript-helper state left after purge: {state}"
    # conf-available/mod-wasm-e2e.conf (inside <IfModule mod_wasm.c>) stays enabled: inert now.
    res = apache2ctl("configtest")
    assert "Syntax OK" in res.stdout + res.stderr
    mark = log_mark()
    apache2ctl("start")
    wait_for_port(port)
    r = request(port, "GET", "/e2e/hello")
    assert r.status == 404, f"without the module, /e2e/hello should be a plain 404: {r}"
    problem = stop_apache()
    assert problem is None, problem
    assert_no_crash(log_tail(mark, lines=100_000))
