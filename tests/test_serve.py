"""`bedtime serve`: the output folder, byte ranges for seeking players, nothing outside it."""

import http.client
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BEDTIME

from bedtime_audio.serve import make_server, url

AUDIO = bytes(range(256)) * 40


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    (tmp_path / "secret.txt").write_text("not for the listener")
    root = tmp_path / "output"
    (root / "story").mkdir(parents=True)
    (root / "story" / "story.mp3").write_bytes(AUDIO)
    (root / "story" / "index.html").write_text("<title>story</title>")
    os.symlink(tmp_path / "secret.txt", root / "story" / "escape.txt")
    server = make_server(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[:2]
    server.shutdown()
    server.server_close()


def get(
    address: tuple[str, int], path: str, **headers: str
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection(*address, timeout=5)
    connection.request("GET", path, headers=headers)  # sent as written: no normalising
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.headers, body


def test_pages_and_audio_are_served(served: tuple[str, int]) -> None:
    status, headers, body = get(served, "/story/")
    assert status == 200 and body == b"<title>story</title>"
    status, headers, body = get(served, "/story/story.mp3")
    assert status == 200 and body == AUDIO
    assert headers["Content-Type"] == "audio/mpeg" and headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("asked", "start", "end"), [("bytes=100-199", 100, 199), ("bytes=10000-", 10000, 10239)]
)
def test_a_byte_range_is_partial_content(
    served: tuple[str, int], asked: str, start: int, end: int
) -> None:
    status, headers, body = get(served, "/story/story.mp3", Range=asked)
    assert status == 206
    assert headers["Content-Range"] == f"bytes {start}-{end}/{len(AUDIO)}"
    assert body == AUDIO[start : end + 1]


def test_the_last_bytes_and_a_range_past_the_end(served: tuple[str, int]) -> None:
    status, _headers, body = get(served, "/story/story.mp3", Range="bytes=-16")
    assert status == 206 and body == AUDIO[-16:]
    status, headers, _body = get(served, "/story/story.mp3", Range=f"bytes={len(AUDIO)}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(AUDIO)}"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/story/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/story/%2e%2e/%2e%2e/secret.txt",
        "/story/..%2f..%2fsecret.txt",
        "/story/..%5c..%5csecret.txt",
        "/story/escape.txt",
        "/story/missing.mp3",
    ],
)
def test_nothing_outside_the_folder(served: tuple[str, int], path: str) -> None:
    status, _headers, body = get(served, path)
    assert status == 404 and b"not for the listener" not in body


def test_the_command_listens_on_loopback_and_prints_its_url(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [BEDTIME, "serve", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = process.stdout.readline().strip()
        assert printed.startswith("http://127.0.0.1:") and printed.endswith("/")
        port = int(printed.rsplit(":", 1)[1].rstrip("/"))
        assert get(("127.0.0.1", port), "/")[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    server = make_server(tmp_path)
    try:
        port = server.server_address[1]
        result = subprocess.run(
            [BEDTIME, "serve", str(tmp_path), "--port", str(port)], capture_output=True, text=True
        )
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
        assert "Traceback" not in result.stderr
    finally:
        server.server_close()


def test_the_url_names_the_host_it_listens_on(tmp_path: Path) -> None:
    server = make_server(tmp_path, "127.0.0.1", 0)
    try:
        assert url(server) == f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.server_close()
