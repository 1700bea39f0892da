#!/usr/bin/env bash
# keyturn setup action: install keyturn into a fresh venv under $RUNNER_TEMP from the
# hash-pinned requirements/action.txt (or requirements/scan.txt: the scanner without any cloud
# SDK), then put the venv on PATH for later steps.
# Nothing unpinned is downloaded: dependencies need matching hashes and wheels, and keyturn
# itself is built without build isolation from the pinned setuptools/wheel.
set -euo pipefail

die() {
  printf '::error title=keyturn setup::%s\n' "$1" >&2
  exit 2
}

python=${KEYTURN_PYTHON:-python3}
if [[ ! "${python}" =~ ^[A-Za-z0-9_./][A-Za-z0-9_./+-]*$ ]]; then
  die "input 'python' must be an interpreter name or path such as python3"
fi
: "${RUNNER_TEMP:?RUNNER_TEMP is not set: this script runs inside GitHub Actions}"
: "${GITHUB_PATH:?GITHUB_PATH is not set: this script runs inside GitHub Actions}"
: "${GITHUB_ENV:?GITHUB_ENV is not set: this script runs inside GitHub Actions}"

case "${KEYTURN_REQUIREMENTS:-action}" in
  action | scan) lock=${KEYTURN_REQUIREMENTS:-action} ;;
  *) die "input 'requirements' must be action or scan" ;;
esac

root=$(cd "${GITHUB_ACTION_PATH}/../.." && pwd)
requirements="${root}/requirements/${lock}.txt"
[[ -f "${requirements}" ]] || die "missing ${requirements}"
command -v "${python}" >/dev/null 2>&1 || die "python interpreter '${python}' not found: add actions/setup-python first"

venv="${RUNNER_TEMP}/keyturn-venv"
src="${RUNNER_TEMP}/keyturn-src"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONUTF8=1

"${python}" -m venv --clear "${venv}"
"${venv}/bin/python" -m pip install --quiet --require-hashes --only-binary :all: -r "${requirements}"

# Build from a copy so that the build leaves no build/ or *.egg-info in the workspace
# (which a later `keyturn scan` would read).
rm -rf "${src}"
mkdir -p "${src}"
for item in pyproject.toml setup.cfg setup.py MANIFEST.in README.md LICENSE LICENSE.txt src; do
  if [[ -e "${root}/${item}" ]]; then cp -R "${root}/${item}" "${src}/"; fi
done
"${venv}/bin/python" -m pip install --quiet --no-deps --no-build-isolation "${src}"
rm -rf "${src}"

version=$("${venv}/bin/python" -c 'import importlib.metadata as m; print(m.version("keyturn"))')
printf '%s\n' "${venv}/bin" >>"${GITHUB_PATH}"
printf 'PYTHONUTF8=1\n' >>"${GITHUB_ENV}"
if [[ -n "${GITHUB_OUTPUT-}" ]]; then
  printf 'python-path=%s\n' "${venv}/bin/python" >>"${GITHUB_OUTPUT}"
  printf 'version=%s\n' "${version}" >>"${GITHUB_OUTPUT}"
fi
printf 'keyturn %s installed in %s\n' "${version}" "${venv}"
