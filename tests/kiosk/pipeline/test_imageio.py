"""Decoding guests' photos: every kind of bad input gets a clear exit 2, odd-but-valid input works."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.errors import InputError
from kiosk.pipeline.imageio import encode_jpeg, load_image, read_jpeg_metadata
from tests.conftest import portrait

SAMPLE = "nasa_man_hispanic_mustache_01.jpg"


def _kiosk(*args: str, env_data: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, KIOSK_DATA_DIR=str(env_data))
    env.pop("KIOSK_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> dict[str, Path]:
    """One file per kind of bad input the issue names."""
    d = tmp_path_factory.mktemp("bad")
    good = portrait(SAMPLE).read_bytes()
    files = {
        "missing": d / "does-not-exist.jpg",
        "truncated": d / "truncated.jpg",
        "not-an-image": d / "notes.jpg",
        "empty": d / "empty.jpg",
        "directory": d,
        "bomb": d / "bomb.png",
    }
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["not-an-image"].write_text("this is a shopping list, not a photo\n")
    files["empty"].write_bytes(b"")
    # A PNG header claiming 20000×20000 (400 MP) pixels: refused before anything is decoded.
    buf = io.BytesIO()
    Image.new("L", (64, 64)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    files["bomb"].write_bytes(bytes(data))
    return files


@pytest.mark.parametrize("kind", ["missing", "truncated", "not-an-image", "empty", "directory", "bomb"])
def test_bad_input_exits_2_with_one_clear_line(bad_inputs, kind, isolated_env, tmp_path):
    proc = _kiosk("headshot", str(bad_inputs[kind]), "-o", str(tmp_path / "out.jpg"), env_data=isolated_env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("kiosk: "), proc.stderr
    assert not (tmp_path / "out.jpg").exists()


def test_no_face_exits_2_with_a_reason(isolated_env, tmp_path):
    blank = tmp_path / "wall.jpg"
    cv2.imwrite(str(blank), np.full((600, 800, 3), 180, np.uint8))
    proc = _kiosk("headshot", str(blank), "-o", str(tmp_path / "out.jpg"), env_data=isolated_env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "kiosk: no face found: face the camera with your whole face visible"


def _variants(tmp: Path) -> dict[str, Path]:
    src = Image.open(portrait(SAMPLE))
    out = {}
    out["grayscale"] = tmp / "gray.jpg"
    src.convert("L").save(out["grayscale"], quality=90)
    out["cmyk"] = tmp / "cmyk.jpg"
    src.convert("CMYK").save(out["cmyk"], quality=90)
    out["png-alpha"] = tmp / "alpha.png"
    rgba = src.convert("RGBA")
    alpha = Image.new("L", src.size, 255)
    alpha.paste(0, (0, 0, src.size[0], 60))  # a transparent band across the top
    rgba.putalpha(alpha)
    rgba.save(out["png-alpha"])
    # EXIF orientation 6: stored rotated 90° clockwise-from-upright, displayed upright by readers.
    out["exif-rotated"] = tmp / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    src.transpose(Image.Transpose.ROTATE_90).save(out["exif-rotated"], quality=90, exif=exif.tobytes())
    out["16-bit"] = tmp / "deep.png"
    arr16 = (np.asarray(src.convert("L"), np.uint16) * 257)
    Image.fromarray(arr16).save(out["16-bit"])
    return out


@pytest.mark.parametrize("kind", ["grayscale", "cmyk", "png-alpha", "exif-rotated", "16-bit"])
def test_odd_but_valid_inputs_make_a_headshot(kind, isolated_env, tmp_path):
    path = _variants(tmp_path)[kind]
    out = tmp_path / "out.jpg"
    proc = _kiosk("headshot", str(path), "-o", str(out), "--json", env_data=isolated_env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    img = cv2.imread(str(out))
    assert img.shape == (1500, 1200, 3)


def test_exif_rotation_is_applied(tmp_path):
    paths = _variants(tmp_path)
    upright = load_image(portrait(SAMPLE)).bgr
    rotated = load_image(paths["exif-rotated"])
    assert rotated.bgr.shape == upright.shape
    assert "rotated upright" in " ".join(rotated.notes)
    diff = np.abs(rotated.bgr.astype(int) - upright.astype(int)).mean()
    assert diff < 4.0  # the same picture, give or take JPEG re-encoding


def test_cmyk_keeps_its_colours(tmp_path):
    upright = load_image(portrait(SAMPLE)).bgr.astype(int)
    cmyk = load_image(_variants(tmp_path)["cmyk"]).bgr.astype(int)
    assert np.abs(cmyk - upright).mean() < 12.0


def test_fifty_megapixel_photo_is_handled(isolated_env, tmp_path):
    """A 50 MP DSLR frame is decoded at reduced scale (libjpeg DCT scaling) and makes a headshot."""
    src = cv2.imread(str(portrait(SAMPLE)))
    big = cv2.resize(src, (6124, 8165), interpolation=cv2.INTER_LINEAR)  # 50.0 MP
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    loaded = load_image(path)
    assert loaded.source_size == (6124, 8165)
    assert loaded.bgr.shape[0] * loaded.bgr.shape[1] <= 24e6
    proc = _kiosk("headshot", str(path), "-o", str(tmp_path / "out.jpg"), env_data=isolated_env)
    assert proc.returncode == 0, proc.stderr


def test_load_image_raises_input_error_for_bytes_that_are_not_an_image():
    with pytest.raises(InputError, match="not an image"):
        load_image(b"GIF89a-but-not-really" * 10)


def test_jpeg_carries_srgb_profile_and_edit_declaration():
    bgr = np.full((64, 64, 3), 128, np.uint8)
    meta = read_jpeg_metadata(encode_jpeg(bgr, source_type="edited", description="test"))
    from PIL import ImageCms

    assert isinstance(meta["icc"], bytes)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(meta["icc"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert "digitalsourcetype/algorithmicallyEnhanced" in str(meta["xmp"])
    ai = read_jpeg_metadata(encode_jpeg(bgr, source_type="ai-composite"))
    assert "compositeWithTrainedAlgorithmicMedia" in str(ai["xmp"])
    img = Image.open(io.BytesIO(encode_jpeg(bgr)))
    assert img.getexif().get(0x0112) in (None, 1)  # orientation normalised: no rotation tag
    assert "icc_profile" in img.info


# --- issue 15: allow-list, byte budget, aspect, Pillow's guard ------------------------------------------


def _png_header(width: int, height: int, depth: int = 8, color_type: int = 2) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_eps_never_reaches_ghostscript(tmp_path: Path) -> None:
    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import load_image

    marker = tmp_path / "written"
    eps = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n"
           + f"/f ({marker}) (w) file def f (x) writestring f closefile showpage\n".encode())  # fmt: skip
    with pytest.raises(InputError, match="format the kiosk does not read"):
        load_image(eps)
    assert not marker.exists()


def test_bomb_guard_is_on_and_budget_counts_bit_depth() -> None:
    from PIL import Image

    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import load_image

    assert Image.MAX_IMAGE_PIXELS is not None, "Pillow's decompression-bomb guard must stay on"
    with pytest.raises(InputError, match="1192 MB to decode"):
        load_image(_png_header(12207, 12207, 16, 6))  # 149 MP, 16-bit RGBA: over the 640 MB budget
    with pytest.raises(InputError, match="too large to decode safely"):
        load_image(_png_header(20000, 20000), max_megapixels=400)  # Pillow's own guard answers
    with pytest.raises(InputError, match="8:1"):
        load_image(_png_header(1_000_000, 100, 8, 0))


def test_large_jpeg_budget_applies_after_dct_scaling() -> None:
    import io

    from PIL import Image

    from kiosk.errors import InputError
    from kiosk.pipeline.imageio import load_image

    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (90, 120, 150)).save(out, "JPEG", quality=70)
    loaded = load_image(out.getvalue(), work_megapixels=1.0, budget_bytes=4_000_000)  # 12 MP × 3 B would not fit
    assert loaded.scale == 0.25 and loaded.bgr.shape[:2] == (750, 1000)
    with pytest.raises(InputError, match="to decode"):
        load_image(out.getvalue(), work_megapixels=None, budget_bytes=4_000_000)


def test_transparent_png_is_composited_over_white_in_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import numpy as np
    from PIL import Image

    from kiosk.pipeline import imageio

    monkeypatch.setattr(imageio, "_WORK_CHUNK_PX", 1000)  # many bands on a small image
    rgba = np.zeros((120, 90, 4), np.uint8)
    rgba[..., 0] = 200  # red
    rgba[:60, :, 3] = 255  # top half opaque, bottom transparent
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG")
    bgr = imageio.load_image(out.getvalue()).bgr
    assert tuple(bgr[10, 10]) == (0, 0, 200) and tuple(bgr[100, 10]) == (255, 255, 255)
