"""Layouts: geometry of every sheet, the rendered raster and the PDF it becomes (no CUPS needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.delivery.layouts import LAYOUTS, cover_fit, get_layout, render, render_pdf
from kiosk.delivery.printing_config import LAYOUT_NAMES, PrintingConfig
from kiosk.errors import InputError

# BGR quadrant colours of the test headshot, and the RGB they must print as.
QUADRANTS_BGR = {"tl": (0, 0, 255), "tr": (0, 255, 0), "bl": (255, 0, 0), "br": (0, 255, 255)}


def quadrant_headshot(w: int = 400, h: int = 500) -> np.ndarray:
    """A 4:5 test 'headshot': four flat colour quadrants, so placement and orientation can be read back."""
    img = np.empty((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = QUADRANTS_BGR["tl"]
    img[: h // 2, w // 2 :] = QUADRANTS_BGR["tr"]
    img[h // 2 :, : w // 2] = QUADRANTS_BGR["bl"]
    img[h // 2 :, w // 2 :] = QUADRANTS_BGR["br"]
    return img


def check_page(page_rgb: np.ndarray, layout_name: str, dpi: float, tol: int = 40) -> None:
    """Every cell shows the four quadrants in place; the paper between cells is white."""
    layout = get_layout(layout_name)
    covered = np.zeros(page_rgb.shape[:2], bool)
    for i, cell in enumerate(layout.cells):
        x0, y0, x1, y1 = (
            cell.to_px(int(dpi))
            if float(dpi).is_integer()
            else (
                round(cell.x * dpi),
                round(cell.y * dpi),
                round((cell.x + cell.w) * dpi),
                round((cell.y + cell.h) * dpi),
            )
        )
        covered[y0:y1, x0:x1] = True
        for key, fx, fy in (("tl", 0.25, 0.2), ("tr", 0.75, 0.2), ("bl", 0.25, 0.8), ("br", 0.75, 0.8)):
            px = page_rgb[round(y0 + fy * (y1 - y0)), round(x0 + fx * (x1 - x0))].astype(int)
            want = np.array(QUADRANTS_BGR[key][::-1])
            assert np.abs(px - want).max() <= tol, f"{layout_name} cell {i} {key}: got {px}, want {want}"
    # Paper outside the cells (two px clear of their edges, for resampling) stays white.
    grown = cv2.dilate(covered.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    outside = page_rgb[~grown]
    if outside.size:
        assert outside.min() >= 255 - tol, f"{layout_name}: ink outside the cells"


def test_layout_names_match_the_config_list() -> None:
    assert tuple(LAYOUTS) == LAYOUT_NAMES
    assert PrintingConfig().default_layout in LAYOUTS


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_cells_fit_on_the_page_without_overlap(name: str) -> None:
    layout = LAYOUTS[name]
    boxes = [c.to_px(300) for c in layout.cells]
    w, h = layout.page_px(300)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"{name}: cells overlap"


def test_layout_sizes_are_the_physical_media() -> None:
    assert get_layout("4x6").page_pt == (432.0, 288.0)
    assert get_layout("letter").page_pt == (612.0, 792.0)
    a4_w, a4_h = get_layout("a4").page_pt
    assert abs(a4_w - 595.28) < 0.01 and abs(a4_h - 841.89) < 0.01
    assert len(get_layout("4x6").cells) == 2
    assert len(get_layout("wallet").cells) == 6
    assert len(get_layout("badge").cells) == 1
    # The wallet prints are true wallet size: 2.5×3.5 in.
    assert {(c.w, c.h) for c in get_layout("wallet").cells} == {(2.5, 3.5)}


@pytest.mark.parametrize("name", list(LAYOUTS))
@pytest.mark.parametrize("dpi", [150, 300])
def test_render_places_every_copy_upright(name: str, dpi: int) -> None:
    page = render(quadrant_headshot(), get_layout(name), dpi)
    assert page.shape[:2][::-1] == get_layout(name).page_px(dpi)
    check_page(page, name, dpi, tol=8)


def test_cover_fit_fills_the_cell_and_keeps_the_top() -> None:
    img = quadrant_headshot(400, 800)  # too tall for a 4:5 cell: the crop must come from the bottom
    out = cover_fit(img, 200, 250)
    assert out.shape == (250, 200, 3)
    # Scaled by 0.5 the source is 200×400 px; the 250 px kept start at row 37, so rows 37..199 are top half.
    red_rows = (out[:, :100, 2] > 128).all(axis=1)
    assert abs(red_rows.mean() - (200 - 37) / 250) < 0.02
    assert red_rows[:150].all() and not red_rows[-40:].any()


def test_bad_images_and_names_are_refused() -> None:
    with pytest.raises(InputError, match=r"unknown print layout 'poster'.*4x6"):
        get_layout("poster")
    with pytest.raises(InputError, match=r"colour image"):
        render(np.zeros((100, 100), np.uint8), get_layout("4x6"), 300)
    with pytest.raises(InputError, match=r"72..1200"):
        render(quadrant_headshot(), get_layout("4x6"), 5000)


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils not installed (scripts/setup.sh)")
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_pdf_page_size_and_resolution(name: str, tmp_path: Path) -> None:
    layout = get_layout(name)
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(render_pdf(quadrant_headshot(), layout, 300))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert m, info
    want_w, want_h = layout.page_pt
    assert abs(float(m.group(1)) - want_w) < 1.0 and abs(float(m.group(2)) - want_h) < 1.0
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    rows = [r.split() for r in images.splitlines()[2:] if r.strip()]
    assert len(rows) == 1
    assert (int(rows[0][3]), int(rows[0][4])) == layout.page_px(300)
    assert (int(rows[0][12]), int(rows[0][13])) == (300, 300)
