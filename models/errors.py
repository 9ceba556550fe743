"""Error tree of the models package."""

from __future__ import annotations


class ModelError(Exception):
    """Base of the models package's errors; exit_code is what the CLI returns for it."""

    exit_code = 1


class ModelMissing(ModelError):
    """A model file the caller needs is not installed."""

    exit_code = 2


class ModelCorrupt(ModelError):
    """A model file does not match its pinned sha256 or cannot be parsed."""

    exit_code = 2


class ModelFetchError(ModelError):
    """Fetching a model failed (network, bad source, checksum)."""

    exit_code = 2


class PackError(ModelError):
    """A diffusion model pack is invalid (layout, manifest, checksum)."""

    exit_code = 2
