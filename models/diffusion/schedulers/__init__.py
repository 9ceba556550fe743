"""Numpy diffusion schedulers, one module each, behind one registry keyed by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.diffusion.schedulers.base import Scheduler, SchedulerConfigError
from models.diffusion.schedulers.euler import EulerScheduler
from models.diffusion.schedulers.euler_ancestral import EulerAncestralScheduler
from models.diffusion.schedulers.lcm import LCMScheduler

SCHEDULERS: dict[str, type[Scheduler]] = {
    cls.name: cls for cls in (EulerScheduler, EulerAncestralScheduler, LCMScheduler)
}
# The reference library's class names, as found in a scheduler_config.json's _class_name.
CLASS_NAMES = {
    "EulerDiscreteScheduler": "euler",
    "EulerAncestralDiscreteScheduler": "euler_ancestral",
    "LCMScheduler": "lcm",
}


def make_scheduler(name: str, config: Mapping[str, Any] | None = None) -> Scheduler:
    """Instantiate the scheduler `name` (euler, euler_ancestral, lcm) from a scheduler_config mapping.

    When the config's _class_name belongs to another scheduler, only the keys the chosen scheduler
    knows are carried over (as the reference library's from_config does).
    """
    if name not in SCHEDULERS:
        raise SchedulerConfigError(
            f"unknown scheduler '{name}' (choose one of {', '.join(sorted(SCHEDULERS))})"
        )
    cls = SCHEDULERS[name]
    cfg = dict(config or {})
    own = CLASS_NAMES.get(str(cfg.get("_class_name", "")))
    if own is not None and own != name:
        cfg = {k: v for k, v in cfg.items() if k in cls.defaults or k in cls.fixed}
    return cls(**cfg)


__all__ = [
    "CLASS_NAMES",
    "SCHEDULERS",
    "EulerAncestralScheduler",
    "EulerScheduler",
    "LCMScheduler",
    "Scheduler",
    "SchedulerConfigError",
    "make_scheduler",
]
