#!/usr/bin/env bash
# The quickstart end to end on a fresh machine: install, build, start the daemon (unless one
# already answers), run examples/quickstart.mjs against it, stop what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export PADDOCK_DATA_DIR="${PADDOCK_DATA_DIR:-/var/lib/paddock}"
export PADDOCK_URL="${PADDOCK_URL:-http://127.0.0.1:7423}"
started=""
if ! curl -fsS "$PADDOCK_URL/health" >/dev/null 2>&1; then
  echo "==> starting paddock serve (data dir $PADDOCK_DATA_DIR, log $PADDOCK_DATA_DIR/daemon.log)"
  mkdir -p "$PADDOCK_DATA_DIR"
  # node directly (not npx), so $! is the daemon itself and the trap below stops it.
  node packages/cli/dist/main.js serve --data-dir "$PADDOCK_DATA_DIR" --port "${PADDOCK_URL##*:}" >"$PADDOCK_DATA_DIR/daemon.log" 2>&1 &
  started=$!
  trap '[ -n "$started" ] && kill "$started" 2>/dev/null; wait "$started" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "$PADDOCK_URL/health" >/dev/null 2>&1 && break
    kill -0 "$started" 2>/dev/null || { cat "$PADDOCK_DATA_DIR/daemon.log"; exit 1; }
    sleep 0.1
  done
fi
export PADDOCK_TOKEN="${PADDOCK_TOKEN:-$(cat "$PADDOCK_DATA_DIR/token")}"

echo "==> node examples/quickstart.mjs"
node examples/quickstart.mjs
