"""Validated image decoding and JPEG encoding with an sRGB profile and provenance XMP."""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from kiosk.errors import InputError
from models.store import atomic_write_bytes

MAX_FILE_BYTES = 200 * 1024 * 1024
IPTC_DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# What each kind of result declares (IPTC Digital Source Type vocabulary).
SOURCE_TYPES = {
    "capture": "digitalCapture",
    "edited": "algorithmicallyEnhanced",
    "ai-composite": "compositeWithTrainedAlgorithmicMedia",
}
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_ICC_HEADER = b"ICC_PROFILE\x00"

# Pillow's own bomb guard would raise a warning/error with its own wording; we check size ourselves.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class LoadedImage:
    """A decoded photo in BGR uint8, with what was done to get it there."""

    bgr: np.ndarray
    source_size: tuple[int, int]  # (width, height) as stored, before any reduction
    scale: float = 1.0  # decoded size / stored size (after orientation)
    notes: list[str] = field(default_factory=list)


def _read(source: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "image data"
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty")
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {size / 1e6:.0f} MB is too large for a photo (limit {MAX_FILE_BYTES // 10**6} MB)")
    try:
        return path.read_bytes(), str(path)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from err


def _jpeg_complete(data: bytes) -> bool:
    """A JPEG is complete when an end-of-image marker follows its last scan."""
    tail = data.rstrip(b"\x00\r\n ")
    return tail.endswith(b"\xff\xd9")


@lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    """The sRGB ICC profile embedded in every delivered JPEG."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def _is_srgb(icc: bytes | None) -> bool:
    if not icc:
        return True
    try:
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (OSError, ImageCms.PyCMSError):
        return True  # an unreadable profile: treat as sRGB rather than refuse the guest's photo
    return "srgb" in desc.lower() or "iec61966" in desc.lower().replace("-", "")


def _to_srgb(rgb: Image.Image, icc: bytes) -> Image.Image:
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(rgb, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (OSError, ImageCms.PyCMSError):
        return rgb
    return converted if converted is not None else rgb


def load_image(
    source: str | os.PathLike[str] | bytes,
    max_megapixels: float = 150.0,
    work_megapixels: float | None = 24.0,
) -> LoadedImage:
    """Decode a photo to BGR uint8, sRGB, upright; raise InputError with a clear reason otherwise.

    Args:
        source: a file path or the encoded bytes.
        max_megapixels: refuse larger images (decompression bombs), MP.
        work_megapixels: decode JPEGs above this size at 1/2, 1/4 or 1/8 scale (libjpeg DCT scaling), MP.
    """
    data, name = _read(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe = Image.open(io.BytesIO(data))
            width, height = probe.size
            fmt = probe.format or "?"
            mode = probe.mode
            icc = probe.info.get("icc_profile")
            orientation = probe.getexif().get(0x0112, 1) if hasattr(probe, "getexif") else 1
    except UnidentifiedImageError as err:
        raise InputError(f"{name}: not an image, or a format the kiosk cannot read (use JPEG or PNG)") from err
    except (OSError, ValueError, SyntaxError, struct.error) as err:
        raise InputError(f"{name}: the image header is damaged ({err})") from err
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        raise InputError(
            f"{name}: {width}×{height} ({megapixels:.0f} MP) is larger than the {max_megapixels:.0f} MP limit; "
            "resize it first"
        )
    if width < 32 or height < 32:
        raise InputError(f"{name}: {width}×{height} is too small to hold a face")
    notes: list[str] = []
    if fmt == "JPEG" and mode in ("RGB", "L", "YCbCr"):
        if not _jpeg_complete(data):
            raise InputError(f"{name}: the JPEG is truncated (incomplete file); copy it again")
        reduce_flag, scale = cv2.IMREAD_COLOR, 1.0
        if work_megapixels and megapixels > work_megapixels:
            for factor, flag in ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4),
                                 (8, cv2.IMREAD_REDUCED_COLOR_8)):
                reduce_flag, scale = flag, 1.0 / factor
                if megapixels / factor**2 <= work_megapixels:
                    break
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), reduce_flag)
        if bgr is None:
            raise InputError(f"{name}: the JPEG data is corrupt and cannot be decoded")
        if icc and not _is_srgb(icc):
            rgb = _to_srgb(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), icc)
            bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
            notes.append("converted from the embedded colour profile to sRGB")
        if orientation not in (1, None):
            notes.append("rotated upright from its EXIF orientation")
        return LoadedImage(bgr, (width, height), scale, notes)
    return _load_with_pillow(data, name, (width, height), icc, notes)


def _load_with_pillow(
    data: bytes, name: str, size: tuple[int, int], icc: bytes | None, notes: list[str]
) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img: Image.Image = Image.open(io.BytesIO(data))
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            img = ImageOps.exif_transpose(img) or img
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError) as err:
        raise InputError(f"{name}: the image data is truncated or corrupt ({err})") from err
    if orientation not in (1, None):
        notes.append("rotated upright from its EXIF orientation")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        peak = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(backdrop, rgba)
        notes.append("transparent areas filled with white")
    if img.mode == "CMYK":
        notes.append("converted from CMYK")
    rgb = img.convert("RGB")
    if icc and not _is_srgb(icc) and img.mode != "CMYK":
        rgb = _to_srgb(rgb, icc)
        notes.append("converted from the embedded colour profile to sRGB")
    bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    return LoadedImage(np.ascontiguousarray(bgr), size, 1.0, notes)


def _xmp_packet(source_type: str, description: str | None, software: str) -> bytes:
    code = SOURCE_TYPES[source_type]
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    desc = (
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description)}</rdf:li>'
        f"</rdf:Alt></dc:description>"
        if description
        else ""
    )
    xml = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">'
        f"<Iptc4xmpExt:DigitalSourceType>{IPTC_DST}{code}</Iptc4xmpExt:DigitalSourceType>"
        f"<xmp:CreatorTool>{escape(software)}</xmp:CreatorTool><xmp:ModifyDate>{when}</xmp:ModifyDate>"
        f"<photoshop:ColorMode>3</photoshop:ColorMode><photoshop:ICCProfile>sRGB IEC61966-2.1</photoshop:ICCProfile>"
        f"{desc}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return xml.encode("utf-8")


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("JPEG segment payload too large")
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def encode_jpeg(
    bgr: np.ndarray,
    quality: int = 92,
    source_type: str = "edited",
    description: str | None = None,
    software: str = "Headshot Kiosk",
) -> bytes:
    """Encode BGR uint8 as a baseline JPEG with an embedded sRGB profile and provenance XMP.

    Args:
        bgr: the image, BGR uint8.
        quality: JPEG quality, 1..100.
        source_type: "edited" (studio), "ai-composite" (diffusion), or "capture".
        description: a short human-readable note on how the image was made.
        software: the CreatorTool named in the XMP.
    """
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"unknown source_type {source_type!r}")
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    jpeg = buf.tobytes()
    icc = srgb_icc()
    app = _segment(0xE1, _XMP_HEADER + _xmp_packet(source_type, description, software))
    app += _segment(0xE2, _ICC_HEADER + bytes([1, 1]) + icc)
    # Insert after SOI and the JFIF APP0 segment, where readers look for APP1/APP2.
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:pos] + app + jpeg[pos:]


def read_jpeg_metadata(data: bytes) -> dict[str, bytes | str | None]:
    """The XMP packet and ICC profile of a JPEG (None where absent)."""
    xmp: str | None = None
    icc_parts: list[bytes] = []
    pos = 2
    if data[:2] != b"\xff\xd8":
        return {"xmp": None, "icc": None}
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more metadata
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and payload.startswith(_XMP_HEADER):
            xmp = payload[len(_XMP_HEADER):].decode("utf-8", "replace")
        elif marker == 0xE2 and payload.startswith(_ICC_HEADER):
            icc_parts.append(payload[len(_ICC_HEADER) + 2 :])
        pos += 2 + length
    return {"xmp": xmp, "icc": b"".join(icc_parts) or None}


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> Path:
    """Write data to path atomically: temp file in the same folder, fsync, rename, fsync the folder."""
    target = Path(path)
    atomic_write_bytes(target, data, mode)
    return target
