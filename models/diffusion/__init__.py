"""Distilled diffusion on numpy + a graph runtime: model packs, schedulers and the img2img pipeline."""
