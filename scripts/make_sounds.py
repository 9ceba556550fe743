"""Write the kiosk's two sound cues (kiosk/ui/sounds/*.wav): a soft countdown tick and a shutter.

Generated, not recorded, so they carry no licence and can be remade: `python scripts/make_sounds.py`.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 22050  # Hz, mono 16-bit: small files, any sound card plays them
OUT = Path(__file__).resolve().parents[1] / "kiosk" / "ui" / "sounds"


def _write(name: str, samples: list[float]) -> None:
    with wave.open(str(OUT / name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", round(max(-1.0, min(1.0, v)) * 32767 * 0.5)) for v in samples))


def tick() -> list[float]:
    """A 90 ms 880 Hz tone with a fast attack and an exponential decay (a soft wood-block tick)."""
    n = int(0.09 * RATE)
    return [math.sin(2 * math.pi * 880 * i / RATE) * min(1.0, i / 40) * math.exp(-i / (0.02 * RATE))
            for i in range(n)]


def shutter() -> list[float]:
    """Two short noise clicks 60 ms apart (a mirror and a shutter curtain), seeded so the file is stable."""
    import random

    rnd = random.Random(7)
    n = int(0.2 * RATE)
    out = [0.0] * n
    for start in (0, int(0.06 * RATE)):
        for i in range(int(0.05 * RATE)):
            out[start + i] += rnd.uniform(-1, 1) * math.exp(-i / (0.008 * RATE))
    return out


def main() -> None:
    """Write both files."""
    OUT.mkdir(parents=True, exist_ok=True)
    _write("tick.wav", tick())
    _write("shutter.wav", shutter())


if __name__ == "__main__":
    main()
