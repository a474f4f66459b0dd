"""Phoneme tokenizer for MsarMultiSpeaker: English text -> IPA phones (espeak-ng) -> ids.

Why phonemes: with under an hour of training on a CPU the model cannot also learn English
spelling; espeak-ng (Debian package, offline, through the ``phonemizer`` library) gives a
pronunciation per word, numbers included. Stress marks are separate tokens so the vocabulary
stays small; punctuation is kept because it shapes pauses. ``_`` marks a word boundary.

A tokenized text round-trips: ``tokenizer.decode(ids)`` gives the phone string, and
``tokenizer(phones, phonemize=False)`` gives the same ids back.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from transformers import PreTrainedTokenizer

from .normalization_msar_multispeaker import normalize_text

VOCAB_FILES_NAMES = {"vocab_file": "vocab.json"}

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
WORD_BOUNDARY = "_"
STRESS = ["ˈ", "ˌ"]
PUNCTUATION = [".", ",", "?", "!", ";", ":", '"', "(", ")", "…", "—"]
# espeak-ng en-us phones (collected from the ARCTIC prompts and extra text, stress split off).
PHONES = [
    "a", "aɪ", "aɪə", "aɪɚ", "aʊ", "b", "d", "dʒ", "e", "eɪ", "f", "h", "i", "iə", "iː", "j", "k",
    "l", "m", "n", "n̩", "o", "oʊ", "oː", "oːɹ", "p", "r", "s", "t", "tʃ", "u", "uː", "v", "w", "x",
    "z", "æ", "ç", "ð", "ŋ", "ɐ", "ɑ", "ɑː", "ɑːɹ", "ɔ", "ɔɪ", "ɔː", "ɔːɹ", "ə", "əl", "ɚ", "ɛ",
    "ɛɹ", "ɜ", "ɜː", "ɡ", "ɪ", "ɪɹ", "ɬ", "ɾ", "ʃ", "ʊ", "ʊɹ", "ʌ", "ʒ", "ʔ", "θ", "ᵻ", "ɹ",
    "ɒ", "ɾ̃", "ɫ", "ʲ", "ɣ", "χ", "ʁ", "ɕ", "ʑ", "ɲ", "ʎ", "ɭ", "ʋ", "y", "ø", "œ", "ɯ", "ɤ", "ʏ",
]
DEFAULT_VOCAB = SPECIAL_TOKENS + [WORD_BOUNDARY] + STRESS + PUNCTUATION + PHONES

_PRESERVED = "".join(PUNCTUATION)
_backend = None


def _espeak():
    """One espeak-ng backend per process (starting it costs ~0.1 s)."""
    global _backend
    if _backend is None:
        try:
            from phonemizer.backend import EspeakBackend
        except ImportError as exc:  # pragma: no cover - phonemizer is a dependency
            raise ImportError("MsarMultiSpeakerTokenizer needs `pip install phonemizer`") from exc
        _backend = EspeakBackend(
            "en-us", preserve_punctuation=True, with_stress=True, punctuation_marks=_PRESERVED
        )
    return _backend


def phonemize(texts: list[str]) -> list[str]:
    """English texts -> space-separated phone strings (``_`` between words)."""
    from phonemizer.separator import Separator

    # Hyphens and apostrophes inside words are pronunciation, not pauses: let espeak read them.
    cleaned = [re.sub(r"\s+", " ", re.sub(r"[-–]", " ", t)).strip() for t in texts]
    out = _espeak().phonemize(cleaned, separator=Separator(phone=" ", word=" _ ", syllable=""), strip=True)
    return [" ".join(split_phone_chunks(o.split())) for o in out]


def split_phone_chunks(chunks: list[str]) -> list[str]:
    """Split espeak chunks like ``ˈeɪ,`` into stress, phone and punctuation tokens."""
    tokens: list[str] = []
    for chunk in chunks:
        while chunk and chunk[0] in _PRESERVED:
            tokens.append(chunk[0])
            chunk = chunk[1:]
        tail = []
        while chunk and chunk[-1] in _PRESERVED:
            tail.insert(0, chunk[-1])
            chunk = chunk[:-1]
        for part in re.split(r"([ˈˌ'])", chunk):
            if part and part != "'":
                tokens.append(part)
        tokens.extend(tail)
    return tokens


class MsarMultiSpeakerTokenizer(PreTrainedTokenizer):
    """English text to phone ids (espeak-ng through phonemizer), with <bos>/<eos> around.

    Args:
        vocab_file: JSON ``{token: id}``; the built-in espeak-ng en-us inventory when omitted.
        phonemize: convert text to phones (``False`` when the input already is a phone string).
        normalize: spell out numbers, dates, money, abbreviations... first (``normalize_text``);
            only when phonemizing.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012  (transformers' class-attribute API)

    def __init__(
        self,
        vocab_file: str | None = None,
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        bos_token: str = "<bos>",
        eos_token: str = "<eos>",
        phonemize: bool = True,
        normalize: bool = True,
        **kwargs: Any,
    ) -> None:
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as handle:
                self.encoder = json.load(handle)
        else:
            self.encoder = {tok: i for i, tok in enumerate(DEFAULT_VOCAB)}
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.phonemize = phonemize
        self.normalize = normalize
        kwargs.setdefault("special_tokens_pattern", "bos_eos")
        super().__init__(
            pad_token=pad_token, unk_token=unk_token, bos_token=bos_token, eos_token=eos_token,
            phonemize=phonemize, normalize=normalize, **kwargs,
        )

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def get_vocab(self) -> dict[str, int]:
        vocab = dict(self.encoder)
        vocab.update(self.added_tokens_encoder)
        return vocab

    def prepare_for_tokenization(
        self, text: str, is_split_into_words: bool = False, phonemize: bool | None = None,
        normalize: bool | None = None, **kwargs: Any
    ) -> tuple[str, dict[str, Any]]:
        """Turn English text into a phone string (unless ``phonemize=False``), its numbers,
        dates and abbreviations spelled out first (unless ``normalize=False``)."""
        if not text.strip():  # the phonemizer returns nothing for it: say so, not an IndexError
            raise ValueError("the text is empty: nothing to say")
        if phonemize if phonemize is not None else self.phonemize:
            if normalize if normalize is not None else self.normalize:
                text = normalize_text(text)
            text = phonemize_text(text)
        return text, kwargs

    def _tokenize(self, text: str) -> list[str]:
        return text.split()

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def _convert_token_to_id(self, token: str) -> int:
        return self.encoder.get(token, self.encoder[str(self.unk_token)])

    def _convert_id_to_token(self, index: int) -> str:
        return self.decoder.get(index, str(self.unk_token))

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.json")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(self.encoder, indent=1, ensure_ascii=False) + "\n")
        return (path,)


def phonemize_text(text: str) -> str:
    """One English text -> its phone string (ValueError when nothing in it can be said, e.g. "-")."""
    phones = phonemize([text])
    if not phones or not phones[0].strip():
        raise ValueError(f"nothing to say in {text!r}: no words the phonemizer can read")
    return phones[0]


__all__ = ["MsarMultiSpeakerTokenizer", "phonemize", "phonemize_text"]
