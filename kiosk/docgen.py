"""The generated reference pages: docs/reference/cli.md from the argument parser, config.md from the schema.

    python -m kiosk.docgen            # write both pages
    python -m kiosk.docgen --check    # exit 1 naming each stale page (tests/test_docs.py runs this check)

The CLI page walks `kiosk.cli.build_parser()`: every command and subcommand, its help, its usage and each
argument with its default and choices. The config page renders `kiosk.configdoc.walk()`, the same walk of
the pydantic models that `kiosk config sample` prints: every key with its type, default, bounds and
description, section by section, tagged-union variants (``[camera]``, ``[generation.runtime]``) included.
Neither page depends on the machine: a default computed at start-up (the data folder) is shown as the
docstring of the function that computes it.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic.fields import FieldInfo

REPO = Path(__file__).resolve().parents[1]
CLI_PAGE = Path("docs/reference/cli.md")
CONFIG_PAGE = Path("docs/reference/config.md")
USAGE_WIDTH = 100  # usage lines are wrapped here, whatever the terminal's width


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return " ".join(text.split()).replace("|", "\\|")


# --- the CLI page ------------------------------------------------------------------------------------------


def _usage(parser: argparse.ArgumentParser) -> str:
    fmt = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    fmt.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return fmt.format_help().strip()


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, list[str], str, argparse.ArgumentParser]]:
    """(name, aliases, help, parser) of each subcommand, once each, in registration order."""
    out: list[tuple[str, list[str], str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        seen: dict[int, int] = {}
        for name, sub in action.choices.items():
            if id(sub) in seen:
                out[seen[id(sub)]][1].append(name)
                continue
            seen[id(sub)] = len(out)
            out.append((name, [], helps.get(name, ""), sub))
    return out


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    fmt = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction | argparse._SubParsersAction) or a.help == argparse.SUPPRESS:
            continue
        takes_value = a.nargs != 0
        metavar = a.metavar if a.metavar is not None else a.dest.upper() if a.option_strings else a.dest
        metavar = " ".join(metavar) if isinstance(metavar, tuple) else str(metavar)
        name = ", ".join(a.option_strings) + (f" {metavar}" if takes_value else "") if a.option_strings else metavar
        count = {"?": "optional", "*": "zero or more", "+": "one or more"}.get(str(a.nargs), "")
        helptext = fmt._expand_help(a) if a.help and "%(" in a.help else (a.help or "")
        notes = []
        if count and not a.option_strings:
            notes.append(count)
        if a.choices is not None:
            notes.append("one of " + ", ".join(f"`{c}`" for c in a.choices))
        if takes_value and a.default not in (None, argparse.SUPPRESS, []):
            notes.append(f"default `{a.default}`")
        if a.required and a.option_strings:
            notes.append("required")
        rows.append(f"| `{_cell(name)}` | {_cell(helptext)} | {_cell('; '.join(notes))} |")
    return rows


def _command_section(path: str, parser: argparse.ArgumentParser, helptext: str, aliases: list[str],
                     depth: int) -> list[str]:  # fmt: skip
    lines = ["", f"{'#' * min(depth, 4)} {path}", ""]
    if helptext:
        lines += [helptext[:1].upper() + helptext[1:] + ("" if helptext.endswith(".") else "."), ""]
    if parser.description and parser.description != helptext:
        lines += [parser.description, ""]
    if aliases:
        lines += ["Also spelled: " + ", ".join(f"`{path.rsplit(' ', 1)[0]} {a}`" for a in aliases) + ".", ""]
    lines += ["```", _usage(parser), "```"]
    rows = _argument_rows(parser)
    if rows:
        lines += ["", "| argument | meaning | notes |", "|---|---|---|", *rows]
    subs = _subcommands(parser)
    if subs:
        lines += ["", "| subcommand | what it does |", "|---|---|"]
        lines += [f"| [`{path} {n}`](#{_anchor(f'{path} {n}')}) | {_cell(h)} |" for n, _, h, _ in subs]
        for name, sub_aliases, sub_help, sub in subs:
            lines += _command_section(f"{path} {name}", sub, sub_help, sub_aliases, depth + 1)
    return lines


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading of plain words."""
    return "-".join(heading.lower().split())


def cli_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The CLI reference page."""
    if parser is None:
        from kiosk.cli import build_parser

        parser = build_parser()
    lines = [
        f"# `{parser.prog}` command reference",
        "",
        "<!-- Generated by `python -m kiosk.docgen` from kiosk/cli.py's parser: edit the commands, not this. -->",
        "",
        parser.description or "",
        "",
        "Every command exits 0 on success, 2 on bad input (one line on stderr saying what to fix), 1 on an",
        "internal failure, 130 on Ctrl-C and 143 on SIGTERM (see `kiosk/cli.py`). The global options go before",
        "the command: `kiosk --config /etc/headshot-kiosk/kiosk.toml doctor`.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    subs = _subcommands(parser)
    lines += [f"| [`{parser.prog} {n}`](#{_anchor(f'{parser.prog} {n}')}) | {_cell(h)} |" for n, _, h, _ in subs]
    lines += ["", "## Global options", "", "```", _usage(parser), "```", ""]
    lines += ["| argument | meaning | notes |", "|---|---|---|", *_argument_rows(parser)]
    for name, aliases, helptext, sub in subs:
        lines += _command_section(f"{parser.prog} {name}", sub, helptext, aliases, 2)
    return "\n".join(lines) + "\n"


# --- the config page ---------------------------------------------------------------------------------------

_SCALARS: dict[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "text", Path: "path"}


def _type_name(annotation: Any) -> str:
    """A reader's name for a field's type, such as `integer`, `list of text` or `path`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        arms = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(arms))
    if origin is Literal:
        kinds = {type(v) for v in args}
        return _SCALARS.get(kinds.pop(), "value") if len(kinds) == 1 else "value"
    if origin in (list, tuple, set, frozenset):
        return f"list of {_type_name(args[0])}" if args else "list"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _literals(annotation: Any) -> list[Any]:
    """The values a Literal (possibly inside a list, an Optional or an Annotated) allows."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return list(args)
    if origin in (typing.Annotated, list, tuple, set, frozenset, typing.Union, types.UnionType):
        return [v for a in args for v in _literals(a)]
    return []


def _bounds(info: FieldInfo) -> list[str]:
    """What the schema allows beyond the type: bounds, lengths, patterns, fixed choices."""
    from kiosk.configdoc import toml_value

    out: list[str] = []
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    for meta in info.metadata:
        for attr, sign in words.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
        unit = "items" if _type_name(info.annotation).startswith("list") else "characters"
        lo, hi = getattr(meta, "min_length", None), getattr(meta, "max_length", None)
        if lo is not None:
            out.append(f"at least {lo} {unit}")
        if hi is not None:
            out.append(f"at most {hi} {unit}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            out.append(f"matches `{pattern}`")
    choices = _literals(info.annotation)
    if choices:
        out.append("one of " + ", ".join(f"`{toml_value(c)}`" for c in choices))
    return out


def _default(info: FieldInfo, value: Any) -> str:
    """The default as TOML; a value computed at start-up by a documented function, as its docstring."""
    from kiosk.configdoc import toml_value

    factory = info.default_factory
    doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
    if factory is not None and doc:
        return doc[0]
    if isinstance(value, list | tuple):
        items = [toml_value(v) for v in value]
        return f"`[{', '.join(i for i in items if i is not None)}]`"
    rendered = toml_value(value)
    return "unset" if rendered is None else f"`{rendered}`"


def _selector(keys: Sequence[Any]) -> str | None:
    """`key = "value"` of the key that selects a tagged-union variant (a Literal of one value), if any."""
    from kiosk.configdoc import toml_value

    for key in keys:
        if typing.get_origin(key.info.annotation) is Literal and len(typing.get_args(key.info.annotation)) == 1:
            return f"{key.name} = {toml_value(typing.get_args(key.info.annotation)[0])}"
    return None


def config_markdown(config_cls: type[Any] | None = None) -> str:
    """The config reference page."""
    from kiosk.configdoc import walk

    sections = list(walk(config_cls))
    counts: dict[str, int] = {}
    for s in sections:
        counts[s.path] = counts.get(s.path, 0) + 1
    lines = [
        "# `kiosk.toml` reference",
        "",
        "<!-- Generated by `python -m kiosk.docgen` from the config models (kiosk/configdoc.py walks them): "
        "edit the models, not this. -->",
        "",
        "One TOML file configures the kiosk: `--config PATH`, else `$KIOSK_CONFIG`, else `<data_dir>/kiosk.toml`",
        "(no file: every default). Every key is optional; an unknown key, a value of the wrong type (`true` for",
        "a number, `\"5\"` for an integer) or one outside its bounds is an error that names the key:",
        "`kiosk config check [PATH]` exits 2 with that line. `kiosk config sample` prints every key with its",
        "default as a file to start from. How to use the important sections:",
        "[configure.md](../operator/configure.md).",
        "",
        "| section | what it holds |",
        "|---|---|",
    ]
    listed: set[str] = set()
    for s in sections:
        if s.path and s.path not in listed:
            listed.add(s.path)
            lines.append(f"| [`[{s.path}]`](#{s.path.replace('.', '')}) | {_cell(s.doc or '')} |")
    for s in sections:
        if not s.path:
            title, doc = "Top-level keys", "Keys outside any table, at the top of the file."
        elif s.alternative:
            selector = _selector(s.keys)
            title = f"[{s.path}] with {selector}" if selector else f"[{s.path}], alternative"
            doc = (s.doc or "").removeprefix("Alternative: ")
        else:
            title, doc = f"[{s.path}]", s.doc or ""
            selector = _selector(s.keys) if counts[s.path] > 1 else None
            if selector:
                doc += f" Below: the default variant, `{selector}`; the other variants follow."
        lines += ["", f"## {title}", "", doc.strip(), ""]
        if not s.keys:
            lines.append("No keys of its own: see its sub-sections.")
            continue
        lines += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
        for key in s.keys:
            allowed = "; ".join(_bounds(key.info))
            lines.append(
                f"| `{key.name}` | {_type_name(key.info.annotation)} | {_cell(_default(key.info, key.default))} "
                f"| {_cell(allowed)} | {_cell(key.info.description or '')} |"
            )
    return "\n".join(lines) + "\n"


# --- the command -------------------------------------------------------------------------------------------

PAGES: dict[Path, Callable[[], str]] = {CLI_PAGE: cli_markdown, CONFIG_PAGE: config_markdown}


def stale(root: Path = REPO) -> list[Path]:
    """The generated pages whose committed text differs from what the generator makes now."""
    out = []
    for rel, make in PAGES.items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != make():
            out.append(rel)
    return out


def write(root: Path = REPO) -> list[Path]:
    """Write every generated page; return those whose text changed."""
    changed = []
    for rel, make in PAGES.items():
        path = root / rel
        text = make()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(rel)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m kiosk.docgen [--check]`: write the reference pages, or exit 1 naming the stale ones."""
    ap = argparse.ArgumentParser(prog="python -m kiosk.docgen", description="Generate docs/reference/*.md.")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale page")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale()
        for rel in bad:
            print(f"{rel} is stale: run `python -m kiosk.docgen`", file=sys.stderr)  # noqa: T201  # reason: the command's report
        return 1 if bad else 0
    for rel in write():
        print(f"wrote {rel}", file=sys.stderr)  # noqa: T201  # reason: the command's report
    return 0


if __name__ == "__main__":
    sys.exit(main())
