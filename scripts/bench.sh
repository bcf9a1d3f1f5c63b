#!/usr/bin/env bash
# Benchmarks against the real local stack → bench-report.md. If the stack was not running, start it and stop
# it afterwards; if it was, leave it running (like scripts/test.sh). Extra arguments go to `python -m benchmarks`.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
started_here=0
if ! $BIN/photostream stack status >/dev/null 2>&1; then
  started_here=1
  $BIN/photostream stack up || { echo "stack up failed"; $BIN/photostream stack down; exit 1; }
fi
$BIN/python -m benchmarks "$@"
rc=$?
if [ "$started_here" = 1 ]; then
  $BIN/photostream stack down
fi
exit $rc
