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


def imported_packages(path: Path, root: Path) -> set[tuple[str, int]]:
    """Top-level names of every module `path` imports (any depth, relative ones resolved), with lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parts = list(path.relative_to(root).with_suffix("").parts)
    package_parts = parts[:-1]  # a module's package; for __init__.py that is its own folder too
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                target = base + (node.module or "").split(".") if base else (node.module or "").split(".")
            else:
                target = (node.module or "").split(".")
            found.add((target[0], node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add((arg.value.split(".")[0], node.lineno))
    return found


def violations(root: Path = ROOT) -> list[str]:
    """Every import that points up or sideways against the floors."""
    problems = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for top, line in sorted(imported_packages(path, root)):
                if top in FORBIDDEN[package]:
                    problems.append(f"{path.relative_to(root)}:{line} imports {top}")
    return problems


def test_imports_only_point_down() -> None:
    assert violations() == []


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
