"""Camera sources behind one interface (`kiosk.camera.base.Camera`), chosen by the `[camera]` config."""
