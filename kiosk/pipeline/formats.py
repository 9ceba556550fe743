"""Output formats and the composition rule of each.

The rule: the guest's eye line is levelled (roll removed), centred horizontally, and placed at
`eye_line` × cell height from the top; the head is scaled so that the face box (BlazeFace's square box,
roughly brow to chin) is `face_height` × cell height. Where the photo would end inside the cell, the rule
bends within the format's tolerance: the eye line may sit up to `eye_line_tolerance` × cell height lower
and the head may be up to `max_zoom` × larger. A layout repeats the cell `copies` times across a
page of `page` pixels, each cell `cell` pixels, at `dpi`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FormatSpec:
    """One output format: a headshot cell and the page it is laid out on."""

    name: str
    cell: tuple[int, int]  # (width, height) px of one headshot
    eye_line: float  # eye line from the top, fraction of cell height
    face_height: float  # face box height, fraction of cell height
    page: tuple[int, int] | None = None  # (width, height) px of the page; None = the cell itself
    copies: int = 1
    dpi: int = 300
    description: str = ""
    eye_line_tolerance: float = 0.02  # how much lower the eye line may sit, fraction of cell height
    max_zoom: float = 1.5  # how much larger the head may be than the rule's size

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the delivered image, px."""
        return self.page or self.cell

    def cell_origins(self) -> list[tuple[int, int]]:
        """Top-left corner of each cell on the page, px."""
        if self.page is None:
            return [(0, 0)]
        pw, ph = self.page
        cw, ch = self.cell
        gap_x = (pw - self.copies * cw) // (self.copies + 1)
        top = (ph - ch) // 2
        return [(gap_x + i * (cw + gap_x), top) for i in range(self.copies)]


FORMATS: dict[str, FormatSpec] = {
    f.name: f
    for f in (
        FormatSpec("linkedin", (1080, 1080), eye_line=0.42, face_height=0.36,
                   description="1:1 profile photo, 1080×1080 (LinkedIn asks for at least 400; we deliver 1080)"),
        FormatSpec("portrait", (1200, 1500), eye_line=0.38, face_height=0.27,
                   description="4:5 head-and-shoulders portrait, 1200×1500"),
        # An ID photo's head size is checked by readers: it may grow by 15 %, not by half.
        FormatSpec("badge", (600, 800), eye_line=0.42, face_height=0.36, max_zoom=1.15,
                   description="3:4 ID-badge photo, 600×800 (2×2.67 in at 300 dpi)"),
        FormatSpec("print-4x6", (900, 1200), eye_line=0.38, face_height=0.27, page=(1800, 1200), copies=2,
                   description="6×4 in print at 300 dpi (1800×1200) with two 3×4 in headshots side by side"),
    )
}


def get_format(name: str) -> FormatSpec:
    """The FormatSpec called name; ValueError listing the known names otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format '{name}' (choose one of: {', '.join(FORMATS)})") from None
