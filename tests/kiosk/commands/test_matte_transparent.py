"""`kiosk matte` (the guest's 8-bit matte in the photo's frame) and `kiosk headshot --style transparent`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kiosk.cli import main
from kiosk.delivery.provenance import inspect
from tests.conftest import portrait


def test_matte_is_8_bit_in_the_photos_frame(isolated_env: Path, tmp_path: Path, studio) -> None:
    photo = portrait("whitehouse_two_people.jpg")
    out = tmp_path / "alpha.png"
    assert main(["matte", str(photo), "-o", str(out)]) == 0
    alpha = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    bgr = cv2.imread(str(photo))
    assert alpha.dtype == np.uint8 and alpha.ndim == 2 and alpha.shape == bgr.shape[:2]
    # Judged by the detector's boxes, not by the matte itself: the guest's face in, the other person out.
    analysis = studio.analyse(bgr)
    gx, gy = analysis.face.center
    assert alpha[int(gy), int(gx)] > 240
    other = max(analysis.others, key=lambda f: f.area)
    ox, oy = other.center
    assert alpha[int(oy), int(ox)] < 10


def test_matte_refuses_a_non_png_output(isolated_env: Path, tmp_path: Path, capsys) -> None:
    code = main(["matte", str(portrait("nasa_man_hispanic_mustache_01.jpg")), "-o", str(tmp_path / "a.jpg")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ".png" in err[0]


def test_transparent_headshot_is_a_png_with_the_guest_in_its_alpha(isolated_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "badge.png"
    photo = portrait("house_woman_east_asian_older_01.jpg")
    assert main(["headshot", str(photo), "-o", str(out), "--format", "badge", "--style", "transparent"]) == 0
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (800, 600, 4)
    alpha = img[..., 3]
    assert alpha[:40, :40].max() == 0 and alpha[:40, -40:].max() == 0  # backdrop corners see-through
    assert alpha[int(0.42 * 800), 300] == 255  # between the eyes: the guest, opaque
    assert img[..., :3][alpha == 0].max() == 0  # no trace of the old background in the file
    # Declared as the JPEGs are: digitally edited (XMP in an iTXt chunk), sRGB.
    report = inspect(out)
    assert report.format == "PNG" and report.xmp_source_type == "algorithmicallyEnhanced"
    assert not report.declares_ai and report.icc_profile is not None and "srgb" in report.icc_profile.lower()
    assert main(["headshot", str(photo), "-o", str(tmp_path / "x.jpg"), "--style", "transparent"]) == 2
