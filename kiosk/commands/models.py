"""`kiosk models fetch | verify | list | build-pack | pull | pack-info | build-engines`: model files and packs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kiosk.commands import Subparsers


def register(sub: Subparsers) -> None:
    """Add the `models` command group."""
    p = sub.add_parser("models", help="install, verify and list model files")
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION", required=True)

    f = msub.add_parser("fetch", help="install the pinned MediaPipe models (from the mediapipe wheel)")
    f.add_argument("names", nargs="*", help="catalog names (default: all)")
    f.add_argument("--from", dest="source", help="install NAME from a local path or an https URL instead")
    f.add_argument("--sha256", help="expected sha256 of --from (default: the catalog pin)")
    f.add_argument("--force", action="store_true", help="re-install even when the file verifies")
    f.add_argument("--quiet", action="store_true", help="print nothing on success")
    f.set_defaults(func=_fetch)

    v = msub.add_parser("verify", help="check every installed model against its sha256")
    v.set_defaults(func=_verify)

    ls = msub.add_parser("list", help="list catalog models and their state")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_list)

    _register_packs(msub)


def _register_packs(msub: Any) -> None:
    """`build-pack`, `pull`, `pack-info` and `build-engines`: diffusion packs (in kiosk.commands.packs)."""
    from kiosk.commands.packs import register as register_packs

    register_packs(msub)


def _store(args: argparse.Namespace) -> Any:
    from kiosk.config import load_config
    from models.store import ModelStore

    return ModelStore(load_config(args.config).models_dir)


def _fetch(args: argparse.Namespace) -> int:
    from kiosk.errors import InputError

    store = _store(args)
    if args.source:
        if len(args.names) != 1:
            raise InputError("--from installs one model: give exactly one NAME (see `kiosk models list`)")
        statuses = [store.install_from(args.names[0], args.source, args.sha256)]
    else:
        statuses = store.fetch(args.names or None, force=args.force)
    if not args.quiet:
        for st in statuses:
            print(f"{st.state:8} {st.name:28} {st.file}")  # noqa: T201  # reason: CLI output
    return 0


def _verify(args: argparse.Namespace) -> int:
    statuses = _store(args).verify()
    bad = [s for s in statuses if s.state not in ("ok", "override")]
    for st in statuses:
        print(f"{st.state:8} {st.name:28} {st.installed_sha256 or '-'}")  # noqa: T201  # reason: CLI output
    pack_problem = _verify_pack(args)
    if bad:
        print(f"kiosk: {len(bad)} model(s) missing or corrupt: run `kiosk models fetch --force`", file=sys.stderr)  # noqa: T201  # reason: CLI output
        return 2
    if pack_problem:
        print(f"kiosk: {pack_problem}", file=sys.stderr)  # noqa: T201  # reason: CLI output
        return 2
    return 0


def _verify_pack(args: argparse.Namespace) -> str | None:
    """Check the configured diffusion pack (every file against its sha256); the problem and its fix, or None."""
    from kiosk.config import load_config
    from models.diffusion.pack import load_pack
    from models.errors import ModelError

    cfg = load_config(args.config)
    g = cfg.generation
    pack_dir = g.resolved_pack_dir(cfg.models_dir)
    if not g.enabled:
        print(f"{'off':8} {'model pack':28} generation disabled (studio headshots only)")  # noqa: T201  # reason: CLI output
        return None
    if not (pack_dir / "manifest.json").exists() and g.pack_dir is None:
        print(f"{'none':8} {'model pack':28} {pack_dir}: studio headshots only (`kiosk models build-pack SOURCE`)")  # noqa: T201  # reason: CLI output
        return None
    try:
        pack = load_pack(pack_dir, verify="full")  # every file hashed; refreshes the start-up stamp
    except ModelError as err:
        print(f"{'corrupt':8} {'model pack':28} {err}")  # noqa: T201  # reason: CLI output
        return (
            f"the model pack at {pack_dir} cannot be used (guests get studio headshots meanwhile): "
            "rebuild it with `kiosk models build-pack SOURCE`, or re-pull it"
        )
    print(f"{'ok':8} {'model pack':28} {pack_dir} ({len(pack.manifest.files)} files)")  # noqa: T201  # reason: CLI output
    return None


def _list(args: argparse.Namespace) -> int:
    statuses = _store(args).verify()
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))  # noqa: T201  # reason: CLI output
    else:
        for st in statuses:
            print(f"{st.name:28} {st.state:8} {st.size:>9} B  {st.purpose}")  # noqa: T201  # reason: CLI output
    return 0
