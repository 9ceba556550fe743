"""AI disclosure and provenance: XMP source types, C2PA signing with a throwaway ES256 chain, `kiosk inspect`.

The certificate chain (a root CA and an end-entity signing certificate) is made here with `cryptography`;
c2pa-python (the real C2PA SDK) signs and validates.
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, PngImagePlugin

from kiosk.cli import main
from kiosk.config import parse_config
from kiosk.delivery.provenance import (
    ProvenanceError,
    declare,
    declare_png,
    digital_source_type,
    encode_delivery,
    encode_png_delivery,
    inspect,
    set_jpeg_xmp,
    sign_c2pa,
    xmp_packet,
)
from kiosk.delivery.provenance_config import ProvenanceConfig
from kiosk.errors import ConfigError, InputError
from kiosk.pipeline.imageio import encode_jpeg, load_image, read_jpeg_metadata

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is a dependency: pip install -e .")

PORTRAITS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "portraits"
DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
PEM = serialization.Encoding.PEM


@dataclass
class Chain:
    cert_chain: Path
    key: Path
    root: Path
    ca_cert: Path
    ca_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kiosk Test Org"),
        ]
    )


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """A throwaway ES256 chain: root CA -> end-entity signer (C2PA refuses self-signed signers)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Kiosk Test Root"))
        .issuer_name(_name("Kiosk Test Root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ee_key = ec.generate_private_key(ec.SECP256R1())
    ee = (
        x509.CertificateBuilder()
        .subject_name(_name("Kiosk Test Signer"))
        .issuer_name(ca.subject)
        .public_key(ee_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("c2pa")
    out = Chain(
        folder / "chain.pem", folder / "signer.key", folder / "root.pem", folder / "ca.pem", folder / "ca.key"
    )
    out.cert_chain.write_bytes(ee.public_bytes(PEM) + ca.public_bytes(PEM))
    out.key.write_bytes(_key_pem(ee_key))
    out.root.write_bytes(ca.public_bytes(PEM))
    out.ca_cert.write_bytes(ca.public_bytes(PEM))
    out.ca_key.write_bytes(_key_pem(ca_key))
    for key in (out.key, out.ca_key):
        key.chmod(0o600)
    return out


@pytest.fixture(scope="module")
def headshot() -> np.ndarray:
    path = PORTRAITS / "house_woman_east_asian_older_01.jpg"
    if not path.exists():
        pytest.skip(f"test portraits not found at {PORTRAITS} (shared/testdata)")
    bgr = load_image(path).bgr
    h, w = bgr.shape[:2]
    side = min(w, h * 4 // 5)
    return cv2.resize(
        bgr[: side * 5 // 4, (w - side) // 2 : (w + side) // 2], (480, 600), interpolation=cv2.INTER_AREA
    )


def signing(chain: Chain) -> ProvenanceConfig:
    return ProvenanceConfig(c2pa_cert_chain=chain.cert_chain, c2pa_private_key=chain.key)


def test_studio_result_is_declared_digitally_edited_without_c2pa(
    headshot: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "studio.jpg"
    path.write_bytes(encode_delivery(headshot, "edited", ProvenanceConfig(), description="studio headshot"))
    report = inspect(path)
    assert report.xmp_source_type == "algorithmicallyEnhanced"
    assert report.c2pa is None and not report.declares_ai
    assert (report.format, report.width, report.height) == ("JPEG", 480, 600)
    assert report.icc_profile is not None and "srgb" in report.icc_profile.lower()
    text = "\n".join(report.lines())
    assert "digitally edited" in text and "C2PA: no manifest" in text and "no generative-AI" in text


def test_diffusion_result_is_declared_ai_and_signed(
    chain: Chain, headshot: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "ai.jpg"
    data = encode_delivery(headshot, "ai-composite", signing(chain), description="AI background")
    path.write_bytes(data)
    report = inspect(path)
    assert report.xmp_source_type == "compositeWithTrainedAlgorithmicMedia"
    assert report.declares_ai
    assert report.c2pa is not None
    # The signature holds; the throwaway root is in no trust list, and that is the only complaint.
    assert report.c2pa.validation_state == "Valid"
    assert report.c2pa.failures == ["signingCredential.untrusted"]
    assert report.c2pa.source_types == ["compositeWithTrainedAlgorithmicMedia"]
    assert report.c2pa.actions == ["c2pa.created [compositeWithTrainedAlgorithmicMedia]"]
    assert "Kiosk Test Signer" in report.c2pa.signer and report.c2pa.claim_generator.startswith(
        "Headshot Kiosk"
    )
    assert report.notes == []
    # The image itself is untouched by signing: same pixels as the unsigned encode.
    plain = cv2.imdecode(
        np.frombuffer(encode_jpeg(headshot, source_type="ai-composite"), np.uint8), cv2.IMREAD_COLOR
    )
    signed = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(plain, signed)
    # With the root as a trust anchor the same file is Trusted.
    trusted = inspect(path, trust_anchors=chain.root)
    assert (
        trusted.c2pa is not None
        and trusted.c2pa.validation_state == "Trusted"
        and trusted.c2pa.failures == []
    )


def test_studio_result_signed_says_edited_in_c2pa_too(
    chain: Chain, headshot: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "studio-signed.jpg"
    path.write_bytes(encode_delivery(headshot, "edited", signing(chain)))
    report = inspect(path, trust_anchors=chain.root)
    assert report.c2pa is not None and report.c2pa.validation_state == "Trusted"
    assert report.c2pa.source_types == ["algorithmicallyEnhanced"] and not report.declares_ai


def test_tampered_pixels_fail_validation(chain: Chain, headshot: np.ndarray, tmp_path: Path) -> None:
    data = bytearray(encode_delivery(headshot, "ai-composite", signing(chain)))
    data[-100] ^= 0x55  # inside the entropy-coded image data, before the end-of-image marker
    path = tmp_path / "tampered.jpg"
    path.write_bytes(bytes(data))
    report = inspect(path, trust_anchors=chain.root)
    assert report.c2pa is not None and report.c2pa.validation_state == "Invalid"
    assert "assertion.dataHash.mismatch" in report.c2pa.failures
    assert "does NOT validate" in "\n".join(report.lines())


def test_wrong_key_or_self_signed_certificate_is_refused(
    chain: Chain, headshot: np.ndarray, tmp_path: Path
) -> None:
    jpeg = encode_jpeg(headshot, source_type="edited")
    other = tmp_path / "other.key"
    other.write_bytes(_key_pem(ec.generate_private_key(ec.SECP256R1())))
    other.chmod(0o600)
    with pytest.raises(ProvenanceError, match=r"C2PA signing failed.*key matches"):
        sign_c2pa(jpeg, "edited", ProvenanceConfig(c2pa_cert_chain=chain.cert_chain, c2pa_private_key=other))
    with pytest.raises(ProvenanceError, match="self-signed"):
        sign_c2pa(
            jpeg, "edited", ProvenanceConfig(c2pa_cert_chain=chain.ca_cert, c2pa_private_key=chain.ca_key)
        )
    not_pem = tmp_path / "x.pem"
    not_pem.write_text("hello")
    with pytest.raises(InputError, match="not a PEM file"):
        sign_c2pa(jpeg, "edited", ProvenanceConfig(c2pa_cert_chain=not_pem, c2pa_private_key=chain.key))
    with pytest.raises(InputError, match="cannot read the C2PA private key"):
        sign_c2pa(
            jpeg,
            "edited",
            ProvenanceConfig(c2pa_cert_chain=chain.cert_chain, c2pa_private_key=tmp_path / "missing.key"),
        )


def test_declare_replaces_xmp_and_keeps_the_image(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", np.full((64, 48, 3), (10, 200, 30), np.uint8))
    assert ok
    jpeg = buf.tobytes()
    once = declare(jpeg, "edited")
    twice = declare(once, "ai-composite", description="swapped")
    assert twice.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1, "the old packet is replaced, not stacked"
    meta = read_jpeg_metadata(twice)
    assert digital_source_type(meta["xmp"]) == DST + "compositeWithTrainedAlgorithmicMedia"  # type: ignore[arg-type]
    a = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    b = cv2.imdecode(np.frombuffer(twice, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(a, b)
    # After encode_jpeg's own packet, too: only the kiosk's new declaration remains.
    redeclared = declare(encode_jpeg(np.zeros((40, 40, 3), np.uint8), source_type="ai-composite"), "edited")
    assert digital_source_type(read_jpeg_metadata(redeclared)["xmp"]) == DST + "algorithmicallyEnhanced"  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not a JPEG"):
        set_jpeg_xmp(b"GIF89a....", xmp_packet("edited"))


@pytest.mark.parametrize(
    ("xmp", "want"),
    [
        (xmp_packet("edited"), DST + "algorithmicallyEnhanced"),
        (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            f'Iptc4xmpExt:DigitalSourceType="{DST}trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>',
            DST + "trainedAlgorithmicMedia",
        ),
        (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"><Iptc4xmpExt:DigitalSourceType '
            f'rdf:resource="{DST}digitalCapture"/></rdf:Description></rdf:RDF>',
            DST + "digitalCapture",
        ),
        ("<x:xmpmeta>not xml", None),
        ("", None),
        (
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>',
            None,
        ),
    ],
)
def test_digital_source_type_forms(xmp: str | bytes, want: str | None) -> None:
    assert digital_source_type(xmp) == want


def test_png_with_xmp_is_read(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet("ai-composite").decode("utf-8"))
    path = tmp_path / "x.png"
    Image.fromarray(np.zeros((30, 20, 3), np.uint8)).save(path, pnginfo=info)
    report = inspect(path)
    assert (report.format, report.width, report.height) == ("PNG", 20, 30)
    assert report.xmp_source_type == "compositeWithTrainedAlgorithmicMedia" and report.declares_ai


def _png_chunk_types(data: bytes) -> list[bytes]:
    """Chunk types in file order, read with nothing but the PNG layout (length, type, data, CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def _bgra(headshot: np.ndarray) -> np.ndarray:
    alpha = np.zeros(headshot.shape[:2], np.uint8)
    cv2.ellipse(alpha, (240, 330), (160, 260), 0, 0, 360, 255, -1)
    alpha[:, :8] = 128  # a soft column: the alpha must come back exactly, not only 0 and 255
    return np.dstack([headshot, alpha])


def test_transparent_png_is_declared_like_the_jpegs(headshot: np.ndarray, tmp_path: Path) -> None:
    """sRGB chunk (+ gAMA/cHRM) and the XMP DigitalSourceType in an iTXt chunk, before the image data."""
    bgra = _bgra(headshot)
    data = encode_png_delivery(bgra, "edited", ProvenanceConfig(), description="studio headshot")
    kinds = _png_chunk_types(data)
    assert kinds[:5] == [b"IHDR", b"sRGB", b"gAMA", b"cHRM", b"iTXt"] and kinds[-1] == b"IEND"
    assert b"iCCP" not in kinds and kinds.count(b"iTXt") == 1
    # Read back by Pillow (which checks every chunk's CRC) and by OpenCV: pixels and alpha unchanged.
    path = tmp_path / "badge.png"
    path.write_bytes(data)
    with Image.open(path) as img:
        img.load()
        assert img.mode == "RGBA" and img.info["srgb"] == 0
        assert img.info["gamma"] == pytest.approx(0.45455)
        assert DST + "algorithmicallyEnhanced" in img.info["XML:com.adobe.xmp"]
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), bgra)
    report = inspect(path)
    assert (report.format, report.width, report.height) == ("PNG", 480, 600)
    assert report.xmp_source_type == "algorithmicallyEnhanced" and not report.declares_ai
    assert report.icc_profile is not None and "srgb" in report.icc_profile.lower()
    assert report.c2pa is None and report.notes == []


def test_declare_png_replaces_earlier_declarations(headshot: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", _bgra(headshot))
    assert ok
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet("ai-composite").decode("utf-8"))
    info.add_text("Comment", "kept")
    out = io.BytesIO()
    Image.open(io.BytesIO(buf.tobytes())).save(out, "PNG", pnginfo=info, icc_profile=b"\0" * 128)
    again = declare_png(declare_png(out.getvalue(), "ai-composite"), "edited")
    kinds = _png_chunk_types(again)
    assert kinds.count(b"iTXt") == 1 and kinds.count(b"sRGB") == 1 and b"iCCP" not in kinds
    with Image.open(io.BytesIO(again)) as img:
        assert DST + "algorithmicallyEnhanced" in img.info["XML:com.adobe.xmp"]
        assert img.info["Comment"] == "kept"
    with pytest.raises(InputError, match="not a PNG"):
        declare_png(b"\xff\xd8\xff", "edited")


def test_signed_transparent_png(chain: Chain, headshot: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "signed.png"
    path.write_bytes(encode_png_delivery(_bgra(headshot), "edited", signing(chain), title="signed.png"))
    report = inspect(path, trust_anchors=chain.root)
    assert report.xmp_source_type == "algorithmicallyEnhanced"
    assert report.c2pa is not None and report.c2pa.validation_state == "Trusted", report.c2pa
    assert report.c2pa.source_types == ["algorithmicallyEnhanced"] and not report.declares_ai


def test_provenance_config(tmp_path: Path) -> None:
    open_key = tmp_path / "signer.key"
    open_key.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    open_key.chmod(0o644)
    with pytest.raises(ConfigError, match=r"c2pa_private_key.*readable or writable by every user.*chmod 600"):
        parse_config({"delivery": {"provenance": {"c2pa_cert_chain": "/a.pem", "c2pa_private_key": str(open_key)}}})
    cfg = parse_config(
        {"delivery": {"provenance": {"c2pa_cert_chain": "/a.pem", "c2pa_private_key": "/a.key"}}}
    )
    assert cfg.delivery.provenance.signs and cfg.delivery.provenance.c2pa_algorithm == "es256"
    assert not parse_config({}).delivery.provenance.signs
    with pytest.raises(ConfigError, match="set both c2pa_cert_chain and c2pa_private_key"):
        parse_config({"delivery": {"provenance": {"c2pa_cert_chain": "/a.pem"}}})
    with pytest.raises(ConfigError, match=r"delivery\.provenance\.c2pa_algorithm"):
        parse_config({"delivery": {"provenance": {"c2pa_algorithm": "md5"}}})


def test_cli_inspect(
    chain: Chain, headshot: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ai.jpg"
    path.write_bytes(encode_delivery(headshot, "ai-composite", signing(chain)))
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f'[delivery.provenance]\nc2pa_trust_anchors = "{chain.root}"\n')
    assert main(["--config", str(cfg), "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "XMP DigitalSourceType: compositeWithTrainedAlgorithmicMedia" in out
    assert "C2PA: Trusted" in out and "generative-AI content declared" in out and "480×600" in out
    assert main(["inspect", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["declares_ai"] is True and data["c2pa"]["validation_state"] == "Valid"
    assert data["icc_profile"] and data["width"] == 480


@pytest.mark.parametrize("kind", ["missing", "text", "folder", "truncated"])
def test_cli_inspect_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    path = tmp_path / "bad.jpg"
    if kind == "text":
        path.write_text("not an image")
    elif kind == "folder":
        path.mkdir()
    elif kind == "truncated":
        path.write_bytes(b"\xff\xd8\xff\xe1\x00")
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kiosk: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_c2pa_reader_survives_a_broken_manifest(chain: Chain, headshot: np.ndarray, tmp_path: Path) -> None:
    """A file whose manifest store is damaged is reported as Invalid, never a crash."""
    data = bytearray(encode_delivery(headshot, "ai-composite", signing(chain)))
    at = bytes(data).find(b"c2pa")
    assert at > 0
    for i in range(at + 40, min(at + 400, len(data))):
        data[i] ^= 0xA5
    path = tmp_path / "broken.jpg"
    path.write_bytes(bytes(data))
    report = inspect(path)
    assert report.c2pa is not None and report.c2pa.validation_state == "Invalid"
