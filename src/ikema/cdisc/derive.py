"""The ADaM datasets of one data cut, assembled from its SDTM by the derivations of ikema.cdisc.adam (the step
`ikema cut` and every analysis of the virtual trial share)."""

from __future__ import annotations

import pandas as pd

from ikema.cdisc.sdtm import disease_assessments, exposure_with_planned_dose
from ikema.response import Criteria

# the SDTM domains derive_adam reads with outcomes="safety" (ADSL: DM, SUPPDM, DS, EX, CM, RS, VS and the dated
# SS, LB, AE, QS; ADRS: LB; ADAE: AE, EX, SUPPEX; ADLB: LB), and the analysis the disposition DS: a twin replicate
# builds and cuts only these (ikema.pipeline.replicate)
SAFETY_DOMAINS = ("DM", "SUPPDM", "DS", "EX", "SUPPEX", "CM", "RS", "VS", "SS", "LB", "AE", "QS")

def derive_adam(sdtm: dict[str, pd.DataFrame], cutoff: object, criteria: Criteria, cycle_days: int,
                teae_window_days: int, outcomes: bool | str = True, lab: bool = True,
                adjusted: bool = True) -> dict[str, pd.DataFrame]:
    """ADaM datasets from a data cut's SDTM: ADSL, ADRS, ADTTE; with `outcomes` also ADAE, ADLB, ADEX, ADPC, ADIS,
    ADQS (`outcomes="safety"`: ADAE and ADLB only). `cycle_days`: the protocol's cycle length; `teae_window_days`:
    days after the last dose in which an adverse event is treatment-emergent. A twin replicate's cut that reads
    neither leaves out ADLB (`lab` False) and ADRS's parameters adjusted for isatuximab interference (`adjusted`)."""
    from ikema.cdisc.adam.adrs import derive_adrs
    from ikema.cdisc.adam.adsl import derive_adsl
    from ikema.cdisc.adam.adtte import derive_adtte

    adsl = derive_adsl(sdtm)
    assess = disease_assessments(sdtm).drop(columns="ADY")
    adrs = derive_adrs(adsl, assess, criteria, adjusted)
    adtte = derive_adtte(adsl, adrs, max_gap_days=2 * cycle_days, cutoff=cutoff)
    out = {"ADSL": adsl, "ADRS": adrs, "ADTTE": adtte}
    if outcomes:
        from ikema.cdisc.adam.adae import derive_adae
        from ikema.cdisc.adam.adex import derive_adex
        from ikema.cdisc.adam.adis import derive_adis
        from ikema.cdisc.adam.adlb import derive_adlb
        from ikema.cdisc.adam.adpc import derive_adpc
        from ikema.cdisc.adam.adqs import derive_adqs

        ex = sdtm["EX"] if outcomes == "safety" else exposure_with_planned_dose(sdtm)  # (ADAE reads no planned dose)
        out["ADAE"] = derive_adae(sdtm["AE"], ex, adsl, window_days=teae_window_days)
        if lab:
            out["ADLB"] = derive_adlb(sdtm["LB"], adsl)
        if outcomes == "safety":
            return out
        # a dataset whose domain holds no record yet (early in a live trial: no patient dosed) is not derived
        if len(ex):
            out["ADEX"] = derive_adex(ex, cycle_days=cycle_days)
        drugs = {t.upper(): t for t in ex["EXTRT"].unique()}
        pcs = sdtm["PC"].drop_duplicates("PCTESTCD")  # PCTESTCD (8 characters) -> the drug named by PCTEST
        analyte = {c: drugs[t.upper()] for c, t in zip(pcs["PCTESTCD"], pcs["PCTEST"]) if t.upper() in drugs}
        pc = sdtm["PC"][sdtm["PC"]["PCTESTCD"].isin(list(analyte))]
        if len(pc):
            out["ADPC"] = derive_adpc(pc, ex, analyte, adsl=adsl, cycle_days=cycle_days)
        if len(sdtm["IS"]):
            out["ADIS"] = derive_adis(sdtm["IS"], adsl)
        if len(sdtm["QS"]):
            out["ADQS"] = derive_adqs(sdtm["QS"], adsl)
    return out
