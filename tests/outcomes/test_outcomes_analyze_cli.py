"""`ikema analyze` on the CDISC pilot ADaM folder (ADSL, ADAE, ADTTE): results.json["safety"] holds every cell of
the pilot's Table 14-5.01 (in frequency order), and report.html the safety section."""

from __future__ import annotations

import json
import shutil

from outcomes_helpers import DATA, rtf_table_rows
from typer.testing import CliRunner

from ikema.report.safety import format_events, format_n_pct, format_p

ARMS = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]


def _published_by_term() -> dict[tuple[str, str | None], list[str]]:
    """Cells of 14-5.01 keyed by (SOC, PT or None); blank spacer rows start a new SOC block."""
    out: dict = {}
    soc = None
    for r in rtf_table_rows(DATA / "atorus-cdisc-pilot-replication" / "outputs" / "14-5.01.rtf"):
        if len(r) != 9 or r[0].startswith("System Organ Class") or r[1].startswith("Placebo"):
            continue
        if not r[0]:
            soc = None
            continue
        if r[0] == "ANY BODY SYSTEM":
            out[("ANY", None)] = r[1:]
        elif soc is None:
            soc = r[0]
            out[(soc, None)] = r[1:]
        else:
            out[(soc, r[0])] = r[1:]
    return out


def test_analyze_on_pilot_folder(tmp_path):
    from ikema.cli import app

    adam = tmp_path / "adam"
    adam.mkdir()
    for name in ("adsl", "adae", "adtte"):
        shutil.copy(DATA / "cdiscpilot01-original" / "adam" / f"{name}.xpt", adam / f"{name}.xpt")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", "--adam", str(adam), "--out", str(out)])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    safety = results["safety"]
    assert safety["population"] == {"Placebo": 86, "Xanomeline Low Dose": 84, "Xanomeline High Dose": 84}
    published = _published_by_term()
    ours = {}
    for r in safety["soc_pt"]:
        key = ("ANY", None) if r["level"] == "overall" else (r["soc"], r["pt"])
        cells = []
        for a in ARMS:
            c = r["arms"][a]
            cells += [format_n_pct(c["n"], c["N"]), format_events(c["n"], c["events"])]
        cells += [format_p(r["p"][a]) for a in ARMS[1:]]
        ours[key] = cells
    assert len(published) == len(safety["soc_pt"]) == 254 and ours == published
    page = (out / "report.html").read_text()
    assert '<section id="safety">' in page and "APPLICATION SITE PRURITUS" in page
