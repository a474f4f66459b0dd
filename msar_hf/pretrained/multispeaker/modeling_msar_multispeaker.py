"""MsarMultiSpeaker: phones + speaker embedding -> log-mel (LSTM decoder) -> waveform.

Flat module (relative imports only, nothing else from msar_hf) so ``save_pretrained`` ships it
as remote code.

Design, chosen for small data and a CPU budget:

* Alignment without an external aligner: the text encoder predicts a mel mean ``mu`` per phone;
  monotonic alignment search (MAS, Glow-TTS / Grad-TTS) finds the most likely monotonic
  phone->frame path under a unit Gaussian around ``mu``; the path gives the phone durations
  that train the duration predictor. MAS is robust on an hour of speech where attention
  alignment often fails to converge.
* Acoustic decoder: a BiLSTM (the founding document's LSTM decoder) over the phone states
  expanded to frames, with the position of each frame inside its phone, run at half the frame
  rate (``decoder_reduction``) for speed, predicting a residual on top of ``mu``; a small
  convolutional postnet sharpens it.
* Waveform: a Vocos-style vocoder (ConvNeXt blocks -> STFT magnitude and phase -> inverse
  STFT): one pass, no upsampling stack, fast on a CPU. Griffin-Lim (torchaudio) is the labelled
  fallback (``config.waveform_stage = "griffin_lim"``).
* Speakers: an L2-normalised 192-d embedding (ECAPA, zero-shot from a reference clip) projected
  and added to the phone states and the decoder input; ``speaker_ids`` index a table of the
  training voices' mean embeddings (``config.speaker_names``).

Written by hand because the field's libraries ship these pieces only inside whole training
frameworks (coqui, ESPnet) that we cannot import into remote code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_msar_multispeaker import MsarMultiSpeakerConfig


@dataclass
class MsarMultiSpeakerOutput(ModelOutput):
    """Output of :class:`MsarMultiSpeakerModel`.

    Args:
        waveform: (B, samples) synthesized audio at ``config.sampling_rate`` (inference only).
        loss: scalar training loss (only when ``labels`` are given).
        loss_terms: the loss terms by name (training only).
        spectrogram: (B, frames, num_mel_bins) predicted log-mel spectrogram.
        durations: (B, tokens) frames given to each token (predicted, or found by MAS in training).
        waveform_lengths: (B,) valid samples of each waveform (inference only).
    """

    waveform: torch.FloatTensor | None = None
    loss: torch.FloatTensor | None = None
    loss_terms: dict | None = None
    spectrogram: torch.FloatTensor | None = None
    durations: torch.LongTensor | None = None
    waveform_lengths: torch.LongTensor | None = None


# ----------------------------------------------------------------------------------------------
# alignment
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def monotonic_alignment_search(log_p: torch.Tensor, token_lengths: torch.Tensor, frame_lengths: torch.Tensor) -> torch.Tensor:
    """Most likely monotonic path through ``log_p`` (B, tokens, frames), batched.

    Every token gets at least one frame and tokens are visited in order. Returns a hard 0/1
    alignment (B, tokens, frames). Vectorised over the batch and tokens; loops over frames.
    """
    B, L, T = log_p.shape
    neg = torch.finfo(log_p.dtype).min / 4
    token_ids = torch.arange(L, device=log_p.device)
    valid_token = token_ids[None, :] < token_lengths[:, None]
    log_p = log_p.masked_fill(~valid_token[:, :, None], neg)
    q = torch.full((B, L, T), neg, dtype=log_p.dtype, device=log_p.device)
    q[:, 0, 0] = log_p[:, 0, 0]
    for j in range(1, T):
        prev = q[:, :, j - 1]
        from_above = torch.cat([torch.full_like(prev[:, :1], neg), prev[:, :-1]], dim=1)
        q[:, :, j] = torch.maximum(prev, from_above) + log_p[:, :, j]
        # a token cannot start before enough frames passed (index i needs i+1 frames)
        q[:, :, j].masked_fill_(token_ids[None, :] > j, neg)
    path = torch.zeros_like(log_p)
    idx = (token_lengths - 1).clone()
    rows = torch.arange(B, device=log_p.device)
    for j in range(T - 1, -1, -1):
        active = j < frame_lengths
        path[rows[active], idx[active], j] = 1.0
        if j == 0:
            break
        stay = q[rows, idx, j - 1]
        move = q[rows, (idx - 1).clamp(min=0), j - 1]
        go_up = active & (idx > 0) & ((idx == j) | (move > stay))
        idx = idx - go_up.long()
    return path


def durations_to_alignment(durations: torch.Tensor, max_frames: int | None = None) -> torch.Tensor:
    """(B, tokens) integer durations -> (B, tokens, frames) 0/1 alignment."""
    ends = durations.cumsum(dim=1)
    starts = ends - durations
    frames = int(ends[:, -1].max().item()) if max_frames is None else max_frames
    t = torch.arange(frames, device=durations.device)[None, None, :]
    return ((t >= starts[:, :, None]) & (t < ends[:, :, None])).float()


def position_in_token(alignment: torch.Tensor, durations: torch.Tensor) -> torch.Tensor:
    """(B, frames, 1): where each frame sits inside its token, 0 at the start to 1 at the end."""
    ends = durations.cumsum(dim=1).float()
    starts = ends - durations.float()
    frame_start = torch.einsum("blt,bl->bt", alignment, starts)
    frame_dur = torch.einsum("blt,bl->bt", alignment, durations.float()).clamp(min=1.0)
    t = torch.arange(alignment.shape[-1], device=alignment.device, dtype=torch.float)[None, :]
    return ((t - frame_start + 0.5) / frame_dur).unsqueeze(-1)


# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------
class ConvStack(nn.Module):
    """Conv1d -> ReLU -> LayerNorm -> dropout, repeated; (B, L, C) in and out."""

    def __init__(self, channels: int, layers: int, kernel_size: int, dropout: float, in_channels: int | None = None):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(in_channels if (i == 0 and in_channels) else channels, channels, kernel_size, padding=kernel_size // 2)
            for i in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = x * mask[..., None]
            x = self.dropout(norm(F.relu(conv(x.transpose(1, 2)).transpose(1, 2))))
        return x * mask[..., None]


class BiLSTM(nn.Module):
    """Bidirectional LSTM over padded batches, exact for every sequence length.

    Why not ``nn.LSTM(bidirectional=True)`` on a PackedSequence: on the CPU its backward pass
    runs per time step and took ~45% of a training step; here the backward direction reads each
    sequence reversed within its own length (a gather), so both directions run unpacked.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(n, hidden_size, batch_first=True) for n in sizes)
        self.backward_lstms = nn.ModuleList(nn.LSTM(n, hidden_size, batch_first=True) for n in sizes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        t = torch.arange(T, device=x.device)[None, :]
        lengths = lengths.to(x.device)[:, None]
        rev = torch.where(t < lengths, lengths - 1 - t, t)  # reverse the valid part, keep padding
        for i, (fwd, bwd) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            if i:
                x = self.dropout(x)
            f, _ = fwd(x)
            idx = rev[..., None].expand(-1, -1, x.shape[-1])
            b, _ = bwd(x.gather(1, idx))
            b = b.gather(1, rev[..., None].expand(-1, -1, b.shape[-1]))
            x = torch.cat([f, b], dim=-1)
        return x


class MsarTextEncoder(nn.Module):
    """Phone ids -> contextual phone states (convolutions for local context, a BiLSTM for the rest)."""

    def __init__(self, config: MsarMultiSpeakerConfig):
        super().__init__()
        h = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, h, padding_idx=config.pad_token_id)
        self.convs = ConvStack(h, config.encoder_conv_layers, config.encoder_kernel_size, config.dropout)
        self.lstm = BiLSTM(h, h // 2)

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.convs(self.embed_tokens(input_ids), mask)
        return self.lstm(x, mask.sum(1).long()) * mask[..., None]


class MsarDurationPredictor(nn.Module):
    """Phone states -> log(frames) per phone."""

    def __init__(self, config: MsarMultiSpeakerConfig):
        super().__init__()
        c = config.duration_predictor_hidden_size
        self.convs = ConvStack(c, 2, 3, config.dropout, in_channels=config.hidden_size)
        self.proj = nn.Linear(c, 1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(states, mask)).squeeze(-1) * mask


class MsarAcousticDecoder(nn.Module):
    """Frame-level phone states -> log-mel, with a BiLSTM at 1/``decoder_reduction`` frame rate."""

    def __init__(self, config: MsarMultiSpeakerConfig):
        super().__init__()
        d, n, r = config.decoder_hidden_size, config.num_mel_bins, config.decoder_reduction
        self.reduction = r
        self.prenet = nn.Linear(config.hidden_size + n + 1, d)
        self.speaker_proj = nn.Linear(config.speaker_embedding_dim, d)
        self.lstm = BiLSTM(d, d // 2, num_layers=config.decoder_lstm_layers, dropout=config.dropout)
        self.proj = nn.Linear(d, r * n)
        self.postnet = nn.Sequential(
            nn.Conv1d(n, 128, 5, padding=2), nn.Tanh(), nn.Conv1d(128, n, 5, padding=2)
        )

    def forward(self, states: torch.Tensor, mu: torch.Tensor, pos: torch.Tensor, speaker: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = mu.shape
        r = self.reduction
        pad = (-T) % r
        x = torch.cat([states, mu, pos], dim=-1)
        x = F.pad(x, (0, 0, 0, pad))
        x = x.view(B, (T + pad) // r, r, -1).mean(dim=2)  # average the r frames of each decoder step
        x = F.relu(self.prenet(x)) + self.speaker_proj(speaker)[:, None, :]
        x = self.lstm(x, (lengths + r - 1) // r)
        residual = self.proj(x).view(B, T + pad, -1)[:, :T]
        mel = mu + residual
        mel_post = mel + self.postnet(mel.transpose(1, 2)).transpose(1, 2)
        return mel, mel_post


class ConvNeXtBlock(nn.Module):
    """Vocos' ConvNeXt block: depthwise conv, LayerNorm, pointwise MLP, layer scale, residual."""

    def __init__(self, dim: int, intermediate: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, intermediate)
        self.pwconv2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y)))) * self.gamma
        return x + y.transpose(1, 2)


class MsarVocoder(nn.Module):
    """Vocos-style vocoder: log-mel (B, T, n_mels) -> waveform (B, (T-1) * hop)."""

    def __init__(self, config: MsarMultiSpeakerConfig):
        super().__init__()
        c = config.vocoder_hidden_size
        self.n_fft, self.hop, self.win = config.n_fft, config.hop_length, config.win_length
        self.embed = nn.Conv1d(config.num_mel_bins, c, 7, padding=3)
        self.norm = nn.LayerNorm(c)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(c, config.vocoder_intermediate_size, 1.0 / config.vocoder_layers) for _ in range(config.vocoder_layers)
        )
        self.final_norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, config.n_fft + 2)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.embed(mel.transpose(1, 2))
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)
        log_mag, phase = x.chunk(2, dim=1)
        mag = torch.exp(log_mag.clamp(max=6.0))
        spec = torch.polar(mag, phase)
        window = torch.hann_window(self.win, device=mel.device)
        return torch.istft(spec, self.n_fft, self.hop, self.win, window=window, center=True)


class MelFrontend(nn.Module):
    """Waveform -> natural-log magnitude mel (B, frames, n_mels) and back (Griffin-Lim).

    Fixed transforms with no weights: the model builds it on first use (on the CPU, outside
    the checkpoint and outside ``from_pretrained``'s meta-device construction).
    """

    def __init__(self, config: MsarMultiSpeakerConfig):
        super().__init__()
        self.floor = config.mel_floor
        self.griffin_lim_iters = config.griffin_lim_iters
        kw = {"n_fft": config.n_fft, "win_length": config.win_length, "hop_length": config.hop_length}
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sampling_rate, f_min=config.f_min, f_max=config.f_max, n_mels=config.num_mel_bins,
            power=1.0, center=True, norm="slaney", mel_scale="slaney", **kw,
        )
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=config.n_fft // 2 + 1, n_mels=config.num_mel_bins, sample_rate=config.sampling_rate,
            f_min=config.f_min, f_max=config.f_max, norm="slaney", mel_scale="slaney",
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(power=1.0, n_iter=config.griffin_lim_iters, **kw)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel(waveform).clamp(min=self.floor)).transpose(-1, -2)

    @torch.no_grad()
    def invert(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Griffin-Lim fallback (no neural network; phasey, for comparison and emergencies)."""
        linear = self.inverse_mel(torch.exp(log_mel).transpose(1, 2)).clamp(min=0.0)
        return self.griffin_lim(linear)


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------
class MsarMultiSpeakerPreTrainedModel(PreTrainedModel):
    config_class = MsarMultiSpeakerConfig
    config: MsarMultiSpeakerConfig
    base_model_prefix = "msar_multispeaker"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, std=0.3)
            if module.padding_idx is not None:
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, ConvNeXtBlock):
            init.constant_(module.gamma, 1.0 / self.config.vocoder_layers)


class MsarMultiSpeakerModel(MsarMultiSpeakerPreTrainedModel):
    """Multi-speaker text-to-speech: phone ids + a voice -> 16 kHz waveform.

    Inference: ``model(input_ids, attention_mask, speaker_embeddings=...)`` (or ``speaker_ids``)
    returns ``waveform`` first, as ``pipeline("text-to-speech")`` expects. Training: pass
    ``labels`` (target log-mel, (B, frames, n_mels), from :meth:`compute_mel`) and
    ``labels_attention_mask`` to get ``loss``.
    """

    def __init__(self, config: MsarMultiSpeakerConfig):
        super().__init__(config)
        h = config.hidden_size
        self.text_encoder = MsarTextEncoder(config)
        self.speaker_proj = nn.Linear(config.speaker_embedding_dim, h)
        self.mu_proj = nn.Linear(h, config.num_mel_bins)
        self.duration_predictor = MsarDurationPredictor(config)
        self.decoder = MsarAcousticDecoder(config)
        self.vocoder = MsarVocoder(config)
        self._frontend_cache: dict = {}  # MelFrontend, built on first use (see its docstring)
        self.register_buffer("speaker_table", torch.zeros(len(config.speaker_names), config.speaker_embedding_dim))
        self.post_init()

    def save_pretrained(self, save_directory, *args, **kwargs):
        # The class registers for one Auto class (AutoModelForTextToWaveform), but the model
        # answers to AutoModel too: name both in auto_map, so remote code loads it either way.
        if getattr(self, "_auto_class", None) is not None:
            name = f"{type(self).__module__.rsplit('.', 1)[-1]}.{type(self).__name__}"
            self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), "AutoModel": name}
        return super().save_pretrained(save_directory, *args, **kwargs)

    # -- helpers ------------------------------------------------------------------------------
    @property
    def frontend(self) -> MelFrontend:
        device = self.speaker_proj.weight.device
        if device not in self._frontend_cache:
            self._frontend_cache[device] = MelFrontend(self.config).to(device)
        return self._frontend_cache[device]

    def compute_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, samples) or (samples,) waveform at ``config.sampling_rate`` -> log-mel (B, frames, n_mels)."""
        return self.frontend(waveform if waveform.dim() == 2 else waveform[None])

    def resolve_speaker(self, batch: int, speaker_embeddings=None, speaker_ids=None) -> torch.Tensor:
        """The (B, D) conditioning: given embeddings (re-normalised), a table row, or zeros."""
        device = self.speaker_proj.weight.device
        if speaker_embeddings is not None:
            emb = torch.as_tensor(speaker_embeddings, dtype=torch.float32, device=device)
            emb = emb[None] if emb.dim() == 1 else emb
            if emb.shape[-1] != self.config.speaker_embedding_dim:
                raise ValueError(f"speaker_embeddings must have {self.config.speaker_embedding_dim} values, got {tuple(emb.shape)}")
            emb = F.normalize(emb, dim=-1)  # zeros stay zeros ("no speaker information")
        elif speaker_ids is not None:
            ids = torch.as_tensor(speaker_ids, dtype=torch.long, device=device).reshape(-1)
            if len(self.config.speaker_names) == 0 or ids.min() < 0 or ids.max() >= len(self.config.speaker_names):
                raise ValueError(f"speaker_ids must be in [0, {len(self.config.speaker_names)}) (config.speaker_names)")
            emb = self.speaker_table[ids]
        else:
            emb = torch.zeros(1, self.config.speaker_embedding_dim, device=device)
        # one voice for the whole batch, or one per text; any other count used to be cut or
        # broadcast silently (3 ids for 2 texts dropped the third, 2 for 1 text gave 2 outputs)
        if emb.shape[0] not in (1, batch):
            raise ValueError(f"{emb.shape[0]} speakers for {batch} texts: give one speaker, or one per text")
        if emb.shape[0] == 1 and batch > 1:
            emb = emb.expand(batch, -1)
        return emb

    def speaker_id(self, name: str) -> int:
        """Index of a known voice in ``config.speaker_names``."""
        return self.config.speaker_names.index(name)

    def vocode(self, log_mel: torch.Tensor, waveform_stage: str | None = None) -> torch.Tensor:
        """Log-mel (B, frames, n_mels) -> waveform (B, samples)."""
        stage = waveform_stage or self.config.waveform_stage
        if stage == "griffin_lim":
            return self.frontend.invert(log_mel)
        return self.vocoder(log_mel)

    # -- forward ------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        speaker_embeddings: torch.Tensor | None = None,
        speaker_ids: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
        labels_attention_mask: torch.Tensor | None = None,
        length_scale: float | None = None,
        waveform_stage: str | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MsarMultiSpeakerOutput | tuple:
        """Synthesize (no ``labels``) or compute the training loss (``labels`` given)."""
        if self.speaker_proj.weight.dtype != torch.float32:
            # masks, alignments, the mel floor and the vocoder's inverse STFT are float32 throughout;
            # half-precision weights otherwise died deep inside a Conv1d with a dtype mismatch
            raise TypeError(f"MsarMultiSpeakerModel runs in float32, not {self.speaker_proj.weight.dtype}: load it "
                            "without dtype=... or call model.float() (mixed-precision training: torch.autocast)")
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        token_mask = attention_mask.float()
        token_lengths = attention_mask.sum(1).long()
        speaker = self.resolve_speaker(input_ids.shape[0], speaker_embeddings, speaker_ids)

        if labels is None and input_ids.shape[0] > 1:
            # A batch pads its texts and, after the durations, its frames: the padding would reach the
            # synthesis (a batch of 3 texts sounded -9 to -13 dB away from each alone; two texts of one
            # token count but different durations, -11 dB), so each is synthesized alone, padded after.
            out = self._synthesize_each(input_ids, attention_mask, speaker, length_scale, waveform_stage)
            return out.to_tuple() if return_dict is False else out
        states, mu, log_durations = self._encode(input_ids, token_mask, speaker)
        if labels is not None:
            out = self._training_forward(states, mu, log_durations, speaker, token_mask, token_lengths, labels, labels_attention_mask)
        else:
            out = self._synthesize(states, mu, log_durations, speaker, token_mask, length_scale, waveform_stage)
        if return_dict is False:
            return out.to_tuple()
        return out

    def _encode(self, input_ids, token_mask, speaker):
        """Token states (speaker added), their prior means and log durations."""
        states = self.text_encoder(input_ids, token_mask) + self.speaker_proj(speaker)[:, None, :]
        states = states * token_mask[..., None]
        return states, self.mu_proj(states), self.duration_predictor(states.detach(), token_mask)

    def _synthesize_each(self, input_ids, attention_mask, speaker, length_scale, waveform_stage):
        """One synthesis per item (its own tokens only), zero-padded into one batch output."""
        outs = []
        for i in range(input_ids.shape[0]):
            ids = input_ids[i][attention_mask[i].bool()][None]
            mask = torch.ones(ids.shape, dtype=torch.float32, device=ids.device)
            states, mu, log_durations = self._encode(ids, mask, speaker[i : i + 1])
            outs.append(self._synthesize(states, mu, log_durations, speaker[i : i + 1], mask, length_scale, waveform_stage))
        floor = float(torch.log(torch.tensor(self.config.mel_floor)))

        def stack(tensors, value=0.0):
            longest = max(t.shape[1] for t in tensors)
            pads = [(0, 0) * (t.dim() - 2) + (0, longest - t.shape[1]) for t in tensors]
            return torch.cat([F.pad(t, pad, value=value) for t, pad in zip(tensors, pads)])

        return MsarMultiSpeakerOutput(
            waveform=stack([o.waveform for o in outs]), spectrogram=stack([o.spectrogram for o in outs], floor),
            durations=stack([o.durations for o in outs]), waveform_lengths=torch.cat([o.waveform_lengths for o in outs]))

    def _training_forward(self, states, mu, log_durations, speaker, token_mask, token_lengths, labels, labels_attention_mask):
        B, T, _ = labels.shape
        if labels_attention_mask is None:
            labels_attention_mask = torch.ones(B, T, device=labels.device)
        frame_mask = labels_attention_mask.float()
        frame_lengths = labels_attention_mask.sum(1).long()
        # log N(x_t | mu_i, I) up to a constant, for every (token, frame) pair
        log_p = -0.5 * ((mu**2).sum(-1)[:, :, None] - 2 * mu @ labels.transpose(1, 2) + (labels**2).sum(-1)[:, None, :])
        alignment = monotonic_alignment_search(log_p.detach(), token_lengths, frame_lengths)
        durations = alignment.sum(-1).long()

        mu_frames = alignment.transpose(1, 2) @ mu
        states_frames = alignment.transpose(1, 2) @ states
        pos = position_in_token(alignment, durations)
        mel, mel_post = self.decoder(states_frames, mu_frames, pos, speaker, frame_lengths)

        n_valid = frame_mask.sum() * labels.shape[-1]
        prior_loss = 0.5 * (((labels - mu_frames) ** 2) * frame_mask[..., None]).sum() / n_valid
        mel_loss = ((mel - labels).abs() * frame_mask[..., None]).sum() / n_valid
        post_loss = ((mel_post - labels).abs() * frame_mask[..., None]).sum() / n_valid
        target_log_dur = torch.log(durations.float().clamp(min=1.0)) * token_mask
        duration_loss = ((log_durations - target_log_dur) ** 2 * token_mask).sum() / token_mask.sum()
        loss = prior_loss + mel_loss + post_loss + duration_loss
        terms = {"prior": prior_loss.detach(), "mel": mel_loss.detach(), "postnet": post_loss.detach(), "duration": duration_loss.detach()}
        return MsarMultiSpeakerOutput(loss=loss, loss_terms=terms, spectrogram=mel_post, durations=durations)

    def _synthesize(self, states, mu, log_durations, speaker, token_mask, length_scale, waveform_stage):
        scale = self.config.length_scale if length_scale is None else length_scale
        durations = torch.round(torch.exp(log_durations) * scale).clamp(1, self.config.max_frames_per_token).long()
        durations = durations * token_mask.long()
        frame_lengths = durations.sum(1)
        alignment = durations_to_alignment(durations)
        mu_frames = alignment.transpose(1, 2) @ mu
        states_frames = alignment.transpose(1, 2) @ states
        pos = position_in_token(alignment, durations)
        _, mel = self.decoder(states_frames, mu_frames, pos, speaker, frame_lengths)
        frame_mask = (torch.arange(mel.shape[1], device=mel.device)[None, :] < frame_lengths[:, None]).float()
        mel = mel * frame_mask[..., None] + torch.log(torch.tensor(self.config.mel_floor)) * (1 - frame_mask[..., None])
        waveform = self.vocode(mel, waveform_stage)
        waveform_lengths = ((frame_lengths - 1).clamp(min=0) * self.config.hop_length).clamp(max=waveform.shape[-1])
        sample_mask = torch.arange(waveform.shape[-1], device=waveform.device)[None, :] < waveform_lengths[:, None]
        return MsarMultiSpeakerOutput(
            waveform=waveform * sample_mask, spectrogram=mel, durations=durations, waveform_lengths=waveform_lengths
        )


__all__ = ["MsarMultiSpeakerModel", "MsarMultiSpeakerOutput", "MsarMultiSpeakerPreTrainedModel", "monotonic_alignment_search"]
