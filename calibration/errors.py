"""Error tree of the calibration package; the CLI translates these at its boundary."""

from __future__ import annotations


class CalibrationError(Exception):
    """Base of the calibration package's errors; exit_code is what the CLI returns for it."""

    exit_code = 1


class ChartNotFound(CalibrationError):
    """No usable ColorChecker 24 in the image (absent, too small, clipped, or badly lit)."""

    exit_code = 2


class LensCalibrationError(CalibrationError):
    """Too few usable chessboard views, or a fit that does not converge."""

    exit_code = 2


class ProfileError(CalibrationError):
    """A calibration profile file is missing, unreadable or invalid."""

    exit_code = 2


class LightsError(CalibrationError):
    """The light loop cannot run: no such channel, no face to meter, or the target is out of reach."""

    exit_code = 2
