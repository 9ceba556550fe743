"""Choosing the guest among detected faces and judging whether a face can make a headshot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import cv2
import numpy as np

from models.vision import Eye, Face, IrisLandmarker


class FaceProblem(StrEnum):
    """Why a detected face cannot be used."""

    NONE_FOUND = "no-face"
    TOO_SMALL = "too-small"
    CUT_OFF = "cut-off"
    TURNED_AWAY = "turned-away"


@dataclass(frozen=True)
class Assessment:
    """The guest's face and what was noticed while choosing it."""

    face: Face | None
    problem: FaceProblem | None
    message: str
    notes: list[str] = field(default_factory=list)
    yaw_deg: float = 0.0
    others: tuple[Face, ...] = ()  # the other faces detected, so their people can be left out of the matte


def plausibility(f: Face, width: int, height: int) -> float:
    """How likely a detection is the guest's own face: detector score, size, and a head's place in the frame.

    A head sits high and central; a patch or a badge photo on the chest sits low, scores lower as a face
    and is small (the largest face-like area does not win by size alone).
    """
    cx, cy = f.center
    central = 1.0 - min(1.0, abs(cx / width - 0.5) * 2.0)
    high = 1.0 - min(1.0, max(0.0, cy / height - 0.45) * 2.0)
    return f.score**2 * (f.h / height) * (0.5 + 0.5 * central) * (0.4 + 0.6 * high)


def guest_and_others(
    faces: Sequence[Face], width: int, height: int, min_score: float = 0.0
) -> tuple[Face | None, list[Face]]:
    """(the guest's face, other people's faces): the guest is the most plausible face.

    Faces under `min_score` are not people to follow, and a face-like area below the guest's chin within
    their shoulders (a badge photo, a patch, however large) is on the guest's body, not another person.
    The one rule for live guidance (kiosk.session.framing_worker) and the studio pipeline.
    """
    real = [f for f in faces if f.score >= min_score]
    if not real:
        return None, []
    guest = max(real, key=lambda f: plausibility(f, width, height))
    gx, _ = guest.center
    others = [
        f for f in real
        if f is not guest and not (f.center[1] > guest.y + guest.h and abs(f.center[0] - gx) < 1.5 * guest.w)
    ]
    return guest, others


def choose_guest(faces: list[Face], width: int, height: int) -> tuple[Face | None, list[Face], list[str]]:
    """The guest's face, the other people's faces, and a note when several people are in the photo."""
    guest, others = guest_and_others(faces, width, height)
    notes = []
    if guest is not None and any(f.area > 0.15 * guest.area for f in others):
        notes.append(f"{len(others) + 1} people in the photo: using the face most likely to be the guest's")
    return guest, others, notes


# The nose tip stands about 0.55 eye distances in front of the eyes (anthropometric means: 63 mm
# between the pupils, ~35 mm from the pupils' plane to the nose tip); turned by yaw θ, the nose's offset
# from the eyes' midpoint over the projected eye distance is tan θ × that depth ratio.
NOSE_DEPTH = 0.55
# A face turned by θ shows its eye distance shortened by cos θ against the face box's width, which
# turns less; frontal faces in the shared set give 0.40–0.47 (0.40 is the conservative end).
FRONTAL_EYES_OVER_WIDTH = 0.40


def yaw_estimate(face: Face) -> float:
    """Head yaw from the eyes, nose and face box, degrees (0 = facing the camera, ±90 = profile).

    No ears: hair hides them and BlazeFace then guesses their keypoints, which read a three-quarter
    pose as far more turned than it is. Two cues, the larger wins: the nose tip's offset from the eyes'
    midpoint (the sign too), and the foreshortening of the eye distance against the face box (which
    still works in profile, where the nose keypoint gives up).
    """
    ex, _ = face.eye_center
    nx, _ = face.keypoints["nose"]
    iod = max(face.interocular, 1e-3)
    ratio = (nx - ex) / iod
    from_nose = math.degrees(math.atan(abs(ratio) / NOSE_DEPTH))
    shortening = min(1.0, iod / max(face.w, 1e-3) / FRONTAL_EYES_OVER_WIDTH)
    from_width = math.degrees(math.acos(shortening))
    return math.copysign(max(from_nose, from_width), ratio)


def assess(
    faces: list[Face], width: int, height: int, min_face_px: float = 56.0, max_yaw_deg: float = 40.0
) -> Assessment:
    """Choose the guest and say whether their face can make a headshot, with a reason if not.

    Args:
        faces: detections in image pixels.
        width: image width, px.
        height: image height, px.
        min_face_px: smallest usable face box height, px.
        max_yaw_deg: largest usable head turn, degrees.
    """
    face, other_faces, notes = choose_guest(faces, width, height)
    others = tuple(other_faces)
    if face is None:
        return Assessment(None, FaceProblem.NONE_FOUND,
                          "no face found: face the camera with your whole face visible", notes)
    yaw = yaw_estimate(face)
    # MediaPipe clamps boxes to the image, so a box that reaches an edge is a face that runs past it.
    edge = 2.0
    cut = []
    if face.x <= edge:
        cut.append("left")
    if face.x + face.w >= width - edge:
        cut.append("right")
    if face.y <= edge:
        cut.append("top")
    if face.y + face.h >= height - edge:
        cut.append("bottom")
    eyes_inside = all(
        0 <= x < width and 0 <= y < height
        for x, y in (face.keypoints["right_eye"], face.keypoints["left_eye"])
    )
    if cut or not eyes_inside:
        side = " and ".join(cut) or "frame"
        return Assessment(face, FaceProblem.CUT_OFF,
                          f"the face is cut off by the {side} edge of the photo: step into the middle",
                          notes, yaw, others)
    if face.h < min_face_px:
        return Assessment(face, FaceProblem.TOO_SMALL,
                          f"the face is too small ({face.h:.0f} px tall, needs {min_face_px:.0f}): "
                          "come closer or use a larger photo", notes, yaw, others)
    if abs(yaw) > max_yaw_deg:
        return Assessment(face, FaceProblem.TURNED_AWAY,
                          f"the face is turned away from the camera (about {abs(yaw):.0f}°, up to "
                          f"{max_yaw_deg:.0f}° works): turn your head towards the lens",
                          notes, yaw, others)
    return Assessment(face, None, "ok", notes, yaw, others)


def _dark_centroid(bgr: np.ndarray, point: tuple[float, float], iod: float) -> tuple[float, float] | None:
    x, y = point
    rw, rh = 0.28 * iod, 0.2 * iod
    x0, y0 = max(0, int(x - rw)), max(0, int(y - rh))
    x1, y1 = min(bgr.shape[1], int(x + rw) + 1), min(bgr.shape[0], int(y + rh) + 1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    region = bgr[y0:y1, x0:x1]
    gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    patch = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), max(1.0, iod / 40.0))
    dark = patch <= np.percentile(patch, 8)
    ys, xs = np.nonzero(dark)
    if xs.size == 0:
        return None
    return x0 + float(xs.mean()), y0 + float(ys.mean())


def refine_eyes(bgr: np.ndarray, face: Face) -> Face:
    """The face with each eye keypoint moved to the iris (the darkest blob near it).

    BlazeFace's eye keypoints lean towards an upright mean face, so a tilted head reads as less tilted
    than it is; the iris centroid measures roll to about a degree. A refinement that strays more than
    a quarter of the eye distance (glare, closed eyes) is ignored.
    """
    iod = face.interocular
    if iod < 12:
        return face
    keypoints = dict(face.keypoints)
    for name in ("right_eye", "left_eye"):
        found = _dark_centroid(bgr, keypoints[name], iod)
        if found and math.dist(found, keypoints[name]) < 0.25 * iod:
            keypoints[name] = found
    return replace(face, keypoints=keypoints)


# Gaze: where the irises sit between the eye corners (MediaPipe's iris landmark model). Eyes on the lens
# put them in the middle: the shared set's frontal portraits, all looking at the lens, read -0.06..+0.09
# as the mean of both eyes (one eye alone reads up to ±0.38: eyes converge on a near lens and corners
# differ, which the mean cancels). An eye turned by γ moves its iris by about 0.8·sin γ half-widths, so
# GAZE_OFF is about 22° of eye turn: a glance at a friend or the queue, not a look at the screen below
# the lens.
GAZE_OFF = 0.3
# Only a head facing the lens is judged: on a turned head the eye corners and the eyeball's centre
# project apart (by an amount that varies between people), so a guest turned 30° who looks at the lens
# reads an offset too, and photos with the truth to set that apart are not at hand.
GAZE_MAX_YAW = 20.0
GAZE_MIN_EYE_PX = 20.0  # eye distance below which the model's 64 px crop is blown up from too few pixels


def iris_offset(eye: Eye) -> float:
    """Where the iris sits along the line through the eye's corners: 0 in the middle, ±1 at a corner.

    Positive towards the image's right (the corner listed second).
    """
    (ax, ay), (bx, by) = eye.corners
    ux, uy = bx - ax, by - ay
    length2 = ux * ux + uy * uy
    if length2 < 1e-6:
        return 0.0
    mx, my = (ax + bx) / 2, (ay + by) / 2
    return 2.0 * ((eye.iris[0] - mx) * ux + (eye.iris[1] - my) * uy) / length2


def gaze(landmarker: IrisLandmarker, bgr: np.ndarray, face: Face, yaw_deg: float) -> float | None:
    """The mean iris offset of both eyes (iris_offset; beyond ±GAZE_OFF the eyes are off the lens).

    None where it is not judged: a head turned more than GAZE_MAX_YAW, or eyes too small to read.

    Args:
        landmarker: MediaPipe's iris landmark model.
        bgr: the photo or camera frame, BGR uint8.
        face: the guest's face in its pixels, eye points refined to the irises (refine_eyes): the crops
            are centred on them, and BlazeFace's own points at 320 px sit far enough off that lens-looking
            portraits in a 1280×720 frame read up to ±0.21 from them, ±0.10 from refined ones.
        yaw_deg: the head's yaw (yaw_estimate).
    """
    iod = face.interocular
    if abs(yaw_deg) > GAZE_MAX_YAW or iod < GAZE_MIN_EYE_PX:
        return None
    eyes = [landmarker.eye(bgr, face.keypoints[name], iod, face.roll_deg, right=name == "right_eye")
            for name in ("right_eye", "left_eye")]
    return float(np.mean([iris_offset(e) for e in eyes]))


def looks_away(offset: float | None) -> bool:
    """Whether a gaze() reading puts the eyes off the lens."""
    return offset is not None and abs(offset) > GAZE_OFF

