"""`bedtime serve`: the output folder over HTTP on this machine, for the listening pages.

The standard library's server, with what players need and what it lacks: byte ranges (a
player seeks by asking for the part it wants), and nothing outside the folder: a path with a
`..` in it, however it is encoded, or one that leads out through a link, is 404."""

from __future__ import annotations

import os
import re
import shutil
import socket
import urllib.parse
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")
_CHUNK = 1 << 16


class _Handler(SimpleHTTPRequestHandler):
    _remaining: int | None = None
    """Bytes still to send of the range being answered."""
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".m4b": "audio/mp4",
        ".mp3": "audio/mpeg",
        ".opus": "audio/ogg",
        ".flac": "audio/flac",
        ".vtt": "text/vtt",
        ".json": "application/json",
    }

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass  # a listener's player asks for many ranges: keep the terminal quiet

    def send_head(self):  # type: ignore[no-untyped-def]
        path = self._inside()
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        if path.is_dir() or "Range" not in self.headers:
            return super().send_head()
        return self._send_range(path)

    def _inside(self) -> Path | None:
        """The file asked for, or None when the request reaches outside the folder."""
        raw = urllib.parse.urlsplit(self.path).path
        parts = urllib.parse.unquote(raw).replace("\\", "/").split("/")
        if ".." in parts:
            return None
        root = Path(self.directory).resolve()
        path = (root / "/".join(p for p in parts if p)).resolve()
        if path != root and root not in path.parents:
            return None
        return path if path.exists() else None

    def _send_range(self, path: Path):  # type: ignore[no-untyped-def]
        size = path.stat().st_size
        found = _RANGE.match(self.headers["Range"].strip())
        if found is None or found[1] == found[2] == "":
            return super().send_head()
        if found[1]:
            start, end = int(found[1]), int(found[2]) if found[2] else size - 1
        else:  # the last N bytes
            start, end = max(0, size - int(found[2])), size - 1
        if start >= size or end < start:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        end = min(end, size - 1)
        handle = open(path, "rb")  # closed by copyfile
        handle.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return handle

    def end_headers(self) -> None:
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        remaining = self._remaining
        if remaining is None:
            shutil.copyfileobj(source, outputfile)
            return
        with source:
            while remaining > 0:
                block = source.read(min(_CHUNK, remaining))
                if not block:
                    break
                outputfile.write(block)
                remaining -= len(block)
        self._remaining = None


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def make_server(root: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server of root's files (port 0: any free port; server_address says which)."""
    kind = _Server6 if ":" in host else ThreadingHTTPServer
    return kind((host, port), partial(_Handler, directory=os.fspath(root)))


def url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    name = host.decode() if isinstance(host, bytes) else host
    return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"
