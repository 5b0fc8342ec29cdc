#!/usr/bin/env bash
# Runs a local Kafka-compatible broker (tansu) on loopback for vtrack's tests, file-backed so it survives a
# restart. Installs tansu with cargo if it is missing (about 10 minutes on 2 cores). Idempotent: a broker
# already up on the port is reused.
#
#   deploy/kafka.sh install              # just install tansu
#   deploy/kafka.sh start [DIR]          # default DIR: .cache/kafka; port 19092 (KAFKA_PORT overrides)
#   deploy/kafka.sh stop [DIR]
#   deploy/kafka.sh topic NAME PARTITIONS   # create a topic (tansu does not create topics on first use)
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-start}"
dir="$(realpath -m "${2:-.cache/kafka}")"
port="${KAFKA_PORT:-19092}"
export PATH="$HOME/.cargo/bin:$PATH"

install_tansu() {
  if command -v tansu >/dev/null 2>&1; then return 0; fi
  echo "kafka: cargo install tansu (memory and sqlite storage)"
  cargo install tansu --locked --features dynostore,libsql
}

up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

case "$cmd" in
install)
  install_tansu
  exit 0
  ;;
stop)
  if [ -f "$dir/broker.pid" ]; then
    pid="$(cat "$dir/broker.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/broker.pid"
  fi
  exit 0
  ;;
topic)
  name="${2:?topic name}"
  partitions="${3:-6}"
  tansu topic create "$name" --broker "tcp://127.0.0.1:$port" --partitions "$partitions"
  exit 0
  ;;
start) ;;
*) echo "usage: $0 install|start [DIR]|stop [DIR]|topic NAME PARTITIONS" >&2; exit 2 ;;
esac

if up; then
  echo "kafka: already up on 127.0.0.1:$port"
  exit 0
fi
install_tansu
mkdir -p "$dir"
# The sqlite:// path is relative to the working directory.
(
  cd "$dir"
  nohup tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "sqlite://tansu.db" >"$dir/broker.log" 2>&1 &
  echo $! >"$dir/broker.pid"
)
for _ in $(seq 1 100); do
  if up; then
    echo "kafka: tansu up on 127.0.0.1:$port, data in $dir"
    exit 0
  fi
  sleep 0.1
done
echo "kafka: tansu did not come up; last lines of $dir/broker.log:" >&2
tail -n 20 "$dir/broker.log" >&2
exit 1
