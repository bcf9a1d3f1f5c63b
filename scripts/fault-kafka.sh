#!/usr/bin/env bash
# Fault drill, not part of `make test` (three more JVMs are too heavy beside the suite on a small machine):
# a three-node Kafka (KRaft, replication 3, min.insync.replicas 2) in its own stack dir and ports, beside the
# shared stack, which is never touched; a steady SDK publish run without a fault (the baseline), then the same
# run with one broker SIGKILLed and restarted; both verify 0 lost, 0 duplicated by reading the topic back.
# The nodes are stopped and their stack dir removed at the end (KEEP=1 keeps them running).
# Extra arguments go to `python -m photostream.faults.kafka_broker` (--events, --rate, --kill-at, --down-s).
set -euo pipefail
cd "$(dirname "$0")/.."
export PHOTOSTREAM_DEV_MODE=true
export PHOTOSTREAM_KAFKA_BROKERS=3
export PHOTOSTREAM_STACK_DIR="${FAULT_STACK_DIR:-/tmp/photostream-kafka3}"
case "$(realpath -m "$PHOTOSTREAM_STACK_DIR")" in
  "$(realpath -m .stack)"*) echo "FAULT_STACK_DIR must not be the shared stack's folder" >&2; exit 2 ;;
esac
cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    .venv/bin/photostream stack down --only kafka || true
    rm -rf "$PHOTOSTREAM_STACK_DIR"
  fi
}
trap cleanup EXIT
.venv/bin/photostream stack up --only kafka
log="$PHOTOSTREAM_STACK_DIR/logs/fault-clients.log"  # librdkafka's connection-refused lines while a node is dead
echo "== baseline: no fault"
.venv/bin/python -m photostream.faults.kafka_broker --no-kill "$@" 2>>"$log"
echo "== one broker SIGKILLed mid-stream, restarted later"
.venv/bin/python -m photostream.faults.kafka_broker "$@" 2>>"$log"
