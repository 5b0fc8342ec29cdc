#!/usr/bin/env bash
# Durable acceptance against in-memory acceptance: `benches/ingest.sh` on `vtrack serve` with
# `--durability memory` (202 once the event is in the in-process queue, as before the journal) and with
# `--durability fsync` (202 once the journal holding it is flushed to disk, the default), one after the other
# on the same machine, then the two side by side: the sustained rate (the highest fixed rate taken whole),
# its ratio, and latency at half the sustained rate.
#
#   benches/durability.sh                    # 20 s per run
#   benches/durability.sh --duration 10s     # passed on to ingest.sh, as is --no-build
#   MODES="memory write fsync" benches/durability.sh
#
# The data directory is a temporary directory on the disk /tmp lives on (ext4 here); a tmpfs would make
# fsync free and the comparison meaningless, so the script says which filesystem it is.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
read -r -a modes <<<"${MODES:-memory fsync}"
args=("$@")
echo "durability.sh: the data directory is on $(findmnt -n -o FSTYPE,SOURCE -T "${TMPDIR:-/tmp}" || echo '?')" >&2

built=0
for arg in "${args[@]}"; do [[ "$arg" == --no-build ]] && built=1; done
for mode in "${modes[@]}"; do
    if ((built)); then
        bash benches/ingest.sh --durability "$mode" "${args[@]}" --no-build
    else
        bash benches/ingest.sh --durability "$mode" "${args[@]}"
        built=1
        args+=(--no-build)
    fi
done

first="${modes[0]}"
reference=$(jq -r '.accepted_per_sec' "target/ingest-bench/serve-$first/vtrack-sustained.json")
echo
echo "| vtrack serve --durability | sustained req/s | vs $first | at half of it: rate | p50 ms | p99 ms | errors |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
for mode in "${modes[@]}"; do
    dir="target/ingest-bench/serve-$mode"
    jq -r --arg mode "$mode" --argjson ref "$reference" --slurpfile fixed "$dir/vtrack-fixed.json" '
        def two: . * 100 | round | tostring | if length < 3 then ("00" + .)[-3:] else . end | .[:-2] + "." + .[-2:];
        def thousands: tostring | if length > 3 then (.[:-3] | thousands) + "," + .[-3:] else . end;
        $fixed[0] as $f
        | ((($f.errors.status | to_entries | map(.value) | add) // 0) + $f.errors.transport) as $errs
        | "| \($mode) | \(.accepted_per_sec | round | thousands) | \(.accepted_per_sec / $ref | two)× "
          + "| \($f.target_rate | round | thousands)/s | \($f.latency_ms.p50) | \($f.latency_ms.p99) | \($errs) |"' \
        "$dir/vtrack-sustained.json"
done
