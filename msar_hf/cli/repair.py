"""``msar repair`` (damaged recordings in, repaired out) and ``msar export --onnx``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("repair")(repair)
    app.command("export")(export)


def repair(
    inputs: Annotated[list[Path], typer.Argument(
        help="Audio files or folders (folders are searched recursively); - reads one recording from stdin.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output",
        help="Output file (one input file) or folder (several inputs or a folder; the tree is kept); "
             "- writes to stdout (a WAV, or --format). Default: ./repaired/")] = None,
    speaker_ref: Annotated[Path | None, typer.Option(
        "--speaker-ref", help="A clean clip (0.5 s or more) of the speaker; conditions speaker-aware "
                              "models (use_speaker_conditioning; default: the input itself). The shipped "
                              "model is not one: it repairs without the clip, with a warning.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Hub id (ORG/NAME, from the local cache offline) or save_pretrained folder. "
                        "Default: the shipped model.")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N, mps or auto.")] = "auto",
    strength: Annotated[str | None, typer.Option(
        "--strength", help="How much of the repair to apply: 0 = untouched, 1 = full, 'auto' = more "
        "where the model finds more to fix, full on steady noise such as hiss or a fan, 0.95 on noise "
        "that fills the speech's pauses such as babble or traffic (default: the "
        "model's default_strength, 'auto' for the shipped model).")] = None,
    gate: Annotated[float | None, typer.Option(
        "--gate", help="0..1: how much to lower the noise floor the repair leaves behind (what stays "
        "under the level of the damage it removed); 0 = off (default: the model's residual_gate, "
        "0.5 for the shipped model).")] = None,
    comb: Annotated[float | None, typer.Option(
        "--comb", help="0..1: how much to lower what lies between the harmonics of the voice's low band "
        "(under 350 Hz) where what the repair removed is noise; 0 = off (default: the model's "
        "low_band_comb, 1 for the shipped model: it lifts PESQ-WB and pitch fidelity; DNSMOS "
        "rates it a little lower).")] = None,
    loudness: Annotated[str | None, typer.Option(
        "--loudness", help="Bring each output to this integrated loudness in LUFS (ITU-R BS.1770): -16 for "
        "podcasts, -23 for EBU R128 broadcast; 'input' = the input's own loudness (a repair that removes "
        "reverberation or loud noise takes their energy away). Peaks the gain takes past full scale are "
        "soft-limited. Default: the repair's own level.")] = None,
    output_rate: Annotated[int | None, typer.Option(
        "--output-rate", help="Write at this rate in Hz (default: each input's own rate, or the next rate up "
                              "a format holds: 44.1 kHz into .opus is written at 48 kHz).")] = None,
    upper_band: Annotated[bool, typer.Option(
        "--upper-band/--no-upper-band",
        help="Input above 16 kHz: keep its band above 8 kHz (the model works at 16 kHz), scaled by "
             "the repair's gain just below 8 kHz; --no-upper-band leaves it to the 16 kHz round trip "
             "(the resampler's roll-off, some 40 dB down).")] = True,
    chunk_seconds: Annotated[float, typer.Option(
        "--chunk-seconds", help="Model chunk length in seconds (memory per model call).")] = 8.0,
    shard: Annotated[str | None, typer.Option(
        "--shard", help="INDEX/COUNT: repair only this process's share of the files "
                        "(automatic under `accelerate launch`).")] = None,
    output_format: Annotated[str | None, typer.Option(
        "--format", help="Write every output in this format: wav, flac, ogg, aiff, mp3, m4a, opus, aac (default: "
                         "each input's own, a video's sound as WAV; a video kept with --keep-video stays a "
                         "video). An archive's MP3s into FLAC: no second lossy coding. With -o -, the format "
                         "sent to stdout (default WAV).")] = None,
    keep_video: Annotated[bool, typer.Option(
        "--keep-video", help="A video's output is a video of its kind (.mp4, .mov, .mkv, .webm, .avi) "
                             "with its picture and other streams copied and the repaired sound in "
                             "place of the old; without it, a video's sound goes to WAV. One file "
                             "given -o NAME.mp4 (.mkv...) is written so anyway.")] = False,
    audio_track: Annotated[int | None, typer.Option(
        "--audio-track", min=1,
        help="Which sound track of a file of several to repair (a video's languages, a commentary), "
             "counted from 1 as `msar info` lists them (default: FFmpeg's default track, with a warning "
             "naming it). A video output keeps the other tracks unchanged.")] = None,
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing", help="Leave a file whose output is there already: a big run stopped half-way "
                                "goes on where it stopped (outputs are written atomically, so one that "
                                "exists is whole).")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write one row per file (status, error, warnings, duration, speed, speech "
                         "found...) to this .csv or .json; under `accelerate launch` the first process "
                         "writes every process's rows, with --shard each shard its own file.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print which output each input would be repaired into (and which --skip-existing "
                          "would leave), then stop: no model loaded, nothing written.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Repair damaged speech: noise, reverberation, clipping, dropouts, band limits, codec damage."""

    from ..errors import AudioError
    from .pipes import STDIO, stdio_files

    for path in inputs:  # a mistyped name fails at once, not after torch and the model have loaded
        if str(path) != STDIO and not path.exists():
            raise AudioError(path, "no such file or folder")
    from ..batch import parse_output_format

    output_format = parse_output_format(output_format)
    if dry_run:
        _plan(inputs, output, shard=shard, keep_video=keep_video, output_format=output_format,
              skip_existing=skip_existing)
        return
    # "-": stdin spooled to a file, stdout's file sent at the end
    with stdio_files(inputs, output, output_format or ".wav", shard) as pipes:
        _repair(pipes, model=model, device=device, strength=strength, speaker_ref=speaker_ref, gate=gate, comb=comb,
                loudness=loudness, output_rate=output_rate, upper_band=upper_band, chunk_seconds=chunk_seconds, shard=shard,
                keep_video=keep_video, output_format=output_format, audio_track=audio_track,
                skip_existing=skip_existing, report=report, quiet=quiet)


def _repair(pipes, *, model, device, strength, speaker_ref, gate, comb, loudness, output_rate, upper_band, chunk_seconds,
            shard, keep_video, output_format, audio_track, skip_existing, report, quiet) -> None:
    import sys

    from .lean_imports import skip_gpu_only_modules

    skip_gpu_only_modules(device)  # before transformers loads (its import would bring Triton on a CPU run)

    import torch
    from tqdm.auto import tqdm
    from transformers.utils import logging as hf_logging

    from ..batch import (
        check_report_path,
        current_shard,
        gather_reports,
        parse_shard,
        repair_paths,
        write_report,
    )
    from ..errors import MsarError
    from ..repair import Repairer

    if report is not None:  # a report it could not write is refused before the model loads, not after the run
        check_report_path(report)
    hf_logging.disable_progress_bar()  # "Loading weights" bars: msar shows its own progress
    index, count = current_shard(parse_shard(shard), cpu=True if device == "cpu" else None)
    repairer = Repairer(model, device=device, strength=strength, speaker_ref=speaker_ref,
                        output_rate=output_rate, chunk_seconds=chunk_seconds, upper_band=upper_band,
                        residual_gate=gate, low_band_comb=comb, audio_track=audio_track, loudness=loudness)
    shown_notes = 0

    def say(line: str, err: bool = False) -> None:
        # tqdm.write keeps the progress bar intact; the line and its newline go out in one write, since
        # ranks of `accelerate launch` share one stdout (two writes let another rank's line in between).
        # With -o - stdout is the sound: every line goes to stderr.
        tqdm.write(pipes.named(line) + "\n", file=sys.stderr if err or pipes.to_stdout else sys.stdout, end="")

    def show(done) -> None:
        nonlocal shown_notes
        for note in repairer.notes[shown_notes:]:  # run-wide notes, e.g. no speaker encoder
            say(f"msar: warning: {note}", err=True)
        shown_notes = len(repairer.notes)
        if done.error:
            say(f"msar: error: {done.error}", err=True)
            return
        for w in done.warnings:
            say(f"msar: warning: {done.input}: {w}", err=True)
        if not quiet:
            level = "" if done.loudness_gain_db is None else f", {_loudness(done)}"
            say(f"{done.input} -> {done.output} (there already: skipped)" if done.skipped else
                f"{done.input} -> {done.output} ({done.duration_s:.1f} s audio in {done.seconds:.1f} s, "
                f"{_speed(done.duration_s, done.seconds)}{level})")

    with torch.no_grad():  # a context, not set_grad_enabled: callers in the same process keep autograd
        reports = repair_paths(pipes.inputs, pipes.output, model=repairer, shard=(index, count), progress=not quiet,
                               on_report=show, skip_existing=skip_existing, keep_video=keep_video,
                               output_format=output_format)
    # every rank's reports on the first (None on the others); this waits for all ranks: exiting with
    # an error now would stop the ranks still at work
    for row in reports:  # the rows name "-" as <stdin> / <stdout>, not the temporary files
        row.input, row.output, row.error = (None if v is None else pipes.named(v) for v in (row.input, row.output, row.error))
        row.warnings = [pipes.named(w) for w in row.warnings]
    everyone = gather_reports(reports) if count > 1 else reports
    if report is not None and everyone is not None:
        if everyone is reports and count > 1:  # --shard by hand: no other process to gather from
            report = report.with_name(f"{report.stem}.shard{index + 1}of{count}{report.suffix}")
        write_report(report, sorted(everyone, key=lambda r: r.input))
    failed = [r for r in reports if r.error]
    skipped = sum(r.skipped for r in reports)
    if not quiet and (count > 1 or skipped):
        where = f"process {index + 1}/{count}: " if count > 1 else ""
        typer.echo(f"{where}{len(reports) - len(failed) - skipped} repaired, {len(failed)} failed"
                   + (f", {skipped} skipped (output there already)" if skipped else ""), err=pipes.to_stdout)
    if not failed:
        pipes.send_output()
    if failed:
        if len(reports) == 1:
            raise typer.Exit(2)
        raise MsarError(f"{len(failed)} of {len(reports)} files could not be repaired (see the errors above)")


def _plan(inputs: list[Path], output: Path | None, *, shard: str | None, keep_video: bool,
          output_format: str | None, skip_existing: bool) -> None:
    """--dry-run: the outputs a run would write (this process's share), one line each."""
    from ..batch import current_shard, parse_shard, plan_outputs
    from ..errors import MsarError
    from ..repair import check_output

    if any(str(p) == "-" for p in [*inputs, output]):
        raise MsarError("--dry-run plans files and folders; '-' (stdin, stdout) has nothing to plan")
    index, count = current_shard(parse_shard(shard), cpu=True)
    pairs = plan_outputs(inputs, output, keep_video=keep_video, output_format=output_format)[index::count]
    there = [dst.is_file() for _, dst in pairs] if skip_existing else [False] * len(pairs)
    sources = [src for src, _ in pairs]
    for (src, dst), skip in zip(pairs, there):
        try:  # what the run refuses per file before its work (an output kind msar cannot write...)
            check_output(dst, sources)
            problem = ""
        except MsarError as exc:
            problem = f" (would fail: {exc})"
        typer.echo(f"{src} -> {dst}" + (" (there already: would be skipped)" if skip else "") + problem)
    where = f"process {index + 1}/{count}: " if count > 1 else ""
    typer.echo(f"{where}{len(pairs) - sum(there)} would be repaired" + (f", {sum(there)} skipped" if any(there) else "")
               + " (dry run: nothing written)", err=True)


def _loudness(done) -> str:
    """'-16.0 LUFS (+6.2 dB)': what --loudness wrote and the gain it took."""
    out = "unmeasured" if done.output_lufs is None else f"{done.output_lufs:.1f} LUFS"  # silence, under 0.4 s
    return f"{out} ({done.loudness_gain_db:+.1f} dB)"


def _speed(audio_s: float, wall_s: float) -> str:
    """'x42 real time' / 'x1.8 real time'; slower than real time reads as such, not as 'x0'."""
    factor = audio_s / max(wall_s, 1e-9)
    if factor >= 10:
        return f"x{factor:.0f} real time"
    if factor >= 1:
        return f"x{factor:.1f} real time"
    return f"{1 / max(factor, 1e-9):.1f}x slower than real time"


def export(
    onnx: Annotated[Path, typer.Option("--onnx", help="Where to write the ONNX model (.onnx).")],
    model: Annotated[str | None, typer.Option(
        "--model", help="Hub id or save_pretrained folder (default: the shipped model; with --streaming "
                        "the shipped live model).")] = None,
    streaming: Annotated[bool, typer.Option(
        "--streaming", help="Export a causal model's frame step (frames and LSTM state in, repaired "
                            "frames and state out) for live use: OnnxStreamingRepairer or `msar stream "
                            "--model FILE.onnx` runs it.")] = False,
    chunk_seconds: Annotated[float | None, typer.Option(
        "--chunk-seconds", help="Chunk length the runner uses (stored in the file; the graph takes any "
                                "length, and the runner chunks and cross-fades as `msar repair` does). "
                                "At least 0.5; default 8. Not with --streaming (frames, no chunks).")] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 17,
    check: Annotated[bool, typer.Option(
        "--check/--no-check", help="Run onnxruntime on a real-length input, compare with torch and "
                                   "report both real-time factors (one thread).")] = True,
) -> None:
    """Export the repair model to ONNX (any input length; --streaming: a live model's frame step)
    and check it against torch."""
    from transformers.utils import logging as hf_logging

    from ..errors import MsarError

    hf_logging.disable_progress_bar()
    if streaming:
        if chunk_seconds is not None:  # silently ignored, a user would think the file chunks
            raise MsarError("--chunk-seconds: a streaming export runs frame by frame and has no chunks; "
                            "leave it out, or export without --streaming")
        from ..export_streaming import export_streaming_onnx, measure_streaming_parity

        path = export_streaming_onnx(onnx, model=model, opset=opset)
        typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        if check:
            result = measure_streaming_parity(path, model=model)
            typer.echo(
                f"onnxruntime vs torch streaming {result['seconds']:.0f} s of audio in {result['block_ms']:g} ms "
                f"blocks: max |diff| {result['max_abs_diff']:.2e}; RTF one thread: onnxruntime "
                f"{result['rtf_onnxruntime']:.4f}, torch {result['rtf_torch']:.4f}")
        return
    from ..export import export_onnx, measure_parity

    path = export_onnx(onnx, model=model, chunk_seconds=8.0 if chunk_seconds is None else chunk_seconds, opset=opset)
    size = path.stat().st_size / 1e6
    typer.echo(f"wrote {path} ({size:.1f} MB)")
    if check:
        result = measure_parity(path, model=model)
        typer.echo(
            f"onnxruntime vs torch on {result['seconds']:.0f} s of audio: max |diff| {result['max_abs_diff']:.2e}; "
            f"RTF one thread: onnxruntime {result['rtf_onnxruntime']:.4f}, torch {result['rtf_torch']:.4f}")
