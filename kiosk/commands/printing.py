"""`kiosk print FILE --layout NAME --copies N`: print a headshot through CUPS; printer states; paper."""

from __future__ import annotations

import argparse
import sys

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `print` command."""
    p = sub.add_parser(
        "print",
        help="print a headshot on a layout through CUPS, show printer states, or reset the paper counter",
        description="Print FILE (a headshot) on a layout; the job is followed until the printer finishes it.",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="the headshot to print (JPEG or PNG)")
    p.add_argument(
        "--layout", help="4x6, badge, wallet, letter or a4 (default: delivery.printing.default_layout)"
    )
    p.add_argument(
        "--copies", type=int, default=1, help="copies (up to delivery.printing.copies_per_session)"
    )
    p.add_argument(
        "--printer", help="CUPS queue (default: delivery.printing.printer, the CUPS default, the only one)"
    )
    p.add_argument(
        "--no-wait", action="store_true", help="return once CUPS has the job, without following it"
    )
    p.add_argument(
        "--timeout", type=float, help="seconds to follow the job (default: delivery.printing.job_timeout_s)"
    )
    p.add_argument(
        "--status", action="store_true", help="list the printers with their states and the paper level"
    )
    p.add_argument(
        "--paper-loaded",
        type=int,
        nargs="?",
        const=0,
        metavar="SHEETS",
        help="paper was loaded: restart the paper counter (SHEETS, default paper_capacity)",
    )
    p.set_defaults(func=_run)


def _say(text: str) -> None:
    print(text)  # noqa: T201  # reason: CLI output


def _run(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.delivery.layouts import get_layout
    from kiosk.delivery.printing import CopyAllowance, PrinterStatus, PrintService
    from kiosk.errors import InputError

    cfg = load_config(args.config)
    pcfg = cfg.delivery.printing

    def on_status(status: PrinterStatus) -> None:
        if not status.can_print:
            print(f"kiosk: waiting: {status.describe()}", file=sys.stderr)  # noqa: T201  # reason: CLI progress

    service = PrintService(pcfg, cfg.data_dir, on_status=None if args.status else on_status)
    if args.paper_loaded is not None:
        level = service.counter.reload(args.paper_loaded or None)
        _say(f"paper counter restarted: {level.remaining} sheets")
        if not args.file and not args.status:
            return 0
    if args.status:
        level = service.counter.level()
        printers = service.printers()
        for status in printers:
            _say(status.describe())
        if not printers:
            _say("no printers in CUPS")
        _say(f"paper: {level.remaining} of {level.capacity} sheets left (kiosk count)")
        return 0
    if not args.file:
        raise InputError("give a FILE to print (or --status, or --paper-loaded)")
    layout = get_layout(args.layout or pcfg.default_layout)
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise InputError(f"--timeout {args.timeout} is outside 0..3600 s")
    allowance = CopyAllowance(pcfg.copies_per_session)
    allowance.check(args.copies)

    from kiosk.pipeline.imageio import load_image

    image = load_image(args.file, max_megapixels=cfg.pipeline.max_input_megapixels)
    job = service.submit(image.bgr, layout, args.copies, printer=args.printer, allowance=allowance)
    if args.no_wait:
        _say(
            f"job {job.job_id} sent to {job.printer} "
            f"(layout {layout.name}, {job.copies} copies, {job.dpi} dpi)"
        )
        return 0
    outcome = service.wait(job, args.timeout)
    paper = outcome.paper
    left = f"; paper: {paper.remaining} of {paper.capacity} sheets left" if paper else ""
    _say(
        f"printed {job.copies} {'copy' if job.copies == 1 else 'copies'} on {job.printer} "
        f"(layout {layout.name}, job {job.job_id}, {job.dpi} dpi, {outcome.elapsed_s:.1f} s){left}"
    )
    return 0
