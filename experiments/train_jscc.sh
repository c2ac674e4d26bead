#!/usr/bin/env bash
# The commands that produced the shipped deep JSCC checkpoints (semcom/jscc/checkpoints/<name>/).
#
# Hardware: 2 shared CPU cores, no GPU. Runs are time-budgeted (--minutes): the cosine schedule
# anneals to the budget, so the number of steps depends on the machine (the model card records
# steps_done and the validation PSNR). Resume state and CSV logs go to /tmp/jscc_state/<name>/.
#
# OMP_WAIT_POLICY=PASSIVE matters on a shared machine: with the default (spinning) OpenMP
# threads, two torch threads competing with other processes spent ~7x more CPU per step.
#
# Usage: experiments/train_jscc.sh [awgn16|awgn48|rayleigh16|rayleigh16symbol|trunk|cooldown MINUTES|reanneal MINUTES [LR]|anneal NAME FROM MINUTES LR [ARGS...]|refine NAME MINUTES LR [ARGS...]|all]
#        (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SEMCOM_DATA:-../shared/data}
PY=${PY:-.venv/bin/python}
export OMP_WAIT_POLICY=PASSIVE
CK=semcom/jscc/checkpoints
ST=/tmp/jscc_state
train() { nice -n ${NICE:-19} "$PY" -m semcom.cli train jscc --data "$D/bsds500/train" --val "$D/bsds500/val" "$@"; }

awgn16() {
  # from scratch: 128 px crops, batch 8; last 25% of the time on 256 px crops (batch 2)
  train --cbr 1/16 --channel awgn --minutes 70 --batch 8 --crop 128 --crop-final 256 --final-frac 0.25 \
    --lr 2e-3 --warmup 200 --seed 0 --val-every 250 --ckpt-every 500 \
    --out $CK/jscc-awgn-cbr1-16 --state-dir $ST/jscc-awgn-cbr1-16
}
awgn48() {
  # fine-tune from jscc-awgn-cbr1-16: only the bottleneck convs (to_channel, from_channel) are new
  train --cbr 1/48 --channel awgn --init $CK/jscc-awgn-cbr1-16 --minutes 15 --batch 8 --crop 128 \
    --crop-final 256 --final-frac 0.25 --lr 1e-3 --warmup 50 --seed 1 --val-every 250 --ckpt-every 250 \
    --out $CK/jscc-awgn-cbr1-48 --state-dir $ST/jscc-awgn-cbr1-48
}
rayleigh16() {
  # fine-tune from jscc-awgn-cbr1-16 on Rayleigh block fading (block 64, perfect CSI, MMSE); same shapes
  train --cbr 1/16 --channel rayleigh --channel-option equalizer=mmse --init $CK/jscc-awgn-cbr1-16 --minutes 15 \
    --batch 8 --crop 128 --crop-final 256 --final-frac 0.25 --lr 1e-3 --warmup 50 --seed 2 --val-every 250 \
    --ckpt-every 250 --out $CK/jscc-rayleigh-cbr1-16 --state-dir $ST/jscc-rayleigh-cbr1-16
}

rayleigh16symbol() {
  # fine-tune from jscc-awgn-cbr1-16 on per-symbol Rayleigh fading (a new coefficient every symbol, the
  # published "Rayleigh" setting), perfect CSI, MMSE; 10 % of the steps at sizes off the 16-pixel grid
  train --cbr 1/16 --channel rayleigh --channel-option block_length=1 --channel-option equalizer=mmse \
    --init $CK/jscc-awgn-cbr1-16 --minutes 30 --lr 1e-3 --warmup 50 --batch 8 --crop 128 --crop-final 256 \
    --final-frac 0.25 --odd-frac 0.1 --ema 0.995 --seed 3 --val-every 250 --ckpt-every 250 \
    --out $CK/jscc-rayleigh-symbol-cbr1-16 --state-dir $ST/jscc-rayleigh-symbol-cbr1-16
}

# The larger AWGN CBR 1/16 model (window attention at 1/16, a deeper decoder) is trained by one long
# run that accumulates across sessions: a 900-minute warm-up/stable/decay schedule, resumed with
# `trunk` until its budget is spent. `cooldown MINUTES` copies the trunk's state and resumes the copy
# with a budget that ends MINUTES later, so the copy anneals into a finished checkpoint while the trunk
# goes on at its peak rate.
TRUNK_STATE=${TRUNK_STATE:-$ST/jscc-awgn-cbr1-16-large}
TRUNK_OUT=${TRUNK_OUT:-results/jscc/jscc-awgn-cbr1-16-large}
# Steps 0-5250 ran at --lr 1e-3; the loss diverged near step 5290. Resumed from the step-5250 state
# at 7e-4, it diverged again near step 6740, so the run continued from its step-5250 state at 5e-4:
# to step 15739 (232 min in all) without diverging, its validation level from step 12500 on;
# `cooldown 75` then gave step 22651 (307 min in all), and `reanneal 100` the shipped checkpoint
# (step 33109, 407 min in all; +0.15 dB on BSDS500 val over step 22651); `anneal reanneal2 reanneal 100 1e-4`
# went on to step 36669 (448 min), and `anneal psnr reanneal2 112 2e-4 --loss psnr` to step 49650 (560 min
# in all; +0.14 dB on BSDS500 val crops at 10 dB, the gain of the PSNR loss); `refine refine 115 1.5e-4
# --loss psnr --seed 11` trained on from those weights to step 60260 (675 min in all; +0.05 dB on BSDS500
# val full images at every SNR), and `refine refine2 112 1e-4 --loss psnr --seed 12` from those to the
# shipped checkpoint (step 71375, 787 min in all; +0.04 to +0.05 dB on BSDS500 val full images at every
# SNR). The trunk rests at step 15739.
trunk_args=(--cbr 1/16 --channel awgn --widths 32,64,160,256 --blocks 0,1,2,2 --decoder-blocks 1,2,3,3 --attn-blocks 2
  --lr 5e-4 --warmup 300 --batch 8 --crop 128 --crops 128,192,256 --odd-frac 0.1 --ema 0.999 --seed 10
  --val-every 500 --ckpt-every 250)
trunk() {
  local resume=(); [ -f "$TRUNK_STATE/state.pt" ] && resume=(--resume)
  train "${trunk_args[@]}" --init $CK/jscc-awgn-cbr1-16 --minutes 900 --decay-frac 0.2 \
    --out "$TRUNK_OUT" --state-dir "$TRUNK_STATE" "${resume[@]}"
}
# anneal NAME FROM MINUTES LR [ARGS...]: copy the state of FROM (`trunk`, or the NAME of an earlier
# anneal) to $TRUNK_STATE-NAME and resume the copy at LR, cosine-decayed over MINUTES more, with the
# training ARGS added (e.g. --loss psnr, --stop-at-step N); the checkpoint goes to $TRUNK_OUT-NAME
anneal() {
  local name=${1:?anneal NAME FROM MINUTES LR [ARGS...]} from=${2:?anneal FROM} minutes=${3:?anneal MINUTES} lr=${4:?anneal LR}
  shift 4
  local src="$TRUNK_STATE" copy="$TRUNK_STATE-$name"
  [ "$from" = trunk ] || src="$TRUNK_STATE-$from"
  [ -f "$src/state.pt" ] || { echo "anneal: no training state at $src/state.pt" >&2; exit 2; }
  rm -rf "$copy" && cp -r "$src" "$copy"
  local elapsed; elapsed=$("$PY" -c "import sys; from semcom.jscc.train import load_training_state as l; \
print(l(__import__('pathlib').Path(sys.argv[1]))['elapsed_s'] / 60)" "$copy/state.pt")
  local total; total=$("$PY" -c "print(round($elapsed + $minutes, 2))")
  local frac; frac=$("$PY" -c "print(round($minutes / ($elapsed + $minutes), 4))")
  # a shorter average while the rate falls: the shipped average holds the annealed weights
  train "${trunk_args[@]}" --lr "$lr" --ema 0.995 --minutes "$total" --decay-frac "$frac" \
    --out "$TRUNK_OUT-$name" --state-dir "$copy" --resume "$@"
}
# refine NAME MINUTES LR [ARGS...]: train on from the shipped large checkpoint's weights (a new optimizer,
# a 300-step warm-up to LR, cosine-decayed over MINUTES), for when no training state is at hand;
# resumes its own state when one is at $TRUNK_STATE-NAME; the checkpoint goes to $TRUNK_OUT-NAME
refine() {
  local name=${1:?refine NAME MINUTES LR [ARGS...]} minutes=${2:?refine MINUTES} lr=${3:?refine LR}
  shift 3
  local state="$TRUNK_STATE-$name" resume=()
  [ -f "$state/state.pt" ] && resume=(--resume)
  train "${trunk_args[@]}" --init $CK/jscc-awgn-cbr1-16-large --lr "$lr" --ema 0.995 --minutes "$minutes" \
    --out "$TRUNK_OUT-$name" --state-dir "$state" "${resume[@]}" "$@"
}
cooldown() { anneal cooldown trunk "${1:?cooldown MINUTES}" 5e-4; }
# a second, lower anneal of the cooldown's finished state: training on at a small rate keeps paying
reanneal() { anneal reanneal cooldown "${1:?reanneal MINUTES [LR]}" "${2:-2e-4}"; }

case "${1:-all}" in
  awgn16) awgn16 ;;
  awgn48) awgn48 ;;
  rayleigh16) rayleigh16 ;;
  rayleigh16symbol) rayleigh16symbol ;;
  trunk) trunk ;;
  cooldown) cooldown "${2:-}" ;;
  reanneal) reanneal "${2:-}" "${3:-}" ;;
  anneal) shift; anneal "$@" ;;
  refine) shift; refine "$@" ;;
  all) awgn16; awgn48; rayleigh16; rayleigh16symbol ;;
  *) echo "usage: $0 [awgn16|awgn48|rayleigh16|rayleigh16symbol|trunk|cooldown MINUTES|reanneal MINUTES [LR]|anneal NAME FROM MINUTES LR [ARGS...]|refine NAME MINUTES LR [ARGS...]|all]" >&2; exit 2 ;;
esac
