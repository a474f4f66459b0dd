"""Many recordings in one run: where each output goes, which process repairs which file, which
files a run that stopped half-way has done already, and the run's report (what ``msar repair``
runs over files and folders; one file's repair is :class:`msar_hf.repair.Repairer`'s).

* :func:`plan_outputs`: folders walked recursively with their tree kept, an output never over an
  input, two inputs never onto one output;
* ``accelerate launch`` (or ``shard=(index, count)``) splits a big folder across processes: the
  plan is the same on every process, each repairs every ``count``-th file;
* ``skip_existing``: outputs are written atomically, so one that exists is whole and is left;
* :func:`write_report`: one row per file, CSV or JSON, every process's rows gathered on the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .audio import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, find_audio_files, usual_mode, writing_errors
from .errors import AudioError, MsarError
from .repair import (
    AUDIO_OUTPUT_EXTENSIONS,
    DEFAULT_OUTPUT_DIR,
    WRITABLE_EXTENSIONS,
    Repairer,
    RepairReport,
    accelerate_state,
    check_output,
    launched_distributed,
    same_path,
)
from .video import VIDEO_OUTPUT_EXTENSIONS


# --------------------------------------------------------------------------------------------
# planning outputs for files and folders
# --------------------------------------------------------------------------------------------
def _writable_suffix(path: Path, keep_video: bool = False, output_format: str | None = None) -> str:
    """An audio input keeps its format where msar writes it (or takes ``output_format``); a video's
    sound goes to WAV (or ``output_format``), or with ``keep_video`` back into its container with
    the picture (msar_hf.video)."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_OUTPUT_EXTENSIONS and keep_video:
        return suffix
    if output_format is not None:
        return output_format
    if suffix in VIDEO_OUTPUT_EXTENSIONS:
        return ".wav"
    return suffix if suffix in WRITABLE_EXTENSIONS else ".wav"


def parse_output_format(value: str | None) -> str | None:
    """``--format``: ``flac`` / ``.flac`` -> ``".flac"``; None stays None. Raises MsarError for a
    format msar does not write."""
    if value is None:
        return None
    suffix = "." + value.lower().lstrip(".")
    if suffix not in AUDIO_OUTPUT_EXTENSIONS:
        raise MsarError(f"--format {value}: msar writes {', '.join(e.lstrip('.') for e in AUDIO_OUTPUT_EXTENSIONS)}")
    return _SAME_FORMAT.get(suffix, suffix)


# two spellings of one format: --format oga and -o x.ogg agree
_SAME_FORMAT = {".oga": ".ogg", ".aif": ".aiff"}


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def plan_outputs(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None = None,
                 keep_video: bool = False, output_format: str | None = None) -> list[tuple[Path, Path]]:
    """Pair every input file with its output path.

    * one input file and ``output`` with an audio extension (and not an existing folder): that file;
    * otherwise ``output`` (default ``./repaired``) is a folder (not a new one named like an audio
      file: refused, as a mistyped output file): a file input keeps its name, a
      folder input keeps its tree below the folder (below ``<folder name>/`` when several inputs
      are given). When the output folder lies inside an input folder, the files already in it are
      skipped (re-running ``msar repair .`` does not repair its own outputs). A video's output
      is a WAV, or with ``keep_video`` a video of its own kind (its picture kept);
    * ``output_format`` (``".flac"``...): every output msar names is of that format (an archive's
      MP3s repaired into FLAC: no second lossy coding); not with ``output`` naming a file of another.
    Raises :class:`MsarError` for missing inputs, empty folders, clashing or input-overwriting outputs.
    """
    if not inputs:
        raise MsarError("no input given")
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.exists():
            raise AudioError(p, "no such file or folder")
    out = Path(output) if output is not None else DEFAULT_OUTPUT_DIR
    single_file = len(paths) == 1 and paths[0].is_file()
    if single_file and not out.is_dir() and out.suffix:
        if output_format is not None and _SAME_FORMAT.get(out.suffix.lower(), out.suffix.lower()) != output_format:
            raise MsarError(f"{out}: --format {output_format.lstrip('.')} and an output named .{out.suffix.lstrip('.')}: "
                            "give one of the two")
        return [(paths[0], out)]
    if out.exists() and not out.is_dir():
        raise MsarError(f"{out}: exists and is not a folder; with several inputs or a folder, -o must be a folder")
    if not out.exists() and out.suffix.lower() in WRITABLE_EXTENSIONS:
        # a file name meant as one output: made a folder of that name, it hid the mistake
        raise MsarError(f"{out}: names a file, but several inputs or a folder need a folder for -o")
    pairs: list[tuple[Path, Path]] = []
    for p in paths:
        if p.is_dir():
            files = find_audio_files([p], video=True)
            if out.resolve() != p.resolve() and _is_within(out, p):
                files = [f for f in files if not _is_within(f, out)]  # outputs of an earlier run
            if not files:
                raise MsarError(f"{p}: no audio files found (looked for {', '.join(AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)})")
            base = out / p.resolve().name if len(paths) > 1 else out
            pairs += [(f, (base / f.relative_to(p)).with_suffix(_writable_suffix(f, keep_video, output_format)))
                      for f in files]
        else:
            pairs.append((p, (out / p.name).with_suffix(_writable_suffix(p, keep_video, output_format))))
    seen: dict[Path, Path] = {}
    all_inputs = [src for src, _ in pairs]
    unique = []
    for src, dst in pairs:
        key = dst.resolve()
        if key in seen and same_path(src, seen[key]):
            continue  # the same file given twice (or inside a folder also given): repaired once
        unique.append((src, dst))
        if key in seen:
            # "repair them separately" into one folder: the second run wrote over the first's output
            raise MsarError(f"{src} and {seen[key]} would both be written to {dst}; repair them into different "
                            "folders (-o)")
        seen[key] = src
        check_output(dst, all_inputs)
    return unique


# --------------------------------------------------------------------------------------------
# sharding across processes
# --------------------------------------------------------------------------------------------
def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> (I, N) with 0 <= I < N."""
    if text is None:
        return None
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError as exc:
        raise MsarError(f"--shard must look like INDEX/COUNT (e.g. 0/4), got {text!r}") from exc
    if count < 1 or not 0 <= index < count:
        raise MsarError(f"--shard {text}: need 0 <= INDEX < COUNT")
    return index, count


def current_shard(shard: tuple[int, int] | None = None, cpu: bool | None = None) -> tuple[int, int]:
    """Explicit ``shard``, else accelerate's process index/count when launched with accelerate."""
    if shard is not None:
        return shard
    if launched_distributed():
        state = accelerate_state(cpu)
        if state.num_processes == int(os.environ["WORLD_SIZE"]):
            return state.process_index, state.num_processes
        # a launcher accelerate did not recognise: torchrun's RANK/WORLD_SIZE still shard the work
        return int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"])
    return 0, 1


def gather_reports(reports: list[RepairReport]) -> list[RepairReport] | None:
    """Under a multi-process launch, every rank's reports, on rank 0 (None on the others), once all
    ranks have got here; elsewhere ``reports``.

    Why every rank waits: torchrun's agent (behind ``accelerate launch``) stops all ranks as soon as
    one exits with an error, so a rank whose share held an unreadable file would kill the ranks
    still repairing theirs. The gather runs in its own gloo group with a long timeout: ranks may
    finish hours apart (the default group's timeout is 30 minutes) and CUDA runs' default group is NCCL.
    """
    import datetime

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return reports
    group = dist.new_group(backend="gloo", timeout=datetime.timedelta(days=7))
    gathered = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object([r.to_dict() for r in reports], gathered, dst=0, group=group)
    if gathered is None:
        return None
    return [RepairReport(**row) for rank in gathered for row in rank]


# --------------------------------------------------------------------------------------------
# the run's report
# --------------------------------------------------------------------------------------------
REPORT_COLUMNS = ("input", "output", "status", "error", "warnings", "duration_s", "seconds", "sampling_rate",
                  "output_rate", "channels", "audio_track", "speech_detected", "speaker", "streamed", "input_lufs",
                  "output_lufs", "loudness_gain_db")


def check_report_path(path: str | os.PathLike) -> Path:
    """A ``--report`` path: ``.csv`` or ``.json``, not a folder; checked before any work."""
    path = Path(path)
    if path.is_dir():
        raise MsarError(f"{path}: is a folder; --report names a file (.csv or .json)")
    if path.suffix.lower() not in (".csv", ".json"):
        raise MsarError(f"{path}: a report is written as .csv or .json, not '{path.suffix or 'no extension'}'")
    return path


def write_report(path: str | os.PathLike, reports: Sequence[RepairReport]) -> Path:
    """One row per file (:data:`REPORT_COLUMNS`: what happened, its warnings, its speed), as CSV
    (a spreadsheet's) or JSON by the extension; written atomically, like the audio."""
    import csv
    import io
    import json
    import tempfile

    path = check_report_path(path)
    rows = [{**{k: v for k, v in r.to_dict().items() if k in REPORT_COLUMNS}, "status": r.status} for r in reports]
    if path.suffix.lower() == ".json":
        text = json.dumps([{key: row[key] for key in REPORT_COLUMNS} for row in rows], indent=1, ensure_ascii=False)
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, "warnings": " | ".join(row["warnings"])} for row in rows)
        text = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    with writing_errors(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            usual_mode(Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------
def repair_paths(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    model=None,
    speaker_ref: str | os.PathLike | None = None,
    strength: float | None = None,
    output_rate: int | None = None,
    device: str = "auto",
    chunk_seconds: float = 8.0,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    on_report: Callable[[RepairReport], None] | None = None,
    skip_existing: bool = False,
    keep_video: bool = False,
    output_format: str | None = None,
) -> list[RepairReport]:
    """Repair files and folders (see :func:`plan_outputs` for where outputs go).

    ``skip_existing``: leave a file whose output is there already (reported ``skipped``): a big
    run stopped half-way goes on where it stopped, since every output is written atomically (one
    that exists is whole). ``keep_video``: a video's output is a video of its kind, its picture kept.
    ``output_format``: every output msar names in this format (see :func:`plan_outputs`).

    A file that cannot be read does not stop the others: its report carries ``error``. Under
    ``accelerate launch`` (or with ``shard=(index, count)``) this process repairs every
    ``count``-th file starting at ``index``; outputs never collide because the plan is the same
    on every process.
    """
    pairs = plan_outputs(inputs, output, keep_video=keep_video, output_format=output_format)
    index, count = current_shard(shard)
    mine = pairs[index::count]
    repairer = model if isinstance(model, Repairer) else Repairer(
        model, device=device, strength=strength, speaker_ref=speaker_ref, output_rate=output_rate,
        chunk_seconds=chunk_seconds)
    all_inputs = [src for src, _ in pairs]
    iterator = mine
    if progress:
        from tqdm.auto import tqdm

        desc = "repair" if count == 1 else f"repair [{index + 1}/{count}]"
        iterator = tqdm(mine, desc=desc, unit="file", position=index if count > 1 else None,
                        disable=not mine)
    reports = []
    for src, dst in iterator:
        if skip_existing and dst.is_file():
            report = RepairReport(input=str(src), output=str(dst), skipped=True)
            reports.append(report)
            if on_report is not None:
                on_report(report)
            continue
        try:
            report = repairer.repair_file(src, dst, inputs=all_inputs, progress=progress)
        except MsarError as exc:
            report = RepairReport(input=str(src), output=None, error=str(exc))
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports
