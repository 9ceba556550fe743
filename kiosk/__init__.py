"""Headshot Kiosk: the on-site AI headshot appliance."""

__version__ = "0.1.0"
