"""File-level repair: damaged recordings in, repaired recordings out (what ``msar repair`` runs).

The model (:class:`msar_hf.models.autoencoder.MsarAutoencoderModel`) works on 16 kHz mono
tensors; this module owns everything at the edges:

* any format and rate :func:`msar_hf.audio.load_audio` reads; every channel repaired on its own
  (stereo stays stereo); output at the input's rate unless asked, always the input's length;
* long recordings streamed through the model in overlapping windows that are cross-faded, so
  memory stays flat in duration (files soundfile can read are never loaded whole; other long
  ones, m4a/opus/video, are decoded by the ``ffmpeg`` command to a temporary WAV first, and long
  lossy outputs encoded by it from one: the sources and sinks of :mod:`msar_hf.recording_io`);
* a speaker embedding from a reference clip, or from the input itself when the model is
  speaker-conditioned (``msar_hf.speaker``, imported lazily; repair goes on without it when it is
  unavailable);
* a "no speech detected" warning (Silero VAD, which ships its weights inside its wheel), silent
  windows passed through untouched, and typed one-line errors for unreadable files;
* outputs written atomically, never over an input; one model for all files.

Many files in one run (folders, where each output goes, sharding across processes, the run's
report) are :mod:`msar_hf.batch`'s.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .audio import (
    BIT_RATE_EXTENSIONS,
    MIN_LOSSY_BIT_RATE,
    check_encodable,
    encodable_rate,
    file_in_the_way,
    load_audio,
    lossy_bit_rate,
    resample,
    temp_beside,
    writing_errors,
)
from .errors import (
    AudioError,
    MsarError,
    OverwriteInputError,
    UnsupportedFormatError,
)
from .fullband import add_upper_band
from .loudness import LoudnessSink, parse_loudness
from .metadata import CarriedMetadata
from .recording_io import (
    SOUNDFILE_FORMATS,
    ArraySink,
    FFmpegSink,
    SoundFileSink,
    SoundFileSource,
    chosen_stream_index,
    open_source,
    output_subtype,
    sound_tracks,
)
from .video import (
    VIDEO_OUTPUT_EXTENSIONS,
    MuxPlan,
    check_mux,
    is_video_output,
    mux,
    open_on_time_line,
    plan_mux,
)

MODEL_RATE = 16000
DEFAULT_MODEL_DIR = Path(__file__).parent / "pretrained" / "repair"
DEFAULT_OUTPUT_DIR = Path("repaired")
# Extensions save_audio writes; an input in any other readable format is written as WAV.
AUDIO_OUTPUT_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".m4a", ".opus", ".aac")
# a video output keeps the input's picture and other streams (msar_hf.video)
WRITABLE_EXTENSIONS = AUDIO_OUTPUT_EXTENSIONS + VIDEO_OUTPUT_EXTENSIONS

# Streaming windows: 60 s of audio per model call keeps memory small and the per-window overhead
# negligible; 1 s of context on each side (cross-faded over its middle half) hides the edges of
# both the resampler and the model.
WINDOW_SECONDS = 60.0
CONTEXT_SECONDS = 1.0
# Those 60 s are for 16 kHz mono; at higher rates and channel counts a window holds as many
# samples (44.1 kHz stereo: 15 s, the floor), since each copy of it (resampled, repaired, the
# upper band's spectra) grows with them: peak RSS on 7 minutes of 44.1 kHz stereo 1102 -> 956 MB.
WINDOW_SAMPLES = int(WINDOW_SECONDS * 16000)
MIN_WINDOW_SECONDS = 15.0
# Below -80 dBFS peak a window is digital silence: there is nothing to repair and a model would
# only add its own noise floor, so it is passed through unchanged.
SILENCE_PEAK = 1e-4
# The model needs a few STFT frames of context; shorter windows are zero-padded, then cropped.
MIN_MODEL_SAMPLES = 4000
# Restoring clipped peaks (or any boost) can exceed 1.0, which integer PCM would clip again: in a
# written block that would, samples above the knee (-1 dBFS) are soft-limited to the ceiling.
LIMIT_KNEE = 0.891
LIMIT_CEILING = 0.98
# Speaker embedding of the input itself: from its first 30 s (enough for ECAPA, bounded cost).
SELF_EMBEDDING_SECONDS = 30.0
# VAD: fraction of a window's duration that must be speech to count as "speech detected"; below
# 1 s of audio the VAD misses too many single words to justify a warning.
SPEECH_FRACTION = 0.05
MIN_VAD_SECONDS = 1.0
VAD_SECONDS = 20.0  # of each window, until speech is found (the VAD costs ~RTF 0.02)


@dataclass
class RepairReport:
    """What happened to one file."""

    input: str
    output: str | None
    sampling_rate: int = 0
    output_rate: int = 0
    channels: int = 0
    duration_s: float = 0.0
    seconds: float = 0.0
    speech_detected: bool | None = None
    speaker: str = "none"
    streamed: bool = False
    audio_track: int | None = None  # the sound track repaired, from 1, in a file of several (or asked for)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False  # its output was there already (--skip-existing)
    # --loudness only: the input's and the written output's integrated loudness (LUFS, BS.1770; the
    # input's with "input" as the target) and the gain that brought the repair there
    input_lufs: float | None = None
    output_lufs: float | None = None
    loudness_gain_db: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def status(self) -> str:
        return "failed" if self.error else "skipped" if self.skipped else "repaired"


# --------------------------------------------------------------------------------------------
# model and helpers, loaded once
# --------------------------------------------------------------------------------------------
def parse_strength(value: float | str | None) -> float | str | None:
    """A ``--strength`` value: a number in [0, 1], ``"auto"`` or None (the model's default)."""
    if value is None or value == "auto":
        return value
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise MsarError(f"--strength must be a number between 0 and 1 or 'auto', got {value!r}") from None
    if not 0.0 <= strength <= 1.0:
        raise MsarError(f"--strength must be between 0 and 1 (or 'auto'), got {value}")
    return strength


def launched_distributed() -> bool:
    """Started as one of several processes (``accelerate launch``, torchrun: ``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def accelerate_state(cpu: bool | None = None):
    """accelerate's PartialState; ``cpu=True`` (default without CUDA) gives gloo CPU ranks.

    Without ``cpu=True`` a ``--multi_gpu`` launch on a machine with no GPU silently becomes
    ``num_processes == 1`` in every process (each would repair every file).
    """
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available() if cpu is None else cpu)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto``: the accelerate process's device when launched with accelerate, else CUDA/CPU."""
    if device is None or str(device) == "auto":
        if launched_distributed():
            return accelerate_state().device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MsarError(f"unknown device {device!r} (use cpu, cuda, cuda:N, mps or auto)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MsarError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


def _looks_like_path(source: str) -> bool:
    """A folder the user meant, not a Hub id (``org/name``: one slash, no leading dot, tilde or slash).
    A bare name ("my_model") is a folder too: offline, trying it as a Hub id cost 30 s of retries
    before a message about the network (msar's models all live under an organisation)."""
    return (source.startswith((".", "~", "/", "\\")) or source.count("/") != 1 or "\\" in source
            or source.endswith("/") or (len(source) > 1 and source[1] == ":" and source[0].isalpha()))  # C:/x


def load_repair_model(model=None, device: str | torch.device | None = "cpu"):
    """The repair model in eval mode on ``device``.

    Args:
        model: None (the shipped default in ``msar_hf/pretrained/repair``), a local
            ``save_pretrained`` folder, a Hub id (``org/name``, from the local cache when
            offline), or an already loaded model.
    """
    dev = resolve_device(device)
    if isinstance(model, torch.nn.Module):
        return model.to(dev).eval()
    from .models.autoencoder import MsarAutoencoderModel

    source = DEFAULT_MODEL_DIR if model is None else model
    local = Path(source)
    if model is None and not (local / "config.json").is_file():
        raise MsarError(f"the shipped repair model is missing ({local}); pass --model ORG/NAME or a folder")
    if local.exists() and not (local / "config.json").is_file():
        raise MsarError(f"{local}: not a model folder (no config.json); pass a save_pretrained folder or a Hub id")
    if not local.exists() and _looks_like_path(str(source)):
        raise MsarError(f"{local}: no such model folder (a Hub id reads ORG/NAME)")
    hub_kwargs = {}
    if not local.exists():  # a Hub id: with no network at all, the local cache at once (no retries)
        from .hub.cache import hub_host_resolves

        if not hub_host_resolves():
            hub_kwargs["local_files_only"] = True
    try:
        # another msar model (a synthesis model's folder) would load as a randomly initialised network
        kind = MsarAutoencoderModel.config_class.get_config_dict(str(source), **hub_kwargs)[0].get("model_type")
        if kind not in (None, MsarAutoencoderModel.config_class.model_type):
            raise MsarError(f"{source}: a {kind} model, not a repair model ({MsarAutoencoderModel.config_class.model_type})")
        loaded = MsarAutoencoderModel.from_pretrained(str(source), **hub_kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if hub_kwargs:  # transformers' line speaks of a connection it never tried
            first = ("not in the local Hugging Face cache, and the Hub cannot be asked (no network: its host name "
                     "does not resolve); pass a model folder, or install one with `msar push cache FOLDER --repo ID`")
        raise MsarError(f"cannot load repair model {str(source)!r}: {first}") from exc
    return loaded.to(dev).eval()


_VAD = None


def _vad_model():
    """Silero VAD (weights inside the silero-vad wheel), loaded once per process."""
    global _VAD
    if _VAD is None:
        from silero_vad import load_silero_vad

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load deprecation notice
            _VAD = load_silero_vad()
    return _VAD


def speech_fraction(waveform: torch.Tensor, sampling_rate: int = MODEL_RATE) -> float:
    """Fraction of a 16 kHz mono signal that Silero VAD marks as speech (0..1)."""
    if waveform.numel() < 512:
        return 0.0
    from silero_vad import get_speech_timestamps

    # 100 ms minimum (default 250 ms) so single short words (FSDD digits) still count as speech.
    stamps = get_speech_timestamps(waveform.float().cpu(), _vad_model(), sampling_rate=sampling_rate,
                                   min_speech_duration_ms=100)
    return sum(s["end"] - s["start"] for s in stamps) / waveform.numel()


class _SpeakerEmbedder:
    """Lazily loads ``msar_hf.speaker.SpeakerEncoder``; remembers (once) that it is unavailable."""

    def __init__(self) -> None:
        self._encoder = None
        self.unavailable: str | None = None

    def encoder(self):
        if self._encoder is None and self.unavailable is None:
            try:
                from .speaker import SpeakerEncoder

                self._encoder = SpeakerEncoder.from_pretrained()
            except Exception as exc:  # noqa: BLE001  (missing module or weights, broken install: repair goes on)
                self.unavailable = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return self._encoder

    def embed_waveform(self, waveform16: torch.Tensor) -> torch.Tensor | None:
        enc = self.encoder()
        if enc is None:
            return None
        emb = enc.embed(waveform16.float().unsqueeze(0))
        return torch.as_tensor(emb).reshape(-1).float()

    def embed_file(self, path: str | os.PathLike) -> torch.Tensor | None:
        enc = self.encoder()
        if enc is None:
            return None
        return torch.as_tensor(enc.embed_file(path)).reshape(-1).float()


# --------------------------------------------------------------------------------------------
# the repairer: one model, many files
# --------------------------------------------------------------------------------------------
def window_seconds(rate: int, channels: int) -> float:
    """Seconds of audio per streamed window: :data:`WINDOW_SAMPLES` over all channels, within
    [:data:`MIN_WINDOW_SECONDS`, :data:`WINDOW_SECONDS`]."""
    return min(WINDOW_SECONDS, max(MIN_WINDOW_SECONDS, WINDOW_SAMPLES / (rate * max(channels, 1))))


def _window_frames(rate: int, channels: int, out_rate: int) -> int:
    """Input samples per window core: :func:`window_seconds`, rounded down to a whole number of
    the periods on which both rates have a sample (441 samples for 44.1 kHz -> 16 kHz).

    Why: each window is resampled on its own from its first sample, so a window that starts
    between two output samples comes out shifted by that fraction (44.1 kHz -> 16 kHz: 0.24 output
    samples, -17 dB of error against the input resampled whole, at strength 0). The context is whole
    seconds, a whole number of such periods already."""
    period = rate // math.gcd(rate, out_rate)
    return max(period, int(window_seconds(rate, channels) * rate) // period * period)


def _windows(frames: int, window: int, context: int) -> list[tuple[int, int, int | None]]:
    """(start, stop, next_start) of overlapping windows covering [0, frames).

    Window k's core is [k*window, (k+1)*window); it reads ``context`` more on each side, so two
    neighbours share 2*context samples. A final core shorter than 2*context joins the one before.
    """
    count = max(1, math.ceil(frames / window))
    if count > 1 and frames - (count - 1) * window < 2 * context:
        count -= 1
    cores = [k * window for k in range(count)]
    out = []
    for k, core in enumerate(cores):
        start = max(0, core - context)
        stop = frames if k == count - 1 else min(frames, cores[k + 1] + context)
        out.append((start, stop, None if k == count - 1 else cores[k + 1] - context))
    return out


def soft_limit(y: torch.Tensor, knee: float = LIMIT_KNEE, ceiling: float = LIMIT_CEILING) -> torch.Tensor:
    """Samples above ``knee`` in magnitude are bent smoothly into (knee, ceiling); the rest are untouched.

    ``knee + (ceiling - knee) * tanh((|y| - knee) / (ceiling - knee))`` meets the identity at the
    knee with slope 1, so there is no corner, and never reaches the ceiling. By hand: a per-sample
    curve needs no look-ahead, so it works window by window on streamed recordings (a whole-file
    gain would not).
    """
    over = y.abs() > knee
    if not bool(over.any()):
        return y
    headroom = ceiling - knee
    bent = knee + headroom * torch.tanh((y.abs() - knee) / headroom)
    return torch.where(over, torch.sign(y) * bent, y)


def _fit(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.shape[-1] >= length:
        return x[..., :length]
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


class Repairer:
    """Repairs files with one loaded model (and speaker encoder, VAD), reused for every file.

    Args:
        model: see :func:`load_repair_model` (None = shipped default).
        device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
        strength: 0..1, how much of the repair to apply (0 = identity, 1 = full); ``"auto"`` = from
            how much the full repair changes each block; None = the model's ``config.default_strength``.
        speaker_ref: a clip of the target speaker; its embedding conditions every file.
        output_rate: write at this rate (Hz) instead of each input's own.
        chunk_seconds: the model's chunk length (memory per model call).
        detect_speech: warn when a file seems to contain no speech (Silero VAD).
        upper_band: for input above 16 kHz, put the input's band above 8 kHz back, scaled by the
            gain the repair applied just below it (:mod:`msar_hf.fullband`); False leaves it empty.
        residual_gate: 0..1, how much to attenuate the noise floor the repair leaves (under the
            level of the damage it removed); None = the model's ``config.residual_gate``, 0 = off.
        low_band_comb: 0..1, how much to lower what lies between the harmonics of the voice's low
            band where what the repair removed is noise; None = the model's ``config.low_band_comb``.
        audio_track: which sound track of a file of several (a video's languages, a commentary) to
            repair, counted from 1 as ``msar info`` lists them; None = FFmpeg's best (its default
            track), as every msar command reads. A video output copies the other tracks unchanged.
        loudness: bring each output to this integrated loudness (LUFS, ITU-R BS.1770: -16 for podcasts,
            -23 for EBU R128 broadcast), or ``"input"``: to the input's own; None = the repair's level.
            Peaks the gain takes past full scale are soft-limited (:mod:`msar_hf.loudness`).
    """

    def __init__(
        self,
        model=None,
        device: str | torch.device | None = "cpu",
        strength: float | str | None = None,
        speaker_ref: str | os.PathLike | None = None,
        output_rate: int | None = None,
        chunk_seconds: float = 8.0,
        detect_speech: bool = True,
        upper_band: bool = True,
        residual_gate: float | None = None,
        low_band_comb: float | None = None,
        audio_track: int | None = None,
        loudness: float | str | None = None,
    ):
        strength = parse_strength(strength)
        self.loudness = parse_loudness(loudness)
        if audio_track is not None and (isinstance(audio_track, bool) or int(audio_track) != audio_track
                                        or audio_track < 1):
            raise MsarError(f"--audio-track counts a file's sound tracks from 1, got {audio_track}")
        self.audio_track = None if audio_track is None else int(audio_track)
        if residual_gate is not None and not 0.0 <= float(residual_gate) <= 1.0:
            raise MsarError(f"--gate must be between 0 and 1, got {residual_gate}")
        self.residual_gate = None if residual_gate is None else float(residual_gate)
        if low_band_comb is not None and not 0.0 <= float(low_band_comb) <= 1.0:
            raise MsarError(f"--comb must be between 0 and 1, got {low_band_comb}")
        self.low_band_comb = None if low_band_comb is None else float(low_band_comb)
        if output_rate is not None and not 4000 <= int(output_rate) <= 384000:
            raise MsarError(f"--output-rate must be between 4000 and 384000 Hz, got {output_rate}")
        if not chunk_seconds or chunk_seconds < 0.5:
            raise MsarError(f"--chunk-seconds must be at least 0.5, got {chunk_seconds}")
        self.output_rate = None if output_rate is None else int(output_rate)
        self.chunk_seconds = float(chunk_seconds)
        self.detect_speech = detect_speech
        self.upper_band = upper_band
        self.model = load_repair_model(model, device)
        strength = getattr(self.model.config, "default_strength", 1.0) if strength is None else strength
        self.strength = strength if strength == "auto" else float(strength)
        cfg = self.model.config
        if int(cfg.sampling_rate) != MODEL_RATE:
            raise MsarError(f"the repair model works at {cfg.sampling_rate} Hz; msar expects {MODEL_RATE} Hz models")
        self.conditioned = bool(getattr(cfg, "use_speaker_conditioning", False))
        self._speaker = _SpeakerEmbedder()
        self.notes: list[str] = []  # warnings that concern the run, not one file
        self.reference: torch.Tensor | None = None
        self.speaker_ref = speaker_ref
        if speaker_ref is not None:
            ref = Path(speaker_ref)
            # typed error (missing, empty, not audio...) before any work is done; an unusable clip
            # (too short, silent) is refused whatever the model, so a run means the same everywhere
            from .speaker import SpeakerInputError, check_speech

            problem = check_speech(load_audio(ref)[0], MODEL_RATE)
            if problem:
                raise SpeakerInputError(ref, f"unusable as --speaker-ref: {problem}")
            if not self.conditioned:
                self.notes.append(f"--speaker-ref {ref} ignored: this model is not speaker-conditioned")
            else:
                self.reference = self._speaker.embed_file(ref)
                if self.reference is None:
                    self.notes.append(f"speaker encoder unavailable ({self._speaker.unavailable}); "
                                      "repairing without speaker conditioning")

    # -- one channel of one window ---------------------------------------------------------
    def _repair_window(self, x: torch.Tensor, rate: int, out_rate: int, out_len: int,
                       embedding: torch.Tensor | None) -> tuple[torch.Tensor, bool]:
        """(C, n) at ``rate`` -> (C, out_len) at ``out_rate``; second value: window was silent.

        Each silent channel is passed through on its own: the digital silence of a stereo file's
        unused side came back as the model's noise floor (+-1 LSB on 870 of 960000 samples)."""
        silent = x.abs().amax(-1) < SILENCE_PEAK
        if bool(silent.all()):
            return _fit(resample(x, rate, out_rate), out_len), True
        if self.strength == 0.0:
            # untouched: the input's own samples, not their round trip through 16 kHz and the upper
            # band's split (1 LSB of 16 bits on 0.06 % of the samples at 44.1 kHz)
            return _fit(resample(x, rate, out_rate), out_len), False
        if not bool(silent.any()):
            return self._repair_channels(x, rate, out_rate, out_len, embedding), False
        y = _fit(resample(x, rate, out_rate), out_len).clone()  # at the input's rate, a view of the input
        y[~silent] = self._repair_channels(x[~silent], rate, out_rate, out_len, embedding)
        return y, False

    def _repair_channels(self, x: torch.Tensor, rate: int, out_rate: int, out_len: int,
                         embedding: torch.Tensor | None) -> torch.Tensor:
        """(C, n) at ``rate`` -> (C, out_len) at ``out_rate``, every channel through the model."""
        if x.shape[0] > 1 and all(torch.equal(x[0], ch) for ch in x[1:]):
            # one signal in every channel (a mono tape or phone export saved as stereo): repaired
            # once, the same samples the model gives each channel, in half the time
            return self._repair_channels(x[:1], rate, out_rate, out_len, embedding).expand(x.shape[0], -1).clone()
        x16 = resample(x, rate, MODEL_RATE)
        n16 = x16.shape[-1]
        if n16 < MIN_MODEL_SAMPLES:
            x16 = torch.nn.functional.pad(x16, (0, MIN_MODEL_SAMPLES - n16))
        device = self.model.device
        emb = None if embedding is None else embedding.to(device)
        with torch.no_grad():  # not inference_mode: the cross-fade later writes into these tensors
            y16 = torch.stack([
                torch.as_tensor(self.model.repair(ch.to(device), speaker_embedding=emb, strength=self.strength,
                                                  chunk_seconds=self.chunk_seconds,
                                                  residual_gate=self.residual_gate,
                                                  low_band_comb=self.low_band_comb)).float().cpu()
                for ch in x16
            ])[:, :n16]
        if self.upper_band and rate != MODEL_RATE:
            # what the model never saw (above 8 kHz; under 16 kHz, the round trip's roll-off):
            # the input's own, at the repair's gain just below 8 kHz
            full = add_upper_band(_fit(resample(y16, MODEL_RATE, rate), x.shape[-1]), x, rate,
                                  x16[:, :n16], y16, MODEL_RATE)
            return _fit(resample(full, rate, out_rate), out_len)
        return _fit(resample(y16, MODEL_RATE, out_rate), out_len)

    def _embedding_for(self, source, report: RepairReport) -> torch.Tensor | None:
        if not self.conditioned:
            return None
        if self.reference is not None:
            report.speaker = f"reference {self.speaker_ref}"
            return self.reference
        if self.speaker_ref is not None or self._speaker.unavailable:
            return None  # the run's note already says why
        head = source.read(0, min(source.frames, int(SELF_EMBEDDING_SECONDS * source.rate)))
        mono16 = resample(head.mean(0), source.rate, MODEL_RATE)
        if float(mono16.abs().max()) < SILENCE_PEAK:
            return None
        try:
            emb = self._speaker.embed_waveform(mono16)
        except MsarError as exc:  # too short / silent for an embedding: repair without one
            report.warnings.append(f"no speaker embedding ({exc}); repaired without speaker conditioning")
            return None
        if emb is None:
            self.notes.append(f"speaker encoder unavailable ({self._speaker.unavailable}); "
                              "repairing without speaker conditioning")
            return None
        report.speaker = "self"
        return emb

    # -- one file ----------------------------------------------------------------------------
    def repair_file(self, input: str | os.PathLike, output: str | os.PathLike,
                    inputs: Iterable[str | os.PathLike] = (), progress: bool = False) -> RepairReport:
        """Repair ``input`` into ``output`` (format from its extension). Raises AudioError/MsarError.

        ``inputs`` lists other files of the same run that must not be overwritten either.
        """
        start_time = time.perf_counter()
        src_path, out_path = Path(input), Path(output)
        protected = [src_path, *map(Path, inputs)]
        check_output(out_path, protected)
        scratch = next(p for p in out_path.absolute().parents if p.is_dir())
        track, number, track_note = self._sound_track(src_path)
        plan = plan_mux(src_path, out_path, track) if is_video_output(out_path) else None
        source = (plan is not None and open_on_time_line(plan, scratch)) or open_source(src_path, scratch, track)
        try:  # the source may hold a temporary decoded file: closed whatever happens
            if plan is None:
                report = self._repair_source(source, src_path, out_path, protected, progress, stream_index=track)
            else:
                report = self._repair_into_video(plan, source, src_path, out_path, protected, progress)
        finally:
            source.close()
        report.audio_track = number
        if track_note:
            report.warnings.insert(0, track_note)
        report.seconds = time.perf_counter() - start_time
        return report

    def _sound_track(self, src_path: Path) -> tuple[int | None, int | None, str | None]:
        """FFmpeg's index of the track to repair (None: the file's one track), its number from 1 (in
        a file of several, or asked for), and, for a file of several sound tracks where none was
        asked for, a note naming the one repaired (a second language or a commentary was left out
        without a word)."""
        suffix = src_path.suffix.lower()
        if self.audio_track is None and suffix in SOUNDFILE_FORMATS and suffix not in (".ogg", ".oga"):
            return None, None, None  # one track (Ogg may hold several): no probe per file of a folder of WAVs
        listed = sound_tracks(src_path)  # None: not listable (no ffprobe, a format only libsndfile reads)
        tracks = listed or []
        track = chosen_stream_index(src_path, self.audio_track, listed)
        chosen = next((t for t in tracks if t.stream_index == track), None)
        number = self.audio_track if chosen is None else chosen.number
        if self.audio_track is not None or len(tracks) < 2 or chosen is None:
            return track, number, None
        return track, number, (f"{len(tracks)} sound tracks: repaired track {chosen.number} ({chosen.describe()}), "
                               "FFmpeg's choice; --audio-track N repairs another")

    def _repair_into_video(self, plan: MuxPlan, source, src_path: Path, out_path: Path, protected: list[Path],
                           progress: bool) -> RepairReport:
        """The sound repaired into a temporary FLAC beside the output (no 4 GB limit), then muxed with
        the input's picture and other streams (msar_hf.video)."""
        with writing_errors(out_path):
            check_mux(plan, out_path, self.output_rate or source.rate)  # a container's refusal comes before the repair
            sound = temp_beside(out_path, ".flac")
        try:
            report = self._repair_source(source, src_path, sound, protected, progress, subtype="PCM_24")
            with writing_errors(out_path):
                report.warnings += mux(plan, sound, out_path, report.output_rate)
        except AudioError as exc:
            if exc.path != str(sound):
                raise
            raise type(exc)(out_path, exc.problem) from None  # the output's name, not its temporary sound's
        finally:
            sound.unlink(missing_ok=True)
        report.output = str(out_path)
        return report

    def _repair_source(self, source, src_path: Path, out_path: Path, protected: list[Path],
                       progress: bool, subtype: str | None = None, stream_index: int | None = None) -> RepairReport:
        streamed = isinstance(source, SoundFileSource)
        report = RepairReport(input=str(src_path), output=str(out_path), sampling_rate=source.rate,
                              channels=source.channels, duration_s=source.frames / source.rate, streamed=streamed)
        out_rate = self.output_rate or encodable_rate(out_path, source.rate)
        if out_rate != (self.output_rate or source.rate):
            report.warnings.append(f"a {out_path.suffix.lower()} file holds no {source.rate} Hz: written at "
                                   f"{out_rate} Hz (--output-rate chooses another)")
        report.output_rate = out_rate
        check_encodable(out_path, out_rate, source.channels)  # before the work, not after it
        out_frames = source.frames if out_rate == source.rate else round(source.frames * out_rate / source.rate)
        subtype = subtype or output_subtype(source.subtype, out_path)
        # a WAV output keeps a WAVE_FORMAT_EXTENSIBLE input's speaker layout (5.1...)
        # and its text tags (an archive's catalogue data) and broadcast chunks (bext...), where the
        # output's format holds them
        metadata = CarriedMetadata.read(src_path, out_path, out_path.suffix.lower() in SOUNDFILE_FORMATS,
                                        rate_ratio=out_rate / source.rate, stream_index=stream_index)
        # a lossy output at least as rich as a lossy input (and never under MIN_LOSSY_BIT_RATE)
        bit_rate = (max(lossy_bit_rate(src_path, stream_index) or 0, MIN_LOSSY_BIT_RATE)
                    if out_path.suffix.lower() in BIT_RATE_EXTENSIONS else None)
        ffmpeg = shutil.which("ffmpeg")
        with writing_errors(out_path):  # a streamed output's temporary file is made here
            if streamed and out_path.suffix.lower() in SOUNDFILE_FORMATS:
                sink = SoundFileSink(out_path, source.channels, out_rate, subtype, metadata)
            elif (streamed or metadata.needs_ffmpeg) and bit_rate is not None and ffmpeg:
                # a short one too when it has tags or cover art to carry: save_audio's encoder writes neither
                sink = FFmpegSink(out_path, source.channels, out_rate, bit_rate, ffmpeg, metadata)
            else:
                sink = ArraySink(out_path, source.channels, out_frames, out_rate, protected, subtype, bit_rate, metadata)
        if self.loudness is not None:
            try:
                with writing_errors(out_path):  # its temporary float file is made beside the output
                    sink = LoudnessSink(sink, out_path, source.channels, out_rate, self.loudness, soft_limit,
                                        input_rate=source.rate)
            except BaseException:
                sink.abort()  # the output's own temporary file, made just before
                raise
        try:
            self._run(source, sink, out_rate, report, progress)
            with writing_errors(out_path):
                sink.commit()
        except BaseException:
            sink.abort()
            raise
        if isinstance(sink, LoudnessSink):
            # unmeasurable (silent, under 0.4 s) reads None, not -inf: JSON has no infinity
            report.input_lufs, report.output_lufs = (v if v is not None and math.isfinite(v) else None
                                                     for v in (sink.input_lufs, sink.output_lufs))
            report.loudness_gain_db = sink.gain_db
            report.warnings += sink.warnings
        return report

    def _run(self, source, sink, out_rate: int, report: RepairReport, progress: bool) -> None:
        rate = source.rate
        if source.frames / rate < 0.2:
            report.warnings.append(f"very short ({1000 * source.frames / rate:.0f} ms): little context to repair")
        # strength 0 gives the input back: no speaker to condition on, no altered music to warn of
        untouched = self.strength == 0.0
        embedding = None if untouched else self._embedding_for(source, report)
        to_out = (lambda n: n) if out_rate == rate else (lambda n: round(n * out_rate / rate))
        windows = _windows(source.frames, _window_frames(rate, source.channels, out_rate), int(CONTEXT_SECONDS * rate))
        iterator = windows
        if progress and len(windows) > 1:
            from tqdm.auto import tqdm

            iterator = tqdm(windows, desc=Path(report.input).name, unit="min", leave=False)
        detect = self.detect_speech and not untouched and source.frames >= MIN_VAD_SECONDS * rate
        tail, silent_windows, speech, peak = None, 0, False, 0.0
        # a loudness target's gain comes at the end: that sink limits the peaks after it
        leveled = isinstance(sink, LoudnessSink)

        def write(block: torch.Tensor) -> None:
            # Only a block that would pass full scale is limited: valid audio that fits (e.g. the
            # input itself at strength 0) is written untouched.
            nonlocal peak
            block_peak = float(block.abs().max()) if block.numel() else 0.0
            peak = max(peak, block_peak)
            with writing_errors(report.output):  # a full disk mid-file: that file's error, not a traceback
                sink.write(soft_limit(block) if block_peak > 1.0 and not leveled else block)

        for start, stop, next_start in iterator:
            x = source.read(start, stop)
            if leveled:  # the input's own stretch of this window (the next one's context is its own)
                sink.measure_input(x if next_start is None else x[:, : next_start - start])
            y, silent = self._repair_window(x, rate, out_rate, to_out(stop) - to_out(start), embedding)
            silent_windows += silent
            if detect and not silent and not speech:
                x16 = resample(x[:, : int(VAD_SECONDS * rate)].mean(0), rate, MODEL_RATE)
                speech = speech_fraction(x16) >= SPEECH_FRACTION
            if tail is not None:  # cross-fade over the middle half of the shared context
                n = tail.shape[-1]
                ramp = ((torch.arange(n, dtype=torch.float32) + 0.5 - n / 4) / (n / 2)).clamp(0, 1)
                # written as y + (tail - y) * (1 - ramp): where the two agree (an untouched input) the
                # result is y itself, exactly; the usual form is a float rounding off (1 LSB)
                y[:, :n] = y[:, :n] + (tail - y[:, :n]) * (1 - ramp)
            if next_start is None:
                write(y)
                tail = None
            else:
                split = to_out(next_start) - to_out(start)
                write(y[:, :split])
                tail = y[:, split:].clone()
        if peak > 1.0 and leveled:
            pass  # the gain to come decides the peaks: the loudness sink says what it limited
        elif peak > 1.0 and untouched:  # the input's own samples: a lossy coding's overshoot, nothing restored
            report.warnings.append(f"the input's decoded samples reach {20 * math.log10(peak):+.1f} dBFS (a lossy "
                                   "coding's overshoot?): peaks above -1 dBFS were soft-limited so the output does not clip")
        elif peak > 1.0:
            report.warnings.append(f"repaired peaks reached {20 * math.log10(peak):+.1f} dBFS (restored clipped peaks?): "
                                   "peaks above -1 dBFS were soft-limited so the output does not clip")
        if silent_windows == len(windows):
            report.warnings.append("silent input (peak below -80 dBFS): nothing to repair, written unchanged")
            report.speech_detected = False
        elif detect:
            report.speech_detected = speech
            if not speech:
                report.warnings.append("no speech detected: msar repairs speech, other sounds (music...) may be "
                                       "altered; use --strength to apply less")


# --------------------------------------------------------------------------------------------
# output paths
# --------------------------------------------------------------------------------------------
def same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(output: Path, inputs: Iterable[Path], extensions: tuple[str, ...] = WRITABLE_EXTENSIONS) -> None:
    """Refuse an output path that cannot be one: under a file, over an input, a kind not in ``extensions``."""
    if blocker := file_in_the_way(output):
        raise AudioError(output, f"cannot be written: {blocker} is a file, not a folder")
    for src in inputs:
        if same_path(output, src):
            raise OverwriteInputError(output, "refusing to overwrite an input file; choose another output path")
    suffix = output.suffix.lower()
    if suffix not in extensions:
        raise UnsupportedFormatError(output, f"cannot write '{suffix or 'no extension'}' files; "
                                     f"use one of {', '.join(extensions)}")



# --------------------------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------------------------
def repair_file(
    input: str | os.PathLike,
    output: str | os.PathLike,
    model=None,
    speaker_ref: str | os.PathLike | None = None,
    strength: float | None = None,
    output_rate: int | None = None,
    device: str = "cpu",
    chunk_seconds: float = 8.0,
    audio_track: int | None = None,
) -> RepairReport:
    """Repair one file into ``output`` (see :class:`Repairer` for the arguments)."""
    repairer = model if isinstance(model, Repairer) else Repairer(
        model, device=device, strength=strength, speaker_ref=speaker_ref, output_rate=output_rate,
        chunk_seconds=chunk_seconds, audio_track=audio_track)
    return repairer.repair_file(input, output)
