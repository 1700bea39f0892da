#!/usr/bin/env bash
# keyturn validate action: check one secret's validators with `keyturn validate NAME`.
# Inputs arrive only through env (see action.yml) and are validated before use.
set -euo pipefail

die() {
  printf '::error title=keyturn validate::%s\n' "$1" >&2
  exit 2
}

secret=${KEYTURN_SECRET-}
manifest=${KEYTURN_MANIFEST:-keyturn.yml}

if [[ ! "${secret}" =~ ^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$ || "${secret}" == *..* ]]; then
  die "input 'secret' must be one secret name from the manifest (letters, digits, _ . / -)"
fi
if [[ ! "${manifest}" =~ ^[A-Za-z0-9_][A-Za-z0-9_./-]*$ || "${manifest}" == *..* ]]; then
  die "input 'manifest' must be a relative path such as keyturn.yml"
fi
if ! command -v keyturn >/dev/null 2>&1; then
  die "keyturn is not on PATH: run the keyturn setup action (actions/setup) before this one"
fi

unset KEYTURN_SECRET KEYTURN_MANIFEST
exec keyturn validate --manifest "${manifest}" -- "${secret}"
