"""The operator's on-screen settings: style set, event backdrop and brand colour.

Saved into the config file the kiosk runs from (comments and every other key kept, tomlkit), validated by
the same strict schema as a start, written atomically, then applied to the running kiosk in place: the style
screen's cards and the next headshot's backdrop change without a restart.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.errors import ConfigError

if TYPE_CHECKING:
    from kiosk.app.controller import KioskController
    from kiosk.config import KioskConfig

log = logging.getLogger(__name__)

BACKDROPS = "backdrops"  # under the data folder: the event backdrops the operator can pick on screen
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Brand colours offered on screen (any #RRGGBB can still be typed into the config file).
PALETTE = ("#1F4E79", "#2A6B73", "#3C6E47", "#7A1F3D", "#B3541E", "#5B3A8C", "#2E2E2E", "#8A9099")


@dataclass(frozen=True)
class Look:
    """What the operator can change on screen."""

    styles: tuple[str, ...]
    brand_color: str
    custom_background: Path | None


def look_of(cfg: KioskConfig) -> Look:
    """The look a config gives."""
    return Look(tuple(cfg.ui.styles), cfg.pipeline.brand_color, cfg.pipeline.custom_background)


class SettingsFile:
    """The config file the kiosk runs from, edited key by key."""

    def __init__(self, path: Path, current: KioskConfig) -> None:
        """Edit `path`; `current` is the running config (its data folder holds the backdrops)."""
        self.path = Path(path)
        self.current = current

    def backdrops(self) -> list[Path]:
        """Event backdrop images in <data folder>/backdrops, by name."""
        folder = Path(self.current.data_dir) / BACKDROPS
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    def save(self, look: Look) -> KioskConfig:
        """Write the look into the config file and return the new config (ConfigError when refused).

        The file is checked by the strict schema before it replaces the old one, so a refused change leaves
        the file and the kiosk as they were.
        """
        import tomlkit

        from kiosk.config import MAX_CONFIG_BYTES, parse_config
        from models.store import atomic_write_bytes

        if not look.styles:
            raise ConfigError("ui.styles: keep at least one style on the style screen")
        if "custom" in look.styles and look.custom_background is None:
            raise ConfigError("the 'custom' style needs an event backdrop: pick one (files in "
                              f"{Path(self.current.data_dir) / BACKDROPS})")
        try:
            text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
            doc = tomlkit.parse(text)
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError) as err:
            raise ConfigError(f"{self.path}: cannot edit the config file: {err}") from err
        _table(doc, "ui")["styles"] = list(look.styles)
        pipeline = _table(doc, "pipeline")
        pipeline["brand_color"] = look.brand_color
        if look.custom_background is None:
            pipeline.pop("custom_background", None)
        else:
            pipeline["custom_background"] = str(look.custom_background)
        new = tomlkit.dumps(doc)
        if len(new.encode()) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{self.path}: the config file would grow past 1 MiB")
        cfg = parse_config(tomllib.loads(new), str(self.path))  # the strict schema, as at start
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o600
        atomic_write_bytes(self.path, new.encode("utf-8"), mode)
        log.info("operator changed the look: %d styles, brand colour, backdrop %s", len(look.styles),
                 "set" if look.custom_background else "none")
        self.current = cfg
        return cfg


def _table(doc: Any, name: str) -> Any:
    """The top-level table `name` of a tomlkit document (made when missing)."""
    import tomlkit

    if name not in doc:
        doc[name] = tomlkit.table()
    return doc[name]


def apply_in_place(controller: KioskController, cfg: KioskConfig) -> None:
    """Use a saved look in the running kiosk: the style list now, the backdrop and colour from the next job."""
    controller.ui = controller.ui.model_copy(update={"styles": list(cfg.ui.styles)})
    controller.worker.processor.reconfigure(cfg.pipeline)
