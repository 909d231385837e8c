"""Builders for hand-worked IMWG patient histories used by the response and ADaM tests."""

from __future__ import annotations

import pandas as pd

from ikema.response import Criteria, evaluate

# IKEMA judges serum measurability at 0.5 g/dL (registry record NCT03275285, inclusion criteria).
IKEMA = Criteria.imwg().with_thresholds(serum_measurable=0.5, name="IMWG 2016, IKEMA measurable disease")
COLUMNS = ["USUBJID", "ADY", "PARAM", "AVAL", "AVALC"]


class History:
    """A patient's assessments written visit by visit: h.visit(day, SMPROT=1.2, SIFE="NEGATIVE")."""

    def __init__(self, usubjid: str = "P1") -> None:
        self.usubjid = usubjid
        self.rows: list[tuple] = []

    def visit(self, day: int, **results: float | str) -> "History":
        """Add the results of one day (numbers go to AVAL, text to AVALC)."""
        for param, value in results.items():
            if isinstance(value, str):
                self.rows.append((self.usubjid, day, param, None, value))
            else:
                self.rows.append((self.usubjid, day, param, float(value), ""))
        return self

    def frame(self) -> pd.DataFrame:
        """The long assessments table."""
        return pd.DataFrame(self.rows, columns=COLUMNS)


def frame_of(*histories: History) -> pd.DataFrame:
    """Concatenate several histories."""
    return pd.concat([h.frame() for h in histories], ignore_index=True)


def run(history: History | pd.DataFrame, criteria: Criteria = IKEMA, **kw):
    """Evaluate one history; returns (RESP list, CONFIRMED list, summary row as dict)."""
    df = history.frame() if isinstance(history, History) else history
    ev = evaluate(df, criteria, **kw)
    r = ev.responses
    s = ev.summary.iloc[0].to_dict()
    return list(r["RESP"]), list(r["CONFIRMED"]), s


def na(x) -> bool:
    """True if x is a missing value (pd.NA / NaN / None)."""
    return x is None or x is pd.NA or (isinstance(x, float) and x != x)
