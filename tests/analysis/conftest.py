"""Fixtures of the analysis tests: a folder with CDISC pilot ADaM datasets (rconsortium-pilot1, XPT)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PILOT_ADAM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "rconsortium-pilot1" / "adam"


@pytest.fixture
def pilot_adam(tmp_path):
    """A function copying the named pilot datasets (e.g. 'adsl', 'adae') into tmp_path/adam; returns the folder."""
    def make(*names: str) -> Path:
        adam = tmp_path / "adam"
        adam.mkdir(exist_ok=True)
        for n in names:
            shutil.copy(PILOT_ADAM / f"{n}.xpt", adam / f"{n}.xpt")
        return adam
    return make
