#!/usr/bin/env bash
# Installs, from Debian's packages and only where missing, the programs a make target needs.
#   scripts/system-deps.sh test    PostgreSQL server (store tests) and Chromium (browser tests)
#   scripts/system-deps.sh bench   the above plus R with survival and rpact (the benchmarks' peers)
set -euo pipefail
target=${1:-test}
pkgs=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || pkgs+=(postgresql)
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
if [ "$target" = bench ]; then
  command -v Rscript >/dev/null 2>&1 || pkgs+=(r-base-core)
  Rscript -e 'library(survival)' >/dev/null 2>&1 || pkgs+=(r-cran-survival)
  Rscript -e 'library(rpact)' >/dev/null 2>&1 || pkgs+=(r-cran-rpact)
fi
[ ${#pkgs[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing Debian packages: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
