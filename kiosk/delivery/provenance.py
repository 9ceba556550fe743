"""AI disclosure and provenance: XMP DigitalSourceType, C2PA signing (c2pa-python), and reading both back.

What a delivered file declares (IPTC Digital Source Type vocabulary):
- studio-only result (matting, light, retouch): `algorithmicallyEnhanced`, a digitally edited photo;
- diffusion result composited with the guest's photo: `compositeWithTrainedAlgorithmicMedia`.
`kiosk.pipeline.imageio.encode_jpeg` writes the XMP and the sRGB profile; `encode_png_delivery` does the same
for a PNG with alpha (sRGB chunk, XMP in iTXt); this module adds a signed C2PA manifest on top when a key
and certificate are configured, and reads everything back for `kiosk inspect`.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
import xml.etree.ElementTree as ET
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from kiosk.delivery.provenance_config import ProvenanceConfig
from kiosk.errors import InputError, KioskError
from kiosk.pipeline.imageio import IPTC_DST, SOURCE_TYPES, encode_jpeg, read_jpeg_metadata

log = logging.getLogger(__name__)

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MAX_INSPECT_BYTES = 200 * 1024 * 1024
VERSION = "0.1.0"

# Plain-words meaning of the IPTC codes a reader may meet.
SOURCE_LABELS = {
    "digitalCapture": "camera capture, unedited",
    "minorHumanEdits": "capture with minor human edits",
    "humanEdits": "human-edited media",
    "algorithmicallyEnhanced": "photo edited by software (digitally edited, no generative AI)",
    "compositeCapture": "composite of captures",
    "compositeWithTrainedAlgorithmicMedia": "photo composited with generative-AI content (AI-modified)",
    "trainedAlgorithmicMedia": "made by generative AI",
    "compositeSynthetic": "composite including synthetic elements",
    "algorithmicMedia": "made by an algorithm without training data",
    "digitalCreation": "digital creation",
    "dataDrivenMedia": "data-driven media",
}
AI_CODES = frozenset({"compositeWithTrainedAlgorithmicMedia", "trainedAlgorithmicMedia"})
_XMPMETA_RE = re.compile(r"<x:xmpmeta\b.*?</x:xmpmeta>", re.S)
_RDF_RE = re.compile(r"<rdf:RDF\b.*?</rdf:RDF>", re.S)
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}


class ProvenanceError(KioskError):
    """Signing failed (bad key or certificate, c2pa library error): exit 1, the message says what to fix."""


def source_code(source_type: str) -> str:
    """The IPTC code for a kiosk source type ("edited", "ai-composite", "capture")."""
    try:
        return SOURCE_TYPES[source_type]
    except KeyError:
        raise ValueError(f"unknown source_type {source_type!r} (one of {', '.join(SOURCE_TYPES)})") from None


# --- XMP ------------------------------------------------------------------------------------------------


def digital_source_type(xmp: str | bytes | None) -> str | None:
    """The Iptc4xmpExt:DigitalSourceType URI an XMP packet declares (element or attribute form), or None."""
    if not xmp:
        return None
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    found = _XMPMETA_RE.search(text) or _RDF_RE.search(text)
    if found is None:
        return None
    try:
        # The stdlib parser (expat) expands no external entities; the packet is bounded by its container.
        root = ET.fromstring(found.group(0))
    except ET.ParseError:
        return None
    tag = f"{{{IPTC_EXT_NS}}}DigitalSourceType"
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        if tag in desc.attrib:
            return desc.attrib[tag].strip() or None
        node = desc.find(tag)
        if node is not None:
            if node.text and node.text.strip():
                return node.text.strip()
            resource = node.attrib.get(f"{{{RDF_NS}}}resource")
            if resource:
                return resource.strip()
    return None


def xmp_packet(source_type: str, description: str | None = None, software: str = "Headshot Kiosk") -> bytes:
    """A minimal XMP packet declaring the IPTC DigitalSourceType (and a description) of a kiosk result."""
    from xml.sax.saxutils import escape

    code = source_code(source_type)
    desc = (
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description)}</rdf:li></rdf:Alt>'
        "</dc:description>"
        if description
        else ""
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}">'
        f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{IPTC_EXT_NS}" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"<Iptc4xmpExt:DigitalSourceType>{IPTC_DST}{code}</Iptc4xmpExt:DigitalSourceType>"
        f"<xmp:CreatorTool>{escape(software)}</xmp:CreatorTool>{desc}"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the first scan; raises InputError on a broken header."""
    if data[:2] != b"\xff\xd8":
        raise InputError("not a JPEG file (no start-of-image marker)")
    out: list[tuple[int, int, int]] = []
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise InputError("the JPEG header is damaged (segment marker expected)")
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if length < 2 or pos + 2 + length > len(data):
            raise InputError("the JPEG header is damaged (a segment runs past the end)")
        out.append((marker, pos, pos + 2 + length))
        pos += 2 + length
    return out


def set_jpeg_xmp(jpeg: bytes, packet: bytes) -> bytes:
    """Replace a JPEG's XMP packet (or add one after SOI/APP0); everything else is kept byte for byte."""
    if len(packet) + len(XMP_HEADER) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one APP1 segment")
    segments = _jpeg_segments(jpeg)
    kept = bytearray(jpeg[:2])
    insert_at: int | None = None
    for marker, start, end in segments:
        if marker == 0xE1 and jpeg[start + 4 : start + 4 + len(XMP_HEADER)] == XMP_HEADER:
            continue  # drop the old packet
        kept += jpeg[start:end]
        if marker == 0xE0 and insert_at is None:
            insert_at = len(kept)
    rest = jpeg[segments[-1][2] if segments else 2 :]
    app1 = struct.pack(">BBH", 0xFF, 0xE1, len(XMP_HEADER) + len(packet) + 2) + XMP_HEADER + packet
    pos = insert_at if insert_at is not None else 2
    return bytes(kept[:pos]) + app1 + bytes(kept[pos:]) + rest


def declare(jpeg: bytes, source_type: str, description: str | None = None) -> bytes:
    """Mark an existing JPEG with the kiosk's DigitalSourceType (replacing any XMP it had)."""
    return set_jpeg_xmp(jpeg, xmp_packet(source_type, description))


# --- PNG ------------------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
# Colour chunks a declared PNG carries: sRGB (perceptual intent), with the gAMA and cHRM values the PNG
# specification gives for sRGB so that readers without sRGB support still show the same colours.
# (iCCP is dropped: the specification forbids it beside sRGB.)
_PNG_COLOUR = (
    (b"sRGB", bytes([0])),
    (b"gAMA", struct.pack(">I", 45455)),
    (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)),
)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_chunks(png: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of every chunk; raises InputError on a broken file."""
    if png[:8] != PNG_SIGNATURE:
        raise InputError("not a PNG file (no PNG signature)")
    out: list[tuple[bytes, int, int]] = []
    pos = 8
    while pos + 12 <= len(png):
        length = struct.unpack(">I", png[pos : pos + 4])[0]
        end = pos + 12 + length
        if end > len(png):
            raise InputError("the PNG file is damaged (a chunk runs past the end)")
        kind = png[pos + 4 : pos + 8]
        out.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            break
    if not out or out[0][0] != b"IHDR":
        raise InputError("the PNG file is damaged (IHDR is not its first chunk)")
    return out


def declare_png(png: bytes, source_type: str, description: str | None = None) -> bytes:
    """Mark a PNG as the kiosk's JPEGs are: sRGB colour chunks and the XMP DigitalSourceType (iTXt).

    The XMP packet goes in an uncompressed iTXt chunk with the keyword `XML:com.adobe.xmp` (XMP
    specification part 3); both it and the colour chunks are placed right after IHDR, where readers
    look first. Any earlier XMP or colour chunks are replaced; pixels and other chunks are kept byte
    for byte.
    """
    replaced = {kind for kind, _ in _PNG_COLOUR} | {b"iCCP"}
    packet = xmp_packet(source_type, description)
    # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag, NUL, empty translation, NUL.
    itxt = _png_chunk(b"iTXt", PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)
    head = b"".join(_png_chunk(kind, payload) for kind, payload in _PNG_COLOUR) + itxt
    out = bytearray(PNG_SIGNATURE)
    for i, (kind, start, end) in enumerate(_png_chunks(png)):
        if kind in replaced or (kind == b"iTXt" and png[start + 8 : start + 8 + len(PNG_XMP_KEYWORD) + 1]
                                == PNG_XMP_KEYWORD + b"\x00"):
            continue
        out += png[start:end]
        if i == 0:
            out += head
    return bytes(out)


def encode_png_delivery(
    bgra: np.ndarray,
    source_type: str,
    config: ProvenanceConfig,
    description: str | None = None,
    title: str = "headshot.png",
) -> bytes:
    """A delivered PNG (BGRA uint8 with alpha): sRGB + XMP disclosure, plus a C2PA manifest when configured."""
    import cv2

    ok, buf = cv2.imencode(".png", bgra)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    png = declare_png(buf.tobytes(), source_type, description)
    if not config.signs:
        return png
    return sign_c2pa(png, source_type, config, title=title, description=description, mime="image/png")


# --- C2PA -----------------------------------------------------------------------------------------------


def _read_pem(path: Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read the C2PA {what} ({err.strerror})") from err
    if b"-----BEGIN" not in data:
        raise InputError(f"{path}: the C2PA {what} is not a PEM file")
    return data


def manifest_definition(
    source_type: str, title: str, claim_generator: str, description: str | None, mime: str = "image/jpeg"
) -> dict[str, Any]:
    """The C2PA manifest the kiosk signs: one c2pa.created action carrying the IPTC digital source type."""
    code = source_code(source_type)
    action: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": IPTC_DST + code,
        "softwareAgent": {"name": claim_generator, "version": VERSION},
    }
    if description:
        action["description"] = description
    return {
        "claim_generator_info": [{"name": claim_generator, "version": VERSION}],
        "title": title,
        "format": mime,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }


def sign_c2pa(
    jpeg: bytes,
    source_type: str,
    config: ProvenanceConfig,
    title: str = "headshot.jpg",
    description: str | None = None,
    mime: str = "image/jpeg",
) -> bytes:
    """Embed a signed C2PA manifest in a JPEG (or a PNG: mime) with the configured key and certificate chain."""
    if config.c2pa_cert_chain is None or config.c2pa_private_key is None:
        raise InputError("C2PA signing needs delivery.provenance.c2pa_cert_chain and c2pa_private_key")
    import c2pa

    chain = _read_pem(config.c2pa_cert_chain, "certificate chain")
    key = _read_pem(config.c2pa_private_key, "private key")
    manifest = manifest_definition(source_type, title, config.claim_generator, description, mime)
    out = io.BytesIO()
    try:
        info = c2pa.C2paSignerInfo(config.c2pa_algorithm, chain, key, config.c2pa_tsa_url)
        signer = c2pa.Signer.from_info(info)
        try:
            builder = c2pa.Builder(manifest)
            builder.sign(signer, mime, io.BytesIO(jpeg), out)
        finally:
            signer.close()
    except c2pa.C2paError as err:
        raise ProvenanceError(
            f"C2PA signing failed: {err} (check that the key matches the certificate and c2pa_algorithm, "
            "and that the certificate is an end-entity signing certificate, not a CA)"
        ) from err
    return out.getvalue()


def encode_delivery(
    bgr: np.ndarray,
    source_type: str,
    config: ProvenanceConfig,
    quality: int = 92,
    description: str | None = None,
    title: str = "headshot.jpg",
) -> bytes:
    """The delivered JPEG: sRGB + XMP disclosure (encode_jpeg), plus a C2PA manifest when configured."""
    jpeg = encode_jpeg(bgr, quality=quality, source_type=source_type, description=description)
    if not config.signs:
        return jpeg
    return sign_c2pa(jpeg, source_type, config, title=title, description=description)


# --- inspect --------------------------------------------------------------------------------------------


@dataclass
class C2paReport:
    """What a file's C2PA manifest store says and whether it holds up."""

    validation_state: str  # Invalid, Valid (signature sound, signer not trusted here) or Trusted
    failures: list[str] = field(default_factory=list)  # validation failure codes
    claim_generator: str = ""
    signer: str = ""
    title: str = ""
    actions: list[str] = field(default_factory=list)  # "c2pa.created [compositeWithTrainedAlgorithmicMedia]"
    source_types: list[str] = field(default_factory=list)  # IPTC codes found in the actions


@dataclass
class Inspection:
    """What a file declares about itself."""

    path: str
    format: str
    width: int
    height: int
    file_bytes: int
    icc_profile: str | None
    xmp_source_type: str | None  # the IPTC code (the tail of the URI), or the whole value if not IPTC
    c2pa: C2paReport | None
    notes: list[str] = field(default_factory=list)

    @property
    def declares_ai(self) -> bool:
        """Whether the file declares generative-AI content, in XMP or in C2PA."""
        codes = {self.xmp_source_type} | set(self.c2pa.source_types if self.c2pa else [])
        return bool(codes & AI_CODES)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (with declares_ai)."""
        data = asdict(self)
        data["declares_ai"] = self.declares_ai
        return data

    def lines(self) -> list[str]:
        """Human-readable report, one fact a line."""
        out = [
            f"file: {self.path} ({self.file_bytes / 1000:.0f} kB, {self.format} {self.width}×{self.height})",
            f"colour profile: {self.icc_profile or 'none (assume sRGB)'}",
        ]
        if self.xmp_source_type:
            label = SOURCE_LABELS.get(self.xmp_source_type, "not an IPTC code")
            out.append(f"XMP DigitalSourceType: {self.xmp_source_type} ({label})")
        else:
            out.append("XMP DigitalSourceType: none declared")
        if self.c2pa is None:
            out.append("C2PA: no manifest")
        else:
            c = self.c2pa
            meaning = {
                "Trusted": "signature valid, signer trusted",
                "Valid": "signature valid, signer not in the trust list",
                "Invalid": "does NOT validate",
            }.get(c.validation_state, c.validation_state)
            out.append(f"C2PA: {c.validation_state} ({meaning}); signed by {c.signer or 'unknown'}")
            if c.failures:
                out.append(f"C2PA failures: {', '.join(c.failures)}")
            out.append(
                f"C2PA claim generator: {c.claim_generator or 'unknown'}; actions: {'; '.join(c.actions)}"
            )
        out.append(
            "disclosure: "
            + ("generative-AI content declared" if self.declares_ai else "no generative-AI content declared")
        )
        out.extend(f"note: {n}" for n in self.notes)
        return out


def _code(uri: str | None) -> str | None:
    if not uri:
        return None
    return uri[len(IPTC_DST) :] if uri.startswith(IPTC_DST) else uri


def _icc_name(icc: bytes | None) -> str | None:
    if not icc:
        return None
    try:
        return (
            str(ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))).strip()
            or "unnamed"
        )
    except (OSError, ImageCms.PyCMSError):
        return "unreadable profile"


def _c2pa_report(data: bytes, mime: str, trust_anchors: Path | None) -> C2paReport | None:
    try:
        import c2pa
    except ImportError:
        return None
    context = None
    if trust_anchors is not None:
        anchors = _read_pem(trust_anchors, "trust anchors").decode("ascii", "replace")
        context = c2pa.Context(settings=c2pa.Settings.from_dict({"trust": {"user_anchors": anchors}}))
    try:
        reader = (
            c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
            if context is not None
            else c2pa.Reader.try_create(mime, io.BytesIO(data))
        )
    except c2pa.C2paError as err:
        return C2paReport("Invalid", [f"manifest unreadable: {err}"])
    if reader is None:
        return None
    try:
        state = reader.get_validation_state() or "unknown"
        results = reader.get_validation_results() or {}
        manifest = reader.get_active_manifest() or {}
    finally:
        reader.close()
    failures = [f.get("code", "?") for f in (results.get("activeManifest") or {}).get("failure", [])]
    gens = manifest.get("claim_generator_info") or []
    gen = " ".join(str(g.get(k, "")) for g in gens[:1] for k in ("name", "version")).strip()
    sig = manifest.get("signature_info") or {}
    signer = " / ".join(str(sig[k]) for k in ("common_name", "issuer") if sig.get(k))
    actions: list[str] = []
    codes: list[str] = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions", []):
            code = _code(action.get("digitalSourceType"))
            actions.append(f"{action.get('action', '?')}" + (f" [{code}]" if code else ""))
            if code:
                codes.append(code)
    return C2paReport(state, failures, gen, signer, str(manifest.get("title", "")), actions, codes)


def inspect(path: str | Path, trust_anchors: Path | None = None) -> Inspection:
    """What an image file declares: size, ICC profile, XMP DigitalSourceType, C2PA manifest, validity."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    size = p.stat().st_size
    if size > MAX_INSPECT_BYTES:
        raise InputError(f"{p}: {size / 1e6:.0f} MB is too large to inspect")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise InputError(f"{p}: cannot read: {err.strerror}") from err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            fmt, (width, height) = img.format or "?", img.size
            icc = img.info.get("icc_profile")
            png_xmp = img.info.get("XML:com.adobe.xmp") or img.info.get("xmp")
            png_srgb = fmt == "PNG" and "srgb" in img.info
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise InputError(f"{p}: not an image the kiosk can read (JPEG, PNG, WebP or TIFF)") from err
    notes: list[str] = []
    xmp: str | bytes | None = png_xmp
    if fmt == "JPEG":
        meta = read_jpeg_metadata(data)
        raw = meta.get("xmp")
        xmp = raw if isinstance(raw, str) else None
        if not isinstance(meta.get("icc"), bytes) and icc:
            notes.append("ICC profile present but not in the standard APP2 layout")
    xmp_code = _code(digital_source_type(xmp))
    mime = _MIME.get(fmt)
    report = _c2pa_report(data, mime, trust_anchors) if mime else None
    if report and xmp_code and report.source_types and xmp_code not in report.source_types:
        notes.append(f"XMP says {xmp_code} but the C2PA manifest says {', '.join(report.source_types)}")
    if report is None and xmp_code is None:
        notes.append("the file declares nothing about how it was made")
    colour = _icc_name(icc) or ("sRGB (PNG sRGB chunk)" if png_srgb else None)
    return Inspection(str(p), fmt, width, height, size, colour, xmp_code, report, notes)
