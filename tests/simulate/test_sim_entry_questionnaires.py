"""Data entry of questionnaires: the item rows (one per answer) become one record per questionnaire. The fast path
(pandas codes instead of Python strings per row) must group and list exactly as a row-by-row reading does, also
where a value is missing (a missing value equals no other) or repeated across questionnaires."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ikema.simulate.entry import _questionnaires


def _by_rows(q: pd.DataFrame) -> list[tuple]:
    """The questionnaires read row by row: a new one wherever subject, day, instrument or visit changes."""
    out: list[tuple] = []
    prev = None
    for r in q.itertuples(index=False):
        key = (r.USUBJID, r.ADY, r.QSCAT, r.VISIT)
        same = prev is not None and all(a == b for a, b in zip(key, prev))  # NaN == NaN is False: a new one
        if not same:
            out.append((r.USUBJID, r.QSCAT, r.VISIT, r.ADY, {}))
        out[-1][4][r.QSTESTCD] = int(r.QSORRES)
        prev = key
    return out


def _frame(missing: bool) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for u in ("S-1", "S-2"):
        for ady, visit in ((1, "CYCLE 1 DAY 1"), (29, "CYCLE 2 DAY 1"), (29, "UNSCHEDULED")):
            for cat, items in (("C30", ("Q01", "Q02", "Q03")), ("EQ5D", ("MO", "VAS"))):
                rows.extend((u, ady, visit, cat, code, str(int(rng.integers(1, 5)))) for code in items)
    q = pd.DataFrame(rows, columns=["USUBJID", "ADY", "VISIT", "QSCAT", "QSTESTCD", "QSORRES"])
    if missing:
        q.loc[[3, 4], "VISIT"] = None  # two rows of one questionnaire without a visit: two questionnaires
    return q


@pytest.mark.parametrize("missing", [False, True])
def test_questionnaire_records_equal_a_row_by_row_reading(missing):
    q = _frame(missing)
    got = _questionnaires(q, lambda ids, ady: np.asarray(ady, dtype=object))
    want = _by_rows(q)
    assert len(got) == len(want) == (12 + (1 if missing else 0))
    for row, (u, cat, visit, ady, answers) in zip(got.itertuples(index=False), want):
        assert (row.usubjid, row.instrument, row.date) == (u, cat, ady)
        assert row.visit == visit or (pd.isna(row.visit) and pd.isna(visit))
        assert list(row.answers.items()) == list(answers.items())  # item order kept, answers as int
        assert all(type(v) is int for v in row.answers.values())
