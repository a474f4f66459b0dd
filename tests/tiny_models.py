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
