"""Kivy building blocks of the kiosk look: fonts, colours, text, rounded buttons, the live preview."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from kivy.core.text import LabelBase
from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle
from kivy.graphics.texture import Texture
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.label import Label
from kivy.uix.widget import Widget

log = logging.getLogger(__name__)

RGBA = tuple[float, float, float, float]


def hex_rgba(h: str, a: float = 1.0) -> RGBA:
    """#RRGGBB → Kivy RGBA 0..1."""
    h = h.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, a)


BG = hex_rgba("#F4F1EC")
CARD = hex_rgba("#FFFFFF")
INK = hex_rgba("#1F2933")
MUTED = hex_rgba("#5B6673")
LINE = hex_rgba("#D8D3CB")
PRIMARY = hex_rgba("#2A6B73")
PRIMARY_DOWN = hex_rgba("#1F535A")
DARK = hex_rgba("#12161C")
OK = hex_rgba("#4CC38A")
WARN = hex_rgba("#F2B544")
WHITE = (1.0, 1.0, 1.0, 1.0)
GUIDE = hex_rgba("#C9D3DC")

FONT = "KioskSans"
FONT_BOLD = "KioskSansBold"
CJK_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
)
MIN_TOUCH_PX = 48
_fonts_registered: str | None = None


def register_fonts(cjk_font: Path | None = None) -> str:
    """Register the kiosk fonts: Noto Sans CJK when found (all six languages), else Kivy's Roboto.

    Returns the regular font file in use.
    """
    global _fonts_registered
    if _fonts_registered is not None:
        return _fonts_registered
    regular: Path | None = None
    for cand in ((cjk_font,) if cjk_font else ()) + CJK_CANDIDATES:
        if cand is not None and cand.is_file():
            regular = cand
            break
    if regular is None:
        log.warning("no CJK font found (install fonts-noto-cjk); Chinese text will not render")
        LabelBase.register(FONT, "Roboto-Regular.ttf")
        LabelBase.register(FONT_BOLD, "Roboto-Bold.ttf")
        _fonts_registered = "Roboto-Regular.ttf"
        return _fonts_registered
    bold = regular.with_name(regular.name.replace("Regular", "Bold"))
    LabelBase.register(FONT, str(regular))
    LabelBase.register(FONT_BOLD, str(bold if bold.is_file() else regular))
    _fonts_registered = str(regular)
    return _fonts_registered


class Txt(Label):
    """Wrapped, centred text in the kiosk font; `auto_height` makes it as tall as its text."""

    def __init__(
        self,
        text: str = "",
        size_px: float = 40,
        bold: bool = False,
        color: RGBA = INK,
        halign: str = "center",
        auto_height: bool = False,
        **kw: Any,
    ) -> None:
        """Args: size_px is the font size in px."""
        super().__init__(
            text=text,
            font_size=size_px,
            font_name=FONT_BOLD if bold else FONT,
            color=color,
            halign=halign,
            valign="middle",
            **kw,
        )
        self.bind(width=self._wrap)
        if auto_height:
            self.size_hint_y = None
            self.bind(texture_size=self._fit)
            self._fit()  # an empty line takes no room (not Kivy's default 100 px) until it has text

    def _wrap(self, *_: Any) -> None:
        self.text_size = (self.width, None)

    def _fit(self, *_: Any) -> None:
        self.height = self.texture_size[1]


class Card(Widget):
    """A white rounded card with a numbered disc and a line of text (the attract screen's steps)."""

    def __init__(self, number: int, size_px: float, **kw: Any) -> None:
        """A card; its text is set through `.text` by the screen (i18n)."""
        super().__init__(**kw)
        self.font_size = size_px
        with self.canvas.before:
            Color(*LINE)
            self._edge = RoundedRectangle(radius=[24])
            Color(*CARD)
            self._card = RoundedRectangle(radius=[22])
            Color(*PRIMARY)
            self._disc = Ellipse()
        self._num = Label(text=str(number), font_size=size_px, font_name=FONT_BOLD, color=WHITE)
        self.label = Txt("", size_px=size_px, bold=True, halign="left")
        self.add_widget(self._num)
        self.add_widget(self.label)
        self.bind(pos=self._layout, size=self._layout)

    @property
    def text(self) -> str:
        """The card's text."""
        return str(self.label.text)

    @text.setter
    def text(self, value: str) -> None:
        self.label.text = value

    def _layout(self, *_: Any) -> None:
        self._edge.pos, self._edge.size = self.pos, self.size
        self._card.pos, self._card.size = (self.x + 2, self.y + 2), (max(0, self.width - 4), max(0, self.height - 4))
        d = min(self.height * 0.62, self.font_size * 1.7)
        self._disc.pos, self._disc.size = (self.x + self.font_size * 0.7, self.center_y - d / 2), (d, d)
        self._num.size, self._num.pos = (d, d), self._disc.pos
        text_x = self._disc.pos[0] + d + self.font_size * 0.7
        self.label.pos = (text_x, self.y)
        self.label.size = (max(1.0, self.right - text_x - self.font_size * 0.6), self.height)


class Btn(ButtonBehavior, Label):
    """A rounded touch button; `action`/`arg` name what it does (the tests find buttons by them)."""

    def __init__(
        self,
        text: str,
        action: str,
        on_tap: Callable[[str, str], None],
        arg: str = "",
        primary: bool = True,
        size_px: float = 44,
        fill: RGBA | None = None,
        ink: RGBA | None = None,
        **kw: Any,
    ) -> None:
        """A button that calls on_tap(action, arg) when released."""
        self.action = action
        self.arg = arg
        self._on_tap = on_tap
        self.primary = primary
        self.fill = fill or (PRIMARY if primary else CARD)
        self.down_fill = PRIMARY_DOWN if primary else LINE
        self.enabled = True
        super().__init__(
            text=text,
            font_size=size_px,
            font_name=FONT_BOLD,
            color=ink or (WHITE if primary else INK),
            halign="center",
            valign="middle",
            **kw,
        )
        with self.canvas.before:
            self._border_color = Color(*(self.fill if primary else LINE))
            self._border = RoundedRectangle(radius=[28])
            self._color = Color(*self.fill)
            self._rect = RoundedRectangle(radius=[26])
        self.bind(pos=self._layout, size=self._layout, state=self._paint)
        self.bind(size=self._wrap_text)

    def _wrap_text(self, *_: Any) -> None:
        self.text_size = (max(1.0, self.width - 24), None)

    def _layout(self, *_: Any) -> None:
        self._border.pos, self._border.size = self.pos, self.size
        self._rect.pos = (self.x + 3, self.y + 3)
        self._rect.size = (max(0, self.width - 6), max(0, self.height - 6))

    def _paint(self, *_: Any) -> None:
        self._color.rgba = self.down_fill if self.state == "down" else self.fill

    def set_enabled(self, on: bool) -> None:
        """Grey out and ignore taps when off."""
        self.enabled = on
        self.opacity = 1.0 if on else 0.45

    def on_release(self) -> None:
        """Forward the tap."""
        if self.enabled:
            self._on_tap(self.action, self.arg)


def paint_background(widget: Widget, rgba: RGBA) -> None:
    """Fill the widget's area with a colour, following its size."""
    with widget.canvas.before:
        Color(*rgba)
        rect = Rectangle(pos=widget.pos, size=widget.size)

    def follow(*_: Any) -> None:
        rect.pos, rect.size = widget.pos, widget.size

    widget.bind(pos=follow, size=follow)


class StyleCard(Btn):
    """A style button: the backdrop colour, and once ready a preview of the guest on that backdrop.

    The name sits on a white band (dark ink: readable whatever the backdrop's colour); `tag` ("Preview")
    marks a picture that only stands in for the result (an AI style's).
    """

    def __init__(self, *args: Any, tag: bool = False, **kw: Any) -> None:
        """As Btn; the name sits at the bottom, the preview above it."""
        kw["ink"] = INK
        super().__init__(*args, **kw)
        self.valign = "bottom"
        self.max_lines = 2
        self.shorten = True
        with self.canvas.before:
            self._thumb_color = Color(1, 1, 1, 0)
            self._thumb = Rectangle()
            Color(*CARD)
            self._band = RoundedRectangle(radius=[0, 0, 22, 22])
        self.has_thumb = False
        self.tag: Label | None = None
        if tag:
            self.tag = Label(text="", font_size=self.font_size * 0.6, font_name=FONT_BOLD, color=WHITE,
                             size_hint=(None, None), halign="center", valign="middle")
            with self.tag.canvas.before:
                Color(*INK)
                self._tag_bg = RoundedRectangle(radius=[12])
            self.add_widget(self.tag)
        self.bind(pos=self._layout_thumb, size=self._layout_thumb)

    def set_thumb(self, bgr: np.ndarray) -> None:
        """Show a preview image (BGR)."""
        h, w = bgr.shape[:2]
        tex = Texture.create(size=(w, h), colorfmt="bgr")
        tex.blit_buffer(np.ascontiguousarray(bgr).reshape(-1), colorfmt="bgr", bufferfmt="ubyte")
        tex.flip_vertical()
        self._thumb.texture = tex
        self._thumb_size = (w, h)
        self._thumb_color.a = 1.0
        self.has_thumb = True
        self._layout_thumb()

    def _wrap_text(self, *_: Any) -> None:
        # A fixed text box lets valign put the name at the bottom, under the preview.
        self.text_size = (max(1.0, self.width - 24), max(1.0, self.height - 24))

    def clear_thumb(self) -> None:
        """Forget the preview image."""
        self._thumb.texture = None
        self.has_thumb = False
        self._layout_thumb()

    @property
    def name_band(self) -> tuple[float, float, float, float]:
        """The white band the name is written on: (x, y, w, h) in the card's own coordinates."""
        (x, y), (w, h) = self._band.pos, self._band.size
        return float(x), float(y), float(w), float(h)

    def _layout_thumb(self, *_: Any) -> None:
        band = self.font_size * 2.9  # room for a name of two lines (max_lines)
        self._band.pos, self._band.size = (self.x + 3, self.y + 3), (max(0.0, self.width - 6), band)
        if self.tag is not None:
            self.tag.texture_update()
            tw, th = self.tag.texture_size[0] + 24, self.tag.texture_size[1] + 10
            self.tag.size, self.tag.pos = (tw, th), (self.x + 14, self.top - th - 14)
            self._tag_bg.pos, self._tag_bg.size = self.tag.pos, self.tag.size
        if not self.has_thumb:
            self._thumb.size = (0, 0)
            return
        x, y, w, h = fit_rect(*self._thumb_size, self.x + 10, self.y + band, self.width - 20, self.height - band - 10)
        self._thumb.pos, self._thumb.size = (x, y), (w, h)


class LoadBar(Widget):
    """A rounded progress bar, 0..1."""

    def __init__(self, **kw: Any) -> None:
        """Empty bar."""
        super().__init__(**kw)
        self.value = 0.0
        with self.canvas:
            Color(*LINE)
            self._track = RoundedRectangle(radius=[18])
            Color(*PRIMARY)
            self._bar = RoundedRectangle(radius=[18])
        self.bind(pos=self._layout, size=self._layout)

    def set(self, value: float) -> None:
        """Set the fraction done, 0..1."""
        self.value = max(0.0, min(1.0, value))
        self._layout()

    def _layout(self, *_: Any) -> None:
        self._track.pos, self._track.size = self.pos, self.size
        self._bar.pos = self.pos
        self._bar.size = (max(self.height, self.width * self.value), self.height)


def fit_rect(
    img_w: float, img_h: float, box_x: float, box_y: float, box_w: float, box_h: float, cover: bool = False
) -> tuple[float, ...]:
    """Contain-fit (or cover-fit) an image into a box: (x, y, w, h) in window px."""
    pick = max if cover else min
    s = pick(box_w / max(img_w, 1), box_h / max(img_h, 1))
    w, h = img_w * s, img_h * s
    return box_x + (box_w - w) / 2, box_y + (box_h - h) / 2, w, h


class ImageView(Widget):
    """Shows a BGR numpy image (contain-fit), optionally mirrored, updated by `show()`."""

    def __init__(self, mirror: bool = False, cover: bool = False, **kw: Any) -> None:
        """An empty view; `cover` fills the widget (crop, for use inside a StencilView)."""
        super().__init__(**kw)
        self.mirror = mirror
        self.cover = cover
        self.texture: Texture | None = None
        self.frame_size = (0, 0)
        self.blits = 0
        with self.canvas:
            self._tint = Color(1, 1, 1, 1)
            self._rect = Rectangle()
        self.bind(pos=self._layout, size=self._layout)

    def show(self, bgr: np.ndarray) -> None:
        """Upload an image to the GPU texture (a blit, no re-allocation for same-size frames)."""
        h, w = bgr.shape[:2]
        if self.texture is None or self.frame_size != (w, h):
            self.texture = Texture.create(size=(w, h), colorfmt="bgr")
            self.frame_size = (w, h)
            self._rect.texture = self.texture
            self._layout()
        buf = bgr if bgr.flags["C_CONTIGUOUS"] else np.ascontiguousarray(bgr)
        self.texture.blit_buffer(buf.reshape(-1), colorfmt="bgr", bufferfmt="ubyte")
        self.canvas.ask_update()
        self.blits += 1

    def clear(self) -> None:
        """Forget the image."""
        self.texture = None
        self._rect.texture = None
        self.frame_size = (0, 0)

    def image_rect(self) -> tuple[float, ...]:
        """Where the image is drawn: (x, y, w, h) in window px."""
        w, h = self.frame_size
        return fit_rect(w or 4, h or 3, self.x, self.y, self.width, self.height, self.cover)

    def _layout(self, *_: Any) -> None:
        x, y, w, h = self.image_rect()
        u0, u1, v0, v1 = 0.0, 1.0, 0.0, 1.0
        if self.cover and w > 0 and h > 0:
            # Crop with texture coordinates rather than drawing outside and clipping: no overdraw and no
            # stencil passes, which matters with a software GL.
            fu = min(1.0, self.width / w)
            fv = min(1.0, self.height / h)
            u0, u1 = (1 - fu) / 2, (1 + fu) / 2
            v0, v1 = (1 - fv) / 2, (1 + fv) / 2
            x, y, w, h = self.x, self.y, self.width, self.height
        self._rect.pos, self._rect.size = (x, y), (w, h)
        # Texture row 0 is the image's top row: the rectangle's bottom edge samples v1, its top v0.
        left, right = (u1, u0) if self.mirror else (u0, u1)
        self._rect.tex_coords = (left, v1, right, v1, right, v0, left, v0)


class LivePreview(ImageView):
    """The mirrored camera preview with the head-and-shoulders guide and the face box drawn over it."""

    def __init__(self, **kw: Any) -> None:
        """Mirrored, with overlay instructions in canvas.after."""
        super().__init__(mirror=True, cover=True, **kw)
        with self.canvas.after:
            # Opaque colours only: Kivy draws a wide line that is not opaque through the stencil buffer,
            # which costs a software GL several ms per frame.
            self._guide_color = Color(*GUIDE)
            self._head = Line(ellipse=(0, 0, 1, 1), width=3)
            self._shoulders = Line(points=[0, 0, 1, 1], width=3)
            self._box_color = Color(*WARN)
            self._box = Line(rounded_rectangle=(-1000, -1000, 10, 10, 2), width=4)
            self._box_rect: tuple[float, ...] = (-1000.0, -1000.0, 10.0, 10.0, 2)
            self._flash_color = Color(1, 1, 1, 0)
            self._flash = Rectangle()
        self.bind(pos=self._layout_overlay, size=self._layout_overlay)

    def _layout_overlay(self, *_: Any) -> None:
        x, y, w, h = self.image_rect()
        # The guide: a head oval centred 30 % from the top of the frame, shoulders curving out below it.
        cx, head_cy = x + w / 2, y + h * (1 - 0.30)
        rx, ry = 0.12 * h, 0.17 * h
        self._head.ellipse = (cx - rx, head_cy - ry, 2 * rx, 2 * ry)
        neck = head_cy - ry * 1.05
        lo, hi = self.x + 4, self.right - 4
        bottom = max(y, self.y) + 0.02 * h

        def shoulder(sign: float) -> list[float]:
            # A quadratic curve from the neck out and down to the frame's bottom edge.
            p0 = (cx + sign * 0.09 * h, neck)
            p1 = (cx + sign * 0.40 * h, neck - 0.02 * h)
            p2 = (cx + sign * 0.44 * h, bottom)
            pts: list[float] = []
            for i in range(13):
                t = i / 12
                px = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t * t * p2[0]
                py = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t * t * p2[1]
                pts += [min(hi, max(lo, px)), py]
            return pts

        left = shoulder(-1.0)
        left_rev = [v for i in range(len(left) - 2, -1, -2) for v in left[i : i + 2]]
        self._shoulders.points = left_rev + shoulder(1.0)
        self._layout_flash()

    def _layout(self, *_: Any) -> None:
        super()._layout()
        if hasattr(self, "_head"):
            self._layout_overlay()

    def set_face(self, box: Any, framed: bool) -> None:
        """Draw the face box (normalised, unmirrored camera coords) or hide it (box None)."""
        if box is None:
            self._set_box((-1000.0, -1000.0, 10.0, 10.0, 2))  # off the widget: hidden, still opaque
            return
        x, y, w, h = self.image_rect()
        bx = 1.0 - (box.x + box.w) if self.mirror else box.x
        px0, py0 = max(self.x, x + bx * w), max(self.y, y + (1.0 - box.y - box.h) * h)
        px1 = min(self.right, x + (bx + box.w) * w)
        py1 = min(self.top, y + (1.0 - box.y) * h)
        rect = (px0, py0, max(1.0, px1 - px0), max(1.0, py1 - py0), 12)
        self._set_box(rect)
        box_rgba = OK if framed else WARN
        if tuple(self._box_color.rgba) != box_rgba:
            self._box_color.rgba = box_rgba
            self._guide_color.rgba = OK if framed else GUIDE

    def _set_box(self, rect: tuple[float, ...]) -> None:
        if rect != self._box_rect:
            self._box_rect = rect
            self._box.rounded_rectangle = rect

    def set_flash(self, alpha: float) -> None:
        """White capture flash over the preview, 0..1."""
        if self._flash_color.a != alpha:
            self._flash_color.a = alpha
            self._layout_flash()

    def _layout_flash(self) -> None:
        # A transparent full-size quad still costs a blend per pixel: give it no area while unused.
        on = self._flash_color.a > 0
        self._flash.pos, self._flash.size = (self.pos, self.size) if on else ((0, 0), (0, 0))


class BusyRing(Widget):
    """A calm rotating arc (the "one moment" screen)."""

    def __init__(self, **kw: Any) -> None:
        """Start at angle 0."""
        super().__init__(**kw)
        self.angle = 0.0
        with self.canvas:
            Color(*LINE)
            self._ring = Line(circle=(0, 0, 1), width=8)
            Color(*PRIMARY)
            self._arc = Line(circle=(0, 0, 1, 0, 90), width=8)
        self.bind(pos=self.redraw, size=self.redraw)

    def step(self, dt: float) -> None:
        """Advance the animation by dt seconds."""
        self.angle = (self.angle + 220 * dt) % 360
        self.redraw()

    def redraw(self, *_: Any) -> None:
        """Recompute the arc."""
        r = min(self.width, self.height) / 2 - 8
        c = (self.center_x, self.center_y, max(r, 1))
        self._ring.circle = c
        self._arc.circle = (*c, self.angle, self.angle + 100)


class Silhouette(Widget):
    """A friendly head-and-shoulders mark for the attract screen."""

    def __init__(self, **kw: Any) -> None:
        """Draw in the primary colour."""
        super().__init__(**kw)
        with self.canvas:
            Color(*PRIMARY[:3], 0.12)
            self._disc = Ellipse()
            Color(*PRIMARY)
            self._head = Ellipse()
            self._body = Ellipse(angle_start=-90, angle_end=90)
        self.bind(pos=self._layout, size=self._layout)

    def _layout(self, *_: Any) -> None:
        d = min(self.width, self.height)
        x0, y0 = self.center_x - d / 2, self.center_y - d / 2
        self._disc.pos, self._disc.size = (x0, y0), (d, d)
        hd = 0.34 * d
        self._head.pos, self._head.size = (self.center_x - hd / 2, y0 + 0.50 * d), (hd, hd)
        bw = 0.62 * d
        self._body.pos, self._body.size = (self.center_x - bw / 2, y0 + 0.12 * d - bw / 2 + 0.14 * d), (bw, bw)

