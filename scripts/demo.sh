#!/usr/bin/env bash
# `make demo`: the stack, a background worker and API, then the simplest flow end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
# the local stack runs on placeholder secrets: development mode (production refuses them at start-up)
export PHOTOSTREAM_DEV_MODE="${PHOTOSTREAM_DEV_MODE:-true}"
.venv/bin/photostream stack up
.venv/bin/photostream demo
