"""The floors of ARCHITECTURE.md: imports only point down. Walks every module's imports with ast."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kiosk", "calibration", "models", "firmware_bridge")
# package -> the other packages it must not import
FORBIDDEN = {
    "kiosk": set(),
    "calibration": {"kiosk"},
    "models": {"kiosk", "calibration", "firmware_bridge"},
    "firmware_bridge": {"kiosk", "calibration", "models"},
}


# Inside kiosk: the app's core (kiosk.app) builds on the parts; the touchscreen (kiosk.ui) builds on the core;
# commands and the entry points sit on top. A part never reaches up into the core, the screens or a command.
# (kiosk.config gathers every section's config, the core's too, so it is not a part.)
TOP = {"app", "ui", "commands", "cli", "demo", "docgen"}
KIOSK_FORBIDDEN = {
    "app": {"ui", "commands", "cli", "demo"},
    "ui": {"commands", "cli", "demo"},
    **{part: TOP for part in ("camera", "delivery", "generation", "pipeline", "session", "i18n")},
    **{module: TOP for module in ("config_base", "errors", "lights", "privacy", "status")},
}


def imported_modules(path: Path, root: Path) -> set[tuple[str, int]]:
    """Dotted names of every module `path` imports (any depth, relative ones resolved), with lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parts = list(path.relative_to(root).with_suffix("").parts)
    package_parts = parts[:-1]  # a module's package; for __init__.py that is its own folder too
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                target = base + (node.module or "").split(".") if base else (node.module or "").split(".")
            else:
                target = (node.module or "").split(".")
            found.add((".".join(t for t in target if t), node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add((arg.value, node.lineno))
    return found


def imported_packages(path: Path, root: Path) -> set[tuple[str, int]]:
    """Top-level names of every module `path` imports, with lines."""
    return {(name.split(".")[0], line) for name, line in imported_modules(path, root)}


def violations(root: Path = ROOT) -> list[str]:
    """Every import that points up or sideways against the floors."""
    problems = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for top, line in sorted(imported_packages(path, root)):
                if top in FORBIDDEN[package]:
                    problems.append(f"{path.relative_to(root)}:{line} imports {top}")
    return problems


def kiosk_violations(root: Path = ROOT) -> list[str]:
    """Every import inside kiosk from a part up into the core, the screens or a command."""
    problems = []
    for path in sorted((root / "kiosk").rglob("*.py")):
        rel = path.relative_to(root / "kiosk").with_suffix("").parts
        forbidden = KIOSK_FORBIDDEN.get(rel[0], set())
        for name, line in sorted(imported_modules(path, root)):
            parts = name.split(".")
            if parts[0] == "kiosk" and len(parts) > 1 and parts[1] in forbidden:
                problems.append(f"kiosk/{'/'.join(rel)}.py:{line} imports {name}")
    return problems


def test_imports_only_point_down() -> None:
    assert violations() == []
    assert kiosk_violations() == []


def test_the_checker_sees_violations_inside_kiosk(tmp_path: Path) -> None:
    sources = {
        "kiosk/delivery/bad.py": "def f():\n    from kiosk.app.controller import KioskController\n",
        "kiosk/app/bad.py": "from ..ui import screens\nfrom kiosk.session import store\n",
        "kiosk/ui/ok.py": "from kiosk.app import assemble\n",
        "kiosk/status.py": "import kiosk.commands.run\n",
    }
    for rel, text in sources.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert kiosk_violations(tmp_path) == [
        "kiosk/app/bad.py:1 imports kiosk.ui",
        "kiosk/delivery/bad.py:2 imports kiosk.app.controller",
        "kiosk/status.py:1 imports kiosk.commands.run",
    ]


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    for package in PACKAGES:
        (tmp_path / package / "sub").mkdir(parents=True)
    sources = {
        "firmware_bridge/bad.py": "def f():\n    from kiosk.config import load_config\n",
        "models/sub/rel.py": "from ...calibration import x\nfrom . import y\n",
        "firmware_bridge/dyn.py": "import importlib\nimportlib.import_module('models.x')\n",
        "calibration/ok.py": "import models.store\nfrom firmware_bridge import client\n",
        "kiosk/ok.py": "import calibration, models, firmware_bridge\n",
    }
    for rel, text in sources.items():
        (tmp_path / rel).write_text(text)
    assert violations(tmp_path) == [
        "models/sub/rel.py:1 imports calibration",
        "firmware_bridge/bad.py:2 imports kiosk",
        "firmware_bridge/dyn.py:2 imports models",
    ]
