"""The IRT reads ratio, block sizes and strata from the protocol: the packaged IKEMA file and a different trial's
file (tests/fixtures/other_trial.toml) both run screening -> randomization with no code change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ikema.conduct.capture import record_screening
from ikema.conduct.randomization import generate_allocation_list, randomize, scheme_from_protocol, store_allocation_list
from ikema.conduct.screening import screen
from ikema.errors import EligibilityError, ProtocolError
from ikema.protocol import load_protocol
from ikema.store import init_db, session_factory

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "other_trial.toml"


def test_ikema_scheme_comes_from_the_protocol():
    p = load_protocol()
    scheme = scheme_from_protocol(p)
    assert scheme.ratio == dict(p.randomization.ratio) == {"IKd": 3, "Kd": 2}
    assert list(scheme.block_sizes) == list(p.randomization.block_sizes)
    assert len(scheme.strata) == len(p.strata) == 6
    assert scheme.strata[0] == "; ".join(f"{k}={v}" for k, v in p.strata[0].items())


def test_other_trial_screens_and_randomizes_without_code_change(tmp_path):
    p = load_protocol(FIXTURE)
    scheme = scheme_from_protocol(p)
    assert scheme.ratio == {"XY": 1, "Y": 1} and scheme.block_sizes == (2, 4) and len(scheme.strata) == 2
    rows = generate_allocation_list(scheme, np.random.default_rng(4), 12)
    for stratum in scheme.strata:
        arms = Counter(r["arm"] for r in rows if r["stratum"] == stratum)
        assert arms["XY"] == arms["Y"]  # 1:1 over whole blocks
    engine = init_db(f"sqlite:///{tmp_path / 'other.db'}")
    with session_factory(engine)() as s:
        store_allocation_list(s, rows, "irt")
        candidates = {"O-1": {"age": 40, "ecog": 0, "weight_kg": 70, "height_cm": 170},
                      "O-2": {"age": 55, "ecog": 2, "weight_kg": 80, "height_cm": 180},
                      "O-3": {"age": 19, "ecog": 1, "weight_kg": 60, "height_cm": 160}}
        for u, c in candidates.items():
            record_screening(s, u, c, screen(c, p), "site")
        s.commit()
        a1, a2 = randomize(s, "O-1", "site"), randomize(s, "O-2", "site")
        assert (a1.stratum, a2.stratum) == ("ECOG=0", "ECOG=1-2")
        assert {a1.arm, a2.arm} <= {"XY", "Y"}
        with pytest.raises(EligibilityError, match="INC1 fail"):
            randomize(s, "O-3", "site")


def test_block_size_must_be_a_multiple_of_the_ratio():
    bad = {"randomization": {"ratio": {"A": 3, "B": 2}, "block_sizes": [4],
                             "stratification": [{"id": "F", "levels": [{"code": "x"}]}]}}
    with pytest.raises(ProtocolError, match="block size 4 is not a multiple of the ratio total 5"):
        scheme_from_protocol(bad)
    with pytest.raises(ProtocolError, match="needs `ratio`"):
        scheme_from_protocol({"randomization": {"block_sizes": [5]}})
