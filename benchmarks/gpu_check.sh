#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py) on a lent device machine, as one command:
#   bash benchmarks/gpu_check.sh --wheels      # here, with the package index: fill .gpu-wheels
#   bash benchmarks/gpu_check.sh               # there (carry .gpu-wheels): every part, cuda
# The device machine reaches no package index and its image has torch, transformers, scipy and
# pytest; the server part needs fastapi and uvicorn, which come from .gpu-wheels (an ignored
# folder, a few MiB, carried with the run). Anything after the flags goes to gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--wheels" ]; then
  rm -rf .gpu-wheels
  python -m pip download -q -d .gpu-wheels fastapi "uvicorn>=0.29" requests
  du -sh .gpu-wheels
  exit 0
fi
if [ -d .gpu-wheels ]; then
  python -m pip install -q --no-index --find-links .gpu-wheels fastapi uvicorn requests \
    || echo "gpu_check: the carried wheels did not install; the server part will fail"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec python benchmarks/gpu_check.py --device cuda --part-timeout 200 "$@"
