import sys

from kiosk.cli import run

sys.exit(run())
