#!/usr/bin/env bash
# The demo: the main job end to end on an embedded default (a small ViT on Fashion-MNIST).
# It grows with the pipeline: train -> prune -> export android/ios/fpga -> bench -> report.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
OUT=${DEMO_OUT:-demo_out}
MODEL=vit_micro_patch4_28
mkdir -p "$OUT"

echo "== 1. the model: $MODEL with token keep 0.7 and attention keep 0.5 at blocks 3/6/9"
vitsdk info --model "$MODEL"
vitsdk info --model "$MODEL" --keep-rate 0.7 --attn-keep 0.5 --attn-mode gather
vitsdk info --model "$MODEL" --keep-rate 0.7 --attn-keep 0.5 --json > "$OUT/accounting.json"
echo "accounting written to $OUT/accounting.json"
