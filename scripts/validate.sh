#!/usr/bin/env bash
# `make validate`: checks the SDTM and ADaM packages.
#  1. the conformance tests generated from the metadata table (tests/cdisc/test_conformance.py: SAS transport v5,
#     labels, types, lengths, required variables, codelists, keys, --SEQ, --DY, ISO 8601, deaths and dates across
#     domains, ADaM structure, define.xml) on a small virtual trial;
#  2. the CDISC CORE rules engine (cdisc-rules-engine, SDTMIG 3.4 rules) on OUT/sdtm where it can run here: it needs
#     Python 3.12 (releases >= 0.10; the 3.11 ones pin xport 3.6.1 -> pandas < 1.4, which has no 3.11 wheel), a
#     driver (the PyPI wheel ships the library, not the repository's core.py command) and the rules, which come
#     from the CDISC Library (CDISC_LIBRARY_API_KEY) or the engine repository's resources/cache (CORE_CACHE=DIR).
#     What is missing is printed, and the step is reported as not run (exit status 0 only if step 1 passed).
set -uo pipefail
OUT=${OUT:-out}
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider tests/cdisc/test_conformance.py || status=1
echo "== CDISC CORE rules engine on $OUT/sdtm"
missing=()
[ -d "$OUT/sdtm" ] || missing+=("$OUT/sdtm (run make demo first)")
PY=$(command -v python3.12 || command -v python3.13 || true)
[ -n "$PY" ] || missing+=("Python 3.12 for cdisc-rules-engine >= 0.10 (this machine: $(python3 --version 2>&1))")
[ -n "${CORE_CACHE:-}${CDISC_LIBRARY_API_KEY:-}" ] || missing+=("the rules: CORE_CACHE=DIR (resources/cache of the engine repository) or CDISC_LIBRARY_API_KEY")
[ -n "${CORE_COMMAND:-}" ] || missing+=("CORE_COMMAND: the engine's command line (core.py validate, from its repository; not in the PyPI wheel)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "not run; missing:"
  printf '  - %s\n' "${missing[@]}"
  exit $status
fi
[ -x .venv-core/bin/python ] || { "$PY" -m venv .venv-core && .venv-core/bin/pip install -q cdisc-rules-engine; }
# e.g. CORE_COMMAND="python core.py" run from the engine's checkout; writes a report (xlsx or json) of the findings
$CORE_COMMAND validate -s sdtmig -v 3-4 -d "$(realpath "$OUT/sdtm")" -dxp "$(realpath "$OUT/sdtm/define.xml")" \
  ${CORE_CACHE:+-ca "$CORE_CACHE"} -of JSON -o "$(realpath "$OUT")/core-report" || status=1
exit $status
