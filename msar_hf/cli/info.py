"""``msar info FILE...``: format, rate, channels, duration, levels, clipping, silence and sound tracks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("info")(info)


def info(
    files: Annotated[list[Path], typer.Argument(help="Audio files or folders to inspect.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
    audio_track: Annotated[int | None, typer.Option(
        "--audio-track", min=1, help="Measure this sound track of a file of several, counted from 1 "
                                     "(default: FFmpeg's default track, the one msar repair reads).")] = None,
) -> None:
    """Show what a recording is before you repair it."""
    from rich.console import Console
    from rich.table import Table

    from ..audio import find_audio_files
    from ..errors import AudioError, MsarError
    from ..recording_io import SoundTrack, audio_info

    paths = find_audio_files(files, video=True)  # a video's sound too, as msar repair reads folders
    if not paths:
        raise MsarError(f"no audio files found in {', '.join(map(str, files))}")
    results, failures = [], []
    for p in paths:
        try:
            results.append(audio_info(p, audio_track).to_dict())
        except AudioError as exc:
            failures.append(str(exc))
    if as_json:
        for r in results:
            typer.echo(json.dumps({k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in r.items()}))
    elif results:
        table = Table(title="msar info")
        for col in ("file", "format", "rate", "ch", "duration", "peak dBFS", "RMS dBFS", "LUFS", "clipped",
                    "silence"):
            table.add_column(col, justify="left" if col in ("file", "format") else "right")
        for r in results:
            coding = f"{r['format']} {r['encoding']}" + (f" {r['bit_rate_kbps']:.0f} kbit/s" if r["bit_rate_kbps"] else "")
            table.add_row(
                Path(r["path"]).name, coding, f"{r['sampling_rate']}",
                f"{r['channels']}", f"{r['duration_s']:.2f}s", f"{r['peak_dbfs']:.1f}", f"{r['rms_dbfs']:.1f}",
                f"{r['loudness_lufs']:.1f}", f"{100 * r['clipped_ratio']:.2f}%", f"{100 * r['silence_ratio']:.1f}%",
            )
        Console(width=160).print(table)
        for r in results:  # a second language or a commentary: say which track the numbers are of
            if len(r["sound_tracks"]) > 1:
                typer.echo(f"{Path(r['path']).name}: {len(r['sound_tracks'])} sound tracks (measured: "
                           f"{r['audio_track'] or '?'}; choose with --audio-track N)")
                for t in r["sound_tracks"]:
                    typer.echo(f"  {t['number']}: {SoundTrack(**t).describe()}")
    for f in failures:
        typer.echo(f"msar: error: {f}", err=True)
    if failures:
        raise typer.Exit(2)
