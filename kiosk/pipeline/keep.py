"""What of the guest an AI headshot keeps as their own pixels: head, hair, face and the upper neck.

The keep region is the person matte cut at a neckline: everything of the person above the chin (head,
hair, headwear), the neck down to `NECK` face heights below the chin within the neck's width, and hair
that falls below the chin where it is joined to the head and has the crown's colour. Everything else
(the backdrop, the clothes and shoulders) is regenerated. The cut is feathered over a few pixels so the
own skin meets the generated neck smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.pipeline.colour import bgr_to_lab
from models.vision import Face

NECK = 0.22  # how far below the chin the kept neck reaches, in face heights
NECK_HALF_WIDTH = 0.42  # half-width of the kept neck, in face widths
FEATHER = 0.05  # width of the neckline's feather, in face heights
HAIR_REACH = 1.6  # how far below the chin long hair is still kept, in face heights
HAIR_DELTA_E = 14.0  # Lab distance from the crown's colour within which a pixel counts as hair


@dataclass(frozen=True)
class Neckline:
    """Where the kept neck ends (canvas px) and its span."""

    y: float
    x0: float
    x1: float


def neckline(face: Face) -> Neckline:
    """The neckline below a face box (BlazeFace's box ends about at the chin)."""
    cx = face.center[0]
    return Neckline(y=face.y + face.h * (1.0 + NECK), x0=cx - NECK_HALF_WIDTH * face.w,
                    x1=cx + NECK_HALF_WIDTH * face.w)


def _hair_below_chin(fg: np.ndarray, alpha: np.ndarray, face: Face, head: np.ndarray) -> np.ndarray:
    """Pixels of the matte below the chin that have the crown's colour and touch the head (long hair)."""
    h, w = alpha.shape
    chin = face.y + face.h
    crown_rows = slice(max(0, int(face.y - 0.45 * face.h)), max(1, int(face.y + 0.05 * face.h)))
    crown_cols = slice(max(0, int(face.x)), min(w, int(face.x + face.w)))
    crown = alpha[crown_rows, crown_cols] > 0.9
    if crown.sum() < 50:
        return np.zeros_like(alpha, dtype=bool)  # bald, a hat, or the head is cut by the frame: no hair model
    lab = bgr_to_lab(fg)
    hair = np.median(lab[crown_rows, crown_cols][crown], axis=0)
    near = np.linalg.norm(lab - hair, axis=2) < HAIR_DELTA_E
    zone = np.zeros((h, w), bool)
    y0, y1 = int(chin), min(h, int(chin + HAIR_REACH * face.h))
    x0, x1 = max(0, int(face.x - 0.6 * face.w)), min(w, int(face.x + 1.6 * face.w))
    zone[y0:y1, x0:x1] = True
    candidate = (near & (alpha > 0.5) & zone) | head
    _, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=4)
    touching = np.unique(labels[head & candidate])
    return np.isin(labels, touching[touching > 0]) & zone & ~head


def keep_alpha(fg: np.ndarray, alpha: np.ndarray, face: Face) -> np.ndarray:
    """Alpha (float32 0..1) of the guest's own pixels in an AI headshot: the matte inside the head zone.

    Args:
        fg: the guest's un-mixed foreground colours on the canvas, BGR uint8.
        alpha: the person matte on the canvas, float32 0..1.
        face: the guest's face in canvas px.
    """
    h, w = alpha.shape
    line = neckline(face)
    chin = face.y + face.h
    zone: np.ndarray = np.zeros((h, w), np.float32)
    zone[: max(0, int(chin))] = 1.0  # above the chin: head, hair and headwear, the whole width
    neck = np.zeros((h, w), np.uint8)
    cv2.rectangle(neck, (int(line.x0), int(chin) - 1), (int(line.x1), int(line.y)), 1, -1)
    zone = np.maximum(zone, neck.astype(np.float32))
    head = (zone > 0.5) & (alpha > 0.5)
    zone[_hair_below_chin(fg, alpha, face, head)] = 1.0
    sigma = max(0.7, FEATHER * face.h / 2.0)
    zone = cv2.GaussianBlur(zone, (0, 0), sigma)
    return (alpha * np.clip(zone, 0.0, 1.0)).astype(np.float32)


@dataclass(frozen=True)
class NeckSkin:
    """The guest's own neck colour just above the neckline: what generated neck skin below should continue."""

    lab: np.ndarray  # mean CIELAB
    cr: float  # median YCrCb chroma
    cb: float

    def likeness(self, bgr: np.ndarray, sigma: float = 10.0) -> np.ndarray:
        """0..1 per pixel: how close its chroma is to this neck's (YCrCb; sigma in chroma units).

        Chroma only: skin of every tone shares a narrow chroma band, lightness is what sets tones apart, so a
        neck drawn lighter or darker than the guest's still counts as skin here (and is measured), while a
        shirt, a suit or a backdrop does not.
        """
        ycc = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(np.float32)
        d2 = (ycc[..., 1] - self.cr) ** 2 + (ycc[..., 2] - self.cb) ** 2
        return np.exp(-d2 / (2.0 * sigma**2)).astype(np.float32)


def own_neck_skin(fg: np.ndarray, keep: np.ndarray, line: Neckline, face: Face) -> NeckSkin | None:
    """The own neck's colour in the band just above the neckline (None when too little of it shows)."""
    w = keep.shape[1]
    y0, y1 = max(0, int(line.y - 0.12 * face.h)), max(0, int(line.y - 0.02 * face.h))
    x0, x1 = max(0, int(line.x0)), min(w, int(line.x1))
    sel = keep[y0:y1, x0:x1] > 0.8
    if sel.sum() < 20:
        return None
    px = fg[y0:y1, x0:x1][sel].reshape(-1, 1, 3)
    ycc = cv2.cvtColor(px, cv2.COLOR_BGR2YCrCb).reshape(-1, 3).astype(np.float32)
    return NeckSkin(bgr_to_lab(px).reshape(-1, 3).mean(axis=0), float(np.median(ycc[:, 1])),
                    float(np.median(ycc[:, 2])))
