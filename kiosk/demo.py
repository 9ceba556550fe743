"""The embedded default: one complete guest session on the bundled sample, no hardware needed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from kiosk.config import KioskConfig
from kiosk.pipeline.background import STYLES
from kiosk.pipeline.formats import FORMATS
from kiosk.pipeline.imageio import encode_jpeg, load_image, write_atomic
from kiosk.pipeline.studio import StudioPipeline

SAMPLE = Path(__file__).with_name("assets") / "sample_portrait.png"


@dataclass
class DemoReport:
    """What the demo produced."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


def default_out_dir() -> Path:
    """out/demo-YYYYmmdd-HHMMSS under the current folder."""
    return Path("out") / datetime.now().strftime("demo-%Y%m%d-%H%M%S")


def run_headless(cfg: KioskConfig, out_dir: Path, sample: Path = SAMPLE) -> DemoReport:
    """Run one guest session through the studio pipeline; write every style, format and a contact sheet."""
    report = DemoReport(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    photo = load_image(sample)
    report.notes += photo.notes
    with StudioPipeline(cfg.models_dir, cfg.pipeline) as pipe:
        bgr = pipe.prepare(photo.bgr)
        analysis = pipe.analyse(bgr)
        report.notes += analysis.notes
        thumbs: list[np.ndarray] = []
        for style in STYLES:
            if style == "custom" and cfg.pipeline.custom_background is None:
                continue
            result = pipe.headshot(bgr, style=style, fmt="portrait", analysis=analysis)
            report.files.append(_write(out_dir / f"portrait-{style}.jpg", result.image, cfg, style))
            thumbs.append(cv2.resize(result.image, (360, 450), interpolation=cv2.INTER_AREA))
        for fmt in FORMATS:
            if fmt == "portrait":
                continue
            result = pipe.headshot(bgr, style=cfg.pipeline.default_style, fmt=fmt, analysis=analysis)
            report.files.append(_write(out_dir / f"{fmt}.jpg", result.image, cfg, cfg.pipeline.default_style))
    sheet = np.hstack(thumbs)
    report.files.append(_write(out_dir / "contact-sheet.jpg", sheet, cfg, "all styles"))
    report.timings_ms["total"] = (time.perf_counter() - t0) * 1000.0
    summary = {
        "sample": sample.name,
        "files": [p.name for p in report.files],
        "notes": report.notes,
        "total_ms": round(report.timings_ms["total"], 1),
    }
    write_atomic(out_dir / "session.json", json.dumps(summary, indent=2).encode())
    return report


def _write(path: Path, image: np.ndarray, cfg: KioskConfig, what: str) -> Path:
    data = encode_jpeg(image, cfg.pipeline.jpeg_quality, source_type="edited",
                       description=f"Studio headshot ({what}) by Headshot Kiosk")
    return write_atomic(path, data)
