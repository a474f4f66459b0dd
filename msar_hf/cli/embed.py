"""``msar embed FILES_OR_DIRS --out embeddings.parquet``: one speaker embedding per audio file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

_HELP = ("Write a speaker embedding for every audio file. Unusable files (unreadable, shorter than "
         "0.5 s, silent) get a zero embedding, valid=false and the reason in the problem column; they "
         "are listed on stderr and the command still succeeds unless --strict is given.")


def register(app: typer.Typer) -> None:
    app.command("embed", help=_HELP)(embed)


def embed(
    inputs: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write (file, embedding, valid, problem).")],
    model: Annotated[str | None, typer.Option(
        "--model", help="SpeechBrain speaker model: local folder or Hub id (default: msar's shipped encoder).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Files per forward pass.")] = 8,
    device: Annotated[str, typer.Option("--device", help="torch device.")] = "cpu",
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 2) on the first unusable file instead of flagging it.")] = False,
) -> None:
    """Write a speaker embedding for every audio file.

    Unusable files (unreadable, shorter than 0.5 s, silent) get a zero embedding, valid=false
    and the reason in the problem column; they are listed on stderr and the command still
    succeeds unless --strict is given.
    """
    import os
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..audio import file_in_the_way, find_audio_files, usual_mode
    from ..errors import AudioFileNotFoundError, MsarError, OverwriteInputError
    from ..speaker import SpeakerEncoder

    if out.suffix.lower() != ".parquet":
        raise MsarError(f"{out}: the output must be a .parquet file")
    # said now, not after embedding every file (os.replace / mkdir stopped with a traceback)
    if out.is_dir():
        raise MsarError(f"{out}: is a folder; --out takes a file name such as {out / 'embeddings.parquet'}")
    if blocker := file_in_the_way(out):
        raise MsarError(f"{out}: cannot be written: {blocker} is a file, not a folder")
    for p in inputs:
        if not p.exists():
            raise AudioFileNotFoundError(p, "no such file or folder")
    paths = find_audio_files(inputs, video=True)  # a video's sound, as msar repair reads it
    if not paths:
        raise MsarError(f"no audio files found in {', '.join(map(str, inputs))}")
    if any(out.resolve() == p.resolve() for p in paths):
        raise OverwriteInputError(out, "refusing to overwrite an input file; choose another output path")

    encoder = SpeakerEncoder.from_pretrained(model, device=device)
    result = encoder.embed_files(paths, batch_size=batch_size, progress=True)
    problems = [p for p in result.problems if p]
    if strict and problems:
        raise MsarError(problems[0])

    emb = result.embeddings.numpy().astype("float32")
    table = pa.table({
        "file": pa.array([str(p) for p in paths], pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), emb.shape[1]),
        "valid": pa.array(result.valid.numpy(), pa.bool_()),
        "problem": pa.array(result.problems, pa.string()),
    }, metadata={b"model": str(encoder.source).encode(), b"embedding_dim": str(emb.shape[1]).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".parquet")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        usual_mode(Path(tmp))  # mkstemp's 0600 would stay after the rename
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for p in problems:
        typer.echo(f"msar: warning: {p} (zero embedding, valid=false)", err=True)
    typer.echo(f"{out}: {int(result.valid.sum())} of {len(paths)} files embedded "
               f"({emb.shape[1]}-d, model {encoder.source})")
