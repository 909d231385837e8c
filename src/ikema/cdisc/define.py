"""define.xml 2.1 for the SDTM or the ADaM package beside its datasets, built with odmlib from the metadata table
(`ikema.cdisc.metadata`): datasets (ItemGroupDef), variables (ItemDef with origin, method, codelist), value-level
metadata (LB by LBTESTCD, QS by QSTESTCD, every ADaM BDS dataset by PARAMCD), codelists (the carried ones with
their decodes; the others enumerated from the data; MedDRA as an external dictionary) and leaves (the XPT files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ikema.cdisc.metadata import Dataset, Variable, codelist_names, codelists, dataset, parameters

# value-level metadata: dataset -> (the variable it describes, the variable the where clause reads)
VLM = {"LB": ("LBSTRESN", "LBTESTCD"), "QS": ("QSSTRESN", "QSTESTCD")}
EXTERNAL = {"MEDDRA": ("MedDRA", "26.0")}
STANDARDS = {"SDTM": ("SDTMIG", "3.4", "SDTM", "2024-03-29"), "ADaM": ("ADaMIG", "1.3", "ADaM", "2024-03-29")}


def _text(model, s: str):
    d = model.Description()
    d.TranslatedText.append(model.TranslatedText(_content=str(s), lang="en"))
    return d


def _data_type(v: Variable, values: pd.Series | None) -> str:
    if v.type == "Char":
        if v.format == "ISO8601":
            filled = values.dropna().astype(str) if values is not None else pd.Series(dtype=str)
            filled = filled[filled != ""]
            return "datetime" if (filled.str.len() > 10).any() else "date"
        return "text"
    if values is not None and len(values):
        num = pd.to_numeric(values, errors="coerce") if not v.format.startswith("DATE") else None
        if num is None or (num.dropna() == np.round(num.dropna())).all():
            return "integer"
    return "float" if not v.format.startswith("DATE") else "integer"


def _length(v: Variable, values: pd.Series | None) -> int:
    if v.type == "Char":
        if values is None or not len(values):
            return 1
        return max(1, int(values.fillna("").astype(str).str.len().max()))
    return 8


def _origin(model, v: Variable):
    kind = v.origin if v.origin in ("Collected", "Derived", "Assigned", "Protocol", "Predecessor") else "Derived"
    o = model.Origin(Type=kind, Source="Investigator" if kind == "Collected" else "Sponsor" if kind != "Predecessor" else None) \
        if kind in ("Collected", "Derived", "Assigned", "Protocol") else model.Origin(Type=kind)
    if kind == "Predecessor" and v.derivation:
        o.Description = _text(model, v.derivation)
    return o


def write_define(domains: dict[str, pd.DataFrame], out_dir: Path) -> Path:
    """Write OUT_DIR/define.xml describing `domains` (all SDTM or all ADaM) from the metadata table; returns its path."""
    from importlib.metadata import version

    import odmlib.define_2_1.model as DEF

    metas = [dataset(n) for n in domains]
    standard = metas[0].standard
    ig, igver, ctset, ctver = STANDARDS[standard]
    studyid = next((str(df["STUDYID"].iloc[0]) for df in domains.values() if "STUDYID" in df and len(df)), "STUDY")
    now = _as_of(domains)
    odm = DEF.ODM(FileOID=f"{studyid}.{standard}.define", FileType="Snapshot", CreationDateTime=now, ODMVersion="1.3.2",
                  Originator="ikema", SourceSystem="ikema", SourceSystemVersion=version("ikema"), Context="Other")
    study = DEF.Study(OID=f"ST.{studyid}")
    gv = DEF.GlobalVariables()
    gv.StudyName = DEF.StudyName(_content=studyid)
    gv.StudyDescription = DEF.StudyDescription(_content=f"{studyid} {standard} package")
    gv.ProtocolName = DEF.ProtocolName(_content=studyid)
    study.GlobalVariables = gv
    mdv = DEF.MetaDataVersion(OID=f"MDV.{studyid}.{standard}", Name=f"{studyid} {standard}", DefineVersion="2.1.0",
                              Description=f"{ig} {igver} datasets of study {studyid}")
    stds = DEF.Standards()
    stds.Standard.append(DEF.Standard(OID="STD.IG", Name=ig, Type="IG", Version=igver, Status="Final"))
    stds.Standard.append(DEF.Standard(OID="STD.CT", Name="CDISC/NCI", Type="CT", PublishingSet=ctset, Version=ctver, Status="Final"))
    mdv.Standards = stds
    carried, names = codelists(), codelist_names()
    used_codelists: dict[str, set[str]] = {}
    methods: dict[str, str] = {}
    item_defs, vl_defs, where_defs = [], [], []
    for meta in metas:
        df = domains[meta.name]
        ig_def = DEF.ItemGroupDef(OID=f"IG.{meta.name}", Name=meta.name, Repeating="Yes" if meta.repeating else "No",
                                  IsReferenceData="Yes" if meta.cls == "TRIAL DESIGN" else "No", SASDatasetName=meta.name,
                                  Purpose="Tabulation" if standard == "SDTM" else "Analysis", Structure=meta.structure,
                                  ArchiveLocationID=f"LF.{meta.name}", StandardOID="STD.IG",
                                  **({"Domain": meta.name[:2] if not meta.name.startswith(("SUPP", "RELREC")) else meta.name[4:6]
                                      if meta.name.startswith("SUPP") else None} if standard == "SDTM" else {}))
        ig_def.Description = _text(DEF, meta.label)
        order = 0
        for v in meta.variables:
            if v.name not in df.columns:
                continue
            order += 1
            values = df[v.name]
            oid = f"IT.{meta.name}.{v.name}"
            ref = DEF.ItemRef(ItemOID=oid, OrderNumber=order, Mandatory="Yes" if v.core == "Req" else "No")
            if v.name in meta.keys:
                ref.KeySequence = meta.keys.index(v.name) + 1
            if v.origin == "Derived" and v.derivation:
                ref.MethodOID = f"MT.{meta.name}.{v.name}"
                methods[ref.MethodOID] = v.derivation
            ig_def.ItemRef.append(ref)
            item = DEF.ItemDef(OID=oid, Name=v.name, DataType=_data_type(v, values), SASFieldName=v.name)
            if item.DataType in ("text", "integer", "float"):
                item.Length = _length(v, values)
            if v.format.startswith("DATE"):
                item.DisplayFormat = v.format
            item.Description = _text(DEF, v.label)
            item.Origin = [_origin(DEF, v)]
            cl = _codelist_of(meta, v)
            if cl:
                item.CodeListRef = DEF.CodeListRef(CodeListOID=f"CL.{cl}")
                used_codelists.setdefault(cl, set()).update(x for x in values.dropna().astype(str).unique() if x != "")
            item_defs.append(item)
            vlm = _value_level(DEF, meta, v, df, where_defs)
            if vlm is not None:
                item.ValueListRef = DEF.ValueListRef(ValueListOID=vlm[0].OID)
                vl_defs.append(vlm[0])
                item_defs.extend(vlm[1])
        ig_def.Class = DEF.Class(Name=meta.cls)
        ig_def.leaf = DEF.leaf(ID=f"LF.{meta.name}", href=f"{meta.name.lower()}.xpt")
        ig_def.leaf.title = DEF.title(_content=f"{meta.name.lower()}.xpt")
        mdv.ItemGroupDef.append(ig_def)
    for vl in vl_defs:
        mdv.ValueListDef.append(vl)
    for wc in where_defs:
        mdv.WhereClauseDef.append(wc)
    for item in item_defs:
        mdv.ItemDef.append(item)
    for cl, seen in sorted(used_codelists.items()):
        mdv.CodeList.append(_codelist(DEF, cl, names.get(cl, cl), carried.get(cl), seen))
    for oid, text in methods.items():
        m = DEF.MethodDef(OID=oid, Name=f"Algorithm for {oid[3:]}", Type="Computation")
        m.Description = _text(DEF, text)
        mdv.MethodDef.append(m)
    study.MetaDataVersion = mdv
    odm.Study = study
    path = out_dir / "define.xml"
    odm.write_xml(str(path))
    return path


def _as_of(domains: dict[str, pd.DataFrame]) -> str:
    """The document's CreationDateTime: the latest date the data hold (the same data give the same bytes)."""
    last = ""
    for df in domains.values():
        for c in df.columns:
            if c.endswith("DTC") and len(df):
                last = max(last, str(df[c].astype(str).str.slice(0, 10).max()))
            elif str(df[c].dtype).startswith("datetime") and df[c].notna().any():
                last = max(last, df[c].max().strftime("%Y-%m-%d"))
    return f"{last or '1960-01-01'}T00:00:00+00:00"


def _codelist_of(meta: Dataset, v: Variable) -> str:
    """The codelist a variable's values come from: the table's, PARAMCD/PARAM per ADaM dataset, '' for none."""
    if v.name in ("PARAMCD", "PARAM") and meta.standard == "ADaM":
        return f"{v.name}.{meta.name}"
    return v.codelist


def _codelist(DEF, name: str, label: str, terms: dict[str, str] | None, seen: set[str]):
    """A CodeList: MedDRA as an external dictionary; carried terms with decodes; otherwise the values in the data."""
    cl = DEF.CodeList(OID=f"CL.{name}", Name=label, DataType="text")
    if name in EXTERNAL:
        dic, ver = EXTERNAL[name]
        cl.ExternalCodeList = DEF.ExternalCodeList(Dictionary=dic, Version=ver)
        return cl
    if terms is not None:
        for k, (term, decode) in enumerate(terms.items(), 1):
            item = DEF.CodeListItem(CodedValue=term, OrderNumber=k)
            item.Decode = DEF.Decode()
            item.Decode.TranslatedText.append(DEF.TranslatedText(_content=decode, lang="en"))
            cl.CodeListItem.append(item)
        return cl
    for k, term in enumerate(sorted(seen), 1):
        cl.EnumeratedItem.append(DEF.EnumeratedItem(CodedValue=term, OrderNumber=k))
    return cl


def _value_level(DEF, meta: Dataset, v: Variable, df: pd.DataFrame, where_defs: list):
    """The ValueListDef of the variable VLM describes (SDTM LB/QS results by test, ADaM AVAL by PARAMCD), else None."""
    if meta.standard == "ADaM" and v.name == "AVAL" and "PARAMCD" in df:
        held = set(df["PARAMCD"])  # once: the dataset may hold half a million records
        by, codes = "PARAMCD", [r["paramcd"] for r in parameters().get(meta.name, []) if r["paramcd"] in held]
        label = {r["paramcd"]: r["param"] + (f" ({r['unit']})" if r["unit"] else "") for r in parameters().get(meta.name, [])}
    elif VLM.get(meta.name, ("", ""))[0] == v.name and VLM[meta.name][1] in df:
        by = VLM[meta.name][1]
        codes = sorted(df[by].dropna().astype(str).unique())
        label = {}
    else:
        return None
    vl = DEF.ValueListDef(OID=f"VL.{meta.name}.{v.name}")
    items = []
    by_code = {str(k): g for k, g in df[v.name].groupby(df[by].astype(str))}
    for k, code in enumerate(codes, 1):
        wc = DEF.WhereClauseDef(OID=f"WC.{meta.name}.{v.name}.{code}")
        rc = DEF.RangeCheck(Comparator="EQ", SoftHard="Soft", ItemOID=f"IT.{meta.name}.{by}")
        rc.CheckValue.append(DEF.CheckValue(_content=code))
        wc.RangeCheck.append(rc)
        where_defs.append(wc)
        oid = f"IT.{meta.name}.{v.name}.{code}"
        ref = DEF.ItemRef(ItemOID=oid, OrderNumber=k, Mandatory="No")
        ref.WhereClauseRef.append(DEF.WhereClauseRef(WhereClauseOID=wc.OID))
        vl.ItemRef.append(ref)
        values = by_code.get(code, df[v.name].iloc[:0])
        item = DEF.ItemDef(OID=oid, Name=v.name, DataType=_data_type(v, values), SASFieldName=v.name, Length=8)
        item.Description = _text(DEF, label.get(code, f"{v.label} where {by} = {code}"))
        item.Origin = [_origin(DEF, v)]
        items.append(item)
    return vl, items
