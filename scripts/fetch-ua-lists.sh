#!/usr/bin/env bash
# Fetches two public user-agent lists nobody here wrote into a git-ignored cache, for the bot filter's test
# (crates/vtrack-ingest/tests/bot_lists.rs): npm `crawler-user-agents` (crawler agents, each pattern with
# its instances) and npm `user-agents` (real browser agents weighted by traffic). Not committed.
# Idempotent: does nothing when both are there.
#
#   scripts/fetch-ua-lists.sh        # -> .cache/ua-lists/{crawler-user-agents.json,user-agents.json}
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${VTRACK_UA_LISTS:-$root/.cache/ua-lists}"
if [[ -s "$dest/crawler-user-agents.json" && -s "$dest/user-agents.json" ]]; then
    echo "fetch-ua-lists: already present in $dest"
    exit 0
fi
mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent crawler-user-agents user-agents >/dev/null
mkdir crawlers browsers
tar xzf crawler-user-agents-*.tgz -C crawlers
tar xzf user-agents-*.tgz -C browsers
cp crawlers/package/crawler-user-agents.json "$dest/crawler-user-agents.json"
# user-agents ships its list gzipped; keep the agent strings only.
node -e '
const fs = require("fs"), zlib = require("zlib"), path = process.argv[1];
const file = fs.readdirSync(path).find((f) => /^user-agents\.json(\.gz)?$/.test(f));
let raw = fs.readFileSync(path + "/" + file);
if (file.endsWith(".gz")) raw = zlib.gunzipSync(raw);
const agents = [...new Set(JSON.parse(raw).map((u) => u.userAgent))];
fs.writeFileSync(process.argv[2], JSON.stringify(agents) + "\n");
console.log("fetch-ua-lists:", agents.length, "browser agents");
' browsers/package/dist "$dest/user-agents.json"
echo "fetch-ua-lists: done in $dest"
