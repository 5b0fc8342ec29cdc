#!/usr/bin/env bash
# Scores the network class model on a labelled set with the real AS and country data, as the table build
# sees it; with --train, refits the committed model on the training sets instead.
#
#   scripts/classify-eval.sh                                  # fixtures/classify-random.csv, both halves
#   scripts/classify-eval.sh fixtures/classify-holdout.csv    # any labelled set
#   scripts/classify-eval.sh --train                          # rewrite crates/vtrack-resolve/data/class-model.tsv
#
# Fetches the data first (scripts/fetch-asn-data.sh) and runs the debug build of vtrack.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/fetch-asn-data.sh >/dev/null
data="${VTRACK_DATA_CACHE:-$root/.cache/ip-location-db}"
sources=(--asn-csv "$data/asn/asn-ipv4.csv" --asn-csv "$data/asn/asn-ipv6.csv"
         --country-csv "$data/country/geo-whois-asn-country-ipv4.csv"
         --country-csv "$data/country/geo-whois-asn-country-ipv6.csv")
cargo build -q -p vtrack --locked
vtrack="${CARGO_TARGET_DIR:-$root/target}/debug/vtrack"
if [[ "${1:-}" == "--train" ]]; then
    # The test half of classify-random.csv is left out by the command itself.
    exec "$vtrack" classify --train fixtures/classify-train.csv --train fixtures/classify-random.csv \
        --train fixtures/classify-eval.csv "${sources[@]}" --out crates/vtrack-resolve/data/class-model.tsv
fi
exec "$vtrack" classify --eval "${1:-fixtures/classify-random.csv}" "${sources[@]}" "${@:2}"
