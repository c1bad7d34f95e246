#!/usr/bin/env bash
# Train on a lent GPU in one command (docs/training-on-a-gpu.md):
#   1. a smoke run: every stage of the schedule within SMOKE_S seconds (fails fast, costs little);
#   2. training: the schedule within what is left of BUDGET_S, less RESERVE_S for the check and exit;
#   3. a check of the exported weights on the device: training-time bpp, PSNR of prediction and
#      reconstruction, loss, on the bundled sample clip at one rate point (no range coding).
# Everything that comes back is written into $OUT (at most 8 files, each well under 16 MiB):
#   gpu_train.log, smoke_summary.json, nvc.pt (fp16), log.csv, summary.json, check.json[, check_init.json]
# Weights over PART_MIB are split into nvc.pt.part-00, -01, ...: rejoin them with `cat nvc.pt.part-* > nvc.pt`.
#
# Usage, from anywhere (the working tree with the pack carried along):
#   OUT=/some/folder [INIT=weights.pt] tools/gpu_train.sh [more `nvc train` arguments, e.g. --set ...]
# Environment (defaults): BUDGET_S (540) SMOKE_S (20) RESERVE_S (60) DEVICE (cuda) PYTHON (python3)
#   CONFIG (nvc_core/resources/configs/train_gpu.yaml) PACK (.pack) STAGES (all) QUALITY (3) WORK (a temporary folder)
#   PART_MIB (15)
set -euo pipefail
started=$(date +%s)
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that comes back}"
BUDGET_S=${BUDGET_S:-540} SMOKE_S=${SMOKE_S:-20} RESERVE_S=${RESERVE_S:-60}
DEVICE=${DEVICE:-cuda} PYTHON=${PYTHON:-python3} CONFIG=${CONFIG:-nvc_core/resources/configs/train_gpu.yaml}
PACK=${PACK:-.pack} STAGES=${STAGES:-all} QUALITY=${QUALITY:-3} INIT=${INIT:-} PART_MIB=${PART_MIB:-15}
WORK=${WORK:-$(mktemp -d)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TQDM_MININTERVAL=5
mkdir -p "$OUT" "$WORK"

nvc() { "$PYTHON" -m nvc_core.cli "$@"; }
elapsed() { echo $(( $(date +%s) - started )); }

# Weights into $OUT: as they are, or split into parts of at most PART_MIB.
deliver() {
    local part_bytes; part_bytes=$(awk "BEGIN {printf \"%d\", $PART_MIB * 1048576}")
    if [[ $(stat -c %s "$1") -gt $part_bytes ]]; then
        split -b "$part_bytes" -d "$1" "$OUT/nvc.pt.part-"
        echo "== nvc.pt split into $(ls "$OUT"/nvc.pt.part-* | wc -l) parts of at most $PART_MIB MiB" \
             "(what comes back is at most 16 MiB a file): cat nvc.pt.part-* > nvc.pt"
    else
        cp "$1" "$OUT/nvc.pt"
    fi
}

main() {
    echo "== $(date -u +%FT%TZ) on $(uname -n), $(nproc) cores"
    if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; fi
    "$PYTHON" -c "import json, sys, torch
print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())
print('pack:', {k: v for k, v in json.load(open('$PACK/pack.json')).items() if k != 'clip_frames'})"
    local extra=(); if [[ -n "$INIT" ]]; then extra=(--init "$INIT"); fi
    # Worker processes hand batches over in /dev/shm: ~1 GiB with the preset (12 workers x 4 batches ready).
    local shm_mib; shm_mib=$(df -Pm /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
    if [[ "${shm_mib:-0}" -lt 2048 ]]; then
        echo "only ${shm_mib:-0} MiB free in /dev/shm: batches are made in the training process"
        extra+=(--set train.workers=0)
    fi
    local train=(train --config "$CONFIG" --pack "$PACK" --stage "$STAGES" --device "$DEVICE" "${extra[@]}")

    echo "== smoke run: ${SMOKE_S} s for all stages (at $(elapsed) s)"
    nvc "${train[@]}" --budget "$(awk "BEGIN {print $SMOKE_S / 60}")" --out "$WORK/smoke" "$@"
    cp "$WORK/smoke/summary.json" "$OUT/smoke_summary.json"

    local minutes
    minutes=$(awk "BEGIN {m = ($BUDGET_S - $(elapsed) - $RESERVE_S) / 60; printf \"%.2f\", (m > 0.01 ? m : 0.01)}")
    echo "== training: $minutes min (at $(elapsed) s)"
    nvc "${train[@]}" --budget "$minutes" --out "$WORK/run" --export "$WORK/nvc.pt" "$@"
    cp "$WORK/run/summary.json" "$OUT/"
    if [[ -f "$WORK/run/log.csv" ]]; then cp "$WORK/run/log.csv" "$OUT/"; fi   # none under log_every steps
    deliver "$WORK/nvc.pt"                     # the weights are in $OUT before anything else can fail

    echo "== check of the weights (at $(elapsed) s)"
    if [[ -n "$INIT" ]]; then                  # the file of INIT=PATH[:CODER,...], as a whole model
        nvc train check "${INIT%:*}" --quality "$QUALITY" --device "$DEVICE" --json "$OUT/check_init.json" ||
            echo "(the init weights do not load as a whole model: no check_init.json)"
    fi
    nvc train check "$WORK/nvc.pt" --quality "$QUALITY" --device "$DEVICE" --json "$OUT/check.json"
    echo "== done in $(elapsed) s"
}

main "$@" 2>&1 | tee "$OUT/gpu_train.log"
