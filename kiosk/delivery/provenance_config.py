"""Config model of AI disclosure and provenance (section `[delivery.provenance]`).

Kept free of `kiosk.config` and of c2pa: `kiosk.config` imports this module (through `kiosk.delivery.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from kiosk.config_base import ConfigSection, SecretFile


class ProvenanceConfig(ConfigSection):
    """C2PA signing of delivered files (`[delivery.provenance]`); XMP disclosure is always written."""

    c2pa_cert_chain: Path | None = Field(
        None, description="PEM file: the C2PA signing certificate, then its intermediates. Unset: no C2PA."
    )
    c2pa_private_key: SecretFile | None = Field(
        None, description="PEM file: the private key of the signing certificate (not readable by every user)."
    )
    c2pa_algorithm: Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"] = Field(
        "es256", description="Signature algorithm matching the key (es256 for a P-256 EC key)."
    )
    c2pa_tsa_url: str | None = Field(
        None, max_length=500, description="RFC 3161 time-stamp authority URL (needs the network to sign)."
    )
    c2pa_trust_anchors: Path | None = Field(
        None, description="PEM file of CA certificates `kiosk inspect` trusts (else: valid but untrusted)."
    )
    claim_generator: str = Field(
        "Headshot Kiosk", min_length=1, max_length=100, description="Name of the software in the C2PA claim."
    )

    @model_validator(mode="after")
    def _pair(self) -> ProvenanceConfig:
        if (self.c2pa_cert_chain is None) != (self.c2pa_private_key is None):
            raise ValueError("set both c2pa_cert_chain and c2pa_private_key, or neither")
        return self

    @property
    def signs(self) -> bool:
        """Whether a C2PA manifest is signed into delivered files."""
        return self.c2pa_cert_chain is not None
