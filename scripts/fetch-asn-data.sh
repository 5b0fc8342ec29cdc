#!/usr/bin/env bash
# Fetches the AS-level IP range data of the npm package `@ip-location-db/asn` into a git-ignored cache,
# for the resolver's real-data tests and benches. Idempotent: does nothing when the data is already there.
#
#   scripts/fetch-asn-data.sh            # -> .cache/ip-location-db/asn/asn-ipv4.csv, asn-ipv6.csv
#   ASN_VERSION=2.3.2026061719 scripts/fetch-asn-data.sh   # pin a version
#
# The data is CC BY 4.0 by RouteViews and DB-IP (see the package's README); it is not committed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${VTRACK_DATA_CACHE:-$root/.cache/ip-location-db}"
dest="$cache/asn"
pkg="@ip-location-db/asn${ASN_VERSION:+@$ASN_VERSION}"

if [[ -s "$dest/asn-ipv4.csv" && -s "$dest/asn-ipv6.csv" && -z "${ASN_VERSION:-}" ]]; then
    echo "fetch-asn-data: already present in $dest"
    exit 0
fi

command -v npm >/dev/null || { echo "fetch-asn-data: npm is needed (apt-get install npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-asn-data: npm pack $pkg" >&2
tarball="$(cd "$tmp" && npm pack --silent "$pkg" 2>/dev/null | tail -n 1)"
[[ -f "$tmp/$tarball" ]] || { echo "fetch-asn-data: npm pack $pkg produced no tarball" >&2; exit 1; }
tar -xzf "$tmp/$tarball" -C "$tmp"
for f in asn-ipv4.csv asn-ipv6.csv; do
    [[ -s "$tmp/package/$f" ]] || { echo "fetch-asn-data: $f missing from $tarball" >&2; exit 1; }
done

mkdir -p "$dest.tmp"
cp "$tmp/package/asn-ipv4.csv" "$tmp/package/asn-ipv6.csv" "$dest.tmp/"
cp "$tmp/package/package.json" "$dest.tmp/" 2>/dev/null || true
for f in README.md LICENSE; do [[ -f "$tmp/package/$f" ]] && cp "$tmp/package/$f" "$dest.tmp/"; done
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "fetch-asn-data: $(wc -l <"$dest/asn-ipv4.csv") IPv4 and $(wc -l <"$dest/asn-ipv6.csv") IPv6 ranges in $dest"
