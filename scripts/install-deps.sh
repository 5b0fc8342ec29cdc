#!/usr/bin/env bash
# Installs what vtrack's tests need on a fresh Debian 12 machine. Idempotent: a second run installs nothing.
#   Debian packages: chromium (browser tests), clickhouse-server (18.16; the production store's tests),
#                    zookeeper (3.8; the ClickHouse cluster's tests, run as a plain process, no service),
#                    python3-venv (for chdb-core), dnsmasq-base and unbound (real DNS servers for the
#                    reverse-DNS tests), curl, make and gcc when missing
#   crates.io:       tansu, the Kafka-compatible broker of the production tests (~10 min to build, once)
#   PyPI:            chdb-core in .cache/venv (current ClickHouse in-process, to check the SQL dialect)
#   npm packages:    tracker-js/ from its lockfile (esbuild, playwright-core, publint, @arethetypeswrong/cli,
#                    typescript; no browser download)
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_missing=()
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
command -v node >/dev/null 2>&1 || apt_missing+=(nodejs npm)
[ -x /usr/sbin/clickhouse-server ] || apt_missing+=(clickhouse-server)
# Debian's `zookeeper` is the server's jars and scripts only (the service is `zookeeperd`, not installed).
[ -f /usr/share/java/zookeeper.jar ] || apt_missing+=(zookeeper)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_missing+=(python3-venv)
[ -x /usr/sbin/dnsmasq ] || apt_missing+=(dnsmasq-base)
[ -x /usr/sbin/unbound ] || apt_missing+=(unbound)
# deploy/clickhouse.sh waits on the server with curl; rdkafka's bundled librdkafka and tansu's bundled
# SQLite build with make and a C compiler.
command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
command -v make >/dev/null 2>&1 || apt_missing+=(make)
command -v cc >/dev/null 2>&1 || apt_missing+=(gcc)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${apt_missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

# npm ci only when the lockfile changed since the last install.
stamp=tracker-js/node_modules/.vtrack-lock
if ! cmp -s tracker-js/package-lock.json "$stamp" 2>/dev/null; then
  echo "install-deps: npm ci in tracker-js/"
  (cd tracker-js && npm ci --no-audit --no-fund --loglevel=error)
  cp tracker-js/package-lock.json "$stamp"
fi

# The Kafka-compatible broker (memory and sqlite storage).
bash deploy/kafka.sh install

# chdb-core (ClickHouse 26.x in-process) in a venv of our own: Debian's python refuses system-wide pip.
venv=.cache/venv
if ! "$venv/bin/python" -c 'import chdb' >/dev/null 2>&1; then
  echo "install-deps: pip install chdb-core into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check chdb-core
fi
