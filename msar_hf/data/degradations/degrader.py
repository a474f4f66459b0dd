"""The random damage chain: :class:`Degrader` draws and applies damages from a config.

``Degrader(cfg)(clean, seed, index)`` returns ``(degraded, record)``; the same ``(seed, index)``
gives bit-identical output. Each damage draws from its own random stream
(``SeedSequence([seed, index, k])``), so changing one damage's settings does not reshuffle the
others. Noise files, RIRs and babble clips are loaded once per Degrader; a pickled Degrader
(``datasets.map(num_proc=...)`` workers) carries only its config and reloads them.
"""

from __future__ import annotations

import fnmatch
import os
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.signal import resample_poly

from ...errors import AudioError, MsarError
from . import augment as aug
from . import channel, dropouts, level, noise, room
from ._signal import as_numpy, lerp, loop_to_length, power
from .config import (
    DAMAGE_ORDER,
    DATA_ROOT_ENV,
    DegradationConfig,
    DegradationConfigError,
    resolve_folder,
)

MP3_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160)  # MPEG-2/2.5 layer III rates


class DegradationInputError(MsarError):
    """The clean audio handed to a Degrader cannot be damaged (wrong shape, NaN/Inf)."""


def _matches(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0]
    return any(fnmatch.fnmatch(candidate, pattern)
               for pattern in patterns for candidate in (rel, name, stem))


def _load_folder(folder: Path | None, include: list[str], exclude: list[str], sampling_rate: int,
                 what: str, limit: int | None = None) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """Audio files of ``folder`` filtered by fnmatch patterns (on path, name or stem) as
    ``(relative name, float32 mono array)``; unreadable or silent files are skipped and named."""
    from ...audio import find_audio_files, load_audio

    if folder is None:
        return [], []
    files = [(p.relative_to(folder).as_posix(), p) for p in find_audio_files([folder])]
    for key, patterns in (("include", include), ("exclude", exclude)):
        for pattern in patterns:
            if not any(_matches(rel, [pattern]) for rel, _ in files):
                # A mistyped held-out name would otherwise leak an "unseen" noise into training.
                warnings.warn(f"{what}_{key} pattern {pattern!r} matches no file in {folder}", stacklevel=3)
    files = [(rel, p) for rel, p in files
             if (not include or _matches(rel, include)) and not _matches(rel, exclude)]
    if limit is not None and len(files) > limit:
        keep = np.linspace(0, len(files) - 1, limit).round().astype(int)
        files = [files[i] for i in keep]
    bank, skipped = [], []
    for rel, path in files:
        try:
            wave, _ = load_audio(path, sampling_rate=sampling_rate)
        except AudioError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        wave = wave.numpy().astype(np.float32)
        if power(wave) < 1e-10:
            skipped.append(f"{path}: silent")
            continue
        bank.append((rel, wave))
    for reason in skipped:
        warnings.warn(f"skipping {what} file {reason}", stacklevel=3)
    return bank, skipped


def _require_files(bank: list, folder: Path | None, value: str | None, what: str) -> None:
    """An existing folder that gave no usable file. A folder the user named raises: training
    quietly went on with synthetic noise / simulated rooms only (no warning at all for an empty
    folder). The untouched default only warns, as a missing default does."""
    if bank or folder is None:
        return
    message = (f"{folder}: no usable {what} files (none there, all left out by the include/exclude "
               f"patterns, or all unreadable/silent); config key '{what}_dir'")
    if "${" + DATA_ROOT_ENV + "}" in str(value):
        warnings.warn(message + "; continuing without it", stacklevel=3)
        return
    raise DegradationConfigError(message + ", set it to null to do without")


def _weighted_choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = [k for k, w in weights.items() if w > 0]
    if not names:
        raise MsarError("degradation config: every option has weight 0")
    w = np.array([weights[k] for k in names], float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


class Degrader:
    """Applies a random, recorded, reproducible chain of damages to clean speech.

    Args:
        config: a :class:`DegradationConfig`, a dict of its keys, or a YAML path.
        sampling_rate: rate of the audio it will see (16 kHz inside msar).
    """

    def __init__(self, config: DegradationConfig | dict | str | os.PathLike | None = None,
                 sampling_rate: int = 16000) -> None:
        if config is None:
            config = DegradationConfig()
        elif isinstance(config, dict):
            config = DegradationConfig.from_dict(config)
        elif isinstance(config, (str, os.PathLike)):
            config = DegradationConfig.from_yaml(config)
        self.config = config
        self.sampling_rate = int(sampling_rate)
        cfg = config
        folders = {what: resolve_folder(getattr(cfg, f"{what}_dir"), what) for what in ("noise", "rir", "speech")}
        self.noises, skipped_noise = _load_folder(folders["noise"], cfg.noise_include,
                                                  cfg.noise_exclude, self.sampling_rate, "noise")
        _require_files(self.noises, folders["noise"], cfg.noise_dir, "noise")
        rirs, skipped_rir = _load_folder(folders["rir"], cfg.rir_include,
                                         cfg.rir_exclude, self.sampling_rate, "rir")
        _require_files(rirs, folders["rir"], cfg.rir_dir, "rir")
        self.rirs = [(name, room.prepare_rir(r, self.sampling_rate)) for name, r in rirs]
        self.speech, skipped_speech = _load_folder(folders["speech"], [],
                                                   cfg.speech_exclude, self.sampling_rate, "speech",
                                                   limit=cfg.babble_max_files)
        _require_files(self.speech, folders["speech"], cfg.speech_dir, "speech")
        self.skipped = skipped_noise + skipped_rir + skipped_speech
        self._room_pool: list[tuple[np.ndarray, dict]] | None = None

    # pickling: ship the config, not hundreds of MB of noise -------------------------------
    def __getstate__(self) -> dict:
        return {"config": self.config.to_dict(), "sampling_rate": self.sampling_rate}

    def __setstate__(self, state: dict) -> None:
        self.__init__(DegradationConfig.from_dict(state["config"]), state["sampling_rate"])

    def __repr__(self) -> str:
        return (f"Degrader(sampling_rate={self.sampling_rate}, noises={len(self.noises)}, "
                f"rirs={len(self.rirs)}, babble_clips={len(self.speech)})")

    @property
    def room_pool(self) -> list[tuple[np.ndarray, dict]]:
        """Simulated RIRs, built on first use (deterministic from ``reverb.pool_seed``) and kept:
        simulating a room per example would cost more than all other damages together."""
        if self._room_pool is None:
            r = self.config.reverb
            self._room_pool = room.simulate_rirs(
                r.pool_size, self.sampling_rate, r.pool_seed, r.rt60_s, r.room_size_m, r.source_distance_m)
        return self._room_pool

    # public calls --------------------------------------------------------------------------
    def __call__(self, clean: torch.Tensor | np.ndarray, seed: int | None = None,
                 index: int = 0) -> tuple[torch.Tensor, dict]:
        """Damage ``clean`` ((T,) float32) at random; returns ``(degraded (T,), record)``.

        ``seed=None`` draws fresh randomness (not reproducible)."""
        x = self._check(clean)
        seed = self._seed(seed)
        cfg = self.config
        u = np.random.default_rng([seed, index, 0]).uniform()
        if u < cfg.p_clean:
            mode, kinds, max_severity = "clean", [], 0.0
        elif u < cfg.p_clean + cfg.p_mild:
            mode, max_severity = "mild", cfg.mild_severity
            kinds = [_weighted_choice(np.random.default_rng([seed, index, 1]), self._weights())]
        else:
            mode, max_severity = "full", 1.0
            kinds = self._draw_kinds(np.random.default_rng([seed, index, 1]))
        out, steps = self._run(x, kinds, seed, index, max_severity)
        return torch.from_numpy(out), {"seed": seed, "index": int(index), "mode": mode, "steps": steps}

    def apply(self, kind: str, clean: torch.Tensor | np.ndarray, seed: int | None = None,
              index: int = 0, severity: float | None = None) -> tuple[torch.Tensor, dict]:
        """Apply one damage ``kind`` (one of ``DAMAGE_ORDER``), at a given ``severity`` in [0, 1]
        or a random one: per-type evaluation sets and benchmarks."""
        if kind not in DAMAGE_ORDER:
            raise MsarError(f"unknown damage {kind!r}; choose from {', '.join(DAMAGE_ORDER)}")
        x = self._check(clean)
        seed = self._seed(seed)
        out, steps = self._run(x, [kind], seed, index, 1.0, severity)
        return torch.from_numpy(out), {"seed": seed, "index": int(index), "mode": "single", "steps": steps}

    def augment(self, clean: torch.Tensor | np.ndarray, seed: int | None = None,
                index: int = 0) -> tuple[torch.Tensor, dict]:
        """Clean-speech augmentation (speed, tempo, pitch) per ``config.augment``: a new target,
        so the length may change. Returns ``(augmented, record)``."""
        x = self._check(clean)
        seed = self._seed(seed)
        a = self.config.augment
        rng = np.random.default_rng([seed, index, 100])
        steps = []
        if rng.uniform() < a.speed_p:
            factor = float(rng.uniform(*a.speed))
            x = aug.speed_perturb(x, factor, self.sampling_rate)
            steps.append({"type": "speed", "factor": round(factor, 4)})
        if rng.uniform() < a.tempo_p:
            rate = float(rng.uniform(*a.tempo))
            x = aug.tempo_perturb(x, rate, self.sampling_rate)
            steps.append({"type": "tempo", "rate": round(rate, 4)})
        if rng.uniform() < a.pitch_p:
            semitones = float(rng.uniform(*a.pitch_semitones))
            x = aug.pitch_shift(x, semitones, self.sampling_rate)
            steps.append({"type": "pitch", "semitones": round(semitones, 3)})
        if a.voice_p > 0 and rng.uniform() < a.voice_p:  # drawn last: older records stay the same
            ratio = float(rng.uniform(*a.formant_ratio))
            median = float(rng.uniform(*a.pitch_median_hz))
            x = aug.change_voice(x, ratio, median, self.sampling_rate, seed=int(rng.integers(2 ** 31)))
            steps.append({"type": "voice", "formant_ratio": round(ratio, 4), "pitch_median_hz": round(median, 1)})
        x = np.nan_to_num(np.ascontiguousarray(x, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        return torch.from_numpy(x), {"seed": seed, "index": int(index), "steps": steps}

    # internals -----------------------------------------------------------------------------
    @staticmethod
    def _seed(seed: int | None) -> int:
        if seed is None:
            return int(np.random.SeedSequence().entropy % (2 ** 63))
        return int(seed)

    @staticmethod
    def _check(clean: Any) -> np.ndarray:
        x = as_numpy(clean)
        if x.ndim != 1:
            raise DegradationInputError(f"clean audio must be a mono (T,) waveform, got shape {tuple(x.shape)}")
        if not np.isfinite(x).all():
            raise DegradationInputError("clean audio contains NaN/Inf samples")
        return x

    def _weights(self) -> dict[str, float]:
        return {k: float(getattr(self.config, k).p) for k in DAMAGE_ORDER}

    def _draw_kinds(self, rng: np.random.Generator) -> list[str]:
        weights = self._weights()
        kinds = [k for k in DAMAGE_ORDER if rng.uniform() < weights[k]]
        if not kinds and any(w > 0 for w in weights.values()):
            kinds = [_weighted_choice(rng, weights)]  # a "damaged" example is never clean
        return kinds

    def _run(self, x: np.ndarray, kinds: list[str], seed: int, index: int, max_severity: float,
             severity: float | None = None) -> tuple[np.ndarray, list[dict]]:
        steps = []
        out = x
        for k, kind in enumerate(DAMAGE_ORDER, start=2):
            if kind not in kinds:
                continue
            rng = np.random.default_rng([seed, index, k])
            s = float(rng.uniform(0.0, max_severity)) if severity is None else float(severity)
            out, record = getattr(self, f"_{kind}")(out, rng, s, max_severity)
            steps.append({"type": kind, "severity": round(s, 4), **record})
        out = np.nan_to_num(np.ascontiguousarray(out, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(np.abs(out).max()) if out.size else 0.0
        if peak > 1.0:
            # A stored recording cannot exceed full scale: bring it back instead of clipping
            # silently (clipping is a damage of its own, recorded when drawn).
            out = out * np.float32(0.99 / peak)
            steps.append({"type": "peak_normalise", "gain_db": round(20 * np.log10(0.99 / peak), 2)})
        if out is x:
            out = x.copy()
        return out, steps

    def _severity(self, rng: np.random.Generator, max_severity: float) -> float:
        return float(rng.uniform(0.0, max_severity))

    # one method per damage: (x, rng, severity, max_severity) -> (x, record) ----------------
    def _reverb(self, x, rng, s, smax):
        r = self.config.reverb
        wet = lerp(r.wet_level, self._severity(rng, smax))
        if self.rirs and rng.uniform() >= r.simulated_fraction:
            i = int(rng.integers(len(self.rirs)))
            name, rir = self.rirs[i]
            record = {"source": "measured", "file": name}
        else:
            pool = self.room_pool
            # Severity picks the room: the pool is ordered by RT60, mild means short decay.
            i = min(len(pool) - 1, int(s * len(pool)))
            rir, info = pool[i]
            record = {"source": "simulated", "pool_index": i, **info}
        return room.reverberate(x, rir, wet_level=wet), {**record, "wet_level": round(wet, 3)}

    def _noise_segment(self, rng, n: int) -> tuple[np.ndarray, dict]:
        i = int(rng.integers(len(self.noises)))
        name, wave = self.noises[i]
        start = int(rng.integers(wave.size))
        nc = self.config.noise
        if nc.file_speed_p > 0 and rng.uniform() < nc.file_speed_p:
            lo, hi = (float(v) for v in nc.file_speed)
            # the speed as a small ratio, so scipy's polyphase resampler (anti-aliased) can play it
            ratio = Fraction(float(np.exp(rng.uniform(np.log(lo), np.log(hi))))).limit_denominator(24)
            # read speed x n samples and squeeze them into n: faster playback raises the pitch
            source = loop_to_length(wave, n * ratio.numerator // ratio.denominator + 64, start)
            played = resample_poly(source, ratio.denominator, ratio.numerator).astype(np.float32)
            return loop_to_length(played, n, 0), {"file": name, "start": start, "speed": round(float(ratio), 3)}
        return loop_to_length(wave, n, start), {"file": name, "start": start}

    def _noise(self, x, rng, s, smax):
        nc = self.config.noise
        n = x.size
        kinds = dict(nc.kinds)
        if not self.noises:
            kinds.pop("file", None)
            kinds.pop("mixture", None)
        if len(self.noises) < 2:
            kinds.pop("mixture", None)
        if not self.speech:
            kinds.pop("babble", None)
        kind = _weighted_choice(rng, kinds or {"coloured": 1.0})
        snr = lerp(nc.snr_db, s)
        record: dict[str, Any] = {"kind": kind, "snr_db": round(snr, 2)}
        if kind == "file":
            nz, info = self._noise_segment(rng, n)
            record.update(info)
        elif kind == "mixture":
            first, info1 = self._noise_segment(rng, n)
            second, info2 = self._noise_segment(rng, n)
            rel = lerp(nc.mixture_level_db, self._severity(rng, smax))
            nz = noise.mix_noises(first, second, rel)
            record.update({"files": [info1["file"], info2["file"]], "starts": [info1["start"], info2["start"]],
                           "second_level_db": round(rel, 2)})
        elif kind == "modulated":
            if self.noises:
                nz, info = self._noise_segment(rng, n)
            else:
                colour = str(rng.choice(nc.colours))
                nz, info = noise.coloured_noise(n, colour, rng), {"colour": colour}
            shape = str(rng.choice(["sine", "random", "bursts"]))
            rate = float(rng.uniform(*nc.modulation_hz))
            depth = lerp(nc.modulation_depth, self._severity(rng, smax))
            nz = noise.modulate(nz, self.sampling_rate, rng, rate, depth, shape)
            record.update({**info, "shape": shape, "rate_hz": round(rate, 3), "depth": round(depth, 3)})
        elif kind == "coloured":
            colour = str(rng.choice(nc.colours))
            nz = noise.coloured_noise(n, colour, rng)
            record["colour"] = colour
        elif kind == "shaped":
            nz, info = noise.shaped_noise(n, self.sampling_rate, rng)
            record.update(info)
        elif kind == "impulsive":
            rate = float(rng.uniform(*nc.impulse_rate_hz))
            nz = noise.impulsive_noise(n, self.sampling_rate, rng, rate)
            record["rate_hz"] = round(rate, 2)
        elif kind == "music":
            nz = noise.music_noise(n, self.sampling_rate, rng)
        else:  # babble
            lo, hi = int(nc.babble_talkers[0]), int(nc.babble_talkers[1])
            talkers = int(rng.integers(lo, hi + 1))
            nz, used = noise.babble([w for _, w in self.speech], n, rng, talkers)
            record.update({"talkers": len(used), "files": [self.speech[i][0] for i in used]})
        return noise.add_noise(x, nz, snr), record

    def _hum(self, x, rng, s, smax):
        h = self.config.hum
        mains = float(rng.choice(h.mains_hz))
        harmonics = int(rng.integers(int(h.harmonics[0]), int(h.harmonics[1]) + 1))
        hum, info = noise.mains_hum(x.size, self.sampling_rate, rng, mains, harmonics)
        snr = lerp(h.snr_db, s)
        return noise.add_noise(x, hum, snr), {"mains_hz": mains, "snr_db": round(snr, 2), **info}

    def _band_limit(self, x, rng, s, smax):
        b = self.config.band_limit
        nyquist = self.sampling_rate / 2
        if rng.uniform() < b.telephone_fraction and b.telephone_band_hz[1] < nyquist:
            low, high = float(b.telephone_band_hz[0]), float(b.telephone_band_hz[1])
            out = channel.telephone(x, self.sampling_rate, (low, high))
            return out, {"kind": "telephone", "low_hz": low, "high_hz": high}
        # Quantised to 50 Hz so the FIR design cache stays small.
        cutoff = min(round(lerp(b.lowpass_hz, s) / 50) * 50, 0.9 * nyquist)
        return channel.low_pass(x, cutoff, self.sampling_rate), {"kind": "lowpass", "high_hz": cutoff}

    def _gain(self, x, rng, s, smax):
        g = self.config.gain
        gain_db = float(rng.uniform(*g.gain_db))
        out = level.gain(x, gain_db)
        record: dict[str, Any] = {"gain_db": round(gain_db, 2)}
        if rng.uniform() < g.dc_offset_p:
            offset = lerp(g.dc_offset, self._severity(rng, smax)) * (1 if rng.uniform() < 0.5 else -1)
            out = level.dc_offset(out, offset)
            record["dc_offset"] = round(offset, 4)
        return out, record

    def _clipping(self, x, rng, s, smax):
        c = self.config.clipping
        if rng.uniform() < c.soft_fraction:
            amount = lerp(c.distortion, s)
            return level.clip_soft(x, amount), {"kind": "soft", "distortion": round(amount, 3)}
        fraction = lerp(c.clipped_fraction, s)
        return level.clip_hard(x, fraction), {"kind": "hard", "clipped_fraction": round(fraction, 4)}

    def _codec(self, x, rng, s, smax):
        c = self.config.codec
        fmt = _weighted_choice(rng, c.formats)
        if fmt == "mp3":
            wanted = lerp(c.mp3_kbps, s)
            kbps = float(min(MP3_KBPS, key=lambda r: abs(r - wanted)))
        else:
            kbps = float(round(lerp(c.opus_kbps, s)))
        return channel.codec(x, self.sampling_rate, fmt, kbps), {"format": fmt, "bitrate_kbps": kbps}

    def _dropouts(self, x, rng, s, smax):
        d = self.config.dropouts
        rate = lerp(d.loss_rate, s)
        frame_ms = float(rng.uniform(*d.frame_ms))
        burst = lerp(d.mean_burst_frames, self._severity(rng, smax))
        mode = "repeat" if rng.uniform() < d.repeat_fraction else "zero"
        out = dropouts.dropouts(x, self.sampling_rate, rng, rate, frame_ms, burst, mode)
        return out, {"loss_rate": round(rate, 4), "frame_ms": round(frame_ms, 1),
                     "mean_burst_frames": round(burst, 2), "mode": mode}
