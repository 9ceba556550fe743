"""The kiosk's screens: built for the window's size and orientation, refreshed when shown.

Each screen `refresh()`es its texts when shown and `update()`s moving parts once per frame. Screens only
read the controller and forward taps. One module per stage of the guest's visit (see each module).
"""

from kiosk.ui.screens.base import KScreen, Metrics
from kiosk.ui.screens.choose import ReviewScreen, StyleScreen
from kiosk.ui.screens.live import LiveScreen
from kiosk.ui.screens.result import DeliveryScreen, ProcessingScreen, ThanksScreen
from kiosk.ui.screens.staff import AttendantScreen, OperatorScreen, PinScreen
from kiosk.ui.screens.welcome import AttractScreen, ConsentScreen, LanguageScreen

__all__ = [
    "AttendantScreen",
    "AttractScreen",
    "ConsentScreen",
    "DeliveryScreen",
    "KScreen",
    "LanguageScreen",
    "LiveScreen",
    "Metrics",
    "OperatorScreen",
    "PinScreen",
    "ProcessingScreen",
    "ReviewScreen",
    "StyleScreen",
    "ThanksScreen",
]
