#!/bin/bash
# Train one repair stage on a rented GPU machine that has PyTorch but no internet, no FFmpeg and no
# msar dependencies, and that takes only a few tens of MiB of files (how every GPU stage of the
# shipped weights ran). Two steps:
#
#   bash recipes/gpu_box.sh prepare [KATHLEEN_LIMIT]   # here: .gpu/ = data copy + wheels + fp16 start
#   INIT_FROM=msar_hf/pretrained/repair_causal bash recipes/gpu_box.sh prepare   # the live model's start
#   bash recipes/gpu_box.sh train CONFIG               # there, from the repo root, .gpu/ carried along
#
# `prepare` writes .gpu/data (recipes/pack_shared_data.py), .gpu/whl (the pure-Python and manylinux
# cp312 wheels of what train.py needs beyond PyTorch/transformers/accelerate: soundfile's libsndfile
# also does the mp3/opus damage there, see channel.codec) and .gpu/init (the shipped weights as
# float16: the offline repair model's, or the folder INIT_FROM names, e.g. the shipped causal model for
# recipes/configs/autoencoder_causal_gpu.yaml). `train` installs the wheels into /tmp/site, turns the weights back into float32, runs
# `accelerate launch recipes/train.py --config CONFIG` (a config whose init_from is .gpu/init, e.g.
# recipes/configs/autoencoder_gpu_codec.yaml; EXTRA="--resume latest" continues) and copies the
# weights to $OUT (final/ if the run finished, else the last checkpoint's pytorch_model.bin).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}

prepare() {
  local limit=${1:-600} src=${MSAR_DATA_ROOT:-../shared/data} init=${INIT_FROM:-msar_hf/pretrained/repair}
  if [ ! -d "$src/speech" ] || [ ! -d "$src/noise" ]; then
    echo "gpu_box.sh prepare: no speech/ and noise/ under '$src' (set MSAR_DATA_ROOT)" >&2; exit 2
  fi
  if [ ! -f "$init/model.safetensors" ] || [ ! -f "$init/config.json" ]; then
    echo "gpu_box.sh prepare: INIT_FROM '$init' has no model.safetensors and config.json" >&2; exit 2
  fi
  rm -rf .gpu/data .gpu/init && mkdir -p .gpu/whl .gpu/init
  "$PY" recipes/pack_shared_data.py --src "$src" --dst .gpu/data --kathleen-limit "$limit"
  local platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
                   --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
  # torch-pesq (+ torchtyping, typeguard 2) for model.config.loss_pesq; it imports torchaudio, which the
  # box must already have (its wheel is tied to the box's torch build). Untried on a box so far.
  for pkg in soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==0.5.0.post1 audiomentations==0.43.1 \
             numpy-minmax==0.6.0 numpy-rms==0.7.0 python-stretch==0.3.1 pyroomacoustics==0.10.1 librosa==0.11.0 \
             audioread decorator pooch platformdirs torch-pesq==0.1.2 torchtyping==0.1.5 typeguard==2.13.3; do
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      "${platforms[@]}" -d .gpu/whl "$pkg"
  done
  cp "$init/config.json" .gpu/init/
  if [ -f "$init/preprocessor_config.json" ]; then cp "$init/preprocessor_config.json" .gpu/init/; fi
  INIT="$init" "$PY" - <<'EOF'
import os
from safetensors.torch import load_file, save_file
weights = load_file(os.path.join(os.environ["INIT"], "model.safetensors"))
save_file({k: v.half() for k, v in weights.items()}, ".gpu/init/model.safetensors", metadata={"format": "pt"})
EOF
  du -sh .gpu
  # The device tool sends the tracked tree + carried .gpu/ and refuses more than 64 MiB. The shipped
  # weights (multispeaker, repair, repair_causal, speaker encoder: 40 MiB) are not needed on the box (the start is
  # .gpu/init); what was done on 2026-11-28 when the sum was over: `git rm -q --cached` them and list
  # them in .git/info/exclude for the call, then `git reset -q -- msar_hf/pretrained` and drop the lines.
  local tree_kib gpu_kib
  tree_kib=$(git ls-files -z | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  gpu_kib=$(du -sk .gpu | cut -f1)
  if [ $(( (tree_kib + gpu_kib) / 1024 )) -gt 62 ]; then
    echo "gpu_box.sh prepare: tracked tree $((tree_kib / 1024)) MiB + .gpu $((gpu_kib / 1024)) MiB is over the device tool's 64 MiB: leave the shipped weights out of the index for the call (see this script) or use a smaller KATHLEEN_LIMIT" >&2
  fi
}

train() {
  local config=${1:-} out=${OUT:-runs/gpu_box_out}
  if [ ! -f "$config" ]; then echo "gpu_box.sh train: no config file '$config'" >&2; exit 2; fi
  if [ ! -d .gpu/whl ] || [ ! -f .gpu/init/model.safetensors ]; then
    echo "gpu_box.sh train: .gpu/ is missing or incomplete: run 'bash recipes/gpu_box.sh prepare' first" >&2; exit 2
  fi
  mkdir -p "$out"
  if [ -z "${SKIP_WHEELS:-}" ]; then  # SKIP_WHEELS=1: a dry run where msar is installed
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
  fi
  export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MSAR_DATA_ROOT=.gpu/data
  "$PY" - <<'EOF'
from safetensors.torch import load_file, save_file
weights = load_file(".gpu/init/model.safetensors")
save_file({k: v.float() for k, v in weights.items()}, ".gpu/init/model.safetensors", metadata={"format": "pt"})
EOF
  touch "$out/started"
  # ${EXTRA} unquoted on purpose: it holds extra train.py arguments
  # shellcheck disable=SC2086
  timeout "${TRAIN_TIMEOUT:-530}" "$PY" -m accelerate.commands.launch --num_processes 1 --num_machines 1 \
    --mixed_precision no --dynamo_backend no recipes/train.py --config "$config" ${EXTRA:-} 2>&1 | tee "$out/train.log"
  # what this run wrote: final/ if it finished, else its last checkpoint (continue with
  # EXTRA="--resume latest")
  local final ckpt
  final=$(find runs -path '*/final/model.safetensors' -newer "$out/started" 2>/dev/null | head -1)
  if [ -n "$final" ]; then
    cp "$final" "$(dirname "$final")/../train_summary.json" "$out/"
  else
    ckpt=$(find runs -path '*/checkpoints/checkpoint-*/pytorch_model.bin' -newer "$out/started" | sort -V | tail -1)
    cp "$ckpt" "$out/"
  fi
  ls -la "$out"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  train) shift; train "$@" ;;
  *) echo "usage: bash recipes/gpu_box.sh prepare [KATHLEEN_LIMIT] | train CONFIG" >&2; exit 2 ;;
esac
