"""A real HTTP server on 127.0.0.1 serving a mirror tree (``<root>/<host>/<path>``) with range requests.

Like ``wget -x`` mirrors and ``http.server``: a path that is a folder is served as its ``index.html``.
Every response carries ``Accept-Ranges``, ``Content-Length`` and Hugging Face's file headers
(``ETag`` / ``X-Linked-Etag`` = the SHA-256, ``X-Repo-Commit``), so ``huggingface_hub`` can use it as
an endpoint. Faults for tests, per URL path (``server.faults[path] = {...}``):

- ``{"status": 500}``          answer with that status;
- ``{"drop_after": n, "times": k}``  send the headers of the whole answer but only ``n`` bytes, then
                               close the connection (the next ``k - 1`` requests too);
- ``{"corrupt": k}``           serve flipped bytes for the next ``k`` requests;
- ``{"ignore_range": True}``   answer range requests with the whole file (``200``), as some hosts do.

``server.log`` lists (method, path, Range header) of every request.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Handler(BaseHTTPRequestHandler):
    server: "MirrorServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _file(self) -> Path | None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = self.server.root / rel
        if path.is_dir():
            path = path / "index.html"
        return path if path.is_file() else None

    def _send_status(self, status: int) -> None:
        body = f"<html>error {status}</html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self) -> None:
        route = unquote(urlsplit(self.path).path)
        self.server.log.append((self.command, route, self.headers.get("Range")))
        fault = self.server.faults.get(route, {})
        if "status" in fault:
            return self._send_status(fault["status"])
        path = self._file()
        if path is None:
            return self._send_status(404)
        data = path.read_bytes()
        if fault.get("corrupt", 0) > 0 and self.command == "GET":
            fault["corrupt"] -= 1
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        start, status = 0, 200
        rng = None if fault.get("ignore_range") else self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first = rng[len("bytes="):].split("-")[0]
            start = int(first) if first else 0
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if path.name == "index.html" or "/api/" in route
                         else "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{sha}"')
        self.send_header("X-Linked-Etag", f'"{sha}"')
        self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("X-Repo-Commit", FAKE_COMMIT)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.command == "HEAD":
            return
        drop = fault.get("drop_after")
        if drop is not None and fault.get("times", 1) > 0:
            fault["times"] = fault.get("times", 1) - 1
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    do_GET = _serve
    do_HEAD = _serve


class MirrorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root)
        self.faults: dict[str, dict] = {}
        self.log: list[tuple[str, str, str | None]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "MirrorServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def gets(self, suffix: str = "") -> list[tuple[str, str, str | None]]:
        """GET requests (optionally of paths ending in ``suffix``)."""
        return [e for e in self.log if e[0] == "GET" and e[1].endswith(suffix)]
