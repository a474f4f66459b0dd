"""GPU check of msar repair: the file-level repair on CUDA against the CPU's, and the GPU's speed.

    PYTHONPATH=. python benchmarks/gpu_repair_check.py      # OUT=folder for gpu_check.json (default /tmp)

Not a bench_* script (`make bench` runs on CPUs): it is run where a GPU is lent, e.g. through the
device tool with the soundfile/soxr/silero-vad wheels carried. The H200 run of 2026-11-27 (git
3d7b0e9's fix in place) is in benchmarks/results/gpu_repair_h200.json.
"""
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from msar_hf.audio import load_audio
from msar_hf.repair import load_repair_model, repair_file

DEMO = "msar_hf/demo/damaged_demo.flac"
dev = "cuda" if torch.cuda.is_available() else "cpu"
res = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__}
with tempfile.TemporaryDirectory() as scratch:
    outputs = {}
    for name, device in (("cpu", "cpu"), ("dev", dev)):  # the file-level repair, model loading included
        began = time.time()
        repair_file(DEMO, Path(scratch) / f"{name}.wav", device=device)
        res[f"{name}_file_s_incl_load"] = round(time.time() - began, 2)
        outputs[name] = sf.read(Path(scratch) / f"{name}.wav", dtype="float32")[0]
a, b = outputs["cpu"], outputs["dev"]
res["same_length"] = a.shape == b.shape
res["max_abs_diff"] = float(np.abs(a - b).max())
res["diff_db_re_output"] = float(10 * np.log10(np.sum((a - b) ** 2) / np.sum(a**2) + 1e-30))

# speed: model.repair on 60 s (the demo clip tiled), after a warm-up
model = load_repair_model(None, dev)
clip = load_audio(DEMO, 16000)[0]
wave = clip.repeat(1 + 60 * 16000 // clip.numel())[: 60 * 16000].to(dev)
with torch.no_grad():
    model.repair(wave[: 16000 * 8])
    if dev == "cuda":
        torch.cuda.synchronize()
    began = time.time()
    model.repair(wave)
    if dev == "cuda":
        torch.cuda.synchronize()
res["rtf_60s_repair"] = round((time.time() - began) / 60.0, 5)
res["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20) if dev == "cuda" else None
print(json.dumps(res, indent=1))
(Path(os.environ.get("OUT", "/tmp")) / "gpu_check.json").write_text(json.dumps(res, indent=1))
