"""ASGI middleware for ``bench_browser.py --plain``: times pages in a browser that no automation is attached to.

Playwright drives Chromium over the DevTools protocol, and that costs the browser CPU on every load (network and
page events for each of the ≈ 120 files a first load fetches, sent to Playwright's own Node process); on a 2-core
machine the page's load pays for it. A person's browser has none of that. So this middleware puts the benchmark's
own timing script (``bench_browser.SETTLED_JS``) at the top of every HTML page the server sends, and the page
reports its figures with ``navigator.sendBeacon`` to ``ENDPOINT``, which appends them as one JSON line to a file;
the URL's fragment as it was when the page opened (``#<token>``) comes back as ``token``, so that the benchmark
tells its own load's report from others.
Chromium is then started as a plain process on the page's URL and never connected to.

Benchmark use only: ``benchmarks/probe_app.py`` is the dashboard's server with this middleware added.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

ENDPOINT = "/__bench_probe"
REPORT_JS = """
((token) => ({settled})([700, 120000]).then((settled) => navigator.sendBeacon({endpoint!r}, JSON.stringify({{
  token, path: location.pathname + location.search, settled,
  boot: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
  errors: document.querySelectorAll("[data-testid='stException']").length}}))))(location.hash.slice(1));
"""


def report_script(settled_js: str) -> bytes:
    """The ``<script>`` put into each page: waits until the page has settled, then reports (see module doc)."""
    return b"<script>" + REPORT_JS.format(settled=settled_js.strip(), endpoint=ENDPOINT).encode() + b"</script>"


class PageProbe:
    """Wraps an ASGI app: adds ``script`` after ``<head>`` in its HTML responses (gzip or not) and appends the
    body of each POST to ``ENDPOINT`` as one line of ``out``."""

    def __init__(self, app, script: bytes, out: str | Path):
        self.app, self.script, self.out = app, script, Path(out)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] == ENDPOINT and scope["method"] == "POST":
            await self._record(receive, send)
        else:
            await self.app(scope, receive, self._injecting(send))

    async def _record(self, receive, send) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        try:
            report = json.loads(body)
        except ValueError:
            report = None
        if isinstance(report, dict):  # one JSON object per line, whatever else is posted here
            with self.out.open("a") as f:
                f.write(json.dumps(report) + "\n")
        await send({"type": "http.response.start", "status": 204 if isinstance(report, dict) else 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def _injecting(self, send):
        held: dict = {}
        chunks: list[bytes] = []

        async def wrapped(msg) -> None:
            if msg["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in msg.get("headers", [])}
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    held["start"], held["gzip"] = msg, headers.get(b"content-encoding") == b"gzip"
                    return
                await send(msg)
            elif "start" in held and msg["type"] == "http.response.body":
                chunks.append(msg.get("body", b""))
                if msg.get("more_body"):
                    return
                body = b"".join(chunks)
                if held["gzip"]:
                    body = gzip.decompress(body)
                body = body.replace(b"<head>", b"<head>" + self.script, 1)
                headers = [(k, v) for k, v in held["start"].get("headers", [])
                           if k.lower() not in (b"content-length", b"content-encoding")]
                await send({**held["start"], "headers": headers + [(b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            else:
                await send(msg)

        return wrapped
