"""Fixtures shared by the whole suite: test portraits, installed models, one studio pipeline."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PORTRAITS = (REPO / ".." / "shared" / "testdata" / "portraits").resolve()
TINY_CHECKPOINT = REPO / "tests" / "fixtures" / "tiny_diffusers"
TINY_SIZE = (128, 160)  # width, height: 4:5 like the portrait cell

# Portraits in which a whole, usable face is visible (SOURCES.md); the others are hard cases.
SINGLE_FACE_PORTRAITS = (
    "cc0_man_elderly_outdoor_01.jpg",
    "cc0_woman_young_hair_over_eye_side_light_01.jpg",
    "house_man_young_beard_curly_hair_01.jpg",
    "house_woman_alaska_native_long_hair_01.jpg",
    "house_woman_east_asian_older_01.jpg",
    "house_woman_elderly_glasses_01.jpg",
    "house_woman_long_locs_01.jpg",
    "nasa_man_dark_skin_bald_01.jpg",
    "nasa_man_east_asian_01.jpg",
    "nasa_man_hispanic_mustache_01.jpg",
    "nasa_man_lowres_207x300_01.jpg",
    "nasa_woman_dark_skin_01.jpg",
    "nasa_woman_light_skin_01.png",
    "nasa_woman_south_asian_01.jpg",
    "whitehouse_lowres_240p.jpg",
    "whitehouse_man_medium_dark_skin_01.jpg",
    "whitehouse_man_older_white_hair_01.jpg",
    "whitehouse_video_frame_1080p.jpg",
)


def portrait(name: str) -> Path:
    """Path of a shared test portrait; skips the test with a reason when the folder is absent."""
    path = PORTRAITS / name
    if not path.exists():
        pytest.skip(f"test portrait {name} not found in {PORTRAITS} (../shared/testdata is absent here)")
    return path


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The installed MediaPipe models (scripts/setup.sh runs `kiosk models fetch`)."""
    from kiosk.config import load_config
    from models.store import ModelStore

    root = load_config().models_dir
    store = ModelStore(root)
    missing = [s.name for s in store.verify() if s.state not in ("ok", "override")]
    if missing:
        pytest.fail(f"models {missing} are not installed in {root}: run scripts/setup.sh (kiosk models fetch)")
    return root


@pytest.fixture(scope="session")
def studio(models_dir: Path) -> Iterator[object]:
    """One StudioPipeline for the session (models load once)."""
    from kiosk.pipeline.studio import StudioPipeline

    with StudioPipeline(models_dir) as pipe:
        yield pipe


def _built_pack(family: str, **options: object) -> Path:
    """A pack built by build-pack from the tiny random checkpoint, cached under build/test-packs.

    The cache key covers the checkpoint, the presets and the builder's own code, so a change to any of them
    builds afresh (a clean clone always does).
    """
    import hashlib

    from models.diffusion.build import build_pack

    sources = sorted(TINY_CHECKPOINT.rglob("*")) + sorted((REPO / "models" / "diffusion").rglob("*.py"))
    sources.append(REPO / "models" / "diffusion" / "presets.toml")
    h = hashlib.sha256(repr((family, sorted(options.items()))).encode())
    for path in sources:
        if path.is_file():
            h.update(path.as_posix().encode() + path.read_bytes())
    out = REPO / "build" / "test-packs" / f"{family}-{h.hexdigest()[:16]}"
    if not (out / "manifest.json").exists():
        build_pack(str(TINY_CHECKPOINT), out, family=family, resolution=TINY_SIZE, force=True, **options)  # type: ignore[arg-type]  # reason: options are build_pack's keyword arguments
    return out


@pytest.fixture(scope="session")
def tiny_pack() -> Path:
    """The SD-Turbo-family pack of the tiny random checkpoint (fp32 + fp16 graphs, weights as external data)."""
    return _built_pack("sd-turbo", fp16=True, external_threshold=0)


@pytest.fixture(scope="session")
def tiny_lcm_pack() -> Path:
    """The sd15-lcm-family pack of the tiny random checkpoint (fp32 graphs, weights inline)."""
    return _built_pack("sd15-lcm")


@pytest.fixture()
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> Path:
    """A fresh data folder (with the installed models linked in) and no config file."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(models_dir, target_is_directory=True)
    monkeypatch.setenv("KIOSK_DATA_DIR", str(data))
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    return data


def artifacts_dir(*parts: str) -> Path:
    """A folder under artifacts/ for files a person may want to look at after the run."""
    path = REPO.joinpath("artifacts", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def kiosk_env(**extra: str) -> dict[str, str]:
    """Environment for running the `kiosk` CLI in a subprocess."""
    env = dict(os.environ)
    env.update(extra)
    return env


@contextlib.contextmanager
def xvfb_display(first: int, screen: str = "1920x1920x24") -> Iterator[str]:
    """Run a real X server (Xvfb) on the first free display number from `first`; yields ":N".

    Each test module passes its own `first` so that servers of parallel or overlapping fixtures never
    race for one number. Skips the test when Xvfb is not installed (scripts/setup.sh installs it).
    """
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb; scripts/setup.sh does it)")
    n = next(
        (n for n in range(first, first + 100)
         if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()),
        None,
    )
    if n is None:
        pytest.fail(f"no free X display number between :{first} and :{first + 99}")
    proc = subprocess.Popen([exe, f":{n}", "-screen", "0", screen, "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = Path(f"/tmp/.X11-unix/X{n}")
    deadline = time.monotonic() + 15
    while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the server socket with a deadline
    if not sock.exists():
        proc.kill()
        pytest.fail(f"Xvfb :{n} did not start")
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class OffsetClock:
    """time.monotonic() plus an offset a test advances (failsafe recovery, idle time-outs)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._held_at: float | None = None

    def __call__(self) -> float:
        now = time.monotonic() if self._held_at is None else self._held_at
        return now + self.offset

    def advance(self, s: float) -> None:
        """Jump forward s seconds."""
        self.offset += s

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Stop time while a slow look (a screenshot on a busy machine) must not let a countdown run out."""
        if self._held_at is not None:  # held already, by an outer look
            yield
            return
        self._held_at = time.monotonic()
        try:
            yield
        finally:
            self.offset -= time.monotonic() - self._held_at
            self._held_at = None
