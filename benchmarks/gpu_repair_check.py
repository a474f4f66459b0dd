"""GPU check of msar repair: the file-level repair on CUDA against the CPU's, and the GPU's speed.

    PYTHONPATH=. python benchmarks/gpu_repair_check.py      # OUT=folder for gpu_check.json (default /tmp)

Not a bench_* script (`make bench` runs on CPUs): it is run where a GPU is lent, e.g. through the
device tool with the soundfile/soxr/silero-vad wheels carried. The H200 run of 2026-11-27 (git
3d7b0e9's fix in place) is in benchmarks/results/gpu_repair_h200.json.
"""
import json
import os
import time

import numpy as np
import soundfile as sf
import torch

from msar_hf.repair import load_repair_model, repair_file

dev = "cuda" if torch.cuda.is_available() else "cpu"
out = os.environ.get("OUT", "/tmp")
demo = "msar_hf/demo/damaged_demo.flac"
res = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__}
t = time.time(); repair_file(demo, "/tmp/cpu.wav", device="cpu"); res["cpu_file_s"] = round(time.time() - t, 2)
t = time.time(); repair_file(demo, "/tmp/dev.wav", device=dev); res["dev_file_s_incl_load"] = round(time.time() - t, 2)
a, sr = sf.read("/tmp/cpu.wav", dtype="float32"); b, _ = sf.read("/tmp/dev.wav", dtype="float32")
res["same_length"] = a.shape == b.shape
res["max_abs_diff"] = float(np.abs(a - b).max())
res["diff_db_re_output"] = float(10 * np.log10(np.sum((a - b) ** 2) / np.sum(a ** 2) + 1e-30))
model = load_repair_model(None, dev)
x, _ = sf.read(demo, dtype="float32")
x = np.tile(x if x.ndim == 1 else x.mean(1), 1 + int(60 * 16000 / len(x)))[: 60 * 16000] if sr == 16000 else None
wave = torch.from_numpy(x).to(dev)
with torch.no_grad():
    model.repair(wave[: 16000 * 8])
    if dev == "cuda": torch.cuda.synchronize()
    t = time.time(); y = model.repair(wave)
    if dev == "cuda": torch.cuda.synchronize()
res["rtf_60s_repair"] = round((time.time() - t) / 60.0, 5)
res["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20) if dev == "cuda" else None
print(json.dumps(res, indent=1))
with open(os.path.join(out, "gpu_check.json"), "w") as fh:
    fh.write(json.dumps(res, indent=1))
