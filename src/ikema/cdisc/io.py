"""CDISC datasets in and out: CSV, gzip CSV, SAS transport (XPT) and SAS7BDAT (pyreadstat), Parquet; chosen by file name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
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


def conform(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Dataset NAME as the metadata table describes it: its variables in the table's order, numbers as floats,
    dates as dates; a column the table does not describe, or a Req variable missing, is an InputError."""
    from ikema.cdisc.metadata import dataset

    meta = dataset(name)
    if meta.standard == "ADaM" and "DOMAIN" in df.columns:
        df = df.drop(columns="DOMAIN")  # carried from SDTM by the record-level derivations; ADaM has no DOMAIN
    extra = [c for c in df.columns if c not in meta.names]
    if extra:
        raise InputError(f"dataset {meta.name}: variables {extra} are not in the metadata table; "
                         f"expected only {meta.names}")
    missing = [v.name for v in meta.variables if v.core == "Req" and v.name not in df.columns]
    if missing:
        raise InputError(f"dataset {meta.name}: required variables {missing} are missing")
    out = df[[c for c in meta.names if c in df.columns]].copy()
    for v in meta.variables:
        if v.name not in out.columns:
            continue
        col = out[v.name]
        if v.type == "Num":
            if v.format.startswith("DATE") and not v.format.startswith("DATETIME"):
                out[v.name] = pd.to_datetime(col, errors="coerce").dt.normalize().astype("datetime64[ns]")
            elif v.format.startswith("DATETIME"):
                out[v.name] = pd.to_datetime(col, errors="coerce").astype("datetime64[ns]")
            else:
                kind = str(col.dtype)
                if kind.startswith("timedelta"):
                    col = col.dt.days
                try:
                    num = pd.to_numeric(col, errors="raise")
                    # integers stay integers in the CSV; nullable and object numbers become floats
                    out[v.name] = num if str(num.dtype) in ("int64", "float64") else num.astype(float)
                except (ValueError, TypeError):
                    bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
                    i = int(np.flatnonzero(bad.to_numpy())[0])
                    raise InputError(f"dataset {meta.name}, record {i + 1}, variable {v.name}: {col.iloc[i]!r}; "
                                     "expected a number") from None
        else:
            if str(col.dtype) == "bool":
                col = pd.Series(np.where(col, "Y", "N"), index=col.index)
            txt = col.astype(object).where(col.notna(), "").astype(str)
            num = pd.api.types.is_float_dtype(col.dtype)
            if num:  # a character variable held as numbers (e.g. a grade): 3.0 -> "3"
                txt = col.map(lambda x: "" if pd.isna(x) else f"{x:g}")
            out[v.name] = pd.Series(txt.to_numpy(dtype=object), index=out.index, dtype=object)  # pyreadstat iterates object faster
            too_long = txt.str.len() > (v.length or 200)
            if too_long.any():
                i = int(np.flatnonzero(too_long.to_numpy())[0])
                raise InputError(f"dataset {meta.name}, record {i + 1}, variable {v.name}: {txt.iloc[i]!r} has "
                                 f"{len(txt.iloc[i])} characters; expected at most {v.length or 200}")
    return out.reset_index(drop=True)


def write_xpt(df: pd.DataFrame, path: str | Path, name: str, conformed: bool = False) -> Path:
    """Write dataset NAME as SAS transport version 5 with the metadata table's dataset and variable labels,
    DATE9. / DATETIME20. formats on dates (SAS dates and datetimes), character lengths = the longest value.
    `conformed`: DF is already `conform(df, name)`'s result."""
    import pyreadstat

    from ikema.cdisc.metadata import dataset

    meta = dataset(name)
    x = df.copy() if conformed else conform(df, name)
    fmt: dict[str, str] = {}
    for v in meta.variables:
        if v.name in x.columns and v.type == "Num" and not v.format.startswith("DATE"):
            x[v.name] = x[v.name].astype(float)  # SAS numbers are doubles
        if v.name in x.columns and v.type == "Num" and v.format.startswith("DATE"):
            fmt[v.name] = v.format
            if not v.format.startswith("DATETIME"):  # a SAS date (days since 1960), not a datetime
                x[v.name] = pd.Series(x[v.name].dt.date, index=x.index, dtype=object).where(x[v.name].notna(), None)
    labels = {v.name: v.label for v in meta.variables if v.name in x.columns}
    p = Path(path)
    dates = {c for c, f in fmt.items() if not f.startswith("DATETIME")}
    records, widths = _xpt_records(x, dates) if len(x) > 1 else (None, {})
    try:
        # pyreadstat writes the headers; the records, when numpy can encode them (see _xpt_records), are written
        # after them: pyreadstat inserts cell by cell (seconds for half a million records), the bytes are the same
        head = x if records is None else _xpt_head_row(x, widths)
        pyreadstat.write_xport(head, str(p), file_label=meta.label, column_labels=labels, table_name=meta.name,
                               file_format_version=5, variable_format=fmt)
    except Exception as exc:  # pyreadstat reports unwritable columns here
        raise InputError(f"{p}: dataset {meta.name} cannot be written as SAS transport v5 ({exc})") from exc
    if records is not None:
        data = p.read_bytes()
        start = data.find(b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!") + 80
        body = records.tobytes()
        p.write_bytes(data[:start] + body + b" " * (-len(body) % 80))  # the last 80-byte line padded with blanks
    return p


_XPT_MISSING = np.frombuffer(b".\0\0\0\0\0\0\0", dtype=np.uint8)  # SAS transport's missing number


def _ibm_doubles(values: np.ndarray) -> np.ndarray | None:
    """IEEE doubles as IBM System/360 doubles (SAS transport), one row of 8 bytes each; missing (NaN) as '.'.
    Exact: IBM's 56-bit fraction holds IEEE's 53 bits at any hexadecimal shift. None when a value is infinite,
    subnormal or out of IBM's range (pyreadstat then writes the records)."""
    x = np.asarray(values, dtype=np.float64)
    bits = x.view(np.uint64)
    biased = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    nan, zero = np.isnan(x), x == 0
    normal = ~nan & ~zero
    if np.any(normal & ((biased == 0) | (biased == 0x7FF))):
        return None
    power = biased - 1075  # x = mantissa * 2**power, mantissa of 53 bits
    shift = np.mod(power, 4)
    exponent = (power - shift + 56) // 4 + 64  # x = fraction * 16**(exponent - 64), fraction of 56 bits
    if np.any(normal & ((exponent < 0) | (exponent > 127))):
        return None
    mantissa = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    word = ((bits >> np.uint64(63)) << np.uint64(63)) | (exponent.clip(0, 127).astype(np.uint64) << np.uint64(56)) \
        | (mantissa << shift.astype(np.uint64))
    word[~normal] = 0
    out = word.astype(">u8").view(np.uint8).reshape(-1, 8).copy()
    out[nan] = _XPT_MISSING
    return out


def _xpt_text(values: pd.Series) -> np.ndarray | None:
    """A character variable's records as blank-padded bytes (width: the longest value, at least 1); None unless
    every value is ASCII text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        a = pa.array(values.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if a.null_count or not pc.all(pc.string_is_ascii(a)).as_py():
        return None
    width = max(1, pc.max(pc.utf8_length(a)).as_py() or 0)
    padded = pc.utf8_rpad(a, width=width, padding=" ")
    data = padded.buffers()[2]
    return np.frombuffer(data, dtype=np.uint8, count=len(a) * width).reshape(len(a), width)


def _xpt_records(x: pd.DataFrame, dates: set[str]) -> tuple[np.ndarray | None, dict[str, int]]:
    """The observation records of a write_xpt frame as bytes (rows x record length) and the character variables'
    widths; None where a column is not plain numbers, dates (`dates`: SAS dates held as datetime.date), datetimes or
    ASCII text (pyreadstat then writes it)."""
    parts, widths = [], {}
    for c in x.columns:
        col = x[c]
        if c in dates:
            days = (pd.to_datetime(col) - pd.Timestamp("1960-01-01")).dt.days
            enc = _ibm_doubles(days.to_numpy(dtype=float, na_value=np.nan)) if col.notna().any() else None
        elif col.dtype == np.float64:
            enc = _ibm_doubles(col.to_numpy())
        elif str(col.dtype).startswith("datetime64") and col.notna().any():
            secs = (col - pd.Timestamp("1960-01-01")).dt.total_seconds()
            enc = _ibm_doubles(secs.to_numpy(dtype=float, na_value=np.nan))
        elif col.dtype == object:
            enc = _xpt_text(col)
            if enc is not None:
                widths[c] = enc.shape[1]
        else:
            enc = None
        if enc is None:
            return None, {}
        parts.append(enc)
    return (np.concatenate(parts, axis=1) if parts else None), widths


def _xpt_head_row(x: pd.DataFrame, widths: dict[str, int]) -> pd.DataFrame:
    """One record that gives pyreadstat the headers of all of `x`: each character variable as wide as its longest
    value (`widths`), every other variable as its first value (its type: a missing date would read as text)."""
    head = x.iloc[:1].copy()
    for c in x.columns:
        if c in widths:
            head[c] = "x" * widths[c]
        elif pd.isna(head[c].iloc[0]) and x[c].notna().any():
            head[c] = pd.Series([x[c].loc[x[c].first_valid_index()]], index=head.index, dtype=x[c].dtype)
    return head


def dataset_files(directory: str | Path) -> list[str]:
    """Names of the files in a directory that have a readable dataset format."""
    return sorted(p.name for p in Path(directory).iterdir() if p.is_file() and dataset_ext(p))


def write_dataset(df: pd.DataFrame, path: str | Path, label: str | None = None) -> Path:
    """Write any dataset as .csv or .xpt (SAS transport v5, no metadata) by extension; returns the path. The
    package's own datasets go through `write_xpt`, which takes names, labels and formats from the metadata table."""
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
