"""Issue 16: only the guest in the matte, a clean studio fade where the photo ends, three-quarter poses.

Every check here judges the pipeline with something it did not make itself: the face detector's boxes,
the known geometry of the warp, a synthetic head turned by a known angle, or a patch pasted at a known
place.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from kiosk.errors import NoUsableFace
from kiosk.pipeline import compose
from kiosk.pipeline.background import render_background
from kiosk.pipeline.formats import FORMATS
from kiosk.pipeline.framing import assess, yaw_estimate
from kiosk.pipeline.imageio import load_image
from kiosk.pipeline.matting import guest_region
from models.vision import Face
from tests.conftest import artifacts_dir, portrait


def _face(cx: float, cy: float, size: float) -> Face:
    iod = 0.4 * size
    kp = {"right_eye": (cx - iod / 2, cy - 0.1 * size), "left_eye": (cx + iod / 2, cy - 0.1 * size),
          "nose": (cx, cy + 0.05 * size), "mouth": (cx, cy + 0.25 * size),
          "right_ear": (cx - 0.5 * size, cy), "left_ear": (cx + 0.5 * size, cy)}
    return Face(cx - size / 2, cy - size / 2, size, size, 0.9, kp)


# -- only the guest --------------------------------------------------------------------------------
def test_guest_region_drops_the_other_person_and_a_disconnected_patch():
    coarse = np.zeros((200, 300), np.float32)
    cv2.ellipse(coarse, (90, 70), (30, 38), 0, 0, 360, 1.0, -1)  # the guest's head
    cv2.rectangle(coarse, (40, 105), (140, 199), 1.0, -1)  # their body
    cv2.ellipse(coarse, (210, 75), (28, 36), 0, 0, 360, 1.0, -1)  # a second person, shoulder to shoulder
    cv2.rectangle(coarse, (141, 110), (260, 199), 1.0, -1)
    cv2.rectangle(coarse, (250, 5), (290, 40), 0.9, -1)  # a bright window the segmenter took for a person
    guest, other = _face(90, 70, 60), _face(210, 75, 56)
    region = guest_region(coarse, guest, [other])
    assert region[70, 90] and region[180, 90]  # head and body kept
    assert not region[75, 210] and not region[180, 230]  # the other person gone, though they touch
    assert not region[20, 270]  # the disconnected window gone
    # Without other faces, what touches the guest stays; the window still goes.
    alone = guest_region(coarse, guest)
    assert alone[180, 230] and not alone[20, 270]


def test_guest_region_drops_a_doubtful_patch_far_from_the_body_but_keeps_the_fringe():
    coarse = np.zeros((200, 300), np.float32)
    cv2.ellipse(coarse, (150, 70), (30, 38), 0, 0, 360, 1.0, -1)  # the guest's head
    cv2.rectangle(coarse, (100, 110), (200, 199), 1.0, -1)  # their body
    # A lamp beside the neck, half believed, reaching out 0.8 face heights; a doubtful fringe of hair
    # round the head (0.1 face heights wide), as doubtful.
    cv2.rectangle(coarse, (40, 95), (100, 125), 0.6, -1)
    ring = np.zeros_like(coarse)
    cv2.ellipse(ring, (150, 70), (36, 44), 0, 0, 360, 0.6, -1)
    coarse = np.maximum(coarse, ring)
    guest = _face(150, 70, 60)
    region = guest_region(coarse, guest)
    assert region[70, 150] and region[180, 150]  # head and body
    assert region[70, 184] and region[28, 150]  # the fringe round the head
    assert region[110, 95]  # where the lamp touches the body: the fringe's reach
    assert not region[110, 45] and not region[100, 60]  # the lamp's far end is not the guest


def test_two_people_photo_keeps_nothing_of_the_second_person(studio):
    bgr = load_image(portrait("whitehouse_two_people.jpg")).bgr
    analysis = studio.analyse(bgr)
    assert analysis.others, "the detector should see both people"
    alpha = studio.matte(bgr, analysis)
    assert alpha.shape == bgr.shape[:2]
    guest = analysis.face
    other = max(analysis.others, key=lambda f: f.area)
    # The other person's face box and the column below it, up to half-way towards the guest.
    gap = abs(other.center[0] - guest.center[0])
    if other.center[0] < guest.center[0]:
        x0, x1 = 0, int(other.center[0] + 0.3 * gap)
    else:
        x0, x1 = int(other.center[0] - 0.3 * gap), bgr.shape[1]
    region = alpha[int(other.y):, x0:x1]
    assert float(region.mean()) < 0.01, float(region.mean())
    assert float((region > 0.5).mean()) < 0.002
    gx, gy = guest.center
    assert float(alpha[int(gy), int(gx)]) > 0.95  # the guest is there
    cv2.imwrite(str(artifacts_dir("guest-matte") / "two_people_matte.png"), (alpha * 255).astype(np.uint8))


def _window_scene() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A studio portrait widened by a wall with a bright window, a passer-by seen through it."""
    photo = load_image(portrait("nasa_man_hispanic_mustache_01.jpg")).bgr
    h, w = photo.shape[:2]
    ext = int(0.7 * w)
    scene = np.empty((h, w + ext, 3), np.uint8)
    scene[:, :ext] = (150, 160, 170)
    scene[:, ext:] = photo
    x0, x1, y0, y1 = int(0.08 * ext), int(0.9 * ext), int(0.05 * h), int(0.5 * h)
    scene[y0:y1, x0:x1] = (252, 252, 250)
    # The passer-by makes the segmenter see a person there; a bare white pane it ignores, which
    # would make this test unable to fail.
    passer = load_image(portrait("house_woman_east_asian_older_01.jpg")).bgr
    pw = int(0.6 * (x1 - x0))
    ph = min(y1 - y0, round(pw * passer.shape[0] / passer.shape[1]))
    px = x0 + (x1 - x0 - pw) // 2
    scene[y1 - ph : y1, px : px + pw] = cv2.resize(passer, (pw, ph), interpolation=cv2.INTER_AREA)
    for x in np.linspace(x0, x1, 3).astype(int):
        cv2.rectangle(scene, (x - 6, y0), (x + 6, y1), (40, 40, 40), -1)
    return scene, (x0, y0, x1, y1)


def test_a_bright_window_beside_the_guest_does_not_survive(studio):
    """Nothing of the window (nor who is seen through it) survives, in the input frame or the headshot."""
    scene, (x0, y0, x1, y1) = _window_scene()
    analysis = studio.analyse(scene)
    assert analysis.face is not None and analysis.face.center[0] > x1  # the guest, not the passer-by
    alpha = studio.matte(scene, analysis)
    assert float(alpha[y0:y1, x0:x1].mean()) < 0.01
    result = studio.headshot(scene, fmt="linkedin", analysis=analysis)
    corners = np.array([[x0, y0, 1], [x1, y1, 1]], np.float64) @ result.transform.T
    (cx0, cy0), (cx1, cy1) = np.clip(corners, 0, [result.mask.shape[1], result.mask.shape[0]]).astype(int)
    if cx1 > cx0 and cy1 > cy0:
        assert float(result.mask[cy0:cy1, cx0:cx1].mean()) < 0.01
    cv2.imwrite(str(artifacts_dir("guest-matte") / "window_scene_matte.png"), (alpha * 255).astype(np.uint8))


# -- headwear and fur ---------------------------------------------------------------------------------


def _fur_hat(bgr: np.ndarray, face: Face, seed: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A dark fur trapper hat (dome crown, two ear flaps, a fringe of stray hairs) laid over the photo
    with a known alpha: (the composite, that alpha float32 0..1)."""
    h, w = bgr.shape[:2]
    rng = np.random.default_rng(seed)
    cx, brim = face.center[0], face.y + 0.12 * face.h  # the brim sits on the forehead
    shape = np.zeros((h, w), np.uint8)
    cv2.ellipse(shape, (int(cx), int(brim)), (int(0.72 * face.w), int(0.95 * face.h)), 0, 180, 360, 255, -1)
    for side in (-1, 1):
        centre = (int(cx + side * 0.62 * face.w), int(brim + 0.35 * face.h))
        cv2.ellipse(shape, centre, (int(0.16 * face.w), int(0.42 * face.h)), 0, 0, 360, 255, -1)
    # Stray hairs all round the outline, drawn at 4× and area-averaged: thin, soft, partly transparent.
    hairs = np.zeros((4 * h, 4 * w), np.uint8)
    contours, _ = cv2.findContours(shape, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    edge = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float32)
    m = cv2.moments(shape)
    centre_f = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]], np.float32)
    for _ in range(int(1.5 * len(edge))):
        p = edge[rng.integers(len(edge))]
        turn = rng.normal(0.0, 0.5)
        out = (p - centre_f) / (np.linalg.norm(p - centre_f) + 1e-6)
        out = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]], np.float32) @ out
        q = p + out * rng.uniform(0.03, 0.09) * face.h
        cv2.line(hairs, (int(4 * p[0]), int(4 * p[1])), (int(4 * q[0]), int(4 * q[1])), 255, 2, cv2.LINE_AA)
    alpha = np.maximum(shape, cv2.resize(hairs, (w, h), interpolation=cv2.INTER_AREA)).astype(np.float32) / 255.0
    # Dark brown fur: coarse mottling and fine grain, so the crown is textured like the real thing.
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.01 * face.h)
    tone = np.clip(1.0 + 0.25 * mottle / (mottle.std() + 1e-6) + 0.15 * rng.normal(0, 1, (h, w)), 0.4, 1.8)
    fur = np.array([28.0, 42.0, 62.0], np.float32) * tone[..., None].astype(np.float32)
    composite = fur * alpha[..., None] + bgr.astype(np.float32) * (1.0 - alpha[..., None])
    return np.clip(composite + 0.5, 0, 255).astype(np.uint8), alpha


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(1, int((a | b).sum()))


@pytest.mark.parametrize("name", ["house_woman_elderly_glasses_01.jpg", "nasa_man_dark_skin_bald_01.jpg"])
def test_a_fur_hats_crown_is_kept(studio, name):
    """The crown of a fur trapper hat drawn over a real portrait (known alpha) stays in the matte.

    Judged above the face box, where the hat covers the whole head and the truth is only the hat's
    alpha: IoU of the matte (> 0.5) against it, and nothing of the backdrop around it.
    Measured: IoU 0.95 and 0.96, crown kept 96 % and 99 %, no backdrop pixel taken.
    """
    bgr = load_image(portrait(name)).bgr
    face = studio.analyse(bgr).face
    hat, truth = _fur_hat(bgr, face)
    alpha = studio.matte(hat)
    above = np.zeros(truth.shape, bool)
    above[: int(face.y)] = True
    hat_px, matte_px = (truth > 0.5) & above, (alpha > 0.5) & above
    assert _iou(hat_px, matte_px) > 0.9
    clear = ~cv2.dilate((truth > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & above
    assert float(alpha[clear].mean()) < 0.01  # no backdrop kept round the crown
    cv2.imwrite(str(artifacts_dir("guest-matte") / f"fur_hat_{name.split('.')[0]}.png"),
                np.hstack([hat, cv2.cvtColor((alpha * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)]))


@pytest.mark.xfail(strict=True, reason="the selfie segmenter gives the ear flaps beside the face only 0.5-0.7 "
                   "confidence; the fur's texture then reads as a soft edge, so the flaps stay half-transparent "
                   "(IoU 0.33 here, 0.72 on nasa_man_dark_skin_bald_01)")
def test_a_fur_hats_ear_flaps_are_kept(studio):
    bgr = load_image(portrait("house_woman_elderly_glasses_01.jpg")).bgr
    face = studio.analyse(bgr).face
    hat, truth = _fur_hat(bgr, face)
    alpha = studio.matte(hat)
    beside = np.zeros(truth.shape, bool)
    y0, y1 = int(face.y + 0.2 * face.h), int(face.y + face.h)
    beside[y0:y1, : int(face.x + 0.05 * face.w)] = True
    beside[y0:y1, int(face.x + 0.95 * face.w) :] = True
    assert _iou((truth > 0.5) & beside, (alpha > 0.5) & beside) > 0.8


# -- bottom edge -------------------------------------------------------------------------------------
def test_studio_fade_is_level_and_ends_before_the_photo_edge():
    cw, ch = FORMATS["portrait"].cell
    # A 1200×1100 photo tilted by 3°, placed so that its bottom edge crosses the cell near y = 1200.
    t = math.radians(3.0)
    matrix = np.array([[math.cos(t), math.sin(t), 0.0], [-math.sin(t), math.cos(t), 120.0]])
    photo = (1200, 1100)
    fade = compose.studio_fade(matrix, photo, (cw, ch))
    assert fade is not None and fade.shape == (ch,)  # level: one value per row
    bottom = compose._bottom_edge(matrix, photo, cw)
    assert bottom < ch
    assert fade[math.floor(bottom) - 1 :].max() == 0.0  # nothing of the photo's last rows shows
    assert fade[: int(bottom - compose.FADE * ch) - 3].min() == 1.0
    assert fade[int(bottom - 0.5 * compose.FADE * ch)] < 0.75  # a long, gentle fade, not a cut
    assert np.all(np.diff(fade) <= 1e-6)  # one even ramp down, no bumps
    # Through warp_to_cell, whose validity is built on a coarser grid: still level, still 0 by the edge.
    photo_img = np.full((photo[1], photo[0], 3), 128, np.uint8)
    _cell, valid = compose.warp_to_cell(photo_img, matrix, (cw, ch))
    assert valid is not None
    assert valid[math.floor(bottom) - 1 :, 200:1000].max() == 0.0
    assert valid[int(bottom - compose.FADE * ch) - 40, 200:1000].min() > 0.99


def test_side_fades_are_upright_and_keep_clear_of_the_head():
    """A narrow photo ends inside the cell on both sides: each side ends in an upright fade, 0 before the
    photo's edge, shortened where the head is near (never below SHORT_FADE), and the head untouched."""
    cw, ch = FORMATS["portrait"].cell
    photo = (700, 1600)
    matrix = np.array([[1.0, 0.0, 150.0], [0.0, 1.0, -50.0]])  # the photo spans x 150..850 of 1200
    fade = compose.side_fade(matrix, photo, (cw, ch))
    assert fade is not None and fade.shape == (cw,)
    assert fade[:151].max() == 0.0 and fade[849:].max() == 0.0
    assert fade[int(150 + compose.FADE * ch) + 3 : int(850 - compose.FADE * ch) - 3].min() == 1.0
    assert np.all(np.diff(fade[:500]) >= -1e-6) and np.all(np.diff(fade[700:]) <= 1e-6)
    # A head whose hair reaches x = 250 on the left: that side's fade is done by then; the right is not
    # shortened. A head reaching x = 160 gets the shortest fade, not none.
    head = (250.0, 200.0, 600.0, 700.0)
    near = compose.side_fade(matrix, photo, (cw, ch), head)
    assert near is not None
    assert near[250:600].min() == 1.0 and near[200] < 1.0
    assert np.array_equal(near[600:], fade[600:])
    shortest = compose.side_fade(matrix, photo, (cw, ch), (160.0, 200.0, 700.0, 700.0))
    assert shortest is not None
    assert shortest[: int(150 + compose.SHORT_FADE * ch) - 3].min() < 1.0
    assert shortest[int(150 + compose.SHORT_FADE * ch) + 3 : 600].min() == 1.0
    # Through warp_to_cell: the validity is the same upright fade, 0 by both edges, 1 across the head.
    _cell, valid = compose.warp_to_cell(np.full((photo[1], photo[0], 3), 128, np.uint8), matrix, (cw, ch), head)
    assert valid is not None
    assert valid[:, :151].max() == 0.0 and valid[:, 849:].max() == 0.0
    assert valid[300:1400, 255:595].min() > 0.99
    # A photo wider than the cell has no side fade, nor has a tilt's thin wedge (the photo's edge leaves
    # the cell along the body): the photo's own short soft edge does there.
    assert compose.side_fade(np.array([[1.0, 0.0, -10.0], [0.0, 1.0, 0.0]]), (1300, 1600), (cw, ch)) is None
    t = math.radians(3.0)
    tilted = np.array([[math.cos(t), math.sin(t), -30.0], [-math.sin(t), math.cos(t), 0.0]])
    assert compose.side_fade(tilted, (1300, 1600), (cw, ch)) is None


@pytest.mark.parametrize("name", ["cc0_man_elderly_outdoor_01.jpg"])
def test_where_the_photo_ends_the_backdrop_is_clean(studio, name):
    """Below the photo's bottom edge the delivered pixels are exactly the backdrop: no smeared rows."""
    bgr = load_image(portrait(name)).bgr
    result = studio.headshot(bgr, style="studio-grey", fmt="portrait")
    cw, ch = result.spec.cell
    bottom = compose._bottom_edge(result.transform, (bgr.shape[1], bgr.shape[0]), cw)
    assert bottom < ch, "this portrait is chosen because it ends inside the portrait cell"
    backdrop = render_background("studio-grey", (cw, ch))
    below = slice(math.ceil(bottom), ch)
    diff = np.abs(result.image[below].astype(int) - backdrop[below].astype(int))
    assert diff.max() <= 1
    # And the eye line used the format's tolerance (it sits lower than the plain rule) before fading.
    assert result.eye_line_y > spec_eye(result) + 1.0
    cv2.imwrite(str(artifacts_dir("guest-matte") / f"bottom_{name[:-4]}.jpg"), result.image)


def spec_eye(result) -> float:
    """The plain rule's eye line, px."""
    return result.spec.eye_line * result.spec.cell[1]


# -- pose ---------------------------------------------------------------------------------------------
def _turned_head(yaw_deg: float, hidden_ears: bool) -> Face:
    """BlazeFace-like keypoints of a mean head (mm: pupils ±31.5, nose tip 35 in front, cheeks ±70 at
    20 behind, ears ±75 at 90 behind) turned by yaw and projected orthographically at 3 px/mm."""
    t = math.radians(yaw_deg)

    def x(px: float, pz: float) -> float:
        return 600 + 3.0 * (px * math.cos(t) + pz * math.sin(t))

    cheeks = [x(-70, -20), x(70, -20), x(0, 35)]
    left, right = min(cheeks), max(cheeks)
    kp = {"right_eye": (x(-31.5, 0), 500.0), "left_eye": (x(31.5, 0), 500.0), "nose": (x(0, 35), 560.0),
          "mouth": (x(0, 20), 620.0), "right_ear": (x(-75, -90), 520.0), "left_ear": (x(75, -90), 520.0)}
    if hidden_ears:  # hair over the ears: BlazeFace guesses them at the box's sides
        kp["right_ear"], kp["left_ear"] = (left, 520.0), (right, 520.0)
    return Face(left, 420.0, right - left, right - left, 0.9, kp)


@pytest.mark.parametrize("yaw", [0, 15, 30, 38])
@pytest.mark.parametrize("hidden_ears", [False, True])
def test_three_quarter_poses_are_accepted_and_read_close(yaw, hidden_ears):
    for sign in (1, -1):
        face = _turned_head(sign * yaw, hidden_ears)
        assert abs(yaw_estimate(face) - sign * yaw) < 6.0
        assert assess([face], 1200, 1500).problem is None


@pytest.mark.parametrize("yaw", [55, 70])
def test_strongly_turned_heads_are_refused_with_the_reason(yaw):
    result = assess([_turned_head(yaw, hidden_ears=True)], 1200, 1500)
    assert result.problem is not None and result.problem.value == "turned-away"
    assert "turned away" in result.message and "40°" in result.message


def test_profile_photo_is_still_refused(studio):
    bgr = load_image(portrait("nasa_woman_profile_safety_glasses_01.jpg")).bgr
    with pytest.raises(NoUsableFace) as err:
        studio.analyse(bgr)
    assert err.value.reason == "turned-away"
