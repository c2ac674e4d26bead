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
# Usage: experiments/train_jscc.sh [awgn16|awgn48|rayleigh16|all]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SEMCOM_DATA:-../shared/data}
PY=${PY:-.venv/bin/python}
export OMP_WAIT_POLICY=PASSIVE
CK=semcom/jscc/checkpoints
ST=/tmp/jscc_state
train() { nice -n 19 "$PY" -m semcom.cli train jscc --data "$D/bsds500/train" --val "$D/bsds500/val" "$@"; }

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

case "${1:-all}" in
  awgn16) awgn16 ;;
  awgn48) awgn48 ;;
  rayleigh16) rayleigh16 ;;
  all) awgn16; awgn48; rayleigh16 ;;
  *) echo "usage: $0 [awgn16|awgn48|rayleigh16|all]" >&2; exit 2 ;;
esac
