"""The one metadata table of the SDTM and ADaM package (SDTMIG 3.4, ADaMIG 1.3): what the XPT writer, define.xml
and the conformance tests are all built from.

Files beside this module (CSV, one row each):
  datasets.csv      standard (SDTM | ADaM), dataset, label, class, structure, keys (comma-separated), repeating
  variables_sdtm.csv, variables_adam.csv
                    dataset, variable, label, type (Char | Num), length (the most a value may hold; the file's
                    length is the longest value), format (DATE9., DATETIME20., ISO8601), origin (Collected,
                    Derived, Assigned, Protocol, Predecessor), codelist, core (Req | Exp | Perm | Cond),
                    derivation (method, or for a Predecessor the source DOMAIN.VARIABLE). Row order = variable
                    order in the dataset. A Predecessor with a blank label takes label, type, length and codelist
                    of its SDTM source.
  codelists.csv     codelist, name, term, decode: the controlled terms carried (CDISC CT subsets and sponsor lists)
  parameters.csv    dataset, paramcd, param, paramn, unit, source: the ADaM parameters (value-level metadata);
                    they are also the codelists PARAMCD.<dataset> and PARAM.<dataset>.
Trial-specific codelists (arms, epochs, elements) come from the protocol file (`trial_codelists`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from ikema.errors import InputError

HERE = Path(__file__).parent
TYPES = ("Char", "Num")
CORES = ("Req", "Exp", "Perm", "Cond")


@dataclass(frozen=True)
class Variable:
    """One variable of one dataset as the metadata table describes it."""

    dataset: str
    name: str
    label: str
    type: str
    length: int
    format: str
    origin: str
    codelist: str
    core: str
    derivation: str


@dataclass(frozen=True)
class Dataset:
    """One dataset: its label, class, structure, key variables and variables in order."""

    standard: str
    name: str
    label: str
    cls: str
    structure: str
    keys: tuple[str, ...]
    repeating: bool
    variables: tuple[Variable, ...] = field(default=())

    def var(self, name: str) -> Variable:
        """The variable NAME of this dataset (KeyError if the table does not describe it)."""
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.name}.{name}")

    @property
    def names(self) -> list[str]:
        """Variable names in the table's order."""
        return [v.name for v in self.variables]


def _rows(name: str) -> list[dict[str, str]]:
    with open(HERE / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _bad(file: str, line: int, fld: str, value: object, expected: str) -> InputError:
    return InputError(f"{HERE / file}, line {line}, field {fld}: {value!r}; expected {expected}")


@lru_cache(maxsize=1)
def datasets() -> dict[str, Dataset]:
    """Every dataset of the package by name (SDTM first, then ADaM), each with its variables; the table is checked
    on the way in (names <= 8, labels <= 40 characters, known types and cores, keys among the variables)."""
    out: dict[str, Dataset] = {}
    for i, r in enumerate(_rows("datasets.csv"), start=2):
        if len(r["label"]) > 40 or len(r["dataset"]) > 8:
            raise _bad("datasets.csv", i, "label", r["label"], "a dataset name <= 8 and a label <= 40 characters")
        out[r["dataset"]] = Dataset(r["standard"], r["dataset"], r["label"], r["class"], r["structure"],
                                    tuple(k for k in r["keys"].split(",") if k), r["repeating"] == "Yes")
    variables: dict[str, list[Variable]] = {k: [] for k in out}
    for file in ("variables_sdtm.csv", "variables_adam.csv"):
        for i, r in enumerate(_rows(file), start=2):
            if r["dataset"] not in out:
                raise _bad(file, i, "dataset", r["dataset"], "a dataset of datasets.csv")
            v = Variable(r["dataset"], r["variable"], r["label"], r["type"], int(r["length"] or 0), r["format"],
                         r["origin"], r["codelist"], r["core"], r["derivation"])
            if v.origin == "Predecessor" and not v.label:
                src_ds, _, src_var = v.derivation.partition(" ")[0].partition(".")
                src = next((s for s in variables.get(src_ds, []) if s.name == src_var), None)
                if src is None:
                    raise _bad(file, i, "derivation", v.derivation, "DOMAIN.VARIABLE of an SDTM variable described earlier")
                v = replace(v, label=src.label, type=src.type, length=src.length, format=src.format,
                            codelist=v.codelist or src.codelist)
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,7}", v.name):
                raise _bad(file, i, "variable", v.name, "a name of at most 8 letters and digits")
            if not 0 < len(v.label) <= 40:
                raise _bad(file, i, "label", v.label, "a label of 1 to 40 characters")
            if v.type not in TYPES or v.core not in CORES:
                raise _bad(file, i, "type/core", (v.type, v.core), f"type in {TYPES} and core in {CORES}")
            variables[v.dataset].append(v)
    for name, d in out.items():
        missing = [k for k in d.keys if k not in {v.name for v in variables[name]}]
        if missing:
            raise _bad("datasets.csv", 0, "keys", missing, f"key variables described in {name}'s variables")
        out[name] = replace(d, variables=tuple(variables[name]))
    return out


def dataset(name: str) -> Dataset:
    """The metadata of dataset NAME (any case); an InputError names the known ones if there is none."""
    ds = datasets()
    if name.upper() not in ds:
        raise InputError(f"dataset {name!r}: not in the metadata table ({HERE}); expected one of {sorted(ds)}")
    return ds[name.upper()]


@lru_cache(maxsize=1)
def parameters() -> dict[str, list[dict[str, str]]]:
    """ADaM parameters per dataset, in PARAMN order: dicts with paramcd, param, paramn, unit, source."""
    out: dict[str, list[dict[str, str]]] = {}
    for r in _rows("parameters.csv"):
        out.setdefault(r["dataset"], []).append(r)
    return out


@lru_cache(maxsize=1)
def codelists() -> dict[str, dict[str, str]]:
    """Every carried codelist: name -> {term: decode}, including PARAMCD.<ds> and PARAM.<ds> from the parameters."""
    out: dict[str, dict[str, str]] = {}
    for r in _rows("codelists.csv"):
        out.setdefault(r["codelist"], {})[r["term"]] = r["decode"]
    for ds, rows in parameters().items():
        out[f"PARAMCD.{ds}"] = {r["paramcd"]: r["param"] for r in rows}
        out[f"PARAM.{ds}"] = {r["param"]: r["param"] for r in rows}
    return out


def codelist_names() -> dict[str, str]:
    """Codelist -> its name (for define.xml)."""
    names = {r["codelist"]: r["name"] for r in _rows("codelists.csv")}
    for ds in parameters():
        names[f"PARAMCD.{ds}"] = f"Parameter Code ({ds})"
        names[f"PARAM.{ds}"] = f"Parameter ({ds})"
    return names
