#!/usr/bin/env bash
# Runs a local ClickHouse cluster on loopback for vtrack's cluster mode and its tests: ZooKeeper (Debian's
# `zookeeper` package, as a plain process, not the Debian service) and four clickhouse-server 18.16 processes,
# two shards of two replicas, each with its own config, data dir and ports. Installs what is missing.
# Idempotent: `start` starts whatever is not answering and reuses what is (so it also brings back a node that
# was stopped or killed); data survives `stop`.
#
#   deploy/clickhouse-cluster.sh start [DIR]           # default DIR: .cache/clickhouse-cluster
#   deploy/clickhouse-cluster.sh stop [DIR]
#   deploy/clickhouse-cluster.sh status [DIR]
#   deploy/clickhouse-cluster.sh stop-node NODE [DIR]  # NODE: s1r1 s1r2 s2r1 s2r2 zookeeper (SIGTERM, waits)
#   deploy/clickhouse-cluster.sh kill-node NODE [DIR]  # the same with kill -9
#
# Ports (override with the environment; lists are in node order s1r1 s1r2 s2r1 s2r2):
#   ZOOKEEPER_PORT                        12181
#   CLICKHOUSE_CLUSTER_HTTP_PORTS         "18131 18132 18133 18134"   vtrack connects to any of these
#   CLICKHOUSE_CLUSTER_TCP_PORTS          "19131 19132 19133 19134"   what the nodes use between them
#   CLICKHOUSE_CLUSTER_INTERSERVER_PORTS  "19231 19232 19233 19234"   replication fetches
#   CLICKHOUSE_CLUSTER_NAME               vtrack                      the name in <remote_servers>
#
# What each server's config holds is what vtrack's cluster mode needs of any cluster (docs/cluster.md):
# `<remote_servers>` with `internal_replication` (the replicated tables copy, not the Distributed table),
# `<zookeeper>`, `<distributed_ddl>` and the `shard`/`replica` macros. Users as in deploy/clickhouse.sh:
# `default` writes, `reader` is read-only; `reader`'s profile carries the settings reads on a cluster need,
# which a read-only user may not send (docs/cluster.md).
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-start}"
case "$cmd" in
stop-node | kill-node)
  node="${2:?node name: s1r1 s1r2 s2r1 s2r2 zookeeper}"
  dir_arg="${3:-}"
  ;;
*) dir_arg="${2:-}" ;;
esac
dir="$(realpath -m "${dir_arg:-.cache/clickhouse-cluster}")"
zk_port="${ZOOKEEPER_PORT:-12181}"
read -r -a http_ports <<<"${CLICKHOUSE_CLUSTER_HTTP_PORTS:-18131 18132 18133 18134}"
read -r -a tcp_ports <<<"${CLICKHOUSE_CLUSTER_TCP_PORTS:-19131 19132 19133 19134}"
read -r -a interserver_ports <<<"${CLICKHOUSE_CLUSTER_INTERSERVER_PORTS:-19231 19232 19233 19234}"
cluster="${CLICKHOUSE_CLUSTER_NAME:-vtrack}"
nodes=(s1r1 s1r2 s2r1 s2r2)
shards=(01 01 02 02)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

index_of() {
  for i in "${!nodes[@]}"; do
    if [ "${nodes[$i]}" = "$1" ]; then echo "$i"; return 0; fi
  done
  echo "unknown node $1 (one of ${nodes[*]} zookeeper)" >&2
  exit 2
}

# Up means serving: `ruok` answers `imok` while ZooKeeper still loads its data, and a clickhouse-server that
# starts then, with replicated tables to attach, fails its handshake and exits. `srvr` names the mode only
# once it serves.
zk_up() { (exec 3<>"/dev/tcp/127.0.0.1/$zk_port" && printf srvr >&3 && timeout 2 cat <&3) 2>/dev/null | grep -q '^Mode: '; }
node_up() { curl -fsS --max-time 2 "http://127.0.0.1:${http_ports[$1]}/ping" >/dev/null 2>&1; }

# Stops the process whose pid is in $1 with signal $2, waiting for it to go.
stop_pid() {
  local pidfile="$1" signal="$2"
  [ -f "$pidfile" ] || return 0
  local pid
  pid="$(cat "$pidfile")"
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

stop_component() {
  local name="$1" signal="$2"
  if [ "$name" = zookeeper ]; then
    stop_pid "$dir/zookeeper/zookeeper.pid" "$signal"
  else
    index_of "$name" >/dev/null
    stop_pid "$dir/$name/server.pid" "$signal"
  fi
}

install() {
  local missing=()
  [ -x /usr/sbin/clickhouse-server ] || missing+=(clickhouse-server)
  [ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "clickhouse-cluster: apt-get install ${missing[*]}"
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

start_zookeeper() {
  if zk_up; then return 0; fi
  mkdir -p "$dir/zookeeper/data"
  cat >"$dir/zookeeper/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/zookeeper/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CFG
  # Debian's classpath (the jar's manifest names its dependencies) plus one slf4j binding for the log.
  nohup java -Xmx256m -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar" \
    -Dzookeeper.root.logger=WARN,CONSOLE -Dzookeeper.log.dir="$dir/zookeeper" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zookeeper/zoo.cfg" >"$dir/zookeeper/zookeeper.log" 2>&1 &
  echo $! >"$dir/zookeeper/zookeeper.pid"
}

remote_servers() {
  echo "<remote_servers><$cluster>"
  for s in 0 2; do
    echo "<shard><internal_replication>true</internal_replication>"
    for i in $s $((s + 1)); do
      echo "<replica><host>127.0.0.1</host><port>${tcp_ports[$i]}</port></replica>"
    done
    echo "</shard>"
  done
  echo "</$cluster></remote_servers>"
}

start_node() {
  local i="$1" name="${nodes[$1]}"
  if node_up "$i"; then return 0; fi
  local d="$dir/$name"
  mkdir -p "$d"/{data,tmp,uf}
  # 18.16 reads <yandex> as the root element; newer servers accept it too.
  cat >"$d/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <http_port>${http_ports[$i]}</http_port>
  <tcp_port>${tcp_ports[$i]}</tcp_port>
  <interserver_http_port>${interserver_ports[$i]}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/uf/</user_files_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <zookeeper><node><host>127.0.0.1</host><port>$zk_port</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
  $(remote_servers)
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
  <macros><shard>${shards[$i]}</shard><replica>$name</replica></macros>
</yandex>
XML
  cat >"$d/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
  <profiles><default/><readonly><readonly>1</readonly><distributed_product_mode>global</distributed_product_mode><prefer_localhost_replica>0</prefer_localhost_replica></readonly></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <reader><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>readonly</profile><quota>default</quota></reader>
  </users>
  <quotas><default/></quotas>
</yandex>
XML
  nohup /usr/sbin/clickhouse-server --config-file="$d/config.xml" >"$d/server.log" 2>&1 &
  echo $! >"$d/server.pid"
}

wait_for() {
  local what="$1" check="$2" log="$3"
  for _ in $(seq 1 120); do
    if eval "$check"; then return 0; fi
    sleep 0.5
  done
  echo "clickhouse-cluster: $what did not come up; last lines of $log:" >&2
  tail -20 "$log" >&2
  exit 1
}

case "$cmd" in
stop)
  for n in "${nodes[@]}"; do stop_component "$n" TERM; done
  stop_component zookeeper TERM
  exit 0
  ;;
stop-node)
  stop_component "$node" TERM
  exit 0
  ;;
kill-node)
  stop_component "$node" KILL
  exit 0
  ;;
status)
  if zk_up; then echo "zookeeper: up on 127.0.0.1:$zk_port"; else echo "zookeeper: down"; fi
  for i in "${!nodes[@]}"; do
    if node_up "$i"; then state=up; else state=down; fi
    echo "${nodes[$i]}: $state on http://127.0.0.1:${http_ports[$i]} (native ${tcp_ports[$i]})"
  done
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start|stop|status [DIR] | stop-node|kill-node NODE [DIR]" >&2; exit 2 ;;
esac

install
mkdir -p "$dir"
start_zookeeper
wait_for zookeeper zk_up "$dir/zookeeper/zookeeper.log"
for i in "${!nodes[@]}"; do start_node "$i"; done
for i in "${!nodes[@]}"; do wait_for "${nodes[$i]}" "node_up $i" "$dir/${nodes[$i]}/server.log"; done
echo "clickhouse-cluster: '$cluster' up (2 shards × 2 replicas) on http://127.0.0.1:${http_ports[0]} …${http_ports[3]}, zookeeper 127.0.0.1:$zk_port, data in $dir"
