#!/usr/bin/env bash
# keyturn rotate action: validate the inputs (passed only through env by action.yml), then
# run `keyturn rotate`. Every input is data: it is never pasted into a script, only checked
# against an enum or a regex and handed to keyturn as one argv element, with `--` before the
# user-supplied secret names. keyturn itself writes the step outputs and the step summary.
set -euo pipefail

die() {
  # One line, as an Actions error annotation (the message carries no input value verbatim
  # except already-validated names), then exit 2 = usage error (the documented exit codes).
  printf '::error title=keyturn rotate::%s\n' "$1" >&2
  exit 2
}

# Booleans accept true/false in any case and nothing else.
bool() {
  local name=$1 value=$2
  case "${value,,}" in
    true) printf 'true' ;;
    false) printf 'false' ;;
    *) die "input '${name}' must be true or false" ;;
  esac
}

secrets_in=${KEYTURN_SECRETS-}
due=$(bool due "${KEYTURN_DUE:-false}")
dry_run=$(bool dry-run "${KEYTURN_DRY_RUN:-false}")
mode=${KEYTURN_MODE:-scheduled}
reason=${KEYTURN_REASON-}
manifest=${KEYTURN_MANIFEST:-keyturn.yml}

case "${mode}" in
  scheduled | emergency) ;;
  *) die "input 'mode' must be scheduled or emergency" ;;
esac

# Free text for the audit log: one line, printable, bounded.
if [[ ${#reason} -gt 500 ]]; then
  die "input 'reason' is longer than 500 characters"
fi
if [[ "${reason}" =~ [[:cntrl:]] ]]; then
  die "input 'reason' must be a single line without control characters"
fi
if [[ "${mode}" == emergency && -z "${reason//[[:space:]]/}" ]]; then
  die "input 'reason' is required when mode is emergency"
fi

# A repository-relative file name; no leading dash, no parent directories, no absolute path.
if [[ ! "${manifest}" =~ ^[A-Za-z0-9_][A-Za-z0-9_./-]*$ || "${manifest}" == *..* ]]; then
  die "input 'manifest' must be a relative path such as keyturn.yml"
fi

# Secret names from keyturn.yml, separated by whitespace.
names=()
read -r -a names <<<"${secrets_in//$'\n'/ }" || true
name_re='^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$'
for name in "${names[@]}"; do
  if [[ ! "${name}" =~ ${name_re} || "${name}" == *..* ]]; then
    die "input 'secrets' holds an invalid secret name (allowed: letters, digits, _ . / -, up to 128 characters)"
  fi
done

# Sharded rotation (docs/sharding.md): phase 1 `until: promoted` (+ `shard-targets: N`), phase 2
# `shard: I/N`, each for exactly one secret; phase 3 is a plain rotate of that secret.
until=${KEYTURN_UNTIL-}
shard=${KEYTURN_SHARD-}
shard_targets=${KEYTURN_SHARD_TARGETS-}
if [[ -n "${until}" && "${until}" != promoted ]]; then
  die "input 'until' must be empty or promoted"
fi
if [[ -n "${shard}" && ! "${shard}" =~ ^[1-9][0-9]{0,2}/[1-9][0-9]{0,2}$ ]]; then
  die "input 'shard' must be I/N, such as 2/3"
fi
if [[ -n "${shard_targets}" && ! "${shard_targets}" =~ ^[1-9][0-9]{0,2}$ ]]; then
  die "input 'shard-targets' must be a number of shards, such as 3"
fi
if [[ -n "${until}${shard}${shard_targets}" && (${#names[@]} -ne 1 || "${due}" == true) ]]; then
  die "inputs 'until', 'shard' and 'shard-targets' are for exactly one secret, without 'due'"
fi

if [[ ${#names[@]} -eq 0 && "${due}" != true ]]; then
  die "nothing to rotate: name secrets in 'secrets' or set 'due' to true"
fi

if ! command -v keyturn >/dev/null 2>&1; then
  die "keyturn is not on PATH: run the keyturn setup action (actions/setup) before this one"
fi

args=(rotate --manifest "${manifest}")
if [[ "${due}" == true ]]; then args+=(--due); fi
if [[ "${dry_run}" == true ]]; then args+=(--dry-run); fi
args+=(--mode "${mode}")
if [[ -n "${reason}" && -z "${shard}" ]]; then args+=(--reason "${reason}"); fi
if [[ -n "${until}" ]]; then args+=(--until "${until}"); fi
if [[ -n "${shard_targets}" ]]; then args+=(--shard-targets "${shard_targets}"); fi
if [[ -n "${shard}" ]]; then args+=(--shard "${shard}"); fi
if [[ ${#names[@]} -gt 0 ]]; then args+=(-- "${names[@]}"); fi

# The flags above are the single source of truth: do not let keyturn also read the raw inputs.
unset KEYTURN_SECRETS KEYTURN_DUE KEYTURN_DRY_RUN KEYTURN_MODE KEYTURN_REASON KEYTURN_MANIFEST \
  KEYTURN_UNTIL KEYTURN_SHARD KEYTURN_SHARD_TARGETS

exec keyturn "${args[@]}"
