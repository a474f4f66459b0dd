"""The benchmark's public baselines (benchmarks/baselines.py), where their packages are installed
(`pip install -e .[bench]`; CI has none of them, so these are skipped there): each gives back the
whole clip, aligned with its input, so the benchmark compares the systems, not their wrappers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.baselines import _FACTORIES, load_baselines, measure_lag
from msar_hf.audio import load_audio


@pytest.fixture(scope="module")
def speech_cut_mid_word() -> np.ndarray:
    """The demo's clean recording cut where a 100 ms stretch of speech is loudest: the clip ends
    inside speech, so a wrapper that loses the clip's last frames loses speech."""
    x = load_audio(REPO / "msar_hf" / "demo" / "clean_demo.flac")[0].numpy()
    frame = 1600
    energy = np.convolve(x**2, np.ones(frame), mode="valid")
    end = int(np.argmax(energy[16000:])) + 16000 + frame
    return x[: end - end % 480]  # whole 30 ms frames, as the dev set's 4 s items: no padding to flush a tail


@pytest.mark.parametrize("name", [name for name, *_ in _FACTORIES if name != "noisy"])
def test_a_baseline_gives_back_the_whole_clip_aligned(name, speech_cut_mid_word):
    """DeepFilterNet3's wrapper lost the clip's last 30 ms (its runtime drops that much at the
    start to compensate its delay and flushes nothing at the end): zeros where the clip ended in
    speech cost it up to 0.8 PESQ-WB on a clean item."""
    baselines, missing = load_baselines([name])
    if not baselines:
        pytest.skip(f"{name}: {missing[name]}")
    enhance = baselines[0].enhance
    x = speech_cut_mid_word
    y = enhance(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert abs(measure_lag(enhance, x)) <= 1
    tail = 480  # the last 30 ms, inside speech
    kept = 10 * np.log10(np.sum(y[-tail:].astype(np.float64) ** 2) / np.sum(x[-tail:].astype(np.float64) ** 2))
    assert kept > -10.0, f"{name}: the clip's last 30 ms came back {kept:.1f} dB down"
