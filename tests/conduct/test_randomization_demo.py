"""`ikema demo --enroll-only` end to end in a temp dir: counts add up, the store holds what the summary says, with audit rows."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from sqlalchemy import func, select
from typer.testing import CliRunner

from ikema.cli import app
from ikema.protocol import load_protocol
from ikema.store import AllocationEntry, AuditEntry, Randomization, ScreeningResult, Subject, make_engine, session_factory


def test_demo_v1_end_to_end(tmp_path):
    protocol = load_protocol()
    out = tmp_path / "out"
    out.mkdir()
    (out / "ikema.db").write_bytes(b"an older database, replaced by the demo")
    res = CliRunner().invoke(app, ["demo", "--enroll-only", "--out", str(out), "--seed", "11"])
    assert res.exit_code == 0, res.output
    assert "Assessed for eligibility" in res.output and "Randomized" in res.output
    summary = json.loads((out / "enrollment.json").read_text())
    target = protocol.study.enrollment
    assert summary["randomized"] == target == sum(summary["by_arm"].values())
    assert summary["screened"] == summary["screen_failures"] + target
    assert summary["screen_failures"] > 0 and len(summary["failures_by_criterion"]) >= 3
    assert sum(sum(c.values()) for c in summary["by_stratum"].values()) == target
    assert len(summary["by_stratum"]) == len(protocol.strata)
    engine = make_engine(f"sqlite:///{out / 'ikema.db'}")
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Subject)) == summary["screened"]
        rands = s.scalars(select(Randomization)).all()
        assert len(rands) == target
        assert dict(Counter(r.arm for r in rands)) == {k: v for k, v in summary["by_arm"].items() if v}
        fails = Counter(r.criterion_id for r in s.scalars(select(ScreeningResult).where(ScreeningResult.verdict != "pass")))
        assert dict(fails) == summary["failures_by_criterion"]
        audited = set(s.scalars(select(AuditEntry.record_key).where(AuditEntry.table_name == "subjects",
                                                                   AuditEntry.action == "INSERT")))
        assert audited == set(s.scalars(select(Subject.usubjid)))
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.table_name == "randomizations")) == target
        used = s.scalars(select(AllocationEntry).where(AllocationEntry.used_by.is_not(None))
                         .order_by(AllocationEntry.stratum, AllocationEntry.position)).all()
    per = defaultdict(list)
    for e in used:
        per[e.stratum].append(e)
    ratio = protocol.randomization.ratio
    arms = list(ratio)
    for stratum, entries in per.items():
        assert [e.position for e in entries] == list(range(1, len(entries) + 1))
        counts = Counter()
        for i, e in enumerate(entries):
            counts[e.arm] += 1
            if i + 1 < len(entries) and entries[i + 1].block_id != e.block_id:  # a completed block
                assert counts[arms[0]] * ratio[arms[1]] == counts[arms[1]] * ratio[arms[0]]
    again = tmp_path / "again"
    assert CliRunner().invoke(app, ["demo", "--enroll-only", "--out", str(again), "--seed", "11"]).exit_code == 0
    second = json.loads((again / "enrollment.json").read_text())
    assert {k: v for k, v in second.items() if k != "database"} == {k: v for k, v in summary.items() if k != "database"}
