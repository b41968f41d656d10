# The two commands a new user needs: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	@bash scripts/test.sh

bench: setup
	.venv/bin/python benchmarks/tokens.py
	.venv/bin/python benchmarks/training.py --model vit_micro_patch4_28 --train-size 30000 --epochs 4 \
		--batch-size 64 --lr 2e-3 --eval-every-epoch --tag micro_b64 --keep-checkpoints benchmarks/results/ckpt/micro_b64
	.venv/bin/python benchmarks/training.py --model vit_mini_patch4_28 --train-size 20000 --epochs 12 \
		--batch-size 64 --lr 4e-3 --warmup-epochs 0.3 --no-augment --seeds 0,1 --eval-every-epoch --tag converged \
		--variants dense,examples,examples-soft,tokens,attention,tri-level,tri-level-soft
	.venv/bin/python benchmarks/pruning.py --acc-model vit_micro_patch4_28 --acc-train 30000 --acc-epochs 4 \
		--acc-finetune 2 --acc-methods l2:one_shot
	.venv/bin/python benchmarks/export.py --checkpoint benchmarks/results/ckpt/micro_b64/tokens.safetensors
	.venv/bin/python benchmarks/bench_overhead.py
	.venv/bin/python benchmarks/browser.py
	.venv/bin/python benchmarks/fpga.py
	.venv/bin/python benchmarks/report.py

clean:
	rm -rf .venv build *.egg-info demo_out
