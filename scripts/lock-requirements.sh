#!/usr/bin/env bash
# Regenerate requirements/action.txt (hash-pinned runtime deps for actions/setup).
#
# Uses pip-tools from a throw-away venv (never the project's .venv) and resolves against
# PyPI only, ignoring local pip config (extra indexes / find-links), so that every hash
# in the lock file is the hash of a file that PyPI serves.
#
#   scripts/lock-requirements.sh            # re-resolve, keep existing pins where possible
#   scripts/lock-requirements.sh --upgrade  # bump everything to the newest allowed
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3.11}
pip_tools_version=${PIP_TOOLS_VERSION:-7.5.1}

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT
index=https://pypi.org/simple

"${python}" -m venv "${tmp}/venv"
"${tmp}/venv/bin/python" -m pip install --quiet --index-url "${index}" "pip-tools==${pip_tools_version}"

cd "${here}"
"${tmp}/venv/bin/pip-compile" \
  --quiet \
  --index-url "${index}" \
  --no-emit-index-url \
  --no-emit-find-links \
  --generate-hashes \
  --allow-unsafe \
  --strip-extras \
  --resolver=backtracking \
  --output-file requirements/action.txt \
  "$@" \
  requirements/action.in

# pip-tools 7.5 records a spurious --no-index in the header command; Dependabot re-runs that
# command, so drop it.
sed -i -e '/^#    pip-compile /s/ --no-index / /' requirements/action.txt

echo "wrote requirements/action.txt ($(grep -c '==' requirements/action.txt) pins)" >&2
