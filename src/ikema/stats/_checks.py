"""Input validation shared by the statistical functions (clear IkemaError messages at the boundary)."""

from __future__ import annotations

import numpy as np

from ikema.errors import InputError, input_error


class StatsInputError(InputError):
    """Data given to a statistical method break its contract (times, events, arms, strata)."""


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_times_events(time: object, event: object, source: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """Validated float times (>= 0, finite) and 0/1 integer events of equal length."""
    t = np.asarray(time, dtype=float) if not isinstance(time, np.ndarray) or time.dtype != float else time
    try:
        e_raw = np.asarray(event, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"{source}: field event: values are not numeric ({exc}); expected 0 (censored) or 1 (event)") from None
    if t.ndim != 1 or e_raw.ndim != 1 or len(t) != len(e_raw):
        raise StatsInputError(f"{source}: time and event must be 1-D of equal length, got {t.shape} and {e_raw.shape}")
    if len(t) == 0:
        raise StatsInputError(f"{source}: no observations; expected at least one subject")
    bad = ~np.isfinite(t)
    if bad.any():
        i = _first_bad(bad)
        raise _err(source, i, "time", t[i], "a finite, non-missing time >= 0")
    bad = t < 0
    if bad.any():
        i = _first_bad(bad)
        raise _err(source, i, "time", t[i], "a time >= 0")
    bad = ~((e_raw == 0) | (e_raw == 1))
    if bad.any():
        i = _first_bad(bad)
        raise _err(source, i, "event", event[i] if hasattr(event, "__getitem__") else e_raw[i], "0 (censored) or 1 (event)")
    return aeq_times(t), e_raw.astype(np.int8)


def aeq_times(t: np.ndarray, tolerance: float = float(np.sqrt(np.finfo(float).eps))) -> np.ndarray:
    """Times that differ by no more than all.equal's tolerance made equal, as R survival's timefix (aeqSurv)."""
    y = np.unique(t)
    if len(y) < 2:
        return t
    dy = np.diff(y)
    tied = (dy <= tolerance) | (dy / np.mean(np.abs(y)) <= tolerance)
    if not tied.any():
        return t
    cuts = y[np.r_[True, ~tied]]
    return cuts[np.searchsorted(cuts, t, side="right") - 1]


def _err(source: str, record: int, field: str, value: object, expected: str) -> StatsInputError:
    value = value.item() if isinstance(value, np.generic) else value
    base = input_error(source, record, field, value, expected)
    return StatsInputError(str(base))


def codes(values: object, source: str, field: str) -> tuple[np.ndarray, list]:
    """Integer codes 0..k-1 and the sorted distinct labels of a 1-D array (missing values refused)."""
    import pandas as pd

    inv, labels = pd.factorize(np.asarray(values), sort=True)
    if (inv < 0).any():
        i = _first_bad(inv < 0)
        raise _err(source, i, field, np.asarray(values)[i], "a non-missing value")
    return inv.astype(np.int64), list(labels.tolist())
