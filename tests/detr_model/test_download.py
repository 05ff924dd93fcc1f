"""Checkpoint downloads against a loopback HTTP server: progress, hash, interruption, offline, cache."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from detr_model.download import (
    DownloadCancelled,
    DownloadError,
    default_cache_dir,
    download_file,
    download_official,
    resolve_model,
)
from detr_model.official_models import OFFICIAL_MODELS

BODY = bytes(range(256)) * 4096  # 1 MiB, more than one read chunk plus a bit
BODY = BODY + b"tail"
BODY_SHA = hashlib.sha256(BODY).hexdigest()


class _Server:
    """A loopback HTTP server: path -> (body, bytes actually sent); counts requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, int]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                body, sent = server.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:sent])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_writes_the_file_and_reports_progress(server: _Server, tmp_path: Path) -> None:
    server.routes["/m.pth"] = (BODY, len(BODY))
    calls: list[tuple[int, int | None]] = []
    dest = tmp_path / "cache" / "m.pth"
    got = download_file(
        server.url("/m.pth"),
        dest,
        sha256_prefix=BODY_SHA[:8],
        progress=lambda done, total: calls.append((done, total)),
    )
    assert got == dest
    assert dest.read_bytes() == BODY
    assert not dest.with_name("m.pth.part").exists()
    assert calls[0] == (0, len(BODY))
    assert calls[-1] == (len(BODY), len(BODY))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) >= 3


def test_hash_mismatch_deletes_the_partial_file_and_names_both_hashes(
    server: _Server, tmp_path: Path
) -> None:
    server.routes["/m.pth"] = (BODY, len(BODY))
    url = server.url("/m.pth")
    with pytest.raises(DownloadError) as info:
        download_file(url, tmp_path / "m.pth", sha256_prefix="00000000")
    message = str(info.value)
    assert url in message
    assert "00000000" in message
    assert BODY_SHA in message
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_no_finished_looking_file(
    server: _Server, tmp_path: Path
) -> None:
    server.routes["/m.pth"] = (BODY, len(BODY) // 3)
    url = server.url("/m.pth")
    with pytest.raises(DownloadError, match="interrupted") as info:
        download_file(url, tmp_path / "m.pth")
    assert url in str(info.value)
    assert str(len(BODY)) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_fails_fast_with_a_no_network_message(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/m.pth"
    start = time.monotonic()
    with pytest.raises(DownloadError, match="no network") as info:
        download_file(url, tmp_path / "m.pth", timeout=5)
    assert time.monotonic() - start < 5
    assert url in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_http_error_names_the_status(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download_file(server.url("/missing.pth"), tmp_path / "m.pth")
    assert list(tmp_path.iterdir()) == []


def test_cache_hit_makes_no_request(server: _Server, tmp_path: Path) -> None:
    server.routes["/m.pth"] = (BODY, len(BODY))
    dest = tmp_path / "m.pth"
    dest.write_bytes(b"already here")
    assert download_file(server.url("/m.pth"), dest, sha256_prefix="00000000") == dest
    assert server.requests == []
    assert dest.read_bytes() == b"already here"


def test_cancel_hook_stops_the_download_and_removes_the_partial_file(
    server: _Server, tmp_path: Path
) -> None:
    server.routes["/m.pth"] = (BODY, len(BODY))
    seen: list[int] = []
    with pytest.raises(DownloadCancelled):
        download_file(
            server.url("/m.pth"),
            tmp_path / "m.pth",
            progress=lambda done, total: seen.append(done),
            cancel=lambda: len(seen) >= 2,
        )
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_follows_torch_home_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "th" / "hub" / "checkpoints"
    monkeypatch.delenv("TORCH_HOME")
    assert default_cache_dir() == tmp_path / "xdg" / "torch" / "hub" / "checkpoints"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "torch" / "hub" / "checkpoints"


def test_official_model_already_in_the_torch_hub_cache_is_reused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = OFFICIAL_MODELS["detr-r50"]
    cached = tmp_path / "hub" / "checkpoints" / model.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert download_official("detr-r50") == cached
    assert resolve_model("detr-r50") == cached


def test_resolve_model_names_an_unknown_file_and_the_known_models(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="detr-r101-dc5") as info:
        resolve_model(tmp_path / "nope.pth")
    assert "nope.pth" in str(info.value)
    existing = tmp_path / "mine.pth"
    existing.write_bytes(b"x")
    assert resolve_model(existing) == existing


def test_official_table_hash_prefix_matches_the_file_name() -> None:
    assert set(OFFICIAL_MODELS) == {"detr-r50", "detr-r50-dc5", "detr-r101", "detr-r101-dc5"}
    for model in OFFICIAL_MODELS.values():
        assert model.filename.endswith(f"-{model.sha256_prefix}.pth")
        assert model.url.startswith("https://dl.fbaipublicfiles.com/detr/")
        assert model.dilation == ("dc5" in model.name)
