#!/usr/bin/env bash
# What cluster mode costs, measured on this machine: the figures of docs/sizing.md, each from one subcommand.
#
#   benches/cluster.sh throughput [--runs 3] [--events 200000] [--before BIN]
#       Kafka → ClickHouse processing (benches/examples/process-throughput.rs): the single server with the
#       vtrack of target/release and, with --before, another build side by side (interleaved runs); then the
#       2 × 2 cluster with one and with two processors. Each against the raw consume-and-insert baseline.
#   benches/cluster.sh sqlite [--runs 3] [--requests 20000] --before BIN
#       `vtrack serve` on SQLite, end to end (loadgen → ingest → journal → processing → SQLite), this build
#       against BIN, interleaved: events stored per second.
#   benches/cluster.sh load N [--processors 2] [--backdate 30d] [--store cluster|single]
#       N events from `vtrack loadgen` (real AS ranges, 5 events per request, client clocks spread over the
#       last 30 days) through `vtrack ingest` → Kafka → processors → the cluster (or the single server), into a
#       new database; prints the rates and the database's name.
#   benches/cluster.sh move DB                # the single server's DB into the cluster, as docs/cluster.md's
#                                             # "Moving a single-server store" says (through the Distributed tables)
#   benches/cluster.sh grow DB FACTOR
#       DB's events, sessions, identities and network traffic made FACTOR times as many inside the cluster, for
#       the scales the pipeline cannot load here in time or disk: copy k (1 … FACTOR-1) of the loaded rows,
#       inserted through the Distributed tables (so each row lands on the shard its key picks), with its own
#       event, session and visitor ids (suffix ~gK) and its times moved K spans of the loaded history into the
#       past, at most 12 spans back (a 30-day load grown 10× is 300 days of the same site; beyond 12, copies
#       share days: more traffic per day over about a year). Accounts, alerts, owners and evidence stay
#       as loaded: the same companies over a longer history (their counters are not recomputed). Resumable: a
#       copy already there is skipped. Prints the time of each copy.
#   benches/cluster.sh copy DB                # the cluster's DB copied into the single server, for comparison
#   benches/cluster.sh size DB                # bytes on disk per event and table, after merges (OPTIMIZE FINAL)
#   benches/cluster.sh queries DB [--runs 5]  # the dashboard's reads (its API) and the example queries of
#                                             # docs/operations.md on the cluster and on the single server's copy
#
# Servers: deploy/clickhouse-cluster.sh (nodes on CLUSTER_HTTP, default the first of CLICKHOUSE_CLUSTER_HTTP_PORTS or
# 18131; CLUSTER_DIR and the script's port variables run a second cluster beside the tests'), deploy/clickhouse.sh
# (SINGLE_HTTP, default $CLICKHOUSE_HTTP_PORT or 18123) and deploy/kafka.sh ($KAFKA_PORT or 19092), started when
# down. Reports go to target/cluster-bench/. The load average is printed first: figures from a busy machine
# are upper bounds of the cost.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cmd="${1:-}"
shift || true
runs=3
events=200000
requests=20000
before=""
processors=2
backdate=30d
store=cluster
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --events) events="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --before) before="$2"; shift 2 ;;
        --processors) processors="$2"; shift 2 ;;
        --backdate) backdate="$2"; shift 2 ;;
        --store) store="$2"; shift 2 ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
set -- "${args[@]:-}"

vtrack="$root/target/release/vtrack"
kafka_port="${KAFKA_PORT:-19092}"
brokers="127.0.0.1:$kafka_port"
cluster_ports="${CLICKHOUSE_CLUSTER_HTTP_PORTS:-18131}"
cluster_http="${CLUSTER_HTTP:-${cluster_ports%% *}}"
# A second cluster beside the tests' one: CLUSTER_DIR with deploy/clickhouse-cluster.sh's port variables.
start_cluster() { bash deploy/clickhouse-cluster.sh start ${CLUSTER_DIR:+"$CLUSTER_DIR"} >&2; }
cluster_url="http://127.0.0.1:$cluster_http"
single_url="http://127.0.0.1:${SINGLE_HTTP:-${CLICKHOUSE_HTTP_PORT:-18123}}"
asn_csv="$root/.cache/ip-location-db/asn/asn-ipv4.csv"
out="$root/target/cluster-bench"
mkdir -p "$out"

for tool in curl jq; do
    command -v "$tool" >/dev/null || { echo "cluster.sh: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done
echo "cluster.sh: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ch URL SQL [SETTINGS]: one statement over HTTP; fails on an error answer.
ch() {
    local answer
    answer="$(curl -sS --max-time 3600 "$1/?${3:-}" --data-binary "$2")"
    if [[ "$answer" == Code:* ]]; then echo "cluster.sh: $1 refused: $2: $answer" >&2; return 1; fi
    printf '%s' "$answer"
}
cluster_settings="prefer_localhost_replica=0&distributed_product_mode=global"

# metric PORT NAME: a counter from a vtrack process's /metrics (0 when absent).
metric() {
    curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }'
}

wait_up() { # PORT
    for _ in $(seq 1 300); do curl -fsS --max-time 2 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "cluster.sh: nothing healthy on port $1" >&2; return 1
}

pids=()
cleanup() { for p in "${pids[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

case "$cmd" in
throughput)
    bash deploy/clickhouse.sh start >&2
    start_cluster
    cargo build --release -p vtrack -p vtrack-benches --example process-throughput >&2
    pt="$root/target/release/examples/process-throughput"
    for i in $(seq 1 "$runs"); do
        "$pt" --events "$events" --clickhouse "$single_url" | tee -a "$out/throughput-single-after.md"
        if [[ -n "$before" ]]; then
            "$pt" --events "$events" --clickhouse "$single_url" --bin "$before" | tee -a "$out/throughput-single-before.md"
        fi
    done
    for i in $(seq 1 "$runs"); do
        for n in 1 2; do
            "$pt" --events "$events" --clickhouse "$cluster_url" --cluster vtrack --processors "$n" \
                | tee -a "$out/throughput-cluster-$n.md"
        done
    done
    ;;

sqlite)
    [[ -n "$before" ]] || { echo "cluster.sh sqlite: --before BIN is needed" >&2; exit 2; }
    cargo build --release -p vtrack >&2
    for i in $(seq 1 "$runs"); do
        for bin in "$vtrack" "$before"; do
            dir="$(mktemp -d)"
            port="$(free_port)"
            printf '[server]\ntrusted_proxies = ["127.0.0.1/32"]\n[limits]\nper_address = { rate = 0, burst = 1 }\nper_site = { rate = 0, burst = 1 }\n' >"$dir/vtrack.toml"
            "$bin" serve --config "$dir/vtrack.toml" --data-dir "$dir/data" --listen "127.0.0.1:$port" --site demo \
                --asn-csv "$asn_csv" >/dev/null 2>"$dir/serve.log" &
            pids+=($!)
            wait_up "$port"
            start=$(date +%s.%N)
            "$vtrack" loadgen --target "http://127.0.0.1:$port/v1/events" --site demo --requests "$requests" \
                --events-per-request 5 --connections 16 --asn-csv "$asn_csv" --format json >"$dir/loadgen.json"
            accepted=$(jq '.events' "$dir/loadgen.json")
            until [[ "$(metric "$port" vtrack_process_events_stored_total)" -ge "$accepted" ]]; do sleep 0.05; done
            end=$(date +%s.%N)
            kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
            rate=$(echo "$accepted / ($end - $start)" | bc -l)
            printf '%s\t%s\t%.0f events/s (%s events)\n' "$i" "$bin" "$rate" "$accepted" | tee -a "$out/sqlite.tsv"
            rm -rf "$dir"
        done
    done
    ;;

load)
    n="${1:?load N: how many events}"
    start_cluster
    bash deploy/kafka.sh start >&2
    [[ -s "$asn_csv" ]] || bash scripts/fetch-asn-data.sh >&2
    db="load_$(date +%s)"
    topic="$db.events"
    if [[ "$store" == single ]]; then
        bash deploy/clickhouse.sh start >&2
        store_args=(--clickhouse "$single_url/$db")
    else
        store_args=(--clickhouse "$cluster_url/$db" --clickhouse-cluster vtrack)
    fi
    "$vtrack" migrate "${store_args[@]}" --kafka "$brokers" --topic "$topic" --partitions 4 >&2
    work="$out/$db"
    mkdir -p "$work"
    printf '[server]\ntrusted_proxies = ["127.0.0.1/32"]\nclient_clock_window = "31d"\n[limits]\nper_address = { rate = 0, burst = 1 }\nper_site = { rate = 0, burst = 1 }\n' >"$work/ingest.toml"
    # Ingest first, into Kafka alone: its rate. Then the processors drain the backlog: theirs.
    ingest_port="$(free_port)"
    RUST_LOG=warn,librdkafka=off,rdkafka=off "$vtrack" ingest --config "$work/ingest.toml" --kafka "$brokers" --topic "$topic" \
        --listen "127.0.0.1:$ingest_port" --site demo --asn-csv "$asn_csv" --no-rdns 2>"$work/ingest.log" &
    pids+=($!)
    wait_up "$ingest_port"
    start=$(date +%s.%N)
    "$vtrack" loadgen --target "http://127.0.0.1:$ingest_port/v1/events" --site demo --requests $((n / 5)) \
        --events-per-request 5 --connections 32 --asn-csv "$asn_csv" --backdate "$backdate" --format json \
        >"$work/loadgen.json"
    ingest_done=$(date +%s.%N)
    accepted=$(jq '.events' "$work/loadgen.json")
    printf 'cluster.sh: %s events in Kafka\n' "$accepted" >&2
    ports=()
    for i in $(seq 1 "$processors"); do
        port="$(free_port)"
        RUST_LOG=warn,librdkafka=off,rdkafka=off "$vtrack" process --kafka "$brokers" --topic "$topic" --group "$db-process" \
            "${store_args[@]}" --listen "127.0.0.1:$port" 2>"$work/process-$i.log" &
        pids+=($!)
        ports+=("$port")
    done
    for p in "${ports[@]}"; do wait_up "$p"; done
    stored() { local s=0; for p in "${ports[@]}"; do s=$((s + $(metric "$p" vtrack_process_events_stored_total))); done; echo "$s"; }
    first_at=""
    steady_at=""
    steady_from=0
    last=0
    unchanged=0
    while :; do
        s="$(stored)"
        [[ -z "$first_at" && "$s" -gt 0 ]] && first_at=$(date +%s.%N)
        # Timed from a fifth on, as process-throughput does: joining the group and tansu's first fetches of a
        # large backlog are start-up, not processing.
        [[ -z "$steady_at" && "$s" -ge $((accepted / 5)) ]] && { steady_at=$(date +%s.%N); steady_from="$s"; }
        if [[ "$s" -ge "$accepted" ]]; then break; fi
        # Ingest may drop a few events (its reasons are in its /metrics): stop once nothing moves for 2 minutes.
        if [[ "$s" == "$last" ]]; then unchanged=$((unchanged + 1)); else unchanged=0; fi
        if [[ "$unchanged" -ge 120 ]]; then
            echo "cluster.sh: $s of $accepted events stored and nothing moves; ingest dropped the rest?" >&2
            break
        fi
        if [[ $((SECONDS % 60)) -eq 0 ]]; then echo "cluster.sh: $s events stored" >&2; fi
        last="$s"
        sleep 1
    done
    done_at=$(date +%s.%N)
    [[ -n "$first_at" ]] || first_at="$start"
    [[ -n "$steady_at" ]] || steady_at="$first_at" # stopped before a fifth: timed from the first event
    total="$(stored)"
    per=()
    for p in "${ports[@]}"; do per+=("$(metric "$p" vtrack_process_events_stored_total)"); done
    {
        echo "database $db: $accepted events answered 2xx, $total stored (loadgen: $(jq -c '{requests, accepted, events, duration_secs}' "$work/loadgen.json"))"
        printf 'ingest (one vtrack ingest → Kafka, loadgen on the same cores): %.0f events/s over %.0f s\n' \
            "$(echo "$accepted / ($ingest_done - $start)" | bc -l)" "$(echo "$ingest_done - $start" | bc -l)"
        printf "processing (%s processors draining the backlog into the $store): %.0f events/s steady (from a fifth on), %.0f s in all; stored per processor: %s\n" \
            "$processors" "$(echo "($total - $steady_from) / ($done_at - $steady_at)" | bc -l)" \
            "$(echo "$done_at - $first_at" | bc -l)" "${per[*]}"
    } | tee "$work/load.txt"
    ;;

grow)
    db="${1:?grow DB FACTOR}"
    factor="${2:?grow DB FACTOR: how many times the loaded rows}"
    grow_settings="$cluster_settings&insert_distributed_sync=1&database=$db"
    base="position(visitor_id, '~g') = 0" # the loaded rows: every copy's visitor ids end in ~gK
    span_days="$(ch "$cluster_url" "SELECT intDiv(toUInt32(max(ts)) - toUInt32(min(ts)), 86400) + 1 FROM $db.events WHERE $base" "$grow_settings")"
    base_events="$(ch "$cluster_url" "SELECT count() FROM $db.events WHERE $base" "$grow_settings")"
    echo "cluster.sh: $db holds $base_events loaded events over $span_days days; growing to $factor× ($((base_events * factor)) events, $((span_days * factor)) days)" >&2
    # select_list TABLE K: TABLE's columns in order, those a copy changes replaced by their expression (no alias:
    # ClickHouse's WHERE would read an alias named like the column instead of the column).
    select_list() {
        local back=$(( ($2 - 1) % 12 + 1 )) sfx="'~g$2'"
        local shift_s=$((back * span_days * 86400))
        ch "$cluster_url" "DESCRIBE TABLE $db.${1}_local FORMAT TSV" | cut -f1 | while read -r c; do
            case "$1.$c" in
                events.event_id|*.visitor_id) echo "concat($c, $sfx)" ;;
                *.session_id) echo "if($c = '', '', concat($c, $sfx))" ;;
                events.ts|events.received_at|sessions.started_at|sessions.ended_at) echo "$c - $shift_s" ;;
                identities.identified_ms) echo "$c - $((shift_s * 1000))" ;;
                network_traffic.day) echo "$c - $((back * span_days))" ;;
                *) echo "$c" ;;
            esac
        done | paste -sd, -
    }
    for k in $(seq 1 $((factor - 1))); do
        sfx="~g$k"
        if [[ "$(ch "$cluster_url" "SELECT count() FROM $db.events WHERE endsWith(event_id, '$sfx')" "$grow_settings")" -ge "$base_events" ]]; then
            echo "cluster.sh: copy $k already there" >&2; continue
        fi
        start=$(date +%s.%N)
        for t in events sessions identities; do
            ch "$cluster_url" "INSERT INTO $db.$t SELECT $(select_list "$t" "$k") FROM $db.$t WHERE $base" "$grow_settings" >/dev/null
        done
        # network_traffic has no visitor: the loaded days' rows, moved with the copy.
        first_day="$(ch "$cluster_url" "SELECT toDate(min(ts)) FROM $db.events WHERE $base" "$grow_settings")"
        ch "$cluster_url" "INSERT INTO $db.network_traffic SELECT $(select_list network_traffic "$k") FROM $db.network_traffic WHERE day >= '$first_day'" \
            "$grow_settings" >/dev/null
        printf 'cluster.sh: copy %d of %d: %.0f s, %s events now (load average %s)\n' "$k" $((factor - 1)) \
            "$(echo "$(date +%s.%N) - $start" | bc -l)" "$(ch "$cluster_url" "SELECT count() FROM $db.events" "$grow_settings")" \
            "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/grow-$db.txt"
    done
    ;;

move)
    db="${1:?move DB}"
    start_cluster
    "$vtrack" migrate --clickhouse "$cluster_url/$db" --clickhouse-cluster vtrack >&2
    single_tcp="$(ch "$single_url" "SELECT value FROM system.settings WHERE name = 'tcp_port'" 2>/dev/null || true)"
    [[ -n "$single_tcp" ]] || single_tcp="$(grep -o '<tcp_port>[0-9]*' .cache/clickhouse/config.xml | grep -o '[0-9]*$')"
    start=$(date +%s.%N)
    for t in events sessions accounts alerts alert_deliveries account_status identities learned_keys learned_ranges \
        account_owners account_owner_history network_evidence network_traffic rekeyed; do
        ch "$cluster_url" "INSERT INTO $db.$t SELECT * FROM remote('127.0.0.1:$single_tcp', $db, $t)" \
            "$cluster_settings&insert_distributed_sync=1" >/dev/null
    done
    printf 'cluster.sh: %s events moved into %s/%s in %.0f s\n' "$(ch "$cluster_url" "SELECT count() FROM $db.events" "$cluster_settings")" \
        "$cluster_url" "$db" "$(echo "$(date +%s.%N) - $start" | bc -l)"
    ;;

copy)
    db="${1:?copy DB}"
    bash deploy/clickhouse.sh start >&2
    "$vtrack" migrate --clickhouse "$single_url/$db" >&2
    node_tcp="$(ch "$cluster_url" "SELECT port FROM system.clusters WHERE cluster = 'vtrack' AND shard_num = 1 AND replica_num = 1")"
    for t in events sessions accounts alerts alert_deliveries account_status identities learned_keys learned_ranges account_owners account_owner_history; do
        ch "$single_url" "INSERT INTO $db.$t SELECT * FROM remote('127.0.0.1:$node_tcp', $db, $t)" \
            "database=$db&$cluster_settings" >/dev/null
    done
    ch "$single_url" "SELECT count() FROM $db.events" "database=$db"; echo " events copied to $single_url/$db" >&2
    ;;

size)
    db="${1:?size DB}"
    for t in events sessions accounts alerts alert_deliveries account_status identities learned_keys learned_ranges \
        account_owners account_owner_history network_evidence network_traffic; do
        # On each node, not ON CLUSTER: 18.16's DDL worker can die in a race between two replicas of a shard
        # running the same ALTER or OPTIMIZE task (docs/sizing.md), and ON CLUSTER then waits for it for an hour.
        for p in $cluster_ports; do
            # (18.16 refuses it for a table with no parts: "Unknown log entry type: 0"; nothing to merge then.)
            ch "http://127.0.0.1:$p" "OPTIMIZE TABLE $db.${t}_local FINAL" "replication_alter_partitions_sync=2" >/dev/null || true
        done
    done
    sleep 5
    total="$(ch "$cluster_url" "SELECT count() FROM $db.events FINAL" "$cluster_settings")"
    echo "database $db: $total events (after merges); one replica of each shard counted, times 2 for both replicas"
    echo "| table | rows | bytes on disk | bytes per event | uncompressed bytes per row | compression |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    ch "$cluster_url" "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes), sum(data_compressed_bytes)
        FROM cluster('vtrack', system, parts) WHERE database = '$db' AND active GROUP BY table ORDER BY sum(bytes_on_disk) DESC
        FORMAT TSV" "$cluster_settings" \
        | awk -F'\t' -v n="$total" '{ printf "| %s | %d | %d | %.1f | %.0f | %.1f× |\n", $1, $2, $3, $3 / n, ($2 ? $4 / $2 : 0), ($5 ? $4 / $5 : 0) }' \
        | tee "$out/size-$db.md"
    ;;

queries)
    db="${1:?queries DB}"
    runs_q="${runs:-5}"
    [[ "$runs" == 3 ]] && runs_q=5
    token="bench-token"
    printf '[dashboard]\ntoken = "%s"\n' "$token" >"$out/api.toml"
    median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
    top="$(ch "$cluster_url" "SELECT company_domain FROM $db.accounts FINAL ORDER BY visitors DESC LIMIT 1" "$cluster_settings")"
    queries_file="$(mktemp)"
    sed -n '/<!-- clickhouse-queries -->/,/<!-- \/clickhouse-queries -->/p' docs/operations.md \
        | sed -n '/```sql/,/```/p' | grep -v '```' | grep -v '^--' | tr '\n' ' ' | tr ';' '\n' | sed 's/^ *//; /^$/d' >"$queries_file"
    for store in cluster single; do
        if [[ "$store" == cluster ]]; then url="$cluster_url"; extra=(--clickhouse-cluster vtrack); settings="$cluster_settings"
        else url="$single_url"; extra=(); settings=""; fi
        ch "$url" "SELECT 1" >/dev/null || { echo "cluster.sh: $url is not up" >&2; continue; }
        if [[ "$(ch "$url" "SELECT count() FROM system.databases WHERE name = '$db'")" == 0 ]]; then
            echo "cluster.sh: no $db on $url (benches/cluster.sh copy $db puts it there)" >&2; continue
        fi
        port="$(free_port)"
        "$vtrack" api --config "$out/api.toml" --clickhouse "$url/$db" "${extra[@]}" --listen "127.0.0.1:$port" --site demo \
            >/dev/null 2>"$out/api-$store.log" &
        pids+=($!)
        wait_up "$port"
        echo "$store ($url/$db): median of $runs_q, milliseconds"
        echo "| read | ms |"
        echo "| --- | ---: |"
        for path in "/api/accounts" "/api/accounts/$top" "/api/campaigns" "/api/funnel?period=week" "/api/live?minutes=60"; do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "http://127.0.0.1:$port$path") # warm
            t=$(for i in $(seq 1 "$runs_q"); do
                curl -s -o /dev/null -w '%{time_total}\n' -H "authorization: Bearer $token" "http://127.0.0.1:$port$path"
            done | median)
            printf '| dashboard `GET %s` | %.0f (HTTP %s) |\n' "${path/$top/<top account>}" "$(echo "$t * 1000" | bc -l)" "$code"
        done
        q=0
        while IFS= read -r sql; do
            q=$((q + 1))
            ch "$url" "$sql FORMAT JSON" "database=$db&$settings" >/dev/null
            t=$(for i in $(seq 1 "$runs_q"); do
                ch "$url" "$sql FORMAT JSON" "database=$db&$settings" | jq '.statistics.elapsed'
            done | median)
            rows=$(ch "$url" "$sql FORMAT JSON" "database=$db&$settings" | jq '.statistics.rows_read')
            printf '| example query %d (docs/operations.md) | %.0f (%s rows read) |\n' "$q" "$(echo "$t * 1000" | bc -l)" "$rows"
        done <"$queries_file"
        kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    done | tee "$out/queries-$db.md"
    rm -f "$queries_file"
    ;;

*)
    sed -n '2,35p' "$0"
    exit 2
    ;;
esac
