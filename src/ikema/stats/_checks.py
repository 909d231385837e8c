"""Input validation shared by the statistical functions (clear IkemaError messages at the boundary)."""

from __future__ import annotations

import numpy as np

from ikema.errors import InputError, input_error


class StatsInputError(InputError):
    """Data given to a statistical method break its contract (times, events, arms, strata)."""


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _validated(time: object, event: object, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Float times (>= 0, finite) and 0/1 int8 events of equal length, before R's timefix."""
    t = np.asarray(time, dtype=float) if not isinstance(time, np.ndarray) or time.dtype != float else time
    if isinstance(event, np.ndarray) and event.dtype.kind in "biu":
        e_raw = event
    else:
        try:
            e_raw = np.asarray(event, dtype=float)
        except (TypeError, ValueError) as exc:
            raise StatsInputError(f"{source}: field event: values are not numeric ({exc}); expected 0 (censored) or 1 (event)") from None
    if t.ndim != 1 or e_raw.ndim != 1 or len(t) != len(e_raw):
        raise StatsInputError(f"{source}: time and event must be 1-D of equal length, got {t.shape} and {e_raw.shape}")
    if len(t) == 0:
        raise StatsInputError(f"{source}: no observations; expected at least one subject")
    lo, hi = t.min(), t.max()  # NaN propagates into both
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = ~np.isfinite(t)
        i = _first_bad(bad)
        raise _err(source, i, "time", t[i], "a finite, non-missing time >= 0")
    if lo < 0:
        i = _first_bad(t < 0)
        raise _err(source, i, "time", t[i], "a time >= 0")
    if e_raw.dtype == np.bool_ or e_raw.min() < 0 or e_raw.max() > 1 or (e_raw.dtype.kind == "f" and (e_raw % 1).any()):
        bad = ~((e_raw == 0) | (e_raw == 1))
        if bad.any():
            i = _first_bad(bad)
            raise _err(source, i, "event", event[i] if hasattr(event, "__getitem__") else e_raw[i], "0 (censored) or 1 (event)")
    return t, e_raw.astype(np.int8)


def check_times_events(time: object, event: object, source: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """Validated float times (>= 0, finite) and 0/1 integer events of equal length."""
    t, e = _validated(time, event, source)
    return aeq_times(t), e


def _timefix(y: np.ndarray, tolerance: float) -> np.ndarray:
    """Index of each sorted distinct time y into the distinct times left after aeqSurv merges near-equal ones."""
    if len(y) < 2:
        return np.zeros(len(y), np.int64)
    dy = np.diff(y)
    tied = (dy <= tolerance) | (dy / np.mean(np.abs(y)) <= tolerance)
    return np.r_[0, np.cumsum(~tied)]


def aeq_times(t: np.ndarray, tolerance: float = float(np.sqrt(np.finfo(float).eps))) -> np.ndarray:
    """Times that differ by no more than all.equal's tolerance made equal, as R survival's timefix (aeqSurv)."""
    y = np.unique(t)
    k = _timefix(y, tolerance)
    if len(y) < 2 or k[-1] == len(y) - 1:
        return t
    cuts = y[np.r_[True, k[1:] != k[:-1]]]
    return cuts[np.searchsorted(cuts, t, side="right") - 1]


def index_times(time: object, event: object, source: str = "input",
                tolerance: float = float(np.sqrt(np.finfo(float).eps))) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated data as (distinct times after R's timefix, ascending; each subject's index into them; 0/1 events)."""
    t, e = _validated(time, event, source)
    lo, hi = float(t.min()), float(t.max())
    if hi - lo <= 8 * len(t) + 1024 and lo == np.floor(lo) and hi < 2 ** 52:
        off = (t - lo).astype(np.int64)
        if (off == t - lo).all():
            # whole-number times (days): a count over the span and a lookup table, no sort and no search
            present = np.flatnonzero(np.bincount(off, minlength=int(hi - lo) + 1))
            y = present + lo
            k = _timefix(y, tolerance)
            lut = np.zeros(int(hi - lo) + 1, np.int64)
            lut[present] = k
            return _merged(y, k), lut[off], e
    y, inv = np.unique(t, return_inverse=True)
    k = _timefix(y, tolerance)
    return _merged(y, k), k[inv.reshape(-1)], e


def _merged(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The first of each run of distinct times that timefix made one."""
    return y[np.r_[True, k[1:] != k[:-1]]] if len(y) > 1 else y


def _err(source: str, record: int, field: str, value: object, expected: str) -> StatsInputError:
    value = value.item() if isinstance(value, np.generic) else value
    base = input_error(source, record, field, value, expected)
    return StatsInputError(str(base))


def codes(values: object, source: str, field: str) -> tuple[np.ndarray, list]:
    """Integer codes 0..k-1 and the sorted distinct labels of a 1-D array (missing values refused)."""
    import pandas as pd

    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.ndim == 1 and len(arr):
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo <= 4 * len(arr) + 1024:  # small-range integers (arms, strata): a count, no hash or sort
            off = arr.astype(np.int64, copy=False) - lo if lo else arr.astype(np.int64, copy=False)
            present = np.bincount(off, minlength=hi - lo + 1) > 0
            labels = (np.flatnonzero(present) + lo).astype(arr.dtype).tolist()
            if present.all():  # the codes are the values themselves
                return (off.copy() if off is arr else off), labels
            return (np.cumsum(present) - 1)[off], labels
    inv, labels = pd.factorize(arr, sort=True)
    if (inv < 0).any():
        i = _first_bad(inv < 0)
        raise _err(source, i, field, arr[i], "a non-missing value")
    return inv.astype(np.int64), list(labels.tolist())
