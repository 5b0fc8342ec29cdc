#!/usr/bin/env bash
# Fetches the AS-level IP range data of the npm package `@ip-location-db/asn`, and the country of each range
# (`@ip-location-db/geo-whois-asn-country`), into a git-ignored cache, for the resolver's real-data tests,
# the classifier's samples and the benches. Idempotent: does nothing when the data is already there.
#
#   scripts/fetch-asn-data.sh            # -> .cache/ip-location-db/asn/asn-ipv{4,6}.csv
#                                        #    .cache/ip-location-db/country/geo-whois-asn-country-ipv{4,6}.csv
#   ASN_VERSION=2.3.2026061719 scripts/fetch-asn-data.sh   # pin the AS data's version
#
# Both are CC BY 4.0 (RouteViews and DB-IP; see each package's README); neither is committed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${VTRACK_DATA_CACHE:-$root/.cache/ip-location-db}"

command -v npm >/dev/null || { echo "fetch-asn-data: npm is needed (apt-get install npm)" >&2; exit 1; }

# fetch PACKAGE DEST FILE... — npm pack PACKAGE and keep FILEs (and its README, LICENSE) in DEST.
fetch() {
    local pkg="$1" dest="$2"; shift 2
    local tmp tarball f
    tmp="$(mktemp -d)"
    echo "fetch-asn-data: npm pack $pkg" >&2
    tarball="$(cd "$tmp" && npm pack --silent "$pkg" 2>/dev/null | tail -n 1)"
    [[ -f "$tmp/$tarball" ]] || { echo "fetch-asn-data: npm pack $pkg produced no tarball" >&2; rm -rf "$tmp"; exit 1; }
    tar -xzf "$tmp/$tarball" -C "$tmp"
    for f in "$@"; do
        [[ -s "$tmp/package/$f" ]] || { echo "fetch-asn-data: $f missing from $tarball" >&2; rm -rf "$tmp"; exit 1; }
    done
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    for f in "$@" package.json README.md LICENSE; do
        [[ -f "$tmp/package/$f" ]] && cp "$tmp/package/$f" "$dest.tmp/"
    done
    rm -rf "$dest" "$tmp"
    mv "$dest.tmp" "$dest"
    echo "fetch-asn-data: $(cat "$dest"/*.csv | wc -l) rows of $pkg in $dest" >&2
}

if [[ -s "$cache/asn/asn-ipv4.csv" && -s "$cache/asn/asn-ipv6.csv" && -z "${ASN_VERSION:-}" ]]; then
    echo "fetch-asn-data: AS data already present in $cache/asn"
else
    fetch "@ip-location-db/asn${ASN_VERSION:+@$ASN_VERSION}" "$cache/asn" asn-ipv4.csv asn-ipv6.csv
fi
if [[ -s "$cache/country/geo-whois-asn-country-ipv4.csv" ]]; then
    echo "fetch-asn-data: country data already present in $cache/country"
else
    fetch "@ip-location-db/geo-whois-asn-country" "$cache/country" \
        geo-whois-asn-country-ipv4.csv geo-whois-asn-country-ipv6.csv
fi
