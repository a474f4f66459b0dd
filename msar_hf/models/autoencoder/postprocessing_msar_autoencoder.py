"""What ``MsarAutoencoderModel.repair`` does with the network's output before returning it.

Two rules, each measured on the dev sets (the numbers beside each were measured with the stage 1 + 2
weights shipped until git 1ca1457 unless they say otherwise; the model card has the current ones):
``auto_strength`` picks the wet/dry mix for ``strength="auto"`` (by how much the repair changes the
input, whether what it removes is a steady floor or sits in the speech's pauses, and whether it
rewrites the speech itself), and ``residual_noise_gate`` lowers the noise floor a repair leaves
behind. Flat module (torch and the standard library only) so that ``save_pretrained`` ships it with
the model as remote code.
"""

from __future__ import annotations

import math
from functools import cached_property

import torch
import torch.nn.functional as F

# strength="auto": how much the full repair changes a recording says how much there was to fix,
# so little-damaged input gets less of the model (do no harm) and heavily damaged input more.
# The change, in dB of the input's energy, maps linearly from AUTO_STRENGTH_CHANGE_DB to
# AUTO_STRENGTH_RANGE. Measured on 192 dev items (seeds 1234, 777, 99, 4242; shipped model):
# PESQ-WB over the damaged types 2.290 vs 2.285 at a fixed 0.8, clean input 4.548 vs 4.522, Q
# 0.0565 vs 0.0576. (Median change: clean, codec, band limit -33 to -42 dB; noise -17; mixed -4 to -7.)
AUTO_STRENGTH_CHANGE_DB = (-20.0, -8.0)
AUTO_STRENGTH_RANGE = (0.7, 0.9)
# A lower floor for the least-changed recordings (0.3-0.5 at a change of -30 to -40 dB, rising to
# 0.7 at -20 dB) was tried with the stage-6 weights on the same four seeds (2026-11-27, scratch):
# clean input 4.543 -> 4.55-4.57 and band-limit Q 0.0350 -> 0.0342-0.0348, but the quiet noise and
# dropout items (changed by less than -20 dB too) lost up to 0.010 PESQ-WB: damaged 2.385 -> 2.381-2.384.
# Re-checked with the stage-7 weights and the gate that keeps the harmonics (1008 damaged items of
# twelve dev seeds, scratch): 0.75-0.95 scores +0.007 PESQ-WB (every seed) and Q -0.0002, but clean
# input -0.017 and codec / band-limited input -0.004 / -0.003, where there is least to fix; a
# pause-noise mix of 0.9 or 1.0 (below) -0.001 / -0.003. Both kept.
# A steady removed component is a noise floor (hiss, fan, hum), not speech the model got wrong,
# and the dry part of the mix only puts it back: on white/pink noise at 5-25 dB SNR (dev speakers'
# clean speech) full strength scores PESQ-WB 1.93 vs 1.58 at 0.8 (white, 15 dB). Steadiness is the
# spread (90th - 10th percentile) of the removed signal's 20 ms frame levels: 2-15 dB for those
# noises, 14-50 dB for every damage type of the dev sets (speech-shaped changes). At or under
# the first value the mix goes to full strength, at or over the second it is left as above.
AUTO_STEADY_SPREAD_DB = (8.0, 14.0)
# What sits in the speech's pauses is noise, steady or not (babble, traffic, a cafe): when the
# 20 ms energies of what the repair removed rise where those of what it kept fall (their log
# correlation is negative), the dry part of the mix would mostly put that noise back, so the mix
# goes up to AUTO_PAUSE_NOISE_STRENGTH (fully at a correlation of -0.1 and under, linearly from 0).
# Over-processed speech, clipping, codec and band-limit changes follow the speech (correlation
# 0.4-0.9 on the dev sets), as does a clean recording. Measured on the damaged items of seeds
# 1234+777 | 99+4242 (shipped model, gate, two passes): the correlation is negative for 19 of 24
# noise items, 8 of 24 of the mixed chain, 4 of 24 band-limited, 1 dropout item and no clean,
# reverb, clipping or codec item; with the mix raised to 0.95 there, PESQ-WB 2.270 -> 2.290 | 2.295
# -> 2.305 (noise 1.92 -> 2.03 | 2.04 -> 2.09), Q 0.0491 -> 0.0491 | 0.0545 -> 0.0541; raising it
# to 0.9 or 1.0 instead gained less (2.282 | 2.304 and 2.280 | 2.300).
AUTO_PAUSE_NOISE_CORRELATION = (0.0, -0.1)
AUTO_PAUSE_NOISE_STRENGTH = 0.95
# Both rules above judge what the repair removed. Where that is a whisper of the input (a clean
# recording: the full repair changes it by -33 to -55 dB), its steadiness and its correlation with
# the speech are chance, and they took a clean utterance's mix anywhere from 0.7 to 1.0. So they
# count in full from a change of the second value up, not at all under the first (linearly
# between): clean input gets the gentlest mix. On the 288 dev items of seeds 1234+777+5555 |
# 99+4242+31337 this changed 17 mixes (2 clean, 6 band-limited, 3 codec, 6 quiet noise items) and
# the scores over the damaged items by -0.0007 | -0.0002 PESQ-WB and under 0.0001 Q.
AUTO_JUDGE_REMOVED_FROM_DB = (-40.0, -30.0)
# What the repair removed is noise, wherever it sits, when it does not share the kept speech's
# time-frequency pattern: the log powers of its STFT bins and of the kept signal's correlate by
# 0.67-0.71 (medians) on clean, band-limited, codec and reverberant dev items, whose removed part is
# speech-shaped, and by 0.34 on additive noise. The two rules above judge time alone (steadiness,
# pauses) and miss intermittent noise that also sits under the words (snoring, a kitchen's clatter,
# a crowd): such items got mixes of 0.7-0.8 where 0.9-1.0 scored up to 0.4 PESQ-WB higher. From a
# correlation of AUTO_TF_NOISE_CORRELATION[0] down to [1] the mix goes up towards
# AUTO_TF_NOISE_STRENGTH (pause noise's), counted only from a change of AUTO_TF_JUDGE_FROM_DB[0]
# (none) to [1] (full): closer to clean (a clean FSDD take: change -26 dB, correlation 0.11) the
# pattern of so little is chance. It fires in part on hard clipping too (correlation 0.58 median:
# the removed distortion follows the speech less closely), where it measured +0.005. Chosen on the 504 damaged items of dev seeds 1234, 777, 99, 4242, 5555 and
# 31337, then confirmed on seeds 11-16 (scratch, cached full repairs; numbers in the README).
AUTO_TF_NOISE_CORRELATION = (0.55, 0.30)
AUTO_TF_JUDGE_FROM_DB = (-30.0, -20.0)
AUTO_TF_NOISE_STRENGTH = 0.95  # 0 turns the rule off
# A repair that rewrites a recording is not removing damage from it. When the full repair changes
# a recording by a lot (AUTO_REWRITE_CHANGE_DB) and what it removes rises and falls with the speech
# itself (removed/kept correlation AUTO_REWRITE_CORRELATION), with no noise in the pauses and no
# clipped peaks to restore, the model is reshaping the speech. Seen on mp3-coded audiobook speech (LJ
# Speech at 8-24 kbit/s): the repair changes it by -0.7 to -7 dB of its energy, for PESQ-WB
# 3.10 -> 2.60 and 2.51 -> 2.03. There the mix comes down to AUTO_REWRITE_STRENGTH (fully at the
# second value of both ranges, linearly from the first). Clipped input is told apart by samples on
# its rails (_on_the_rails): what its repair removes follows the speech's peaks, and it is legitimate.
# Measured on the 576 dev items of seeds 1234, 777, 5555, 99, 4242, 31337, 11-16 (shipped weights
# and settings):
# - the rule fires on 6 items: 5 mp3-coded LJ Speech, and 1 reverberant item at weight 0.27;
# - it fires on none of the benchmark's 64 items;
# - on the 4 items at full weight, PESQ-WB 2.60 -> 3.04, 2.03 -> 2.44, 1.26 -> 1.43 and 1.21 -> 1.31,
#   with Q better on all 4 and SI-SDR up by 5-6 dB;
# - the reverberant item scores 1.25 either way.
# A mix of 0.3 did better still on those items. 0.5 is kept because the evidence is one voice.
# An independent check with another encoder and input path (`python benchmarks/bench_codec_rewrite.py`:
# 8 whole LJ Speech utterances, mp3 by the ffmpeg CLI, read back through load_audio):
# - at 8 kbit/s it fires on 6 of 8, and auto goes 1.306 -> 1.392 PESQ-WB, Q 0.0282 -> 0.0229
#   (the untouched mp3 scores 1.529 / 0.0189);
# - at 24 kbit/s it fires on none;
# - on CMU ARCTIC aew it fires on none at either rate.
AUTO_REWRITE_CHANGE_DB = (-14.0, -8.0)
AUTO_REWRITE_CORRELATION = (0.90, 0.95)
AUTO_REWRITE_STRENGTH = 0.5


def power(spec: torch.Tensor) -> torch.Tensor:
    """|X|^2 of a complex spectrum: six times faster than ``X.abs().square()`` on a CPU (no hypot, no sqrt)."""
    return spec.real.square() + spec.imag.square()


def _removed_spread_db(damaged: torch.Tensor, repaired: torch.Tensor, frame: int = 320) -> float:
    """Spread in dB of the 20 ms frame levels of ``damaged - repaired`` (frames within 60 dB of the loudest)."""
    removed = (damaged - repaired).float()
    length = removed.shape[-1] // frame * frame
    if length < 4 * frame:
        return float("inf")  # too short to call anything steady
    levels = 10.0 * torch.log10(removed[:length].reshape(-1, frame).pow(2).mean(-1) + 1e-12)
    levels = levels[levels > levels.max() - 60.0]
    return float(torch.quantile(levels, 0.9) - torch.quantile(levels, 0.1))


def _removed_kept_correlation(damaged: torch.Tensor, repaired: torch.Tensor, frame: int = 320) -> float:
    """Correlation of the log 20 ms energies of ``damaged - repaired`` (removed) and ``repaired`` (kept)."""
    length = repaired.shape[-1] // frame * frame
    if length < 4 * frame:
        return 1.0  # too short to tell pauses from speech
    removed = (damaged - repaired).float()[:length].reshape(-1, frame).pow(2).sum(-1)
    kept = repaired.float()[:length].reshape(-1, frame).pow(2).sum(-1)
    correlation = torch.corrcoef(torch.stack([torch.log(removed + 1e-9), torch.log(kept + 1e-9)]))[0, 1]
    return float(correlation) if torch.isfinite(correlation) else 1.0


def _removed_kept_tf_correlation(damaged: torch.Tensor, repaired: torch.Tensor, n_fft: int = 512,
                                 hop: int = 128, block_frames: int = 1024) -> float:
    """Correlation of the log powers of the STFT bins of ``damaged - repaired`` (removed) and
    ``repaired`` (kept), over the bins within 60 dB of the loudest kept bin.

    The frames of ``torch.stft(center=True)``, taken ``block_frames`` at a time in two passes (the
    loudest bin, then the sums of a Pearson correlation), so a long window's spectra never sit
    in memory whole (they would add tens of MB to a long recording's peak RSS).
    """
    if repaired.shape[-1] < 4 * n_fft:
        return 1.0  # too short to judge a pattern
    window = torch.hann_window(n_fft)
    signals = F.pad(torch.stack([damaged - repaired, repaired]).float()[None], (n_fft // 2, n_fft // 2), mode="reflect")[0]
    frames = 1 + (signals.shape[-1] - n_fft) // hop

    def log_powers(which: int):
        for first in range(0, frames, block_frames):
            count = min(block_frames, frames - first)
            piece = signals[which, first * hop: first * hop + (count - 1) * hop + n_fft]
            spec = torch.stft(piece, n_fft, hop, window=window, center=False, return_complex=True)
            yield power(spec).add_(1e-10).log10_()

    # one block (a repair's chunk): its spectra are kept for the second pass, not computed twice
    kept_blocks = list(log_powers(1)) if frames <= block_frames else None
    floor = max(float(kept.max()) for kept in (kept_blocks or log_powers(1))) - 6.0
    n = sa = sb = saa = sbb = sab = 0.0  # the Pearson sums, in double precision
    for removed, kept in zip(log_powers(0), kept_blocks or log_powers(1)):
        active = kept > floor
        a, b = removed[active].double(), kept[active].double()
        n += a.numel()
        sa, sb = sa + float(a.sum()), sb + float(b.sum())
        saa, sbb, sab = saa + float((a * a).sum()), sbb + float((b * b).sum()), sab + float((a * b).sum())
    if n < 16:
        return 1.0
    covariance, var_a, var_b = sab - sa * sb / n, saa - sa * sa / n, sbb - sb * sb / n
    if var_a <= 0.0 or var_b <= 0.0:
        return 1.0
    return covariance / math.sqrt(var_a * var_b)


def tf_noise_weight(damaged, repaired) -> float:
    """0..1: how surely what the repair removed is noise by its time-frequency pattern (see
    AUTO_TF_NOISE_CORRELATION), counted in full from a change of AUTO_TF_JUDGE_FROM_DB[1] up."""
    damaged, repaired = torch.as_tensor(damaged).flatten(), torch.as_tensor(repaired).flatten()
    nothing_db, something_db = AUTO_TF_JUDGE_FROM_DB
    judged = min(max((_change_db(damaged, repaired) - nothing_db) / (something_db - nothing_db), 0.0), 1.0)
    if judged == 0.0:
        return 0.0
    speech_like, noise_like = AUTO_TF_NOISE_CORRELATION
    correlation = _removed_kept_tf_correlation(damaged, repaired)
    return judged * min(max((speech_like - correlation) / (speech_like - noise_like), 0.0), 1.0)


def pause_noise_weight(damaged, repaired) -> float:
    """0..1: how surely what the repair removed is noise filling the speech's pauses (1 at a
    removed/kept energy correlation of -0.1 and under, 0 from 0 up; see AUTO_PAUSE_NOISE_CORRELATION)."""
    damaged, repaired = torch.as_tensor(damaged).flatten(), torch.as_tensor(repaired).flatten()
    start, full = AUTO_PAUSE_NOISE_CORRELATION
    return min(max((start - _removed_kept_correlation(damaged, repaired)) / (start - full), 0.0), 1.0)


def steady_noise_weight(damaged, repaired) -> float:
    """0..1: how surely what the repair removed is a steady noise floor (1 at a spread of its 20 ms
    levels of AUTO_STEADY_SPREAD_DB[0] and under, 0 from the second value up)."""
    damaged, repaired = torch.as_tensor(damaged).flatten(), torch.as_tensor(repaired).flatten()
    steady_db, unsteady_db = AUTO_STEADY_SPREAD_DB
    return min(max((unsteady_db - _removed_spread_db(damaged, repaired)) / (unsteady_db - steady_db), 0.0), 1.0)


class RemovedNoise:
    """How surely what a repair removed from ``damaged`` is noise, by each rule above, for the
    post-steps that follow the network: the residual gate and the low-band comb judge every chunk
    by the same weights of the same (input, network output) pair, so each is computed once, when
    first asked for (together they cost RTF ~0.001 on real speech, a twentieth of the shipped repair's)."""

    def __init__(self, damaged, repaired):
        self.damaged = torch.as_tensor(damaged, dtype=torch.float32).flatten()
        self.repaired = torch.as_tensor(repaired, dtype=torch.float32).flatten()

    @cached_property
    def pause(self) -> float:
        return pause_noise_weight(self.damaged, self.repaired)

    @cached_property
    def steady(self) -> float:
        return steady_noise_weight(self.damaged, self.repaired)

    @cached_property
    def tf(self) -> float:
        return tf_noise_weight(self.damaged, self.repaired)

    @cached_property
    def judged(self) -> float:
        """0..1: how much was removed at all, counted from AUTO_JUDGE_REMOVED_FROM_DB."""
        nothing_db, something_db = AUTO_JUDGE_REMOVED_FROM_DB
        return min(max((_change_db(self.damaged, self.repaired) - nothing_db) / (something_db - nothing_db), 0.0), 1.0)


def _change_db(damaged: torch.Tensor, repaired: torch.Tensor) -> float:
    """Energy of ``repaired - damaged`` in dB of the energy of ``damaged``."""
    change = float(((repaired - damaged) ** 2).sum()) / max(float((damaged ** 2).sum()), 1e-12)
    return 10.0 * math.log10(max(change, 1e-12))


def _on_the_rails(damaged: torch.Tensor, min_share: float = 2e-4, min_samples: int = 8) -> bool:
    """Whether ``damaged`` was clipped: more samples than chance (``min_samples``, and ``min_share`` of
    them) sit at its peak magnitude. On the dev sets this finds all hard-clipped items, and the tanh
    saturation whose float32 output reaches its rails; an unclipped recording touches its peak once."""
    magnitude = damaged.abs()
    peak = float(magnitude.max()) if magnitude.numel() else 0.0
    if peak <= 0.0:
        return False
    on_rails = int((magnitude >= peak * (1.0 - 1e-6)).sum())
    return on_rails >= max(min_samples, min_share * magnitude.numel())


def rewrite_weight(damaged, repaired) -> float:
    """0..1: how surely the full repair rewrites ``damaged`` instead of removing damage from it (a
    large change that follows the speech, on a recording that is not clipped; see AUTO_REWRITE_*)."""
    damaged, repaired = torch.as_tensor(damaged).flatten(), torch.as_tensor(repaired).flatten()
    change_db = _change_db(damaged, repaired)
    low_db, high_db = AUTO_REWRITE_CHANGE_DB
    large = min(max((change_db - low_db) / (high_db - low_db), 0.0), 1.0)
    if large == 0.0 or _on_the_rails(damaged):
        return 0.0
    low, high = AUTO_REWRITE_CORRELATION
    follows = min(max((_removed_kept_correlation(damaged, repaired) - low) / (high - low), 0.0), 1.0)
    return large * follows


def auto_strength(damaged, repaired) -> float:
    """The wet/dry mix that ``strength="auto"`` applies to ``repaired`` (full strength) of ``damaged``."""
    damaged, repaired = torch.as_tensor(damaged).flatten(), torch.as_tensor(repaired).flatten()
    change_db = _change_db(damaged, repaired)
    low_db, high_db = AUTO_STRENGTH_CHANGE_DB
    t = min(max((change_db - low_db) / (high_db - low_db), 0.0), 1.0)
    strength = AUTO_STRENGTH_RANGE[0] + t * (AUTO_STRENGTH_RANGE[1] - AUTO_STRENGTH_RANGE[0])
    nothing_db, something_db = AUTO_JUDGE_REMOVED_FROM_DB
    judged = min(max((change_db - nothing_db) / (something_db - nothing_db), 0.0), 1.0)
    if judged == 0.0:
        return strength
    steady = steady_noise_weight(damaged, repaired)
    strength = strength + judged * steady * (1.0 - strength)
    pause_noise = judged * pause_noise_weight(damaged, repaired)
    strength = strength + pause_noise * max(AUTO_PAUSE_NOISE_STRENGTH - strength, 0.0)
    strength = strength + tf_noise_weight(damaged, repaired) * max(AUTO_TF_NOISE_STRENGTH - strength, 0.0)
    return strength - rewrite_weight(damaged, repaired) * max(strength - AUTO_REWRITE_STRENGTH, 0.0)


# The residual gate: the noise floor a repair leaves behind, ducked. What the full repair removed
# (damaged - repaired) is a per-recording sample of the damage; every time-frequency bin of the
# repair that stays under that sample's level (mean + RESIDUAL_GATE_THRESHOLD_STD standard deviations
# of its dB level, per frequency) is attenuated by ``reduction``. This is the stationary spectral gate
# of noisereduce (Sainburg et al., its TorchGate), with the removed signal as the noise clip, restated
# in a few lines of torch so that this remote-code file needs nothing beyond torch. The band under
# ``protect_below_hz`` is left as the repair made it: Q's pitch term is decided there.
# Measured on 168 damaged dev items (seeds 1234+777 | 99+4242, shipped model, strength 0.8, reduction
# 0.5; `python benchmarks/bench_residual_gate.py`); "ducked" = share of the repair's loudest 10 % of
# bins (the speech) the gate lowers by 2.5 dB or more:
#   gate                         PESQ-WB          Q                 SI-SDR dB     ducked
#   none                         2.244 | 2.276    0.0530 | 0.0571   6.74 | 7.32   0
#   1 std, under 400 Hz kept     2.264 | 2.295    0.0529 | 0.0557   6.71 | 7.20   14 %  (chosen)
#   1 std, full band             2.272 | 2.306    0.0535 | 0.0568   6.63 | 7.19   21 %
#   2 std, full band             2.277 | 2.302    0.0532 | 0.0570   6.34 | 6.61   44 %
#   2 std, under 400 Hz kept     2.265 | 2.290    0.0526 | 0.0552   6.46 | 6.86   32 %
#   0 std (the mean level)       2.255 | 2.292    0.0528 | 0.0567   6.75 | 7.32   8 %
# At 2 std (noisereduce uses 1.5 on pure noise) the threshold sits above much of the speech, because
# what a repair removes also holds speech it reshaped: a broadband cut, not a gate (clean-input
# SI-SDR 44 -> 27 dB). At 1 std with the low band kept, PESQ and Q both improve on both halves; 2 std
# with it kept lowers Q a little more but ducks a third of the speech (SI-SDR -0.3 to -0.5 dB).
# Reduction 0.7 lost PESQ on reverb and clipping.
# Where what was removed is noise that fills the speech's pauses (pause_noise_weight), the band
# under 400 Hz holds that noise too, and leaving it there costs the pitch term instead: there the
# protected band shrinks to nothing (linearly with the weight). Measured with auto strength and two
# passes, damaged items of the same seeds: PESQ-WB 2.290 -> 2.292 | 2.305 -> 2.311, Q 0.0491 ->
# 0.0487 | 0.0541 -> 0.0531 (noise 2.03 -> 2.04 | 2.09 -> 2.10, noise Q 0.0612 -> 0.0607 | 0.0705
# -> 0.0633); a reduction of 0.7 there as well gained +0.004 more PESQ-WB and was not taken.
# The smoothing spreads each "duck" decision over 500 Hz, which takes in several harmonics of a voice:
# between-harmonic bins under the threshold pulled the harmonics beside them down by about 2 dB
# (median over voiced frames of 40 noise items, 600-4800 Hz; DeepFilterNet3 -1 dB), and the repair's
# error there rose above the damaged input's. So where what was removed is noise (filling the pauses,
# or steady: the larger of pause_noise_weight and steady_noise_weight), a bin that stands
# RESIDUAL_GATE_PEAK_MARGIN_DB over the threshold (a harmonic, not the floor) keeps its level whatever
# its neighbours get. Measured on the twelve dev seeds (1234, 777, 99, 4242, 5555, 31337, 11-16; 1008
# damaged items, auto strength, two passes; scratch scripts, 2026-11-27): PESQ-WB 2.398 -> 2.401,
# Q 0.0518 -> 0.0513, SI-SDR 6.95 -> 7.07 dB; noise 2.222 -> 2.235 and Q 0.0572 -> 0.0543 (the Q
# gain is the band under 400 Hz where pause noise opens it: its loud bins are the fundamentals the
# pitch tracker needs); the other types within +-0.003. The rule everywhere, whatever was removed,
# scored 2.404 / 0.0513 (the first four seeds, where it was chosen: +0.008 PESQ-WB on every seed;
# the other eight: +0.004, better on six) with reverb +0.019 and clipping +0.008, but clean input,
# codec and band-limit -0.007, and where the removed part is a room's tail it keeps the loud smear
# the smoothing used to duck: the demo clip (reverb, noise, clipping, dropouts) went from Q 0.144 to
# 0.170. Margins of 4 and 8 dB, a stronger reduction (0.6, 0.7) and a 1.5 std threshold with it
# scored within +-0.003 of 6 dB; 150 Hz of smoothing instead of 500 (no margin) gained less; the
# rule from 400 Hz up only gave no Q. With the harmonics kept, a deeper cut where noise was removed
# (the reduction rising with that weight to 0.7 or 0.85) still lost PESQ-WB on every seed (-0.004,
# -0.012 over the twelve), and a threshold rising to 1.5 std there was a wash (+0.002, Q +0.0002).
# Going further the same way, a spectral-subtraction floor where noise was removed (each bin at
# least sqrt(|input|^2 - a * mean |removed|^2), a = 2, 4, 8: the input's level where it stands far
# above the noise) brought Q down (seeds 1234-31337, 72 noise items: 0.0515 -> 0.0459 at a = 4; the
# mixed chain 0.0918 -> 0.0832; SI-SDR +0.6 dB) but PESQ-WB with it (noise 2.264 -> 2.093; a = 8:
# 2.158), the Q-for-PESQ trade of the pitch comb (README). Not taken.
RESIDUAL_GATE_THRESHOLD_STD = 1.0
RESIDUAL_GATE_PROTECT_HZ = 400.0
RESIDUAL_GATE_PEAK_MARGIN_DB = 6.0
RESIDUAL_GATE_KEEPS_HARMONICS_ON_NOISE = True  # the rule above (a switch for benchmarks/bench_inference_settings.py)
RESIDUAL_GATE_OPENS_ON_PAUSE_NOISE = True
# Noise that auto's time-frequency rule finds (tf_noise_weight) is noise like that of its pause
# rule: the gate opens its low band on it and keeps the harmonics above it as it does there.
# Twelve dev seeds (cached full repairs, auto strength, scratch): PESQ-WB 2.4044 -> 2.4068 | 2.4049
# -> 2.4060 (seeds 1234-31337 | 11-16), Q 0.0515 -> 0.0512 | 0.0509 -> 0.0507, noise Q 0.0512 ->
# 0.0503 | 0.0572 -> 0.0557; no seed lower by more than 0.001. Keeping the harmonics alone: +0.002 |
# 0.000, Q unchanged.
RESIDUAL_GATE_TREATS_TF_NOISE = True  # a switch for benchmarks/bench_inference_settings.py
# A steady noise floor (hum, a fan's rumble, rain) fills the band under 400 Hz as well: the gate
# opens that band on it too. Twelve dev seeds (as above): PESQ-WB 2.4068 -> 2.4092 | 2.4060 ->
# 2.4079, no seed lower, Q 0.0512 -> 0.0511 | 0.0507 -> 0.0505, SI-SDR -0.04 | -0.05 dB (noise +0.005
# | +0.004, the mixed chain +0.006 | +0.006, reverb +0.005 | +0.003). A room's removed tail can count
# as steady (reverb Q +0.0007 | -0.0010 here; the 2026 benchmark's 8 reverberant items 0.126 ->
# 0.131); keeping the band closed where the change is under -1 to -4 dB (reverb's, not noise's)
# gave up a third to a half of the gain for the same Q (2.4083 | 2.4065, Q 0.0510 | 0.0506).
RESIDUAL_GATE_OPENS_ON_STEADY_NOISE = True  # a switch for benchmarks/bench_inference_settings.py
_GATE_N_FFT, _GATE_HOP = 1024, 256
_GATE_SMOOTH_HZ, _GATE_SMOOTH_MS = 500.0, 50.0


def _level_db(spec: torch.Tensor, top_db: float = 80.0) -> torch.Tensor:
    level = 10.0 * torch.log10(power(spec) + 1e-24)
    return torch.maximum(level, level.amax(-1, keepdim=True) - top_db)


def _smooth(values: torch.Tensor, half_width: int, dim: int) -> torch.Tensor:
    """Triangular moving average of (F, N) ``values`` along ``dim``, edges replicated."""
    if half_width < 1:
        return values
    up = torch.arange(1, half_width + 1, dtype=values.dtype) / (half_width + 1)
    kernel = torch.cat([up, torch.ones(1, dtype=values.dtype), up.flip(0)])
    rows = values if dim == 1 else values.T
    padded = F.pad(rows[:, None], (half_width, half_width), mode="replicate")
    out = F.conv1d(padded, (kernel / kernel.sum())[None, None])[:, 0]
    return out if dim == 1 else out.T


def residual_noise_gate(damaged, repaired, reduction: float = 0.5, sampling_rate: int = 16000,
                        protect_below_hz: float = RESIDUAL_GATE_PROTECT_HZ,
                        threshold_std: float = RESIDUAL_GATE_THRESHOLD_STD,
                        peak_margin_db: float | None = RESIDUAL_GATE_PEAK_MARGIN_DB,
                        removed: RemovedNoise | None = None) -> torch.Tensor:
    """``repaired`` (T,) with its bins under the level of ``damaged - repaired`` attenuated by ``reduction``.

    The band under ``protect_below_hz`` is left alone, less of it the more surely what was removed
    is noise: in the speech's pauses, without the speech's time-frequency pattern, or steady
    (:func:`pause_noise_weight`, :func:`tf_noise_weight`, :func:`steady_noise_weight`; none of it
    at weight 1). Where it is noise, bins ``peak_margin_db`` over the threshold keep their level
    after the smoothing (None: never). ``removed``: those weights, already judged on this very
    ``damaged`` and ``repaired`` (:class:`RemovedNoise`); None = judged here.
    """
    damaged = torch.as_tensor(damaged, dtype=torch.float32).flatten()
    repaired = torch.as_tensor(repaired, dtype=torch.float32).flatten()
    if reduction <= 0.0 or repaired.shape[0] < 2 * _GATE_N_FFT:
        return repaired
    removed = RemovedNoise(damaged, repaired) if removed is None else removed
    pause_noise = removed.pause
    if RESIDUAL_GATE_TREATS_TF_NOISE:
        pause_noise = max(pause_noise, removed.tf)
    steady_noise = removed.steady
    if RESIDUAL_GATE_OPENS_ON_PAUSE_NOISE:
        opened = max(pause_noise, steady_noise) if RESIDUAL_GATE_OPENS_ON_STEADY_NOISE else pause_noise
        protect_below_hz = protect_below_hz * (1.0 - opened)
    window = torch.hann_window(_GATE_N_FFT)
    spectra = torch.stft(torch.stack([damaged - repaired, repaired]), _GATE_N_FFT, _GATE_HOP, window=window,
                         return_complex=True, pad_mode="constant")
    removed_db, repaired_db = _level_db(spectra[0]), _level_db(spectra[1])
    std, mean = torch.std_mean(removed_db, dim=-1, keepdim=True)
    threshold = mean + threshold_std * std
    keep = (repaired_db > threshold).float()
    keep[torch.fft.rfftfreq(_GATE_N_FFT, 1.0 / sampling_rate) < protect_below_hz] = 1.0
    gain = 1.0 - reduction * (1.0 - keep)
    # smooth the binary decision over ~500 Hz x 50 ms (a separable triangular kernel, as noisereduce's)
    gain = _smooth(gain, int(_GATE_SMOOTH_HZ / (sampling_rate / (_GATE_N_FFT / 2))), dim=0)
    gain = _smooth(gain, int(_GATE_SMOOTH_MS / (1000.0 * _GATE_HOP / sampling_rate)), dim=1)
    noise = 0.0
    if peak_margin_db is not None and RESIDUAL_GATE_KEEPS_HARMONICS_ON_NOISE:
        noise = max(pause_noise, steady_noise)
    if noise > 0.0:
        kept = torch.maximum(gain, (repaired_db > threshold + peak_margin_db).float())
        gain = gain + noise * (kept - gain)
    return torch.istft(spectra[1] * gain, _GATE_N_FFT, _GATE_HOP, window=window, length=repaired.shape[0])


__all__ = [
    "AUTO_JUDGE_REMOVED_FROM_DB",
    "AUTO_REWRITE_CHANGE_DB",
    "AUTO_REWRITE_CORRELATION",
    "AUTO_REWRITE_STRENGTH",
    "AUTO_STEADY_SPREAD_DB",
    "AUTO_STRENGTH_CHANGE_DB",
    "AUTO_STRENGTH_RANGE",
    "AUTO_TF_JUDGE_FROM_DB",
    "AUTO_TF_NOISE_CORRELATION",
    "AUTO_TF_NOISE_STRENGTH",
    "RESIDUAL_GATE_PEAK_MARGIN_DB",
    "RESIDUAL_GATE_PROTECT_HZ",
    "RESIDUAL_GATE_THRESHOLD_STD",
    "RemovedNoise",
    "auto_strength",
    "power",
    "residual_noise_gate",
    "rewrite_weight",
    "steady_noise_weight",
    "tf_noise_weight",
]
