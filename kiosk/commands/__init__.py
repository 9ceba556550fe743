"""One module per `kiosk` command; each exposes `register(sub: Subparsers)` (see kiosk.cli)."""

from __future__ import annotations

import argparse
from typing import TypeAlias

# What argparse's add_subparsers() returns; its class is private in argparse, public in its type stubs.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
