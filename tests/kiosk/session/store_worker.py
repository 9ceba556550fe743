"""Child process for the kill -9 tests: writes sessions in a loop and reports each durable step."""

import hashlib
import sys
from pathlib import Path

from kiosk.session.store import SessionStore, Step


def main() -> None:
    data_dir = Path(sys.argv[1])
    size = int(sys.argv[2])
    store = SessionStore(data_dir)
    n = 0
    while True:
        s = store.create()
        store.advance(s.id, Step.CONSENTED)
        payload = hashlib.sha256(f"{s.id}-{n}".encode()).digest() * (size // 32)
        store.write_file(s.id, "capture", "shot-1.jpg", payload)
        store.advance(s.id, Step.CAPTURED)
        print(f"captured {s.id} {hashlib.sha256(payload).hexdigest()}", flush=True)
        store.write_file(s.id, "result", "studio-grey.jpg", payload[::-1])
        store.write_file(s.id, "capture", "shot-1.jpg", payload[1:] + b"x")  # overwrite in place
        store.advance(s.id, Step.PROCESSED)
        if n % 3 == 0:
            store.write_file(s.id, "download", "studio-grey.jpg", payload)
            store.advance(s.id, Step.DELIVERED)
        n += 1


if __name__ == "__main__":
    main()
