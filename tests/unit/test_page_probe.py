"""benchmarks/page_probe.PageProbe: the browser benchmark's timing script put into every HTML page (gzip'd or
not, as Streamlit sends its pages), and the pages' reports written one JSON object per line."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from page_probe import ENDPOINT, PageProbe, report_script  # noqa: E402

PAGE = "<!doctype html><html><head><title>app</title></head><body>" + "x" * 2000 + "</body></html>"


def _call(app, method: str, path: str, body: bytes = b"", gzip_ok: bool = False) -> tuple[int, dict, bytes]:
    sent = []
    parts = [body[:5], body[5:]]  # the request body in two messages, as a browser may send it

    async def receive():
        return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}

    async def send(message):
        sent.append(message)

    headers = [(b"accept-encoding", b"gzip")] if gzip_ok else []
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers,
             "query_string": b""}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, data


async def _pages(scope, receive, send):
    """The wrapped server: an HTML page at /, a script file elsewhere."""
    if scope["path"] == "/":
        await HTMLResponse(PAGE)(scope, receive, send)
    else:
        await Response("console.log(1)", media_type="text/javascript")(scope, receive, send)


def test_the_script_goes_into_html_pages_gzip_or_not(tmp_path):
    script = report_script("(() => new Promise(() => {}))")
    app = PageProbe(GZipMiddleware(_pages, minimum_size=100), script=script, out=tmp_path / "r.jsonl")
    for gzip_ok in (False, True):
        status, headers, body = _call(app, "GET", "/", gzip_ok=gzip_ok)
        assert status == 200
        assert "content-encoding" not in headers  # the page goes out decompressed, with the script
        assert int(headers["content-length"]) == len(body)
        assert body.startswith(b"<!doctype html><html><head>" + script + b"<title>app</title>")
        assert body.endswith(b"</body></html>")
    assert b"location.hash" in script and ENDPOINT.encode() in script  # reports carry the page's token
    assert _call(app, "GET", "/static/x.js", gzip_ok=True)[2] == b"console.log(1)"  # other files pass unchanged


def test_reports_are_appended_one_json_object_per_line(tmp_path):
    out = tmp_path / "r.jsonl"
    app = PageProbe(_pages, script=b"", out=out)
    for settled in (1234.5, 987.0):
        report = {"token": "abc", "path": "/?unit=1", "settled": settled, "boot": 800, "errors": 0}
        status, _, _ = _call(app, "POST", ENDPOINT, json.dumps(report).encode())
        assert status == 204
    assert [json.loads(line)["settled"] for line in out.read_text().splitlines()] == [1234.5, 987.0]
    for bad in (b"not json", b"[1, 2]"):  # refused, nothing written
        assert _call(app, "POST", ENDPOINT, bad)[0] == 400
    assert len(out.read_text().splitlines()) == 2
    assert _call(app, "GET", ENDPOINT)[0] == 200  # only a POST is a report; a GET is the server's (a page here)
