"""Camera colour, lens and light calibration; writes the profile the studio pipeline applies."""
