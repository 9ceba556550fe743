"""The studio pipeline: plain functions over numpy images (BGR uint8 in, BGR uint8 out)."""
