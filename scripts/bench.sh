#!/usr/bin/env bash
# Runs the benchmarks in bench/: `npm run bench` runs them all, `npm run bench -- create` one.
# Each bench/X.ts is bundled by esbuild (no TypeScript loader needed on Node 20) into bench/.out/
# and run with node; packages stay external so the SDK comes from the built workspace.
# bench/lib/*.ts are the helpers they share (daemon, stats, tables), not benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f packages/cli/dist/main.js ]; then
  echo "==> npm run build" >&2
  npm run build
fi

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in bench/*.ts; do names+=("$(basename "$f" .ts)"); done
fi

mkdir -p bench/.out
for name in "${names[@]}"; do
  [ -f "bench/$name.ts" ] || { echo "no benchmark bench/$name.ts" >&2; exit 1; }
  echo "==> bench/$name.ts" >&2
  npx esbuild "bench/$name.ts" --bundle --platform=node --format=esm --packages=external \
    --log-level=warning --outfile="bench/.out/$name.mjs"
  node "bench/.out/$name.mjs"
done
