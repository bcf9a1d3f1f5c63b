#!/usr/bin/env bash
# Run the whole suite against the real local stack (left as it was found). pytest's "no tests collected"
# (exit 5) counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/with_stack.sh .venv/bin/pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: failing"
  exit 1
fi
exit $rc
