"""Small randomly initialised msar models shared by the tests (fast to build, save and run)."""

from __future__ import annotations

import torch

# The smallest synthesis model that still exercises every stage (encoder, durations, decoder, vocoder).
TINY_MULTISPEAKER = {"hidden_size": 32, "duration_predictor_hidden_size": 32, "decoder_hidden_size": 32,
                     "vocoder_hidden_size": 32, "vocoder_intermediate_size": 64, "vocoder_layers": 2,
                     "encoder_conv_layers": 1, "decoder_lstm_layers": 1}


def tiny_multispeaker(speakers=("kathleen", "awb"), seed: int = 0):
    """``(model, processor)``: a tiny synthesis model in eval mode with random unit speaker vectors."""
    from msar_hf.models.multispeaker import (
        MsarMultiSpeakerConfig,
        MsarMultiSpeakerModel,
        MsarMultiSpeakerProcessor,
        MsarMultiSpeakerTokenizer,
    )

    tokenizer = MsarMultiSpeakerTokenizer()
    torch.manual_seed(seed)
    config = MsarMultiSpeakerConfig(vocab_size=tokenizer.vocab_size, speaker_names=list(speakers), **TINY_MULTISPEAKER)
    model = MsarMultiSpeakerModel(config).eval()
    model.speaker_table.copy_(torch.nn.functional.normalize(torch.randn(len(speakers), 192), dim=-1))
    return model, MsarMultiSpeakerProcessor(tokenizer)


# A small causal repair model for the live runners (torch and ONNX): two LSTM layers, so the state
# of each is carried.
TINY_CAUSAL = {"hidden_size": 64, "lstm_hidden_size": 32, "encoder_layers": 2, "lstm_layers": 2}


def tiny_causal(**overrides):
    """A small causal repair model in eval mode, its weights moved off the identity start (so every
    part of the network shows in its output)."""
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    torch.manual_seed(0)
    config = MsarAutoencoderConfig(**{"causal": True, "normalize_input": False, "inference_shifts": 1,
                                      **TINY_CAUSAL, **overrides})
    model = MsarAutoencoderModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def stream_in_random_blocks(runner, x: torch.Tensor, seed: int, max_block: int = 3000):
    """``(output, lags)``: ``x`` fed to a live runner in blocks of 1..max_block samples, then its
    flush; ``lags`` = how far the output was behind the input after each block."""
    import numpy as np

    rng = np.random.default_rng(seed)
    outs, lags, start = [], [], 0
    while start < x.numel():
        stop = start + int(rng.integers(1, max_block))
        outs.append(runner.process(x[start:stop]))
        start = min(stop, x.numel())
        lags.append(start - sum(o.numel() for o in outs))
    outs.append(runner.flush())
    return torch.cat(outs), lags
