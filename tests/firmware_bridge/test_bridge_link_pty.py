"""The client against the firmware simulator over a real pseudo-terminal, opened through pyserial."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from bridge_testutil import wait_for

from firmware_bridge import sim
from firmware_bridge.client import (
    BridgeClient,
    Button,
    ButtonPressed,
    CameraOutput,
    DeviceRebooted,
    EventsLost,
    LensPattern,
    LinkConfig,
    LinkState,
    SafeReason,
    SafeStateEntered,
    Scene,
)
from firmware_bridge.errors import (
    CommandRejected,
    InvalidCommand,
    LinkDown,
    ProtocolMismatch,
    QueueFull,
)
from firmware_bridge.messages import SCENE_LEVELS, AckMsg, EventAckMsg, HeartbeatReplyMsg, SetLightMsg

# short enough that heartbeat loss shows within a second, long enough that a loaded 2-core CI machine
# does not starve a heartbeat into a false loss
FAST = LinkConfig(ack_timeout_ms=60, heartbeat_ms=100, device_timeout_ms=1000, lost_after_ms=800,
                  backoff_initial_ms=10, backoff_max_ms=100, command_deadline_ms=4000)


def _client(url: str, config: LinkConfig = FAST) -> BridgeClient:
    client = BridgeClient(url, config)
    client.wait_ready(timeout_s=5)
    return client


def test_command_and_ack(sim_url: str) -> None:
    with _client(sim_url) as bridge:
        info = bridge.info
        assert info is not None and info.light_channels == 4 and CameraOutput.SHUTTER in info.camera_outputs
        bridge.set_light(2, 640, max_ms=60_000)
        bridge.scene(Scene.FRAMING, fade_ms=0, max_ms=60_000)
        bridge.lens_cue(LensPattern.ON, max_ms=60_000)
        status = bridge.status()
        board = sim.get_sim(sim_url)
        assert list(status.levels) == list(SCENE_LEVELS[Scene.FRAMING]) == board.snapshot().levels
        assert status.lens is LensPattern.ON and not status.safe
        bridge.camera_pulse(CameraOutput.SHUTTER, pulse_ms=20)
        wait_for(lambda: board.snapshot().camera_pulses == [0, 1] and not board.snapshot().camera[1],
                 what="one shutter pulse that ends by itself")
        bridge.safe_state()
        assert bridge.status().safe and board.snapshot().safe
        assert bridge.stats["retransmits"] == 0


def test_bad_arguments_fail_before_sending_and_refusals_are_errors(sim_url: str) -> None:
    with _client(sim_url) as bridge:
        with pytest.raises(InvalidCommand, match="level=1001"):
            bridge.set_light(0, 1001)
        with pytest.raises(CommandRejected, match="UNSUPPORTED"):
            bridge.set_light(3, 100, cct_k=3200)  # channel 3 has no colour temperature control
        assert sim.get_sim(sim_url).snapshot().levels == [0, 0, 0, 0]


def test_retransmit_after_a_dropped_command_frame(sim_url: str) -> None:
    with _client(sim_url) as bridge:
        board = sim.get_sim(sim_url)
        executed = board.snapshot().executed
        board.drop_rx(1, SetLightMsg.TYPE)
        bridge.set_light(1, 300, max_ms=60_000)
        assert bridge.stats["retransmits"] >= 1 and board.dropped_rx == 1
        assert board.snapshot().levels[1] == 300 and board.snapshot().executed == executed + 1


def test_dropped_ack_is_retransmitted_and_runs_once(sim_url: str) -> None:
    with _client(sim_url) as bridge:
        board = sim.get_sim(sim_url)
        board.drop_tx(1, AckMsg.TYPE)
        bridge.camera_pulse(CameraOutput.FOCUS, pulse_ms=5)
        assert bridge.stats["retransmits"] >= 1 and board.dropped_tx == 1
        wait_for(lambda: not board.snapshot().camera[0], what="the focus pulse to end")
        assert board.snapshot().camera_pulses[0] == 1  # the retransmission was answered from cache


def test_unplug_and_replug_mid_command(sim_url: str) -> None:
    states: list[LinkState] = []
    with _client(sim_url) as bridge:
        bridge.on_state(states.append)
        board = sim.get_sim(sim_url)
        executed = board.snapshot().executed
        board.drop_rx(1_000_000, SetLightMsg.TYPE)  # the command never gets through before the unplug
        future = bridge.set_light(0, 777, max_ms=60_000, wait=False, timeout_ms=5000)
        assert future is not None
        wait_for(lambda: bridge.stats["retransmits"] >= 1, what="a retransmission")
        board.unplug()
        wait_for(lambda: bridge.state is LinkState.LOST, what="link LOST")
        board.clear_drops()
        board.replug()
        assert isinstance(future.result(timeout=5), AckMsg)
        wait_for(lambda: bridge.state is LinkState.READY, what="link READY again")
        assert board.snapshot().levels[0] == 777 and board.snapshot().executed == executed + 1
        assert LinkState.LOST in states and bridge.stats["reconnects"] >= 1


def test_ack_lost_in_unplug_is_not_run_twice(sim_url: str) -> None:
    with _client(sim_url) as bridge:
        board = sim.get_sim(sim_url)
        board.drop_tx(1_000_000, AckMsg.TYPE)  # the board runs it, the answer never arrives
        future = bridge.camera_pulse(CameraOutput.SHUTTER, pulse_ms=5, wait=False, timeout_ms=5000)
        assert future is not None
        wait_for(lambda: board.snapshot().camera_pulses[1] == 1, what="the shutter pulse")
        board.unplug()
        board.clear_drops()
        board.replug()
        assert isinstance(future.result(timeout=5), AckMsg)
        assert board.snapshot().camera_pulses[1] == 1  # resent with its sequence number: answered from cache


def test_lights_go_safe_after_heartbeat_loss(sim_url: str) -> None:
    bridge = _client(sim_url)
    board = sim.get_sim(sim_url)
    bridge.scene(Scene.FLASH, fade_ms=0, max_ms=600_000)
    bridge.lens_cue(LensPattern.ON, max_ms=600_000)
    assert board.snapshot().levels == list(SCENE_LEVELS[Scene.FLASH])
    bridge.close()  # the host goes away without saying goodbye: heartbeats stop
    wait_for(lambda: board.snapshot().safe, timeout_s=3, what="the firmware's safe state")
    snap = board.snapshot()
    assert snap.levels == [0, 0, 0, 0] and snap.lens == 0 and not snap.linked
    # the next host learns why
    events: list[object] = []
    again = BridgeClient(sim_url, FAST)
    again.on_event(events.append)
    with again:
        again.wait_ready(5)
        wait_for(lambda: events, what="the safe-state event")
        assert events == [SafeStateEntered(SafeReason.HEARTBEAT_LOST, events[0].age_ms)]  # type: ignore[attr-defined]


def test_lights_go_safe_when_the_cable_is_pulled(sim_url: str) -> None:
    with _client(sim_url) as bridge:
        board = sim.get_sim(sim_url)
        bridge.set_light(0, 900, max_ms=600_000)
        board.unplug()
        wait_for(lambda: board.snapshot().safe, timeout_s=3, what="the firmware's safe state")
        board.replug()
        wait_for(lambda: bridge.state is LinkState.READY, what="reconnect")
        assert bridge.status().levels[0] == 0


def test_button_while_link_down_is_delivered_once_after_reconnect(sim_url: str) -> None:
    events: list[object] = []
    with _client(sim_url) as bridge:
        bridge.on_event(events.append)
        board = sim.get_sim(sim_url)
        board.unplug()
        wait_for(lambda: bridge.state is LinkState.LOST, what="link LOST")
        board.press(Button.START)
        board.replug()
        wait_for(lambda: any(isinstance(e, ButtonPressed) for e in events), what="the button event")
        # a lost acknowledgement makes the firmware repeat the event: still delivered once
        board.press(Button.PRINT)
        board.drop_rx(2, EventAckMsg.TYPE)
        wait_for(lambda: sum(isinstance(e, ButtonPressed) for e in events) >= 2, what="the second button")
        wait_for(lambda: board.snapshot().queued_events == 0, what="the firmware's queue to drain")
        wait_for(lambda: bridge.stats["duplicate_events"] >= 2, what="duplicates to be suppressed")
    buttons = [e for e in events if isinstance(e, ButtonPressed)]
    assert [b.button for b in buttons] == [Button.START, Button.PRINT]
    assert not buttons[0].synthetic and buttons[0].age_ms >= 0
    assert len({b.event_id for b in buttons}) == 2


def test_buttons_beyond_the_firmware_queue_are_reported_lost(sim_url: str) -> None:
    events: list[object] = []
    with _client(sim_url) as bridge:
        bridge.on_event(events.append)
        board = sim.get_sim(sim_url)
        board.unplug()
        for _ in range(11):
            board.press(Button.OPERATOR)
        board.replug()
        wait_for(lambda: sum(isinstance(e, ButtonPressed) for e in events) == 8, what="eight buttons")
    lost = [e for e in events if isinstance(e, EventsLost)]
    assert lost == [EventsLost(3)]
    assert len({e.event_id for e in events if isinstance(e, ButtonPressed)}) == 8


def test_protocol_mismatch_names_both_versions_and_what_to_reflash(sim_url: str) -> None:
    with BridgeClient(sim_url + "?proto=2.3", FAST) as client:
        with pytest.raises(ProtocolMismatch) as err:
            client.wait_ready(5)
        message = str(err.value)
        assert "1.0" in message and "2.3" in message and "reflash" in message
        with pytest.raises(ProtocolMismatch):
            client.set_light(0, 1)
        assert client.state is LinkState.LOST


def test_commands_fail_clearly_while_the_device_is_absent(sim_url: str) -> None:
    sim.start(sim_url).unplug()
    client = BridgeClient(sim_url, FAST).start()
    with client:
        with pytest.raises(LinkDown, match="not delivered"):
            client.set_light(0, 10, timeout_ms=200)
        with pytest.raises(LinkDown, match="unplugged"):
            client.wait_ready(0.3)


def test_queue_is_bounded(sim_url: str) -> None:
    sim.start(sim_url).unplug()
    config = LinkConfig(queue_size=3, command_deadline_ms=5000, backoff_initial_ms=10, backoff_max_ms=50)
    with BridgeClient(sim_url, config).start() as client:
        futures = [client.set_light(0, 1, wait=False) for _ in range(3)]
        with pytest.raises(QueueFull):
            client.set_light(0, 1, wait=False)
        sim.get_sim(sim_url).replug()
        assert all(isinstance(f.result(timeout=5), AckMsg) for f in futures if f is not None)


def test_garbage_on_the_line_is_survived(sim_url: str) -> None:
    with _client(sim_url) as bridge:
        board = sim.get_sim(sim_url)
        board.inject_tx(b"\xa5\x5a\x30\x01\x90" + bytes(range(256)))
        board.inject_rx(b"\xa5\x5a\x07noise\xa5")
        bridge.set_light(0, 5, max_ms=1000)
        assert bridge.status().levels[0] == 5
        assert bridge.stats["bad_frames"] >= 1


def test_many_threads_share_one_client(sim_url: str) -> None:
    errors: list[BaseException] = []
    with _client(sim_url) as bridge:
        def worker(channel: int) -> None:
            try:
                for level in range(0, 1000, 100):
                    bridge.set_light(channel, level, max_ms=60_000)
            except BaseException as err:  # collected and asserted below
                errors.append(err)

        threads = [threading.Thread(target=worker, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert not errors
        assert sim.get_sim(sim_url).snapshot().levels == [900, 900, 900, 900]


def test_device_path_through_a_symlink_survives_replug(sim_url: str, tmp_path: Path) -> None:
    link = tmp_path / "ttyKIOSK"
    board = sim.start(sim_url + f"?link={link}")
    with _client(str(link)) as bridge:  # a plain device path: pyserial's PosixSerial, no sim:// involved
        bridge.set_light(0, 100, max_ms=60_000)
        board.unplug()
        wait_for(lambda: bridge.state is LinkState.LOST, what="link LOST")
        board.replug()
        wait_for(lambda: bridge.state is LinkState.READY, what="reconnect through the new link target")
        bridge.set_light(0, 200, max_ms=60_000)
        assert link.resolve() == Path(board.path)
        assert board.snapshot().levels[0] == 200


def test_listeners_may_call_the_client(sim_url: str) -> None:
    done: list[str] = []
    with _client(sim_url) as bridge:
        def on_press(event: object) -> None:
            if isinstance(event, ButtonPressed):  # the kiosk's reaction: lights for framing at once
                bridge.scene(Scene.FRAMING, fade_ms=0, max_ms=60_000)
                done.append("scene")

        bridge.on_event(on_press)
        sim.get_sim(sim_url).press(Button.START)
        wait_for(lambda: done, what="the listener's blocking command")
        assert sim.get_sim(sim_url).snapshot().levels == list(SCENE_LEVELS[Scene.FRAMING])


def test_late_heartbeats_degrade_the_link_then_it_recovers(sim_url: str) -> None:
    states: list[LinkState] = []
    config = LinkConfig(ack_timeout_ms=60, heartbeat_ms=100, device_timeout_ms=2000, lost_after_ms=1500,
                        recover_ms=300, backoff_initial_ms=10)
    with _client(sim_url, config) as bridge:
        bridge.on_state(states.append)
        sim.get_sim(sim_url).drop_tx(4, HeartbeatReplyMsg.TYPE)  # 400 ms of silence, under lost_after_ms
        wait_for(lambda: LinkState.DEGRADED in states, what="DEGRADED")
        wait_for(lambda: states[-1] is LinkState.READY, what="READY again")
        assert LinkState.LOST not in states and bridge.stats["reconnects"] == 0


def test_a_rebooted_board_is_noticed_and_used_again(sim_url: str) -> None:
    events: list[object] = []
    with _client(sim_url) as bridge:
        bridge.on_event(events.append)
        first = bridge.info
        board = sim.get_sim(sim_url)
        board.reboot(boot_id=12345)
        wait_for(lambda: any(isinstance(e, DeviceRebooted) for e in events), what="DeviceRebooted")
        assert first is not None and bridge.info is not None and bridge.info.boot_id == 12345 != first.boot_id
        bridge.set_light(0, 50, max_ms=60_000)
        assert board.snapshot().levels[0] == 50
