"""Live repair with a causal model: audio in blocks of any size, repaired audio out, 32 ms behind.

    from msar_hf.streaming import StreamingRepairer
    stream = StreamingRepairer()                                  # the shipped causal model
    for block in microphone_blocks:                               # 16 kHz mono float blocks
        speaker.play(stream.process(block))                       # as many samples as are final
    speaker.play(stream.flush())                                  # the rest: input length in total

One stream wants one thread (``torch.set_num_threads(1)``, as ``msar stream`` sets): on a busy
2-core machine torch's default threads made each 10 ms block 10 times slower (16 vs 1.7 ms).

A causal model (``config.causal``: one-way LSTM, see ``recipes/configs/autoencoder_causal.yaml``)
repairs each STFT frame from the frames up to it. This runner feeds it frame by frame as samples
arrive, carrying the LSTM's state and the overlap-add of the inverse STFT between calls, so the
output is, to float rounding, what ``model(whole_recording)`` returns (tested), however the input
is cut into blocks. Latency: an output sample is final once every frame that overlaps it has all
its samples, so the output lags the input by n_fft - hop to n_fft - 1 samples (16-32 ms for the
512/256 STFT). :class:`FrameStream` is that framing and overlap-add; :class:`StreamingRepairer` runs
the torch model under it, ``msar_hf.export_streaming.OnnxStreamingRepairer`` the same network's
frame step exported to ONNX (``msar export --onnx FILE --streaming``; about 2.6 times faster in 10 ms
blocks, benchmarks/results/streaming.md).

Written by hand: the model's own forward takes a whole recording (its STFT, LSTM and overlap-add
see every frame at once), and no library streams an arbitrary PyTorch network. What ``repair()``
adds on top of the network is not here: its residual gate, low-band comb and "auto" strength judge
whole 8 s chunks, its level normalisation measures the whole clip, and its shifted passes need
the future; a fixed ``strength`` (wet/dry mix) is.
"""

from __future__ import annotations

import numpy as np
import torch

from . import LIVE_REPAIR_MODEL
from .audio import pcm_to_float
from .models.autoencoder.modeling_msar_autoencoder import LstmBottleneck, _dft_bases

# Up to this many frames per call the LSTM runs step by step by hand (StreamingRepairer._lstm)
_HAND_LSTM_MAX_FRAMES = 8

# The shipped causal model (recipes/configs/autoencoder_causal*.yaml; benchmarks/results/streaming.md)
DEFAULT_MODEL_DIR = LIVE_REPAIR_MODEL


def _samples(block) -> torch.Tensor:
    """1-D float32 samples on the CPU. Integer PCM (int16 from a sound card or a pipe) is full scale
    at its type's range, as the speech-repair pipeline reads it: taken as floats, the network was
    given values in the thousands."""
    data = torch.as_tensor(block).detach().cpu()
    if data.dim() > 1:  # a (samples, channels) block would be read as interleaved samples
        raise ValueError(f"the block must be 1-D mono samples, got shape {tuple(data.shape)}")
    return pcm_to_float(data.reshape(-1))


def streaming_refusal(model) -> str | None:
    """Why ``model`` cannot be run frame by frame (None if it can): it needs a one-way LSTM."""
    causal = getattr(model.config, "causal", False)
    if causal and isinstance(model.bottleneck, LstmBottleneck):
        return None
    return ("streaming needs a causal model with an LSTM bottleneck (config.causal: true, bottleneck: lstm; "
            "recipes/configs/autoencoder_causal.yaml trains one, msar_hf/pretrained/repair_causal is shipped); "
            f"this one is {'bidirectional' if not causal else 'convolutional'}")


def network_frames(model, spec: torch.Tensor, speaker: torch.Tensor, lstm, state):
    """The model's ``_enhance`` for (1, 2, F, n) spectrum frames that arrive in order (its own frame
    features and masked spectrum): the repaired (1, 2, F, n) frames on the CPU and the LSTM state
    after them. ``lstm(hidden, state)`` runs the bottleneck's LSTM (the torch runner's hand-stepped
    one, or the module itself where the ONNX export traces it). The spectra stay on the CPU; the
    layers run on the model's device."""
    device = model.device
    spec_c, hidden = model._frame_features(spec)
    hidden = model.encoder(hidden.to(device))
    if model.film_in is not None:
        hidden = model.film_in(hidden, speaker.to(hidden.dtype))
    out, state = lstm(hidden, state)
    hidden = hidden + model.bottleneck.proj(out)
    if model.film_out is not None:
        hidden = model.film_out(hidden, speaker.to(hidden.dtype))
    return model._masked_spectrum(spec_c.to(device), model.decoder(hidden)).cpu(), state


class FrameStream:
    """What a live runner does around its network: frames the incoming samples as the model's STFT
    frames a whole recording, overlap-adds the network's output frames, divides by the window
    envelope, and mixes in the equally delayed input. A subclass gives ``_pieces`` (raw frames in,
    synthesis-windowed repaired frames out, its recurrent state carried) and ``_reset_state``:
    :class:`StreamingRepairer` runs the torch model, ``msar_hf.export_streaming.OnnxStreamingRepairer``
    an exported ONNX frame step.

    The bookkeeping is numpy: a live block is a few hundred samples, and torch's fixed cost per
    operation made this part alone a third of the ONNX runner's time in 10 ms blocks.
    """

    def __init__(self, n_fft: int, hop: int, strength: float, gain: float = 1.0):
        if not 0.0 <= float(strength) <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength!r}")
        self.strength = float(strength)
        self.gain = float(gain)
        self.n_fft, self.hop = int(n_fft), int(hop)
        self.window_sq = _dft_bases(self.n_fft, "cpu", torch.float32)[2].reshape(-1).numpy()
        # past the start every position has all its frames, so one hop of the envelope repeats
        self._steady = self._envelope(self.n_fft, self.hop, frames=self.n_fft // self.hop + 2)
        self.reset()

    @property
    def latency(self) -> int:
        """Most samples received and not yet given back (n_fft - hop at least, n_fft - 1 at most)."""
        return self.n_fft - 1

    def reset(self) -> None:
        """Forget the stream: the next block starts a new recording."""
        self._frames_in = np.zeros(self.n_fft // 2, np.float32)  # the STFT's left padding, then the input
        self._dry = np.zeros(0, np.float32)  # input samples whose repair is not final yet
        self._overlap = np.zeros(self.n_fft, np.float32)  # overlap-add of frames not finished
        self._reset_state()
        self._skip = self.n_fft // 2  # the left padding's repair: not part of the output
        self._received = self._emitted = self._frames_done = 0

    @torch.no_grad()
    def process(self, block) -> torch.Tensor:
        """Take the next samples (1-D, any length: floats in [-1, 1] or integer PCM); return the
        output samples now final (1-D float32 on the CPU)."""
        block = _samples(block).numpy()
        if not np.isfinite(block).all():
            raise ValueError("the block holds NaN/Inf samples")
        self._received += block.size
        self._dry = np.concatenate([self._dry, block])
        self._frames_in = np.concatenate([self._frames_in, block * np.float32(self.gain)])
        return torch.from_numpy(self._run_frames(self._frames_ready()))

    @torch.no_grad()
    def flush(self) -> torch.Tensor:
        """The rest of the output (the stream then starts anew): in all, as many samples as came in."""
        # the STFT's right padding: frames until every sample is covered, as model(...) frames it
        self._frames_in = np.concatenate([self._frames_in, np.zeros(self.n_fft // 2 + self.hop - 1, np.float32)])
        head = self._run_frames(self._frames_ready())
        rest = self._overlap[: self.n_fft - self.hop]
        rest = rest / self._envelope(self._frames_done * self.hop, rest.size, self._frames_done)
        skip = min(self._skip, rest.size)
        out = np.concatenate([head, self._mix(rest[skip:][: self._received - self._emitted])])
        self.reset()
        return torch.from_numpy(out)

    # -- internals -----------------------------------------------------------------------------
    def _frames_ready(self) -> int:
        have = self._frames_in.size
        return (have - self.n_fft) // self.hop + 1 if have >= self.n_fft else 0

    def _envelope(self, start: int, length: int, frames: int) -> np.ndarray:
        """What the inverse STFT divides by at padded positions start.. : the squared windows of
        the first ``frames`` frames that reach each one (fewer at the very start and end, as
        model(...) sums them)."""
        position = np.arange(start, start + length)
        total = np.zeros(length, np.float32)
        for k in range(-(-self.n_fft // self.hop)):
            frame = position // self.hop - k
            offset = position - frame * self.hop
            valid = (frame >= 0) & (frame < frames) & (offset < self.n_fft)
            total += np.where(valid, self.window_sq[np.clip(offset, 0, self.n_fft - 1)], np.float32(0.0))
        return np.maximum(total, np.float32(1e-6))

    def _run_frames(self, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros(0, np.float32)
        span = (count - 1) * self.hop + self.n_fft
        frames = np.lib.stride_tricks.sliding_window_view(self._frames_in[:span], self.n_fft)[:: self.hop]
        self._frames_in = self._frames_in[count * self.hop:]
        pieces = self._pieces(frames.copy())  # (count, n_fft); the view is read-only
        # overlap-add: each frame starts one hop after the one before
        acc = np.zeros(span + self.n_fft, np.float32)
        acc[: self._overlap.size] += self._overlap
        for k, piece in enumerate(pieces):
            acc[k * self.hop: k * self.hop + self.n_fft] += piece
        start = self._frames_done * self.hop  # padded position of acc[0]
        self._frames_done += count
        done = count * self.hop  # no later frame reaches these samples
        wet = acc[:done] / (np.tile(self._steady, count) if start >= self.n_fft
                            else self._envelope(start, done, self._frames_done))
        self._overlap = acc[done: done + self.n_fft]
        skip = min(self._skip, wet.size)
        self._skip -= skip
        return self._mix(wet[skip:][: self._received - self._emitted])

    def _mix(self, wet: np.ndarray) -> np.ndarray:
        dry, self._dry = self._dry[: wet.size], self._dry[wet.size:]
        self._emitted += wet.size
        wet = wet / np.float32(self.gain)
        return wet if self.strength == 1.0 else np.float32(self.strength) * wet + np.float32(1.0 - self.strength) * dry

    def _pieces(self, frames: np.ndarray) -> np.ndarray:
        """(n, n_fft) float32 raw input frames, in order -> (n, n_fft) float32 repaired frames,
        synthesis-windowed (the inverse STFT's frames before their overlap-add); carries the
        network's state."""
        raise NotImplementedError

    def _reset_state(self) -> None:
        """Start the network's state (an LSTM's h and c) afresh."""
        raise NotImplementedError


class StreamingRepairer(FrameStream):
    """Block-by-block repair of 16 kHz mono audio with a causal, LSTM-bottleneck repair model.

    Args:
        model: a loaded ``MsarAutoencoderModel`` or anything :func:`msar_hf.repair.load_repair_model`
            takes (a folder, a Hub id); its config must be causal with an LSTM bottleneck. None:
            the shipped causal model (``msar_hf/pretrained/repair_causal``).
        strength: 0..1, how much of the repair to mix into the (equally delayed) input; None: the
            model's ``config.default_strength`` (the shipped causal model's mix, chosen on dev seeds),
            or 1 where that is ``"auto"``, which judges whole chunks.
        speaker_embedding: (D,) embedding for speaker-conditioned models; None = zeros.
        input_gain: the gain a model with ``normalize_input`` expects (its level normalisation
            measures a whole clip, which a stream does not have): required for such models.
    """

    def __init__(self, model=None, strength: float | None = None, speaker_embedding: torch.Tensor | None = None,
                 input_gain: float | None = None):
        if not hasattr(model, "config"):
            from .repair import load_repair_model

            model = load_repair_model(DEFAULT_MODEL_DIR if model is None else model, "cpu")
        config = model.config
        if refusal := streaming_refusal(model):
            raise ValueError(refusal)
        if config.normalize_input and input_gain is None:
            raise ValueError("this model normalises each clip's level, which a stream cannot measure: pass "
                             "input_gain (model._level_gain of a representative clip), or train with "
                             "normalize_input: false")
        if strength is None:
            strength = 1.0 if config.default_strength == "auto" else config.default_strength
        self.model = model.eval()
        # the STFT and overlap-add run on the CPU, where the blocks come and go; only the network runs
        # on the model's device (bases on a GPU model's device met CPU frames: a device error)
        self.analysis, self.synthesis, _ = _dft_bases(config.n_fft, "cpu", torch.float32)
        self.speaker = model._speaker(speaker_embedding, 1, torch.zeros(1, 1, device=model.device))
        lstm = model.bottleneck.lstm  # (W_ih^T, W_hh^T, b_ih + b_hh) per layer, for _lstm's steps
        with torch.no_grad():
            self._lstm_weights = [(getattr(lstm, f"weight_ih_l{k}").T, getattr(lstm, f"weight_hh_l{k}").T,
                                   getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}"))
                                  for k in range(lstm.num_layers)]
        super().__init__(config.n_fft, config.hop_length, strength, 1.0 if input_gain is None else input_gain)

    def _reset_state(self) -> None:
        self._lstm_state = None

    def _pieces(self, frames: np.ndarray) -> np.ndarray:
        spec = torch.from_numpy(frames) @ self.analysis[:, 0].T  # (n, 2F)
        spec = spec.T.unflatten(0, (2, self.n_fft // 2 + 1)).unsqueeze(0)  # (1, 2, F, n)
        return (self._network(spec).flatten(1, 2)[0].T @ self.synthesis[:, 0]).numpy()

    def _lstm(self, hidden: torch.Tensor, state: tuple | None) -> tuple[torch.Tensor, tuple]:
        """The bottleneck's LSTM over (1, n, H) frames from ``state``. A live block brings one or two
        frames, and for those torch.lstm's fixed cost per call ruled: 3.7-4.8 ms for one frame of the
        shipped 2 x 256 LSTM on one thread of this 2-core machine, against 0.46 ms for the same
        gates by hand; the demo clip streamed in 10 ms blocks went from a real-time factor of
        0.31-0.34 to 0.19-0.24 (three runs each, alternating). Longer runs (a big block, the flush)
        go through torch.lstm, which is faster per frame there."""
        lstm = self.model.bottleneck.lstm
        if hidden.shape[1] > _HAND_LSTM_MAX_FRAMES:
            return lstm(hidden, state)
        if state is None:
            zeros = hidden.new_zeros(lstm.num_layers, 1, lstm.hidden_size)
            state = (zeros, zeros)
        h, c = list(state[0].unbind(0)), list(state[1].unbind(0))
        outputs = []
        for frame in hidden.unbind(1):  # (1, H) each
            for layer, (w_ih, w_hh, bias) in enumerate(self._lstm_weights):
                # torch's gate order: input, forget, cell, output
                gates = torch.addmm(bias, frame, w_ih) + h[layer] @ w_hh
                i, f, g, o = gates.chunk(4, dim=-1)
                c[layer] = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
                h[layer] = frame = torch.sigmoid(o) * torch.tanh(c[layer])
            outputs.append(frame)
        return torch.stack(outputs, dim=1), (torch.stack(h), torch.stack(c))

    def _network(self, spec: torch.Tensor) -> torch.Tensor:
        """(1, 2, F, n) frames -> repaired frames, the LSTM's state carried from the previous call."""
        out_spec, self._lstm_state = network_frames(self.model, spec, self.speaker, self._lstm, self._lstm_state)
        return out_spec

__all__ = ["FrameStream", "StreamingRepairer", "network_frames", "streaming_refusal"]
