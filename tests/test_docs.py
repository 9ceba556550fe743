"""The documentation stays true: generated pages current, every relative link alive, the README short."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK_RE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE_RE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_RE = re.compile(r"`[^`\n]*`")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def relative_links(path: Path) -> list[str]:
    """Link targets of a Markdown file that point into the repository (no URLs, no in-page anchors)."""
    text = CODE_RE.sub("", FENCE_RE.sub("", path.read_text(encoding="utf-8")))
    out = []
    for target in LINK_RE.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        out.append(target)
    return out


def test_reference_pages_are_current() -> None:
    from kiosk.docgen import stale

    assert stale() == [], f"{[str(p) for p in stale()]} differ from the generator: run `python -m kiosk.docgen`"


def test_docgen_check_names_the_stale_page(tmp_path: Path) -> None:
    from kiosk.docgen import CLI_PAGE, CONFIG_PAGE, stale, write

    assert write(tmp_path) == [CLI_PAGE, CONFIG_PAGE]
    assert stale(tmp_path) == []
    page = tmp_path / CONFIG_PAGE
    page.write_text(page.read_text(encoding="utf-8").replace("| `jpeg_quality` |", "| `jpeg_qualty` |"))
    assert stale(tmp_path) == [CONFIG_PAGE]
    assert write(tmp_path) == [CONFIG_PAGE]


def test_docgen_command_checks_the_committed_pages() -> None:
    proc = subprocess.run([sys.executable, "-m", "kiosk.docgen", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_reference_pages_cover_every_command_and_key() -> None:
    from kiosk.cli import build_parser
    from kiosk.configdoc import walk
    from kiosk.docgen import _subcommands

    cli = (ROOT / "docs/reference/cli.md").read_text(encoding="utf-8")
    todo = [("kiosk", build_parser())]
    while todo:
        path, parser = todo.pop()
        for name, _aliases, _help, sub in _subcommands(parser):
            assert f"# {path} {name}\n" in cli
            todo.append((f"{path} {name}", sub))
    config = (ROOT / "docs/reference/config.md").read_text(encoding="utf-8")
    for section in walk():
        if section.path:
            assert f"## [{section.path}]" in config
        for key in section.keys:
            assert f"| `{key.name}` |" in config


def test_benchmarks_page_is_current_with_the_stored_json() -> None:
    from bench.report import check

    stale = check()
    assert stale is None, f"{stale} differs from docs/dev/bench/*.json: run `python -m bench.report`"


def test_benchmark_page_renders_dates_machines_and_ratios() -> None:
    from bench.report import render

    page = render({
        "toy": {
            "benchmark": "toy", "date": "2026-01-02T03:04:05+00:00",
            "machine": {"cpu": "Test CPU", "arch": "x86_64", "cores": 2, "python": "3.11.7"},
            "run": {"command": "python -m bench.toy --repeat 3", "load_1min_before": 0.1, "load_1min_after": 1.5},
            "rows": [{"time_ratio_to_jpeg_floor": 2.0}, {"time_ratio_to_jpeg_floor": 3.5}],
            "floor_ms": 4.25, "ratio_total_over_floor": 1.25,
        },
    })  # fmt: skip
    assert "| [toy](#toy) | 2026-01-02T03:04:05+00:00 | Test CPU, x86_64, 2 cores, Python 3.11.7 | 1.5 busy |" in page
    assert "| `rows[].time_ratio_to_jpeg_floor` | 2–3.5 (2 items) |" in page
    assert "| `ratio_total_over_floor` | 1.25 |" in page
    assert "| `floor_ms` | 4.25 |" in page
    assert "`python -m bench.toy --repeat 3`" in page


def test_every_stored_benchmark_is_dated() -> None:
    from bench.report import load_results

    results = load_results()
    assert results, "no benchmark results stored under docs/dev/bench/"
    for name, result in results.items():
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", str(result.get("date", ""))), name


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path: Path) -> None:
    dead = []
    for target in relative_links(path):
        file_part = target.split("#", 1)[0]
        if file_part and not (path.parent / file_part).exists():
            dead.append(target)
    assert dead == [], f"{path.relative_to(ROOT)} links to missing files: {dead}"


def test_link_finder_sees_links_and_skips_code(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("[a](x.md) ![i](img/y.png#z) [w](https://e.org) [s](#sec) `[c](no.md)`\n"
                    "```\n[d](fenced.md)\n```\n")  # fmt: skip
    assert relative_links(page) == ["x.md", "img/y.png#z"]


def test_troubleshooting_covers_every_doctor_check() -> None:
    source = (ROOT / "kiosk/commands/doctor.py").read_text(encoding="utf-8")
    names = set(re.findall(r'Check\(\s*"([a-z]+)"', source)) | set(re.findall(r'_socket_check\("([a-z]+)"', source))
    page = (DOCS / "operator/troubleshooting.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ .*?`([a-z]+)`", page, re.M))
    assert names, "no checks found in doctor.py"
    assert names <= headings, f"doctor checks without a section in troubleshooting.md: {sorted(names - headings)}"


def test_readme_is_at_most_8_kb() -> None:
    assert (ROOT / "README.md").stat().st_size <= 8 * 1024
