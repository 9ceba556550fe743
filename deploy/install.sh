#!/bin/sh
# Install Headshot Kiosk as an appliance: the service user, the systemd units, the udev rule, a config.
# Run as root from the checkout installed at /opt/headshot-kiosk (scripts/setup.sh made its .venv):
#     sudo /opt/headshot-kiosk/deploy/install.sh
# ROOT=/some/dir installs the files under that folder instead and runs no system tool (for packaging
# and for the tests of `kiosk doctor`).
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${ROOT:-}"
install -d "$ROOT/etc/systemd/system" "$ROOT/etc/udev/rules.d" "$ROOT/etc/sysusers.d" "$ROOT/etc/headshot-kiosk"
install -m 0644 "$HERE/systemd/headshot-kiosk.service" "$HERE/systemd/headshot-kiosk-xorg.service" \
    "$ROOT/etc/systemd/system/"
install -m 0644 "$HERE/udev/99-headshot-bridge.rules" "$ROOT/etc/udev/rules.d/"
install -m 0644 "$HERE/sysusers.d/headshot-kiosk.conf" "$ROOT/etc/sysusers.d/"
if [ ! -e "$ROOT/etc/headshot-kiosk/kiosk.toml" ]; then
    # Start from the documented sample; the operator edits it (then: kiosk config check).
    "$HERE/../.venv/bin/kiosk" config sample > "$ROOT/etc/headshot-kiosk/kiosk.toml" 2>/dev/null \
        || : > "$ROOT/etc/headshot-kiosk/kiosk.toml"
fi
if [ -n "$ROOT" ]; then
    echo "installed under $ROOT (no system tools run)"
    exit 0
fi
systemd-sysusers /etc/sysusers.d/headshot-kiosk.conf
chown -R root:headshot-kiosk /etc/headshot-kiosk && chmod 0750 /etc/headshot-kiosk
udevadm control --reload && udevadm trigger --subsystem-match=tty
systemctl daemon-reload
systemctl set-default graphical.target
systemctl enable headshot-kiosk-xorg.service headshot-kiosk.service
echo "installed; start now with: systemctl start headshot-kiosk   (check with: kiosk doctor)"
