"""Dry-run-safe start-up (issue 3): modules load once, in the real configuration pass only, once per
content digest; `apache2 -t` validates without compiling anything."""

from __future__ import annotations

import re
import shutil

import pytest

from harness import Apache, wasm_path

pytestmark = pytest.mark.mpms("event", "prefork")


def test_one_load_per_module_across_the_two_startup_passes(apache_factory, mpm, public_tmp):
    # Three routes over two distinct modules: hello under two names (same bytes) and cgi_echo.
    shutil.copy(wasm_path("hello"), public_tmp / "hello-copy.wasm")
    conf = f"""
<Location /a>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
</Location>
<Location /b>
    SetHandler wasm-handler
    WasmModule {public_tmp}/hello-copy.wasm
    WasmArg b
</Location>
<Location /c>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
    WasmEnableCGI On
</Location>
"""
    a = apache_factory(mpm=mpm, extra_conf=conf)
    assert a.get("/a").status == 200
    assert a.get("/b").status == 200
    assert a.get("/c").status == 200
    log = a.wait_for_log(r"module reference\(s\) ready")
    loads = [ln for ln in log.splitlines() if re.search(r"mod_wasm: (compiled|loaded)", ln)]
    assert len(loads) == 2, "\n".join(loads)
    assert sum("hello" in ln for ln in loads) == 1, "\n".join(loads)
    assert sum("cgi_echo" in ln for ln in loads) == 1, "\n".join(loads)
    assert len(re.findall(r"module reference\(s\) ready", log)) == 1, "loaded on one pass only"


def test_configtest_validates_without_compiling(built, tmp_path, mpm):
    cache = tmp_path / "cache"
    cache.mkdir()
    a = Apache(
        mpm=mpm,
        log_level="debug",
        extra_conf=f"""
WasmCacheDir {cache}
<Location /a>
    SetHandler wasm-handler
    WasmModule @WASM@/hello.wasm
</Location>
<Location /c>
    SetHandler wasm-handler
    WasmModule @WASM@/cgi_echo.wasm
</Location>
""",
    )
    try:
        code, out = a.configtest()
        assert code == 0 and "Syntax OK" in out, out
        assert "compiled" not in out, out
        # A compile would have written its artefact into the cache.
        assert not [p for p in cache.rglob("*") if p.is_file()], "apache2 -t compiled a module"
        assert not a.error_log_path.exists() or "compiled" not in a.error_log_path.read_text()
    finally:
        a.__exit__(None, None, None)
