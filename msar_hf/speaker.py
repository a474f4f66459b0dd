"""Speaker embeddings: who is speaking, as a 192-d unit vector.

:class:`SpeakerEncoder` wraps SpeechBrain's :class:`~speechbrain.inference.classifiers.EncoderClassifier`
(an ECAPA-TDNN), so every SpeechBrain speaker model works: the real VoxCeleb ECAPA from the Hub
(``"speechbrain/spkrec-ecapa-voxceleb"``), any local SpeechBrain folder, or, with no source, the
small ECAPA shipped in ``msar_hf/pretrained/speaker_encoder`` (trained by
``recipes/train_speaker_encoder.py``; offline, CPU-sized, same 192-d output).

    enc = SpeakerEncoder.from_pretrained()
    emb = enc.embed(waveforms, lengths)      # (B, T) float32 16 kHz, lengths in samples -> (B, 192)
    enc.similarity(emb[0], emb[1])           # cosine

Embeddings are L2-normalised; a zero vector means "no speaker information" (DESIGN.md), which is
what batch mode returns, flagged, for clips too short (< 0.5 s) or silent to say anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import AudioError, MsarError

DEFAULT_MODEL_DIR = Path(__file__).parent / "pretrained" / "speaker_encoder"
SAMPLING_RATE = 16000
MIN_SECONDS = 0.5
# Loudest 20 ms frame below this level: nothing but silence or hiss (dBFS).
SILENCE_DBFS = -55.0
# Longer inputs are embedded in chunks whose embeddings are averaged (weighted by length): ECAPA's
# attentive pooling over an hour of frames would need gigabytes for no better estimate.
MAX_CHUNK_SECONDS = 30.0


class SpeakerModelError(MsarError):
    """A speaker model that cannot be found or loaded."""


class SpeakerInputError(AudioError):
    """Audio that carries no usable speaker information (too short, silent, NaN/Inf)."""


@dataclass
class SpeakerEmbeddings:
    """Batch-mode result: embeddings with a validity flag per item.

    ``embeddings`` is (B, D) float32 and NaN-free; rows of invalid items are zeros ("no speaker
    information") and ``problems[i]`` says why.
    """

    embeddings: torch.Tensor
    valid: torch.Tensor
    problems: list[str | None] = field(default_factory=list)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def check_speech(waveform: torch.Tensor, sampling_rate: int = SAMPLING_RATE) -> str | None:
    """Why ``waveform`` (T,) cannot give a speaker embedding, or ``None`` when it can."""
    n = int(waveform.shape[-1])
    if n < MIN_SECONDS * sampling_rate:
        return f"too short for a speaker embedding ({n / sampling_rate:.2f} s < {MIN_SECONDS} s)"
    if not torch.isfinite(waveform).all():
        return "contains NaN/Inf samples"
    hop = sampling_rate // 50
    frames = waveform[: n // hop * hop].reshape(-1, hop).double()
    loudest = 10 * torch.log10(frames.pow(2).mean(-1).max() + 1e-20)
    if float(loudest) < SILENCE_DBFS:
        return f"silent (loudest 20 ms frame {float(loudest):.0f} dBFS < {SILENCE_DBFS:.0f} dBFS)"
    return None


class SpeakerEncoder:
    """Speaker embeddings from a SpeechBrain ``EncoderClassifier`` (see the module docstring)."""

    sampling_rate = SAMPLING_RATE

    def __init__(self, classifier, source: str = "<model>"):
        self.model = classifier.eval()
        self.source = source

    # ----------------------------------------------------------------------------------------
    # loading
    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike | None = None,
        *,
        device: str = "cpu",
        savedir: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        revision: str | None = None,
    ) -> SpeakerEncoder:
        """Load a SpeechBrain speaker model.

        Args:
            source: ``None`` for msar's shipped default; a local SpeechBrain folder (with
                ``hyperparams.yaml``); or a Hub id such as ``"speechbrain/spkrec-ecapa-voxceleb"``
                (read from the Hugging Face cache, downloaded when online).
            device: torch device for inference.
            savedir: where SpeechBrain may link/copy the fetched files (default: use them in place).
            cache_dir: Hugging Face cache (default ``$HF_HUB_CACHE`` at call time, else the hub's).
            revision: Hub revision (branch, tag or commit).
        """
        from speechbrain.inference.classifiers import EncoderClassifier
        from speechbrain.utils.fetching import FetchConfig

        run_opts = {"device": device}
        savedir = None if savedir is None else str(savedir)
        if source is None:
            source = DEFAULT_MODEL_DIR
            if not (source / "embedding_model.ckpt").exists():
                raise SpeakerModelError(f"{source}: the shipped speaker encoder is missing (broken install?)")
        path = Path(source).expanduser()
        if path.is_dir():
            hparams = path / "hyperparams.yaml"
            if not hparams.exists():
                raise SpeakerModelError(f"{path}: not a SpeechBrain model folder (no hyperparams.yaml)")
            # Hub folders name their own repo in `pretrained_path`; point it here so a local copy
            # never reaches for the network.
            overrides = ({"pretrained_path": str(path.resolve())}
                         if re.search(r"^pretrained_path\s*:", hparams.read_text(), re.MULTILINE) else {})
            try:
                model = EncoderClassifier.from_hparams(source=str(path.resolve()), overrides=overrides,
                                                       savedir=savedir, run_opts=run_opts)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                raise SpeakerModelError(f"{path}: cannot load the speaker model ({exc})") from exc
            return cls(model, str(path))

        text = str(source)
        if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
            raise SpeakerModelError(f"{text}: no such model folder (and not a Hub id like 'org/name')")
        cache = cache_dir or os.environ.get("HF_HUB_CACHE") or None
        config = FetchConfig(huggingface_cache_dir=None if cache is None else str(cache), revision=revision,
                             allow_network=not _offline())
        try:
            model = EncoderClassifier.from_hparams(source=text, savedir=savedir, run_opts=run_opts,
                                                   fetch_config=config)
        except Exception as exc:  # huggingface_hub raises many types (offline, 404, auth)
            where = "in the Hugging Face cache (offline)" if _offline() else "on the Hub or in the cache"
            raise SpeakerModelError(f"{text}: speaker model not found {where} ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
        return cls(model, text)

    # ----------------------------------------------------------------------------------------
    # properties
    # ----------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return torch.device(self.model.device)

    @property
    def embedding_dim(self) -> int:
        """Size D of the embeddings (192 for ECAPA)."""
        fc = getattr(self.model.mods.embedding_model, "fc", None)
        conv = getattr(fc, "conv", None)
        if conv is not None:
            return int(conv.out_channels)
        return int(self._encode(torch.zeros(1, SAMPLING_RATE), torch.ones(1)).shape[-1])

    # ----------------------------------------------------------------------------------------
    # embedding
    # ----------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _encode(self, wavs: torch.Tensor, rel_lens: torch.Tensor) -> torch.Tensor:
        """Raw (un-normalised) embeddings of a padded batch."""
        emb = self.model.encode_batch(wavs.to(self.device, torch.float32), rel_lens.to(self.device))
        return emb.reshape(wavs.shape[0], -1).float().cpu()

    def _encode_items(self, items: list[torch.Tensor]) -> torch.Tensor:
        """Unit embeddings of valid 1-D waveforms; long ones are chunked and averaged."""
        limit = int(MAX_CHUNK_SECONDS * SAMPLING_RATE)
        out = [None] * len(items)
        short = [i for i, x in enumerate(items) if len(x) <= limit]
        if short:
            raw = self._encode_items_raw([items[i] for i in short])
            for row, e in zip(short, raw):
                out[row] = e
        for i in (i for i, x in enumerate(items) if len(x) > limit):
            x = items[i]
            bounds = list(range(0, len(x), limit))
            if len(x) - bounds[-1] < MIN_SECONDS * SAMPLING_RATE:
                bounds.pop()  # fold a sliver at the end into the previous chunk
            chunks = [x[s:e] for s, e in zip(bounds, bounds[1:] + [len(x)])]
            sub = self._encode_items_raw(chunks)
            weights = torch.tensor([len(c) for c in chunks], dtype=torch.float32)
            out[i] = (sub * weights[:, None]).sum(0)
        return torch.nn.functional.normalize(torch.stack(out), dim=-1)

    def _encode_items_raw(self, chunks: list[torch.Tensor]) -> torch.Tensor:
        """Unit embeddings of 1-D waveforms batched together. Padding repeats each clip rather than
        adding zeros: pooling ignores padded frames (relative lengths), but the convolutions next to
        the end would otherwise see the log-mel floor of digital silence and shift the embedding."""
        lens = torch.tensor([len(c) for c in chunks], dtype=torch.float32)
        width = int(lens.max())
        batch = torch.stack([c.repeat(-(-width // len(c)))[:width] for c in chunks])
        return torch.nn.functional.normalize(self._encode(batch, lens / width), dim=-1)

    @staticmethod
    def _as_items(waveforms, lengths) -> list[torch.Tensor]:
        if isinstance(waveforms, (str, bytes, os.PathLike)):
            raise TypeError(f"embed() takes waveforms, not a path ({str(waveforms)[:80]!r}): use embed_file(path)")
        if hasattr(waveforms, "get_all_samples"):  # one item of a datasets Audio column
            waveforms = [waveforms]
        elif not isinstance(waveforms, (torch.Tensor, np.ndarray, list, tuple, str, bytes)) and hasattr(waveforms, "__iter__"):
            waveforms = list(waveforms)  # a datasets Column (ds["audio"]), a generator
        if isinstance(waveforms, (list, tuple)):
            from .audio import dataset_mono_16k

            waveforms = [dataset_mono_16k(x) if hasattr(x, "get_all_samples") else x for x in waveforms]
        if isinstance(waveforms, (list, tuple)) and lengths is None and all(
                getattr(x, "ndim", np.ndim(x)) == 1 for x in waveforms):
            return [torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).float() for x in waveforms]
        w = torch.as_tensor(np.asarray(waveforms) if not torch.is_tensor(waveforms) else waveforms)
        if w.ndim == 1:
            w = w.unsqueeze(0)
        if w.ndim != 2:
            raise ValueError(f"waveforms must be (B, T) or (T,), got shape {tuple(w.shape)}")
        w = w.float()
        if lengths is None:
            return list(w)
        lengths = torch.as_tensor(lengths).long().reshape(-1)
        if len(lengths) != w.shape[0]:
            raise ValueError(f"{len(lengths)} lengths for {w.shape[0]} waveforms")
        return [row[: min(int(n), w.shape[1])] for row, n in zip(w, lengths)]

    def embed_batch(self, waveforms, lengths=None, names: Sequence[str] | None = None) -> SpeakerEmbeddings:
        """Embed a batch without raising on bad items: they get zero rows, ``valid`` False and a
        problem string (batch mode for the CLI and dataset scripts).

        Args:
            waveforms: (B, T) or (T,) float 16 kHz audio (tensor or array), a list of 1-D clips, or
                items of a datasets Audio column (``ds["audio"]``, any rate: made 16 kHz mono).
            lengths: (B,) valid samples per row (the rest is padding); default: all of T.
            names: labels for the problem strings (default ``<waveform i>``).
        """
        items = self._as_items(waveforms, lengths)
        names = list(names) if names is not None else [f"<waveform {i}>" for i in range(len(items))]
        problems = [check_speech(x) for x in items]
        ok = [i for i, p in enumerate(problems) if p is None]
        emb = torch.zeros(len(items), self.embedding_dim)
        if ok:
            emb[ok] = self._encode_items([items[i] for i in ok])
        valid = torch.tensor([p is None for p in problems], dtype=torch.bool)  # an empty list too
        return SpeakerEmbeddings(emb, valid, [None if p is None else f"{n}: {p}" for n, p in zip(names, problems)])

    def embed(self, waveforms, lengths=None, *, strict: bool = True) -> torch.Tensor:
        """(B, D) L2-normalised embeddings of (B, T) 16 kHz waveforms (``lengths`` in samples).

        ``strict`` (default) raises :class:`SpeakerInputError` for a clip shorter than 0.5 s,
        silent or non-finite; ``strict=False`` returns zero rows for those instead.
        """
        result = self.embed_batch(waveforms, lengths)
        if strict and not bool(result.valid.all()):
            i = int((~result.valid).nonzero()[0])
            name, problem = result.problems[i].split(": ", 1)
            raise SpeakerInputError(name, problem)
        return result.embeddings

    def embed_file(self, path: str | os.PathLike) -> torch.Tensor:
        """(D,) embedding of one audio file (any format/rate; decoded by :func:`msar_hf.audio.load_audio`)."""
        from .audio import load_audio

        waveform, _ = load_audio(path, sampling_rate=SAMPLING_RATE)
        problem = check_speech(waveform)
        if problem:
            raise SpeakerInputError(path, problem)
        return self._encode_items([waveform])[0]

    def embed_files(self, paths: Iterable[str | os.PathLike], batch_size: int = 8,
                    progress: bool = False) -> SpeakerEmbeddings:
        """Batch mode over files: unreadable, short or silent files are flagged, never raised.

        Files are batched by similar length so little compute goes to padding.
        """
        from .audio import load_audio

        paths = [Path(p) for p in paths]
        waves: list[torch.Tensor | None] = [None] * len(paths)
        problems: list[str | None] = [None] * len(paths)
        emb = torch.zeros(len(paths), self.embedding_dim)
        bar = _progress(len(paths), "embedding", progress)
        for i, p in enumerate(paths):
            try:
                waves[i] = load_audio(p, sampling_rate=SAMPLING_RATE)[0]
                problems[i] = check_speech(waves[i])
            except AudioError as exc:
                problems[i] = exc.problem
            if problems[i] is not None:
                problems[i] = f"{p}: {problems[i]}"
                waves[i] = None
                bar.update(1)
        ok = sorted((i for i in range(len(paths)) if waves[i] is not None), key=lambda i: len(waves[i]))
        for start in range(0, len(ok), batch_size):
            idx = ok[start : start + batch_size]
            emb[idx] = self._encode_items([waves[i] for i in idx])
            for i in idx:
                waves[i] = None  # free memory as we go
            bar.update(len(idx))
        bar.close()
        return SpeakerEmbeddings(emb, torch.tensor([p is None for p in problems]), problems)

    # ----------------------------------------------------------------------------------------
    # comparison
    # ----------------------------------------------------------------------------------------
    @staticmethod
    def similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Cosine similarity along the last dimension ((D,) -> scalar, (B, D) -> (B,)).
        A zero ("no information") embedding scores 0 against anything."""
        return torch.nn.functional.cosine_similarity(torch.as_tensor(a).float(), torch.as_tensor(b).float(),
                                                     dim=-1, eps=1e-8)

    def speaker_similarity(self, reference: torch.Tensor, estimate: torch.Tensor) -> float:
        """Cosine of the embeddings of two 16 kHz waveforms (T,): e.g. reference vs repaired."""
        emb = self.embed_batch(_pad([reference, estimate]), torch.tensor([len(reference), len(estimate)]),
                               names=["<reference>", "<estimate>"])
        if not bool(emb.valid.all()):
            name, problem = next(p for p in emb.problems if p).split(": ", 1)
            raise SpeakerInputError(name, problem)
        return float(self.similarity(emb.embeddings[0], emb.embeddings[1]))

    def __repr__(self) -> str:
        return f"SpeakerEncoder(source={self.source!r}, embedding_dim={self.embedding_dim}, device={self.device})"


def _pad(waves: list[torch.Tensor]) -> torch.Tensor:
    out = torch.zeros(len(waves), max(len(w) for w in waves))
    for i, w in enumerate(waves):
        out[i, : len(w)] = torch.as_tensor(w)
    return out


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="file", disable=not enabled)


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------
def equal_error_rate(scores: Sequence[float], same_speaker: Sequence[bool]) -> tuple[float, float]:
    """Equal error rate of verification trials and the threshold that reaches it (SpeechBrain's EER)."""
    from speechbrain.utils.metric_stats import EER

    s = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    t = torch.as_tensor(np.asarray(same_speaker, dtype=bool))
    if not bool(t.any()) or bool(t.all()):
        raise ValueError("EER needs both same-speaker and different-speaker trials")
    eer, threshold = EER(s[t], s[~t])
    return float(eer), float(threshold)


def all_pair_trials(embeddings: torch.Tensor, speakers: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair (i < j): ``(scores, same_speaker, pair_index (N, 2))``."""
    e = torch.nn.functional.normalize(torch.as_tensor(embeddings).float(), dim=-1)
    sims = (e @ e.T).numpy()
    i, j = np.triu_indices(len(speakers), k=1)
    spk = np.asarray(speakers)
    return sims[i, j], spk[i] == spk[j], np.stack([i, j], 1)
