"""The generation worker process: loads the pack once, warms up, then serves img2img jobs over a pipe.

Messages (tuples) from the supervisor: ("job", id, payload), ("stop",). To the supervisor: ("ready",
info), ("fatal", message), ("progress", id, done, total), ("result", id, image, timings_ms, steps),
("cancelled", id), ("error", id, message). Cancellation arrives through a shared Event polled between
denoising steps.
"""

from __future__ import annotations

import logging
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

log = logging.getLogger(__name__)


def serve(conn: Connection, pack_dir: str, runtime_config: dict[str, Any], cancel: Event) -> None:
    """Worker entry point (runs in the child process)."""
    from pydantic import TypeAdapter

    from models.diffusion.pack import load_pack
    from models.diffusion.pipeline import GenerationCancelled, Img2ImgPipeline
    from models.errors import ModelError
    from models.runtime import RuntimeConfig, make_runtime

    try:
        pack = load_pack(pack_dir)  # size + mtime stamp: a start never re-hashes the pack
        runtime = make_runtime(TypeAdapter(RuntimeConfig).validate_python(runtime_config),
                               engine_dir=pack.root / "engines")
        pipe = Img2ImgPipeline(pack, runtime)
        pipe.warm_up(pack.style(next(iter(pack.manifest.styles))))
    except ModelError as err:  # a missing engine, a corrupt pack: the message says what to run
        conn.send(("fatal", str(err)))
        return
    except Exception as err:  # noqa: BLE001  # reason: any start-up failure is reported to the supervisor
        conn.send(("fatal", f"{type(err).__name__}: {err}"))
        return
    conn.send(("ready", {"model_id": pack.manifest.model_id, "precision": pipe.precision,
                         "runtime": runtime.describe()}))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the supervisor went away
        if msg[0] == "stop":
            return
        _, job_id, payload = msg
        cancel.clear()

        def report(done: int, total: int, jid: int = job_id) -> None:
            conn.send(("progress", jid, done, total))

        try:
            res = pipe(
                payload["image"],
                pack.style(payload["style"]),
                mask=payload.get("mask"),
                steps=payload.get("steps"),
                strength=payload.get("strength"),
                seed=int(payload["seed"]),
                progress=report,
                cancel=cancel.is_set,
            )
        except GenerationCancelled:
            conn.send(("cancelled", job_id))
        except (ModelError, ValueError) as err:
            conn.send(("error", job_id, str(err)))
        else:
            conn.send(("result", job_id, res.image, res.timings_ms, res.steps_run))
