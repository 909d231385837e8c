"""Helpers of the outcome tests: paths to the public CDISC data under ../shared/data, XPT and RTF readers."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def read_xpt(path: Path) -> pd.DataFrame:
    """Read a SAS transport file as strings/floats (latin-1 text)."""
    return pd.read_sas(path, format="xport", encoding="latin1")


def rtf_table_rows(path: Path) -> list[list[str]]:
    """Cells of every table row of an RTF file written by R's r2rtf/huxtable-style writers (control words removed)."""
    text = path.read_text(encoding="latin1")
    rows = []
    for m in re.finditer(r"\\trowd(.*?)\\row", text, re.S):
        cells = re.findall(r"\\pard\\intbl\\q[lrcj]\{(.*?)\}\\cell", m.group(1), re.S)
        clean = []
        for c in cells:
            c = re.sub(r"\\line ?", " ", c)
            c = re.sub(r"\\[a-zA-Z]+-?\d* ?", "", c)
            clean.append(c.replace("{", "").replace("}", "").strip())
        rows.append(clean)
    return rows


