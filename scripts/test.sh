#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build (type-checks), lint, then unit and
# integration tests against real runc and runsc sandboxes. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> lint"
npm run lint --silent
echo "==> tests"
npx vitest run "$@"
