"""ASGI middleware that answers requests for the Streamlit front end's code files from memory.

A page's first load in a new browser fetches about 120 hashed JavaScript and CSS files. Streamlit serves them with
Starlette's ``StaticFiles``, which stats, opens and reads every file on worker threads: several thread hand-offs per
file, each waiting for the GIL while the server also runs the page's script. Served from memory, a file is one
response without a thread (``bench_browser.py --baseline static`` compares; figures in docs/performance.md).

Only files that exist under ``<directory>/static/`` when the server starts are served here, looked up by their
exact URL path (nothing from the request is joined to a file path); everything else, and every method other than
GET and HEAD, goes on to Streamlit. The headers are Streamlit's own for these files (hashed names: cached for a
year, immutable). Bodies are read on first request and kept (the whole front end is ≈ 25 MB).
"""
from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

CACHE_CONTROL = b"public, immutable, max-age=31536000"  # what Streamlit sends for its hashed assets


class MemoryStatic:
    """Wraps an ASGI app; see the module docstring.

    Args:
        app: the ASGI app to wrap (Streamlit's).
        directory: Streamlit's static directory (``streamlit.file_util.get_static_dir()``), which holds
            ``index.html`` and the ``static/`` folder of hashed assets.
    """

    def __init__(self, app, directory: str | Path):
        self.app = app
        root = Path(directory)
        self._paths = {"/" + p.relative_to(root).as_posix(): p
                       for p in (root / "static").rglob("*") if p.is_file()}
        self._cache: dict[str, tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    def _entry(self, path: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        entry = self._cache.get(path)
        if entry is None:
            body = self._paths[path].read_bytes()
            kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
            if kind.startswith("text/"):
                kind += "; charset=utf-8"
            headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode()),
                       (b"cache-control", CACHE_CONTROL),
                       (b"etag", b'"' + hashlib.md5(body, usedforsecurity=False).hexdigest().encode() + b'"')]
            entry = self._cache[path] = (body, headers)
        return entry

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if path not in self._paths:
            await self.app(scope, receive, send)
            return
        body, headers = self._entry(path)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
