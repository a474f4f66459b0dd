"""Processor for MsarMultiSpeaker: text (+ an optional voice) -> model inputs."""

from __future__ import annotations

from typing import Any

import torch
from transformers import BatchEncoding, ProcessorMixin


class MsarMultiSpeakerProcessor(ProcessorMixin):
    """Wraps :class:`MsarMultiSpeakerTokenizer`; adds ``speaker_embeddings`` when given.

    ``processor("Hello there.", speaker_embeddings=emb, return_tensors="pt")`` returns
    ``input_ids``, ``attention_mask`` and (B, 192) L2-normalised ``speaker_embeddings``.
    """

    def __init__(self, tokenizer):
        super().__init__(tokenizer)

    def __call__(self, text: str | list[str] | None = None, speaker_embeddings: Any = None, **kwargs: Any) -> BatchEncoding:
        if text is None:
            raise ValueError("MsarMultiSpeakerProcessor needs `text`")
        kwargs.setdefault("padding", True)
        encoding = self.tokenizer(text, **kwargs)
        if speaker_embeddings is not None:
            emb = torch.as_tensor(speaker_embeddings, dtype=torch.float32)
            emb = emb[None] if emb.dim() == 1 else emb
            encoding["speaker_embeddings"] = torch.nn.functional.normalize(emb, dim=-1)
        return encoding

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)


__all__ = ["MsarMultiSpeakerProcessor"]
