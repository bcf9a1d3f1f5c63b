#!/usr/bin/env bash
# Run a command against the real local stack, leaving the stack as it was found: if it was not running,
# start it first and stop it afterwards. The command's exit status is passed on.
set -uo pipefail
cd "$(dirname "$0")/.."
# the local stack runs on placeholder secrets: development mode (production refuses them at start-up)
export PHOTOSTREAM_DEV_MODE="${PHOTOSTREAM_DEV_MODE:-true}"
BIN=.venv/bin
started_here=0
if ! $BIN/photostream stack status >/dev/null 2>&1; then
  started_here=1
  $BIN/photostream stack up || { echo "stack up failed"; $BIN/photostream stack down; exit 1; }
fi
"$@"
rc=$?
if [ "$started_here" = 1 ]; then
  $BIN/photostream stack down
fi
exit $rc
