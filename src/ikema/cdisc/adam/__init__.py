"""ikema.cdisc.adam: ADaM derivations (admiral style: one small derivation per variable or parameter).

Efficacy (issue #4): `adrs.derive_adrs(adsl, assessments)`, `adrs.derive_adrs_from_labels(adsl, responses)`,
`adtte.derive_adtte(adsl, adrs, max_gap_days=..., cutoff=..., profile="FDA")`. Safety, PK, immunogenicity
and QoL datasets live in the sibling modules (adae, adlb, adex, adpc, adpp, adis, adqs). Import the module
you need; this package imports nothing itself so that each module loads only its own dependencies.
"""
