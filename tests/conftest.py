"""Shared test fixtures: paths to the small real recordings in tests/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SPEECH = FIXTURES / "speech"
NOISE = FIXTURES / "noise"
RIR = FIXTURES / "rir"

# Tests are offline by construction; make any accidental Hub access fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def speech_file() -> Path:
    """A real 16 kHz utterance (kathleen, CMU ARCTIC a0001)."""
    return SPEECH / "kathleen" / "audio" / "arctic_a0001.flac"


@pytest.fixture(scope="session")
def speech_files() -> list[Path]:
    return sorted((SPEECH / "kathleen" / "audio").glob("*.flac"))


@pytest.fixture(scope="session")
def fsdd_file() -> Path:
    """A real 8 kHz recording (FSDD digit, native rate)."""
    return SPEECH / "fsdd" / "audio" / "7_george_0.flac"


@pytest.fixture(scope="session")
def noise_files() -> list[Path]:
    return sorted((NOISE / "audio").glob("*.flac"))


@pytest.fixture(scope="session")
def rir_files() -> list[Path]:
    return sorted((RIR / "audio").glob("*.flac"))
