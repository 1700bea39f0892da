#!/usr/bin/env bash
# keyturn changelog-pr action: validate the inputs (passed only through env by action.yml), then run
# `keyturn changelog-pr` (or `--fetch-log`). keyturn writes the step outputs and the step summary.
set -euo pipefail

die() {
  printf '::error title=keyturn changelog-pr::%s\n' "$1" >&2
  exit 2
}

bool() {
  case "${2,,}" in
    true) printf 'true' ;;
    false) printf 'false' ;;
    *) die "input '$1' must be true or false" ;;
  esac
}

manifest=${KEYTURN_MANIFEST:-keyturn.yml}
fetch_log=$(bool fetch-log "${KEYTURN_FETCH_LOG:-false}")
dry_run=$(bool dry-run "${KEYTURN_DRY_RUN:-false}")

if [[ ! "${manifest}" =~ ^[A-Za-z0-9_][A-Za-z0-9_./-]*$ || "${manifest}" == *..* ]]; then
  die "input 'manifest' must be a relative path such as keyturn.yml"
fi
if [[ -z "${GITHUB_TOKEN-}" ]]; then
  die "input 'token' is empty: pass a token with contents: write and pull-requests: write"
fi
if ! command -v keyturn >/dev/null 2>&1; then
  die "keyturn is not on PATH: run the keyturn setup action (actions/setup) before this one"
fi

args=(changelog-pr --manifest "${manifest}")
if [[ "${fetch_log}" == true ]]; then args+=(--fetch-log); fi
if [[ "${dry_run}" == true ]]; then args+=(--dry-run); fi

unset KEYTURN_MANIFEST KEYTURN_FETCH_LOG KEYTURN_DRY_RUN
# Parallel jobs (one per secret) update the same branch: exit 3 means it moved under us; the next
# attempt re-reads it and re-chains onto the new head.
for attempt in 1 2 3 4; do
  rc=0
  keyturn "${args[@]}" || rc=$?
  if [[ ${rc} -ne 3 ]]; then exit "${rc}"; fi
  printf 'keyturn changelog-pr: the branch moved (attempt %s), retrying\n' "${attempt}" >&2
  sleep $((attempt * 3))
done
exit 3
