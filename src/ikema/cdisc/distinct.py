"""Work done once per distinct value and spread back to every record: trial data repeat (a few thousand distinct
dates and a few hundred subjects across a million records), and pandas' per-record conversions (dates, text)
cost about a microsecond a record."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def per_distinct(values: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`convert` (a Series -> a Series of the same length) applied to the distinct values of `values` once (missing
    values included), spread back to every record; the index and name are `values`'."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    done = convert(pd.Series(distinct, name=values.name))
    return pd.Series(done.array.take(codes), index=values.index, name=values.name)


def held(values) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Values for a new column: a text column as it is held (Arrow), not a round trip through Python objects."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        return values.array
    return np.asarray(values)
