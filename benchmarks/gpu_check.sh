#!/usr/bin/env bash
# The GPU check of extraction and search, in one run (a few minutes on one H100 with 16 cores; stopped at 8).
#
#   benchmarks/gpu_check.sh [OUT_DIR]        # default OUT_DIR: ./gpu_check
#
# 1. the GPU tests (pytest -m gpu: CUDA vs CPU, mixed precision vs float32, nvJPEG vs PIL, search on CUDA);
# 2. benchmarks/bench_extract.py --device cuda: 20,000 generated 500x375 JPEGs, RN50x4/random at 288 px, batch 256,
#    float16 autocast, end-to-end img/s with the CPU (PIL) and the GPU (nvJPEG) decoder, each beside the bare
#    forward on pre-decoded tensors on the same GPU (the ratio), float16 vs float32 top-k agreement, and the
#    dashboard's card and text-search latency with the model on the GPU.
# Everything printed also goes to OUT_DIR/gpu_check.txt; the figures to OUT_DIR/bench_extract_cuda.json.
# Put them in docs/performance.md ("Extraction on a GPU") with the card's name.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu_check}"
mkdir -p "$OUT"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
LOG="$OUT/gpu_check.txt"
{
  echo "== gpu_check $(date -u +%FT%TZ) on $(hostname), $(nproc) cores"
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; else echo "nvidia-smi: not found"; fi
  "$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, \
'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
  echo "== GPU tests"
  timeout 150 "$PY" -m pytest tests/unit/test_gpu.py -m gpu -q -p no:cacheprovider 2>&1 | tail -n 15
  echo "== extraction benchmark, agreement and dashboard latency"
  timeout 330 "$PY" benchmarks/bench_extract.py --device cuda --images 20000 --decode cpu gpu --agreement --agreement-demo \
    --latency --photos "$OUT/photos" --json "$OUT/bench_extract_cuda.json" 2>&1 | grep -v "it/s\]$"
  echo "== done $(date -u +%FT%TZ)"
} 2>&1 | tee "$LOG"
rm -rf "$OUT/photos"
