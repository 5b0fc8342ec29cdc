#!/usr/bin/env bash
# Refreshes the bot filter's pattern list from the npm package `isbot` (the list the JavaScript ecosystem
# maintains, 15M downloads a month; Unlicense) into crates/vtrack-ingest/data/isbot-patterns.json, which the
# ingest crate compiles in. Run it to take a newer release, then run the bot tests
# (`scripts/fetch-ua-lists.sh && cargo test -p vtrack-ingest --test bot_lists`) and commit the file.
#
#   scripts/update-isbot-patterns.sh            # the latest release
#   ISBOT_VERSION=5.2.3 scripts/update-isbot-patterns.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${ISBOT_VERSION:-$(npm view isbot version)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "isbot@$version" >/dev/null && tar xzf "isbot-$version.tgz")
node -e '
const m = require(process.argv[1] + "/package/index.js");
const out = { package: "isbot", version: process.argv[2], license: "Unlicense", flags: "i", patterns: m.list };
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
' "$work" "$version" > "$root/crates/vtrack-ingest/data/isbot-patterns.json"
echo "update-isbot-patterns: isbot $version, $(node -e 'console.log(require(process.argv[1]).patterns.length)' "$root/crates/vtrack-ingest/data/isbot-patterns.json") patterns"
