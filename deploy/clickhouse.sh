#!/usr/bin/env bash
# Runs a local ClickHouse server on loopback for vtrack's tests, as a plain process with its own config.
# Installs Debian's clickhouse-server if it is missing. Idempotent: an instance already up on the port is reused.
#
#   deploy/clickhouse.sh start [DIR]   # default DIR: .cache/clickhouse; HTTP 18123, native 19000 (override with
#                                      # CLICKHOUSE_HTTP_PORT / CLICKHOUSE_TCP_PORT)
#   deploy/clickhouse.sh stop [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-start}"
dir="$(realpath -m "${2:-.cache/clickhouse}")"
http_port="${CLICKHOUSE_HTTP_PORT:-18123}"
tcp_port="${CLICKHOUSE_TCP_PORT:-19000}"

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

case "$cmd" in
stop)
  if [ -f "$dir/server.pid" ]; then
    pid="$(cat "$dir/server.pid")"
    kill "$pid" 2>/dev/null || true
    # Wait for it to go, so a start right after does not find the old server still answering.
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/server.pid"
  fi
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac

if curl -fsS "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1; then
  echo "clickhouse: already up on 127.0.0.1:$http_port"
  exit 0
fi

if [ ! -x /usr/sbin/clickhouse-server ]; then
  echo "clickhouse: apt-get install clickhouse-server"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq clickhouse-server >/dev/null
fi

mkdir -p "$dir"/{data,tmp,uf}
# 18.16 reads <yandex> as the root element; newer servers accept it too.
cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/uf/</user_files_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
XML
cat > "$dir/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
  <profiles><default/><readonly><readonly>1</readonly></readonly></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <reader><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>readonly</profile><quota>default</quota></reader>
  </users>
  <quotas><default/></quotas>
</yandex>
XML

nohup /usr/sbin/clickhouse-server --config-file="$dir/config.xml" >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1; then
    echo "clickhouse: up on http://127.0.0.1:$http_port (native $tcp_port), data in $dir"
    exit 0
  fi
  sleep 0.5
done
echo "clickhouse: did not come up; last lines of $dir/server.log:" >&2
tail -20 "$dir/server.log" >&2
exit 1
