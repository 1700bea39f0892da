#!/usr/bin/env bash
# keyturn update-secrets action: the inputs name where values are (env vars, files), never the values
# themselves. keyturn's Python entry point parses and validates them, masks every value before
# anything is printed, writes each scope and confirms it by updated_at.
set -euo pipefail

die() {
  printf '::error title=keyturn update-secrets::%s\n' "$1" >&2
  exit 2
}

if [[ -z "${KEYTURN_SECRETS//[[:space:]]/}" ]]; then die "input 'secrets' is empty"; fi
if [[ -z "${KEYTURN_TARGETS//[[:space:]]/}" ]]; then die "input 'targets' is empty"; fi
if [[ -z "${GITHUB_TOKEN-}" ]]; then die "input 'token' is empty: pass a GitHub App token that can write secrets"; fi
if ! command -v keyturn >/dev/null 2>&1; then
  die "keyturn is not on PATH: run the keyturn setup action (actions/setup) before this one"
fi
# The interpreter of the venv that holds keyturn (put on PATH by actions/setup).
python=$(dirname "$(command -v keyturn)")/python
exec "${python}" -m keyturn._internal.update_secrets
