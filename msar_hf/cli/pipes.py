"""``-`` for ``msar repair``'s input (stdin) and output (stdout), for shell pipelines::

    ffmpeg -i talk.mkv -f wav - | msar repair - -o - | ffmpeg -i - talk.mp3

The repair reads files (a format is known by its content; a long recording is streamed from disk)
and writes them atomically; a pipe is neither. So stdin is spooled to a temporary file first (beside
a named output, else in ``$TMPDIR``), and stdout gets the finished WAV in one go: nothing of a failed repair reaches the next
program, which sees an empty stream and a non-zero exit instead of half a file. ``--format`` picks
what stdout gets (FLAC, MP3...; WAV by default).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import MsarError

STDIO = "-"
STDIN_NAME, STDOUT_NAME = "<stdin>", "<stdout>"


@dataclass
class Pipes:
    """The files standing in for stdin and stdout (None where the run uses none)."""

    inputs: list[Path]
    output: Path | None
    stdin_file: Path | None = None
    stdout_file: Path | None = None

    @property
    def to_stdout(self) -> bool:
        return self.stdout_file is not None

    def named(self, text: str) -> str:
        """A message with the temporary files named as the user named them."""
        for path, name in ((self.stdin_file, STDIN_NAME), (self.stdout_file, STDOUT_NAME)):
            if path is not None:
                text = text.replace(str(path), name)
        return text

    def send_output(self) -> None:
        """The finished output to stdout."""
        if self.stdout_file is not None and self.stdout_file.exists():
            with self.stdout_file.open("rb") as handle:
                shutil.copyfileobj(handle, sys.stdout.buffer, length=1 << 20)
            sys.stdout.buffer.flush()


def _scratch_for(output: Path) -> str | None:
    """The folder stdin is kept in for ``output``: the output folder (or the output file's), its
    nearest existing one, where that can be written; else None ($TMPDIR)."""
    import os

    output = output.absolute()
    for folder in [output, *output.parents]:
        if folder.is_dir():
            return str(folder) if os.access(folder, os.W_OK | os.X_OK) else None
    return None


def _is_stdio(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDIO


@contextmanager
def stdio_files(inputs: list[Path], output: Path | None, stdout_format: str = ".wav",
                shard: str | None = None) -> Iterator[Pipes]:
    """Stand temporary files in for ``-`` (stdin as the one input, stdout as the output, a file of
    ``stdout_format``), removed on exit. Raises MsarError for a use of ``-`` that cannot work (with
    other inputs, from or to a terminal, stdin without -o, in a run of several processes: ``shard``,
    a launcher)."""
    reads_stdin, writes_stdout = any(map(_is_stdio, inputs)), _is_stdio(output)
    if not reads_stdin and not writes_stdout:
        yield Pipes(inputs, output)
        return
    from ..repair import launched_distributed

    if shard is not None or launched_distributed():
        # every process would read stdin (the second one finds it empty) and write stdout
        raise MsarError("'-' (stdin, stdout) is for one process: leave out --shard and accelerate launch / torchrun")
    if reads_stdin and len(inputs) > 1:
        raise MsarError("'-' (stdin) must be the only input")
    if reads_stdin and output is None:
        raise MsarError("reading stdin ('-'): name the output with -o FILE, or -o - for stdout")
    if reads_stdin and sys.stdin.isatty():
        raise MsarError("'-' reads stdin, which is a terminal: pipe a recording in (... | msar repair - -o out.wav)")
    if writes_stdout and (len(inputs) > 1 or (not reads_stdin and inputs[0].is_dir())):
        raise MsarError("-o - (stdout) takes one recording; for several, -o names a folder")
    if writes_stdout and sys.stdout.isatty():
        raise MsarError("-o - writes a recording to stdout, which is a terminal: pipe it into a program or a file")
    # stdin is kept beside a named output (the system's temporary folder may be a tmpfs, i.e. memory:
    # an hour of 48 kHz stereo is 660 MB), hidden so that folder scans skip it; for -o -, in $TMPDIR
    scratch = None if writes_stdout else _scratch_for(Path(output))
    with tempfile.TemporaryDirectory(prefix=".msar-pipe-", dir=scratch) as folder:
        pipes = Pipes(list(inputs), output)
        if reads_stdin:
            pipes.stdin_file = Path(folder) / "stdin"
            try:
                with pipes.stdin_file.open("wb") as handle:
                    shutil.copyfileobj(sys.stdin.buffer, handle, length=1 << 20)
            except OSError as exc:  # a full disk: the user's error to mend, not a traceback
                where = "set TMPDIR to" if scratch is None else "write the output to"
                raise MsarError(f"{STDIN_NAME}: could not be kept in {folder} ({exc.strerror or exc}); "
                                f"{where} a folder with room for the recording") from None
            if not pipes.stdin_file.stat().st_size:  # refused before the model loads
                raise MsarError(f"{STDIN_NAME}: empty (nothing was piped in)")
            pipes.inputs = [pipes.stdin_file]
        if writes_stdout:
            pipes.stdout_file = pipes.output = Path(folder) / f"stdout{stdout_format}"
        yield pipes
