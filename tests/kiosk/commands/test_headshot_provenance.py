"""`kiosk headshot` encodes through the delivery encoder: a configured C2PA key signs the file it writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "delivery"))
from test_provenance import Chain, chain  # noqa: F401, I001  # reason: the throwaway C2PA chain fixture

from kiosk.cli import main  # reason: after the helper path is set
from kiosk.delivery.provenance import inspect  # reason: as above


PORTRAITS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "portraits"


def portrait(name: str) -> Path:
    path = PORTRAITS / name
    if not path.exists():
        pytest.skip(f"test portrait {name} not found in {PORTRAITS} (../shared/testdata is absent here)")
    return path


def run_headshot(isolated_env: Path, config: str, out: Path) -> int:
    cfg = isolated_env / "kiosk.toml"
    cfg.write_text(f'data_dir = "{isolated_env}"\n' + config)
    photo = portrait("house_woman_east_asian_older_01.jpg")
    return main(["--config", str(cfg), "headshot", str(photo), "-o", str(out), "--format", "linkedin"])


def test_headshot_is_signed_when_a_key_is_configured(
    isolated_env: Path, chain: Chain, tmp_path: Path  # noqa: F811  # reason: the imported fixture
) -> None:
    out = tmp_path / "signed.jpg"
    code = run_headshot(
        isolated_env,
        f'[delivery.provenance]\nc2pa_cert_chain = "{chain.cert_chain}"\nc2pa_private_key = "{chain.key}"\n',
        out,
    )
    assert code == 0
    report = inspect(out, trust_anchors=chain.root)
    assert report.xmp_source_type == "algorithmicallyEnhanced" and not report.declares_ai
    assert report.c2pa is not None and report.c2pa.validation_state == "Trusted"
    assert report.c2pa.source_types == ["algorithmicallyEnhanced"]


def test_headshot_without_a_key_carries_only_the_xmp_disclosure(isolated_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain.jpg"
    assert run_headshot(isolated_env, "", out) == 0
    report = inspect(out)
    assert report.xmp_source_type == "algorithmicallyEnhanced" and report.c2pa is None
