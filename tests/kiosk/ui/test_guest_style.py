"""The style screen with a model pack's styles (issue 13, item 6): paged under its title, each AI card a
labelled preview made from the guest's own studio cut-out over the preset's backdrop, named from the pack.

The pack is the tiny random one built by the real build-pack (tests/conftest.py, tiny_pack): its presets are
the shipped presets.toml, so their labels and backdrop colours are the ones a real pack gets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.app.style_preview import ai_preview, hex_bgr
from kiosk.session.flow import State
from models.diffusion.pack import read_manifest
from tests.kiosk.ui.guest_helpers import rect, to_session_state

pytestmark = pytest.mark.ui


@pytest.fixture()
def ai_styles(ui, tiny_pack: Path) -> Iterator[dict[str, object]]:
    """The kiosk offers the pack's presets for the length of one test (as assemble does with a pack)."""
    presets = read_manifest(tiny_pack).styles
    procs = (ui.processor, ui.processor.real)
    saved = [(p.ai_styles, p.ai_labels, p.ai_backdrops) for p in procs]
    for p in procs:
        p.ai_styles = [f"ai:{k}" for k in presets]
        p.ai_labels = {f"ai:{k}": dict(v.labels) for k, v in presets.items()}
        p.ai_backdrops = {f"ai:{k}": v.backdrop for k, v in presets.items() if v.backdrop}
    ui.to_attract()
    ui.app.relayout_now()
    try:
        yield dict(presets)
    finally:
        ui.to_attract()
        for p, (styles, labels, backdrops) in zip(procs, saved, strict=True):
            p.ai_styles, p.ai_labels, p.ai_backdrops = styles, labels, backdrops
        ui.app.relayout_now()


def test_the_pack_carries_a_backdrop_colour_per_preset(tiny_pack: Path) -> None:
    presets = read_manifest(tiny_pack).styles
    assert presets and all(p.backdrop for p in presets.values())
    assert presets["executive"].backdrop != presets["outdoor"].backdrop


def test_ai_preview_is_the_guest_over_the_backdrop() -> None:
    fg = np.zeros((100, 80, 3), np.uint8)
    fg[30:, 20:60] = (10, 200, 30)  # the "guest": green, where the matte is 1
    alpha = np.zeros((100, 80), np.float32)
    alpha[30:, 20:60] = 1.0
    out = ai_preview(fg, alpha, "#3A3D42")
    assert (out[30:, 20:60] == (10, 200, 30)).all(), "the guest's own pixels stay"
    corner = out[:10, :10].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - np.array(hex_bgr("#3A3D42"))).max() < 25, corner


def _title_on_screen(ui) -> None:
    from kivy.core.window import Window

    screen = ui.app.current_screen()
    title = next(w for w in screen.walk(restrict=True) if getattr(w, "text_key", "") == "style.title")
    x, y, w, h = rect(title)
    assert y >= 0 and y + h <= Window.height and h > 20, ("title off screen", x, y, w, h)


def test_ai_styles_paged_previewed_and_named_from_the_pack(ui, ai_styles) -> None:
    c = ui.c
    to_session_state(ui, State.STYLE, lang="zh")
    screen = ui.app.current_screen()
    assert screen.pages > 1, "10 styles do not fit one page in portrait"
    job = c.previews
    assert job is not None
    assert ui.until(lambda: len(job.images) == len(c.styles), 120), sorted(job.images)
    _title_on_screen(ui)
    seen_ai = 0
    for page in range(screen.pages):
        ui.pump(3)
        cards = [b for b in ui.buttons() if b.action == "style"]
        assert ui.until(lambda cards=cards: all(b.has_thumb for b in cards), 30)
        rgb = ui.shot(f"guest-style-zh-page{page + 1}", ["选择背景"])
        _title_on_screen(ui)
        for card in cards:
            if not card.arg.startswith("ai:"):
                continue
            seen_ai += 1
            preset = ai_styles[card.arg[3:]]
            assert card.text == ui.app.t("style.ai", name=preset.labels["zh"]), card.text  # the pack's Chinese name
            assert card.tag is not None and card.tag.text == "预览"
            # The card shows the preset's backdrop beside the guest: sample the thumbnail's top corner.
            tx, ty = card._thumb.pos
            tw, th = card._thumb.size
            h = rgb.shape[0]
            patch = rgb[int(h - ty - th + 8) : int(h - ty - th + 24), int(tx + tw - 24) : int(tx + tw - 8)]
            want = np.array(hex_bgr(preset.backdrop)[::-1], float)
            got = patch.reshape(-1, 3).mean(axis=0)
            assert np.abs(got - want).max() < 45, (card.arg, got, want)
        if page + 1 < screen.pages:
            ui.tap("page")
    assert seen_ai == len(ai_styles)
    ui.tap("cancel")
    ui.tap("confirm_cancel")
    ui.wait_state("attract")


def test_studio_processor_previews_ai_styles_from_one_cutout(ui, ai_styles) -> None:
    """The real processor: an AI preview keeps the guest's studio pixels and differs per preset's backdrop."""
    from kiosk.camera.virtual import demo_portrait_path

    real = ui.processor.real
    img = cv2.imread(str(demo_portrait_path()))
    got: dict[str, np.ndarray] = {}
    real.preview(img, ["ai:executive", "ai:high-key", "studio-grey"], lambda s, im: got.__setitem__(s, im),
                 lambda: False)
    dark, light = got["ai:executive"], got["ai:high-key"]
    assert dark.shape == light.shape == got["studio-grey"].shape
    corner = (slice(0, 20), slice(0, 20))
    assert dark[corner].mean() < 90 < 200 < light[corner].mean()
    # The guest (centre) is the same person in both: the backdrop alone differs.
    h, w = dark.shape[:2]
    centre = (slice(h // 3, h // 2), slice(w * 2 // 5, w * 3 // 5))
    assert np.abs(dark[centre].astype(int) - light[centre].astype(int)).mean() < 12
