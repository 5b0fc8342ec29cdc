#!/usr/bin/env bash
# What reverse DNS beside ingest costs ingest: `vtrack serve` with enrichment off, against the same with
# enrichment on and a DNS server that never answers (every lookup runs into its timeout, the queue fills
# and drops), side by side, alternating, at max rate (closed loop).
#
#   benches/enrich.sh                      # 3 rounds of 10 s each way
#   ROUNDS=5 benches/enrich.sh --duration 20s --no-build
#
# The slow DNS server is Debian's dnsmasq on loopback forwarding every reverse zone to a port nobody answers
# on. The server is pinned to one core and the load generator to the other; client addresses come from the
# real AS data when `scripts/fetch-asn-data.sh` has fetched it (most then resolve as unknown against the
# fixture sources, so nearly every new address is offered for a lookup: the worst case), else from the
# fixture ranges. Prints accepted req/s per run, each way's median and their ratio; JSON reports go to
# target/enrich-bench/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

duration=10s
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) duration="${2:?--duration needs a value, e.g. 10s}"; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "enrich.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
rounds="${ROUNDS:-3}"
out="$root/target/enrich-bench"
addr=127.0.0.1:18191
dns_port=18153

for tool in curl jq /usr/sbin/dnsmasq; do
    command -v "$tool" >/dev/null || { echo "enrich.sh: $tool is needed (scripts/install-deps.sh)" >&2; exit 1; }
done
((build)) && cargo build --release -p vtrack
pin_server=() pin_loadgen=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    pin_server=(taskset -c 1)
    pin_loadgen=(taskset -c 0)
fi
asn_csv="$root/.cache/ip-location-db/asn/asn-ipv4.csv"
ip_args=()
[[ -s "$asn_csv" ]] && ip_args=(--asn-csv "$asn_csv")

tmp="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$out"

/usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$dns_port" --pid-file= \
    --server=/in-addr.arpa/127.0.0.1#9 --server=/ip6.arpa/127.0.0.1#9 &
pids+=("$!")

# run NAME [serve flags...]: one max-rate run against a fresh serve; prints accepted req/s.
run() {
    local name="$1"
    shift
    rm -rf "$tmp/data"
    "${pin_server[@]}" target/release/vtrack serve --site demo --data-dir "$tmp/data" --listen "$addr" \
        --trusted-proxy 127.0.0.1/32 --companies fixtures/companies.csv --mmdb fixtures/demo.mmdb \
        --asn-csv fixtures/asn.csv "$@" >"$tmp/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 300); do
        curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    "${pin_loadgen[@]}" target/release/vtrack loadgen --target "http://$addr/v1/events" --site demo \
        --duration "$duration" "${ip_args[@]}" --format json >"$out/$name.json"
    curl -fsS "http://$addr/metrics" | grep -E '^vtrack_enrich_(offered|queue_drops|lookups)_total ' \
        | sed "s/^/  $name: /" >&2 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    jq -r '.accepted_per_sec | round' "$out/$name.json"
}

off=() on=()
for r in $(seq 1 "$rounds"); do
    off+=("$(run "off-$r" --no-rdns)")
    on+=("$(run "on-$r" --rdns-server "127.0.0.1:$dns_port")")
    echo "round $r: enrichment off ${off[-1]} req/s, on with a DNS server that never answers ${on[-1]} req/s" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
m_off=$(median "${off[@]}")
m_on=$(median "${on[@]}")
echo "| enrichment | runs (accepted req/s) | median | vs off |"
echo "| --- | --- | --- | --- |"
echo "| off | ${off[*]} | $m_off | 1.00× |"
echo "| on, DNS never answers | ${on[*]} | $m_on | $(jq -rn --argjson a "$m_on" --argjson b "$m_off" '$a / $b * 100 | round / 100')× |"
