"""The manifest and Apache agree on every directive value: one validator, two front doors.

Every `route { }` and `engine { }` node of a manifest stands for a server directive, and both are
checked by the same validator in `wasm_runtime::directives` (the CLI calls it directly, mod_wasm.c
through the C API). For a corpus of good and bad values of every directive that has a manifest node,
this runs `mod-wasm check` on a small manifest using the value and a real `apache2 -t` on a config
using the equivalent directive, and asserts that

- both accept, or both refuse, and
- when Apache's refusal comes from the validator (a `WasmX: MESSAGE` line), MESSAGE also appears in
  the CLI's diagnostic, word for word.

Left out, because the manifest cannot express them (each is written one way only in a manifest):
- access modes other than `ro`/`rw` (`WasmMapDir /g /h rx`): the manifest says `readonly=#true|#false`;
- flag spellings (`WasmEnableCGI on`, `off`, `maybe`): manifest flags are KDL booleans `#true`/`#false`;
- several arguments in one `WasmArg a b c`, `WasmAllowOutbound a b` or `WasmModuleLimits a=1 b=2`
  line: the manifest writes one `arg` (`allow-outbound`) node per argument, and `module-limits`
  properties are checked one by one (all covered);
- Apache's own config syntax (`${VAR}` expansion, `\\` line continuation, unquoted words with
  spaces): the manifest refuses `${` and control characters, and quotes every value it writes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import CLI, Apache, wasm_path


@dataclass(frozen=True)
class Case:
    """One value, as the manifest writes it and as httpd.conf writes it."""

    manifest: str
    """The node, e.g. `timeout "5s"` (`@DIR@`: an existing folder)."""
    directive: str
    """The equivalent directive line, e.g. `WasmTimeout 5s`."""
    engine: bool = False
    """Server-wide: inside `engine { }` / the main server config (else a route / `<Location>`)."""

    @property
    def id(self) -> str:
        return self.manifest.replace("@DIR@", "DIR")


def route(manifest: str, directive: str) -> Case:
    return Case(manifest, directive)


def engine(manifest: str, directive: str) -> Case:
    return Case(manifest, directive, engine=True)


TIMEOUTS = ["5s", "500ms", "2mi", "1h", "5", "5 s", "0", "-1", "5x", "1.5s", "", "99999999999999999999h"]
SIZES = ["64M", "1G", "512k", "4096", "64MiB", "0", "12Q", "1.5M", "5iB", "", "99999999999T"]

CASES: list[Case] = [
    # WasmTimeout: strings, and KDL integers (a bare number of seconds).
    *(route(f'timeout "{v}"', f'WasmTimeout "{v}"') for v in TIMEOUTS),
    *(route(f"timeout {n}", f"WasmTimeout {n}") for n in (5, 0, -1)),
    # WasmMemoryLimit and WasmOutputLimit.
    *(route(f'memory-limit "{v}"', f'WasmMemoryLimit "{v}"') for v in SIZES),
    *(route(f'output-limit "{v}"', f'WasmOutputLimit "{v}"') for v in SIZES),
    *(route(f"memory-limit {n}", f"WasmMemoryLimit {n}") for n in (4096, 0)),
    # WasmEnv: the name rule (and an empty value, which httpd.conf cannot carry).
    route('env "OK" "v"', 'WasmEnv "OK" "v"'),
    route('env "A=B" "v"', 'WasmEnv "A=B" "v"'),
    route('env "A B" "v"', 'WasmEnv "A B" "v"'),
    route('env "A\\u{3000}B" "v"', 'WasmEnv "A\u3000B" "v"'),
    route('env "" "v"', 'WasmEnv "" "v"'),
    route('env "EMPTY" ""', 'WasmEnv "EMPTY" ""'),
    # WasmEntryPoint, WasmArg.
    route('entry-point "run"', 'WasmEntryPoint "run"'),
    route('entry-point ""', 'WasmEntryPoint ""'),
    route('arg "--flag=a b"', 'WasmArg "--flag=a b"'),
    route('arg ""', 'WasmArg ""'),
    # Flags.
    route("cgi #true", "WasmEnableCGI On"),
    route("cgi #false", "WasmEnableCGI Off"),
    route("map-cgi-file-names #true", "WasmMapCGIFileNames On"),
    # Folders and their access mode (readonly=#true is `ro`).
    route('map-dir "/data" "@DIR@"', 'WasmMapDir "/data" "@DIR@"'),
    route('map-dir "/data" "@DIR@" readonly=#true', 'WasmMapDir "/data" "@DIR@" ro'),
    route('map-dir "/data" "@DIR@" readonly=#false', 'WasmMapDir "/data" "@DIR@" rw'),
    route('map-dir "/data" "@DIR@/missing"', 'WasmMapDir "/data" "@DIR@/missing"'),
    route('dir "@DIR@" readonly=#true', 'WasmDir "@DIR@" ro'),
    route('dir "@DIR@"', 'WasmDir "@DIR@"'),
    # WasmAllowOutbound: one destination per node (several per `WasmAllowOutbound` line are left
    # out, as for `WasmArg`); no scheme, path or wildcard, a port from 1 to 65535.
    *(
        route(f'allow-outbound "{v}"', f'WasmAllowOutbound "{v}"')
        for v in (
            "api.example.com",
            "API.Example.com",
            "127.0.0.1:8080",
            "[::1]:81",
            "localhost:65535",
            "http://api.example.com",
            "api.example.com/v1",
            "*.example.com",
            "x:0",
            "x:70000",
            "x:",
            "[zz]",
            "a..b",
            "",
        )
    ),
    # WasmEngineOptLevel.
    *(
        engine(f'opt-level "{v}"', f'WasmEngineOptLevel "{v}"')
        for v in ("none", "speed", "speed-and-size", "Speed", "speed_and_size", "fast", "")
    ),
    # WasmPooling, WasmPoolingMaxInstances (KDL integers, and strings the validator reads).
    engine("pooling #true", "WasmPooling On"),
    engine("pooling #false", "WasmPooling Off"),
    *(engine(f"pooling-max-instances {n}", f"WasmPoolingMaxInstances {n}") for n in (1, 64, 100000, 0, 100001, -1)),
    *(engine(f'pooling-max-instances "{v}"', f'WasmPoolingMaxInstances "{v}"') for v in ("64", "abc", "1e3")),
    # WasmCacheDir.
    engine('cache-dir "@DIR@"', 'WasmCacheDir "@DIR@"'),
    # WasmModuleLimits, one setting at a time (keys are case-insensitive, as Apache's are).
    *(
        engine(f"module-limits {m}", f"WasmModuleLimits {d}")
        for m, d in (
            ("functions=50000", "functions=50000"),
            ('function-size="8M"', "function-size=8M"),
            ('module-size="1G"', "module-size=1G"),
            ("data-segments=10", "data-segments=10"),
            ("Functions=5", "Functions=5"),
            ('functions="many"', "functions=many"),
            ('function-size="8Q"', "function-size=8Q"),
            ("functions=0", "functions=0"),
            ("data-segments=-1", "data-segments=-1"),
            ("speed=1", "speed=1"),
        )
    ),
]

MANIFEST = """app "agree"
engine {{
{engine}
}}
module "m" source="{wasm}"
route "/t" module="m" {{
{route}
}}
"""

LOCATION = """<Location "/t">
    SetHandler wasm-handler
    WasmModule "{wasm}"
{route}
</Location>
"""

VALIDATOR_LINE = re.compile(r"^(Wasm[A-Za-z]+): (.+)$", re.MULTILINE)


def unescape_apache(text: str) -> str:
    """Apache writes bytes outside printable ASCII in its messages as `\\xHH`: the text it was given."""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode())
    return raw.decode("utf-8", errors="replace")



def mod_wasm_check(folder: Path, case: Case, data: Path) -> tuple[bool, list[dict]]:
    """`mod-wasm check --json` on a manifest using the case's node: (accepted, problems)."""
    node = case.manifest.replace("@DIR@", str(data))
    manifest = folder / "app.kdl"
    manifest.write_text(
        MANIFEST.format(
            engine=f"    {node}" if case.engine else "",
            route="" if case.engine else f"    {node}",
            wasm=wasm_path("hello"),
        )
    )
    res = subprocess.run(
        [str(CLI), "check", "--json", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert res.returncode in (0, 1), f"exit {res.returncode}:\n{res.stdout}\n{res.stderr}"
    report = json.loads(res.stdout)
    assert report["ok"] == (res.returncode == 0), report
    return res.returncode == 0, report.get("problems", [])


def apache_configtest(folder: Path, case: Case, data: Path) -> tuple[bool, str]:
    """`apache2 -t` on a config using the case's directive: (accepted, output)."""
    line = case.directive.replace("@DIR@", str(data))
    if case.engine:
        extra = line + "\n" + LOCATION.format(wasm=wasm_path("hello"), route="")
    else:
        extra = LOCATION.format(wasm=wasm_path("hello"), route=f"    {line}")
    rc, out = Apache(extra_conf=extra, root=folder / "apache").configtest()
    return rc == 0, out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_and_apache_agree(cli, tmp_path, case: Case):
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(data, 0o755)
    data = data.resolve()
    cli_ok, problems = mod_wasm_check(tmp_path, case, data)
    apache_ok, apache_out = apache_configtest(tmp_path, case, data)
    errors = [p for p in problems if p["level"] == "error"]
    assert cli_ok == apache_ok, (
        f"`{case.manifest}`: mod-wasm check {'accepts' if cli_ok else 'refuses'} it, "
        f"apache2 -t {'accepts' if apache_ok else 'refuses'} `{case.directive}`\n"
        f"check: {json.dumps(errors, indent=1)}\napache2 -t: {apache_out}"
    )
    if apache_ok:
        assert "Syntax OK" in apache_out, apache_out
        return
    assert errors, problems
    said = VALIDATOR_LINE.findall(apache_out)
    directive = case.directive.split()[0]
    for name, message in said:
        # The validator's words, after `WasmX: `, in the CLI's diagnostic too.
        assert name == directive, apache_out
        message = unescape_apache(message)
        assert any(message in p["message"] for p in errors), (
            f"apache2 -t says `{name}: {message}`; mod-wasm check says {[p['message'] for p in errors]}"
        )


def test_the_corpus_covers_every_manifest_node(cli):
    """A directive given a manifest node later is added to the corpus above (the table lives in
    runtime/src/directives.rs; its generated docs list every node)."""
    table = (Path(__file__).resolve().parents[2] / "docs" / "manifest.md").read_text()
    nodes = set(re.findall(r"^\| `([a-z-]+)` \| .* \| `Wasm[A-Za-z]+` \|", table, re.MULTILINE))
    assert {"timeout", "opt-level", "module-limits"} <= nodes, nodes
    covered = {c.manifest.split()[0] for c in CASES}
    assert nodes <= covered, f"no agreement case for: {sorted(nodes - covered)}"
    for c in CASES:
        assert c.directive.split()[0].startswith("Wasm"), c
