#!/usr/bin/env bash
# Train the large AWGN CBR 1/16 JSCC model on a GPU for a bounded time; the checkpoint comes back.
#
# The GPU machine sees only the repository, so `prepare` first copies what the run reads into .gpu/
# (git-ignored, ~25 MB): BSDS500 train and val, and the checkpoint the run starts from.
#
#   experiments/gpu_train_jscc.sh prepare [INIT]     # here; INIT: a checkpoint folder or name
#                                                    # (default: the trunk's latest, else the shipped model)
#   experiments/gpu_train_jscc.sh train [MINUTES]    # on the GPU machine, from the repository root; writes
#                                                    # $OUT/ckpt/{model.safetensors,config.json} and $OUT/train_log.csv
#
# With semcom's device tool: run(command="bash experiments/gpu_train_jscc.sh train 8", carry=[".gpu"],
# timeout_s=600). The run uses CUDA, bfloat16 autocast, 8x the CPU batch (crops are cut on the GPU), an
# EMA of the weights, and a schedule that anneals within MINUTES; then evaluate what came back with
# `python experiments/jscc_kodak.py --model DIR` (and select on BSDS500 val: the card's metrics).
# `train` also runs on a CPU for a check:
#   DEVICE=cpu AMP= BATCH=2 EXTRA="--no-final-eval --val-images 2" PY=.venv/bin/python experiments/gpu_train_jscc.sh train 0.2
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
D=${SEMCOM_DATA:-../shared/data}
ARCH=(--cbr 1/16 --channel awgn --widths 32,64,160,256 --blocks 0,1,2,2 --decoder-blocks 1,2,3,3 --attn-blocks 2)

prepare() {
  local init=${1:-}
  if [ -z "$init" ]; then
    init=${TRUNK_OUT:-results/jscc/jscc-awgn-cbr1-16-large}  # experiments/train_jscc.sh trunk
    [ -f "$init/model.safetensors" ] || init=semcom/jscc/checkpoints/jscc-awgn-cbr1-16
  fi
  rm -rf .gpu && mkdir -p .gpu/data
  cp -r "$D/bsds500/train" "$D/bsds500/val" .gpu/data/
  if [ -d "$init" ]; then cp -r "$init" .gpu/init; else cp -r "semcom/jscc/checkpoints/$init" .gpu/init; fi
  du -sh .gpu
}

train() {
  local minutes=${1:-8} out=${OUT:-results/jscc/gpu}
  local amp=(); [ -n "${AMP-bfloat16}" ] && amp=(--amp "${AMP-bfloat16}")
  [ -d .gpu/data/train ] && [ -d .gpu/init ] || { echo "run '$0 prepare' first (no .gpu/ here)" >&2; exit 2; }
  local state=${STATE:-/tmp/jscc_gpu_state}
  rm -rf "$state" && mkdir -p "$out"
  # shellcheck disable=SC2086  # EXTRA: more flags, e.g. "--no-final-eval --val-images 2" for a CPU check
  PYTHONUNBUFFERED=1 "$PY" -m semcom.cli train jscc "${ARCH[@]}" --data .gpu/data/train --val .gpu/data/val \
    --init .gpu/init --minutes "$minutes" --device "${DEVICE:-cuda}" "${amp[@]}" --threads 4 \
    --batch "${BATCH:-64}" --crop 128 --crops 128,192,256 --odd-frac 0.1 --lr 1e-3 --warmup 200 --decay-frac 0.4 \
    --ema 0.999 --seed 20 --val-every 1000 --ckpt-every 1000 --no-progress \
    --out "$out/ckpt" --state-dir "$state" ${EXTRA:-}
  cp "$state/train_log.csv" "$out/"
}

case "${1:-}" in
  prepare) prepare "${2:-}" ;;
  train) train "${2:-8}" ;;
  *) echo "usage: $0 prepare [INIT] | train [MINUTES]" >&2; exit 2 ;;
esac
