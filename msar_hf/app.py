"""The msar web app (Gradio): repair a recording, or synthesize speech in a chosen voice.

``msar serve`` and the Space entry point (``msar_hf/space/app.py``) both call :func:`launch_app`.
The page has two tabs:

* **Repair**: upload or record audio -> repaired audio, before/after spectrograms and, when a
  clean reference is supplied, a table of quality metrics (input vs repaired).
* **Synthesize**: text + a voice (a known speaker, or a reference recording) -> speech.

Serving limits are part of :class:`AppConfig`: a queue with a concurrency limit, a maximum
upload size (refused by Gradio before the file reaches us) and duration, and a per-request
timeout. Every failure a user can cause (bad file, too long, empty text) comes back as a one-line
message naming the file. The app writes no files of its own (results travel as arrays) and asks
Gradio to delete its upload/result cache on a schedule and when the server stops.

The models behind the page are *backends* (plain callables), so tests and other front ends can
swap them: :class:`RepairBackend` and :class:`SynthesisBackend` load msar's models.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .errors import AudioError, MsarError

SAMPLING_RATE = 16000
REFERENCE_LENGTH_TOLERANCE_S = 0.25  # codec padding (mp3, AAC) is well under; a different take is not


class RequestTimeout(MsarError):
    """A request took longer than the configured per-request timeout."""


#: AppConfig fields settable from MSAR_APP_<NAME> environment variables, with their types.
_ENV_FIELDS: dict[str, type] = {
    "repair_model": str, "synthesis_model": str, "max_file_size": str, "max_duration_s": float,
    "max_text_chars": int, "concurrency_limit": int, "queue_size": int, "request_timeout_s": float,
}


@dataclass
class AppConfig:
    """What a deployment may tune. The models and limits also read ``MSAR_APP_<FIELD>``
    environment variables (see :meth:`from_env`), so a Space is configured without code."""

    repair_model: str | None = None  # folder or Hub id; None = the shipped default
    synthesis_model: str | None = None  # folder or Hub id; None = the shipped default
    max_file_size: str = "20mb"  # Gradio refuses larger uploads before they reach the app
    max_duration_s: float = 60.0  # longer recordings are refused with a message
    max_text_chars: int = 600
    concurrency_limit: int = 2  # requests computed at once (per event)
    queue_size: int = 64  # waiting requests beyond this are refused by the queue
    request_timeout_s: float = 120.0
    cache_cleanup: tuple[int, int] = (300, 900)  # (every s, older than s): Gradio deletes its files
    title: str = "msar: repair and synthesize speech"

    @classmethod
    def from_env(cls, **overrides: Any) -> AppConfig:
        """Defaults, then ``MSAR_APP_<FIELD>`` environment variables, then ``overrides``."""
        values: dict[str, Any] = {}
        for name, kind in _ENV_FIELDS.items():
            raw = os.environ.get(f"MSAR_APP_{name.upper()}")
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError as exc:
                    raise MsarError(f"MSAR_APP_{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        if self.concurrency_limit < 1 or self.queue_size < 1:
            raise MsarError("concurrency limit and queue size must be at least 1")
        # "not > 0" also refuses nan, which every later comparison would silently pass
        if not (self.max_duration_s > 0 and self.request_timeout_s > 0):
            raise MsarError("maximum duration and request timeout must be positive")
        if self.max_text_chars < 1:
            raise MsarError("the maximum text length must be at least 1 character")
        # gradio reads the size only at launch, after the models loaded, and raises a bare ValueError
        if not re.fullmatch(r"\d+(b|kb|mb|gb|tb)", self.max_file_size.replace(" ", ""), re.IGNORECASE):
            raise MsarError(f"max file size {self.max_file_size!r}: give a whole number and a unit, e.g. 20mb "
                            "(units: b, kb, mb, gb, tb)")


# --------------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------------
class Repairer(Protocol):
    def __call__(self, waveform: torch.Tensor, strength: float | str, gate: bool = True,
                 comb: bool = True) -> torch.Tensor:
        """(T,) 16 kHz mono in, (T,) repaired out; ``strength`` 0..1 or ``"auto"``; ``gate`` /
        ``comb``: the model's residual gate / low-band comb (``msar repair --gate 0 / --comb 0``)."""


class Synthesizer(Protocol):
    voices: Sequence[str]

    def __call__(self, text: str, *, speaker: str | None = None, reference: torch.Tensor | None = None,
                 reference_name: str = "reference recording") -> torch.Tensor:
        """Text and a voice (known speaker name or 16 kHz reference waveform) -> (T,) 16 kHz audio."""


class SharedSpeakerEncoder:
    """One lazily loaded :class:`msar_hf.speaker.SpeakerEncoder` for both backends.

    ``None`` from :meth:`embed` means the encoder is unavailable (weights missing...); the reason
    is kept in :attr:`unavailable`.
    """

    def __init__(self, source: str | os.PathLike | None = None):
        self._source = source
        self._encoder = None
        self._lock = threading.Lock()
        self.unavailable: str | None = None

    def embed(self, waveform: torch.Tensor) -> torch.Tensor | None:
        """(D,) L2-normalised embedding of a 16 kHz mono waveform, or None."""
        with self._lock:
            if self._encoder is None and self.unavailable is None:
                try:
                    from .speaker import SpeakerEncoder

                    self._encoder = SpeakerEncoder.from_pretrained(self._source)
                except Exception as exc:  # noqa: BLE001  (missing weights or module: callers decide)
                    self.unavailable = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if self._encoder is None:
            return None
        emb = torch.as_tensor(self._encoder.embed(waveform.float().unsqueeze(0))).reshape(-1).float()
        return torch.nn.functional.normalize(emb, dim=0)


class RepairBackend:
    """msar's repair model (loaded once, :func:`msar_hf.repair.load_repair_model`), conditioned
    on the speaker of the recording itself as ``msar repair`` does."""

    def __init__(self, model: Any = None, speaker_encoder: SharedSpeakerEncoder | None = None):
        from .repair import load_repair_model

        self.model = load_repair_model(model, "cpu")
        self.conditioned = bool(getattr(self.model.config, "use_speaker_conditioning", False))
        self.speaker_encoder = speaker_encoder or SharedSpeakerEncoder()

    def __call__(self, waveform: torch.Tensor, strength: float | str, gate: bool = True,
                 comb: bool = True) -> torch.Tensor:
        from .repair import SELF_EMBEDDING_SECONDS

        embedding = None
        if self.conditioned:
            try:
                embedding = self.speaker_encoder.embed(waveform[: int(SELF_EMBEDDING_SECONDS * SAMPLING_RATE)])
            except MsarError:  # too short or silent for an embedding: repair without one, as the CLI does
                embedding = None
        with torch.inference_mode():
            out = self.model.repair(waveform, speaker_embedding=embedding,
                                    strength=strength if strength == "auto" else float(strength),
                                    residual_gate=None if gate else 0.0, low_band_comb=None if comb else 0.0)
        return torch.as_tensor(out).float()


class SynthesisBackend:
    """msar's multi-speaker synthesis model (:func:`msar_hf.synthesis.load_tts`, loaded once)."""

    def __init__(self, model: str | os.PathLike | None = None,
                 speaker_encoder: SharedSpeakerEncoder | None = None):
        from .synthesis import load_tts

        self.tts = load_tts(model)
        self.voices = list(self.tts.speaker_names)
        self.speaker_encoder = speaker_encoder or SharedSpeakerEncoder()

    def __call__(self, text: str, *, speaker: str | None = None,
                 reference: torch.Tensor | None = None, reference_name: str = "reference recording") -> torch.Tensor:
        from .audio import resample
        from .synthesis import check_reference, resolve_voice, synthesize

        if reference is not None:
            check_reference(reference, SAMPLING_RATE, reference_name)
            embedding = self.speaker_encoder.embed(reference)
            if embedding is None:
                raise MsarError("voices from a reference recording need the speaker encoder, which is "
                                f"unavailable here ({self.speaker_encoder.unavailable}); choose a known speaker")
        else:
            embedding = resolve_voice(self.tts, speaker=speaker)
        speech = synthesize(self.tts, text, embedding)
        return resample(speech, self.tts.sampling_rate, SAMPLING_RATE)


# --------------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------------
class _TimedRunner:
    """Runs work with a deadline while bounding how much work runs at once.

    Torch inference cannot be interrupted from outside, so a request past its deadline is
    answered with a timeout message and its result is dropped; the worker keeps its slot until
    it really ends, so abandoned work still counts against ``slots`` and cannot pile up.
    """

    def __init__(self, slots: int, timeout_s: float):
        self._slots = threading.BoundedSemaphore(slots)
        self.timeout_s = timeout_s

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.timeout_s
        if not self._slots.acquire(timeout=self.timeout_s):
            raise RequestTimeout(f"the server stayed busy for {self.timeout_s:g} s; try again later")
        future: Future = Future()

        def work() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001  (handed to the waiting request as is)
                future.set_exception(exc)
            finally:
                self._slots.release()

        threading.Thread(target=work, name="msar-app-work", daemon=True).start()
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError as exc:
            raise RequestTimeout(f"the request took longer than {self.timeout_s:g} s and was "
                                 "stopped; try a shorter recording") from exc


def _display_name(path: str | os.PathLike) -> str:
    """The uploaded file's own name (Gradio keeps it under a hashed cache folder)."""
    return Path(path).name


def _load_upload(path: str | os.PathLike | None, what: str, max_duration_s: float) -> torch.Tensor:
    from .audio import load_audio

    if not path:
        raise MsarError(f"no {what} was given: upload or record one")
    try:
        waveform, _ = load_audio(path, sampling_rate=SAMPLING_RATE)
    except AudioError as exc:
        raise MsarError(f"{_display_name(path)}: {exc.problem}") from exc
    duration = waveform.shape[-1] / SAMPLING_RATE
    if duration > max_duration_s:
        raise MsarError(f"{_display_name(path)} is {duration:.1f} s long; this server accepts "
                        f"recordings up to {max_duration_s:g} s")
    if duration < 0.1:
        raise MsarError(f"{_display_name(path)} is too short ({duration * 1000:.0f} ms)")
    return waveform


def _as_output(waveform: torch.Tensor) -> tuple[int, np.ndarray]:
    """Gradio audio value: 16-bit PCM, so the player gets a plain WAV."""
    pcm = (waveform.detach().float().clamp(-1, 1).cpu().numpy() * 32767).round().astype(np.int16)
    return SAMPLING_RATE, pcm


# --------------------------------------------------------------------------------------------
# what the page shows
# --------------------------------------------------------------------------------------------
def _mel_db(waveform: torch.Tensor) -> np.ndarray:
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLING_RATE, n_fft=1024, hop_length=160, n_mels=80)
    return (10 * torch.log10(mel(waveform.float().reshape(-1)).clamp_min(1e-10))).numpy()


def _render(db: np.ndarray, seconds: float, title: str, top: float, range_db: float = 80.0) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 2.4), dpi=80)
    try:
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=top - range_db, vmax=top,
                  extent=(0, seconds, 0, db.shape[0]))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylabel("mel band", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(fig)


def spectrogram_image(waveform: torch.Tensor, title: str, top_db: float | None = None) -> np.ndarray:
    """A log-mel spectrogram as an RGB image (H, W, 3) uint8, 80 dB of colour scale below
    ``top_db`` (default: this signal's maximum)."""
    db = _mel_db(waveform)
    return _render(db, waveform.shape[-1] / SAMPLING_RATE, title, float(db.max()) if top_db is None else top_db)


def before_after_images(before: torch.Tensor, after: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Spectrograms of the input and the repair on one colour scale (the louder one's top), so
    what the repair removed or restored shows by eye."""
    db_before, db_after = _mel_db(before), _mel_db(after)
    top = max(float(db_before.max()), float(db_after.max()))
    return (_render(db_before, before.shape[-1] / SAMPLING_RATE, "before", top),
            _render(db_after, after.shape[-1] / SAMPLING_RATE, "after", top))


_METRIC_ROWS = (  # (key, label, which way is better)
    ("pesq_wb", "PESQ-WB", "higher"), ("stoi", "STOI", "higher"), ("estoi", "ESTOI", "higher"),
    ("si_sdr", "SI-SDR (dB)", "higher"), ("lsd", "log-spectral distance (dB)", "lower"),
    ("q", "Q", "lower"), ("mse", "MSE", "lower"), ("cossim_pitch", "pitch contour cosine", "higher"),
    ("cossim_loudness", "loudness contour cosine", "higher"),
)
METRIC_HEADERS = ["metric", "input", "repaired", "better"]


def metric_rows(reference: torch.Tensor, damaged: torch.Tensor, repaired: torch.Tensor) -> list[list]:
    """Quality of the input and of the repair against a clean reference, one row per metric."""
    from .metrics.quality import compute_all

    before = compute_all(reference.numpy(), damaged.numpy(), SAMPLING_RATE)
    after = compute_all(reference.numpy(), repaired.numpy(), SAMPLING_RATE)

    def fmt(v: float | None, key: str) -> str:
        if v is None or not np.isfinite(v):
            return "n/a"
        return f"{v:.2e}" if key == "mse" else f"{v:.4f}" if key == "q" else f"{v:.3f}"  # small by nature

    return [[label, fmt(before.get(key), key), fmt(after.get(key), key), better]
            for key, label, better in _METRIC_ROWS if key in before or key in after]


@dataclass
class MsarApp:
    """The page's logic without Gradio: what each button does. Gradio wiring is in :meth:`blocks`."""

    config: AppConfig
    repairer: Repairer | None = None
    synthesizer: Synthesizer | None = None
    notes: list[str] = field(default_factory=list)  # shown on the page (e.g. a missing model)
    _runner: _TimedRunner = field(init=False)

    def __post_init__(self) -> None:
        self._runner = _TimedRunner(self.config.concurrency_limit, self.config.request_timeout_s)

    @property
    def default_strength(self) -> float | str:
        """The repair model's own default mix (its config's ``default_strength``: 0..1 or "auto"), else 1."""
        model = getattr(self.repairer, "model", None)
        value = getattr(getattr(model, "config", None), "default_strength", 1.0)
        return "auto" if value == "auto" else float(value)

    # -- repair -------------------------------------------------------------------------------
    def repair(self, audio_path: str | None, reference_path: str | None = None, strength: float | None = None,
               auto_strength: bool = False, gate: bool = True, comb: bool = True):
        """Returns (repaired audio, before image, after image, metric rows). ``auto_strength``
        overrides ``strength`` with the model's ``"auto"`` mix (0.7-0.9 by how much there is to fix, 1 on steady
        noise, 0.95 on noise in the speech's pauses); ``gate`` / ``comb`` off = ``msar repair --gate 0 / --comb 0``."""
        if self.repairer is None:
            raise MsarError("this server was started without a repair model")
        damaged = _load_upload(audio_path, "recording to repair", self.config.max_duration_s)
        reference = (_load_upload(reference_path, "clean reference", self.config.max_duration_s)
                     if reference_path else None)
        # a reference of another length is another recording: its scores over the overlap would be meaningless
        if reference is not None and abs(reference.shape[-1] - damaged.shape[-1]) > REFERENCE_LENGTH_TOLERANCE_S * SAMPLING_RATE:
            raise MsarError(f"{_display_name(reference_path)} is {reference.shape[-1] / SAMPLING_RATE:.1f} s long and "
                            f"{_display_name(audio_path)} {damaged.shape[-1] / SAMPLING_RATE:.1f} s: the clean reference "
                            "must be the same recording, undamaged")
        from .repair import parse_strength

        strength = parse_strength("auto" if auto_strength else strength)
        strength = self.default_strength if strength is None else strength

        def work():
            repaired = self.repairer(damaged, strength, gate=bool(gate), comb=bool(comb))
            images = before_after_images(damaged, repaired)
            rows = metric_rows(reference, damaged, repaired) if reference is not None else []
            return repaired, images, rows

        repaired, (before, after), rows = self._runner.run(work)
        return _as_output(repaired), before, after, rows

    # -- synthesis ----------------------------------------------------------------------------
    def synthesize(self, text: str, voice_source: str = "known speaker", speaker: str | None = None,
                   reference_path: str | None = None):
        """Returns the synthesized audio."""
        if self.synthesizer is None:
            raise MsarError("this server was started without a synthesis model")
        text = (text or "").strip()
        if not text:
            raise MsarError("type some text to synthesize")
        if len(text) > self.config.max_text_chars:
            raise MsarError(f"the text has {len(text)} characters; this server accepts up to "
                            f"{self.config.max_text_chars}")
        reference = None
        if voice_source == "reference recording":
            reference = _load_upload(reference_path, "reference recording of the voice", self.config.max_duration_s)
            speaker = None
        else:
            if not speaker:
                raise MsarError("choose a known speaker, or switch to a reference recording")
            if speaker not in self.synthesizer.voices:
                raise MsarError(f"unknown speaker {speaker!r}; known: {', '.join(self.synthesizer.voices)}")
        speech = self._runner.run(self.synthesizer, text, speaker=speaker, reference=reference,
                                  reference_name=_display_name(reference_path) if reference_path else "")
        return _as_output(speech)

    # -- page -----------------------------------------------------------------------------------
    def blocks(self):
        """The Gradio page (not launched)."""
        import gradio as gr

        def guarded(fn):
            def call(*args):
                try:
                    return fn(*args)
                except MsarError as exc:  # a user error: one line on the page, no traceback
                    raise gr.Error(str(exc), print_exception=False) from None
            call.__name__ = fn.__name__
            call.__doc__ = fn.__doc__
            return call

        voices = list(self.synthesizer.voices) if self.synthesizer is not None else []
        with gr.Blocks(title=self.config.title, delete_cache=self.config.cache_cleanup,
                       analytics_enabled=False) as demo:
            gr.Markdown(f"# {self.config.title}\nRecordings up to {self.config.max_duration_s:g} s and "
                        f"{self.config.max_file_size}. Everything runs on this server. Results are "
                        # the download is a 16 kHz mono preview: say so before a 44.1 kHz stereo file comes back that way
                        "16 kHz mono (a preview); `msar repair` keeps a file's rate, channels and length.")
            for note in self.notes:
                gr.Markdown(f"**Note:** {note}", elem_classes=["msar-note"])
            with gr.Tab("Repair"):
                with gr.Row():
                    with gr.Column():
                        damaged = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                           label="damaged recording", elem_id="repair-input")
                        reference = gr.Audio(sources=["upload"], type="filepath", elem_id="repair-reference",
                                             label="clean reference (optional: shows metrics)")
                        auto_default = self.default_strength == "auto"
                        # under "auto" the slider starts at the middle of auto's range; it is used once auto is unticked
                        strength = gr.Slider(0.0, 1.0, value=0.8 if auto_default else self.default_strength, step=0.05,
                                             label="repair strength", elem_id="repair-strength")
                        auto_strength = gr.Checkbox(auto_default, label="auto strength (0.7-1, by how much there is to fix; more on noise)",
                                                    elem_id="repair-auto-strength")
                        with gr.Row():
                            gate = gr.Checkbox(True, label="residual gate (off = msar repair --gate 0)",
                                               elem_id="repair-gate")
                            comb = gr.Checkbox(True, label="low-band comb (off = --comb 0: the recording's own low band)",
                                               elem_id="repair-comb")
                        run_repair = gr.Button("Repair", variant="primary", elem_id="repair-button",
                                               interactive=self.repairer is not None)
                    with gr.Column():
                        repaired = gr.Audio(type="numpy", format="wav", label="repaired", interactive=False,
                                            elem_id="repair-output")
                        before = gr.Image(label="before", interactive=False, elem_id="spectrogram-before")
                        after = gr.Image(label="after", interactive=False, elem_id="spectrogram-after")
                        metrics = gr.Dataframe(headers=METRIC_HEADERS, label="quality against the reference",
                                               interactive=False, elem_id="repair-metrics")
                # moving the slider means the user wants that strength, not auto's
                strength.input(lambda: False, inputs=None, outputs=auto_strength, api_name=False, queue=False)
                run_repair.click(guarded(self.repair), inputs=[damaged, reference, strength, auto_strength, gate, comb],
                                 outputs=[repaired, before, after, metrics], api_name="repair")
            with gr.Tab("Synthesize"):
                with gr.Row():
                    with gr.Column():
                        text = gr.Textbox(label="text", lines=3, max_length=self.config.max_text_chars,
                                          elem_id="synth-text")
                        source = gr.Radio(["known speaker", "reference recording"], value="known speaker",
                                          label="voice", elem_id="synth-source")
                        speaker = gr.Dropdown(voices, value=voices[0] if voices else None,
                                              label="known speaker", elem_id="synth-speaker")
                        voice = gr.Audio(sources=["upload", "microphone"], type="filepath",
                                         label="reference recording of the voice", elem_id="synth-reference")
                        run_synth = gr.Button("Synthesize", variant="primary", elem_id="synth-button",
                                              interactive=self.synthesizer is not None)
                    with gr.Column():
                        speech = gr.Audio(type="numpy", format="wav", label="speech", interactive=False,
                                          elem_id="synth-output")
                run_synth.click(guarded(self.synthesize), inputs=[text, source, speaker, voice],
                                outputs=[speech], api_name="synthesize")
        demo.queue(max_size=self.config.queue_size, default_concurrency_limit=self.config.concurrency_limit)
        return demo


def _load_backend(kind: type, model: str | None, what: str, speaker_encoder: SharedSpeakerEncoder,
                  notes: list[str]) -> Any:
    """A backend, or None (with a note) when the *default* model is missing; a model the user
    named explicitly must load."""
    try:
        return kind(model, speaker_encoder)
    except MsarError as exc:
        if model is not None:
            raise
        notes.append(f"{what} is unavailable on this server: {exc}")
        return None


def build_app(config: AppConfig | None = None, *, repairer: Repairer | None = None,
              synthesizer: Synthesizer | None = None, load_models: bool = True, repair: bool = True,
              synthesis: bool = True) -> MsarApp:
    """The app with its backends: given ones, else msar's models (``config.*_model``).

    ``repair=False`` / ``synthesis=False`` leave that tab without a model. When a default (not
    named) model is missing the app starts without it and says so on the page; when no model
    at all can be served, :class:`MsarError`. With ``load_models=False`` nothing is loaded.
    """
    config = config or AppConfig.from_env()
    speaker_encoder = SharedSpeakerEncoder()
    notes: list[str] = []
    if load_models and repair and repairer is None:
        repairer = _load_backend(RepairBackend, config.repair_model, "Repair", speaker_encoder, notes)
    if load_models and synthesis and synthesizer is None:
        synthesizer = _load_backend(SynthesisBackend, config.synthesis_model, "Synthesis", speaker_encoder, notes)
    if load_models and repairer is None and synthesizer is None:
        raise MsarError("nothing to serve: " + ("; ".join(notes) or "both tabs were turned off"))
    return MsarApp(config, repairer, synthesizer, notes=notes)


def launch_app(config: AppConfig | None = None, *, host: str = "127.0.0.1", port: int | None = None,
               share: bool = False, block: bool = True, app: MsarApp | None = None, **launch_kwargs: Any):
    """Build (unless ``app`` is given) and serve the page; returns the running ``gr.Blocks``.

    ``block=False`` returns at once with the server running (tests, notebooks): call
    ``.close()`` on the result to stop it, which also deletes the app's cached files.
    """
    app = app or build_app(config)
    demo = app.blocks()
    try:
        demo.launch(server_name=host, server_port=port, share=share, max_file_size=app.config.max_file_size,
                    prevent_thread_lock=not block, show_error=True, quiet=not block, **launch_kwargs)
    except OSError as exc:  # gradio's bind failure (port taken, address not here) is a user error, not a bug
        raise MsarError(f"cannot serve on {host}:{port}: {str(exc).split('.')[0]}; the port is in use or the "
                        "address is not this machine's: choose another --port or --host") from None
    return demo


__all__ = [
    "METRIC_HEADERS",
    "AppConfig",
    "MsarApp",
    "RepairBackend",
    "RequestTimeout",
    "SharedSpeakerEncoder",
    "SynthesisBackend",
    "before_after_images",
    "build_app",
    "launch_app",
    "metric_rows",
    "spectrogram_image",
]
