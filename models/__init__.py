"""Model registry, vision wrappers, runtimes and diffusion: no knowledge of the kiosk app."""
