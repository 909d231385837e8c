"""Property-based fuzz of the web application (issue 16): no input gives a 5xx.

- the whole JSON API from its OpenAPI document (schemathesis), every operation it lists, for every role and without
  a token, valid and invalid data alike: no 5xx, content type and body as documented for the status returned;
- every form route (hypothesis): form fields of arbitrary text, numbers and Unicode, path ids of any size, for
  the roles that may post them: no 5xx.
Fixed seeds and a bounded number of examples per operation and role (FUZZ_EXAMPLES) keep it to about a minute.
"""

from __future__ import annotations

import os
import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st

from ikema.web.permissions import ROLES

FUZZ_SEED = 20171025
FUZZ_EXAMPLES = int(os.environ.get("IKEMA_FUZZ_EXAMPLES", "6"))
_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=False,
                     suppress_health_check=list(HealthCheck), phases=["explicit", "generate"])


def _api_checks():
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

    return [not_a_server_error, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def schema(world):
    import schemathesis

    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", world.app)


@pytest.mark.slow
@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "anonymous"])
def test_api_fuzz_no_5xx_and_responses_as_documented(world, schema, role):
    """Every operation of the OpenAPI document, positive and negative data, as this role."""
    from schemathesis import GenerationMode

    headers = {"Authorization": f"Bearer {world.tokens[role]}"} if role else {}
    checks = _api_checks()
    ops = [r.ok() for r in schema.get_all_operations()]
    assert any(op.path.endswith("/subjects/{usubjid}/randomize") for op in ops)
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if op.path.endswith("/token") and role is not None:
                continue  # log-in attempts with random names are the anonymous caller's (and would lock accounts)

            @seed(FUZZ_SEED)
            @_SETTINGS
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                if role is not None:
                    case.headers = {**(case.headers or {}), **headers}
                response = case.call()
                case.validate_response(response, checks=checks)

            try:
                run()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing to make invalid (an operation without inputs)


# --- the HTML forms ------------------------------------------------------------------------------------------

def _form_routes(app, kit) -> list[str]:
    return sorted({p for p, methods, in_schema in kit.all_routes(app)
                   if not in_schema and "POST" in methods and p not in ("/login", "/logout")})


_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.integers().map(str),
    st.integers(min_value=2**63 - 5, max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "NaN", "-inf", "\uff11\uff12", "1e999", "0", "-1", "Y", "N", "2018-02-30", "1900-01-01",
                     "9999-12-31", "POSITIVE", "yes", "IKEMA-101-001", "IKEMA-202-006"]),
)
_FIELDS = ["usubjid", "site", "age", "ecog", "riss", "weight_kg", "height_cm", "serum_mprotein_g_dl", "prior_carfilzomib",
           "date", "SMPROT", "SIFE", "value", "term", "start", "end", "grade", "serious", "related", "outcome",
           "action_taken", "drug", "cycle", "day", "dose_mg", "reason", "field", "text", "form", "locked", "confirm",
           "meaning", "password", "ady", "verdict", "username", "role", "full_name"]
_PATH = {"usubjid": st.sampled_from(["IKEMA-101-001", "IKEMA-202-006", "IKEMA-101-005", "nobody", "%C3%A9"]),
         "form": st.sampled_from(["assessment", "ae", "exposure", "screening", "x"]),
         "rid": st.one_of(st.integers(-5, 50), st.integers(2**31, 2**90)).map(str),
         "qid": st.one_of(st.integers(-5, 50), st.integers(2**31, 2**90)).map(str),
         "action": st.sampled_from(["answer", "close", "reopen", "delete"]),
         "field": st.sampled_from(["value", "date", "nope"])}


def _url(path: str, draw) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: draw(_PATH.get(m.group(1), st.just("1"))), path)


@pytest.mark.slow
@pytest.mark.parametrize("role", ["investigator", "coordinator", "pharmacist", "data_manager", "monitor", "assessor", "admin"])
def test_form_fuzz_no_5xx(world, kit, role):
    """Every HTML form route with arbitrary field values, as a logged-in role (its CSRF token sent)."""
    client: TestClient = world.clients[role]
    for path in _form_routes(world.app, kit):

        @seed(FUZZ_SEED)
        @_SETTINGS
        @given(data=st.data(), fields=st.dictionaries(st.sampled_from(_FIELDS), _text, max_size=12))
        def run(data, fields):
            url = _url(path, data.draw)
            r = client.post(url, data={"csrf_token": world.csrf[role], **fields}, follow_redirects=False)
            assert r.status_code < 500, f"{role} POST {url} {fields!r}: {r.status_code} {r.text[:500]}"

        run()


@pytest.mark.slow
def test_csrf_and_login_fuzz_no_5xx(world):
    """The CSRF token and log-in fields of any text, header and form, before and after log-in."""
    anon = TestClient(world.app, base_url="https://testserver")
    anon.get("/login")

    @seed(FUZZ_SEED)
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(token=st.text(max_size=40), name=st.text(max_size=20), in_header=st.booleans())
    def run(token, name, in_header):
        for c, url in ((anon, "/login"), (world.clients["coordinator"], "/screening")):
            kwargs = {"headers": {"X-CSRF-Token": token.encode("utf-8", "surrogatepass")}} if in_header else {}
            r = c.post(url, data={"csrf_token": token, "username": name, "password": "x"}, follow_redirects=False, **kwargs)
            assert r.status_code < 500, f"POST {url} token {token!r}: {r.status_code}"

    run()
