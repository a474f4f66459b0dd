"""Configuration of MsarMultiSpeaker (text + voice -> mel -> waveform)."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class MsarMultiSpeakerConfig(PretrainedConfig):
    """Hyper-parameters of :class:`MsarMultiSpeakerModel`.

    Text side: a phone embedding, a convolution + BiLSTM encoder, per-phone mel means ``mu``
    used by monotonic alignment search, and a duration predictor. Acoustic side: a BiLSTM
    decoder over the phone states expanded to frames, refining ``mu`` into a log-mel
    spectrogram. Waveform side: a Vocos-style vocoder (ConvNeXt blocks predicting STFT
    magnitude and phase, inverse STFT), or Griffin-Lim as a labelled fallback.

    Speakers: ``speaker_embedding_dim``-d L2-normalised embeddings (ECAPA, from
    ``msar_hf.speaker``); ``speaker_names`` name the rows of the model's speaker table (the mean
    embedding of each training voice), so ``speaker_ids`` select a known voice.
    """

    model_type = "msar_multispeaker"

    def __init__(
        self,
        vocab_size: int = 104,
        pad_token_id: int = 0,
        hidden_size: int = 192,
        encoder_conv_layers: int = 3,
        encoder_kernel_size: int = 5,
        duration_predictor_hidden_size: int = 192,
        decoder_hidden_size: int = 192,
        decoder_lstm_layers: int = 2,
        decoder_reduction: int = 2,
        dropout: float = 0.1,
        speaker_embedding_dim: int = 192,
        speaker_names: list[str] | None = None,
        sampling_rate: int = 16000,
        num_mel_bins: int = 80,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        f_min: float = 0.0,
        f_max: float = 8000.0,
        mel_floor: float = 1e-5,
        vocoder_hidden_size: int = 256,
        vocoder_intermediate_size: int = 768,
        vocoder_layers: int = 6,
        waveform_stage: str = "vocoder",
        griffin_lim_iters: int = 48,
        length_scale: float = 1.0,
        max_frames_per_token: int = 40,
        **kwargs: Any,
    ) -> None:
        if waveform_stage not in ("vocoder", "griffin_lim"):
            raise ValueError(f"waveform_stage must be 'vocoder' or 'griffin_lim', not {waveform_stage!r}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.encoder_conv_layers = encoder_conv_layers
        self.encoder_kernel_size = encoder_kernel_size
        self.duration_predictor_hidden_size = duration_predictor_hidden_size
        self.decoder_hidden_size = decoder_hidden_size
        self.decoder_lstm_layers = decoder_lstm_layers
        self.decoder_reduction = decoder_reduction
        self.dropout = dropout
        self.speaker_embedding_dim = speaker_embedding_dim
        self.speaker_names = list(speaker_names or [])
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.f_min = f_min
        self.f_max = f_max
        self.mel_floor = mel_floor
        self.vocoder_hidden_size = vocoder_hidden_size
        self.vocoder_intermediate_size = vocoder_intermediate_size
        self.vocoder_layers = vocoder_layers
        self.waveform_stage = waveform_stage
        self.griffin_lim_iters = griffin_lim_iters
        self.length_scale = length_scale
        self.max_frames_per_token = max_frames_per_token
        super().__init__(pad_token_id=pad_token_id, **kwargs)


__all__ = ["MsarMultiSpeakerConfig"]
