"""The guest's skin region: an elliptical face area narrowed to the face's own skin chroma."""

from __future__ import annotations

import cv2
import numpy as np

from models.vision import Face


def face_roi(face: Face, shape: tuple[int, ...], grow: float = 0.35) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the face box grown by `grow` of its size on each side, clipped to the image."""
    h, w = shape[:2]
    gx, gy = face.w * grow, face.h * grow
    x0, y0 = max(0, int(face.x - gx)), max(0, int(face.y - gy))
    x1, y1 = min(w, int(face.x + face.w + gx)), min(h, int(face.y + face.h + gy))
    return x0, y0, x1, y1


def skin_mask(bgr: np.ndarray, face: Face, roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Soft skin mask (float32 0..1) over roi (default face_roi), sparing eyes, brows and mouth."""
    x0, y0, x1, y1 = roi or face_roi(face, bgr.shape)
    patch = bgr[y0:y1, x0:x1]
    ph, pw = patch.shape[:2]
    if ph < 4 or pw < 4:
        return np.zeros((ph, pw), np.float32)
    ellipse = np.zeros((ph, pw), np.uint8)
    cx, cy = face.center
    centre = (round(cx - x0), round(cy - y0 + 0.04 * face.h))
    cv2.ellipse(ellipse, centre, (max(1, round(face.w * 0.42)), max(1, round(face.h * 0.56))), 0, 0, 360, 255, -1)
    iod = max(face.interocular, 4.0)
    for name, rx, ry in (("right_eye", 0.36, 0.22), ("left_eye", 0.36, 0.22), ("mouth", 0.48, 0.24)):
        px, py = face.keypoints[name]
        cv2.ellipse(ellipse, (round(px - x0), round(py - y0)), (round(rx * iod), round(ry * iod)), 0, 0, 360, 0, -1)
    for name in ("right_eye", "left_eye"):  # eyebrows sit about a third of the eye distance above the eyes
        px, py = face.keypoints[name]
        cv2.ellipse(ellipse, (round(px - x0), round(py - y0 - 0.32 * iod)), (round(0.4 * iod), round(0.13 * iod)),
                    0, 0, 360, 0, -1)
    inner = ellipse > 0
    if inner.sum() < 16:
        return np.zeros((ph, pw), np.float32)
    # The mask is 0 outside the ellipse before the blur, so only the ellipse's box plus the blur's
    # reach is worked on (under half of a retouch ROI); the zeros around it blur to the same result.
    k = max(3, (round(face.w / 25) // 2) * 2 + 1)
    rows, cols = np.flatnonzero(inner.any(axis=1)), np.flatnonzero(inner.any(axis=0))
    bx0, by0 = max(0, int(cols[0]) - k), max(0, int(rows[0]) - k)
    bx1, by1 = min(pw, int(cols[-1]) + 1 + k), min(ph, int(rows[-1]) + 1 + k)
    ycc = cv2.cvtColor(patch[by0:by1, bx0:bx1], cv2.COLOR_BGR2YCrCb).astype(np.float32)
    inside = inner[by0:by1, bx0:bx1]
    cr0, cb0 = np.median(ycc[..., 1][inside]), np.median(ycc[..., 2][inside])
    d2 = (ycc[..., 1] - cr0) ** 2 + (ycc[..., 2] - cb0) ** 2
    likeness = cv2.exp(d2 * np.float32(-1.0 / (2.0 * 9.0**2)))
    local = likeness * (ellipse[by0:by1, bx0:bx1].astype(np.float32) / 255.0)
    mask = np.zeros((ph, pw), np.float32)
    mask[by0:by1, bx0:bx1] = cv2.GaussianBlur(local, (k, k), 0)
    return mask
