"""``msar evaluate --ref DIR --est NAME=DIR [...] --out REPORT_DIR``: score systems against references."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def _load_speaker_encoder():
    """msar's default speaker encoder, or None with a one-line note when msar_hf.speaker is absent."""
    try:
        from ..speaker import SpeakerEncoder  # lazy: the speaker module is optional here
    except ImportError as exc:
        typer.echo(f"msar: note: speaker similarity unavailable ({exc}); continuing without it", err=True)
        return None
    from ..errors import MsarError

    try:
        return SpeakerEncoder.from_pretrained()
    except MsarError as exc:  # e.g. the shipped weights are missing
        typer.echo(f"msar: note: speaker similarity unavailable ({exc}); continuing without it", err=True)
        return None


def evaluate(
    ref: Annotated[Path, typer.Option("--ref", help="Folder of reference recordings.")],
    est: Annotated[list[str], typer.Option("--est", help="NAME=DIR: a system's estimates (repeatable). "
                                           "Files pair with references by name, any extension.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder (CSV, JSON, Markdown, plots).")],
    align: Annotated[bool, typer.Option("--align/--no-align", help="Remove each estimate's constant delay "
                                        "(cross-correlation, within 0.5 s) before scoring.")] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", min=1, help="Processes scoring in parallel.")] = 1,
    speaker_sim: Annotated[bool, typer.Option("--speaker-sim/--no-speaker-sim",
                                              help="Add speaker similarity (ECAPA cosine).")] = False,
    file_plots: Annotated[int, typer.Option("--file-plots", help="Per-file spectrogram/contour figures "
                                            "for the first N files of each system; -1 = all.")] = 20,
    pitch_tracker: Annotated[str, typer.Option("--pitch-tracker", help="F0 tracker: dio (fast) or harvest "
                                               "(robust to noise; the full set ~10x slower).")] = "dio",
    dnsmos: Annotated[bool, typer.Option("--dnsmos/--no-dnsmos", help="Add DNSMOS P.835 SIG/BAK/OVRL and P.808: "
                                          "Microsoft's reference-free ratings (1-5) of each estimate.")] = False,
    plcmos: Annotated[bool, typer.Option("--plcmos/--no-plcmos", help="Add PLCMOS v2: Microsoft's reference-free "
                                          "rating (1-5) of how well lost packets were concealed.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    common: Annotated[bool, typer.Option("--common/--all", help="Score only the references every system has an "
                                          "estimate of, so all means cover the same files.")] = False,
) -> None:
    """Score each system's files against the references with the msar_quality metric.

    Q = 0.5*MSE + 0.3*(1 - CosSim pitch) + 0.2*(1 - CosSim loudness), lower is better; also
    PESQ-WB, STOI, ESTOI, SI-SDR and log-spectral distance (with --dnsmos / --plcmos, those
    too). Prints the table of systems (mean ± 95% CI) and writes per_file.csv, summary.csv,
    report.json, report.md and plots/ in --out.
    """
    from rich.console import Console
    from rich.table import Table

    from ..metrics.report import (
        EvaluationInputError,
        column_label,
        evaluate_folders,
        parse_system,
    )

    systems: dict[str, Path] = {}
    for spec in est:
        name, folder = parse_system(spec)
        if name in systems:
            raise EvaluationInputError(f"--est {spec!r}: system name {name!r} given twice")
        systems[name] = folder
    if not systems:
        raise EvaluationInputError("give at least one --est NAME=DIR")

    encoder = _load_speaker_encoder() if speaker_sim else None
    command = " ".join(
        ["msar evaluate", "--ref", shlex.quote(str(ref)), *[f"--est {shlex.quote(e)}" for e in est],
         "--out", shlex.quote(str(out))]
        + (["--align"] if align else []) + ([f"--workers {workers}"] if workers != 1 else [])
        + (["--speaker-sim"] if encoder is not None else []) + ([f"--file-plots {file_plots}"] if file_plots != 20 else [])
        + ([f"--pitch-tracker {pitch_tracker}"] if pitch_tracker != "dio" else []) + (["--dnsmos"] if dnsmos else [])
        + (["--plcmos"] if plcmos else []) + (["--common"] if common else []))
    report = evaluate_folders(ref, systems, out, align=align, workers=workers, speaker_encoder=encoder,
                              file_plots=file_plots, pitch_tracker=pitch_tracker, command=command,
                              progress=progress, dnsmos=dnsmos, plcmos=plcmos, common_only=common)

    # a terminal gets its own width; pipes and logs get one wide enough for every column
    console = Console() if sys.stdout.isatty() else Console(width=200)
    table = Table(title="msar evaluate (mean ± 95% CI; Q lower is better)")
    table.add_column("system")
    table.add_column("files", justify="right")
    for m in report.metrics:
        table.add_column(column_label(m), justify="right")
    for row in report.table():
        table.add_row(row["system"], row["files"], *[row[m] for m in report.metrics])
    console.print(table)

    for system, keys in report.pairing.missing.items():
        for key in keys:
            typer.echo(f"unmatched: {system} has no estimate for reference '{key}'")
    for system, keys in report.pairing.unexpected.items():
        for key in keys:
            typer.echo(f"unmatched: {system} file '{key}' has no reference")
    lacking = sorted(s for s, keys in report.pairing.missing.items() if keys)
    if lacking and common:
        typer.echo(f"note: {', '.join(lacking)} lack estimates of some references: with --common every system "
                   "was scored on the references all of them have")
    elif lacking:
        typer.echo(f"warning: {', '.join(lacking)} lack estimates of some references (see unmatched above): "
                   + ("the systems' means cover different files and are not comparable (--common scores only "
                      "the files all have)" if len(report.pairing.missing) > 1 else "the means cover only the files matched"))
    noted = [r for r in report.rows if r.get("notes")]
    if noted:
        typer.echo(f"note: {len(noted)} pair(s) have a metric that could not be scored (NaN, left out of "
                   f"the means), e.g. {noted[0]['system']}/{noted[0]['file']}: {noted[0]['notes']}; "
                   "see the notes column of per_file.csv")
    typer.echo(f"report: {report.outputs['markdown']} (+ per_file.csv, summary.csv, report.json, plots/)")
    for failure in report.failures:
        typer.echo(f"msar: error: {failure['error']}", err=True)
    if report.failures:
        raise typer.Exit(2)
