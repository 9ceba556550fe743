"""The touchscreen app (Kivy). Only `kiosk.ui.app` and the screens import Kivy; config and i18n do not."""
