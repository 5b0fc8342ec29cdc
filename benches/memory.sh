#!/usr/bin/env bash
# Memory of `vtrack serve` under steady load: resident set size sampled every 10 s while `vtrack loadgen`
# sends a fixed rate, so growth beyond the caches' bounds (64 MiB SQLite page cache per connection, the
# queue, visitors held by the sessionizer) shows as a rising column.
#
#   benches/memory.sh [--duration 10m] [--rate 5000] [--no-build]
#
# The default, 10 minutes at 5,000 events/s (3 million events), is an hour of a site with 830 page views a
# second compressed into the run. Server and load generator are pinned to different cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

duration=10m rate=5000 build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "memory.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
((build)) && cargo build --release -p vtrack
asn_csv="$root/.cache/ip-location-db/asn/asn-ipv4.csv"
ip_args=()
[[ -s "$asn_csv" ]] && ip_args=(--asn-csv "$asn_csv")
addr=127.0.0.1:18190
tmp="$(mktemp -d)"
server=""
cleanup() { [[ -n "$server" ]] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

taskset -c 1 target/release/vtrack serve --site demo --data-dir "$tmp/data" --listen "$addr" \
    --trusted-proxy 127.0.0.1/32 --companies fixtures/companies.csv --mmdb fixtures/demo.mmdb \
    --asn-csv fixtures/asn.csv >"$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# Anonymous memory only: the SQLite file is also memory-mapped (up to 256 MiB), and those file-backed pages
# count in VmRSS but are page cache the kernel reclaims, not the process's own memory.
rss() { awk '/^RssAnon/ { print int($2 / 1024) }' "/proc/$server/status"; }
echo "memory.sh: $rate events/s for $duration; anonymous RSS of vtrack serve in MiB every 10 s" >&2
start_rss=$(rss)
taskset -c 0 target/release/vtrack loadgen --target "http://$addr/v1/events" --site demo --rate "$rate" \
    --duration "$duration" "${ip_args[@]}" --format json >"$tmp/report.json" &
loadgen=$!
samples=()
while kill -0 "$loadgen" 2>/dev/null; do
    sleep 10
    kill -0 "$loadgen" 2>/dev/null || break
    samples+=("$(rss)")
    printf '%s ' "${samples[-1]}" >&2
done
echo >&2
wait "$loadgen"
hwm=$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$server/status")
file=$(awk '/^RssFile/ { print int($2 / 1024) }' "/proc/$server/status")
stored=$(curl -fsS "http://$addr/metrics" | awk '$1 == "vtrack_process_events_stored_total" { print $2 }')
n=${#samples[@]}
half=$((n / 2))
first=$(printf '%s\n' "${samples[@]:0:$half}" | sort -n | tail -1)
last=$(printf '%s\n' "${samples[@]:$half}" | sort -n | tail -1)
errors=$(jq -c '.errors' "$tmp/report.json")
echo
echo "| events stored | anon RSS at start | max anon RSS, first half | max anon RSS, second half | file-backed RSS at end | peak VmHWM | loadgen errors |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"
echo "| $stored | $start_rss MiB | $first MiB | $last MiB | $file MiB | $hwm MiB | $errors |"
