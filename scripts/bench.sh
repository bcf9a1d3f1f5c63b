#!/usr/bin/env bash
# Benchmarks against the real local stack (left as it was found) → bench-report.md.
# Extra arguments go to `python -m benchmarks`.
set -uo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/with_stack.sh .venv/bin/python -m benchmarks "$@"
