#!/usr/bin/env bash
# Ingest throughput and latency: `vtrack serve` against a bare-hyper baseline, same client, same machine.
#
#   benches/ingest.sh                        # 20 s per run
#   benches/ingest.sh --duration 5s          # a quick look
#   benches/ingest.sh --no-build             # use the release binaries already in target/release
#   benches/ingest.sh --kafka                # `vtrack ingest` publishing to Kafka (a local tansu) instead of serve
#   benches/ingest.sh --durability memory    # serve's acceptance: fsync (the default), write or memory
#   benches/durability.sh                    # serve with --durability memory and fsync, side by side
#   benches/ingest.sh --evidence on          # serve resolving with the real AS data, network evidence on: reverse
#                                            # DNS (a local dnsmasq answering every PTR with a name generated from
#                                            # the address) and the traffic counts; `--evidence off` turns both off
#
# Environment: CONNECTIONS (32), EVENTS_PER_REQUEST (1), WARMUP (2s, discarded), SERVER_CPU (1), LOADGEN_CPU (0),
# LOADGEN (the command to run, default `target/release/vtrack loadgen`, else the `loadgen` example),
# VTRACK_BIN (the vtrack binary measured, default target/release/vtrack: an older build for a before/after),
# INGEST_OUT (where the JSON reports go), PRIORITY (a nice level for both servers and the generator, e.g. -10
# on a shared machine).
#
# Runs: each server at max rate (closed loop); vtrack's sustained rate (fixed-rate steps up by 15% until one
# is refused in part); then both at a fixed rate of half vtrack's sustained rate
# (open loop, latency from when each request was due). Rates count 2xx answers only: an overloaded vtrack
# sheds load with fast 503s, which are not throughput. The server is pinned to one core and the load generator to
# another, so neither steals from the other. Client addresses come from the real AS data when
# `scripts/fetch-asn-data.sh` has fetched it, else from the fixture ranges. JSON reports go to
# target/ingest-bench/. Numbers from a busy machine mean little: the load average is printed first.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

duration=20s
build=1
bus=memory
durability=fsync
evidence=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="${2:?--duration needs a value, e.g. 20s}"; shift 2 ;;
        --duration=*) duration="${1#*=}"; shift ;;
        --no-build) build=0; shift ;;
        --kafka) bus=kafka; shift ;;
        --durability) durability="${2:?--durability needs fsync, write or memory}"; shift 2 ;;
        --durability=*) durability="${1#*=}"; shift ;;
        --evidence) evidence="${2:?--evidence needs on or off}"; shift 2 ;;
        --evidence=*) evidence="${1#*=}"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
        *) echo "ingest.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
connections="${CONNECTIONS:-32}"
per_request="${EVENTS_PER_REQUEST:-1}"
warmup="${WARMUP:-2s}"
server_cpu="${SERVER_CPU:-1}"
loadgen_cpu="${LOADGEN_CPU:-0}"
baseline_addr=127.0.0.1:18180
vtrack_addr=127.0.0.1:18181
out="$root/target/ingest-bench"
clk_tck="$(getconf CLK_TCK)"
[[ "$bus" == kafka ]] || out="$out/serve-$durability"
case "$evidence" in
    "") ;;
    on | off) out="$out-evidence-$evidence" ;;
    *) echo "ingest.sh: --evidence takes on or off" >&2; exit 2 ;;
esac
out="${INGEST_OUT:-$out}"
vtrack_bin="${VTRACK_BIN:-target/release/vtrack}"

for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "ingest.sh: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done

if ((build)); then
    echo "ingest.sh: building release binaries" >&2
    cargo build --release -p vtrack -p vtrack-benches --bins --examples
fi
for bin in "$vtrack_bin" target/release/examples/baseline-server; do
    [[ -x "$bin" ]] || { echo "ingest.sh: $bin is missing (run without --no-build)" >&2; exit 1; }
done

if [[ -n "${LOADGEN:-}" ]]; then
    read -r -a loadgen <<<"$LOADGEN"
elif target/release/vtrack loadgen --help >/dev/null 2>&1; then
    loadgen=(target/release/vtrack loadgen)
else
    [[ -x target/release/examples/loadgen ]] || { echo "ingest.sh: no load generator built" >&2; exit 1; }
    loadgen=(target/release/examples/loadgen)
fi

# Pinning needs two cores; on one, both share it and the figures say so.
pin_server=() pin_loadgen=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    pin_server=(taskset -c "$server_cpu")
    pin_loadgen=(taskset -c "$loadgen_cpu")
else
    echo "ingest.sh: warning: not pinning (needs taskset and 2 cores); server and client share the CPU" >&2
fi
# PRIORITY=-10 (root) runs both servers and the generator at that nice level, so other work on a shared
# machine takes less of their cores; both servers get the same.
if [[ -n "${PRIORITY:-}" ]]; then
    pin_server=(nice -n "$PRIORITY" "${pin_server[@]}")
    pin_loadgen=(nice -n "$PRIORITY" "${pin_loadgen[@]}")
fi

asn_csv="$root/.cache/ip-location-db/asn/asn-ipv4.csv"
ip_args=()
if [[ -s "$asn_csv" ]]; then
    ip_args=(--asn-csv "$asn_csv")
    ip_source="real AS ranges ($(basename "$asn_csv"))"
else
    ip_source="fixture ranges (run scripts/fetch-asn-data.sh for the real AS data)"
fi

tmp="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$out"

# Starts a server in the background, pinned, and waits for its /healthz.
start_server() {
    local name="$1" addr="$2"
    shift 2
    "${pin_server[@]}" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 300); do
        curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "ingest.sh: $name did not come up on $addr; its log:" >&2
    tail -n 30 "$tmp/$name.log" >&2
    exit 1
}

stop_server() {
    local pid="${pids[-1]}"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'pids[-1]'
}

# CPU time (user + system, all threads) the process PID has used so far, in clock ticks.
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
    # Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
    awk '{ print $12 + $13 }' <<<"${stat##*) }"
}

# load NAME ADDR [loadgen options...]: one run, JSON report to $out/NAME.json, the table to stderr. The
# server's CPU time over the run goes into the report (`server_cpu_secs`, `server_cpu_us_per_event`); for
# vtrack it counts until the store has caught up with what the run accepted (`drain_secs`), since processing
# an accepted event is part of its cost.
load() {
    local name="$1" addr="$2" pid="${pids[-1]}" before after drained=0
    shift 2
    before=$(cpu_ticks "$pid")
    "${pin_loadgen[@]}" "${loadgen[@]}" --target "http://$addr/v1/events" --site demo \
        --connections "$connections" --events-per-request "$per_request" "${ip_args[@]}" --format json "$@" \
        >"$out/$name.json"
    [[ "$addr" == "$vtrack_addr" ]] && drained=$(drain "$addr")
    after=$(cpu_ticks "$pid")
    jq --argjson ticks "$((after - before))" --argjson hz "$clk_tck" --argjson drained "$drained" '
        . + { server_cpu_secs: ($ticks / $hz), drain_secs: $drained,
              server_cpu_us_per_event: (if .events > 0 then $ticks / $hz * 1e6 / .events else null end) }' \
        "$out/$name.json" >"$out/$name.json.tmp" && mv "$out/$name.json.tmp" "$out/$name.json"
    echo "--- $name" >&2
    jq -r '"\(.requests) requests in \(.duration_secs | .*100 | round / 100) s: \(.requests_per_sec | round) req/s (\(.accepted_per_sec | round) accepted), p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors.status) + \(.errors.transport) transport, unsent \(.unsent), client CPU \(.client_cpu_cores), server CPU \(.server_cpu_us_per_event // "?" | if type == "number" then (. * 10 | round / 10) else . end) µs/event"' \
        "$out/$name.json" >&2
}

# A Prometheus counter of the server at ADDR, 0 when absent.
metric() {
    curl -fsS "http://$1/metrics" 2>/dev/null | awk -v m="$2" '$1 == m { v = $2 } END { printf "%d\n", v + 0 }'
}

# Events vtrack has handed on for good: stored (serve), or acknowledged by the broker (ingest --kafka).
handled() {
    if [[ "$bus" == kafka ]]; then
        metric "$1" vtrack_kafka_delivered_total
    else
        echo $(($(metric "$1" vtrack_process_events_stored_total) + $(metric "$1" vtrack_process_duplicates_total)))
    fi
}

# Waits until vtrack has handed on every event it accepted, so that one run's backlog does not slow the
# next; prints how long that took.
drain() {
    local addr="$1" started=$SECONDS accepted handled
    for _ in $(seq 1 600); do
        accepted=$(metric "$addr" vtrack_ingest_events_accepted_total)
        handled=$(handled "$addr")
        ((handled >= accepted)) && { echo $((SECONDS - started)); return 0; }
        sleep 0.1
    done
    echo "ingest.sh: warning: vtrack still had $((accepted - handled)) events to store after 60 s" >&2
    echo 60
}

echo "ingest.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $duration per run," \
    "$connections connections, $per_request event(s) per request, addresses from $ip_source;" \
    "load generator: ${loadgen[*]}" >&2

start_server baseline "$baseline_addr" target/release/examples/baseline-server --listen "$baseline_addr"
load baseline-warmup "$baseline_addr" --duration "$warmup"
load baseline-max "$baseline_addr" --duration "$duration"
stop_server

sources=(--companies fixtures/companies.csv --mmdb fixtures/demo.mmdb --asn-csv fixtures/asn.csv)
extra=()
if [[ -n "$evidence" ]]; then
    # Visitors from AS organisations (the real AS data, when fetched), so that both evidence paths have work:
    # a network's PTR names when it is first seen, the traffic sets of every event an AS organisation sends.
    [[ -s "$asn_csv" ]] && sources+=(--asn-csv "$asn_csv")
    if [[ "$evidence" == on ]]; then
        dns_port=18154
        /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
            --listen-address=127.0.0.1 --port="$dns_port" --pid-file= \
            --synth-domain=bench-isp.example,1.0.0.0,223.255.255.255,host- >"$tmp/dnsmasq.log" 2>&1 &
        pids+=("$!")
        printf '[process]\nnetwork_traffic = true\n' >"$tmp/evidence.toml"
        extra=(--rdns-server "127.0.0.1:$dns_port" --config "$tmp/evidence.toml")
    else
        printf '[process]\nnetwork_traffic = false\n' >"$tmp/evidence.toml"
        extra=(--no-rdns --config "$tmp/evidence.toml")
    fi
fi
if [[ "$bus" == kafka ]]; then
    # tansu is not pinned: the broker's work shares both cores, as a broker on the same machine would.
    bash deploy/kafka.sh start >&2
    topic="bench-$$"
    target/release/vtrack migrate --kafka 127.0.0.1:19092 --topic "$topic" --partitions 6 >&2
    vtrack_name="vtrack ingest → Kafka (tansu)"
    start_server vtrack "$vtrack_addr" "$vtrack_bin" ingest --kafka 127.0.0.1:19092 --topic "$topic" \
        --site demo --listen "$vtrack_addr" --trusted-proxy 127.0.0.1/32 "${sources[@]}"
else
    vtrack_name="vtrack serve ($durability)"
    start_server vtrack "$vtrack_addr" "$vtrack_bin" serve --site demo --data-dir "$tmp/data" --durability "$durability" \
        --listen "$vtrack_addr" --trusted-proxy 127.0.0.1/32 "${sources[@]}" "${extra[@]}"
fi
load vtrack-warmup "$vtrack_addr" --duration "$warmup"
load vtrack-max "$vtrack_addr" --duration "$duration"
vtrack_drain=$(jq -r '.drain_secs' "$out/vtrack-max.json")
vtrack_max=$(jq -r '.accepted_per_sec' "$out/vtrack-max.json")
# The sustained rate: the highest fixed rate vtrack takes whole (no 503, next to nothing unsent), stepping up by
# 15% from half the max-rate figure. At max rate a full queue makes vtrack shed load, so that figure
# mixes accepted and refused work; this one is what it keeps up with.
step=$(jq -rn --argjson r "$vtrack_max" '[($r / 2 | floor), 1] | max')
sustained=0
# A first step that is not taken whole (a busy machine) steps down by 15% instead, up to six times.
down=6
for _ in $(seq 1 20); do
    load "vtrack-step" "$vtrack_addr" --duration "$duration" --rate "$step"
    # Clean: nothing refused, and no more than 0.1% left unsent when the clock ran out.
    clean=$(jq -r '((.errors.status | to_entries | map(.value) | add) // 0) + .errors.transport == 0
        and .unsent <= .requests / 1000' "$out/vtrack-step.json")
    if [[ "$clean" != true ]]; then
        ((sustained == 0 && down > 0)) || break
        down=$((down - 1))
        step=$(jq -rn --argjson r "$step" '[($r / 1.15 | floor), 1] | max')
        continue
    fi
    sustained=$step
    down=0
    cp "$out/vtrack-step.json" "$out/vtrack-sustained.json"
    step=$(jq -rn --argjson r "$step" '$r * 1.15 | floor')
done
((sustained > 0)) || { echo "ingest.sh: vtrack did not take even $step req/s whole" >&2; exit 1; }
rate=$(jq -rn --argjson r "$sustained" '[($r / 2 | floor), 1] | max')
load vtrack-fixed "$vtrack_addr" --duration "$duration" --rate "$rate"
stored=$(handled "$vtrack_addr")
stop_server

start_server baseline "$baseline_addr" target/release/examples/baseline-server --listen "$baseline_addr"
load baseline-fixed "$baseline_addr" --duration "$duration" --rate "$rate"
stop_server

baseline_max=$(jq -r '.accepted_per_sec' "$out/baseline-max.json")
row() {
    local server="$1" name="$2" ratio="${3:-false}"
    jq -r --arg server "$server" --argjson base "$baseline_max" --argjson ratio "$ratio" '
        def two: . * 100 | round | tostring | if length < 3 then ("00" + .)[-3:] else . end | .[:-2] + "." + .[-2:];
        def thousands: tostring | if length > 3 then (.[:-3] | thousands) + "," + .[-3:] else . end;
        (.errors.status | to_entries | map("\(.value)×\(.key)")) as $status
        | ($status + (if .errors.transport > 0 then ["\(.errors.transport) transport"] else [] end)
                   + (if .unsent > 0 then ["\(.unsent) unsent"] else [] end)) as $errs
        | "| \($server) | \(if .target_rate then "fixed \(.target_rate | round | thousands)/s" else "max" end) "
          + "| \(.accepted_per_sec | round | thousands) "
          + "| \(if .target_rate and ($ratio | not) then "" else "\(.accepted_per_sec / $base | two)×" end) "
          + "| \(.latency_ms.p50) | \(.latency_ms.p99) "
          + "| \(if ($errs | length) == 0 then "0" else ($errs | join(", ")) end) "
          + "| \(if .server_cpu_us_per_event then (.server_cpu_us_per_event * 10 | round / 10 | tostring) else "?" end) "
          + "| \(if .client_cpu_cores then "\(.client_cpu_cores * 100 | round)%" else "?" end) |"' "$out/$name.json"
}

echo
echo "| server | load | accepted req/s | vs baseline | p50 ms | p99 ms | errors | server CPU µs/event | load generator CPU |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
row "baseline (bare hyper)" baseline-max
row "$vtrack_name" vtrack-max
row "$vtrack_name, sustained" vtrack-sustained true
row "$vtrack_name, half the sustained rate" vtrack-fixed
row "baseline (bare hyper)" baseline-fixed
jq -rn --slurpfile v "$out/vtrack-fixed.json" --slurpfile b "$out/baseline-fixed.json" '
    ($v[0].server_cpu_us_per_event) as $vc | ($b[0].server_cpu_us_per_event) as $bc
    | if $vc and $bc and $bc > 0 then
        "\nServer CPU per accepted event at the same fixed rate: vtrack \($vc * 10 | round / 10) µs, baseline \($bc * 10 | round / 10) µs: \($vc / $bc * 100 | round / 100)×."
      else empty end'
echo
echo "$duration per run, $connections connections, $per_request event(s) per request, server on CPU $server_cpu," \
    "load generator on CPU $loadgen_cpu; vtrack handed on $stored events and caught up ${vtrack_drain}s after its" \
    "max-rate run. Reports: ${out#"$root/"}/*.json"
