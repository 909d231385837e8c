"""Capture: edit checks name record/field/value/expected; every write is audited; corrections need a reason."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from ikema.conduct import capture as C
from ikema.errors import InputError, StoreError
from ikema.store import AuditEntry, DiseaseAssessment, session_factory, session_scope

from helpers_irt import SCHEME, screen_ok, store_with_randomized

RAND = dt.datetime(2018, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def engine(tmp_path):
    return store_with_randomized(tmp_path / "c.db", RAND, also_screened=("P-2",))


def _audit_count(s, table):
    return s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.table_name == table))


def test_every_record_kind_is_stored_and_audited(engine):
    with session_scope(engine, "site1") as s:
        a = C.record_assessment(s, "P-1", "2018-03-29", "SMPROT", "site1", aval=1.25, unit="g/dL", visit="C2D1")
        assert a.study_day == 29  # randomization day is day 1
        C.record_assessment(s, "P-1", "2018-03-29", "SIFE", "site1", avalc="positive")
        C.record_lab(s, "P-1", "2018-03-01", "NEUT", 2.1, "10^9/L", "site1", low=1.8, high=7.5)
        C.record_administration(s, "P-1", 1, 1, "2018-03-02", "dexamethasone", "oral", 20.0, "site1", planned_dose_mg=20.0)
        C.record_adverse_event(s, "P-1", "Infusion related reaction", "Injury, poisoning and procedural complications",
                               2, False, True, "2018-03-02", "RECOVERED/RESOLVED", "DRUG INTERRUPTED", "site1",
                               resolution="2018-03-02", infusion_reaction=True)
        C.record_disposition(s, "P-1", "END_OF_TREATMENT", "2019-01-10", "site1", disposition_reason="PROGRESSIVE DISEASE")
        C.record_subsequent_therapy(s, "P-1", "daratumumab-pomalidomide-dexamethasone", "2019-02-01", "site1",
                                    progression_date="2019-09-01")
        C.record_pk_sample(s, "P-1", "isatuximab", 1, 1, 1.0, "2018-03-02T11:00:00", 150.2, "ug/mL", "site1")
        C.record_ada(s, "P-1", "C1D1", "2018-03-02", "NEGATIVE", "site1")
        C.record_questionnaire(s, "P-1", C.C30, "C1D1", "2018-03-02", {"EOR0101": 2, "EOR0129": 6}, "site1")
        C.record_death(s, "P-1", "2020-01-05", "PROGRESSIVE DISEASE", "site1")
    with session_factory(engine)() as s:
        for table, n in [("disease_assessments", 2), ("lab_results", 1), ("drug_administrations", 1),
                         ("adverse_events", 1), ("dispositions", 1), ("subsequent_therapies", 1), ("pk_samples", 1),
                         ("ada_samples", 1), ("questionnaires", 1), ("deaths", 1)]:
            assert _audit_count(s, table) == n, table
        row = s.scalars(select(AuditEntry).where(AuditEntry.table_name == "disease_assessments")).first()
        assert json.loads(row.new_value)["aval"] == 1.25 and row.user == "site1" and row.usubjid == "P-1"


@pytest.mark.parametrize("call, field, expected", [
    (lambda s: C.record_assessment(s, "P-1", "2018-03-29", "SMPROT", "u", aval=1.0, unit="mg/dL"), "unit", "g/dL"),
    (lambda s: C.record_assessment(s, "P-1", "2018-03-29", "SMPROT", "u", aval=-1.0, unit="g/dL"), "aval", "[0, inf]"),
    (lambda s: C.record_assessment(s, "P-1", "2018-03-29", "BMPC", "u", aval=120, unit="%"), "aval", "[0, 100]"),
    (lambda s: C.record_assessment(s, "P-1", "2018-03-29", "MPROT", "u", aval=1.0, unit="g/dL"), "param", "SMPROT"),
    (lambda s: C.record_assessment(s, "P-1", "2018-03-29", "MRD", "u", avalc="MAYBE"), "avalc", "POSITIVE | NEGATIVE"),
    (lambda s: C.record_assessment(s, "P-1", "2018-3-99", "NEWLES", "u", avalc="N"), "date", "a date"),
    (lambda s: C.record_assessment(s, "P-2", "2018-03-29", "NEWLES", "u", avalc="N"), "usubjid", "a randomized subject"),
    (lambda s: C.record_assessment(s, "P-7", "2018-03-29", "NEWLES", "u", avalc="N"), "usubjid", "a screened subject"),
    (lambda s: C.record_administration(s, "P-1", 1, 1, "2018-02-01", "carfilzomib", "IV", 40, "u"), "date", "on or after randomization date 2018-03-01"),
    (lambda s: C.record_administration(s, "P-1", 0, 1, "2018-03-02", "carfilzomib", "IV", 40, "u"), "cycle", "[1, inf]"),
    (lambda s: C.record_adverse_event(s, "P-1", "Anaemia", "Blood", 6, False, False, "2018-03-05", "RECOVERED/RESOLVED", "DOSE NOT CHANGED", "u"), "grade", "[1, 5]"),
    (lambda s: C.record_adverse_event(s, "P-1", "Anaemia", "Blood", 3, False, False, "2018-03-05", "RECOVERED/RESOLVED", "DOSE NOT CHANGED", "u", resolution="2018-03-01"), "resolution", "on or after onset 2018-03-05"),
    (lambda s: C.record_adverse_event(s, "P-1", "Sepsis", "Infections", 5, True, False, "2018-03-05", "RECOVERED/RESOLVED", "DRUG WITHDRAWN", "u"), "outcome", "FATAL exactly"),
    (lambda s: C.record_disposition(s, "P-1", "WITHDRAWAL", "2018-05-01", "u"), "reason", "a non-empty text"),
    (lambda s: C.record_disposition(s, "P-1", "LOST", "2018-05-01", "u"), "event", "END_OF_TREATMENT"),
    (lambda s: C.record_ada(s, "P-1", "C2D1", "2018-04-01", "NEGATIVE", "u", titer=40), "titer", "POSITIVE"),
    (lambda s: C.record_questionnaire(s, "P-1", C.C30, "C1D1", "2018-03-02", {"EOR0102": 2, "EOR0101": 5}, "u"), "answers.EOR0101", "[1, 4]"),
    (lambda s: C.record_questionnaire(s, "P-1", C.EQ5D, "C1D1", "2018-03-02", {"EOR0101": 1}, "u"), "answers.EOR0101", "an item code of EQ-5D-5L"),
    (lambda s: C.record_questionnaire(s, "P-1", C.EQ5D, "C1D1", "2018-03-02", {}, "u"), "answers", "at least one item"),
    (lambda s: C.record_pk_sample(s, "P-1", "isatuximab", 1, 1, 1.0, "yesterday", 1.0, "ug/mL", "u"), "sampled_at", "ISO 8601"),
    (lambda s: C.record_lab(s, "P-1", "2018-03-01", "NEUT", 2.1, "10^9/L", "u", low=7.5, high=1.8), "high", "at least low"),
    (lambda s: C.record_subsequent_therapy(s, "P-1", "pomalidomide", "2019-02-01", "u", end_date="2019-01-01"), "end_date", "on or after start_date"),
])
def test_edit_checks_name_field_value_and_expectation(engine, call, field, expected):
    with session_factory(engine)() as s:
        with pytest.raises(InputError) as err:
            call(s)
        msg = str(err.value)
        assert f"field {field}:" in msg and expected in msg and "record " in msg
        s.rollback()
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.table_name != "allocation_list",
                                                                         AuditEntry.action == "UPDATE",
                                                                         AuditEntry.user == "u")) == 0


def test_bulk_path_checks_every_row_and_audits_each(engine):
    rows = [dict(usubjid="P-1", date=dt.date(2018, 3, 1) + dt.timedelta(days=28 * i), param="SMPROT", aval=2.0 / (i + 1),
                 unit="g/dL", visit=f"C{i + 1}D1") for i in range(30)]
    with session_scope(engine, "simulator", "simulated site entry") as s:
        assert C.record_many(s, "assessment", rows, "simulator") == 30
    with session_factory(engine)() as s:
        stored = s.scalars(select(DiseaseAssessment).order_by(DiseaseAssessment.date)).all()
        assert [a.study_day for a in stored[:3]] == [1, 29, 57]
        assert _audit_count(s, "disease_assessments") == 30
    bad = rows[:3] + [dict(rows[3], unit="mg/L")]
    with session_factory(engine)() as s:
        with pytest.raises(InputError, match="field unit"):
            C.record_many(s, "assessment", bad, "simulator")
        s.rollback()
        assert s.scalar(select(func.count()).select_from(DiseaseAssessment)) == 30  # nothing of the bad batch stored


def test_correction_goes_through_checks_and_is_audited_with_reason(engine):
    with session_scope(engine, "site1") as s:
        a = C.record_assessment(s, "P-1", "2018-03-29", "SMPROT", "site1", aval=1.25, unit="g/dL")
        key = a.id
    with session_factory(engine)() as s:
        with pytest.raises(InputError, match="field aval"):
            C.correct(s, "assessment", key, "site1", "typo", aval=-3)
        s.rollback()
        with pytest.raises(InputError, match="field reason"):
            C.correct(s, "assessment", key, "site1", "", aval=1.3)
    with session_scope(engine, "site1") as s:
        C.correct(s, "assessment", key, "monitor", "source data verification: 1.35 on the lab report", aval=1.35)
    with session_factory(engine)() as s:
        upd = s.scalars(select(AuditEntry).where(AuditEntry.action == "UPDATE",
                                                 AuditEntry.table_name == "disease_assessments")).all()
        assert [(u.field, u.old_value, u.new_value, u.user) for u in upd] == [("aval", "1.25", "1.35", "monitor")]
        assert upd[0].reason.startswith("source data verification")


def test_rescreen_updates_verdicts_with_reason_and_closes_after_randomization(engine):
    with session_scope(engine, "site1", "lab repeated") as s:
        C.record_screening(s, "P-2", {"AGE": 61}, {"eligible": False, "stratum": None,
                                                   "verdicts": [("I01", "fail", "M-protein 0.3 g/dL < 0.5")]}, "site1")
    with session_factory(engine)() as s:
        upd = s.scalars(select(AuditEntry).where(AuditEntry.action == "UPDATE", AuditEntry.usubjid == "P-2")).all()
        assert {"eligible", "status", "screening", "verdict", "reason"} <= {u.field for u in upd}
        assert all(u.reason == "lab repeated" for u in upd)
    with pytest.raises(InputError, match="not yet randomized"):
        with session_scope(engine, "site1", "again") as s:
            screen_ok(s, "P-1", SCHEME.strata[0])
    with pytest.raises(StoreError, match="needs a reason"):
        with session_scope(engine, "site1") as s:
            screen_ok(s, "P-2", SCHEME.strata[1])
