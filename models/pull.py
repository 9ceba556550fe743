"""`kiosk models pull`: download a model pack from an https URL or a Hugging Face repo id.

Resumable (HTTP Range into `.part` files kept in a staging folder beside the target), sha256-verified
against the pack's manifest, and atomic: the pack is assembled and validated in the staging folder and
only then renamed into place, so the target is never a half-written pack.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.diffusion.pack import MANIFEST, Pack, load_pack, read_manifest, write_stamp
from models.errors import ModelFetchError, PackError
from models.store import fsync_dir, sha256_file

log = logging.getLogger(__name__)

HF_ENDPOINT = "https://huggingface.co"
_HF_REPO = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,95})(?:@(?P<rev>[\w./-]{1,100}))?$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_CHUNK = 1 << 20
ProgressFn = Callable[[str, int, int | None], None]


def resolve_source(source: str, hf_endpoint: str = HF_ENDPOINT) -> str:
    """Base URL (ending in '/') of a pack: an https URL, or 'org/name[@revision]' on Hugging Face.

    Plain http is accepted only for loopback hosts (a local mirror, the tests).
    """
    source = source.strip()
    if "://" in source:
        parts = urllib.parse.urlsplit(source)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK):
            if not host:
                raise ModelFetchError(f"'{source}' has no host")
            path = parts.path
            if path.endswith("/" + MANIFEST):
                path = path[: -len(MANIFEST)]
            if not path.endswith("/"):
                path += "/"
            return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        raise ModelFetchError(f"'{source}': only https URLs can be pulled (http only from this machine)")
    m = _HF_REPO.match(source)
    if m is None or ".." in source:
        raise ModelFetchError(
            f"'{source}' is neither an https URL nor a Hugging Face repo id "
            "like 'org/name' or 'org/name@revision'"
        )
    rev = urllib.parse.quote(m.group("rev") or "main", safe="")
    return f"{hf_endpoint.rstrip('/')}/{m.group('repo')}/resolve/{rev}/"


@dataclass
class PullResult:
    """What a pull did."""

    dest: Path
    pack: Pack
    downloaded_bytes: int = 0
    resumed_files: list[str] = field(default_factory=list)
    reused_files: list[str] = field(default_factory=list)


class _Downloader:
    def __init__(self, base: str, timeout_s: float, retries: int, progress: ProgressFn | None) -> None:
        self.base = base
        self.timeout_s = timeout_s
        self.retries = retries
        self.progress = progress
        self.downloaded = 0

    def url(self, rel: str) -> str:
        return self.base + urllib.parse.quote(rel)

    def fetch(self, rel: str, part: Path) -> bool:
        """Download rel into part, resuming what is there; True when it resumed a partial file."""
        resumed = False
        for attempt in range(self.retries + 1):
            have = part.stat().st_size if part.exists() else 0
            resumed = resumed or have > 0
            try:
                self._once(rel, part, have)
            except (OSError, urllib.error.URLError) as err:
                if isinstance(err, urllib.error.HTTPError) and err.code not in (408, 429, 500, 502, 503, 504):
                    raise ModelFetchError(f"{self.url(rel)}: HTTP {err.code} {err.reason}") from err
                if attempt == self.retries:
                    raise ModelFetchError(
                        f"{self.url(rel)}: download failed ({err}); run the same pull again to resume"
                    ) from err
                log.info("download of %s interrupted (%s); resuming", rel, err)
                time.sleep(min(0.2 * 2**attempt, 2.0))
            else:
                return resumed
        return resumed

    def _once(self, rel: str, part: Path, have: int) -> None:
        req = urllib.request.Request(self.url(rel), headers={"User-Agent": "headshot-kiosk"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout_s)  # scheme checked in resolve_source
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # our part is already as long as the file (or longer): start over
                part.unlink()
                raise ConnectionResetError("range not satisfiable; restarting the file") from err
            raise
        with resp:
            mode = "ab" if have and resp.status == 206 else "wb"
            length = resp.headers.get("Content-Length")
            total = (int(length) + (have if mode == "ab" else 0)) if length and length.isdigit() else None
            part.parent.mkdir(parents=True, exist_ok=True)
            with part.open(mode) as fh:
                done = have if mode == "ab" else 0
                while True:
                    block = resp.read(_CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    self.downloaded += len(block)
                    if self.progress is not None:
                        self.progress(rel, done, total)
                fh.flush()
                os.fsync(fh.fileno())
            if total is not None and done < total:
                raise ConnectionResetError(f"connection closed after {done} of {total} bytes")


def pull_pack(
    source: str,
    dest: str | Path,
    *,
    force: bool = False,
    manifest_sha256: str | None = None,
    timeout_s: float = 60.0,
    retries: int = 3,
    progress: ProgressFn | None = None,
    hf_endpoint: str = HF_ENDPOINT,
) -> PullResult:
    """Download, verify and atomically install the pack at `source` into the folder `dest`.

    Args:
        source: https URL of the pack folder (or of its manifest.json), or a Hugging Face repo id.
        dest: target folder; refused when it exists unless force.
        force: replace an existing dest (the old pack stays until the new one is complete).
        manifest_sha256: pin of manifest.json (which pins every other file).
        timeout_s: socket timeout per request, s.
        retries: automatic resumes per file after a dropped connection.
        progress: called as progress(file, bytes_done, bytes_total_or_None).
        hf_endpoint: base URL for repo ids.
    """
    dest = Path(dest)
    if dest.exists() and not force:
        raise ModelFetchError(f"{dest} already exists: pass --force to replace it, or choose another --to")
    base = resolve_source(source, hf_endpoint)
    staging = dest.parent / f".{dest.name}.pull"
    staging.mkdir(parents=True, exist_ok=True)
    dl = _Downloader(base, timeout_s, retries, progress)
    result_resumed: list[str] = []
    reused: list[str] = []

    mpart = staging / (MANIFEST + ".part")
    mpart.unlink(missing_ok=True)  # small and authoritative: always fetched afresh
    dl.fetch(MANIFEST, mpart)
    if manifest_sha256 and sha256_file(mpart) != manifest_sha256.lower():
        mpart.unlink()
        raise ModelFetchError(f"{base}{MANIFEST} does not match the expected sha256")
    os.replace(mpart, staging / MANIFEST)
    try:
        manifest = read_manifest(staging)
    except PackError as err:
        raise ModelFetchError(f"{base}{MANIFEST}: not a valid pack manifest: {err}") from err

    for rel, digest in manifest.files.items():
        final = staging / rel
        if final.is_file() and sha256_file(final) == digest:
            reused.append(rel)
            continue
        part = final.with_name(final.name + ".part")
        if dl.fetch(rel, part):
            result_resumed.append(rel)
        if sha256_file(part) != digest:
            part.unlink()
            raise ModelFetchError(
                f"{dl.url(rel)}: sha256 mismatch (corrupt download or changed file); nothing installed"
            )
        os.replace(part, final)

    load_pack(staging, verify="none")  # layout, styles, scheduler; every file was just verified above
    _install(staging, dest)
    pack = load_pack(dest, verify="none")
    write_stamp(dest, pack.manifest)  # the start-up check compares sizes and mtimes with this
    return PullResult(
        dest=dest,
        pack=pack,
        downloaded_bytes=dl.downloaded,
        resumed_files=result_resumed,
        reused_files=reused,
    )


def _install(staging: Path, dest: Path) -> None:
    """Swap the complete staging folder into place with renames (the old pack goes only after)."""
    for leftover in staging.rglob("*.part"):
        leftover.unlink()
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
    os.replace(staging, dest)
    fsync_dir(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
