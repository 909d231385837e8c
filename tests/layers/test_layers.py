"""The layer rules of DESIGN.md, checked on every module's imports (module level and inside functions):
nothing below the top imports upward. `commands.py` modules are command-line glue and may call any layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ikema"

# package -> the ikema packages it must never import (DESIGN.md, "Dependencies point one way")
FORBIDDEN = {
    "protocol": {"conduct", "store", "simulate", "response", "cdisc", "stats", "analysis", "design", "report", "web", "pipeline", "cli"},
    "store": {"conduct", "simulate", "cdisc", "analysis", "design", "report", "web", "pipeline", "cli"},
    "stats": {"protocol", "conduct", "store", "simulate", "response", "cdisc", "analysis", "design", "report", "web", "pipeline", "cli"},
    "conduct": {"simulate", "cdisc", "analysis", "design", "report", "web", "pipeline", "cli"},
    "simulate": {"cdisc", "analysis", "design", "report", "web", "pipeline", "cli"},
    "cdisc": {"conduct", "simulate", "analysis", "design", "report", "web", "pipeline", "cli"},
    "analysis": {"simulate", "report", "web", "pipeline", "cli"},
    "report": {"simulate", "analysis", "web", "pipeline", "cli"},
}


def imported_packages(path: Path, root: Path = SRC) -> set[str]:
    """The first component under `ikema.` of every import in the file (absolute or relative)."""
    pkg = path.relative_to(root).parts
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = list(pkg[:-1])[: len(pkg) - node.level] if node.level > 1 else list(pkg[:-1])
                mod = ".".join(["ikema", *base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            names = [mod] + ([f"{mod}.{a.name}" for a in node.names] if mod == "ikema" else [])
        else:
            continue
        out |= {n.split(".")[1] for n in names if n.startswith("ikema.")}
    return out


def violations(package: str, root: Path = SRC) -> list[str]:
    found = []
    for f in sorted((root / package).rglob("*.py")):
        if f.name == "commands.py" or f.name.endswith("_commands.py"):
            continue
        for up in sorted(imported_packages(f, root) & FORBIDDEN[package]):
            found.append(f"{f.relative_to(root)} imports ikema.{up}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_import(package):
    assert violations(package) == []


def test_the_check_sees_an_upward_import(tmp_path):
    assert "protocol" in imported_packages(SRC / "simulate" / "safety.py")
    # function-level, `from ikema import x` and relative imports are all read
    (tmp_path / "simulate").mkdir()
    (tmp_path / "simulate" / "probe.py").write_text(
        "def f():\n    from ikema import analysis\n    import ikema.report.common\n    from ..cdisc import adam\n")
    (tmp_path / "simulate" / "commands.py").write_text("from ikema.pipeline import replicate\n")
    assert imported_packages(tmp_path / "simulate" / "probe.py", tmp_path) == {"analysis", "report", "cdisc"}
    assert violations("simulate", tmp_path) == [f"simulate/probe.py imports ikema.{p}" for p in ("analysis", "cdisc", "report")]
