"""Speech quality metrics of an estimate against a reference: the founding document's Q and friends.

Every function here is pure: arrays in, numbers (or contours) out; nothing reads files.

The founding document scores systems with three numbers and combines them into one (lower is
better)::

    Q = 0.5 * MSE + 0.3 * (1 - CosSim_pitch) + 0.2 * (1 - CosSim_loudness)

* **MSE** between the 16 kHz mono waveforms as loaded (no renormalisation), after
  :func:`match_length` makes the estimate as long as the reference (trim or zero-pad: audio an
  estimate drops counts as error). :func:`align_estimate` (off by default) first removes a constant
  delay found by cross-correlation.
* **CosSim_pitch**: cosine similarity of F0 contours (10 ms hop, WORLD DIO + StoneMask, or
  Harvest on request: see :func:`pitch_contour`) over the
  frames voiced in the reference; frames where the estimate is unvoiced count as 0 Hz.
  Cosine is blind to a constant F0 *ratio* (an octave error on every frame scores 1): it
  measures the contour's shape and voicing, as the founding document defines it.
* **CosSim_loudness**: cosine similarity of per-frame A-weighted loudness contours (10 ms hop,
  dB relative to full scale, floored at -80 dB and shifted by +80 so they are non-negative),
  over all frames.

Also reported: PESQ-WB (``pesq``), STOI and ESTOI (``pystoi``), SI-SDR and log-spectral distance,
and, when a speaker encoder is given, the cosine similarity of speaker embeddings.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import torch

SAMPLING_RATE = 16000
HOP_SECONDS = 0.01
# 32 ms analysis window for loudness and log-spectral distance (512 points at 16 kHz).
WINDOW_SECONDS = 0.032
LOUDNESS_FLOOR_DB = -80.0
F0_FLOOR_HZ = 60.0
F0_CEIL_HZ = 800.0
PITCH_TRACKERS = ("dio", "harvest")
DIO_SPEED = 2  # DIO analyses a 2x decimated signal: 8 kHz still holds every F0 up to 800 Hz

Q_WEIGHTS = {"mse": 0.5, "pitch": 0.3, "loudness": 0.2}

# Column order of compute_all's result (speaker_similarity and shift_ms appear when asked for).
Q_METRICS = ("q", "mse", "cossim_pitch", "cossim_loudness")
EXTRA_METRICS = ("pesq_wb", "stoi", "estoi", "si_sdr", "lsd")
ALL_METRICS = Q_METRICS + EXTRA_METRICS

ArrayLike = np.ndarray | torch.Tensor | Iterable[float]


class SpeakerEncoder(Protocol):
    """What :func:`compute_all` needs from a speaker encoder (msar_hf.speaker provides one)."""

    def embed(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) 16 kHz waveforms -> (B, D) L2-normalised embeddings."""
        ...


def _as_float64(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (T,), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def pcm_as_float(x):
    """Integer PCM arrays or tensors (int16 from scipy.io.wavfile, a sound card) as float32 at their
    type's full scale, as :func:`msar_hf.audio.pcm_to_float` reads them; anything else unchanged."""
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.integer):
        x = torch.from_numpy(x)
    elif not (isinstance(x, torch.Tensor) and not x.is_floating_point() and x.dtype != torch.bool):
        return x
    from ..audio import pcm_to_float

    return pcm_to_float(x).numpy()


# --------------------------------------------------------------------------------------------
# length matching and alignment
# --------------------------------------------------------------------------------------------
def match_length(reference: ArrayLike, estimate: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Make ``estimate`` as long as ``reference``: trim its tail or pad it with zeros.

    The reference defines the length so that an estimate which drops audio is penalised for it
    rather than compared on a shorter stretch.
    """
    ref, est = _as_float64(reference), _as_float64(estimate)
    if len(est) >= len(ref):
        return ref, est[: len(ref)]
    return ref, np.concatenate([est, np.zeros(len(ref) - len(est))])


def estimate_delay(reference: ArrayLike, estimate: ArrayLike, rate: int = SAMPLING_RATE,
                   max_shift_s: float = 0.5) -> int:
    """Samples by which ``estimate`` lags ``reference`` (negative: it leads), by FFT cross-correlation.

    The search is limited to +-``max_shift_s``: processing delays are short, and a bounded search
    keeps a repetitive signal from locking onto a distant look-alike.
    """
    from scipy.signal import correlate, correlation_lags

    ref, est = _as_float64(reference), _as_float64(estimate)
    corr = correlate(est, ref, mode="full", method="fft")
    lags = correlation_lags(len(est), len(ref), mode="full")
    window = np.abs(lags) <= int(max_shift_s * rate)
    return int(lags[window][np.argmax(corr[window])])


def align_estimate(reference: ArrayLike, estimate: ArrayLike, rate: int = SAMPLING_RATE,
          max_shift_s: float = 0.5) -> tuple[np.ndarray, np.ndarray, int]:
    """Remove the constant delay of ``estimate`` (see :func:`estimate_delay`), then length-match.

    Returns ``(reference, aligned_estimate, delay_samples)``. Off by default in
    :func:`compute_all`: a system that delays its output should normally pay for it.
    """
    ref, est = _as_float64(reference), _as_float64(estimate)
    delay = estimate_delay(ref, est, rate, max_shift_s)
    est = est[delay:] if delay >= 0 else np.concatenate([np.zeros(-delay), est])
    ref, est = match_length(ref, est)
    return ref, est, delay


# --------------------------------------------------------------------------------------------
# the three components of Q
# --------------------------------------------------------------------------------------------
def mse(reference: ArrayLike, estimate: ArrayLike) -> float:
    """Mean squared error of two equally long waveforms (no renormalisation)."""
    ref, est = _as_float64(reference), _as_float64(estimate)
    if len(ref) != len(est):
        raise ValueError(f"waveforms differ in length ({len(ref)} vs {len(est)}); use match_length")
    return float(np.mean((ref - est) ** 2))


def pitch_contour(waveform: ArrayLike, rate: int = SAMPLING_RATE, tracker: str = "dio") -> np.ndarray:
    """F0 in Hz every 10 ms (0 where unvoiced) with WORLD (pyworld), 60-800 Hz.

    ``tracker="dio"`` (default): DIO on a 2x decimated signal (``speed=2``) refined to the
    instantaneous frequency by StoneMask on the full-rate signal. ``tracker="harvest"``: Harvest,
    far more robust to noise but slow. Measured on one core (benchmarks/bench_metric.py and the
    comparison in the metric card): Harvest scores a pair (two signals) at ~2.5x real time, which
    alone misses the metric's 20x target; DIO at speed 1 ~80x, at speed 2 ~4x faster still, and
    speed 2's pitch cosines correlate 0.995 with speed 1's over 90 noisy pairs. Harvest stays
    available for studies where pitch fidelity under noise matters more than speed.
    """
    import pyworld

    x = _as_float64(waveform)
    if tracker == "harvest":
        f0, _ = pyworld.harvest(x, rate, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ,
                                frame_period=HOP_SECONDS * 1000.0)
        return f0
    if tracker != "dio":
        raise ValueError(f"unknown pitch tracker {tracker!r}; choose one of {PITCH_TRACKERS}")
    f0, times = pyworld.dio(x, rate, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ,
                            frame_period=HOP_SECONDS * 1000.0, speed=DIO_SPEED)
    return pyworld.stonemask(x, f0, times, rate)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0  # both contours empty/silent: identical
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def pitch_cosine(reference_f0: ArrayLike, estimate_f0: ArrayLike) -> float:
    """Cosine similarity of F0 contours over the frames voiced in the reference.

    Estimate frames that are unvoiced there count as 0 Hz. NaN (with a warning) when the
    reference has no voiced frame: the similarity is undefined, not perfect.
    """
    ref, est = _as_float64(reference_f0), _as_float64(estimate_f0)
    n = min(len(ref), len(est))
    ref, est = ref[:n], est[:n]
    voiced = ref > 0
    if not voiced.any():
        warnings.warn("the reference has no voiced frame: pitch similarity is undefined (NaN)",
                      RuntimeWarning, stacklevel=2)
        return math.nan
    return _cosine(ref[voiced], np.maximum(est[voiced], 0.0))


def _stft_power(waveform: np.ndarray, rate: int) -> np.ndarray:
    """One-sided power spectrogram (frames, bins), Hann window, centred frames, 10 ms hop."""
    n_fft = round(WINDOW_SECONDS * rate)
    hop = round(HOP_SECONDS * rate)
    x = torch.from_numpy(waveform.astype(np.float32))
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop, window=torch.hann_window(n_fft),
                      center=True, pad_mode="constant", return_complex=True)
    return spec.abs().pow(2).T.double().numpy()


@lru_cache(maxsize=8)
def _a_weighting_gains(rate: int, n_fft: int) -> np.ndarray:
    """Power gains of the IEC 61672-1 A-weighting curve at the STFT bin frequencies.

    ``librosa.A_weighting`` implements the standard's closed-form A(f) (0 dB at 1 kHz). The bin
    weights also fold in the one-sided spectrum's factor of two and Parseval's normalisation,
    so the weighted sum of a frame's power spectrum is its A-weighted mean square.
    """
    import librosa

    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    with np.errstate(divide="ignore"):
        a_db = librosa.A_weighting(freqs, min_db=None)
    gains = np.where(np.isfinite(a_db), 10.0 ** (a_db / 10.0), 0.0)
    gains[1 : (n_fft + 1) // 2] *= 2.0  # bins other than DC and Nyquist stand for two
    window_energy = float(torch.hann_window(n_fft).double().pow(2).sum())
    return gains / (n_fft * window_energy)


def _loudness_from_power(power: np.ndarray, rate: int) -> np.ndarray:
    n_fft = 2 * (power.shape[1] - 1)
    mean_square = power @ _a_weighting_gains(rate, n_fft)
    level_db = 10.0 * np.log10(np.maximum(mean_square, 1e-20))
    return np.maximum(level_db, LOUDNESS_FLOOR_DB) - LOUDNESS_FLOOR_DB


def loudness_contour(waveform: ArrayLike, rate: int = SAMPLING_RATE) -> np.ndarray:
    """A-weighted loudness per 10 ms frame: dBFS floored at -80, shifted by +80 (so >= 0).

    The A-weighting is applied in the STFT domain (32 ms Hann frames); a full-scale 1 kHz sine
    reads about 77 (-3 dBFS + 80).
    """
    return _loudness_from_power(_stft_power(_as_float64(waveform), rate), rate)


def loudness_cosine(reference_loudness: ArrayLike, estimate_loudness: ArrayLike) -> float:
    """Cosine similarity of two loudness contours over all frames."""
    ref, est = _as_float64(reference_loudness), _as_float64(estimate_loudness)
    n = min(len(ref), len(est))
    return _cosine(ref[:n], est[:n])


def q_score(mse_value: float, cossim_pitch: float, cossim_loudness: float) -> float:
    """The founding document's combined score (lower is better)::

        Q = 0.5 * MSE + 0.3 * (1 - CosSim_pitch) + 0.2 * (1 - CosSim_loudness)
    """
    value = (Q_WEIGHTS["mse"] * mse_value + Q_WEIGHTS["pitch"] * (1.0 - cossim_pitch)
             + Q_WEIGHTS["loudness"] * (1.0 - cossim_loudness))
    # a cosine of 1 + 1e-16 (float residue) must not read as "better than identical": Q >= 0
    return max(value, 0.0) if math.isfinite(value) else value


def q_components(mse_value: float, cossim_pitch: float, cossim_loudness: float) -> dict[str, float]:
    """The three weighted terms whose sum is Q (what the report's pie charts show)."""
    return {
        "0.5*MSE": Q_WEIGHTS["mse"] * mse_value,
        "0.3*(1-CosSim pitch)": Q_WEIGHTS["pitch"] * (1.0 - cossim_pitch),
        "0.2*(1-CosSim loudness)": Q_WEIGHTS["loudness"] * (1.0 - cossim_loudness),
    }


# --------------------------------------------------------------------------------------------
# the other standard measures
# --------------------------------------------------------------------------------------------
def pesq_wb(reference: ArrayLike, estimate: ArrayLike, rate: int = SAMPLING_RATE) -> float:
    """Wide-band PESQ (ITU-T P.862.2) via ``pesq``; NaN with a warning when PESQ cannot score.

    PESQ refuses signals in which it detects no speech ("no utterances detected") or that are
    too short; that is a property of the input, not a crash.
    """
    from pesq import PesqError, pesq

    if rate != SAMPLING_RATE:
        raise ValueError(f"PESQ-WB needs {SAMPLING_RATE} Hz audio, got {rate} Hz")
    ref, est = _as_float64(reference), _as_float64(estimate)
    for name, x in (("reference", ref), ("estimate", est)):
        if not np.any(x):  # the C code divides by the signal's power: NaN, then a crash
            warnings.warn(f"PESQ cannot score a digitally silent {name}; reporting NaN",
                          RuntimeWarning, stacklevel=2)
            return math.nan
    try:
        return float(pesq(rate, ref, est, "wb"))
    except PesqError as exc:
        warnings.warn(f"PESQ could not score this pair ({type(exc).__name__}: {exc}); reporting NaN",
                      RuntimeWarning, stacklevel=2)
        return math.nan


def stoi(reference: ArrayLike, estimate: ArrayLike, rate: int = SAMPLING_RATE,
         extended: bool = False) -> float:
    """STOI (or ESTOI with ``extended=True``) via ``pystoi``.

    NaN with a warning when the reference holds too little non-silent speech (pystoi needs 30
    frames, ~0.4 s, and would otherwise return a made-up 1e-5), none at all included (a digitally
    silent reference: pystoi gave float noise, ESTOI 0.003). A digitally silent estimate
    scores 0: nothing of the speech is intelligible (pystoi's correlations of zeros gave float
    noise, +-0.003, that changed between runs).
    """
    from pystoi import stoi as _stoi
    from pystoi.stoi import FS, N_FRAME

    if not np.any(_as_float64(estimate)) and np.any(_as_float64(reference)):
        return 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # under one of its frames (at its 10 kHz) pystoi raises numpy's AxisError: too short, as below
        short = len(_as_float64(reference)) * FS / rate < N_FRAME + 1 or not np.any(_as_float64(reference))
        value = math.nan if short else float(_stoi(_as_float64(reference), _as_float64(estimate), rate, extended=extended))
    if short or any("Not enough STFT frames" in str(w.message) for w in caught):
        name = "ESTOI" if extended else "STOI"
        warnings.warn(f"{name} needs ~0.4 s of non-silent reference speech; reporting NaN",
                      RuntimeWarning, stacklevel=2)
        return math.nan
    return value


SI_SDR_CAP_DB = 200.0  # an exact copy: float residue, not a ratio worth ranking (was ~180 dB of eps)


def si_sdr(reference: ArrayLike, estimate: ArrayLike) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019), zero-mean signals.

    Scale-invariant for any scale (a copy at -180 dB scores as the copy), within +-:data:`SI_SDR_CAP_DB`.
    A silent estimate, or one with nothing of the reference in it, gets the floor (-200 dB) with a
    warning: an absolute epsilon, as torchmetrics adds, scores silence 0 dB, above real attempts, and
    a NaN would leave it out of a mean. A silent reference has no ratio at all: NaN, with a warning.
    """
    ref, est = _as_float64(reference), _as_float64(estimate)
    ref, est = ref - ref.mean(), est - est.mean()
    ref_energy, est_energy = float(np.dot(ref, ref)), float(np.dot(est, est))
    if ref_energy == 0.0:
        warnings.warn("SI-SDR: NaN: the reference is silent", RuntimeWarning, stacklevel=2)
        return math.nan
    target = (np.dot(est, ref) / ref_energy) * ref
    noise = est - target
    target_energy, noise_energy = float(np.dot(target, target)), float(np.dot(noise, noise))
    if est_energy == 0.0 or target_energy == 0.0:
        warnings.warn(f"SI-SDR: the estimate {'is silent' if est_energy == 0.0 else 'holds nothing of the reference'}: "
                      f"scored {-SI_SDR_CAP_DB:.0f} dB, the floor", RuntimeWarning, stacklevel=2)
        return -SI_SDR_CAP_DB
    floor = 10.0 ** (-SI_SDR_CAP_DB / 10.0)
    return float(10.0 * np.log10(max(target_energy, noise_energy * floor) / max(noise_energy, target_energy * floor)))


def _lsd_from_power(ref_power: np.ndarray, est_power: np.ndarray) -> float:
    eps = 1e-10
    diff = 10.0 * np.log10(ref_power + eps) - 10.0 * np.log10(est_power + eps)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=1))))


def log_spectral_distance(reference: ArrayLike, estimate: ArrayLike, rate: int = SAMPLING_RATE) -> float:
    """Log-spectral distance in dB: per 10 ms frame, the RMS over frequency of the difference of
    the log power spectra (32 ms Hann frames), averaged over frames."""
    return _lsd_from_power(_stft_power(_as_float64(reference), rate), _stft_power(_as_float64(estimate), rate))


def speaker_similarity(reference: ArrayLike, estimate: ArrayLike, encoder: SpeakerEncoder) -> float:
    """Cosine similarity of the two signals' speaker embeddings (1 = same voice).

    NaN with a warning when the encoder finds no speaker information in either signal (too
    short or silent: it raises a user error or returns a zero row).
    """
    from ..errors import MsarError

    batch = torch.from_numpy(np.stack([_as_float64(reference), _as_float64(estimate)])).float()
    try:
        with torch.no_grad():
            emb = encoder.embed(batch).float()
    except MsarError as exc:
        warnings.warn(f"no speaker similarity for this pair ({exc}); reporting NaN", RuntimeWarning, stacklevel=2)
        return math.nan
    norms = emb.norm(dim=-1)
    if bool((norms == 0).any()):
        warnings.warn("no speaker information in one of the signals; speaker similarity is NaN",
                      RuntimeWarning, stacklevel=2)
        return math.nan
    return float((emb[0] * emb[1]).sum() / (norms[0] * norms[1]))


# --------------------------------------------------------------------------------------------
# everything at once
# --------------------------------------------------------------------------------------------
@dataclass
class QualityAnalysis:
    """Scores of one pair plus the contours behind them (for plots)."""

    scores: dict[str, float]
    reference: np.ndarray
    estimate: np.ndarray
    rate: int
    reference_f0: np.ndarray = field(repr=False)
    estimate_f0: np.ndarray = field(repr=False)
    reference_loudness: np.ndarray = field(repr=False)
    estimate_loudness: np.ndarray = field(repr=False)


def analyze(reference: ArrayLike, estimate: ArrayLike, rate: int = SAMPLING_RATE, *,
            align: bool = False, metrics: Iterable[str] | None = None,
            speaker_encoder: SpeakerEncoder | None = None, pitch_tracker: str = "dio") -> QualityAnalysis:
    """Compute the metrics of one (reference, estimate) pair and keep the contours.

    Args:
        reference, estimate: mono waveforms (T,) at ``rate``; resampled to 16 kHz if needed.
        align: remove a constant delay by cross-correlation first (adds ``shift_ms``).
        metrics: subset of :data:`ALL_METRICS` to compute (default all). Asking for ``q``
            computes its three components too.
        speaker_encoder: adds ``speaker_similarity`` when given.
        pitch_tracker: ``"dio"`` (fast, default) or ``"harvest"`` (robust, slow); see
            :func:`pitch_contour`. Pitch cosines from different trackers are not comparable.
    """
    # a rate of 0, -1 or 22050.5 reached torchaudio's resampler, whose message names neither it nor us
    if isinstance(rate, bool) or not float(rate).is_integer() or not 1000 <= rate <= 768_000:
        raise ValueError(f"sampling rate {rate!r}: a whole number of Hz from 1000 to 768000 is needed")
    rate = int(rate)
    ref, est = _as_float64(pcm_as_float(reference)), _as_float64(pcm_as_float(estimate))
    if len(ref) == 0 or len(est) == 0:
        raise ValueError("empty waveform")
    for side, x in (("reference", ref), ("estimate", est)):  # PESQ crashed on them; MSE was a NaN left out of means
        bad = int((~np.isfinite(x)).sum())
        if bad:
            raise ValueError(f"the {side} holds {bad} NaN/Inf samples of {x.size}: nothing to score")
    if rate != SAMPLING_RATE:
        from ..audio import resample

        ref = resample(torch.from_numpy(ref), rate, SAMPLING_RATE).double().numpy()
        est = resample(torch.from_numpy(est), rate, SAMPLING_RATE).double().numpy()
        rate = SAMPLING_RATE
    if pitch_tracker not in PITCH_TRACKERS:
        raise ValueError(f"unknown pitch tracker {pitch_tracker!r}; choose one of {PITCH_TRACKERS}")
    wanted = set(ALL_METRICS if metrics is None else [metrics] if isinstance(metrics, str) else metrics)
    unknown = wanted - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {list(ALL_METRICS)}")
    if "q" in wanted:
        wanted |= {"mse", "cossim_pitch", "cossim_loudness"}

    scores: dict[str, Any] = {}
    if align:
        ref, est, delay = align_estimate(ref, est, rate)
        scores["shift_ms"] = 1000.0 * delay / rate
    else:
        ref, est = match_length(ref, est)

    empty = np.zeros(0)
    ref_f0 = est_f0 = ref_loud = est_loud = empty
    if "mse" in wanted:
        scores["mse"] = mse(ref, est)
    if "cossim_pitch" in wanted:
        ref_f0, est_f0 = pitch_contour(ref, rate, pitch_tracker), pitch_contour(est, rate, pitch_tracker)
        scores["cossim_pitch"] = pitch_cosine(ref_f0, est_f0)
    if wanted & {"cossim_loudness", "lsd"}:
        # one STFT per signal serves both loudness and log-spectral distance
        ref_pow, est_pow = _stft_power(ref, rate), _stft_power(est, rate)
        if "cossim_loudness" in wanted:
            ref_loud, est_loud = _loudness_from_power(ref_pow, rate), _loudness_from_power(est_pow, rate)
            scores["cossim_loudness"] = loudness_cosine(ref_loud, est_loud)
        if "lsd" in wanted:
            scores["lsd"] = _lsd_from_power(ref_pow, est_pow)
    if "q" in wanted:
        scores["q"] = q_score(scores["mse"], scores["cossim_pitch"], scores["cossim_loudness"])
    if "pesq_wb" in wanted:
        scores["pesq_wb"] = pesq_wb(ref, est, rate)
    if "stoi" in wanted:
        scores["stoi"] = stoi(ref, est, rate)
    if "estoi" in wanted:
        scores["estoi"] = stoi(ref, est, rate, extended=True)
    if "si_sdr" in wanted:
        scores["si_sdr"] = si_sdr(ref, est)
    if speaker_encoder is not None:
        scores["speaker_similarity"] = speaker_similarity(ref, est, speaker_encoder)

    order = [*ALL_METRICS, "speaker_similarity", "shift_ms"]
    ordered = {k: float(scores[k]) for k in order if k in scores}
    return QualityAnalysis(ordered, ref, est, rate, ref_f0, est_f0, ref_loud, est_loud)


def compute_all(reference: ArrayLike, estimate: ArrayLike, rate: int = SAMPLING_RATE, *,
                align: bool = False, metrics: Iterable[str] | None = None,
                speaker_encoder: SpeakerEncoder | None = None, pitch_tracker: str = "dio") -> dict[str, float]:
    """Every metric of one pair as ``{name: value}``: q, mse, cossim_pitch, cossim_loudness,
    pesq_wb, stoi, estoi, si_sdr, lsd (+ speaker_similarity, shift_ms when asked for).

    See :func:`analyze` for the arguments.
    """
    return analyze(reference, estimate, rate, align=align, metrics=metrics,
                   speaker_encoder=speaker_encoder, pitch_tracker=pitch_tracker).scores
