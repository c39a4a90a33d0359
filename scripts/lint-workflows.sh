#!/usr/bin/env bash
# `npm run lint:workflows`: actionlint over .github/workflows/. The binary is built from its pinned
# Go module by `tools/build.sh actionlint` (needs Go); npm test never needs it, the YAML-level
# policy checks live in test/delivery-workflows.test.ts. actionlint also runs shellcheck on every
# `run:` script when shellcheck is on PATH (Debian/Ubuntu package `shellcheck`).
set -euo pipefail
cd "$(dirname "$0")/.."
actionlint=tools/bin/actionlint
if [[ ! -x "$actionlint" ]]; then
  echo "lint:workflows: $actionlint is missing; build it with: tools/build.sh actionlint (needs Go)" >&2
  exit 3
fi
command -v shellcheck >/dev/null || echo "lint:workflows: shellcheck not on PATH, run: scripts are not checked" >&2
"$actionlint" -color "$@"
echo "lint:workflows: $(find .github/workflows -name '*.yml' | wc -l) workflows clean"
