#!/usr/bin/env bash
# keyturn scan action: scan files (or a PR's added lines with diff-base) for leaked secrets and
# write SARIF for GitHub code scanning. Inputs arrive only through env (see action.yml) and are
# validated before use. Exit codes follow keyturn: 0 clean, 1 findings, 2 usage, 4 service.
set -euo pipefail

die() {
  printf '::error title=keyturn scan::%s\n' "$1" >&2
  exit 2
}

bool() {
  case "${2,,}" in
    true) printf 'true' ;;
    false) printf 'false' ;;
    *) die "input '$1' must be true or false" ;;
  esac
}

# Relative path inside the workspace: no leading dash, no absolute path, no parent directories.
relpath() {
  local name=$1 value=$2
  if [[ ! "${value}" =~ ^[A-Za-z0-9_.][A-Za-z0-9_./-]*$ || "${value}" == *..* ]]; then
    die "input '${name}' must be a relative path inside the workspace"
  fi
}

scan_path=${KEYTURN_SCAN_PATH:-.}
diff_base=${KEYTURN_DIFF_BASE-}
baseline=${KEYTURN_BASELINE-}
sarif=${KEYTURN_SARIF_FILE:-keyturn.sarif}
exit_zero=$(bool exit-zero "${KEYTURN_EXIT_ZERO:-false}")

if [[ "${scan_path}" != . ]]; then relpath path "${scan_path}"; fi
relpath sarif-file "${sarif}"
if [[ -n "${baseline}" ]]; then relpath baseline "${baseline}"; fi
# A commit sha or a git ref name (git forbids "..", and we forbid a leading dash).
if [[ -n "${diff_base}" ]]; then
  if [[ ! "${diff_base}" =~ ^[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$ || "${diff_base}" == *..* ]]; then
    die "input 'diff-base' must be a commit sha or a ref name"
  fi
fi
if ! command -v keyturn >/dev/null 2>&1; then
  die "keyturn is not on PATH: run the keyturn setup action (actions/setup) before this one"
fi

excludes=()
read -r -a excludes <<<"${KEYTURN_SCAN_EXCLUDE-}" || true
for glob in "${excludes[@]}"; do
  if [[ ! "${glob}" =~ ^[A-Za-z0-9_.*?/][A-Za-z0-9_.*?/-]*$ || "${glob}" == *..* ]]; then
    die "input 'exclude' holds an invalid glob (letters, digits, _ . - / * ? only)"
  fi
done

args=(scan --format sarif --output "${sarif}")
for glob in "${excludes[@]}"; do args+=(--exclude "${glob}"); done
if [[ -n "${diff_base}" ]]; then args+=(--diff "${diff_base}"); fi
if [[ -n "${baseline}" ]]; then args+=(--baseline "${baseline}"); fi
args+=(-- "${scan_path}")

unset KEYTURN_SCAN_PATH KEYTURN_DIFF_BASE KEYTURN_BASELINE KEYTURN_SARIF_FILE KEYTURN_EXIT_ZERO KEYTURN_SCAN_EXCLUDE

rc=0
keyturn "${args[@]}" || rc=$?

findings=""
if [[ -f "${sarif}" ]]; then
  findings=$(python3 - "${sarif}" <<'PY' || true
import json, sys
with open(sys.argv[1], encoding="utf-8") as fh:
    doc = json.load(fh)
print(sum(len(run.get("results") or []) for run in doc.get("runs") or []))
PY
)
fi
if [[ -n "${GITHUB_OUTPUT-}" ]]; then
  # Both values are validated above (a path without newlines, an integer): safe as one line.
  printf 'sarif-file=%s\n' "${sarif}" >>"${GITHUB_OUTPUT}"
  if [[ "${findings}" =~ ^[0-9]+$ ]]; then
    printf 'findings=%s\n' "${findings}" >>"${GITHUB_OUTPUT}"
  fi
fi

if [[ ${rc} -eq 1 && "${exit_zero}" == true ]]; then
  printf 'keyturn scan: %s finding(s); exit-zero is set, not failing the step\n' "${findings:-?}" >&2
  exit 0
fi
exit "${rc}"
