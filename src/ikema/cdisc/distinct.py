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
    if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)) and isinstance(values.dtype, pd.StringDtype):
        return values.array if isinstance(values, pd.Series) else values
    return np.asarray(values)


def text_of(codes: np.ndarray, names) -> pd.api.extensions.ExtensionArray:
    """A text column (pandas' str, Arrow) of `codes` into `names` (codes from pd.factorize or the like): each
    distinct text converted once and spread by Arrow's take, not each record's text converted from Python."""
    return pd.array(np.asarray(names, dtype=object), dtype="str").take(np.asarray(codes))


def float_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(codes, texts) of f"{x:g}" of each float, written once per distinct bit pattern (0.0 and -0.0 apart)."""
    v = np.ascontiguousarray(values, dtype=float)
    codes, bits = pd.factorize(v.view(np.int64))
    return codes, np.array([f"{x:g}" for x in np.asarray(bits).view(float)], dtype=object)

