#!/usr/bin/env bash
# `make demo`: a real rollout on a local control plane, a bad model version rolled back automatically.
#
# MLServer lives in its own venv, cached outside the repository, because its pins must not touch the
# operator's venv. hack/demo/ (run as `python -m hack.demo`) does the rest: cluster, Prometheus,
# operator, model servers, traffic, timeline, checks and cleanup.
set -euo pipefail
cd "$(dirname "$0")/.."

MLSERVER_VERSION="1.7.1"
PYTHON="${PYTHON:-python3}"
CACHE="${REWIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rewind}"
PYVER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
MLSERVER_VENV="$CACHE/mlserver-$MLSERVER_VERSION-py$PYVER"

if [[ ! -f "$MLSERVER_VENV/.complete" ]]; then
  echo "demo: installing MLServer $MLSERVER_VERSION into $MLSERVER_VENV (once, about 0.5 GB)" >&2
  rm -rf "$MLSERVER_VENV"
  mkdir -p "$CACHE"
  "$PYTHON" -m venv "$MLSERVER_VENV"
  "$MLSERVER_VENV/bin/pip" install -q --upgrade pip
  "$MLSERVER_VENV/bin/pip" install -q "mlserver==$MLSERVER_VERSION" "mlserver-sklearn==$MLSERVER_VERSION" \
    scikit-learn joblib numpy
  touch "$MLSERVER_VENV/.complete"
fi

export REWIND_DEMO_MLSERVER_VENV="$MLSERVER_VENV"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the repository root: hack.demo and tests.e2e.support
exec .venv/bin/python -m hack.demo "$@"
