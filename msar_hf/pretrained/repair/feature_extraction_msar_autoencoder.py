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

    Unlike most speech feature extractors it resamples (torchaudio's windowed-sinc) when the
    caller passes a different ``sampling_rate``, because repairing 8 kHz telephone audio or a
    44.1 kHz podcast is the normal case, not a mistake. Multi-channel input (C, T) is downmixed.
    """

    model_input_names = ["input_values", "attention_mask"]  # noqa: RUF012 (transformers API)

    def __init__(self, feature_size: int = 1, sampling_rate: int = 16000, padding_value: float = 0.0, return_attention_mask: bool = True, **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.return_attention_mask = return_attention_mask

    def _to_mono(self, audio, sampling_rate: int | None) -> np.ndarray:
        array = audio.numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
        if array.dtype.kind in "iu" and array.dtype.itemsize <= 4:
            # integer PCM (int16 from a wav reader, 8-bit unsigned, ...) -> [-1, 1), as the pipeline
            # reads it; a plain cast gave samples in the thousands
            half = 2.0 ** (8 * array.dtype.itemsize - 1)
            array = (array.astype(np.float64) - (half if array.dtype.kind == "u" else 0.0)) / half
        wave = torch.as_tensor(np.asarray(array, dtype=np.float32))
        if wave.dim() == 2:  # (C, T) or (T, C): average the shorter axis
            wave = wave.mean(0) if wave.shape[0] <= wave.shape[1] else wave.mean(1)
        if wave.dim() != 1:
            raise ValueError(f"expected a (T,) or (C, T) waveform, got shape {tuple(wave.shape)}")
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            import torchaudio.functional as AF

            wave = AF.resample(wave, int(sampling_rate), self.sampling_rate)
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
            raw_speech: one waveform (array/tensor/list of floats; integer PCM is scaled to [-1, 1);
                a 2-D array is one multi-channel clip) or a list of waveforms.
            sampling_rate: rate of ``raw_speech``; resampled to ``self.sampling_rate`` if different.
        """
        is_batched = isinstance(raw_speech, (list, tuple)) and len(raw_speech) > 0 and not np.isscalar(raw_speech[0])
        # A 2-D array or tensor is one multi-channel clip, (C, T) or (T, C), and is downmixed: pass a
        # batch as a list of waveforms.
        speeches = list(raw_speech) if is_batched else [raw_speech]
        speeches = [self._to_mono(s, sampling_rate) for s in speeches]
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
