"""Guest-data cost: a durable tracked write through the session store, and a phone download over HTTP.

Floors, measured in the same run:
- store: writing the same bytes to a plain file with one fsync (the least a durable write can cost);
- download: a bare http.server answering the same bytes from memory (the least an HTTP GET can cost).
Usage: python -m bench.delivery [--repeat N] [--size BYTES]
"""

from __future__ import annotations

import argparse
import http.client
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench._common import emit, median, time_ms
from kiosk.delivery.config import DownloadConfig
from kiosk.delivery.download import DownloadServer
from kiosk.session.store import SessionStore


def get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--size", type=int, default=1_500_000, help="bytes (a delivered JPEG is ~1-2 MB)")
    args = ap.parse_args()
    data = os.urandom(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = SessionStore(root / "data")
        sid = store.create().id
        n = iter(range(10**9))

        def floor_write() -> None:
            with open(root / f"plain-{next(n)}", "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())

        def store_write() -> None:
            store.write_file(sid, "result", f"r{next(n)}.jpg", data)

        floor_w = time_ms(floor_write, args.repeat)
        store_w = time_ms(store_write, args.repeat)

        class Bare(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: object) -> None:
                pass

        bare = ThreadingHTTPServer(("127.0.0.1", 0), Bare)
        threading.Thread(target=bare.serve_forever, daemon=True).start()
        cfg = DownloadConfig(bind=["127.0.0.1"], port=0, max_downloads=1000, rate_per_minute=10000)
        server = DownloadServer(store, cfg).start()
        sid2 = store.create().id
        _, url = server.publish(sid2, {"h.jpg": data}, thumbs={"h.jpg": b"t"})
        path = url.split(str(server.port), 1)[1] + "/f/h.jpg"
        assert get(server.port, path) == data
        floor_g = time_ms(lambda: get(bare.server_port, "/"), args.repeat)
        dl_g = time_ms(lambda: get(server.port, path), args.repeat)
        server.stop()
        bare.shutdown()
        store.close()
    emit(
        {
            "benchmark": "delivery",
            "bytes": args.size,
            "repeat": args.repeat,
            "store_write_ms": median(store_w),
            "floor_plain_fsync_write_ms": median(floor_w),
            "store_write_ratio": round(median(store_w) / median(floor_w), 2),
            "download_get_ms": median(dl_g),
            "floor_bare_http_get_ms": median(floor_g),
            "download_get_ratio": round(median(dl_g) / median(floor_g), 2),
        }
    )


if __name__ == "__main__":
    main()
