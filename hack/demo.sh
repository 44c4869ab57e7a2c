#!/usr/bin/env bash
# `make demo`: a real rollout on a local control plane with a real node, a bad model version rolled back.
#
# hack/demo/ (run as `python -m hack.demo`) does it all: images (hack/images.py, cached), cluster with a
# real node (REWIND_REAL_NODE=1 hack/cluster.sh), Prometheus, operator, model store, serving pods,
# traffic, timeline, checks and cleanup.
set -euo pipefail
cd "$(dirname "$0")/.."

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the repository root: hack.demo and tests.node.stack
exec .venv/bin/python -m hack.demo "$@"
