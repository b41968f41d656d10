#!/usr/bin/env bash
# The demo: the whole pipeline on an embedded default (a small ViT on real Fashion-MNIST), on this CPU:
# train (Tri-Level) -> prune (block) -> export android/ios/fpga -> bench (host and headless-browser measured, FPGA estimated)
# -> report. Every stage reads the previous stage's files, as it would on separate machines.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
OUT=${DEMO_OUT:-demo_out}
MODEL=vit_nano_patch4_28
EPOCHS=${DEMO_EPOCHS:-6}
TRAIN_SIZE=${DEMO_TRAIN_SIZE:-20000}
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. the model: $MODEL, accounting dense and with token keep 0.7 + attention keep 0.3 (prunes at blocks 1, 2)"
vitsdk info --model "$MODEL"
vitsdk info --model "$MODEL" --keep-rate 0.7 --attn-keep 0.3 --attn-mode gather

echo "== 2. Tri-Level training on $TRAIN_SIZE Fashion-MNIST images, $EPOCHS epochs (examples, tokens, attention);"
echo "      the same run dense on the other core at the same time, one thread each, to time it against"
TRAIN=(--model "$MODEL" --data fashion-mnist --epochs "$EPOCHS" --train-size "$TRAIN_SIZE" --batch-size 64 --lr 4e-3
  --warmup-epochs 0.3 --no-augment --threads 1)
vitsdk train "${TRAIN[@]}" --json -o "$OUT/dense" > "$OUT/dense.json" &
dense_pid=$!
vitsdk train "${TRAIN[@]}" --tri-level -o "$OUT/run"
wait "$dense_pid"
python - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
dense = json.loads((out / "dense.json").read_text())
tri = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
tri_s, tri_top1 = sum(r["seconds"] for r in tri), tri[-1]["eval_top1"]
print(f"dense:      {dense['train_seconds']:6.1f} s in the training loop, test top-1 {100 * dense['eval_top1']:.2f}%")
print(f"Tri-Level:  {tri_s:6.1f} s ({100 * (1 - tri_s / dense['train_seconds']):.0f}% less), test top-1 "
      f"{100 * tri_top1:.2f}% ({100 * (tri_top1 - dense['eval_top1']):+.2f} pt); measured side by side, this run")
EOF

echo "== 3. block pruning: 16x16 blocks, half the columns of every MLP and attention layer, 1 epoch fine-tune"
vitsdk prune "$OUT/run" --block 16x16 --ratio 0.5 --layers mlp,attn --finetune-epochs 1 --data fashion-mnist \
  --train-examples 8192 --eval-examples 2000 -o "$OUT/pruned"

echo "== 4. export the same pruned weights: android (ExecuTorch + LiteRT), ios (Core ML + ExecuTorch), fpga (RTL engine)"
vitsdk export "$OUT/pruned" --target android --keep-rate 0.7 --accuracy-data fashion-mnist -o "$OUT/android"
vitsdk export "$OUT/pruned" --target ios --keep-rate 0.7 -o "$OUT/ios"
# The FPGA engine computes token dropping but not attention sparsity: export it with --attn-keep 1. The export
# sizes the engine for the ZCU102, checks its fit with Yosys and runs its RTL in Verilator (bit-exact).
vitsdk export "$OUT/pruned" --target fpga --keep-rate 0.7 --attn-keep 1 -o "$OUT/fpga"

echo "== 5. bench: host runtimes measured here, the .tflite files in headless Chromium (LiteRT.js, as a phone's"
echo "      browser would run them), FPGA latency simulated (Verilator, the exported engine), energy estimated"
vitsdk bench "$OUT/android" --device host --quick -o "$OUT/results"
vitsdk bench "$OUT/android" --device browser --quick -o "$OUT/results"
vitsdk bench "$OUT/fpga" --device fpga --board zcu102 -o "$OUT/results"

echo "== 6. the energy report (host and browser measured, FPGA latency simulated, energy estimated)"
vitsdk report "$OUT/results" --bundle "$OUT/android" --bundle "$OUT/fpga" -o "$OUT/report.html"
echo "report: $OUT/report.html (figures for dashboards: $OUT/report.json)"
