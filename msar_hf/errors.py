"""Errors a user can cause.

Every exception here derives from :class:`MsarError`. The CLI catches ``MsarError`` at its
boundary and prints one line (exit code 2); anything else is a programming error and is allowed
to raise normally (see DESIGN.md, "Conventions").
"""

from __future__ import annotations


class MsarError(Exception):
    """Base class of every error a user can cause (bad file, bad option, bad text)."""


class AudioError(MsarError):
    """A problem with an audio input or output. The message names the file."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The file does not exist."""


class EmptyAudioFileError(AudioError):
    """The file has 0 bytes."""


class CorruptAudioError(AudioError):
    """The file looks like audio but cannot be decoded completely (truncated or damaged)."""


class NotAudioError(AudioError):
    """The file is not audio at all (text, image, random bytes...)."""


class NoSamplesError(AudioError):
    """The file decodes to zero samples."""


class NonFiniteSamplesError(AudioError):
    """The file contains NaN or Inf samples."""


class UnsupportedFormatError(AudioError):
    """A format we cannot read or write (e.g. an output extension with no encoder)."""


class OverwriteInputError(AudioError):
    """An output path would overwrite one of the inputs."""


class HubError(MsarError):
    """Publishing to or reading from the Hub failed for a reason the user can fix."""
