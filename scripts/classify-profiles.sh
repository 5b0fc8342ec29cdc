#!/usr/bin/env bash
# Writes fixtures/classify-profiles.csv: the footprint in the real AS data (`@ip-location-db/asn`, see
# scripts/fetch-asn-data.sh) of every AS of the classifier's evaluation and held-out sets, so the
# classifier's tests and `vtrack classify --eval FILE --profiles fixtures/classify-profiles.csv` run offline
# with the same AS profiles the table build computes (crates/vtrack-resolve/src/as_profile.rs).
#
#   scripts/fetch-asn-data.sh && scripts/classify-profiles.sh
#
# Columns: asn, v4_addresses (IPv4 addresses summed over the AS's rows), v4_ranges (IPv4 rows),
# v6_ranges (IPv6 rows). Only counts are written, for the ASes of the two sets; the data itself is not
# committed. The test `profiles_fixture_matches_the_real_data` checks the file against the data.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${VTRACK_DATA_CACHE:-$root/.cache/ip-location-db}/asn"
out="$root/fixtures/classify-profiles.csv"
for f in asn-ipv4.csv asn-ipv6.csv; do
    [[ -s "$data/$f" ]] || { echo "classify-profiles: $data/$f missing; run scripts/fetch-asn-data.sh" >&2; exit 1; }
done

{
    echo "asn,v4_addresses,v4_ranges,v6_ranges"
    # The first three fields never hold a comma (addresses and a number); the quoted name comes after.
    awk -F, '
        FNR == 1 { file++ }
        file <= 2 { if (FNR > 1) want[$1] = 1; next }
        file == 3 {
            split($1, a, "."); split($2, b, ".")
            s = ((a[1] * 256 + a[2]) * 256 + a[3]) * 256 + a[4]
            e = ((b[1] * 256 + b[2]) * 256 + b[3]) * 256 + b[4]
            v4[$3] += e - s + 1; n4[$3]++; next
        }
        { n6[$3]++ }
        END {
            for (asn in want) printf "%d,%.0f,%d,%d\n", asn, v4[asn], n4[asn], n6[asn]
        }
    ' "$root/fixtures/classify-eval.csv" "$root/fixtures/classify-holdout.csv" "$data/asn-ipv4.csv" "$data/asn-ipv6.csv" |
        sort -t, -k1,1n
} >"$out"
echo "classify-profiles: $(($(wc -l <"$out") - 1)) ASes -> $out" >&2
