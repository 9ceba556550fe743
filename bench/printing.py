"""Print rendering and provenance cost: headshot to print-ready PDF per layout at 300 dpi; C2PA signing.

Floors, measured in the same run:
- printing: JPEG-encoding a blank raster of the page's size (the unavoidable cost of handing CUPS a page);
- provenance: encode_jpeg of the headshot (the delivered file without a C2PA manifest).
Usage: python bench/printing.py [--repeat N]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from bench._common import emit, median, portrait, time_ms
from kiosk.delivery.layouts import LAYOUTS, render_pdf
from kiosk.delivery.provenance import encode_delivery
from kiosk.delivery.provenance_config import ProvenanceConfig
from kiosk.pipeline.imageio import encode_jpeg, load_image


def headshot() -> np.ndarray:
    """A 1080×1350 (4:5) crop of a shared portrait, the size the studio pipeline delivers."""
    bgr = load_image(portrait("house_woman_elderly_glasses_01.jpg")).bgr
    h, w = bgr.shape[:2]
    side = min(w, h * 4 // 5)
    return cv2.resize(
        bgr[: side * 5 // 4, (w - side) // 2 : (w + side) // 2], (1080, 1350), interpolation=cv2.INTER_AREA
    )


def signing_config(folder: Path) -> ProvenanceConfig:
    """A throwaway ES256 root + signer chain (needs `cryptography`, a dev dependency)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(sign, False, False, False, False, not sign, not sign, False, False)

    ca_key, ee_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    base = (
        x509.CertificateBuilder()
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )
    ca = (
        base.subject_name(name("bench root"))
        .issuer_name(name("bench root"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ee = (
        base.subject_name(name("bench signer"))
        .issuer_name(ca.subject)
        .public_key(ee_key.public_key())
        .serial_number(2)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "chain.pem").write_bytes(ee.public_bytes(pem) + ca.public_bytes(pem))
    (folder / "key.pem").write_bytes(
        ee_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "key.pem").chmod(0o600)
    return ProvenanceConfig(c2pa_cert_chain=folder / "chain.pem", c2pa_private_key=folder / "key.pem")


def main() -> None:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args()
    img = headshot()
    layouts = {}
    for name, layout in LAYOUTS.items():
        w, h = layout.page_px(args.dpi)
        blank = np.full((h, w, 3), 255, np.uint8)
        render = median(time_ms(partial(render_pdf, img, layout, args.dpi), args.repeat))
        floor = median(
            time_ms(partial(cv2.imencode, ".jpg", blank, [cv2.IMWRITE_JPEG_QUALITY, 95]), args.repeat)
        )
        layouts[name] = {
            "page_px": [w, h],
            "render_pdf_ms": render,
            "floor_jpeg_page_ms": floor,
            "ratio": round(render / floor, 2) if floor else None,
        }
    with tempfile.TemporaryDirectory() as tmp:
        cfg = signing_config(Path(tmp))
        plain = median(time_ms(lambda: encode_jpeg(img, source_type="ai-composite"), args.repeat))
        signed = median(time_ms(lambda: encode_delivery(img, "ai-composite", cfg), args.repeat))
    emit(
        {
            "benchmark": "printing",
            "dpi": args.dpi,
            "headshot_px": [img.shape[1], img.shape[0]],
            "layouts": layouts,
            "provenance": {
                "encode_jpeg_ms": plain,
                "encode_and_sign_c2pa_ms": signed,
                "ratio": round(signed / plain, 2) if plain else None,
            },
        }
    )


if __name__ == "__main__":
    main()
