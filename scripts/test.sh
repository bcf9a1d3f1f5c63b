#!/usr/bin/env bash
# Run the whole suite against the real local stack. If the stack was not running, start it and stop it
# afterwards; if it was, leave it running. pytest's "no tests collected" (exit 5) counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
started_here=0
if ! $BIN/photostream stack status >/dev/null 2>&1; then
  started_here=1
  $BIN/photostream stack up || { echo "stack up failed"; $BIN/photostream stack down; exit 1; }
fi
$BIN/pytest "$@"
rc=$?
if [ "$started_here" = 1 ]; then
  $BIN/photostream stack down
fi
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: failing"
  exit 1
fi
exit $rc
