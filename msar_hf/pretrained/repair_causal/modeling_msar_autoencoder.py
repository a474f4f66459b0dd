"""The msar repair autoencoder: damaged 16 kHz speech in, repaired speech out.

Flat module (relative imports only, nothing else from msar_hf) so ``save_pretrained`` ships it as
remote code. Design, measured in DESIGN.md "Measured before you start": a 512-point STFT with a
complex mask plus a complex mapping in the power-compressed domain beat the public baselines on
clipping and dropouts; here the bottleneck is an LSTM (bidirectional offline, unidirectional when
``config.causal``), conditioned with FiLM on a speaker embedding.

The STFT and its inverse are written as (transposed) convolutions with a fixed DFT basis instead
of ``torch.stft``/``torch.istft``: the same numbers, but real-valued tensors only, which ONNX
export and every accelerator backend handle, and no complex dtype on the hot path. Inference on a
CPU (no autograd, no export) takes the same transforms through ``torch.fft`` instead: a dense DFT
costs 512 multiply-adds per bin and sample where the FFT costs a few, and the two convolutions were
a tenth of a repair's time on a CPU thread (the same numbers to 1e-6 of the signal's peak).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .comb_msar_autoencoder import comb_low_band
from .configuration_msar_autoencoder import MsarAutoencoderConfig
from .postprocessing_msar_autoencoder import RemovedNoise, auto_strength, residual_noise_gate

_EPS = 1e-8


@dataclass
class MsarAutoencoderOutput(ModelOutput):
    """Output of :class:`MsarAutoencoderModel`.

    Args:
        waveform: (B, T) repaired audio, same length and rate as ``input_values``.
        loss: scalar training loss (only when ``labels`` are given).
        loss_terms: the weighted loss terms by name (only when ``labels`` are given).
        spectrum: (B, 2, F, frames) real/imag STFT of the repaired (level-normalised) signal.
        hidden_states: (only with ``output_hidden_states=True``) a tuple of (B, frames, hidden_size)
            frame states, ``config.encoder_layers + 2`` of them: the output of each encoder block,
            the bottleneck's output (after the speaker FiLM: what the decoder reads) and the
            decoder's output (what the mask/mapping head reads). With ``config.inference_shifts``
            > 1 they are those of the unshifted pass; in a padded batch each item's are its own
            (as alone), zero over its padding.
    """

    waveform: torch.FloatTensor | None = None
    loss: torch.FloatTensor | None = None
    loss_terms: dict | None = None
    spectrum: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


# ----------------------------------------------------------------------------------------------
# STFT as convolution (see module docstring for why not torch.stft)
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _dft_bases(n_fft: int, device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Analysis basis (2F, 1, N), synthesis basis (2F, 1, N) and the squared window (1, 1, N)."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft))  # sqrt periodic Hann: WOLA at 50%
    angle = 2 * np.pi * np.outer(k, n) / n_fft
    analysis = np.concatenate([np.cos(angle), -np.sin(angle)]) * window
    scale = np.full(len(k), 2.0 / n_fft)
    scale[0] = scale[-1] = 1.0 / n_fft
    synthesis = np.concatenate([np.cos(angle) * scale[:, None], -np.sin(angle) * scale[:, None]]) * window
    with torch.inference_mode(False):  # cached tensors must also serve later autograd calls
        as_t = lambda a: torch.tensor(a, dtype=dtype, device=device).unsqueeze(1)
        return as_t(analysis), as_t(synthesis), as_t((window**2)[None])


def _fft_inference(tensor: torch.Tensor) -> bool:
    """Whether :func:`stft` / :func:`istft` may take ``torch.fft``: CPU inference only, so training
    (its gradients, its bit-for-bit retraining), ONNX export and accelerators keep the convolutions."""
    return (tensor.device.type == "cpu" and tensor.dtype == torch.float32 and not torch.is_grad_enabled()
            and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export())


def stft(waveform: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, T) -> (B, 2, F, frames) real/imag spectrum (centred frames, sqrt-Hann window).

    frames = ceil(T / hop) + 1: the last samples are fully covered. The right padding is the same
    for every length (the stride drops what no frame reaches), so nothing here depends on T as a
    Python integer and an exported graph keeps a symbolic length.
    """
    padded = F.pad(waveform.unsqueeze(1), (n_fft // 2, n_fft // 2 + hop - 1))
    if _fft_inference(waveform):
        window = _dft_bases(n_fft, str(waveform.device), waveform.dtype)[2].flatten().sqrt()
        spec = torch.fft.rfft(padded[:, 0].unfold(-1, n_fft, hop) * window, dim=-1).transpose(1, 2)
        return torch.stack([spec.real, spec.imag], dim=1)
    analysis, _, _ = _dft_bases(n_fft, str(waveform.device), waveform.dtype)
    spec = F.conv1d(padded, analysis, stride=hop)  # (B, 2F, frames)
    return spec.unflatten(1, (2, n_fft // 2 + 1))


def istft(spec: torch.Tensor, length: int, n_fft: int, hop: int) -> torch.Tensor:
    """(B, 2, F, frames) -> (B, length): weighted overlap-add, exact inverse of :func:`stft`."""
    _, synthesis, window_sq = _dft_bases(n_fft, str(spec.device), spec.dtype)
    if _fft_inference(spec):
        window_sq = window_sq.flatten()
        frames = torch.fft.irfft(torch.complex(spec[:, 0], spec[:, 1]).transpose(1, 2), n=n_fft, dim=-1)
        frames = (frames * window_sq.sqrt()).transpose(1, 2)  # (B, n_fft, frames)
        size, kernel, stride = (1, (spec.shape[-1] - 1) * hop + n_fft), (1, n_fft), (1, hop)
        out = F.fold(frames, size, kernel, stride=stride)[:, 0, 0]
        envelope = F.fold(window_sq[None, :, None].expand(1, n_fft, spec.shape[-1]), size, kernel, stride=stride)[0, 0, 0]
        return (out / envelope.clamp_min(1e-6))[:, n_fft // 2:][..., :length]
    out = F.conv_transpose1d(spec.flatten(1, 2), synthesis, stride=hop)
    # The window envelope over as many frames as ``spec`` has, built from ``spec`` itself (not from
    # its shape as a Python integer, which an ONNX export would freeze at the example's length).
    ones = spec[:1, 0, :1, :] * 0.0 + 1.0
    envelope = F.conv_transpose1d(ones, window_sq, stride=hop)
    out = out / envelope.clamp_min(1e-6)
    return out[:, 0, n_fft // 2 :][..., :length]


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------
def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, cap_db: float | None = None) -> torch.Tensor:
    """Scale-invariant SDR in dB per item, (B, T) x (B, T) -> (B,).

    ``cap_db`` softly saturates the value (Wisdom et al. 2020's thresholded SDR): as a loss on
    near-perfect items (clean input) the plain log ratio has exploding gradients.
    """
    estimate = estimate - estimate.mean(-1, keepdim=True)
    reference = reference - reference.mean(-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + _EPS)
    target = scale * reference
    noise = estimate - target
    target_energy = target.pow(2).sum(-1)
    noise_energy = noise.pow(2).sum(-1)
    if cap_db is not None:
        noise_energy = noise_energy + 10 ** (-cap_db / 10) * target_energy
    return 10 * torch.log10((target_energy + _EPS) / (noise_energy + _EPS))


@lru_cache(maxsize=4)
def _pesq_disturbance(sampling_rate: int, device: str):
    """torch-pesq's PesqLoss, built once per rate and device. Imported here, not at the top: only
    training with ``loss_pesq`` needs it, and remote code must load without it."""
    try:
        from torch_pesq import PesqLoss
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("config.loss_pesq needs torch-pesq: pip install 'msar-hf[train]' (or torch-pesq)") from error
    return PesqLoss(1.0, sample_rate=sampling_rate).to(device)


def pesq_loss(estimate: torch.Tensor, reference: torch.Tensor, sampling_rate: int) -> torch.Tensor:
    """Mean PESQ disturbance (P.862's 0.1 * symmetric + 0.0309 * asymmetric, before its MOS
    mapping) of (B, T) ``estimate`` against ``reference``; 0 is transparent.

    PESQ levels both signals to a fixed power first, so a (near-)silent item has no score: items
    whose reference or estimate is under -80 dBFS RMS are left out (and a batch of only those
    gives 0).
    """
    audible = (reference.pow(2).mean(-1) > 1e-8) & (estimate.detach().pow(2).mean(-1) > 1e-8)
    if not bool(audible.any()):
        return estimate.sum() * 0.0
    disturbance = _pesq_disturbance(sampling_rate, str(estimate.device))
    return disturbance(reference[audible], estimate[audible]).mean()


def multi_resolution_stft_loss(estimate: torch.Tensor, reference: torch.Tensor, resolutions,
                               dynamic_range_db: float | None = 60.0) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over STFT resolutions (Yamamoto et al. 2020).

    ``dynamic_range_db`` floors both magnitudes at that many dB below the reference's loudest bin.
    Measured on our data, the usual absolute floor (1e-7) let inaudible residue dominate the loss:
    white noise at -74 dB cost 0.95 on an 8 kHz FSDD clip (empty upper band) vs 0.01 on kathleen,
    so training mostly learnt to empty the upper band. With a 60 dB range both cost ~0.001.
    """
    total = estimate.new_zeros(())
    for n_fft, hop, win in resolutions:
        window = torch.hann_window(win, device=estimate.device, dtype=estimate.dtype)
        est, ref = (torch.stft(x, n_fft, hop, win, window, return_complex=True).abs() for x in (estimate, reference))
        if dynamic_range_db is None:
            floor = torch.full_like(ref[..., :1, :1], 1e-7)
        else:
            floor = ref.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-7) * 10 ** (-dynamic_range_db / 20)
        est, ref = torch.maximum(est, floor), torch.maximum(ref, floor)
        convergence = torch.linalg.norm(ref - est, dim=(-2, -1)) / (torch.linalg.norm(ref, dim=(-2, -1)) + 1e-7)
        log_mag = (ref.log() - est.log()).abs().mean(dim=(-2, -1))
        total = total + convergence.mean() + log_mag.mean()
    return total / len(resolutions)


def compressed_spectrum_loss(estimate: torch.Tensor, reference: torch.Tensor, c: float) -> torch.Tensor:
    """MSE of power-compressed magnitudes + compressed complex spectra ((B, 2, F, frames) each)."""
    est_c = _compress(estimate, c)
    ref_c = _compress(reference, c)
    mag = lambda s: s.pow(2).sum(1).add(1e-12).sqrt()
    return F.mse_loss(mag(est_c), mag(ref_c)) + F.mse_loss(est_c, ref_c)


def band_limit(waveform: torch.Tensor, cutoff_hz: torch.Tensor, sampling_rate: int) -> torch.Tensor:
    """Zero every frequency above each item's ``cutoff_hz`` ((B, T), (B,) -> (B, T)).

    Used on the estimate when a training target is band-limited by its recording (FSDD is 8 kHz
    native, a slowed-down pseudo-speaker loses its top band): the loss then says nothing about
    that band instead of teaching the model to empty it. By hand: a one-line FFT mask.
    """
    spectrum = torch.fft.rfft(waveform)
    freqs = torch.fft.rfftfreq(waveform.shape[-1], 1.0 / sampling_rate).to(waveform.device)
    mask = (freqs[None, :] <= cutoff_hz.to(waveform.dtype)[:, None]).to(spectrum.dtype)
    return torch.fft.irfft(spectrum * mask, n=waveform.shape[-1])


def periodicity_loss(estimate: torch.Tensor, reference: torch.Tensor, sampling_rate: int,
                     band_hz: float = 1000.0, f0_range_hz: tuple[float, float] = (60.0, 400.0),
                     voiced_threshold: float = 0.5) -> torch.Tensor:
    """L1 between the normalised autocorrelations of estimate and reference over the F0 lags, in the
    reference's voiced frames of the band under ``band_hz`` (40 ms frames, 10 ms hop).

    Q's pitch term counts a voiced frame the repair leaves unvoiced as a 0 Hz pitch. Under noise
    the repair lost F0 in 27 % of the clean speech's voiced frames, DeepFilterNet3 in 14 %
    (benchmarks/bench_noise_pitch.py): weak voiced frames left under noise. The waveform and
    spectral losses weigh such frames by their energy, i.e. little; a normalised autocorrelation
    weighs every voiced frame the same, quiet or loud, and says what a pitch tracker sees (how
    periodic, at which lag). By hand: no library has a differentiable voicing measure.
    """
    cutoff = estimate.new_full((estimate.shape[0],), band_hz)
    est = band_limit(estimate, cutoff, sampling_rate)
    ref = band_limit(reference, cutoff, sampling_rate)
    frame, hop = int(0.04 * sampling_rate), int(0.01 * sampling_rate)
    window = torch.hann_window(frame, device=est.device, dtype=est.dtype)
    lags = slice(int(sampling_rate / f0_range_hz[1]), int(sampling_rate / f0_range_hz[0]) + 1)

    def autocorrelation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per frame: the autocorrelation (lag 0 first) and the frame's energy (its lag 0)."""
        frames = x.unfold(-1, frame, hop) * window  # (B, frames, frame)
        power = torch.fft.rfft(frames, n=2 * frame).abs().pow(2)
        acf = torch.fft.irfft(power, n=2 * frame)[..., :frame]
        return acf, acf[..., :1]

    ref_acf, ref_energy = autocorrelation(ref)
    est_acf, est_energy = autocorrelation(est)
    # frames 40 dB or more under the item's loudest are silence, not weak voice
    floor = ref_energy.amax(dim=1, keepdim=True) * 1e-4
    ref_norm = ref_acf[..., lags] / (ref_energy + floor)
    est_norm = est_acf[..., lags] / (est_energy + floor)
    voiced = (ref_norm.amax(-1) > voiced_threshold) & (ref_energy[..., 0] > floor[..., 0])
    if not bool(voiced.any()):
        return estimate.sum() * 0.0
    return (est_norm - ref_norm).abs().mean(-1)[voiced].mean()


def frame_loudness_db(waveform: torch.Tensor, frame: int = 320) -> torch.Tensor:
    """Frame energy in dB (B, frames), 20 ms frames: the loudness contour the Q metric compares."""
    length = waveform.shape[-1] // frame * frame
    frames = waveform[..., :length].unflatten(-1, (-1, frame))
    return 10 * torch.log10(frames.pow(2).mean(-1) + 1e-7)


def _compress(spec: torch.Tensor, c: float) -> torch.Tensor:
    """|X|^c e^{j phase(X)} on a (B, 2, F, frames) real/imag spectrum."""
    mag_sq = spec.pow(2).sum(1, keepdim=True) + 1e-12
    return spec * mag_sq.pow((c - 1) / 2)


def _decompress(spec_c: torch.Tensor, c: float) -> torch.Tensor:
    mag_sq = spec_c.pow(2).sum(1, keepdim=True) + 1e-12
    return spec_c * mag_sq.pow((1 / c - 1) / 2)


# ----------------------------------------------------------------------------------------------
# network blocks
# ----------------------------------------------------------------------------------------------
class ZeroInitLinear(nn.Linear):
    """A linear layer that starts at zero: residual branches and FiLM begin as the identity."""


class FiLM(nn.Module):
    """Feature-wise linear modulation by a speaker embedding: h * (1 + gamma(e)) + beta(e).

    Zero-initialised, so a fresh model (and a zero "no speaker" embedding) leaves h unchanged.
    """

    def __init__(self, embedding_dim: int, hidden_size: int):
        super().__init__()
        self.proj = ZeroInitLinear(embedding_dim, 2 * hidden_size)

    def forward(self, hidden: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(embedding).unsqueeze(1).chunk(2, dim=-1)
        return hidden * (1 + gamma) + beta


class ConvBottleneck(nn.Module):
    """Temporal convolutions with residuals: the 'no LSTM' base autoencoder of the ablation."""

    def __init__(self, config: MsarAutoencoderConfig):
        super().__init__()
        k = config.conv_kernel_size
        self.causal = config.causal
        self.pad = (k - 1, 0) if config.causal else ((k - 1) // 2, k // 2)
        self.convs = nn.ModuleList(nn.Conv1d(config.hidden_size, config.hidden_size, k) for _ in range(config.conv_layers))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = hidden.transpose(1, 2)
        for conv in self.convs:
            x = x + F.gelu(conv(F.pad(x, self.pad)))
        return x.transpose(1, 2)


class LstmBottleneck(nn.Module):
    """(Bi)LSTM over frames with a residual projection back to hidden_size."""

    def __init__(self, config: MsarAutoencoderConfig):
        super().__init__()
        bidirectional = not config.causal
        self.lstm = nn.LSTM(
            config.hidden_size,
            config.lstm_hidden_size,
            num_layers=config.lstm_layers,
            batch_first=True,
            bidirectional=bidirectional,
        )
        self.proj = ZeroInitLinear(config.lstm_hidden_size * (2 if bidirectional else 1), config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(hidden)
        return hidden + self.proj(out)


class MaskMappingHead(nn.Linear):
    """Decodes a complex mask M and a complex mapping R per bin; initialised to M = 1, R = 0."""

    def __init__(self, hidden_size: int, freq_bins: int):
        super().__init__(hidden_size, 4 * freq_bins)
        self.freq_bins = freq_bins

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # (B, frames, 4F) -> mask (B, 2, F, frames), mapping (B, 2, F, frames)
        out = super().forward(hidden).transpose(1, 2).unflatten(1, (2, 2, self.freq_bins))
        return out[:, 0], out[:, 1]


def _frame_block(in_size: int, out_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_size, out_size), nn.LayerNorm(out_size), nn.GELU())


class MsarAutoencoderPreTrainedModel(PreTrainedModel):
    config_class = MsarAutoencoderConfig
    config: MsarAutoencoderConfig
    base_model_prefix = "msar_autoencoder"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, MaskMappingHead):
            # identity start: mask real part 1, everything else 0 -> output == input
            init.zeros_(module.weight)
            bias = torch.zeros(4 * module.freq_bins)
            bias[: module.freq_bins] = 1.0
            init.copy_(module.bias, bias)
        elif isinstance(module, ZeroInitLinear):
            init.zeros_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            # Xavier keeps activations O(1) through the frame-wise stack better than N(0, 0.02).
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            init.zeros_(module.bias)
        else:
            super()._init_weights(module)


class MsarAutoencoderModel(MsarAutoencoderPreTrainedModel):
    """STFT encoder -> (Bi)LSTM bottleneck with speaker FiLM -> complex mask + mapping decoder."""

    def __init__(self, config: MsarAutoencoderConfig):
        super().__init__(config)
        freq_bins = config.n_fft // 2 + 1
        self.freq_bins = freq_bins
        blocks = [_frame_block(3 * freq_bins, config.hidden_size)]
        blocks += [_frame_block(config.hidden_size, config.hidden_size) for _ in range(config.encoder_layers - 1)]
        self.encoder = nn.Sequential(*blocks)
        self.film_in = FiLM(config.speaker_embedding_dim, config.hidden_size) if config.use_speaker_conditioning else None
        self.bottleneck = LstmBottleneck(config) if config.bottleneck == "lstm" else ConvBottleneck(config)
        self.film_out = FiLM(config.speaker_embedding_dim, config.hidden_size) if config.use_speaker_conditioning else None
        self.decoder = _frame_block(config.hidden_size, config.hidden_size)
        self.head = MaskMappingHead(config.hidden_size, freq_bins)
        self.post_init()

    # -- core -------------------------------------------------------------------------------
    def _speaker(self, speaker_embeddings: torch.Tensor | None, batch: int, like: torch.Tensor) -> torch.Tensor:
        dim = self.config.speaker_embedding_dim
        if speaker_embeddings is None:
            return like.new_zeros(batch, dim)
        emb = speaker_embeddings.to(device=like.device, dtype=like.dtype)
        if emb.dim() == 1:
            emb = emb.unsqueeze(0)
        if emb.shape[-1] != dim:
            raise ValueError(f"speaker embeddings must have {dim} features, got {tuple(emb.shape)}")
        return emb.expand(batch, dim) if emb.shape[0] == 1 else emb

    def _enhance(self, waveform: torch.Tensor, speaker: torch.Tensor,
                 hidden_states: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Level-normalised (B, T) -> repaired (B, T) and its (B, 2, F, frames) spectrum.

        ``hidden_states``: a list to append the frame states to (see :class:`MsarAutoencoderOutput`).
        """
        cfg = self.config
        # The spectral path runs in float32 whatever the weights' dtype (only the layers run in it):
        # in float16 the floors below (1e-10, 1e-12) round to 0 and silent bins gave NaN; and a
        # float32 batch from the feature extractor then works with half-precision weights too.
        in_dtype, net_dtype = waveform.dtype, self.head.weight.dtype
        waveform, speaker = waveform.float(), speaker.to(net_dtype)
        spec = stft(waveform, cfg.n_fft, cfg.hop_length)
        spec_c, hidden = self._frame_features(spec)
        for block in self.encoder:  # self.encoder(...), block by block for the hidden states
            hidden = block(hidden)
            if hidden_states is not None:
                hidden_states.append(hidden)
        if self.film_in is not None:
            hidden = self.film_in(hidden, speaker)
        hidden = self.bottleneck(hidden)
        if self.film_out is not None:
            hidden = self.film_out(hidden, speaker)
        decoded = self.decoder(hidden)
        if hidden_states is not None:
            hidden_states.extend((hidden, decoded))
        out_spec = self._masked_spectrum(spec_c, decoded)
        return istft(out_spec, waveform.shape[-1], cfg.n_fft, cfg.hop_length).to(in_dtype), out_spec.to(in_dtype)

    def _frame_features(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2, F, frames) spectrum -> its compressed copy and the (B, frames, 3F) encoder input
        (compressed real and imaginary parts, scaled log power), frame by frame: a live runner
        (msar_hf.streaming) feeds frames through here as they arrive."""
        spec_c = _compress(spec, self.config.compression)
        log_mag = 0.1 * torch.log(spec.pow(2).sum(1) + 1e-10)  # (B, F, frames), ~[-2, 1]
        features = torch.cat([spec_c[:, 0], spec_c[:, 1], log_mag], dim=1).transpose(1, 2)
        return spec_c, features.to(self.head.weight.dtype)

    def _masked_spectrum(self, spec_c: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """The repaired (B, 2, F, frames) spectrum: the head's complex mask M times the compressed
        input X_c, plus its complex mapping R, decompressed; frame by frame like _frame_features."""
        mask, mapping = (t.float() for t in self.head(decoded))
        re = mask[:, 0] * spec_c[:, 0] - mask[:, 1] * spec_c[:, 1] + mapping[:, 0]
        im = mask[:, 0] * spec_c[:, 1] + mask[:, 1] * spec_c[:, 0] + mapping[:, 1]
        return _decompress(torch.stack([re, im], dim=1), self.config.compression)

    def _enhance_shift_averaged(self, waveform: torch.Tensor, speaker: torch.Tensor,
                                hidden_states: list | None = None) -> torch.Tensor:
        """Level-normalised (B, T) -> (B, T): the mean repair over ``config.inference_shifts`` offsets.

        Each copy of the input is delayed by ``k * hop / n`` samples, so the STFT frames of the n
        passes fall on n different grids. Averaging the aligned outputs removes what depends on
        where the grid falls (on the dev sets, 2 offsets lowered Q and raised PESQ-WB on clean
        input; see the model card). One pass per offset, not one batched call: on CPU the LSTM
        runs a batch of 2 slower than two batches of 1 (measured 0.18 vs 0.12 s per 8 s chunk).
        ``hidden_states`` gets the unshifted pass's frame states.
        """
        n = int(getattr(self.config, "inference_shifts", 1))
        length = waveform.shape[-1]
        total = self._enhance(waveform, speaker, hidden_states)[0]
        for k in range(1, n):
            offset = k * self.config.hop_length // n
            total = total + self._enhance(F.pad(waveform, (offset, 0)), speaker)[0][..., offset:offset + length]
        return total / n if n > 1 else total

    def _level_gain(self, waveform: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, 1) gain that brings each item's RMS over valid samples to ``config.target_rms``."""
        if attention_mask is None:
            power = waveform.pow(2).mean(-1, keepdim=True)
        else:
            m = attention_mask.to(waveform.dtype)
            power = (waveform.pow(2) * m).sum(-1, keepdim=True) / m.sum(-1, keepdim=True).clamp_min(1)
        # Floor at -74 dBFS so digital silence is not blown up into the model's working range.
        return self.config.target_rms / power.sqrt().clamp_min(2e-4)

    def forward(
        self,
        input_values: torch.Tensor,
        speaker_embeddings: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        labels_bandwidth: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MsarAutoencoderOutput | tuple:
        """Repair a batch.

        Args:
            input_values: (B, T) or (T,) damaged audio at ``config.sampling_rate``.
            speaker_embeddings: (B, D) or (D,) L2-normalised speaker embeddings; None = zeros.
            attention_mask: (B, T) 1 on valid samples (padded positions are zeroed in the output
                and ignored by the level normalisation and the loss).
            labels: (B, T) clean target audio; when given, ``loss`` and ``loss_terms`` are set.
            labels_bandwidth: (B,) the highest frequency (Hz) each target really contains; the
                loss ignores the estimate above it (see :func:`band_limit`). None = full band.
            output_hidden_states: return the frame states as ``hidden_states`` (see
                :class:`MsarAutoencoderOutput`); None = ``config.output_hidden_states``.
            return_dict: False returns a tuple of the output's fields that are set, in order
                (``waveform`` first); None = ``config.return_dict``.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if output_hidden_states is None:
            output_hidden_states = bool(getattr(self.config, "output_hidden_states", False))
        hidden_states = [] if output_hidden_states else None
        if input_values.dim() == 1:
            input_values = input_values.unsqueeze(0)
            labels = labels.unsqueeze(0) if labels is not None and labels.dim() == 1 else labels
        x = input_values
        if attention_mask is not None:
            x = x * attention_mask.to(x.dtype)
        gain = self._level_gain(x, attention_mask) if self.config.normalize_input else x.new_ones(x.shape[0], 1)
        speaker = self._speaker(speaker_embeddings, x.shape[0], x)
        padded = attention_mask is not None and not bool(attention_mask.bool().all())
        if labels is None and not self.training and padded:
            # Inference on a padded batch: each item on its own valid samples, so it comes out as it
            # would alone (over the padding, the BiLSTM changed a short item's repair by -43 dB).
            repaired_n = torch.zeros_like(x)
            per_item = []  # each row's hidden states, None for an all-padding row
            for i, valid in enumerate(attention_mask.bool()):
                states = [] if output_hidden_states else None
                per_item.append(states)
                if not valid.any():  # an all-padding row stays silent
                    per_item[-1] = None
                    continue
                item = x[i, valid].unsqueeze(0) * gain[i]
                repaired_n[i, valid] = self._enhance_shift_averaged(item, speaker[i : i + 1], states)[0]
            spectrum = stft(repaired_n, self.config.n_fft, self.config.hop_length)
            if output_hidden_states:
                hidden_states = self._stack_item_states(per_item, spectrum.shape[-1])
        elif labels is None and not self.training and getattr(self.config, "inference_shifts", 1) > 1:
            repaired_n = self._enhance_shift_averaged(x * gain, speaker, hidden_states)
            spectrum = stft(repaired_n, self.config.n_fft, self.config.hop_length)
        else:
            repaired_n, spectrum = self._enhance(x * gain, speaker, hidden_states)
        if attention_mask is not None:
            repaired_n = repaired_n * attention_mask.to(x.dtype)
        waveform = repaired_n / gain

        loss = loss_terms = None
        if labels is not None:
            target = labels.to(x.dtype)
            if attention_mask is not None:
                target = target * attention_mask.to(x.dtype)
            loss_terms = self.compute_loss(repaired_n, spectrum, target * gain, labels_bandwidth)
            loss = sum(loss_terms.values())
        output = MsarAutoencoderOutput(waveform=waveform, loss=loss, loss_terms=loss_terms, spectrum=spectrum,
                                       hidden_states=None if hidden_states is None else tuple(hidden_states))
        return output if return_dict else output.to_tuple()

    def _stack_item_states(self, per_item: list, frames: int) -> list[torch.Tensor]:
        """Per-row lists of (1, frames_i, H) states (None: an all-padding row) -> (B, frames, H) each,
        zero after each row's own frames."""
        stacked = []
        for layer in range(self.config.encoder_layers + 2):
            out = self.head.weight.new_zeros(len(per_item), frames, self.config.hidden_size)
            for i, states in enumerate(per_item):
                if states is not None:
                    out[i, : states[layer].shape[1]] = states[layer][0]
            stacked.append(out)
        return stacked

    def compute_loss(self, estimate: torch.Tensor, spectrum: torch.Tensor, target: torch.Tensor,
                     bandwidth: torch.Tensor | None = None) -> dict:
        """Weighted loss terms on level-normalised signals (so every item counts the same).

        ``bandwidth`` (B,) Hz: the band each target really has; above it the estimate is free.
        """
        cfg = self.config
        estimate = estimate.float()
        target = target.float()
        spectrum = spectrum.float()
        if bandwidth is not None:
            bandwidth = bandwidth.to(estimate.device).float()
            estimate = band_limit(estimate, bandwidth, cfg.sampling_rate)
            target = band_limit(target, bandwidth, cfg.sampling_rate)
            bin_hz = torch.arange(spectrum.shape[2], device=spectrum.device) * (cfg.sampling_rate / cfg.n_fft)
            spectrum = spectrum * (bin_hz[None, :] <= bandwidth[:, None]).to(spectrum.dtype)[:, None, :, None]
        terms: dict[str, torch.Tensor] = {}
        if cfg.loss_mrstft:
            terms["mrstft"] = cfg.loss_mrstft * multi_resolution_stft_loss(
                estimate, target, cfg.mrstft_resolutions, cfg.mrstft_dynamic_range_db)
        if cfg.loss_sisdr:
            terms["sisdr"] = -cfg.loss_sisdr * si_sdr(estimate, target, cap_db=30.0).mean()
        if cfg.loss_complex:
            ref_spec = stft(target, cfg.n_fft, cfg.hop_length)
            terms["complex"] = cfg.loss_complex * compressed_spectrum_loss(spectrum, ref_spec, cfg.compression)
        if cfg.loss_mse:
            # in units of target_rms^2, so the weight means the same at any level
            terms["mse"] = cfg.loss_mse * F.mse_loss(estimate, target) / cfg.target_rms**2
        if cfg.loss_loudness:
            diff = frame_loudness_db(estimate) - frame_loudness_db(target)
            terms["loudness"] = cfg.loss_loudness * diff.abs().mean() / 10
        if cfg.loss_lowband:
            # Q's pitch term is decided below ~600 Hz: swapping a repaired output's band under
            # 600 Hz for the damaged input's restores the input's pitch cosine, above it changes
            # nothing. The compressed and log-magnitude losses weigh that band's waveform little.
            cutoff = estimate.new_full((estimate.shape[0],), cfg.lowband_hz)
            low_est = band_limit(estimate, cutoff, cfg.sampling_rate)
            low_ref = band_limit(target, cutoff, cfg.sampling_rate)
            terms["lowband"] = -cfg.loss_lowband * si_sdr(low_est, low_ref, cap_db=30.0).mean()
        if cfg.loss_periodicity:
            terms["periodicity"] = cfg.loss_periodicity * periodicity_loss(estimate, target, cfg.sampling_rate)
        if cfg.loss_pesq:
            terms["pesq"] = cfg.loss_pesq * pesq_loss(estimate, target, cfg.sampling_rate)
        return terms

    # -- inference on arbitrarily long audio ----------------------------------------------------
    @torch.no_grad()
    def repair(
        self,
        waveform,
        speaker_embedding=None,
        strength: float | str | None = None,
        chunk_seconds: float = 8.0,
        progress: bool = False,
        overlap_seconds: float = 1.0,
        residual_gate: float | None = None,
        low_band_comb: float | None = None,
    ):
        """Repair one mono recording of any length.

        Args:
            waveform: (T,) tensor or numpy array at ``config.sampling_rate``.
            speaker_embedding: (D,) L2-normalised embedding of the speaker, or None (zeros).
            strength: 0..1, how much of the repair to apply (1 = full, 0 = return the input);
                ``"auto"`` = from how much the full repair changes the input (:func:`auto_strength`);
                None = ``config.default_strength``.
            chunk_seconds: audio is processed in chunks of this length, overlapping by
                ``overlap_seconds`` and cross-faded, so memory stays flat in duration.
            progress: show a tqdm bar over chunks.
            residual_gate: 0..1, how much to attenuate, per chunk, what the full repair leaves
                under the level of the damage it removed (:func:`residual_noise_gate`); None =
                ``config.residual_gate``, 0 = off.
            low_band_comb: 0..1, how much to lower, per chunk, what lies between the harmonics of
                the voice's low band where what the repair removed is noise (:func:`comb_low_band`);
                None = ``config.low_band_comb``, 0 = off.

        Returns:
            (T,) repaired audio of the same type (tensor or numpy) and length as the input.
        """
        # None takes the config's value; an error names the config when the value came from there
        # (a config edited after loading: "got None" pointed at the argument nobody passed)
        from_config = {name: value is None for name, value in
                       (("default_strength", strength), ("residual_gate", residual_gate), ("low_band_comb", low_band_comb))}
        if strength is None:
            strength = getattr(self.config, "default_strength", 1.0)
        auto = strength == "auto"
        if not auto and (isinstance(strength, str) or not 0.0 <= float(strength) <= 1.0):
            where = " (config.default_strength)" if from_config["default_strength"] else ""
            raise ValueError(f"strength must be in [0, 1] or 'auto', got {strength!r}{where}")
        gate = getattr(self.config, "residual_gate", 0.0) if residual_gate is None else residual_gate
        comb = getattr(self.config, "low_band_comb", 0.0) if low_band_comb is None else low_band_comb
        for name, value in (("residual_gate", gate), ("low_band_comb", comb)):
            if not 0.0 <= float(value) <= 1.0:
                where = f" (config.{name})" if from_config[name] else ""
                raise ValueError(f"{name} must be in [0, 1], got {value!r}{where}")
        gate, comb = float(gate), float(comb)
        is_numpy = isinstance(waveform, np.ndarray)
        dtype_in = waveform.dtype if isinstance(waveform, (np.ndarray, torch.Tensor)) else None
        if dtype_in is not None and not (dtype_in.is_floating_point if isinstance(dtype_in, torch.dtype)
                                         else np.issubdtype(dtype_in, np.floating)):
            raise TypeError(f"repair() takes float samples in [-1, 1], got {dtype_in}: scale integer PCM by its "
                            "full scale (e.g. / 32768 for int16), or read files with msar_hf.audio.load_audio")
        x = torch.as_tensor(waveform, dtype=torch.float32)
        # The mix, the gate and auto strength run on the CPU whatever the model's device: only
        # the network's chunks travel. The output goes back to the input's device.
        input_device, x = x.device, x.cpu()
        if x.dim() != 1:
            raise ValueError(f"repair() takes one mono waveform (T,), got shape {tuple(x.shape)}")
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(f"the waveform contains {bad} NaN/Inf samples of {x.numel()}: nothing to repair them from")
        device = self.device
        length = x.shape[0]
        if length == 0 or (not auto and strength == 0.0):
            out = x.clone().to(input_device)
            return out.numpy() if is_numpy else out
        dtype = next(self.parameters()).dtype
        speaker = self._speaker(
            None if speaker_embedding is None else torch.as_tensor(speaker_embedding), 1, torch.zeros(1, dtype=dtype, device=device)
        )
        # One gain for the whole recording (not per chunk), so chunks agree with each other.
        gain = float(self._level_gain(x.unsqueeze(0), None)) if self.config.normalize_input else 1.0

        sr = self.config.sampling_rate
        # Chunk starts on the STFT hop grid, so chunked frames are the very frames of one pass.
        hop = self.config.hop_length
        chunk = max(int(chunk_seconds * sr) // hop, 8) * hop
        overlap = min(int(overlap_seconds * sr) // hop, chunk // hop // 2) * hop
        step = chunk - overlap
        starts = list(range(0, max(length - overlap, 1), step)) if length > chunk else [0]
        out = torch.zeros(length, dtype=torch.float32)
        # what auto judges: the network's repair, before the gate and the comb
        polished = gate > 0 or comb > 0
        ungated = torch.zeros(length, dtype=torch.float32) if auto and polished else out
        fade_in = torch.linspace(0, 1, overlap + 2)[1:-1] if overlap else torch.zeros(0)
        iterator = starts
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(starts, desc="repair", unit="chunk")
        for i, start in enumerate(iterator):
            end = min(start + chunk, length)
            piece = x[start:end].to(device=device, dtype=dtype).unsqueeze(0) * gain
            repaired = self._enhance_shift_averaged(piece, speaker)[0].float().cpu() / gain
            weight = torch.ones(end - start)
            if i > 0:  # cross-fade with the previous chunk over the overlap
                n = min(overlap, end - start)
                weight[:n] = fade_in[:n]
            if i < len(starts) - 1:
                n = min(overlap, end - start)
                weight[-n:] = weight[-n:] * fade_in.flip(0)[-n:]
            if auto and polished:
                ungated[start:end] += weight * repaired
            # both post-steps judge what the network removed from this chunk: once, shared
            removed = RemovedNoise(x[start:end], repaired)
            if gate > 0:
                repaired = residual_noise_gate(x[start:end], repaired, gate, sr, removed=removed)
            if comb > 0:
                repaired = comb_low_band(x[start:end], repaired, comb, sr, removed=removed)
            out[start:end] += weight * repaired
        if auto:
            strength = auto_strength(x.cpu(), ungated)
        if strength < 1.0:
            out = strength * out + (1.0 - strength) * x
        out = out.to(input_device) if isinstance(waveform, torch.Tensor) else out
        return out.numpy() if is_numpy else out


__all__ = [
    "MsarAutoencoderModel",
    "MsarAutoencoderOutput",
    "MsarAutoencoderPreTrainedModel",
]
