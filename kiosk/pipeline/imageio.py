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

# Pillow's decompression-bomb guard (Image.MAX_IMAGE_PIXELS) stays on: above about 179 MP Image.open itself
# refuses; the checks below come first for everything smaller and say what to do in our own words.
# Only these decoders ever run: never EPS/PS/PDF (Pillow hands those to Ghostscript), nor the dozens of
# other formats Pillow would try on unknown bytes.
_BASE_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
MAX_ASPECT = 8.0  # longer side / shorter side; a portrait photo is nowhere near
DECODE_BUDGET_BYTES = 640_000_000  # width × height × channels × bytes per sample, after reduced decoding
_WORK_CHUNK_PX = 4_000_000  # pixels converted at a time (alpha, 16-bit), so peak memory stays ~1 copy


def allowed_formats() -> tuple[str, ...]:
    """The formats the kiosk decodes: JPEG, PNG, WebP, TIFF, and HEIF when pillow-heif is installed."""
    try:
        import pillow_heif  # type: ignore[import-not-found,unused-ignore]  # reason: optional extra, absent here

        pillow_heif.register_heif_opener()
    except ImportError:
        return _BASE_FORMATS
    return (*_BASE_FORMATS, "HEIF")


@dataclass(frozen=True)
class ImageInfo:
    """What an image's header says, before any pixel is decoded."""

    format: str
    width: int
    height: int
    mode: str
    channels: int
    bytes_per_sample: int

    @property
    def megapixels(self) -> float:
        """Stored size, MP."""
        return self.width * self.height / 1e6

    def decoded_bytes(self, scale: float = 1.0) -> int:
        """Memory the decoded pixels take at a linear scale (JPEG DCT scaling), bytes."""
        w, h = max(1, int(self.width * scale)), max(1, int(self.height * scale))
        return w * h * self.channels * self.bytes_per_sample


_MODE_SAMPLES = {"1": (1, 1), "L": (1, 1), "P": (1, 1), "LA": (2, 1), "PA": (2, 1), "La": (2, 1), "RGB": (3, 1),
                 "YCbCr": (3, 1), "LAB": (3, 1), "HSV": (3, 1), "RGBA": (4, 1), "RGBa": (4, 1), "RGBX": (4, 1),
                 "CMYK": (4, 1), "I": (1, 4), "F": (1, 4)}  # fmt: skip


def _samples(im: Image.Image) -> tuple[int, int]:
    """(channels, bytes per sample) of the stored pixels: the file's own bit depth where Pillow hides it."""
    channels, nbytes = _MODE_SAMPLES.get(im.mode, (4, 2) if ";16" in im.mode else (4, 4))
    if im.mode.startswith("I;16"):
        channels, nbytes = 1, 2
    if im.format == "PNG":
        # IHDR: bit depth and colour type (Pillow decodes 16-bit colour PNGs to 8 bits, after reading 16)
        depth = getattr(im, "_kiosk_png_depth", None)
        if depth:
            nbytes = max(nbytes, (depth + 7) // 8)
    elif im.format == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258)
        if isinstance(bits, tuple | list) and bits:
            nbytes = max(nbytes, (max(int(b) for b in bits) + 7) // 8)
        elif isinstance(bits, int):
            nbytes = max(nbytes, (bits + 7) // 8)
    return channels, nbytes


def _png_depth(data: bytes) -> int | None:
    """A PNG's bit depth from its IHDR chunk (None when the bytes are not a PNG)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 25:
        return data[24]
    return None


def open_image(data: bytes, name: str, formats: tuple[str, ...] | None = None) -> Image.Image:
    """Open (not decode) image bytes with the allowed decoders only; InputError with the reason otherwise."""
    allowed = formats or allowed_formats()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning between 89 and 179 MP: checked below
            im = Image.open(io.BytesIO(data), formats=list(allowed))
    except Image.DecompressionBombError as err:
        raise InputError(f"{name}: the image is too large to decode safely ({err}); resize it first") from err
    except UnidentifiedImageError as err:
        names = ", ".join("WebP" if f == "WEBP" else f for f in allowed)
        raise InputError(f"{name}: not an image, or a format the kiosk does not read (use {names})") from err
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as err:
        raise InputError(f"{name}: the image header is damaged ({err})") from err
    im._kiosk_png_depth = _png_depth(data)  # type: ignore[attr-defined]  # reason: read by _samples
    return im


def check_image(
    im: Image.Image,
    name: str,
    max_megapixels: float = 150.0,
    budget_bytes: int = DECODE_BUDGET_BYTES,
    scale: float = 1.0,
) -> ImageInfo:
    """Refuse, before decoding, an image that is too large, too small, too elongated or over the byte budget.

    Args:
        im: an image opened with open_image (header read, pixels not decoded).
        name: how to name it in the error.
        max_megapixels: stored size limit, MP.
        budget_bytes: decoded size limit (width × height × channels × bytes per sample), bytes.
        scale: the linear scale it will be decoded at (JPEG DCT scaling: 1, 1/2, 1/4, 1/8).
    """
    width, height = im.size
    channels, nbytes = _samples(im)
    info = ImageInfo(im.format or "?", width, height, im.mode, channels, nbytes)
    if info.megapixels > max_megapixels:
        raise InputError(
            f"{name}: {width}×{height} ({info.megapixels:.0f} MP) is larger than the {max_megapixels:.0f} MP limit; "
            "resize it first"
        )
    if width < 32 or height < 32:
        raise InputError(f"{name}: {width}×{height} is too small to hold a face")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(
            f"{name}: {width}×{height} is not a photo of a person (sides more than {MAX_ASPECT:g}:1); crop it first"
        )
    need = info.decoded_bytes(scale)
    if need > budget_bytes:
        raise InputError(
            f"{name}: {width}×{height} with {channels} channel(s) of {8 * nbytes} bits needs {need / 1e6:.0f} MB to "
            f"decode (limit {budget_bytes / 1e6:.0f} MB); save it as an 8-bit JPEG or PNG, or resize it"
        )
    return info


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


def _jpeg_scale(megapixels: float, work_megapixels: float | None) -> float:
    """The DCT scale (1, 1/2, 1/4, 1/8) that brings a JPEG to at most work_megapixels, or 1/8."""
    if not work_megapixels or megapixels <= work_megapixels:
        return 1.0
    for factor in (2, 4, 8):
        if megapixels / factor**2 <= work_megapixels:
            return 1.0 / factor
    return 1.0 / 8


def load_image(
    source: str | os.PathLike[str] | bytes,
    max_megapixels: float = 150.0,
    work_megapixels: float | None = 24.0,
    budget_bytes: int = DECODE_BUDGET_BYTES,
) -> LoadedImage:
    """Decode a photo to BGR uint8, sRGB, upright; raise InputError with a clear reason otherwise.

    Args:
        source: a file path or the encoded bytes.
        max_megapixels: refuse larger images (decompression bombs), MP.
        work_megapixels: decode JPEGs above this size at 1/2, 1/4 or 1/8 scale (libjpeg DCT scaling), MP.
        budget_bytes: refuse images whose decoded pixels would take more, bytes (after that scaling).
    """
    data, name = _read(source)
    probe = open_image(data, name)
    width, height = probe.size
    fmt = probe.format or "?"
    scale = _jpeg_scale(width * height / 1e6, work_megapixels) if fmt == "JPEG" else 1.0
    check_image(probe, name, max_megapixels, budget_bytes, scale)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mode = probe.mode
            icc = probe.info.get("icc_profile")
            orientation = probe.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError, struct.error) as err:
        raise InputError(f"{name}: the image header is damaged ({err})") from err
    notes: list[str] = []
    if fmt == "JPEG" and mode in ("RGB", "L", "YCbCr"):
        if not _jpeg_complete(data):
            raise InputError(f"{name}: the JPEG is truncated (incomplete file); copy it again")
        flag = {1.0: cv2.IMREAD_COLOR, 0.5: cv2.IMREAD_REDUCED_COLOR_2, 0.25: cv2.IMREAD_REDUCED_COLOR_4,
                0.125: cv2.IMREAD_REDUCED_COLOR_8}[scale]  # fmt: skip
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        if bgr is None:
            raise InputError(f"{name}: the JPEG data is corrupt and cannot be decoded")
        if icc and not _is_srgb(icc):
            rgb = _to_srgb(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), icc)
            bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
            notes.append("converted from the embedded colour profile to sRGB")
        if orientation not in (1, None):
            notes.append("rotated upright from its EXIF orientation")
        return LoadedImage(bgr, (width, height), scale, notes)
    return _load_with_pillow(probe, name, (width, height), icc, notes, scale)


def _to_bgr(img: Image.Image) -> np.ndarray:
    """BGR uint8 of an RGB/RGBA/L/LA/16-bit Pillow image, converted a band of rows at a time.

    Alpha is composited over white. One output array is allocated; each band is a small temporary, so a
    large transparent or 16-bit image never needs the four full-size copies a naive conversion makes.
    """
    w, h = img.size
    out = np.empty((h, w, 3), np.uint8)
    rows = max(1, _WORK_CHUNK_PX // max(1, w))
    sixteen = img.mode in ("I;16", "I;16B", "I;16L", "I")
    peak = 255.0
    if sixteen:
        extrema = img.getextrema()  # a single band: one (min, max) pair
        hi = extrema[1]
        peak = 65535.0 if isinstance(hi, int | float) and hi > 255 else 255.0
    for y0 in range(0, h, rows):
        band = img.crop((0, y0, w, min(h, y0 + rows)))
        if sixteen:
            grey = np.asarray(band, dtype=np.float32)
            g8 = np.clip(grey / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
            out[y0 : y0 + g8.shape[0]] = g8[:, :, None]
            continue
        if band.mode != "RGBA":
            band = band.convert("RGBA")
        rgba = np.asarray(band)
        alpha = rgba[:, :, 3:4].astype(np.uint16)
        rgb = (rgba[:, :, :3].astype(np.uint16) * alpha + 255 * (255 - alpha) + 127) // 255
        out[y0 : y0 + rgba.shape[0]] = rgb[:, :, ::-1].astype(np.uint8)
    return out


def _load_with_pillow(
    img: Image.Image, name: str, size: tuple[int, int], icc: bytes | None, notes: list[str], scale: float = 1.0
) -> LoadedImage:
    fmt = img.format
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "JPEG" and scale < 1.0:
                img.draft(img.mode, (int(size[0] * scale), int(size[1] * scale)))  # DCT scaling (CMYK JPEGs)
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            img = ImageOps.exif_transpose(img) or img
    except (OSError, ValueError, SyntaxError, struct.error, EOFError, Image.DecompressionBombError) as err:
        raise InputError(f"{name}: the image data is truncated or corrupt ({err})") from err
    if orientation not in (1, None):
        notes.append("rotated upright from its EXIF orientation")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        notes.append("transparent areas filled with white")
    if img.mode == "CMYK":
        notes.append("converted from CMYK")
    if img.mode in ("RGBA", "LA", "PA", "P", "RGB", "L", "I;16", "I;16B", "I;16L", "I") and not (
        icc and not _is_srgb(icc)
    ):
        if img.mode in ("P", "PA", "LA"):
            img = img.convert("RGBA" if has_alpha else "RGB")
        bgr = _to_bgr(img)
    else:
        rgb = img.convert("RGBA") if has_alpha else img
        if has_alpha:
            bgr = _to_bgr(rgb)
            rgb = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        rgb = rgb.convert("RGB")
        if icc and not _is_srgb(icc) and img.mode != "CMYK":
            rgb = _to_srgb(rgb, icc)
            notes.append("converted from the embedded colour profile to sRGB")
        bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    decoded_scale = max(bgr.shape[:2]) / max(size) if fmt == "JPEG" else 1.0
    return LoadedImage(np.ascontiguousarray(bgr), size, decoded_scale, notes)


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
