"""ui.static_cache.MemoryStatic: the front end's files answered from memory, everything else passed on."""
from __future__ import annotations

import asyncio

from ui.static_cache import CACHE_CONTROL, MemoryStatic


def _call(app, method: str, path: str, root_path: str = "") -> tuple[int, dict, bytes]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "root_path": root_path, "headers": []}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def _inner_app(seen: list):
    """The wrapped app: answers 299 with the path, so a test sees what went through."""
    async def app(scope, receive, send):
        seen.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})
    return app


def test_serves_front_end_files_from_memory_and_passes_everything_else_on(tmp_path):
    (tmp_path / "static" / "js").mkdir(parents=True)
    code = b"export const x = 1;\n" * 100
    (tmp_path / "static" / "js" / "index.abc123.js").write_bytes(code)
    (tmp_path / "static" / "css").mkdir()
    (tmp_path / "static" / "css" / "index.def.css").write_bytes(b"body{}")
    (tmp_path / "index.html").write_bytes(b"<html></html>")
    (tmp_path / "secret.txt").write_bytes(b"not a front-end file")
    seen = []
    app = MemoryStatic(_inner_app(seen), tmp_path)

    status, headers, body = _call(app, "GET", "/static/js/index.abc123.js")
    assert status == 200 and body == code and not seen
    assert headers["content-type"] in ("application/javascript", "text/javascript; charset=utf-8")
    assert headers["content-length"] == str(len(code)) and headers["cache-control"] == CACHE_CONTROL.decode()
    assert headers["etag"].startswith('"') and len(headers["etag"]) == 34
    assert _call(app, "GET", "/static/js/index.abc123.js") == (status, headers, body)  # from memory now
    status, headers, body = _call(app, "HEAD", "/static/css/index.def.css")
    assert status == 200 and body == b"" and headers["content-length"] == "6" and headers["content-type"].startswith("text/css")
    assert _call(app, "GET", "/app/static/js/index.abc123.js", root_path="/app")[2] == code  # under a base path

    for method, path in [("GET", "/"), ("GET", "/index.html"), ("GET", "/secret.txt"), ("GET", "/static/js/none.js"),
                         ("GET", "/static/js/../../secret.txt"), ("GET", "/static/js"), ("POST", "/static/js/index.abc123.js"),
                         ("GET", "/_stcore/health")]:
        status, _, body = _call(app, method, path)
        assert status == 299 and body == path.encode(), (method, path)  # Streamlit answers these
    assert len(seen) == 8


def test_a_file_added_after_start_is_left_to_streamlit(tmp_path):
    (tmp_path / "static").mkdir()
    seen = []
    app = MemoryStatic(_inner_app(seen), tmp_path)
    (tmp_path / "static" / "late.js").write_bytes(b"1")
    assert _call(app, "GET", "/static/late.js")[0] == 299 and seen == [("GET", "/static/late.js")]
