#!/usr/bin/env bash
# Runs every test of vtrack: the documentation's links, formatting, lints, the Rust suites (unit,
# integration through the real binary, the production path through a real Kafka-protocol broker and
# ClickHouse server and through a ClickHouse cluster (two shards of two replicas and ZooKeeper), resolver property tests on the real AS data and on MaxMind's own test databases,
# `vtrack data update` from the real npm registry — VTRACK_OFFLINE=1 skips that one), the ClickHouse
# dialect check on two versions, the tracker's build and size checks, its browser tests and the npm
# package's tests (packed, publint, arethetypeswrong, an SPA), and the dashboard's browser tests (with a
# screenshot of every view at every width under target/screenshots/dashboard/).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "documentation: every relative link and #anchor resolves"
bash scripts/check-doc-links.sh

step "dependencies"
bash scripts/install-deps.sh
bash scripts/fetch-asn-data.sh
bash scripts/fetch-maxmind-test-data.sh
bash scripts/fetch-ua-lists.sh
# Every test that needs data from outside the repository (the AS data, MaxMind's test databases, the public
# user-agent lists, the npm registry, root for the full-disk test) runs here, never skipped: without what
# it needs it fails (vtrack_testkit::missing).
export VTRACK_REQUIRE_DATA=1

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "local ClickHouse 18.16, a ClickHouse cluster (2 shards × 2 replicas, ZooKeeper) and a Kafka-protocol broker (tansu) for the production-path tests"
# Stopped on the way out, also when one of them fails to start.
trap 'bash deploy/kafka.sh stop; bash deploy/clickhouse-cluster.sh stop; bash deploy/clickhouse.sh stop' EXIT
bash deploy/clickhouse.sh start
bash deploy/clickhouse-cluster.sh start
bash deploy/kafka.sh start

step "ClickHouse dialect: the schema, the cluster schema and the example queries of docs/operations.md on 18.16 (one server and a cluster) and on current ClickHouse (chdb)"
.cache/venv/bin/python scripts/check-clickhouse-dialect.py --server http://127.0.0.1:18123 \
  --cluster-server http://127.0.0.1:18131

step "cargo test"
cargo test --workspace --locked

step "tracker: the committed build matches its source; gzipped, t.js is within 1,300 bytes and the npm package within 1,500"
(cd tracker-js && npm run --silent check-build && npm run --silent size)

step "tracker and dashboard: browser tests against a real vtrack serve, the npm package packed, linted, type-checked and bundled into an SPA, and the dashboard's layout at four widths"
cargo build -p vtrack --locked
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
shots="screenshots of every dashboard view at every width, for a person to look at: $target_dir/screenshots/dashboard/"
(cd tracker-js && VTRACK_BIN="$target_dir/debug/vtrack" CARGO_TARGET_DIR="$target_dir" npm test) || { echo "$shots"; exit 1; }
echo "$shots"
