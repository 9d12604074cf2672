#!/usr/bin/env bash
# SEC-01: scan every tracked file for credentials with secretlint (.secretlintrc.json, the
# recommended preset). Exits non-zero on a finding, so CI fails. Tests generate their keys at
# run time; nothing secret is ever committed, not even for tests.
#
#   scripts/secret-scan.sh            # scan `git ls-files`
set -euo pipefail
cd "$(dirname "$0")/.."
# Lock files hold integrity hashes only; binary files cannot hold a readable secret.
mapfile -d '' files < <(git ls-files -z -- . ':!:package-lock.json' ':!:*.png' ':!:*.svg' ':!:*.ico')
if [ "${#files[@]}" -eq 0 ]; then
  echo "secret-scan: no tracked files" >&2
  exit 0
fi
npx --no-install secretlint --secretlintrc .secretlintrc.json --maskSecrets "${files[@]}"
echo "secret-scan: ${#files[@]} tracked files, no secrets found"
