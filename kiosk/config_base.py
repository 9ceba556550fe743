"""The one base of every kiosk config section, and the checks several sections share.

:class:`ConfigSection` forbids unknown keys, freezes values and reads scalars strictly: a TOML boolean is
never an integer (``max_downloads = true`` is refused, not read as 1), a string is never a number or a
boolean (``"5"``, ``"yes"``), an integer is never a string. Paths still come from TOML strings, and a float
field takes an integer (``timeout_s = 20``). Single-line text fields refuse control characters (CR/LF
could inject e-mail headers); a field whose ``json_schema_extra`` has ``multiline`` may hold newlines.

Kept free of `kiosk.config` (which imports every section) and of anything heavy: each section's module
imports this one.
"""

from __future__ import annotations

import os
import re
import stat
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and LF allowed; CR never
# A pattern repeated inside a repeat, or an alternation repeated, can take exponential time to fail.
MAX_PATTERN_LENGTH = 200
MAX_PATTERN_REPEATS = 4


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return type(value).__name__


def _scalar_problem(annotation: Any, value: Any, multiline: bool) -> str | None:
    """Why value does not fit annotation strictly, or None (None also when pydantic should decide)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _scalar_problem(typing.get_args(annotation)[0], value, multiline)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(annotation)
        if value is None and type(None) in arms:
            return None
        problems = [_scalar_problem(a, value, multiline) for a in arms if a is not type(None)]
        return None if any(p is None for p in problems) else problems[0]
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return None  # pydantic says "should be a valid list"
        inner = typing.get_args(annotation)
        for item in value:
            problem = _scalar_problem(inner[0], item, multiline) if inner else None
            if problem:
                return problem
        return None
    if annotation is bool:
        return None if isinstance(value, bool) else f"must be true or false (a TOML boolean), not {_describe(value)}"
    if annotation is int:
        if type(value) is int:
            return None
        return f"must be a whole number (a TOML integer), not {_describe(value)}"
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None
        return f"must be a number, not {_describe(value)}"
    if annotation is str:
        if not isinstance(value, str):
            return f"must be text (a TOML string), not {_describe(value)}"
        if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
            return "must not contain control characters (CR, LF, NUL...): write it on one line"
        return None
    if annotation is Path or origin is Literal:
        if isinstance(value, bool | int | float):
            return f"must be text (a TOML string), not {_describe(value)}"
        if isinstance(value, str) and "\x00" in value:
            return "must not contain a NUL character"
    return None


class ConfigSection(BaseModel):
    """Base of every kiosk config section: unknown keys are errors, values immutable, scalars strict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None:
            return value
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        problem = _scalar_problem(field.annotation, value, bool(extra.get("multiline")))
        if problem:
            raise ValueError(problem)
        return value


def secret_file_problem(path: Path) -> str | None:
    """Why a file holding a secret (password, token, private key) is unsafe to use, or None.

    A missing file is not refused here (it is reported where it is read, with its own fix); a file that
    every user of the machine may read is.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    if st.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        return f"{path} is readable or writable by every user: run `chmod 600 {path}`"
    return None


def _secret(path: Path) -> Path:
    problem = secret_file_problem(path)
    if problem:
        raise ValueError(problem)
    return path


# A path to a file holding a secret: refused when every user of the machine may read it.
SecretFile = Annotated[Path, AfterValidator(_secret)]


def read_secret(path: Path, key: str) -> str:
    """The stripped text of a secret file; ValueError naming key when it is unsafe or unreadable."""
    problem = secret_file_problem(path)
    if problem:
        raise ValueError(f"{key}: {problem}")
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {key} {path}: {getattr(err, 'strerror', None) or err}") from err


def pattern_problem(pattern: str) -> str | None:
    """Why a regular expression could take too long to match (or is invalid), or None.

    Python's backtracking engine takes exponential time on a repeat inside a repeat (``(a+)+``) or a
    repeated alternation (``(a|aa)*``), and polynomial time of high degree on many adjacent repeats; all
    three are refused, as are back-references and look-arounds, and patterns over 200 characters.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is {len(pattern)} characters long; keep it under {MAX_PATTERN_LENGTH}"
    try:
        import re._parser as sre_parse  # CPython's own parser (3.11+)

        tree = sre_parse.parse(pattern)
    except re.error as err:
        return f"is not a valid regular expression: {err}"
    from re._constants import (  # CPython's own opcodes (3.11+)
        ASSERT,
        ASSERT_NOT,
        BRANCH,
        GROUPREF,
        GROUPREF_EXISTS,
        MAX_REPEAT,
        MIN_REPEAT,
        POSSESSIVE_REPEAT,
        SUBPATTERN,
    )

    repeats = 0

    def walk(items: Any, inside_repeat: bool) -> str | None:
        nonlocal repeats
        for op, arg in items:
            if op in (GROUPREF, GROUPREF_EXISTS):
                return "uses a back-reference: match the identity with plain character classes"
            if op in (ASSERT, ASSERT_NOT):
                return "uses a look-around: match the identity with plain character classes"
            if op in (MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT):
                lo, hi, body = arg
                if hi != lo:
                    repeats += 1
                if inside_repeat and hi > 1:
                    return "repeats a group that itself repeats (like (a+)+): that can take exponential time"
                problem = walk(body, inside_repeat or hi > 1)
            elif op is BRANCH:
                if inside_repeat:
                    return "repeats an alternation (like (a|b)+): use a character class [ab]+ instead"
                problem = next((p for b in arg[1] if (p := walk(b, inside_repeat))), None)
            elif op is SUBPATTERN:
                problem = walk(arg[-1], inside_repeat)
            else:
                problem = None
            if problem:
                return problem
        return None

    problem = walk(tree, False)
    if problem is None and repeats > MAX_PATTERN_REPEATS:
        return f"has {repeats} variable repeats; at most {MAX_PATTERN_REPEATS} keep matching fast"
    return problem


def one_line(value: str) -> bool:
    """Whether text holds no control character (safe in a header line)."""
    return _CONTROL.search(value) is None
