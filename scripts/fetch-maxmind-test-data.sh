#!/usr/bin/env bash
# Fetches MaxMind's own test databases (GeoIP2-Enterprise-Test.mmdb, GeoIP2-ISP-Test.mmdb, ...) into a
# git-ignored cache, for the resolver's MMDB tests (crates/vtrack-resolve/tests/maxmind_test_data.rs).
# They ship in the source distribution of the PyPI package `maxminddb`, under `tests/data/test-data/`
# (a copy of the MaxMind-DB project's test data). Idempotent: does nothing when the data is already there.
#
#   scripts/fetch-maxmind-test-data.sh                 # -> .cache/maxmind-test-data/*.mmdb (+ source JSON)
#   MAXMINDDB_VERSION=2.6.2 scripts/fetch-maxmind-test-data.sh   # pin a version
#
# The test data is MaxMind's, under its own licence (see LICENSE files of the MaxMind-DB project); it is
# not committed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${VTRACK_MAXMIND_TEST_DATA:-$root/.cache/maxmind-test-data}"
pkg="maxminddb${MAXMINDDB_VERSION:+==$MAXMINDDB_VERSION}"

if [[ -s "$dest/GeoIP2-Enterprise-Test.mmdb" && -s "$dest/GeoIP2-ISP-Test.mmdb" && -z "${MAXMINDDB_VERSION:-}" ]]; then
    echo "fetch-maxmind-test-data: already present in $dest"
    exit 0
fi

# Any pip will do for a download: the system's, else the project's venv (scripts/install-deps.sh).
pip=()
if python3 -m pip --version >/dev/null 2>&1; then
    pip=(python3 -m pip)
elif [[ -x "$root/.cache/venv/bin/pip" ]]; then
    pip=("$root/.cache/venv/bin/pip")
else
    echo "fetch-maxmind-test-data: pip is needed (python3 -m venv .cache/venv, or apt-get install python3-pip)" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-maxmind-test-data: pip download --no-binary :all: --no-deps $pkg" >&2
"${pip[@]}" download --quiet --disable-pip-version-check --no-binary :all: --no-deps --no-build-isolation \
    -d "$tmp" "$pkg" >&2 2>/dev/null \
    || "${pip[@]}" download --quiet --disable-pip-version-check --no-binary :all: --no-deps -d "$tmp" "$pkg" >&2
sdist="$(find "$tmp" -maxdepth 1 -name 'maxminddb-*.tar.gz' | head -n 1)"
[[ -n "$sdist" ]] || { echo "fetch-maxmind-test-data: no sdist of $pkg downloaded" >&2; exit 1; }
mkdir -p "$tmp/x"
tar -xzf "$sdist" -C "$tmp/x"
data="$(find "$tmp/x" -type d -path '*/tests/data/test-data' | head -n 1)"
[[ -n "$data" && -s "$data/GeoIP2-Enterprise-Test.mmdb" && -s "$data/GeoIP2-ISP-Test.mmdb" ]] \
    || { echo "fetch-maxmind-test-data: tests/data/test-data/*.mmdb missing from $(basename "$sdist")" >&2; exit 1; }

rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
cp "$data"/*.mmdb "$dest.tmp/"
# The JSON the databases were written from, when the sdist has it: handy to find an address by name.
src="$(find "$tmp/x" -type d -path '*/tests/data/source-data' | head -n 1)"
if [[ -n "$src" ]]; then mkdir -p "$dest.tmp/source-data" && cp "$src"/*.json "$dest.tmp/source-data/" 2>/dev/null || true; fi
lic="$(find "$tmp/x" -path '*/tests/data/LICENSE*' | head -n 1)"
[[ -n "$lic" ]] && cp "$lic" "$dest.tmp/"
basename "$sdist" >"$dest.tmp/SOURCE"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "fetch-maxmind-test-data: $(find "$dest" -maxdepth 1 -name '*.mmdb' | wc -l) databases from $(cat "$dest/SOURCE") in $dest"
