"""Configuration of the msar repair autoencoder (transformers style).

Flat module that imports nothing from msar_hf, so ``save_pretrained`` can ship it as remote code.
"""

from __future__ import annotations

from transformers import PreTrainedConfig


class MsarAutoencoderConfig(PreTrainedConfig):
    r"""Hyper-parameters of :class:`MsarAutoencoderModel`.

    The model works on a short-time Fourier transform of 16 kHz audio. Each frame's compressed
    complex spectrum is encoded, passed through a recurrent (LSTM) or convolutional bottleneck that
    is FiLM-conditioned on a speaker embedding, and decoded to a complex mask *and* a complex
    mapping: ``Y_c = M * X_c + R`` in the power-compressed domain. The mask repairs what is still
    there (noise, reverberation); the mapping regenerates what is gone (dropouts, missing bands,
    clipped peaks). The decoder head starts as the identity (M = 1, R = 0), so an untrained model
    and a model that has learnt "do no harm" return their input.

    Args:
        sampling_rate: rate of every waveform the model sees (Hz).
        n_fft / hop_length: STFT size and hop in samples (sqrt-Hann analysis/synthesis window).
        compression: exponent c of the magnitude compression ``|X|^c`` used on input and output.
        hidden_size: width of the encoder and of the decoder.
        encoder_layers: frame-wise layers in the encoder.
        bottleneck: ``"lstm"`` (sequence model) or ``"conv"`` (temporal convolutions, no LSTM:
            the ablation's base autoencoder).
        lstm_layers / lstm_hidden_size: LSTM depth and width (per direction).
        conv_kernel_size / conv_layers: temporal convolution stack of the ``"conv"`` bottleneck.
        causal: unidirectional LSTM and left-padded convolutions for streaming use.
        speaker_embedding_dim: size of the L2-normalised speaker embedding (zeros = none).
        use_speaker_conditioning: FiLM layers on the embedding (False ignores the embedding).
        target_rms: ``repair()`` (and ``forward`` with ``normalize_input``) scales the input to this
            RMS before the network and back after, so the model sees one level.
        normalize_input: level normalisation inside ``forward`` (per item, on the valid samples).
        default_strength: the wet/dry mix ``repair()`` applies when no ``strength`` is given
            (``strength * repaired + (1 - strength) * input``). A model trained on little speech
            over-processes voices it never heard; its model card says which mix measured best.
            ``"auto"`` = choose it per recording from how much the full repair changes it
            (``auto_strength`` in postprocessing_msar_autoencoder.py).
        residual_gate: how much ``repair()`` attenuates what stays under the level of the damage it
            removed (the noise floor a repair leaves; ``residual_noise_gate`` in
            postprocessing_msar_autoencoder.py); 0 = off, 0.5 = -6 dB there.
        low_band_comb: how much ``repair()`` lowers what lies between the harmonics of the voice's low
            band where what it removed is noise (``comb_low_band`` in comb_msar_autoencoder.py); 0 = off.
        inference_shifts: at inference (``repair()``, and ``forward`` in eval mode without
            ``labels``) the output is the mean of the repairs of the input delayed by
            ``k * hop_length / inference_shifts`` samples, k = 0..inference_shifts-1: the STFT frame
            grid then falls at that many offsets, and the mean smooths what depends on where it
            falls. 1 = one pass; each shift costs one more pass. Training is always one pass.
        loss_*: weights of the training losses (0 disables a term). ``mrstft`` = multi-resolution
            STFT (spectral convergence + log magnitude), ``sisdr`` = negative SI-SDR in dB,
            ``complex`` = compressed complex-spectrum MSE, ``mse`` = waveform MSE,
            ``loudness`` = L1 between frame loudness curves in dB (aligned with the Q loudness term),
            ``lowband`` = negative SI-SDR of the band below ``lowband_hz`` (aligned with the Q
            pitch term: its WORLD DIO tracker sees only the fundamental's band), ``pesq`` = the
            PESQ disturbance (ITU-T P.862) made differentiable by ``torch-pesq`` (Schmidt, audiolabs;
            training only, from ``pip install 'msar-hf[train]'``): its MOS follows PESQ-WB within 0.02.
            ``periodicity`` = L1 between normalised autocorrelations over the F0 lags in the clean
            speech's voiced frames under 1 kHz (``periodicity_loss``: every voiced frame counts the
            same, quiet or loud, as in Q's pitch term).
        lowband_hz: upper edge of the band the ``lowband`` loss compares.
        mrstft_resolutions: (n_fft, hop, win) triples of the multi-resolution STFT loss.
        mrstft_dynamic_range_db: magnitudes in that loss are floored this many dB below the
            reference's loudest bin (None: the classic absolute 1e-7 floor).
    """

    model_type = "msar_autoencoder"

    def __init__(
        self,
        sampling_rate: int = 16000,
        n_fft: int = 512,
        hop_length: int = 256,
        compression: float = 0.3,
        hidden_size: int = 256,
        encoder_layers: int = 2,
        bottleneck: str = "lstm",
        lstm_layers: int = 2,
        lstm_hidden_size: int = 256,
        conv_kernel_size: int = 5,
        conv_layers: int = 2,
        causal: bool = False,
        speaker_embedding_dim: int = 192,
        use_speaker_conditioning: bool = True,
        target_rms: float = 0.05,
        normalize_input: bool = True,
        default_strength: float | str = 1.0,
        residual_gate: float = 0.0,
        low_band_comb: float = 0.0,
        inference_shifts: int = 1,
        loss_mrstft: float = 1.0,
        loss_sisdr: float = 0.02,
        loss_complex: float = 2.0,
        loss_mse: float = 0.0,
        loss_loudness: float = 0.0,
        loss_lowband: float = 0.0,
        loss_pesq: float = 0.0,
        loss_periodicity: float = 0.0,
        lowband_hz: float = 800.0,
        mrstft_resolutions: list | None = None,
        mrstft_dynamic_range_db: float | None = 60.0,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        if bottleneck not in ("lstm", "conv"):
            raise ValueError(f"bottleneck must be 'lstm' or 'conv', got {bottleneck!r}")
        if n_fft % hop_length:
            raise ValueError("n_fft must be a multiple of hop_length")
        _check_inference_settings(default_strength, residual_gate, low_band_comb, inference_shifts, hop_length)
        self.sampling_rate = sampling_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.compression = compression
        self.hidden_size = hidden_size
        self.encoder_layers = encoder_layers
        self.bottleneck = bottleneck
        self.lstm_layers = lstm_layers
        self.lstm_hidden_size = lstm_hidden_size
        self.conv_kernel_size = conv_kernel_size
        self.conv_layers = conv_layers
        self.causal = causal
        self.speaker_embedding_dim = speaker_embedding_dim
        self.use_speaker_conditioning = use_speaker_conditioning
        self.target_rms = target_rms
        self.normalize_input = normalize_input
        self.default_strength = "auto" if default_strength == "auto" else float(default_strength)
        self.residual_gate = float(residual_gate)
        self.low_band_comb = float(low_band_comb)
        self.inference_shifts = int(inference_shifts)
        self.loss_mrstft = loss_mrstft
        self.loss_sisdr = loss_sisdr
        self.loss_complex = loss_complex
        self.loss_mse = loss_mse
        self.loss_loudness = loss_loudness
        self.loss_lowband = loss_lowband
        self.loss_pesq = loss_pesq
        self.loss_periodicity = loss_periodicity
        self.lowband_hz = lowband_hz
        self.mrstft_resolutions = (
            [list(r) for r in mrstft_resolutions]
            if mrstft_resolutions is not None
            else [[512, 128, 512], [1024, 256, 1024], [256, 64, 256]]
        )
        self.mrstft_dynamic_range_db = mrstft_dynamic_range_db
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    def validate(self):
        """transformers' check before ``save_pretrained`` writes the config. The inference settings are
        checked here again: set on the attribute after ``__init__`` (``model.config.default_strength = 1.5``)
        or passed to ``from_pretrained(..., residual_gate=2)``, which sets attributes, they skipped
        ``__init__``'s checks, and ``save_pretrained`` wrote a folder that ``from_pretrained`` refused."""
        super().validate()
        _check_inference_settings(self.default_strength, self.residual_gate, self.low_band_comb,
                                  self.inference_shifts, self.hop_length)


def _check_inference_settings(default_strength, residual_gate, low_band_comb, inference_shifts, hop_length) -> None:
    """Raise a ValueError naming the first setting ``repair()`` could not use."""

    def number(value) -> float | None:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    strength = None if isinstance(default_strength, str) else number(default_strength)
    if default_strength != "auto" and (strength is None or not 0.0 <= strength <= 1.0):
        raise ValueError(f"default_strength must be in [0, 1] or 'auto', got {default_strength!r}")
    for name, value in (("residual_gate", residual_gate), ("low_band_comb", low_band_comb)):
        if number(value) is None or not 0.0 <= number(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    shifts = number(inference_shifts)
    if shifts is None or not 1 <= shifts <= hop_length or shifts != int(shifts):  # the range first: int(nan) raises
        raise ValueError(f"inference_shifts must be a whole number from 1 to hop_length, got {inference_shifts!r}")


__all__ = ["MsarAutoencoderConfig"]
