"""The reveal (issue 13, item 8): review shows the framed headshot, delivery a short before/after with every
format the session made, and "Done" asks "did you get it?" while the QR code stays on screen."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.delivery.handoff import read_qr
from kiosk.pipeline.formats import get_format
from kiosk.session.flow import State
from tests.kiosk.ui.guest_helpers import rect, to_session_state

pytestmark = pytest.mark.ui


def _aspect(size: tuple[int, int]) -> float:
    return size[0] / size[1]


def test_review_shows_the_framed_headshot_not_the_camera_frame(ui) -> None:
    c = ui.c
    to_session_state(ui, State.REVIEW)
    view = ui.app.current_screen().photo
    cell = get_format(c.ui.formats[0]).cell
    h, w = c.session.capture.shape[:2]
    assert c.capture_box is not None
    assert _aspect(view.frame_size) == pytest.approx(_aspect(cell), abs=0.01)  # 4:5, not the camera's 4:3
    assert view.frame_size[1] < h or view.frame_size[0] < w
    ui.shot("guest-review-headshot", ["How does this look?", "Use this photo"])
    ui.tap("approve")
    ui.wait_state("style")
    ui.tap("cancel")
    ui.tap("confirm_cancel")
    ui.wait_state("attract")


def test_delivery_reveals_every_format_and_done_asks_while_the_qr_stays(ui) -> None:
    c = ui.c
    ui_cfg = c.ui
    c.ui = ui_cfg.model_copy(update={"formats": ["portrait", "linkedin"]})  # two formats for this session
    try:
        to_session_state(ui, State.STYLE)
        ui.tap("style", "studio-grey")
        ui.wait_state("delivery", 120)
        screen = ui.app.current_screen()
        reveal = screen.reveal
        assert reveal.formats == ["portrait", "linkedin"]
        assert len(reveal.strip.children) == 2
        assert reveal.before.texture is not None and _aspect(reveal.before.frame_size) == pytest.approx(0.8, abs=0.01)
        assert ui.until(lambda: reveal.after.opacity == 1.0, 10), "the after picture never faded in"
        shown = ui.shot("guest-delivery-reveal", ["Your headshot is ready", "After", "Portrait", "Square (profile)"])
        assert c.download_url and screen.qr.opacity == 1.0, (c.downloads, c.downloads.status(), c.session.results)
        # What a phone sees: the code on the screen reads as the link, and it is large (a third of the width:
        # empty text lines once took 100 px each and left it a fifth of that).
        assert read_qr(np.ascontiguousarray(shown[..., ::-1])) == c.download_url
        assert rect(screen.qr)[2] >= shown.shape[1] / 3, rect(screen.qr)
        ui.tap("done")
        assert ui.app.dialog == "done" and c.state is State.DELIVERY
        assert reveal.after.opacity == 1.0, "asking must not replay the reveal"
        rgb = ui.shot("guest-delivery-did-you-get-it", ["Did you get your photo?", "Not yet", "Yes, I have it"])
        # The QR code is still there, uncovered: its area in the screenshot is black and white modules.
        qx, qy, qw, qh = rect(screen.qr)
        m = screen.m
        card_top = m.slot_y0 + m.button_h + 2 * m.gap + m.title * 1.5  # Overlay card of a dialog without lines
        assert qw > 100 and qy > card_top, ("the dialog covers the QR code", qy, card_top)
        h = rgb.shape[0]
        qr = rgb[int(h - qy - qh) + 10 : int(h - qy) - 10, int(qx) + 10 : int(qx + qw) - 10].mean(axis=2)
        assert qr.size > 10_000 and (qr < 60).mean() > 0.2 and (qr > 200).mean() > 0.2
        ui.tap("not_yet")
        assert ui.app.dialog is None and c.state is State.DELIVERY
        ui.tap("done")
        ui.tap("confirm_done")
        ui.wait_state("thanks")
    finally:
        c.ui = ui_cfg
    ui.leave_thanks()
    assert not any(v.texture is not None for v in (reveal.before, reveal.after)), "no picture of the guest stays"
    assert np.all([cell.children[-1].texture is None for cell in reveal.strip.children])
