#!/usr/bin/env bash
# Benchmarks against the real local stack (left as it was found) → bench-report.md.
# Extra arguments go to `python -m benchmarks`.
set -uo pipefail
cd "$(dirname "$0")/.."
# one load generator on one address drives ~1,000 reads/s: lift the per-address read limit (its Redis round
# trip is still paid, so the figures include it)
export PHOTOSTREAM_RATE_LIMIT_READS_PER_SECOND="${PHOTOSTREAM_RATE_LIMIT_READS_PER_SECOND:-1000000}"
export PHOTOSTREAM_RATE_LIMIT_READS_BURST="${PHOTOSTREAM_RATE_LIMIT_READS_BURST:-1000000}"
exec bash scripts/with_stack.sh .venv/bin/python -m benchmarks "$@"
