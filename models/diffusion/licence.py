"""What a pack's licence id allows: commercial use, non-commercial only, conditional, or unknown.

Ids are the Hugging Face model-card ones (`license:`, or `license_name:` when `license: other`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Use = Literal["commercial", "conditional", "non-commercial", "unknown"]

_COMMERCIAL = frozenset({
    "apache-2.0", "mit", "bsd-3-clause", "bsd-2-clause", "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0",
    "creativeml-openrail-m", "openrail", "openrail++", "openrail-m", "bigscience-openrail-m",
})
_CONDITIONAL = {
    "stabilityai-ai-community": "Stability AI Community License: commercial use only under USD 1M annual revenue",
}
_NON_COMMERCIAL = frozenset({"sai-nc-community", "stabilityai-nc-research-community", "stable-diffusion-nc"})


@dataclass(frozen=True)
class LicenceVerdict:
    """What the licence allows, in one word and one sentence."""

    license_id: str
    use: Use
    message: str

    @property
    def paid_events_ok(self) -> bool:
        """True only when commercial use is allowed without conditions."""
        return self.use == "commercial"


def verdict(license_id: str) -> LicenceVerdict:
    """Classify a licence id (case-insensitive)."""
    lid = license_id.strip().lower()
    if lid in _COMMERCIAL:
        return LicenceVerdict(license_id, "commercial", f"{license_id}: commercial use allowed")
    if lid in _CONDITIONAL:
        return LicenceVerdict(license_id, "conditional", _CONDITIONAL[lid])
    if lid in _NON_COMMERCIAL or lid.startswith("cc-by-nc"):
        return LicenceVerdict(
            license_id, "non-commercial",
            f"{license_id}: non-commercial use only; a paying event needs another model "
            "(build an sd15-lcm pack) or a licence from the model's owner",
        )
    return LicenceVerdict(license_id, "unknown", f"{license_id}: unknown licence; check it before a paying event")
