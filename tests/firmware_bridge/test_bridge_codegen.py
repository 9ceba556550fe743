"""The generated constants are derived from the one spec and committed; stale files fail here."""

from __future__ import annotations

from firmware_bridge import codegen, messages
from firmware_bridge.firmware import proto


def test_generated_files_are_up_to_date() -> None:
    stale = codegen.stale_files()
    assert not stale, f"regenerate with `python -m firmware_bridge.codegen`: {stale}"


def test_stale_check_notices_an_edit() -> None:
    spec = codegen.load_spec()
    spec["protocol"]["minor"] += 1
    rendered = codegen.render_all(spec)
    assert rendered[codegen.HOST_OUT] != codegen.HOST_OUT.read_text(encoding="utf-8")
    assert rendered[codegen.FIRMWARE_OUT] != codegen.FIRMWARE_OUT.read_text(encoding="utf-8")
    assert rendered[codegen.PROTOCOL_MD] != codegen.PROTOCOL_MD.read_text(encoding="utf-8")


def test_host_and_firmware_constants_agree() -> None:
    assert (messages.PROTOCOL_MAJOR, messages.PROTOCOL_MINOR) == (proto.PROTO_MAJOR, proto.PROTO_MINOR)
    assert bytes((proto.SOF0, proto.SOF1)) == messages.SOF
    for cls in messages.MESSAGES.values():
        assert getattr(proto, "T_" + cls.NAME) == cls.TYPE
        assert proto.FORMATS[cls.TYPE] == cls.FORMAT
        if cls.FROM_HOST:
            assert proto.LIMITS[cls.TYPE] == cls.LIMITS
    for scene, levels in messages.SCENE_LEVELS.items():
        assert proto.SCENES[scene] == (levels, messages.SCENE_LENS[scene])


def test_spec_payloads_fit_max_payload() -> None:
    spec = codegen.load_spec()
    assert all(codegen.payload_size(m) <= spec["protocol"]["max_payload"] for m in spec["message"])
