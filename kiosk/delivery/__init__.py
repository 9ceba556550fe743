"""Guest delivery: printing, the QR download server, e-mail, hand-off and provenance."""
