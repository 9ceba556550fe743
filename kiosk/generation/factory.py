"""Build the kiosk's generator from the config: a supervised worker, or None with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.generation.config import GenerationConfig

if TYPE_CHECKING:
    from kiosk.generation.supervisor import SupervisedGenerator


def make_generator(config: GenerationConfig, models_dir: Path) -> tuple[SupervisedGenerator | None, str | None]:
    """(SupervisedGenerator, None) when a pack is installed and generation is on; else (None, why).

    The worker is not started here: call `start()` in the background so the studio path is never kept
    waiting by the pack's load and warm-up.
    """
    from models.diffusion.pack import read_manifest
    from models.errors import PackError

    if not config.enabled:
        return None, "generation is disabled in the config (generation.enabled)"
    pack_dir = config.resolved_pack_dir(models_dir)
    if not (pack_dir / "manifest.json").exists():
        return None, f"no model pack installed at {pack_dir} (build one with `kiosk models build-pack SOURCE`)"
    try:
        read_manifest(pack_dir)
    except PackError as err:
        return None, f"the model pack cannot be used: {err}"
    from kiosk.generation.supervisor import SupervisedGenerator

    return SupervisedGenerator(pack_dir, config), None
