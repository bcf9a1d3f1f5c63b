#!/usr/bin/env bash
# `make demo`: the stack, a background worker and API, then the simplest flow end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/photostream stack up
.venv/bin/photostream demo
