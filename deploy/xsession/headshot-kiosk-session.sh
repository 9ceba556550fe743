#!/bin/sh
# Alternative start-up without systemd units: a desktop with auto-login runs this from its autostart
# (headshot-kiosk.desktop beside this file, copied to ~/.config/autostart/). It turns screen blanking and
# DPMS off for this X session, hides the pointer when `unclutter` is installed, and restarts the kiosk if
# it ever exits with a failure (at most 5 times in 10 minutes, like the systemd unit).
set -u
xset s off -dpms s noblank
command -v unclutter >/dev/null 2>&1 && unclutter -idle 1 -root &
KIOSK="${KIOSK:-/opt/headshot-kiosk/.venv/bin/kiosk}"
starts=""
while :; do
  now=$(date +%s)
  recent=""
  for t in $starts; do [ $((now - t)) -lt 600 ] && recent="$recent $t"; done
  starts="$recent $now"
  if [ "$(echo $starts | wc -w)" -gt 5 ]; then
    echo "headshot-kiosk: 5 failed starts in 10 minutes; giving up (run: kiosk doctor)" >&2
    exit 1
  fi
  "$KIOSK" run && exit 0
  sleep 3
done
