"""The trial database: SQLAlchemy 2 models of sites, users, subjects, IRT and every site record, plus the audit trail.

Every class on `Base` is trial data and audited (ikema.store.audit) unless it sets `__audited__ = False`.
Dates are `date`, instants are timezone-aware UTC `datetime`; units are explicit columns or names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy import DateTime as _DateTime
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    """The current instant in UTC (timezone-aware)."""
    return dt.datetime.now(dt.timezone.utc)


class DateTime(TypeDecorator[dt.datetime]):
    """A UTC instant: stored in UTC (naive input is taken as UTC) and read back timezone-aware on every backend."""

    impl = _DateTime(timezone=True)
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__()

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every ikema table; subclasses are audited unless `__audited__ = False`."""

    __audited__ = True
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    """An investigational site."""

    __tablename__ = "sites"
    site_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(3))


class User(Base):
    """A person who acts on the trial (the web app adds its authentication columns by its own migration)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.site_id"))


class Subject(Base):
    """A screened candidate (USUBJID) with its screening findings, eligibility and stratum."""

    __tablename__ = "subjects"
    usubjid: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.site_id"))
    status: Mapped[str] = mapped_column(String(20))  # SCREENED | SCREEN_FAILED | RANDOMIZED | ...
    screening: Mapped[dict[str, Any]] = mapped_column(JSON)  # the screening record as entered
    screened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    eligible: Mapped[bool | None] = mapped_column(Boolean)
    stratum: Mapped[str | None] = mapped_column(String(200))


class ScreeningResult(Base):
    """One criterion's verdict for one subject (pass | fail | missing) with its reason."""

    __tablename__ = "screening_results"
    __table_args__ = (UniqueConstraint("usubjid", "criterion_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    criterion_id: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)


class AllocationEntry(Base):
    """One position of the stored allocation list of a stratum (block ids and sizes are never shown to sites)."""

    __tablename__ = "allocation_list"
    __table_args__ = (UniqueConstraint("stratum", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stratum: Mapped[str] = mapped_column(String(200), index=True)
    position: Mapped[int] = mapped_column(Integer)
    block_id: Mapped[int] = mapped_column(Integer)
    block_size: Mapped[int] = mapped_column(Integer)
    arm: Mapped[str] = mapped_column(String(20))
    randno: Mapped[int] = mapped_column(Integer, unique=True)  # drawn at random: reveals no position or block
    used_by: Mapped[str | None] = mapped_column(String(40), unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Randomization(Base):
    """A subject's one and only randomization: arm, stratum, randomization number, when and by whom."""

    __tablename__ = "randomizations"
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), primary_key=True)
    randno: Mapped[int] = mapped_column(Integer, unique=True)  # = allocation_list.randno
    stratum: Mapped[str] = mapped_column(String(200))
    arm: Mapped[str] = mapped_column(String(20))
    randomized_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    randomized_by: Mapped[str] = mapped_column(String(100))
    randdt: Mapped[dt.date] = mapped_column(Date)


class DrugAdministration(Base):
    """One administration of one study drug (EX)."""

    __tablename__ = "drug_administrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    date: Mapped[dt.date] = mapped_column(Date)
    drug: Mapped[str] = mapped_column(String(40))
    route: Mapped[str] = mapped_column(String(40))
    dose_mg: Mapped[float] = mapped_column(Float)
    planned_dose_mg: Mapped[float | None] = mapped_column(Float)
    infusion_interrupted: Mapped[bool | None] = mapped_column(Boolean)
    adjustment_reason: Mapped[str | None] = mapped_column(String(200))


class DiseaseAssessment(Base):
    """One disease-assessment result in long format (PARAM, AVAL or AVALC, unit)."""

    __tablename__ = "disease_assessments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    visit: Mapped[str | None] = mapped_column(String(40))
    date: Mapped[dt.date] = mapped_column(Date)
    study_day: Mapped[int | None] = mapped_column(Integer)
    param: Mapped[str] = mapped_column(String(20))
    aval: Mapped[float | None] = mapped_column(Float)
    avalc: Mapped[str | None] = mapped_column(String(40))
    unit: Mapped[str | None] = mapped_column(String(20))


class LabResult(Base):
    """One laboratory result (LB) with its unit and, where given, the normal range."""

    __tablename__ = "lab_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    visit: Mapped[str | None] = mapped_column(String(40))
    date: Mapped[dt.date] = mapped_column(Date)
    test: Mapped[str] = mapped_column(String(20))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)


class AdverseEvent(Base):
    """One adverse event: MedDRA PT/SOC, CTCAE grade, seriousness, relatedness, dates, outcome, action."""

    __tablename__ = "adverse_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    term: Mapped[str] = mapped_column(String(200))  # verbatim
    pt: Mapped[str] = mapped_column(String(200))  # MedDRA preferred term
    soc: Mapped[str] = mapped_column(String(200))  # MedDRA system organ class
    grade: Mapped[int] = mapped_column(Integer)  # CTCAE v4.03
    serious: Mapped[bool] = mapped_column(Boolean)
    related: Mapped[bool] = mapped_column(Boolean)
    onset: Mapped[dt.date] = mapped_column(Date)
    resolution: Mapped[dt.date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(40))
    action_taken: Mapped[str] = mapped_column(String(40))
    infusion_reaction: Mapped[bool] = mapped_column(Boolean, default=False)


class Death(Base):
    """A subject's death (one per subject)."""

    __tablename__ = "deaths"
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date)
    cause: Mapped[str] = mapped_column(String(200))


class Disposition(Base):
    """A disposition event: END_OF_TREATMENT, WITHDRAWAL, LAST_CONTACT or FOLLOW_UP_CONTACT, with date and reason."""

    __tablename__ = "dispositions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    event: Mapped[str] = mapped_column(String(30))
    date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))


class SubsequentTherapy(Base):
    """A further anti-myeloma therapy after study treatment."""

    __tablename__ = "subsequent_therapies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    therapy: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    progression_date: Mapped[dt.date | None] = mapped_column(Date)  # PD on this therapy (PFS2)


class PKSample(Base):
    """One pharmacokinetic sample and its concentration."""

    __tablename__ = "pk_samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    analyte: Mapped[str] = mapped_column(String(40))
    cycle: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    nominal_hours: Mapped[float] = mapped_column(Float)  # relative to start of the day's infusion
    sampled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    concentration: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    below_lloq: Mapped[bool] = mapped_column(Boolean, default=False)


class ADASample(Base):
    """One anti-drug-antibody sample: result and titre."""

    __tablename__ = "ada_samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    visit: Mapped[str] = mapped_column(String(40))
    date: Mapped[dt.date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(String(20))  # POSITIVE | NEGATIVE | INCONCLUSIVE
    titer: Mapped[float | None] = mapped_column(Float)


class Questionnaire(Base):
    """One completed patient-reported questionnaire (QLQ-C30, QLQ-MY20, EQ-5D-5L) with all its item answers.

    A patient completes and submits a questionnaire as one unit (ePRO): it is entered, checked and audited as one
    record. `answers` maps item code (SDTM QSTESTCD) -> answer (None = not answered), in the instrument's item order.
    """

    __tablename__ = "questionnaires"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    instrument: Mapped[str] = mapped_column(String(20))
    visit: Mapped[str] = mapped_column(String(40))
    date: Mapped[dt.date] = mapped_column(Date)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEntry(Base):
    """One append-only audit row: who, when (UTC), table, record key, field, old and new value, reason, action."""

    __tablename__ = "audit_log"
    __audited__ = False
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[str] = mapped_column(String(100))
    table_name: Mapped[str] = mapped_column(String(60), index=True)
    record_key: Mapped[str] = mapped_column(String(200))
    usubjid: Mapped[str | None] = mapped_column(String(40), index=True)
    field: Mapped[str] = mapped_column(String(60))  # '*' on insert: new_value holds the whole record as JSON
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(10))  # INSERT | UPDATE
