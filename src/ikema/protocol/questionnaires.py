"""The patient-reported questionnaires the protocol collects (EORTC QLQ-C30 v3, QLQ-MY20, EQ-5D-5L): SDTM QSCAT
names, item codes (QSTESTCD) and valid answers. Site data capture (conduct), the virtual patients (simulate) and
the ADQS scoring (cdisc.adam.adqs) all read them here, so none has to import a layer above it."""

from __future__ import annotations

C30 = "EORTC QLQ-C30 V3.0"
MY20 = "EORTC QLQ-MY20"
EQ5D = "EQ-5D-5L"
EQ5D_DIMENSIONS = {"EQ5D0201": "MO", "EQ5D0202": "SC", "EQ5D0203": "UA", "EQ5D0204": "PD", "EQ5D0205": "AD"}
EQ5D_VAS = "EQ5D0206"


def item_code(category: str, item: int) -> str:
    """SDTM QSTESTCD of item `item` (C30: EOR0101..EOR0130; MY20 items 31..50: EOR1931..EOR1950)."""
    return f"EOR01{item:02d}" if category == C30 else f"EOR19{item:02d}"


def item_spec() -> dict[tuple[str, str], tuple[int, int, bool]]:
    """Valid answers per (QSCAT, QSTESTCD): (min, max, integer required)."""
    spec: dict[tuple[str, str], tuple[int, int, bool]] = {}
    for i in range(1, 31):
        spec[(C30, item_code(C30, i))] = (1, 7, True) if i >= 29 else (1, 4, True)
    for i in range(31, 51):
        spec[(MY20, item_code(MY20, i))] = (1, 4, True)
    for code in EQ5D_DIMENSIONS:
        spec[(EQ5D, code)] = (1, 5, True)
    spec[(EQ5D, EQ5D_VAS)] = (0, 100, False)
    return spec
