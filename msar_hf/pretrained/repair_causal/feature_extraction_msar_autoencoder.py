"""Feature extractor of the msar repair autoencoder: raw audio -> padded ``input_values``.

The model computes its own STFT, so "features" are the waveform itself: mono float32 at the
model's rate, batched with zero padding and an ``attention_mask``. Flat module (no msar_hf
imports) so it ships as remote code.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor


class MsarAutoencoderFeatureExtractor(SequenceFeatureExtractor):
    """Turns one or several waveforms into a padded batch for :class:`MsarAutoencoderModel`.

    Unlike most speech feature extractors it resamples (torchaudio's windowed sinc with a Kaiser
    window, the filter of ``msar_hf.audio.resample``, which the training data went through) when the
    caller passes a different ``sampling_rate``, because repairing 8 kHz telephone audio or a
    44.1 kHz podcast is the normal case, not a mistake.

    Batches are read as transformers' audio feature extractors (Wav2Vec2FeatureExtractor,
    WhisperFeatureExtractor) read them: a list of 1-D waveforms, or a 2-D array or tensor of shape
    (batch, samples), one mono clip per row. The model repairs mono audio, so a (channels, samples)
    stereo array is a batch of its channels, each repaired alone, as ``msar repair`` and the
    speech-repair pipeline repair stereo. What cannot be (batch, samples) is refused with the
    reason: a 2-D array with more rows than samples (a (samples, channels) array, as soundfile
    reads stereo), 3-D input, a multi-channel item inside a list.
    """

    model_input_names = ["input_values", "attention_mask"]  # noqa: RUF012 (transformers API)

    def __init__(self, feature_size: int = 1, sampling_rate: int = 16000, padding_value: float = 0.0, return_attention_mask: bool = True, **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.return_attention_mask = return_attention_mask

    def _to_mono(self, audio, sampling_rate: int | None, where: str = "the input") -> np.ndarray:
        array = audio.numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
        if array.dtype.kind in "iu" and array.dtype.itemsize <= 4:
            # integer PCM (int16 from a wav reader, 8-bit unsigned, ...) -> [-1, 1), as the pipeline
            # reads it; a plain cast gave samples in the thousands
            half = 2.0 ** (8 * array.dtype.itemsize - 1)
            array = (array.astype(np.float64) - (half if array.dtype.kind == "u" else 0.0)) / half
        wave = torch.as_tensor(np.asarray(array, dtype=np.float32))
        if wave.dim() != 1:
            raise ValueError(
                f"{self.__class__.__name__} takes mono audio: {where} has shape {tuple(wave.shape)}; pass "
                "each channel as its own item (they are repaired one by one, as msar repairs stereo) "
                "or a downmix (array.mean(0) for a (channels, samples) array)")
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            import torchaudio.functional as AF

            # Kaiser, as msar repair and the pipeline resample: torchaudio's default (Hann) window
            # gave the same 44.1 kHz file to the model 0.005 apart (remote code: no msar import)
            wave = AF.resample(wave, int(sampling_rate), self.sampling_rate, resampling_method="sinc_interp_kaiser")
        return wave.numpy()

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """Prepare audio.

        Args:
            raw_speech: one mono waveform (1-D array/tensor or list of floats; integer PCM is scaled
                to [-1, 1)), a list of them, or a 2-D array/tensor (batch, samples) with one clip per
                row, as transformers' audio feature extractors take a batch.
            sampling_rate: rate of ``raw_speech``; resampled to ``self.sampling_rate`` if different.
        """
        is_array = isinstance(raw_speech, (np.ndarray, torch.Tensor))
        if is_array and raw_speech.ndim > 2:
            raise ValueError(f"{self.__class__.__name__} takes mono audio, (samples,) or (batch, samples), got "
                             f"shape {tuple(raw_speech.shape)}; pass each channel as its own item or a downmix")
        if is_array and raw_speech.ndim == 2 and raw_speech.shape[0] > raw_speech.shape[1]:
            # read as (batch, samples) this would be thousands of clips of a few samples each
            raise ValueError(
                f"a 2-D array is a batch (batch, samples), got shape {tuple(raw_speech.shape)}: more clips than "
                "samples, which looks like (samples, channels) audio as soundfile reads it; pass array.T to "
                "repair each channel (one row each) or array.mean(1) for a mono downmix")
        is_batched = (is_array and raw_speech.ndim == 2) or (
            isinstance(raw_speech, (list, tuple)) and len(raw_speech) > 0 and not np.isscalar(raw_speech[0]))
        speeches = list(raw_speech) if is_batched else [raw_speech]
        speeches = [self._to_mono(s, sampling_rate, f"item {i}" if is_batched else "the input")
                    for i, s in enumerate(speeches)]
        encoded = BatchFeature({"input_values": speeches})
        return_attention_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        return self.pad(
            encoded,
            padding=padding,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
        )


__all__ = ["MsarAutoencoderFeatureExtractor"]
