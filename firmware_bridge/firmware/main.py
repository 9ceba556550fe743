# Headshot Kiosk controller firmware for a Raspberry Pi Pico (RP2040), MicroPython 1.22 or later.
#
# The board-specific part only: pins, PWM, the internal temperature sensor, USB CDC and the watchdog.
# Everything the protocol and safety depend on lives in bridge_core.py (the same file the simulator
# runs on the host). Copy main.py, bridge_core.py and proto.py to the board's root folder (see README).
#
# Wiring (3.3 V logic; drive lights through MOSFET or LED-driver dimming inputs, camera through opto-isolators):
#   GP2  ch0 key   warm PWM     GP6  ch0 key  cool PWM   (channels 0 and 1 mix warm/cool for CCT)
#   GP3  ch1 fill  warm PWM     GP7  ch1 fill cool PWM
#   GP4  ch2 rim PWM            GP5  ch3 background PWM
#   GP10 camera focus           GP11 camera shutter      (active high into the opto-isolator LED)
#   GP15 look-at-the-lens LED PWM
#   GP16 START, GP17 PRINT, GP18 OPERATOR buttons to GND (internal pull-ups)
# Hold OPERATOR while plugging in to skip the firmware and keep the REPL (for mpremote and updates).

import sys

try:
    from bridge_core import Firmware, Hardware
except ImportError:  # imported from the repository by the host tests
    from firmware_bridge.firmware.bridge_core import Firmware, Hardware

PWM_HZ = 20000  # far above any camera shutter banding
LIGHT_PINS = (2, 3, 4, 5)
CCT_COOL_PINS = {0: 6, 1: 7}
CCT_WARM_K = 2700
CCT_COOL_K = 6500
CAMERA_PINS = (10, 11)
LENS_PIN = 15
BUTTON_PINS = (16, 17, 18)
DEBOUNCE_MS = 30
WATCHDOG_MS = 2000


def cct_split(level, cct_k):
    """Split a level (0..1000) into (warm, cool) levels for a colour temperature in kelvin."""
    if cct_k <= 0:
        cct_k = (CCT_WARM_K + CCT_COOL_K) // 2
    cct_k = max(CCT_WARM_K, min(CCT_COOL_K, cct_k))
    cool = level * (cct_k - CCT_WARM_K) // (CCT_COOL_K - CCT_WARM_K)
    return level - cool, cool


class Clock:
    """Milliseconds since start as an ever-growing int (ticks_ms wraps; ticks_diff does not care)."""

    def __init__(self, ticks_ms, ticks_diff):
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._last = ticks_ms()
        self.now = 0

    def ms(self):
        """Now, in ms."""
        t = self._ticks_ms()
        self.now += self._ticks_diff(t, self._last)
        self._last = t
        return self.now


class Button:
    """A debounced active-low button; pressed() is True once per press."""

    def __init__(self, pin):
        self.pin = pin
        self.stable = 1
        self.changed_ms = 0

    def pressed(self, now_ms):
        """True on the debounced edge to pressed."""
        raw = self.pin.value()
        if raw == self.stable:
            self.changed_ms = now_ms
            return False
        if now_ms - self.changed_ms < DEBOUNCE_MS:
            return False
        self.stable = raw
        self.changed_ms = now_ms
        return raw == 0


class Board(Hardware):
    """RP2040 pins behind the Hardware interface of bridge_core."""

    def __init__(self, machine, out):
        Pin, PWM = machine.Pin, machine.PWM
        # outputs low before anything else can happen
        self.camera = [Pin(p, Pin.OUT, value=0) for p in CAMERA_PINS]
        self.lights = [self._pwm(PWM, Pin, p) for p in LIGHT_PINS]
        self.cool = {ch: self._pwm(PWM, Pin, p) for ch, p in CCT_COOL_PINS.items()}
        self.lens = self._pwm(PWM, Pin, LENS_PIN)
        self.buttons = [Button(Pin(p, Pin.IN, Pin.PULL_UP)) for p in BUTTON_PINS]
        self.adc = machine.ADC(4)
        self.out = out

    @staticmethod
    def _pwm(PWM, Pin, number):
        pwm = PWM(Pin(number))
        pwm.freq(PWM_HZ)
        pwm.duty_u16(0)
        return pwm

    def set_level(self, channel, level, cct_k):
        """PWM duty for a channel; CCT channels split between their warm and cool strings."""
        if channel in self.cool:
            warm, cool = cct_split(level, cct_k)
            self.lights[channel].duty_u16(warm * 65535 // 1000)
            self.cool[channel].duty_u16(cool * 65535 // 1000)
        else:
            self.lights[channel].duty_u16(level * 65535 // 1000)

    def set_camera(self, output, on):
        """Camera remote line."""
        self.camera[output].value(1 if on else 0)

    def set_lens(self, level):
        """Lens LED brightness."""
        self.lens.duty_u16(level * 65535 // 1000)

    def temperature_cdeg(self):
        """RP2040 internal sensor (datasheet 4.9.5), 0.01 degC."""
        volts = self.adc.read_u16() * 3.3 / 65535
        return int((27 - (volts - 0.706) / 0.001721) * 100)

    def write(self, data):
        """To the host over USB CDC; dropped by the USB stack when no host listens."""
        self.out.write(data)


def boot_id():
    """A random 32-bit id for this boot."""
    try:
        import os
        raw = os.urandom(4)
        return raw[0] | (raw[1] << 8) | (raw[2] << 16) | (raw[3] << 24)
    except (ImportError, AttributeError, NotImplementedError):
        import random
        return random.getrandbits(32)


class Runner:
    """The main loop: bytes in, ticks, buttons, watchdog."""

    def __init__(self, board, firmware, clock, poll_in, read_in, wdt=None):
        self.board = board
        self.fw = firmware
        self.clock = clock
        self.poll_in = poll_in
        self.read_in = read_in
        self.wdt = wdt

    def step(self, wait_ms=1):
        """One pass: drain input, run timers, scan buttons, feed the watchdog."""
        data = bytearray()
        ready = self.poll_in(wait_ms)
        while ready and len(data) < 256:
            chunk = self.read_in()
            if not chunk:
                break
            data.extend(chunk)
            ready = self.poll_in(0)
        now = self.clock.ms()
        if data:
            self.fw.feed(bytes(data), now)
        for index, button in enumerate(self.board.buttons):
            if button.pressed(now):
                self.fw.button(index, now)
        self.fw.tick(now)
        if self.wdt is not None:
            self.wdt.feed()


def main():
    """Start the firmware on the board (never returns, unless OPERATOR is held at power-up)."""
    import machine
    import micropython
    import select
    import time

    out = sys.stdout.buffer
    board = Board(machine, out)
    if board.buttons[2].pin.value() == 0:
        return  # maintenance: stay in the REPL with every output off
    micropython.kbd_intr(-1)  # binary protocol: byte 0x03 is data, not Ctrl-C
    clock = Clock(time.ticks_ms, time.ticks_diff)  # type: ignore[attr-defined]  # reason: MicroPython time
    firmware = Firmware(board, boot_id(), clock.ms())
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    stdin = sys.stdin.buffer
    runner = Runner(board, firmware, clock, lambda ms: bool(poller.poll(ms)), lambda: stdin.read(1),
                    machine.WDT(timeout=WATCHDOG_MS))
    while True:
        runner.step()


if __name__ == "__main__":
    main()
