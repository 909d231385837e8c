"""CDISC datasets in and out: CSV, gzip CSV, SAS transport (XPT) and SAS7BDAT (pyreadstat), Parquet; chosen by file name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ikema.errors import InputError

# readable dataset formats, by the file name's ending
_EXTS = (".xpt", ".csv", ".csv.gz", ".sas7bdat", ".parquet")
_FORMATS = {".xpt": "SAS transport (XPT)", ".csv": "CSV", ".csv.gz": "gzip CSV", ".sas7bdat": "SAS7BDAT",
            ".parquet": "Parquet"}


def dataset_ext(path: str | Path) -> str:
    """The dataset format ending of a file name (.xpt, .csv, .csv.gz, .sas7bdat, .parquet), '' if none."""
    name = Path(path).name.lower()
    return next((e for e in sorted(_EXTS, key=len, reverse=True) if name.endswith(e)), "")


def _blank_to_none(df: pd.DataFrame) -> pd.DataFrame:
    for c in df.columns:
        if df[c].dtype == object or str(df[c].dtype).startswith(("string", "str")):
            df[c] = df[c].astype(object).where(df[c].astype(object) != "", None)
    return df


def read_dataset(path: str | Path) -> pd.DataFrame:
    """Read one dataset from CSV, gzip CSV, XPT, SAS7BDAT or Parquet (character variables as text, blanks as missing)."""
    import pyreadstat

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found; expected a dataset file ({', '.join(_EXTS)})")
    ext = dataset_ext(p)
    if not ext:
        raise InputError(f"{p}: file name ending {p.suffix!r} not supported; expected one of {', '.join(_EXTS)}")
    try:
        if ext in (".csv", ".csv.gz"):
            return pd.read_csv(p, keep_default_na=False, na_values=[""], compression="gzip" if ext == ".csv.gz" else None)
        if ext == ".xpt":
            return _blank_to_none(pyreadstat.read_xport(str(p))[0])
        if ext == ".sas7bdat":
            return _blank_to_none(pyreadstat.read_sas7bdat(str(p))[0])
        return _blank_to_none(pd.read_parquet(p))
    except (ValueError, OSError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError,
            pyreadstat.ReadstatError) as exc:
        raise InputError(f"{p}: cannot be read as {_FORMATS[ext]} ({type(exc).__name__}: {exc})") from None


def find_dataset(directory: str | Path, name: str) -> Path | None:
    """Path of dataset NAME (e.g. 'adsl') in a directory in any readable format, any case (the .csv when it comes
    with an .xpt only); None if absent."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"{d}: not a directory; expected a folder holding ADaM datasets")
    want = {f"{name.lower()}{e}" for e in _EXTS}
    hits = sorted(p for p in d.iterdir() if p.is_file() and p.name.lower() in want)
    if len(hits) == 2 and {dataset_ext(h) for h in hits} == {".csv", ".xpt"}:
        # both, as `ikema cut` and the demo write them: the CSV keeps every number exactly (XPT's IBM floats round)
        return next(h for h in hits if dataset_ext(h) == ".csv")
    if len(hits) > 1:
        raise InputError(f"{d}: dataset {name.upper()} present as {[h.name for h in hits]}; expected exactly one file")
    return hits[0] if hits else None


def dataset_files(directory: str | Path) -> list[str]:
    """Names of the files in a directory that have a readable dataset format."""
    return sorted(p.name for p in Path(directory).iterdir() if p.is_file() and dataset_ext(p))


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
