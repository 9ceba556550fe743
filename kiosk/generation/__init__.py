"""Generative headshots: the generation worker process, its supervisor, and the in-process generator."""
