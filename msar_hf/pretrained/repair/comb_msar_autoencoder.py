"""A comb on the voice's low band: the noise a repair leaves between the first harmonics, taken out.

Under noise the repair keeps some noise in the band of the fundamental (its first harmonics,
~80-350 Hz), between the harmonics and over them, and pitch trackers call voiced frames unvoiced.
Measured on the 36 noise items of dev seeds 7, 99,
4242 (shipped weights, auto strength, the residual gate): WORLD DIO, the tracker of Q's pitch term,
found no F0 in 28 % of the clean speech's voiced frames of the repair (DeepFilterNet3 11 %), and
the clean band under 300 Hz put back alone would take the pitch term from 0.058 to 0.013, while the
clean band 300-1000 Hz did nothing: the higher harmonics the repair keeps are right.

So the F0 is read from those higher harmonics of the repair (a peak-valley contrast over the
harmonic comb of each candidate, a subharmonic-summation variant: the contrast is low at F0/2 and
at 2 F0, so octave errors are rare), kept only in smooth runs of frames, and in the band
HARMONICS_BAND_HZ the bins between the harmonics of voiced frames drop to HARMONICS_FLOOR, unless
they stand HARMONICS_CUT_UNDER_DB over the level of what the network removed there. Only
where what the repair removed is noise (pause_noise_weight, steady_noise_weight, tf_noise_weight,
counted from auto strength's AUTO_JUDGE_REMOVED_FROM_DB on): on clean, band-limited, codec or
clipped input it does nothing, since there the band between the harmonics is speech.
PercepNet's pitch comb filter and DeepFilterNet's deep filter serve the same end over the whole
band; here only the fundamental's band, because a whole-band comb cost PESQ-WB (README, the
repair benchmark's reading of additive noise). By hand, in torch: no library offers an
F0-synchronous comb, and this file ships with the model as remote code.

On in the shipped config (``low_band_comb: 1.0``): on the damaged items of seven dev seeds it
raises PESQ-WB and lowers Q on every seed, SI-SDR unchanged, and DNSMOS OVRL moves by -0.002 (its
first, opt-in version, with a laxer tracker and no 12 dB rule, cost 0.03: README, "The low-band
comb").
"""

from __future__ import annotations

import functools
import math

import torch

from .postprocessing_msar_autoencoder import RemovedNoise, power

# Chosen on dev seeds 7, 99, 4242 (288 items, cached shipped repairs, scratch), checked on seeds
# 1234, 777, 5555, 31337 (numbers in the README and the model card):
HARMONICS_BAND_HZ = (50.0, 350.0)  # the band combed: the fundamental and the harmonics next to it
HARMONICS_FLOOR = 0.3  # gain between the harmonics (-10 dB) at a weight of 1
HARMONICS_TOOTH_HZ = 22.0  # a harmonic's bins: within this of k * F0 (a 64 ms Hann lobe is +-31 Hz)
HARMONICS_F0_HZ = (60.0, 420.0)  # F0 candidates (log-spaced)
HARMONICS_FROM_HZ = 1800.0  # harmonics up to here vote for an F0
HARMONICS_MIN_CONTRAST = 0.3  # (peak - valley) / (peak + valley) of a voiced frame's comb
HARMONICS_MIN_RUN = 12  # voiced frames in a row (120 ms) with a smooth F0 ...
HARMONICS_MAX_STEP = 0.12  # ... at most this step of log F0 between neighbours
# The voicing bar (contrast 0.3, 120 ms runs) was 0.2 and 60 ms when the comb was opt-in: with the
# clean speech's own F0 (an oracle) the comb cost DNSMOS OVRL 0.008 on 48 noise and mixed items of
# seeds 1234+777, with that tracker 0.035, with this one 0.007 (PESQ-WB +0.012 instead of +0.015).
# On the noise, reverb, mixed and clipped items of seeds 99+4242 | 5555+31337 (96 | 96): PESQ-WB
# 2.052 -> 2.071 | 2.050 -> 2.061, Q 0.0784 -> 0.0726 | 0.0707 -> 0.0658, OVRL -0.006 | -0.004.
# A bin between the harmonics is lowered only where it stays under this much over the mean power,
# in that bin, of what the network removed: a bin that stands far above the noise is speech (a
# glide the tracker's F0 lags, breath, the onset of a harmonic), and cutting it cost SI-SDR. Damaged
# items of noise, reverb, clipping and mixed, seeds 1234+777 | 99+4242 | 5555+31337 (96 each,
# scratch combsnr.py): with no such rule PESQ-WB 2.110 -> 2.116 | 2.052 -> 2.072 | 2.051 -> 2.061,
# Q 0.0687 -> 0.0652 | 0.0784 -> 0.0726 | 0.0707 -> 0.0658, but SI-SDR 3.92 -> 3.73 | 2.27 -> 2.05 |
# 2.07 -> 1.94 dB (additive noise -0.4 to -0.7 dB); at 12 dB PESQ-WB 2.117 | 2.074 | 2.062, Q 0.0655
# | 0.0727 | 0.0660, SI-SDR 3.94 | 2.29 | 2.07 dB. 0 and 6 dB kept about half and two thirds of the
# gains (first pair), 9 and 18 dB scored as 12.
HARMONICS_CUT_UNDER_DB = 12.0
_WINDOW_SECONDS, _HOP_SECONDS = 0.064, 0.010  # resolves harmonics 80 Hz apart; Q's pitch hop
_CANDIDATES = 160
_HARMONICS = 12


def noise_weight(damaged, repaired=None, removed: RemovedNoise | None = None) -> float:
    """0..1: how surely what the repair removed is noise (the larger of the pause, steady and
    time-frequency rules of auto strength), counted from AUTO_JUDGE_REMOVED_FROM_DB on; judged on
    ``damaged`` and ``repaired``, or taken from ``removed`` (:class:`RemovedNoise`) when given."""
    removed = RemovedNoise(damaged, repaired) if removed is None else removed
    if removed.judged == 0.0:
        return 0.0
    return removed.judged * max(removed.pause, removed.steady, removed.tf)


def _smooth_runs(f0: torch.Tensor, min_run: int, max_step: float) -> torch.Tensor:
    """``f0`` with voiced runs shorter than ``min_run`` frames unvoiced (a run: neighbours both
    voiced, log-F0 step under ``max_step``). Single-frame octave slips go first (median of 3)."""
    voiced = f0 > 0
    if f0.shape[0] >= 3:
        padded = torch.nn.functional.pad(f0[None, None], (1, 1), mode="replicate")[0, 0]
        median = torch.stack([padded[:-2], padded[1:-1], padded[2:]]).median(0).values
        f0 = torch.where(voiced & (median > 0), median, f0)
    log_f0 = torch.log(f0.clamp_min(1.0))
    joined = voiced[1:] & voiced[:-1] & ((log_f0[1:] - log_f0[:-1]).abs() < max_step)
    run_id = torch.cumsum(torch.cat([torch.ones(1, dtype=torch.long), (~joined).long()]), 0)
    run_length = torch.bincount(run_id)[run_id]
    return torch.where(voiced & (run_length >= min_run), f0, torch.zeros_like(f0))


@functools.lru_cache(maxsize=8)
def _comb_readers(sampling_rate: int, n_fft: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(candidates,) F0 candidates in Hz and two (candidates, bins) matrices that read, from a
    (bins, frames) (compressed) magnitude spectrum, each candidate's weighted mean magnitude at its harmonics and
    at the valleys between them (linear interpolation between bins). One matrix product per
    spectrum instead of a gather of candidates x harmonics values per frame: a tenth of the time."""
    bins = n_fft // 2 + 1
    candidates = torch.exp(torch.linspace(math.log(HARMONICS_F0_HZ[0]), math.log(HARMONICS_F0_HZ[1]), _CANDIDATES))
    order = torch.arange(1, _HARMONICS + 1, dtype=torch.float32)
    peaks, valleys = candidates[:, None] * order, candidates[:, None] * (order - 0.5)
    weights = (peaks <= HARMONICS_FROM_HZ).float() * 0.9 ** (order - 1)
    weights = weights / weights.sum(1, keepdim=True)

    def reader(freqs: torch.Tensor) -> torch.Tensor:  # (C, H) Hz -> (C, bins)
        position = freqs / (sampling_rate / n_fft)
        low = position.floor().long().clamp(0, bins - 2)
        frac = (position - low).clamp(0, 1)
        matrix = torch.zeros(_CANDIDATES, bins)
        matrix.scatter_add_(1, low, weights * (1 - frac))
        matrix.scatter_add_(1, low + 1, weights * frac)
        return matrix

    return candidates, reader(peaks), reader(valleys)


def harmonic_f0(spectrum: torch.Tensor, sampling_rate: int, n_fft: int,
                energy: torch.Tensor | None = None) -> torch.Tensor:
    """(frames,) F0 in Hz (0 = unvoiced) from the harmonics of a (bins, frames) complex STFT
    (``energy``: its power ``|X|^2``, when the caller has it already)."""
    energy = power(spectrum) if energy is None else energy
    compressed = energy.clamp_min(1e-16).pow(0.25)  # the magnitude's square root: harmonics weigh more evenly
    candidates, peak_reader, valley_reader = _comb_readers(sampling_rate, n_fft)
    peak, valley = peak_reader @ compressed, valley_reader @ compressed
    contrast = (peak - valley) / (peak + valley + 1e-8)
    best, index = contrast.max(0)
    f0 = candidates[index]
    frame_energy = energy.sum(0)
    level_db = 10 * torch.log10(frame_energy / frame_energy.max().clamp_min(1e-12) + 1e-12)
    f0 = torch.where((best >= HARMONICS_MIN_CONTRAST) & (level_db > -45.0), f0, torch.zeros_like(f0))
    return _smooth_runs(f0, HARMONICS_MIN_RUN, HARMONICS_MAX_STEP)


def comb_low_band(damaged, repaired, amount: float = 1.0, sampling_rate: int = 16000,
                  removed: RemovedNoise | None = None) -> torch.Tensor:
    """``repaired`` (T,) with the bins between its harmonics under HARMONICS_BAND_HZ[1] lowered
    (module doc) by ``amount`` (0..1) times :func:`noise_weight`; unchanged elsewhere.

    ``removed``: what the network's own repair took out of ``damaged`` (:class:`RemovedNoise` of
    the two), when ``repaired`` has been through another post-step (the residual gate): the noise is
    judged and its level measured on it, as the gate judged it; None = on ``repaired``. Judged on
    the gated signal instead, what the gate took off a band-limited recording's floor counts as
    steady noise (weights up to 0.26 where the network's repair scores 0), and the comb cut into
    speech: band-limit Q 0.0304 -> 0.0309 on seeds 1234, 777, 5555, 31337.
    """
    damaged = torch.as_tensor(damaged, dtype=torch.float32).flatten()
    repaired = torch.as_tensor(repaired, dtype=torch.float32).flatten()
    n_fft = 1 << math.ceil(math.log2(_WINDOW_SECONDS * sampling_rate))
    hop = round(_HOP_SECONDS * sampling_rate)
    if amount <= 0.0 or repaired.shape[0] < 2 * n_fft:
        return repaired
    removed = RemovedNoise(damaged, repaired) if removed is None else removed
    weight = amount * noise_weight(damaged, removed=removed)
    if weight <= 0.0:
        return repaired
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(repaired, n_fft, hop, window=window, return_complex=True)
    energy = power(spectrum)
    f0 = harmonic_f0(spectrum, sampling_rate, n_fft, energy)
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sampling_rate)
    band = (freqs >= HARMONICS_BAND_HZ[0]) & (freqs < HARMONICS_BAND_HZ[1])
    f = freqs[band][:, None]
    nearest = (f / f0.clamp_min(1.0)).round().clamp_min(1.0) * f0
    between = ((f - nearest).abs() >= HARMONICS_TOOTH_HZ) & (f0 > 0)[None]
    taken_out = torch.stft(removed.damaged - removed.repaired, n_fft, hop, window=window, return_complex=True)[band]
    noise_level = power(taken_out).mean(1, keepdim=True)
    between &= energy[band] < noise_level * 10 ** (HARMONICS_CUT_UNDER_DB / 10)
    change = torch.zeros_like(spectrum)
    change[band] = spectrum[band] * between * (weight * (HARMONICS_FLOOR - 1.0))
    # only the change goes through the inverse STFT: the signal outside the band is left as it was
    return repaired + torch.istft(change, n_fft, hop, window=window, length=repaired.shape[0])


__all__ = [
    "HARMONICS_BAND_HZ",
    "HARMONICS_CUT_UNDER_DB",
    "HARMONICS_FLOOR",
    "comb_low_band",
    "harmonic_f0",
    "noise_weight",
]
