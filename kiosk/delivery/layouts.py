"""Print layouts: where headshots go on a sheet; rendered as a raster or PDF at the printer's dpi."""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from kiosk.errors import InputError

MM_PER_IN = 25.4


@dataclass(frozen=True)
class Cell:
    """One headshot's place on the sheet, in inches from the top-left corner of the page."""

    x: float
    y: float
    w: float
    h: float

    def to_px(self, dpi: int) -> tuple[int, int, int, int]:
        """The cell as (x0, y0, x1, y1) pixel bounds on a page rendered at dpi."""
        x0, y0 = round(self.x * dpi), round(self.y * dpi)
        return x0, y0, round((self.x + self.w) * dpi), round((self.y + self.h) * dpi)


@dataclass(frozen=True)
class Layout:
    """A sheet of one media size holding one or more copies of the same headshot."""

    name: str
    description: str
    page_w_in: float
    page_h_in: float
    media: str  # the CUPS media keyword sent with the job (custom sizes: CUPS keeps them in 1/100 mm)
    cells: tuple[Cell, ...]

    def page_px(self, dpi: int) -> tuple[int, int]:
        """Page size in pixels (width, height) at dpi."""
        return round(self.page_w_in * dpi), round(self.page_h_in * dpi)

    @property
    def page_pt(self) -> tuple[float, float]:
        """Page size in PostScript points (1/72 in), as pdfinfo reports it."""
        return self.page_w_in * 72.0, self.page_h_in * 72.0


def _grid(
    page_w: float, page_h: float, cols: int, rows: int, cell_w: float, cell_h: float, top: float | None = None
) -> tuple[Cell, ...]:
    """Cells of one size in a grid, centred on the page (or starting at `top` inches)."""
    gap_x = (page_w - cols * cell_w) / (cols + 1)
    gap_y = (page_h - rows * cell_h) / (rows + 1)
    y0 = gap_y if top is None else top
    step_y = cell_h + (gap_y if top is None else min(gap_y, 0.25))
    return tuple(
        Cell(gap_x + c * (cell_w + gap_x), y0 + r * step_y, cell_w, cell_h)
        for r in range(rows)
        for c in range(cols)
    )


def _sheet(name: str, label: str, page_w: float, page_h: float, media: str) -> Layout:
    """A full sheet: one 4×5 in headshot on top, three 2×2.5 in copies in a row beneath it."""
    big = Cell((page_w - 4.0) / 2, 0.75, 4.0, 5.0)
    small = tuple(Cell(c.x, 6.25, c.w, c.h) for c in _grid(page_w, 2.5, 3, 1, 2.0, 2.5))
    return Layout(
        name,
        f"{label} sheet: one 4×5 in headshot and three 2×2.5 in copies",
        page_w,
        page_h,
        media,
        (big, *small),
    )


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        # Dye-sublimation event printers take 6×4 in media; two 2.8×3.5 in (4:5) headshots side by side.
        Layout(
            "4x6",
            "6×4 in print with two 2.8×3.5 in headshots side by side",
            6.0,
            4.0,
            "Custom.432x288",
            _grid(6.0, 4.0, 2, 1, 2.8, 3.5),
        ),
        # ISO/IEC 7810 ID-1 (CR80) card, portrait; the photo fills the top, the band beneath stays white for a
        # name printed later. Sizes in mm: CUPS keeps custom media in 1/100 mm.
        Layout(
            "badge",
            "CR80 badge (53.98×85.6 mm): headshot on top, white band beneath",
            53.98 / MM_PER_IN,
            85.6 / MM_PER_IN,
            "Custom.53.98x85.6mm",
            (Cell(0.0, 0.0, 53.98 / MM_PER_IN, 53.98 * 1.25 / MM_PER_IN),),
        ),
        # Wallet-size prints (2.5×3.5 in), six on a US Letter sheet for cutting.
        Layout(
            "wallet",
            "US Letter sheet of six 2.5×3.5 in wallet prints",
            8.5,
            11.0,
            "Letter",
            _grid(8.5, 11.0, 3, 2, 2.5, 3.5, top=1.5),
        ),
        _sheet("letter", "US Letter", 8.5, 11.0, "Letter"),
        _sheet("a4", "A4", 210.0 / MM_PER_IN, 297.0 / MM_PER_IN, "A4"),
    )
}


def get_layout(name: str) -> Layout:
    """The layout called name; InputError listing the known ones otherwise."""
    try:
        return LAYOUTS[name]
    except KeyError:
        known = ", ".join(sorted(LAYOUTS))
        raise InputError(f"unknown print layout {name!r} (choose one of: {known})") from None


def cover_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a 3-channel image to cover width×height px and crop the rest (centred sideways, top kept).

    A headshot's head sits in the upper part of the frame, so a vertical crop takes from the bottom first.
    """
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LANCZOS4
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    x0 = (new_w - width) // 2
    y0 = min((new_h - height) // 4, new_h - height)
    return resized[y0 : y0 + height, x0 : x0 + width]


def render(bgr: np.ndarray, layout: Layout, dpi: int) -> np.ndarray:
    """The whole page as RGB uint8 at dpi: white paper with the headshot cover-fitted into every cell.

    Args:
        bgr: the headshot, BGR uint8.
        layout: where the copies go.
        dpi: the printer's resolution, dots per inch.
    """
    if not 72 <= dpi <= 1200:
        raise InputError(f"print resolution {dpi} dpi is outside 72..1200")
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8 or min(bgr.shape[:2]) < 8:
        raise InputError("a print needs a colour image (BGR uint8, at least 8×8 px)")
    page_w, page_h = layout.page_px(dpi)
    page = np.full((page_h, page_w, 3), 255, np.uint8)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    fitted: dict[tuple[int, int], np.ndarray] = {}
    for cell in layout.cells:
        x0, y0, x1, y1 = cell.to_px(dpi)
        size = (x1 - x0, y1 - y0)
        if size not in fitted:
            fitted[size] = cover_fit(rgb, *size)
        page[y0:y1, x0:x1] = fitted[size]
    return page


def render_pdf(bgr: np.ndarray, layout: Layout, dpi: int, quality: int = 95) -> bytes:
    """A one-page PDF of the layout: the page raster at dpi, so the page measures exactly the layout size."""
    page = render(bgr, layout, dpi)
    out = io.BytesIO()
    Image.fromarray(page).save(out, format="PDF", resolution=float(dpi), quality=int(quality))
    return out.getvalue()
