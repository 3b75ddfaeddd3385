"""The demo, as a newcomer meets it: the README's main command (`make up`) on a free loopback port,
opened in a real browser.

`make up` builds, fetches the WASI CPython if needed, and runs `mod-wasm up samples/demo/app.kdl`
(a static front page beside the Wasm routes). Headless Chromium (Debian's `chromium`) loads `/`,
lets the page's scripts call the routes, and keeps a screenshot and the rendered DOM in
build/test-artifacts/. The test asserts the route links are there, that the page shows each route's
live output, and that every link answers 200 with a Content-Type. It fails, saying why, when
Chromium is missing or the demo does not start.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser

import pytest

from harness import PROFILE, REPO, assert_no_crash, free_port, request

ARTIFACTS = REPO / "build" / "test-artifacts"
# The routes the front page must link to (the first path segment of each link).
ROUTES = ("/hello", "/echo", "/prettyfy", "/component", "/wasm-status")
# A cold start compiles the 20 MB Python module unless the CLI's cache has it.
START_TIMEOUT = 900.0


@pytest.fixture(scope="module")
def demo(built):
    """`make up PROFILE=… UP_FLAGS=--listen 127.0.0.1:PORT` in its own session; yields the port."""
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "demo-make-up.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        ["make", "-C", str(REPO), f"PROFILE={PROFILE}", "up", f"UP_FLAGS=--listen 127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()

    def output() -> str:
        return log_path.read_text(errors="replace")[-6000:]

    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`make up` exited with {proc.returncode} before serving:\n{output()}", pytrace=False)
            try:
                request(port, "GET", "/", timeout=2)
                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`make up` did not serve on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s:\n{output()}",
                            pytrace=False)
            time.sleep(0.2)
        yield port
    finally:
        # mod-wasm up stops Apache gracefully on SIGTERM.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    assert_no_crash(output())


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed (Debian package `chromium`; scripts/install-deps.sh installs it)",
                pytrace=False)


def headless(url: str, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on `url`; the page's scripts get 20 s of virtual time to call the routes."""
    profile = ARTIFACTS / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    cmd = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1280,1800",
           "--virtual-time-budget=20000", *args, url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    shutil.rmtree(profile, ignore_errors=True)
    return res


class Page(HTMLParser):
    """Collects every link's href and the text of each element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, class)
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.links.append((a["href"], a.get("class") or ""))
        if tag not in ("br", "meta", "input", "link", "img"):
            self._open.append(a.get("id"))
            if a.get("id"):
                self.text.setdefault(a["id"], "")

    def handle_endtag(self, tag):
        if tag not in ("br", "meta", "input", "link", "img") and self._open:
            self._open.pop()

    def handle_data(self, data):
        for ident in self._open:
            if ident:
                self.text[ident] += data


@pytest.fixture(scope="module")
def rendered(demo) -> Page:
    """Chromium's screenshot (kept) and rendered DOM (kept, parsed) of the front page."""
    url = f"http://127.0.0.1:{demo}/"
    shot = ARTIFACTS / "demo.png"
    shot.unlink(missing_ok=True)
    res = headless(url, f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 10_000, \
        f"Chromium wrote no screenshot of {url} (exit {res.returncode}):\n{res.stderr[-3000:]}"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = headless(url, "--dump-dom")
    assert res.returncode == 0 and "<html" in res.stdout, f"Chromium --dump-dom failed:\n{res.stderr[-3000:]}"
    (ARTIFACTS / "demo.dom.html").write_text(res.stdout)
    page = Page()
    page.feed(res.stdout)
    return page


def route_links(page: Page) -> dict[str, str]:
    """{route: href} for the page's route links."""
    found = {}
    for href, cls in page.links:
        if "route-link" in cls.split():
            path = href.split("?")[0]
            route = "/" + path.lstrip("/").split("/")[0]
            found[route] = href
    return found


def test_front_page_is_static_html_served_by_apache(demo):
    r = request(demo, "GET", "/")
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("text/html"), r
    assert r.body == (REPO / "samples" / "demo" / "public" / "index.html").read_bytes()


def test_browser_shows_a_link_and_a_line_for_every_route(rendered):
    links = route_links(rendered)
    assert sorted(links) == sorted(ROUTES), f"route links on the front page: {links}"
    for route in ROUTES:
        section = rendered.text.get(f"route-{route.strip('/').split('-')[-1]}", "")
        assert route in section and len(section.split()) > 4, f"no line describing {route}: {section!r}"


def test_browser_shows_live_output_of_the_wasm_routes(rendered):
    """The page's scripts called the routes: their answers are in the rendered DOM."""
    hello = rendered.text.get("out-hello", "")
    assert "HTTP 200" in hello and "Hello, World!" in hello, f"/hello output on the page: {hello!r}"
    echo = rendered.text.get("out-echo", "")
    assert "HTTP 200" in echo and "env:REQUEST_METHOD=POST" in echo, f"/echo output on the page: {echo!r}"
    pretty = rendered.text.get("out-prettyfy", "")
    assert "HTTP 200 · application/json" in pretty and '\n  "limits": {\n' in pretty, \
        f"/prettyfy output on the page: {pretty!r}"
    component = rendered.text.get("out-prettyfy-component", "")
    assert "HTTP 200 · application/json" in component and '\n  "limits": {\n' in component, \
        f"/component/prettyfy output on the page: {component!r}"


def test_every_route_link_answers_200_with_a_content_type(demo, rendered):
    for route, href in route_links(rendered).items():
        r = request(demo, "GET", href)
        assert r.status == 200, f"{href} (the {route} link on the front page): {r}"
        assert r.header("Content-Type"), f"{href} answered without a Content-Type: {r}"


def test_prettyfy_pretty_prints_posted_json(demo):
    r = request(demo, "POST", "/prettyfy?indent=4&sort=1", body=b'{"b":[1,2],"a":null}',
                headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json; charset=utf-8", r
    assert r.text == '{\n    "a": null,\n    "b": [\n        1,\n        2\n    ]\n}\n', r.text


def test_prettyfy_component_pretty_prints_posted_json(demo):
    """The same app as a wasi:http component (samples/python-http) answers the same document alike."""
    r = request(demo, "POST", "/component/prettyfy?indent=4&sort=1", body=b'{"b":[1,2],"a":null}',
                headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("application/json"), r
    assert r.text == '{\n    "a": null,\n    "b": [\n        1,\n        2\n    ]\n}\n', r.text
    bad = request(demo, "POST", "/component/prettyfy", body=b'{"b":', headers={"Content-Type": "application/json"})
    assert bad.status == 400, bad


def test_wasm_status_lists_the_demo_routes(demo):
    r = request(demo, "GET", "/wasm-status")
    assert r.status == 200, r
    for route in ROUTES[:3]:
        assert re.search(rf"<code>{re.escape(route)}</code>", r.text), f"/wasm-status does not list {route}"
