#!/usr/bin/env bash
# One fresh venv per extra, and one with none ("core"), for tests/test_extras.py: each holds
# rewardmine (editable, this checkout) with that extra alone, so a dependency an extra forgets to
# declare fails there instead of hiding behind the test environment's. torch is pinned to the CPU
# wheel on this machine's disk (an unpinned torch would pull a CUDA build). A venv whose recorded
# spec (extra, pyproject.toml, checkout, Python) matches is reused, not rebuilt. Three build at
# once (most of a build is waiting on downloads).
#   bash .ci/extras.sh                # all of them
#   bash .ci/extras.sh core judge     # some
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${REWARDMINE_EXTRAS:-$HOME/.cache/rewardmine/extras}
mkdir -p "$ROOT"

build() {  # build EXTRA
  local extra=$1 venv="$ROOT/$1" target="$REPO[$1]" start=$SECONDS
  [ "$extra" = core ] && target="$REPO"
  local want="$extra | $(sha256sum "$REPO/pyproject.toml" | cut -c1-16) | $REPO | $(python -V 2>&1)"
  if [ -f "$venv/.spec" ] && [ "$(cat "$venv/.spec")" = "$want" ]; then
    echo "extras: $extra reused ($venv)"
    return
  fi
  rm -rf "$venv"
  python -m venv "$venv"
  if ! "$venv/bin/pip" install -q "torch==2.13.0" -e "$target" > "$venv/pip.log" 2>&1; then
    tail -20 "$venv/pip.log"
    echo "extras: $extra failed to install (log: $venv/pip.log)"
    return 1
  fi
  echo "$want" > "$venv/.spec"
  echo "extras: $extra built in $((SECONDS - start)) s ($venv)"
}

extras=${*:-core plot parquet bench judge trl server ray gguf}
for extra in $extras; do
  while [ "$(jobs -rp | wc -l)" -ge 3 ]; do wait -n || true; done
  build "$extra" &
done
wait
for extra in $extras; do  # a build that failed left no spec behind
  [ -f "$ROOT/$extra/.spec" ] || { echo "extras: $extra is missing"; exit 1; }
done
