#!/usr/bin/env bash
# keyturn setup action: install keyturn into a fresh venv under $RUNNER_TEMP from hash-pinned
# locks, then put the venv on PATH for later steps. Without `stores`: requirements/action.txt
# (everything) or requirements/scan.txt (the scanner without any cloud SDK). With `stores`:
# requirements/core.txt plus one lock per named SDK (vault.txt, aws.txt, azure.txt, postgres.txt
# for the PostgreSQL issuers);
# `stores: auto` asks the just-installed keyturn which ones the manifest needs.
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

stores=()
add_store() { # keep each store SDK once, in the order given
  local s
  for s in "${stores[@]}"; do [[ "${s}" == "$1" ]] && return 0; done
  stores+=("$1")
}

# `stores`: empty (install the whole lock above), "auto", "none", or store SDK names.
words=()
stores_in=${KEYTURN_STORES-}
read -r -a words <<<"${stores_in//$'\n'/ }" || true
mode=whole
if [[ ${#words[@]} -gt 0 ]]; then
  if [[ "${lock}" != action ]]; then
    die "input 'stores' cannot be combined with requirements: scan (the scan lock installs no store SDK)"
  fi
  mode=named
  if [[ "${words[*]}" == auto ]]; then
    mode=auto
  elif [[ "${words[*]}" != none ]]; then
    for word in "${words[@]}"; do
      case "${word}" in
        vault | openbao) add_store vault ;;
        aws | azure | postgres) add_store "${word}" ;;
        *) die "input 'stores' must be auto, none, or SDK names among vault, aws, azure, postgres" ;;
      esac
    done
  fi
fi

manifest=${KEYTURN_MANIFEST:-keyturn.yml}
if [[ "${mode}" == auto ]] && [[ ! "${manifest}" =~ ^[A-Za-z0-9_][A-Za-z0-9_./-]*$ || "${manifest}" == *..* ]]; then
  die "input 'manifest' must be a relative path such as keyturn.yml"
fi

root=$(cd "${GITHUB_ACTION_PATH}/../.." && pwd)
command -v "${python}" >/dev/null 2>&1 || die "python interpreter '${python}' not found: add actions/setup-python first"

venv="${RUNNER_TEMP}/keyturn-venv"
src="${RUNNER_TEMP}/keyturn-src"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONUTF8=1

# One pip run over the hash-pinned locks named in "$@". A package pinned by two of them has the
# same pin and hashes in both (scripts/derive_requirements.py copies them from action.txt).
install_locks() {
  local args=() name
  for name in "$@"; do
    [[ -f "${root}/requirements/${name}.txt" ]] || die "missing ${root}/requirements/${name}.txt"
    args+=(-r "${root}/requirements/${name}.txt")
  done
  "${venv}/bin/python" -m pip install --quiet --require-hashes --only-binary :all: "${args[@]}"
}

if [[ "${mode}" == whole ]]; then
  locks=("${lock}")
else
  locks=(core "${stores[@]}")
fi

"${python}" -m venv --clear "${venv}"
install_locks "${locks[@]}"

# Build from a copy so that the build leaves no build/ or *.egg-info in the workspace
# (which a later `keyturn scan` would read).
rm -rf "${src}"
mkdir -p "${src}"
for item in pyproject.toml setup.cfg setup.py MANIFEST.in README.md LICENSE LICENSE.txt src; do
  if [[ -e "${root}/${item}" ]]; then cp -R "${root}/${item}" "${src}/"; fi
done
"${venv}/bin/python" -m pip install --quiet --no-deps --no-build-isolation "${src}"
rm -rf "${src}"

if [[ "${mode}" == auto ]]; then
  # keyturn (core only: it needs no SDK for this) names the store SDKs the manifest needs.
  errors="${RUNNER_TEMP}/keyturn-setup-stores.err"
  if ! needed=$("${venv}/bin/keyturn" manifest stores --manifest "${manifest}" 2>"${errors}"); then
    reason=$(head -n 1 "${errors}")
    rm -f "${errors}"
    die "stores: auto could not read the manifest: ${reason#keyturn: error: }"
  fi
  rm -f "${errors}"
  while IFS= read -r store; do
    case "${store}" in
      vault | aws | azure | postgres) add_store "${store}" ;;
      "") ;;
      *) die "the manifest needs an extra actions/setup has no lock for (a plugin's?): install it in a later step" ;;
    esac
  done <<<"${needed}"
  locks=(core "${stores[@]}")
  if [[ ${#stores[@]} -gt 0 ]]; then install_locks "${locks[@]}"; fi
fi

version=$("${venv}/bin/python" -c 'import importlib.metadata as m; print(m.version("keyturn"))')
printf '%s\n' "${venv}/bin" >>"${GITHUB_PATH}"
printf 'PYTHONUTF8=1\n' >>"${GITHUB_ENV}"
if [[ -n "${GITHUB_OUTPUT-}" ]]; then
  {
    printf 'python-path=%s\n' "${venv}/bin/python"
    printf 'version=%s\n' "${version}"
    printf 'locks=%s\n' "${locks[*]}"
  } >>"${GITHUB_OUTPUT}"
fi
printf 'keyturn %s installed in %s (requirements: %s)\n' "${version}" "${venv}" "${locks[*]}"
