"""Reverberation: convolution with measured or simulated room impulse responses.

audiomentations' ApplyImpulseResponse keeps the RIR's propagation delay and rescales the
output to a fixed peak; a training pair needs the reverberant speech time-aligned with the
clean target (direct path at sample 0) and at the clean level, so the convolution is done here
(scipy's FFT convolution). Rooms are simulated with pyroomacoustics' image-source model.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import oaconvolve

from ._signal import array_io, as_numpy, power


def direct_path_index(rir: np.ndarray, threshold: float = 0.3) -> int:
    """First tap reaching ``threshold`` of the largest: the direct sound. Not the largest tap
    itself: in halls a cluster of reflections can outweigh the direct path (by 25 ms in one of
    the shared RIRs), and aligning on it would put an echo before the speech."""
    a = np.abs(rir)
    return int(np.argmax(a >= threshold * a.max())) if a.size else 0


def prepare_rir(rir: np.ndarray, sampling_rate: int, max_seconds: float = 2.0) -> np.ndarray:
    """Start the RIR 1 ms before its direct path (no propagation delay), cut its inaudible
    tail at ``max_seconds`` and scale its largest tap to 1."""
    rir = np.asarray(rir, np.float32)
    start = max(0, direct_path_index(rir) - sampling_rate // 1000)
    rir = rir[start:start + int(max_seconds * sampling_rate)]
    return rir / np.float32(max(float(np.abs(rir).max()), 1e-12))


@array_io
def reverberate(clean, rir, wet_level: float = 1.0, preserve_level: bool = True):
    """Convolve ``clean`` with ``rir`` keeping the direct path aligned with the input.

    The RIR's direct path (:func:`direct_path_index`) lands on sample 0: no added delay. ``wet_level`` < 1 mixes the dry signal back in (closer microphone). With
    ``preserve_level`` the output has the RMS of the input. Output length == input length.
    """
    rir = as_numpy(rir)
    if clean.size == 0 or rir.size == 0:
        return clean.copy()
    lead = direct_path_index(rir)
    wet = oaconvolve(clean, rir / np.float32(max(float(np.abs(rir).max()), 1e-12)))[lead:lead + clean.size]
    wet = wet.astype(np.float32)
    out = wet if wet_level >= 1.0 else clean * np.float32(1.0 - wet_level) + wet * np.float32(wet_level)
    if preserve_level:
        p_in, p_out = power(clean), power(out)
        if p_out > 0:
            out = out * np.float32(np.sqrt(p_in / p_out))
    return out


def simulate_rirs(count: int, sampling_rate: int, seed: int, rt60_range=(0.2, 1.0),
                  room_size_range=((3.0, 3.0, 2.4), (12.0, 10.0, 4.5)),
                  distance_range=(0.5, 4.0), max_order: int = 24) -> list[tuple[np.ndarray, dict]]:
    """``count`` shoebox rooms (pyroomacoustics image-source model), RT60s spread evenly over
    ``rt60_range``, random sizes and source/microphone positions. Deterministic from ``seed``.

    ``max_order`` caps the image-source order: the cost grows with its cube, and past ~24 the
    late tail is already dense; the energy decay still follows the requested RT60 (wall
    absorption is set by Sabine's formula)."""
    import pyroomacoustics as pra

    rng = np.random.default_rng(seed)
    lo_rt, hi_rt = sorted(float(v) for v in rt60_range)
    targets = np.linspace(lo_rt, hi_rt, count) if count > 1 else np.array([(lo_rt + hi_rt) / 2])
    size_lo, size_hi = np.asarray(room_size_range[0], float), np.asarray(room_size_range[1], float)
    rirs = []
    for rt60 in targets:
        for _attempt in range(200):
            dims = rng.uniform(size_lo, size_hi)
            try:
                absorption, order = pra.inverse_sabine(float(rt60), dims)
            except ValueError:  # room too large for so short a reverberation time: draw again
                continue
            if not 0 < absorption <= 1:
                continue
            margin = 0.5
            source = rng.uniform(margin, dims - margin)
            direction = rng.standard_normal(3)
            direction /= np.linalg.norm(direction)
            distance = rng.uniform(*distance_range)
            mic = source + direction * distance
            if np.any(mic < margin) or np.any(mic > dims - margin):
                continue  # microphone outside the room: draw again rather than squash the distance
            room = pra.ShoeBox(dims, fs=sampling_rate, materials=pra.Material(float(absorption)),
                               max_order=int(min(order, max_order)))
            room.add_source(source.tolist())
            room.add_microphone(mic.tolist())
            room.compute_rir()
            rir = np.asarray(room.rir[0][0], np.float32)
            rirs.append((prepare_rir(rir, sampling_rate), {
                "rt60_s": round(float(rt60), 3), "room_m": [round(float(d), 2) for d in dims],
                "distance_m": round(float(np.linalg.norm(mic - source)), 2)}))
            break
    return rirs
