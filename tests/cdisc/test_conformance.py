"""Conformance of the SDTM and ADaM packages, generated from the metadata table (ikema.cdisc.metadata): every
dataset and variable the demo writes is checked against its row (SAS transport v5, labels, types, lengths,
formats, required variables, codelists carried, keys, --SEQ, --DY, ISO 8601), then the cross-dataset facts a
reviewer checks (deaths, treatment dates, disposition, response records, ADTTE source trace) and define.xml."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from ikema.cdisc import metadata as M
from ikema.cdisc.sdtm import study_day

ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?)?)?)?$")
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}


def _names(pkg, standard):
    return [n for n in pkg[standard.lower()] if M.dataset(n).standard == standard]


def _read(pkg, name):
    std = M.dataset(name).standard.lower()
    path = pkg["dir"] / std / f"{name.lower()}.xpt"
    df, meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    return path, df, meta


def _all(pkg):
    return [n for n in pkg["sdtm"]] + [n for n in pkg["adam"]]


def test_every_dataset_is_sas_transport_v5_with_labels_formats_and_lengths(package):
    for name in _all(package):
        ds = M.dataset(name)
        path, df, meta = _read(package, name)
        assert path.read_bytes()[:80].startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"), name
        assert b"LIBV8" not in path.read_bytes()[:400], f"{name}: version 8 header"
        assert meta.table_name == name and meta.file_label == ds.label, name
        assert list(df.columns) == [v for v in ds.names if v in df.columns], f"{name}: variable order"
        for col in df.columns:
            v = ds.var(col)
            assert len(col) <= 8 and 0 < len(meta.column_names_to_labels[col]) <= 40
            assert meta.column_names_to_labels[col] == v.label, f"{name}.{col}"
            if v.type == "Char":
                assert meta.readstat_variable_types[col] == "string", f"{name}.{col} should be character"
                longest = max(1, int(df[col].astype(str).str.len().max() or 0)) if len(df) else 1
                assert meta.variable_storage_width[col] == longest, f"{name}.{col}: length {meta.variable_storage_width[col]} != {longest}"
                assert longest <= (v.length or 200), f"{name}.{col}"
            else:
                assert meta.readstat_variable_types[col] == "double", f"{name}.{col} should be numeric"
            fmt = meta.original_variable_types[col] or ""
            if v.format.startswith("DATE"):
                assert fmt == v.format, f"{name}.{col}: format {fmt}"
                if v.format == "DATE9." and df[col].notna().any():  # SAS dates: days since 1960, whole days
                    days = df[col].dropna()
                    assert (days == np.round(days)).all() and days.between(-3653, 36525).all(), f"{name}.{col}"


def test_required_variables_codelists_and_keys(package):
    carried = M.codelists()
    for name in _all(package):
        ds = M.dataset(name)
        _, df, _ = _read(package, name)
        required = [v.name for v in ds.variables if v.core == "Req"]
        assert not set(required) - set(df.columns), f"{name}: missing required {set(required) - set(df.columns)}"
        if ds.standard == "SDTM":
            expected = [v.name for v in ds.variables if v.core == "Exp"]
            assert not set(expected) - set(df.columns), f"{name}: missing expected {set(expected) - set(df.columns)}"
        for col in df.columns:
            v = ds.var(col)
            cl = f"{col}.{name}" if col in ("PARAMCD", "PARAM") and ds.standard == "ADaM" else v.codelist
            if cl in carried and len(df):
                values = set(df[col].dropna().astype(str)) - {""}
                values = {x[:-2] if re.fullmatch(r"-?\d+\.0", x) else x for x in values}
                assert values <= set(carried[cl]), f"{name}.{col}: {sorted(values - set(carried[cl]))[:5]} not in {cl}"
        if len(df):
            dup = df.duplicated(list(ds.keys), keep=False)
            assert not dup.any(), f"{name}: keys {ds.keys} repeat, e.g. {df.loc[dup, list(ds.keys)].head(2).to_dict('records')}"


def test_seq_dy_and_iso8601(package):
    dm = package["sdtm"]["DM"].set_index("USUBJID")
    for name in package["sdtm"]:
        _, df, _ = _read(package, name)
        if not len(df) or "USUBJID" not in df.columns or M.dataset(name).cls == "RELATIONSHIP":
            continue
        seq = [c for c in df.columns if c.endswith("SEQ") and len(c) == 5 and c[:2] == name[:2]]
        for c in seq:  # 1, 2, ... within each subject
            assert (df.groupby("USUBJID").cumcount() + 1 == df[c]).all(), f"{name}.{c}"
        for c in [c for c in df.columns if c.endswith("DTC")]:
            bad = ~df[c].fillna("").astype(str).map(lambda x: x == "" or bool(ISO.match(x)))
            assert not bad.any(), f"{name}.{c}: {df.loc[bad, c].iloc[0]!r} is not ISO 8601"
        for c in [c for c in df.columns if c.endswith("DY") and c not in ("VISITDY",)]:
            dtc = f"{c[:-2]}DTC"
            if dtc not in df.columns or "USUBJID" not in df.columns:
                continue
            want = study_day(df[dtc], df["USUBJID"].map(dm["RFSTDTC"]))
            got = df[c].to_numpy(float)
            both = ~np.isnan(want) | ~np.isnan(got)
            assert np.allclose(got[both], want[both], equal_nan=True), f"{name}.{c} disagrees with {dtc} and RFSTDTC"


def test_trial_design_from_the_protocol(package):
    ts = package["sdtm"]["TS"]
    val = ts.groupby("TSPARMCD")["TSVAL"].apply(list)
    p = package["facts"].protocol
    assert p.study.nct_id in val["REGID"] and val["TPHASE"] == ["PHASE III TRIAL"] and val["RANDOM"] == ["Y"]
    assert val["PLANSUB"] == [str(p.study.enrollment)] and val["SPONSOR"] == [p.study.sponsor]
    assert (val["TITLE"][0] + " " + ts.loc[ts["TSPARMCD"] == "TITLE", "TSVAL1"].iloc[0]).startswith(p.study.official_title[:60])
    assert set(val["TRT"]) == {"ISATUXIMAB"} and set(val["COMPTRT"]) == {"CARFILZOMIB", "DEXAMETHASONE"}
    assert sorted(package["sdtm"]["TI"]["IETESTCD"]) == sorted(c.id for c in p.eligibility)
    ta = package["sdtm"]["TA"]
    assert set(ta["ARMCD"]) == {a.code for a in p.arms} and set(ta["EPOCH"]) == {"SCREENING", "TREATMENT", "FOLLOW-UP"}
    tv = package["sdtm"]["TV"].set_index("VISIT")
    assert tv.loc["CYCLE 2 DAY 15", "VISITNUM"] == 215 and tv.loc["CYCLE 2 DAY 15", "VISITDY"] == 28 + 15
    # every visit of the findings and exposure domains is planned (TV) or recorded in SV
    sv = package["sdtm"]["SV"]
    for name in ("EX", "LB", "QS", "PC", "IS", "RS"):
        d = package["sdtm"][name]
        assert set(zip(d["USUBJID"], d["VISITNUM"])) <= set(zip(sv["USUBJID"], sv["VISITNUM"])), name
        assert (d["EPOCH"] != "").all(), name


def test_deaths_treatment_dates_and_disposition_agree(package):
    sdtm, adam = package["sdtm"], package["adam"]
    dm, ds, ae, ex = sdtm["DM"], sdtm["DS"], sdtm["AE"], sdtm["EX"]
    deaths = ds[ds["DSDECOD"] == "DEATH"]
    assert not deaths["USUBJID"].duplicated().any(), "one DS death record per death"
    dead = dm[dm["DTHDTC"] != ""].set_index("USUBJID")["DTHDTC"]
    assert len(dead) > 0 and set(deaths["USUBJID"]) == set(dead.index)
    assert (deaths.set_index("USUBJID")["DSSTDTC"].reindex(dead.index) == dead).all()
    assert (dm["DTHFL"] == np.where(dm["DTHDTC"] != "", "Y", "")).all()
    adsl = adam["ADSL"].set_index("USUBJID")
    assert (adsl["DTHDT"].dropna().dt.strftime("%Y-%m-%d") == dead.reindex(adsl["DTHDT"].dropna().index)).all()
    assert adsl["DTHDT"].notna().sum() == len(dead)
    first = ex.groupby("USUBJID")["EXSTDTC"].min().str.slice(0, 10)
    last = ex.groupby("USUBJID")["EXSTDTC"].max().str.slice(0, 10)
    d = dm.set_index("USUBJID")
    assert (d.loc[first.index, "RFXSTDTC"] == first).all() and (d.loc[last.index, "RFXENDTC"] == last).all()
    assert (adsl.loc[first.index, "TRTSDT"].dt.strftime("%Y-%m-%d") == first).all()
    assert (adsl.loc[last.index, "TRTEDT"].dt.strftime("%Y-%m-%d") == last).all()
    rand = ds[ds["DSDECOD"] == "RANDOMIZED"].set_index("USUBJID")["DSSTDTC"]
    assert (adsl["RANDDT"].dt.strftime("%Y-%m-%d") == rand.reindex(adsl.index)).all()
    fatal = ae[ae["AEOUT"] == "FATAL"]
    assert set(fatal["USUBJID"]) <= set(dead.index) and (fatal["AESDTH"] == "Y").all()
    assert (dm["RFPENDTC"] >= dm["RFXENDTC"]).all() and (dm.loc[dm["DTHDTC"] != "", "RFPENDTC"] == dm.loc[dm["DTHDTC"] != "", "DTHDTC"]).all()
    # every serious event says why; non-serious ones carry no criterion
    crit = ["AESCAN", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESMIE"]
    ser = ae[ae["AESER"] == "Y"]
    assert len(ser) and (ser[crit] == "Y").any(axis=1).all()


def test_adam_structure(package):
    adam = package["adam"]
    adsl = adam["ADSL"]
    for col in ("ARM", "ARMCD", "ACTARM", "ACTARMCD", "RANDFL", "AGEU", "RACE", "TRT01P", "TRT01A", "SAFFL", "ITTFL"):
        assert col in adsl and adsl[col].notna().all(), col
    for name, df in adam.items():
        if M.dataset(name).cls != "BASIC DATA STRUCTURE":
            continue
        for col in ("STUDYID", "USUBJID", "PARAMCD", "PARAM", "PARAMN", "ASEQ"):
            assert col in df and df[col].notna().all(), f"{name}.{col}"
        assert "AVAL" in df or "AVALC" in df
        assert not df.duplicated(["USUBJID", "ASEQ"]).any(), name
        params = {r["paramcd"]: r for r in M.parameters()[name]}
        assert set(df["PARAMCD"]) <= set(params), f"{name}: {set(df['PARAMCD']) - set(params)}"
        assert (df["PARAMN"] == df["PARAMCD"].map(lambda c: float(params[c]["paramn"]))).all()
        assert (df.groupby("PARAMCD")["PARAM"].nunique() == 1).all(), name
    adrs = adam["ADRS"]
    for p in ("BOR", "CBOR"):
        assert set(adrs.loc[adrs["PARAMCD"] == p, "USUBJID"]) == set(adsl["USUBJID"]), p
    # a subject's confirmed best response is never better than the unconfirmed one
    rank = {"sCR": 7, "CR": 6, "VGPR": 5, "PR": 4, "MR": 3, "SD": 2, "PD": 1, "NE": 0}
    best = adrs[adrs["PARAMCD"].isin(["BOR", "CBOR"])].pivot(index="USUBJID", columns="PARAMCD", values="AVALC")
    assert (best["CBOR"].map(rank) <= best["BOR"].map(rank)).all()


def test_adtte_traces_every_date_to_its_source_record(package):
    adam = package["adam"]
    tte, adrs, adsl = adam["ADTTE"], adam["ADRS"], adam["ADSL"].set_index("USUBJID")
    assert set(tte["SRCDOM"]) <= {"ADRS", "ADSL"} and tte["SRCVAR"].ne("").all()
    from_rs = tte[tte["SRCDOM"] == "ADRS"]
    assert len(from_rs) and from_rs["SRCSEQ"].notna().all()
    src = adrs.set_index(["USUBJID", "ASEQ"])
    got = src.reindex(pd.MultiIndex.from_arrays([from_rs["USUBJID"], from_rs["SRCSEQ"].astype(int)]))["ADT"].to_numpy()
    assert (pd.to_datetime(got) == pd.to_datetime(from_rs["ADT"]).to_numpy()).all()
    from_sl = tte[tte["SRCDOM"] == "ADSL"]
    vals = [adsl.loc[u, v] for u, v in zip(from_sl["USUBJID"], from_sl["SRCVAR"])]
    assert (pd.to_datetime(pd.Series(vals)).to_numpy() == pd.to_datetime(from_sl["ADT"]).to_numpy()).all()
    assert from_sl["SRCSEQ"].isna().all()


def test_rs_holds_the_engines_response_per_assessment(package):
    rs, lb = package["sdtm"]["RS"], package["sdtm"]["LB"]
    ovr = rs[rs["RSTESTCD"] == "OVRLRESP"]
    assert len(ovr) and (ovr["RSEVAL"] == "INDEPENDENT ASSESSOR").all()
    dis = lb[lb["LBCAT"] == "DISEASE ASSESSMENT"]
    # one response per assessment date, linked (RELREC) to that date's disease assessment records
    assert set(zip(ovr["USUBJID"], ovr["RSLNKID"])) <= set(zip(dis["USUBJID"], dis["LBLNKID"]))
    adrs = package["adam"]["ADRS"]
    a = adrs[adrs["PARAMCD"] == "OVR"].assign(D=lambda d: d["ADT"].dt.strftime("%Y-%m-%d"))
    merged = a.merge(ovr, left_on=["USUBJID", "D"], right_on=["USUBJID", "RSDTC"])
    assert len(merged) and (merged["AVALC"] == merged["RSSTRESC"]).mean() > 0.95
    assert "XD" not in package["sdtm"] and {"SMPROT", "FLCK", "SIFE"} <= set(dis["LBTESTCD"])
    assert (package["sdtm"]["PC"]["PCTESTCD"].str.len() <= 8).all()


@pytest.mark.parametrize("standard", ["sdtm", "adam"])
def test_define_xml_describes_every_dataset_variable_and_codelist(package, standard):
    path = package["dir"] / standard / "define.xml"
    root = ET.parse(path).getroot()
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    groups = {g.get("Name"): g for g in mdv.findall("odm:ItemGroupDef", NS)}
    assert set(groups) == set(package[standard])
    items = {i.get("OID"): i for i in mdv.findall("odm:ItemDef", NS)}
    codelists = {c.get("OID") for c in mdv.findall("odm:CodeList", NS)}
    methods = {m.get("OID") for m in mdv.findall("odm:MethodDef", NS)}
    wheres = {w.get("OID") for w in mdv.findall("def:WhereClauseDef", NS)}
    used = set()
    for name, g in groups.items():
        ds = M.dataset(name)
        assert g.find("odm:Description/odm:TranslatedText", NS).text == ds.label
        leaf = g.find("def:leaf", NS)
        assert (path.parent / leaf.get("{http://www.w3.org/1999/xlink}href")).is_file()
        refs = [r.get("ItemOID") for r in g.findall("odm:ItemRef", NS)]
        _, df, _ = _read(package, name)
        assert [items[o].get("Name") for o in refs] == list(df.columns), name
        for ref in g.findall("odm:ItemRef", NS):
            assert ref.get("MethodOID") is None or ref.get("MethodOID") in methods
            item = items[ref.get("ItemOID")]
            label = item.find("odm:Description/odm:TranslatedText", NS).text
            assert label == ds.var(item.get("Name")).label
            assert item.find("def:Origin", NS) is not None
            cl = item.find("odm:CodeListRef", NS)
            if cl is not None:
                assert cl.get("CodeListOID") in codelists
                used.add(cl.get("CodeListOID"))
    assert codelists == used, f"codelists defined but not used: {codelists - used}"
    for vl in mdv.findall("def:ValueListDef", NS):
        for ref in vl.findall("odm:ItemRef", NS):
            assert ref.get("ItemOID") in items and ref.find("def:WhereClauseRef", NS).get("WhereClauseOID") in wheres
    vlm = {vl.get("OID") for vl in mdv.findall("def:ValueListDef", NS)}
    want = {"VL.LB.LBSTRESN", "VL.QS.QSSTRESN"} if standard == "sdtm" else {
        f"VL.{n}.AVAL" for n in package["adam"] if M.dataset(n).cls == "BASIC DATA STRUCTURE"}
    assert want <= vlm
