"""`models pull` against a real HTTP server on loopback serving a pack made by build-pack (tests/conftest.py's
tiny_pack): resume with Range, sha256 checks, atomic install, the start-up stamp written after."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models.diffusion import pack as pack_module
from models.diffusion.pack import STAMP, load_pack, stamp_matches
from models.errors import ModelFetchError
from models.pull import pull_pack, resolve_source


@dataclass
class ServerState:
    root: Path
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before dropping (once each)
    always_drop: set[str] = field(default_factory=set)
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        st = self.state
        rel = self.path.lstrip("/").split("/", 1)[1] if self.path.startswith("/pack/") else ""
        rng = self.headers.get("Range")
        st.requests.append((rel, rng))
        path = st.root / rel
        if not rel or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if rng and not st.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = st.drop_after.pop(rel, None)
        if rel in st.always_drop:
            cut = min(len(body) // 2, 1000)
        if cut is not None and cut < len(body):
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def pack(tiny_pack: Path) -> Path:
    """The pack served (its files as build-pack wrote them)."""
    return tiny_pack


@pytest.fixture
def server(pack: Path, tmp_path: Path) -> Iterator[tuple[str, ServerState]]:
    root = tmp_path / "served"
    shutil.copytree(pack, root, ignore=shutil.ignore_patterns("engines", STAMP))
    state = ServerState(root)
    handler = type("H", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/pack/", state
    httpd.shutdown()
    httpd.server_close()


def test_pull_installs_a_verified_pack(
    server: tuple[str, ServerState], pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = server
    seen: list[str] = []
    dest = tmp_path / "packs" / "tiny"
    result = pull_pack(url, dest, progress=lambda f, d, t: seen.append(f))
    manifest = result.pack.manifest
    assert manifest.model_id == "tiny_diffusers" and result.pack.size == (128, 160)
    assert {rel for rel, _ in state.requests} == {"manifest.json", *manifest.files}
    for rel in manifest.files:
        assert (dest / rel).read_bytes() == (pack / rel).read_bytes()
    assert (dest / "unet" / "model.onnx_data").is_file(), "external weights come along"
    assert not (tmp_path / "packs" / ".tiny.pull").exists()
    assert {"unet/model.onnx", "unet/model.onnx_data"} <= set(seen)
    # The stamp written after the pull lets the kiosk's start skip the full hash.
    stamp = json.loads((dest / STAMP).read_text())
    assert set(stamp["files"]) == set(manifest.files) and stamp_matches(dest, manifest)
    hashed: list[Path] = []
    real = pack_module.sha256_file
    monkeypatch.setattr(pack_module, "sha256_file", lambda p: hashed.append(Path(p)) or real(p))
    load_pack(dest, verify="stamp")
    assert hashed == [dest / "manifest.json"]


def test_dropped_connection_resumes_with_range(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.drop_after["unet/model.onnx"] = 100_000
    state.drop_after["unet/model.onnx_data"] = 300_000
    result = pull_pack(url + "manifest.json", tmp_path / "tiny")
    assert sorted(result.resumed_files) == ["unet/model.onnx", "unet/model.onnx_data"]
    assert [r for f, r in state.requests if f == "unet/model.onnx"] == [None, "bytes=100000-"]
    assert [r for f, r in state.requests if f == "unet/model.onnx_data"] == [None, "bytes=300000-"]
    for rel in ("unet/model.onnx", "unet/model.onnx_data"):
        assert (tmp_path / "tiny" / rel).read_bytes() == (state.root / rel).read_bytes()


def test_failed_pull_leaves_no_pack_and_the_next_run_resumes(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server
    state.always_drop.add("vae_decoder/model.onnx")
    with pytest.raises(ModelFetchError, match="run the same pull again to resume"):
        pull_pack(url, tmp_path / "tiny", retries=1)
    assert not (tmp_path / "tiny").exists()
    staged = tmp_path / ".tiny.pull"
    assert (staged / "unet" / "model.onnx").is_file()
    state.always_drop.clear()
    state.requests.clear()
    result = pull_pack(url, tmp_path / "tiny")
    assert "unet/model.onnx" in result.reused_files  # not downloaded again
    assert result.resumed_files == ["vae_decoder/model.onnx"]
    assert next(r for f, r in state.requests if f == "vae_decoder/model.onnx").startswith("bytes=")


def test_server_ignoring_range_restarts_the_file(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, state = server
    state.ignore_range = True
    state.drop_after["unet/model.onnx"] = 5000
    result = pull_pack(url, tmp_path / "tiny")
    assert (tmp_path / "tiny" / "unet" / "model.onnx").read_bytes() == (state.root / "unet" / "model.onnx").read_bytes()
    assert [r for f, r in state.requests if f == "unet/model.onnx"] == [None, "bytes=5000-"]
    sizes = sum((state.root / rel).stat().st_size for rel in result.pack.manifest.files)
    assert result.downloaded_bytes >= sizes + 5000, "the whole file again, after the first 5000 bytes"


def test_tampered_file_is_refused_and_nothing_installed(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server
    with (state.root / "styles" / "corporate.npy").open("r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ModelFetchError, match="sha256 mismatch"):
        pull_pack(url, tmp_path / "tiny")
    assert not (tmp_path / "tiny").exists()
    assert not (tmp_path / ".tiny.pull" / "styles" / "corporate.npy.part").exists()


def test_a_pack_of_the_old_format_is_refused_before_any_download(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server
    path = state.root / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": "headshot-kiosk-pack/1"}))
    with pytest.raises(ModelFetchError, match="rebuild it with `kiosk models build-pack`"):
        pull_pack(url, tmp_path / "tiny")
    assert [rel for rel, _ in state.requests] == ["manifest.json"]
    assert not (tmp_path / "tiny").exists()


def test_manifest_pin(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(ModelFetchError, match="expected sha256"):
        pull_pack(url, tmp_path / "tiny", manifest_sha256="0" * 64)


def test_existing_target_needs_force_and_is_replaced_whole(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, _ = server
    dest = tmp_path / "tiny"
    dest.mkdir()
    (dest / "old.txt").write_text("old pack")
    with pytest.raises(ModelFetchError, match="--force"):
        pull_pack(url, dest)
    pull_pack(url, dest, force=True)
    assert not (dest / "old.txt").exists() and (dest / "manifest.json").is_file()


def test_missing_pack_is_a_clear_error(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(ModelFetchError, match="HTTP 404"):
        pull_pack(url.replace("/pack/", "/pack/nothing/"), tmp_path / "tiny")


@pytest.mark.parametrize(
    ("source", "base"),
    [
        ("stabilityai/sd-turbo", "https://huggingface.co/stabilityai/sd-turbo/resolve/main/"),
        ("org/pack.onnx@v1.2", "https://huggingface.co/org/pack.onnx/resolve/v1.2/"),
        ("https://example.org/packs/a/manifest.json", "https://example.org/packs/a/"),
        ("https://example.org/packs/a", "https://example.org/packs/a/"),
        ("http://127.0.0.1:8000/p/", "http://127.0.0.1:8000/p/"),
    ],
)
def test_resolve_source(source: str, base: str) -> None:
    assert resolve_source(source) == base


@pytest.mark.parametrize(
    "source", ["http://example.org/pack/", "ftp://x/y", "just-a-name", "a/b/c", "../x/y"]
)
def test_resolve_source_refuses(source: str) -> None:
    with pytest.raises(ModelFetchError):
        resolve_source(source)
