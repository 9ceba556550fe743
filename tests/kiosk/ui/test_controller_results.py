"""What a whole headless session delivers: C2PA-signed files declaring their source type, the calibration
profile applied to the capture, and generative styles with the studio fallback and its reason.

Real parts throughout: the virtual camera on the bundled portrait, the framing worker, the studio pipeline
with the MediaPipe models, c2pa-python signing and validation, the generation worker process on the tiny
random-weight pack built by build-pack (its output is noise: the quality gate refuses it). The one stand-in
is a worker that answers like a sound model (tests/kiosk/generation/fake_workers.restyle_backdrop): no
real weights exist here, and it is what shows an AI composite being delivered.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kiosk.app.assemble import Overrides, assemble
from kiosk.app.config import UIConfig
from kiosk.app.headless import run_session
from kiosk.app.processor import Processor, StudioProcessor
from kiosk.camera.config import VirtualCameraConfig
from kiosk.camera.virtual import VirtualCamera
from kiosk.config import KioskConfig, default_data_dir
from kiosk.delivery.ports import NoPrinter, OfflineDownloads
from kiosk.delivery.provenance import inspect
from kiosk.delivery.provenance_config import ProvenanceConfig
from kiosk.lights import NoopLights

PEM = serialization.Encoding.PEM


def _models_dir() -> Path:
    models = default_data_dir() / "models"
    if not (models / "face_detection_short_range.tflite").is_file():
        pytest.skip(f"MediaPipe models not installed in {models} (run `kiosk models fetch`)")
    return models


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(sign, False, False, False, False, ca, ca, False, False)


def _cert(subject: str, issuer: str, key: Any, sign_key: Any, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(_usage(sign=not ca, ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if not ca:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(sign_key.public_key()), critical=False)
    return b.sign(sign_key, hashes.SHA256())


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> ProvenanceConfig:
    """A throwaway ES256 chain (root CA → end-entity signer; C2PA refuses self-signed signers)."""
    pytest.importorskip("c2pa", reason="c2pa-python is a dependency: pip install -e .")
    ca_key, ee_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Kiosk Test Root", "Kiosk Test Root", ca_key, ca_key, ca=True)
    ee = _cert("Kiosk Test Signer", "Kiosk Test Root", ee_key, ca_key, ca=False)
    folder = tmp_path_factory.mktemp("c2pa")
    (folder / "chain.pem").write_bytes(ee.public_bytes(PEM) + ca.public_bytes(PEM))
    (folder / "signer.key").write_bytes(
        ee_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "signer.key").chmod(0o600)
    return ProvenanceConfig(c2pa_cert_chain=folder / "chain.pem", c2pa_private_key=folder / "signer.key")


def _config(tmp_path: Path, formats: tuple[str, ...] = ("portrait",), **sections: Any) -> KioskConfig:
    models = _models_dir()
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "models").exists():
        (data / "models").symlink_to(models)
    ui = UIConfig(stillness_s=0.2, countdown_s=1, formats=list(formats), style_previews=False)
    return KioskConfig.model_validate({"data_dir": data, "ui": ui, **sections})


def _session(cfg: KioskConfig, out: Path, style: str | None = None) -> tuple[Any, Any]:
    parts = assemble(cfg, Overrides(
        camera=VirtualCamera(VirtualCameraConfig(width=640,
        height=480)),
        lights=NoopLights(),
        downloads=OfflineDownloads(),
        printer=NoPrinter(),
    ))
    c = parts.controller
    c.start()
    try:
        run = run_session(c, out, style=style, timeout_s=120.0)
        return c, run
    finally:
        parts.close()


def test_session_delivers_a_signed_file_declared_edited(tmp_path: Path, signing: ProvenanceConfig) -> None:
    cfg = _config(tmp_path, delivery={"provenance": signing})
    _c, run = _session(cfg, tmp_path / "out", style="white")
    assert [p.name for p in run.files] == ["portrait-white.jpg"]
    report = inspect(run.files[0])
    assert report.xmp_source_type == "algorithmicallyEnhanced" and not report.declares_ai
    assert report.c2pa is not None, "a configured signing key signs every delivered file"
    assert report.c2pa.validation_state == "Valid", report.c2pa.failures
    assert report.c2pa.source_types == ["algorithmicallyEnhanced"]
    assert "Kiosk Test Signer" in report.c2pa.signer


def _blue_over_red(path: Path) -> float:
    img = cv2.imread(str(path))
    assert img is not None, path
    img = img.astype(np.float64)
    h, w = img.shape[:2]
    centre = img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]  # the guest, not the backdrop
    return float(centre[..., 0].mean() / centre[..., 2].mean())


def test_session_applies_the_saved_calibration_profile(tmp_path: Path) -> None:
    from calibration.profile import ColorSection, Profile, save_profile, utc_now

    plain_cfg = _config(tmp_path / "plain")
    _c, plain = _session(plain_cfg, tmp_path / "plain-out", style="white")
    assert plain_cfg.calibration.profile_path(plain_cfg.data_dir).exists() is False
    cfg = _config(tmp_path / "calibrated")
    # A deliberately strong cool white balance, so its effect on the delivered file is unmistakable.
    cool = ColorSection(
        calibrated_at=utc_now(), model="linear", wb=(0.6, 1.0, 1.6),
        ccm=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)), mean_delta_e2000=0.0, max_delta_e2000=0.0,
    )  # fmt: skip
    profile = Profile(created_at=utc_now(), camera_id="booth-cam", color=cool)
    save_profile(profile, cfg.calibration.profile_path(cfg.data_dir))
    c, calibrated = _session(cfg, tmp_path / "cal-out", style="white")
    status = c.device_status()["calibration"]
    assert "'booth-cam' applied" in status
    assert "booth-cam" in status and "is connected" in status, "the other-camera warning reaches the operator"
    assert _blue_over_red(calibrated.files[0]) > _blue_over_red(plain.files[0]) * 1.15


PRESETS = ["corporate", "executive", "modern-office", "creative", "outdoor", "high-key"]


def _generation(pack: Path) -> dict[str, Any]:
    return {
        "pack_dir": pack,
        "runtime": {"kind": "ort", "providers": ["cpu"]},
        "start_timeout_s": 120.0,
        "hang_timeout_s": 30.0,
        "seed": 7,
    }


class Recording(Processor):
    """The app's real processor, recording the progress it reports."""

    def __init__(self, real: StudioProcessor) -> None:
        super().__init__()
        self.real = real
        self.ai_styles = real.ai_styles
        self.seen: list[tuple[float, str]] = []

    @property
    def generation_state(self) -> str:
        return self.real.generation_state

    def warm_up(self) -> None:
        self.real.warm_up()

    def status(self) -> Any:
        return self.real.status()

    def close(self) -> None:
        self.real.close()

    def process(self, bgr: Any, style: str, formats: list[str], write: Any, progress: Any) -> Any:
        def record(frac: float, stage: str) -> None:
            self.seen.append((frac, stage))
            progress(frac, stage)

        try:
            return self.real.process(bgr, style, formats, write, record)
        finally:
            self.notice = self.real.notice


def _session_with(cfg: Any, processor: Any, style: str, out: Path) -> tuple[Any, list[str | None], Any, Any]:
    """One whole guest session on `processor` once its generation worker is up: (run, delivery notices,
    device status, the stopped controller)."""
    parts = assemble(cfg, Overrides(
        camera=VirtualCamera(VirtualCameraConfig(width=640,
        height=480)),
        lights=NoopLights(),
        downloads=OfflineDownloads(),
        printer=NoPrinter(),
        processor=processor,
    ))
    c = parts.controller
    notices: list[str | None] = []
    c.flow.listen(lambda _o, new, _r: notices.append(c.notice) if new.value == "delivery" else None)
    c.start()
    try:
        deadline = time.monotonic() + 120
        while processor.generation_state == "starting" and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker warms up on its own thread (a job meanwhile gets the studio result)
        run = run_session(c, out, style=style, timeout_s=120.0)
        status = c.device_status()
    finally:
        parts.close()
    return run, notices, status, c


def _generative_session(tmp_path: Path, pack: Path, style: str) -> tuple[Any, Any, Recording]:
    from kiosk.app.assemble import studio_processor

    cfg = _config(tmp_path, generation=_generation(pack))
    processor = Recording(studio_processor(cfg))
    run, notices, status, c = _session_with(cfg, processor, style, tmp_path / "out")
    return (run, notices, status), c, processor


def test_refused_ai_result_delivers_the_studio_result_with_the_gates_reason(tmp_path: Path, tiny_pack: Path) -> None:
    (run, notices, status), c, processor = _generative_session(tmp_path, tiny_pack, "ai:corporate")
    assert c.styles[: len(c.ui.styles)] == list(c.ui.styles)
    assert c.styles[len(c.ui.styles) :] == [f"ai:{name}" for name in PRESETS], "the pack's presets are offered"
    assert status["generation"].startswith("ready; last job: studio result delivered (the AI result was refused: ")
    assert [p.name for p in run.files] == ["portrait-studio-grey.jpg"]
    report = inspect(run.files[0])
    assert report.xmp_source_type == "algorithmicallyEnhanced" and not report.declares_ai
    assert notices and notices[0] is not None and notices[0].startswith("the AI result was refused: "), notices
    assert "seam" in notices[0] or "noise" in notices[0], notices
    # Real per-step progress from the worker: the pack's Euler img2img runs 3 of its 4 steps at strength 0.75.
    steps = [stage for _f, stage in processor.seen if stage.startswith("generate")]
    assert steps == ["generate 1/3", "generate 2/3", "generate 3/3"], steps
    fracs = [f for f, _s in processor.seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0


def test_generative_style_delivers_one_ai_composite_for_every_format(tmp_path: Path, tiny_pack: Path) -> None:
    from kiosk.app.processor import StudioProcessor
    from kiosk.generation.config import GenerationConfig
    from kiosk.generation.supervisor import SupervisedGenerator
    from tests.kiosk.generation import fake_workers

    cfg = _config(tmp_path, formats=("portrait", "badge"))
    gen_cfg = GenerationConfig.model_validate(_generation(tiny_pack))
    generator = SupervisedGenerator(tiny_pack, gen_cfg, target=fake_workers.restyle_backdrop)
    processor = Recording(StudioProcessor(cfg.models_dir, cfg.pipeline, generation=gen_cfg, generator=generator,
                                          ai_styles=["corporate"]))
    run, notices, device, _c = _session_with(cfg, processor, "ai:corporate", tmp_path / "out")
    assert sorted(p.name for p in run.files) == ["badge-ai-corporate.jpg", "portrait-ai-corporate.jpg"]
    for path in run.files:
        report = inspect(path)
        assert report.xmp_source_type == "compositeWithTrainedAlgorithmicMedia" and report.declares_ai, path.name
    assert notices == [None], "no fallback message for the guest"
    assert device["generation"] == "ready; last job: AI composite 'corporate' (seed 7)", device
    steps = [stage for _f, stage in processor.seen if stage.startswith("generate")]
    assert steps == ["generate 1/2", "generate 2/2"], "one generation for both formats"
    fracs = [f for f, _s in processor.seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0


def test_broken_pack_path_delivers_the_studio_result_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-pack"
    (run, notices, status), c, _p = _generative_session(tmp_path, missing, "ai:corporate")
    assert c.styles == list(c.ui.styles), "no pack: no AI styles offered"
    assert [p.name for p in run.files] == ["portrait-studio-grey.jpg"]
    assert inspect(run.files[0]).xmp_source_type == "algorithmicallyEnhanced"
    assert notices and notices[0] is not None and "no model pack installed" in notices[0]
    assert "kiosk models build-pack" in notices[0]
    assert "no model pack installed" in status["generation"] and "studio result delivered" in status["generation"]


def test_hung_generation_worker_delivers_the_studio_result(tmp_path: Path, tiny_pack: Path) -> None:
    from kiosk.app.processor import StudioProcessor
    from kiosk.generation.config import GenerationConfig
    from kiosk.generation.supervisor import SupervisedGenerator
    from tests.kiosk.generation import fake_workers

    cfg = _config(tmp_path)
    gen_cfg = GenerationConfig.model_validate({**_generation(tiny_pack), "hang_timeout_s": 1.0})
    generator = SupervisedGenerator(tiny_pack, gen_cfg, target=fake_workers.hang_on_job)
    processor = StudioProcessor(
        cfg.models_dir, cfg.pipeline, generation=gen_cfg, generator=generator, ai_styles=["corporate"]
    )
    # the fake worker reports ready at once; the hang comes with the job
    run, notices, device, _c = _session_with(cfg, processor, "ai:corporate", tmp_path / "out")
    status = device["generation"]
    assert [p.name for p in run.files] == ["portrait-studio-grey.jpg"]
    assert inspect(run.files[0]).xmp_source_type == "algorithmicallyEnhanced"
    assert notices and notices[0] is not None and "hung" in notices[0], notices
    assert "studio result delivered" in status and "hung" in status, status
