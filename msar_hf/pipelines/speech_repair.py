"""The ``"speech-repair"`` pipeline: damaged audio in, repaired audio out at the input's rate.

Accepted inputs: a file path (any format :func:`msar_hf.audio.load_audio` reads), encoded bytes,
a 1-D/2-D array with ``sampling_rate=...``, a dict ``{"array"|"raw": ..., "sampling_rate": ...}``
(the datasets 2-3 ``Audio`` feature layout), or an item of a datasets ``Audio`` column (datasets >= 4:
a torchcodec ``AudioDecoder``; ``KeyDataset(ds, "audio")`` streams a column); integer PCM arrays
are scaled to [-1, 1]. Stereo is
repaired per channel. Above 16 kHz the input's band over 8 kHz, which the model never sees, comes
back at the gain the repair applied just below it (:mod:`msar_hf.fullband`; ``upper_band=False``
leaves it empty). ``loudness=-16`` (LUFS, ITU-R BS.1770) or ``loudness="input"`` brings the output to
that integrated loudness, as ``msar repair --loudness`` does (float samples, no limiter). Output:
``{"audio": np.ndarray (T,) or (C, T), "sampling_rate": int}``.
"""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np
import torch
from transformers import Pipeline

from ..audio import dataset_audio, load_audio, resample
from ..fullband import add_upper_band
from ..loudness import parse_loudness, to_loudness


def _as_float_tensor(array) -> torch.Tensor:
    """float32 samples in [-1, 1]: integer PCM (int16 as soundfile/scipy read it) is scaled by
    its type's full scale instead of reaching the model as values in the thousands."""
    data = np.asarray(array)
    if np.issubdtype(data.dtype, np.unsignedinteger):  # 8-bit WAV: unsigned, centred on 128
        half = (float(np.iinfo(data.dtype).max) + 1.0) / 2.0
        data = (data.astype(np.float64) - half) / half
    elif np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float64) / float(-np.iinfo(data.dtype).min)
    return torch.as_tensor(np.asarray(data, dtype=np.float32))


class SpeechRepairPipeline(Pipeline):
    """Wraps :meth:`MsarAutoencoderModel.repair` (chunked, any length) for one recording per call."""

    _load_processor = False
    _load_image_processor = False
    # Not loaded: preprocess resamples and downmixes itself, and loading one first made a wrong
    # model (the synthesis model, say) fail as "Can't load feature extractor" instead of below.
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not callable(getattr(self.model, "repair", None)):
            raise ValueError(  # noqa: TRY004 (transformers raises ValueError for a wrong model)
                f"the speech-repair pipeline needs an msar repair model (model_type msar_autoencoder), "
                f"got {type(self.model).__name__} ({getattr(self.model.config, 'model_type', '?')})")

    def __call__(self, inputs, *args, batch_size=None, **kwargs):
        # One recording at a time whatever batch_size says: repair() chunks each one itself, and
        # transformers' batching padded the items into one tensor, which changed the repair of the
        # shorter ones (trailing zeros), kept only the first channel of stereo ones and crashed on
        # a batch mixing channel counts.
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], numbers.Number):
            # transformers reads a list as a batch: each number became a recording of its own
            # ("expected (T,) or (C, T) audio, got shape ()")
            raise ValueError(f"got a list of {len(inputs)} numbers: pass one recording as a numpy array or a "
                             "tensor (a list is a batch of recordings)")
        return super().__call__(inputs, *args, batch_size=1, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """Save the model (config with its ``auto_map``, remote code, weights) and its feature
        extractor, so ``pipeline("speech-repair", model=save_directory)`` rebuilds this pipeline.

        transformers' own method also copies a registered pipeline's module next to the weights as
        remote code (``custom_pipelines``), but this module imports msar_hf (decoding, resampling,
        the band above 8 kHz) and cannot stand alone: the copy crashed on its relative imports
        (FileNotFoundError '.../pipelines/.fullband.py'), and with it ``push_to_hub``.
        """
        from ..models.autoencoder import MsarAutoencoderFeatureExtractor

        if os.path.isfile(save_directory):
            raise ValueError(f"{save_directory} is a file; save_pretrained writes a folder")
        os.makedirs(save_directory, exist_ok=True)
        self.model.save_pretrained(save_directory, **kwargs)
        # not loaded by the pipeline (see _load_feature_extractor), but AutoFeatureExtractor users
        # of the folder need it; it holds nothing but the model's rate
        MsarAutoencoderFeatureExtractor(sampling_rate=self.model.config.sampling_rate).save_pretrained(save_directory)

    #: what _forward (model.repair) takes, by keyword or in forward_params={...}
    _FORWARD_KEYS = ("speaker_embedding", "strength", "chunk_seconds", "progress", "residual_gate", "low_band_comb")

    def _sanitize_parameters(self, sampling_rate=None, upper_band=None, loudness=None, forward_params=None, **kwargs):
        # forward_params={...} is how transformers' audio pipelines take model options; an unknown
        # name (a typo such as strenght=0.5) used to be dropped silently and the default repair ran
        forward_params = {**(forward_params or {}), **kwargs}
        unknown = sorted(set(forward_params) - set(self._FORWARD_KEYS))
        if unknown:
            raise TypeError(f"the speech-repair pipeline got unknown option(s) {', '.join(unknown)}; it takes "
                            f"sampling_rate, upper_band, loudness, {', '.join(self._FORWARD_KEYS)}")
        preprocess = {} if sampling_rate is None else {"sampling_rate": sampling_rate}
        forward = {k: v for k, v in forward_params.items() if v is not None}
        postprocess = {} if upper_band is None else {"upper_band": bool(upper_band)}
        if loudness is not None:  # checked here, before the repair's work
            postprocess["loudness"] = parse_loudness(loudness, "loudness")
        return preprocess, forward, postprocess

    def preprocess(self, inputs, sampling_rate: int | None = None):
        if isinstance(inputs, (str, os.PathLike, bytes, bytearray)):
            wave, rate = load_audio(inputs, sampling_rate=None, mono=False)
        elif (decoded := dataset_audio(inputs)) is not None:  # a datasets Audio item, at the column's rate
            wave, rate = decoded
        elif isinstance(inputs, dict):
            array = inputs.get("array", inputs.get("raw"))
            rate = inputs.get("sampling_rate", sampling_rate)
            if array is None or rate is None:
                raise ValueError("a dict input needs 'array' (or 'raw') and 'sampling_rate'")
            wave = _as_float_tensor(array)
        else:
            if sampling_rate is None:
                raise ValueError("pass sampling_rate=... with an array input")
            wave, rate = _as_float_tensor(inputs), sampling_rate
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        if wave.dim() != 2:
            raise ValueError(f"expected (T,) or (C, T) audio, got shape {tuple(wave.shape)}")
        if wave.numel() == 0:
            raise ValueError(f"the audio is empty (shape {tuple(wave.shape)}): nothing to repair")
        if wave.shape[0] > wave.shape[1]:  # (T, C), as soundfile returns it: ambiguous, refuse it
            raise ValueError(f"expected (channels, samples) audio, got shape {tuple(wave.shape)}: "
                             "more channels than samples; pass array.T for a (samples, channels) array")
        model_rate = self.model.config.sampling_rate
        channels = resample(wave, int(rate), model_rate) if int(rate) != model_rate else wave
        return {"channels": channels, "rate": int(rate), "length": wave.shape[-1], "original": wave}

    def _forward(self, model_inputs, speaker_embedding=None, strength: float | str | None = None, chunk_seconds: float = 8.0,
                 progress: bool = False, residual_gate: float | None = None, low_band_comb: float | None = None):
        # None: the model's own default_strength / residual_gate / low_band_comb, as repair() and
        # `msar repair` apply them
        repaired = [
            self.model.repair(ch, speaker_embedding=speaker_embedding, strength=strength, chunk_seconds=chunk_seconds,
                              progress=progress, residual_gate=residual_gate, low_band_comb=low_band_comb)
            for ch in model_inputs["channels"]
        ]
        return {"channels": torch.stack(repaired), "rate": model_inputs["rate"], "length": model_inputs["length"],
                "original": model_inputs["original"], "damaged": model_inputs["channels"]}

    def postprocess(self, model_outputs, upper_band: bool = True, loudness: float | str | None = None):
        model_rate = self.model.config.sampling_rate
        out = model_outputs["channels"]
        if model_outputs["rate"] != model_rate:
            out = resample(out, model_rate, model_outputs["rate"])
        out = out[..., : model_outputs["length"]]
        if out.shape[-1] < model_outputs["length"]:  # resampling can round one sample short
            out = torch.nn.functional.pad(out, (0, model_outputs["length"] - out.shape[-1]))
        if upper_band and model_outputs["rate"] != model_rate:  # as `msar repair` (msar_hf.fullband)
            out = add_upper_band(out, model_outputs["original"].to(out), model_outputs["rate"],
                                 model_outputs["damaged"].to(out), model_outputs["channels"].to(out), model_rate)
        if loudness is not None:
            out, _, warning = to_loudness(out, model_outputs["rate"], loudness, model_outputs["original"].to(out))
            if warning:
                warnings.warn(warning, UserWarning, stacklevel=2)
        audio = out[0] if out.shape[0] == 1 else out
        return {"audio": audio.cpu().numpy(), "sampling_rate": model_outputs["rate"]}
