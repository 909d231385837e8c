"""Shared fixtures of the outcome tests."""

from __future__ import annotations

import pandas as pd
import pytest
from outcomes_helpers import DATA, read_xpt


@pytest.fixture(scope="session")
def pilot_adsl() -> pd.DataFrame:
    """CDISC pilot ADSL (original 2013 package)."""
    return read_xpt(DATA / "cdiscpilot01-original" / "adam" / "adsl.xpt")


@pytest.fixture(scope="session")
def pilot_adae() -> pd.DataFrame:
    """CDISC pilot ADAE (original 2013 package)."""
    return read_xpt(DATA / "cdiscpilot01-original" / "adam" / "adae.xpt")
