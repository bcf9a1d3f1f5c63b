#!/usr/bin/env bash
# `make demo`: the stack, a background worker and API, the simplest flow end to end, then the simulated service
# (`photostream simulate`: users, follows, posts, likes, comments, messages) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
# the local stack runs on placeholder secrets: development mode (production refuses them at start-up)
export PHOTOSTREAM_DEV_MODE="${PHOTOSTREAM_DEV_MODE:-true}"
# the demo lives in its own namespace (topics demo.*, keyspace photostream_demo, Redis keys demo:*), so a
# benchmark or a test run on the same stack never floods it, and it never floods them
export PHOTOSTREAM_NAMESPACE="${PHOTOSTREAM_NAMESPACE-demo}"
# the simulated population is small next to a real one: celebrities (pulled at read time, not pushed) start
# at 1,000 followers here instead of 10,000, so the demo has some
export PHOTOSTREAM_CELEBRITY_THRESHOLD="${PHOTOSTREAM_CELEBRITY_THRESHOLD:-1000}"
export PHOTOSTREAM_CELEBRITY_LOW_MARK="${PHOTOSTREAM_CELEBRITY_LOW_MARK:-800}"
.venv/bin/photostream stack up
.venv/bin/photostream demo
# Ctrl-C ends the simulator cleanly (exit 0); the worker and API keep running until `make down`
.venv/bin/photostream simulate
