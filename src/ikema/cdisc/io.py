"""CDISC datasets in and out: CSV or SAS transport (XPT, via pyreadstat), chosen by file extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ikema.errors import InputError

_EXTS = (".xpt", ".csv")


def read_dataset(path: str | Path) -> pd.DataFrame:
    """Read one dataset from a .csv or .xpt file (character variables kept as text, blanks as missing)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found; expected a .csv or .xpt dataset")
    ext = p.suffix.lower()
    try:
        if ext == ".csv":
            return pd.read_csv(p, keep_default_na=False, na_values=[""])
        if ext == ".xpt":
            import pyreadstat

            df, _ = pyreadstat.read_xport(str(p))
            for c in df.columns:
                if df[c].dtype == object or str(df[c].dtype).startswith(("string", "str")):
                    df[c] = df[c].astype(object).where(df[c].astype(object) != "", None)
            return df
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"{p}: cannot be read as {ext[1:].upper()} ({exc})") from None
    raise InputError(f"{p}: extension {ext!r} not supported; expected .csv or .xpt")


def find_dataset(directory: str | Path, name: str) -> Path | None:
    """Path of dataset NAME (e.g. 'adsl') in a directory as .xpt or .csv, any case (the .csv when both); None if absent."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"{d}: not a directory; expected a folder holding ADaM datasets")
    want = {f"{name.lower()}{e}" for e in _EXTS}
    hits = sorted(p for p in d.iterdir() if p.is_file() and p.name.lower() in want)
    if len(hits) == 2 and {h.suffix.lower() for h in hits} == set(_EXTS):
        # both, as `ikema cut` and the demo write them: the CSV keeps every number exactly (XPT's IBM floats round)
        return next(h for h in hits if h.suffix.lower() == ".csv")
    if len(hits) > 1:
        raise InputError(f"{d}: dataset {name.upper()} present as {[h.name for h in hits]}; expected exactly one file")
    return hits[0] if hits else None


def write_dataset(df: pd.DataFrame, path: str | Path, label: str | None = None) -> Path:
    """Write a dataset as .csv or .xpt (SAS transport v5) by extension; returns the path."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".csv":
        df.to_csv(p, index=False)
    elif ext == ".xpt":
        import pyreadstat

        pyreadstat.write_xport(df, str(p), table_name=p.stem.upper()[:8], file_label=label or "")
    else:
        raise InputError(f"{p}: extension {ext!r} not supported; expected .csv or .xpt")
    return p
