#!/usr/bin/env bash
# Durable acceptance against in-memory acceptance: `benches/ingest.sh` on `vtrack serve` with
# `--durability memory` (202 once the event is in the in-process queue, as before the journal) and with
# `--durability fsync` (202 once the journal holding it is flushed to disk, the default), one after the other
# on the same machine, ROUNDS times, then the runs side by side: the sustained rate (the highest fixed rate
# taken whole), its ratio to the first variant's in the same round and to the bare server's, latency at half
# the sustained rate, and the server's CPU time per accepted event against the bare server's at that rate.
#
#   benches/durability.sh                    # 3 rounds, 20 s per run
#   benches/durability.sh --duration 10s     # passed on to ingest.sh, as is --no-build
#   MODES="memory write fsync" benches/durability.sh
#   MODES="fsync@target/vtrack-before fsync" ROUNDS=5 benches/durability.sh --no-build   # before/after
#
# A variant is a durability, optionally with `@binary` (default target/release/vtrack): a copy of an older
# build measured in the same rounds as the new one. Rounds run the variants in turn, so a machine that gets
# busier part-way weighs on each about equally; the summary gives each figure's median and range.
#
# The data directory is a temporary directory on the disk /tmp lives on (ext4 here); a tmpfs would make
# fsync free and the comparison meaningless, so the script says which filesystem it is.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
read -r -a variants <<<"${MODES:-memory fsync}"
rounds="${ROUNDS:-3}"
args=("$@")
echo "durability.sh: the data directory is on $(findmnt -n -o FSTYPE,SOURCE -T "${TMPDIR:-/tmp}" || echo '?')" >&2

built=0
for arg in "${args[@]}"; do [[ "$arg" == --no-build ]] && built=1; done
if ((!built)); then
    cargo build --release -p vtrack -p vtrack-benches --bins --examples
    args+=(--no-build)
fi

base="target/ingest-bench/durability"
rm -rf "$base"
# dir_of ROUND VARIANT: where ingest.sh puts that run's reports.
dir_of() { echo "$base/round-$1/$(tr '/@' '__' <<<"$2")"; }

for round in $(seq 1 "$rounds"); do
    for v in "${variants[@]}"; do
        mode="${v%%@*}"
        bin="target/release/vtrack"
        [[ "$v" == *@* ]] && bin="${v#*@}"
        echo "durability.sh: round $round of $rounds, $v ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
        mkdir -p "$(dirname "$(dir_of "$round" "$v")")"
        INGEST_OUT="$(dir_of "$round" "$v")" VTRACK_BIN="$bin" \
            bash benches/ingest.sh --durability "$mode" "${args[@]}" >"$(dir_of "$round" "$v").table" 2>"$(dir_of "$round" "$v").log" ||
            { echo "durability.sh: ingest.sh failed for $v in round $round (left out); its log:" >&2;
              tail -n 5 "$(dir_of "$round" "$v").log" >&2; }
        cat "$(dir_of "$round" "$v").table"
    done
done

# One JSON row per round and variant.
rows="$base/rows.json"
for round in $(seq 1 "$rounds"); do
    first="$(dir_of "$round" "${variants[0]}")"
    [[ -s "$first/vtrack-sustained.json" ]] || continue
    for v in "${variants[@]}"; do
        d="$(dir_of "$round" "$v")"
        [[ -s "$d/vtrack-sustained.json" && -s "$d/baseline-fixed.json" ]] || continue
        jq -n --arg variant "$v" --argjson round "$round" \
            --slurpfile s "$d/vtrack-sustained.json" --slurpfile f "$d/vtrack-fixed.json" \
            --slurpfile bm "$d/baseline-max.json" --slurpfile bf "$d/baseline-fixed.json" \
            --slurpfile ref "$first/vtrack-sustained.json" '
            { variant: $variant, round: $round,
              sustained: $s[0].accepted_per_sec,
              vs_first: ($s[0].accepted_per_sec / $ref[0].accepted_per_sec),
              vs_baseline: ($s[0].accepted_per_sec / $bm[0].accepted_per_sec),
              baseline_max: $bm[0].accepted_per_sec,
              half_rate: $f[0].target_rate, p50: $f[0].latency_ms.p50, p99: $f[0].latency_ms.p99,
              errors: ((($f[0].errors.status | to_entries | map(.value) | add) // 0) + $f[0].errors.transport),
              cpu_us: $f[0].server_cpu_us_per_event, baseline_cpu_us: $bf[0].server_cpu_us_per_event,
              cpu_vs_baseline: ($f[0].server_cpu_us_per_event / $bf[0].server_cpu_us_per_event),
              sustained_cpu_us: $s[0].server_cpu_us_per_event }'
    done
done | jq -s . >"$rows"

echo
echo "| round | vtrack serve --durability | sustained req/s | vs ${variants[0]} | vs bare hyper | at half of it | p50 ms | p99 ms | errors | server CPU µs/event (bare) | CPU vs bare |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
jq -r '
    def two: . * 100 | round | tostring | if length < 3 then ("00" + .)[-3:] else . end | .[:-2] + "." + .[-2:];
    def thousands: round | tostring | def t: if length > 3 then (.[:-3] | t) + "," + .[-3:] else . end; t;
    .[] | "| \(.round) | \(.variant) | \(.sustained | thousands) | \(.vs_first | two)× | \(.vs_baseline | two)× "
        + "| \(.half_rate | thousands)/s | \(.p50) | \(.p99) | \(.errors) "
        + "| \(.cpu_us * 10 | round / 10) (\(.baseline_cpu_us * 10 | round / 10)) | \(.cpu_vs_baseline | two)× |"' "$rows"

echo
echo "Median (range) over $rounds rounds:"
echo
echo "| vtrack serve --durability | vs ${variants[0]} | vs bare hyper | p99 ms at half | server CPU µs/event | CPU vs bare |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
jq -r '
    def two: . * 100 | round | tostring | if length < 3 then ("00" + .)[-3:] else . end | .[:-2] + "." + .[-2:];
    def one: . * 10 | round / 10 | tostring;
    def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def spread(f; fmt): map(f) | "\(median | fmt) (\(min | fmt)–\(max | fmt))";
    group_by(.variant) as $groups
    | $groups[] | . as $g
    | "| \($g[0].variant) | \($g | spread(.vs_first; two))× | \($g | spread(.vs_baseline; two))× "
      + "| \($g | spread(.p99; tostring)) | \($g | spread(.cpu_us; one)) | \($g | spread(.cpu_vs_baseline; two))× |"' "$rows"
echo
echo "Reports: $base/round-*/ (one directory per variant), rows: $rows; load average now $(cut -d' ' -f1-3 /proc/loadavg)."
