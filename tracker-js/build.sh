#!/bin/sh
# Builds src/ into dist/t.js and package/dist/ with the pinned esbuild from package-lock.json.
set -e
cd "$(dirname "$0")"
[ -d node_modules/esbuild ] || npm ci --no-audit --no-fund
node scripts/build.mjs "$@"
