"""Score folders of estimates against a folder of references and write the report.

What ``msar evaluate`` does, as functions a Python user can call:

* :func:`pair_files` matches files by name (path relative to the folder, without extension, so
  ``ref/a.flac`` pairs with ``est/a.wav``) and lists the ones left unmatched;
* :func:`evaluate_folders` scores every pair with :func:`msar_hf.metrics.quality.analyze`
  (each reference read once for all systems), then summarises per system (mean and 95%
  confidence interval) and writes ``per_file.csv``, ``summary.csv``, ``report.json``,
  ``report.md`` and the plots: ``plots/systems.png`` (systems side by side on Q, its components
  and the other measures), ``plots/q_components.png`` (a pie of each system's weighted Q terms)
  and ``plots/files/<system>/<file>.png`` (spectrograms, F0 and loudness contour overlays).

Every output is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import re
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AudioError, MsarError
from .dnsmos import DNSMOS_METRICS
from .quality import ALL_METRICS, PITCH_TRACKERS, Q_WEIGHTS, SpeakerEncoder

# Display names and direction of every column (for tables and plots).
METRIC_LABELS = {
    "q": "Q", "mse": "MSE", "cossim_pitch": "CosSim pitch", "cossim_loudness": "CosSim loudness",
    "pesq_wb": "PESQ-WB", "stoi": "STOI", "estoi": "ESTOI", "si_sdr": "SI-SDR (dB)",
    "lsd": "LSD (dB)", "speaker_similarity": "Speaker sim", "shift_ms": "shift (ms)",
    "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "DNSMOS BAK", "dnsmos_ovrl": "DNSMOS OVRL", "dnsmos_p808": "DNSMOS P.808",
    "plcmos": "PLCMOS",
}
LOWER_IS_BETTER = {"q", "mse", "lsd"}
NO_DIRECTION = {"shift_ms"}  # a measurement, not a quality: neither more nor less is better


def column_label(metric: str, *, words: bool = False) -> str:
    """A column's label with its better direction (" ↓", " ↑", or nothing for a plain measurement)."""
    if metric in NO_DIRECTION:
        return METRIC_LABELS[metric]
    lower = metric in LOWER_IS_BETTER
    if words:
        return METRIC_LABELS[metric] + (" (lower better)" if lower else " (higher better)")
    return METRIC_LABELS[metric] + (" ↓" if lower else " ↑")
_SYSTEM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class EvaluationInputError(MsarError):
    """A folder or option given to ``msar evaluate`` cannot be used (the message says why)."""


# --------------------------------------------------------------------------------------------
# pairing
# --------------------------------------------------------------------------------------------
@dataclass
class Pairing:
    """Which reference goes with which estimate, per system, and what is left over."""

    references: dict[str, Path]                       # key -> reference file
    estimates: dict[str, dict[str, Path]]             # system -> key -> estimate file
    missing: dict[str, list[str]] = field(default_factory=dict)    # system -> refs it lacks
    unexpected: dict[str, list[str]] = field(default_factory=dict)  # system -> files with no ref

    def keys(self, system: str) -> list[str]:
        return sorted(set(self.references) & set(self.estimates[system]))

    @property
    def num_pairs(self) -> int:
        return sum(len(self.keys(s)) for s in self.estimates)


def _index_folder(folder: Path, label: str) -> dict[str, Path]:
    """``{relative name without extension: file}`` of a folder's audio; ``label`` names it in errors."""
    from ..audio import find_audio_files

    if not folder.exists():
        raise EvaluationInputError(f"{label}: no such folder")
    if not folder.is_dir():
        raise EvaluationInputError(f"{label}: is a file, not a folder")
    index: dict[str, Path] = {}
    for path in find_audio_files([folder]):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden: macOS '._x.wav' forks, half-written temporary files
        key = relative.with_suffix("").as_posix()
        if key in index:
            raise EvaluationInputError(
                f"{label}: '{index[key].name}' and '{path.name}' have the same name; "
                "keep one file per name so pairs are unambiguous")
        index[key] = path
    if not index:
        raise EvaluationInputError(f"{label}: no audio files in this folder")
    return index


def parse_system(spec: str) -> tuple[str, Path]:
    """``NAME=DIR`` -> ``(NAME, Path(DIR))``; a bare ``DIR`` is named after the folder."""
    name, sep, folder = spec.partition("=")
    if not sep:
        name, folder = Path(spec).name, spec
    if not folder:
        raise EvaluationInputError(f"--est {spec!r}: expected NAME=DIR")
    if not _SYSTEM_NAME.match(name):
        raise EvaluationInputError(
            f"--est {spec!r}: system name {name!r} must be letters, digits, '_', '.', '+' or '-'")
    return name, Path(folder)


def pair_files(reference_dir: str | os.PathLike, systems: dict[str, str | os.PathLike]) -> Pairing:
    """Match every system's files to the reference files by relative name without extension."""
    if not systems:
        raise EvaluationInputError("give at least one --est NAME=DIR")
    references = _index_folder(Path(reference_dir), f"--ref {reference_dir}")
    estimates = {name: _index_folder(Path(folder), f"--est {name}={folder}") for name, folder in systems.items()}
    pairing = Pairing(references, estimates)
    for name, index in estimates.items():
        pairing.missing[name] = sorted(set(references) - set(index))
        pairing.unexpected[name] = sorted(set(index) - set(references))
        if not pairing.keys(name):
            raise EvaluationInputError(
                f"--est {name}={systems[name]}: no file matches a reference name in {reference_dir} "
                f"(e.g. reference '{next(iter(sorted(references)))}', estimate '{next(iter(sorted(index)))}')")
    return pairing


# --------------------------------------------------------------------------------------------
# scoring (runs in the main process or in worker processes)
# --------------------------------------------------------------------------------------------
_WORKER_ENCODER: SpeakerEncoder | None = None


def _init_worker(encoder: SpeakerEncoder | None) -> None:
    global _WORKER_ENCODER
    import torch

    torch.set_num_threads(1)
    _WORKER_ENCODER = encoder


@dataclass
class _Task:
    key: str
    reference: Path
    estimates: list[tuple[str, Path, Path | None]]  # (system, estimate file, per-file plot or None)
    align: bool
    pitch_tracker: str = "dio"
    dnsmos: bool = False
    plcmos: bool = False


_RATERS: dict[str, Any] = {}  # the reference-free raters, one each per process, loaded on first use


def _reference_free_scores(waveform, rate: int, dnsmos: bool, plcmos: bool) -> dict[str, float]:
    scores: dict[str, float] = {}
    if dnsmos:
        if "dnsmos" not in _RATERS:
            from .dnsmos import Dnsmos

            _RATERS["dnsmos"] = Dnsmos(num_threads=1)
        scores.update(_RATERS["dnsmos"](waveform.numpy(), rate))
    if plcmos:
        if "plcmos" not in _RATERS:
            from .plcmos import Plcmos

            _RATERS["plcmos"] = Plcmos()
        scores["plcmos"] = _RATERS["plcmos"](waveform.numpy(), rate)
    return scores


def _score_reference(task: _Task, encoder: SpeakerEncoder | None = None) -> list[dict[str, Any]]:
    """Load one reference once and score every system's estimate of it (plots included)."""
    from ..audio import load_audio
    from .quality import analyze

    encoder = encoder if encoder is not None else _WORKER_ENCODER
    out: list[dict[str, Any]] = []
    try:
        ref, rate = load_audio(task.reference)
    except AudioError as exc:
        return [{"system": s, "file": task.key, "error": str(exc)} for s, _, _ in task.estimates]
    for system, est_path, plot_path in task.estimates:
        row: dict[str, Any] = {"system": system, "file": task.key}
        try:
            est, _ = load_audio(est_path)
        except AudioError as exc:
            out.append({**row, "error": str(exc)})
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            result = analyze(ref, est, rate, align=task.align, speaker_encoder=encoder,
                             pitch_tracker=task.pitch_tracker)
            # of the estimate alone: no reference needed
            free = _reference_free_scores(est, rate, task.dnsmos, task.plcmos)
        row.update(duration_s=len(ref) / rate, length_diff_s=(len(est) - len(ref)) / rate)
        row.update(result.scores)
        row.update(free)
        notes = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
                        and "NaN" in str(w.message)})  # our own "no score for this pair" notes
        if notes:
            row["notes"] = "; ".join(notes)
        if plot_path is not None:
            _write_bytes_atomic(plot_path, _file_figure_png(result, system, task.key))
            row["plot"] = str(plot_path)
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
def mean_ci95(values: Iterable[float]) -> dict[str, float | int]:
    """Mean and half-width of its 95% confidence interval (Student t), over the finite values."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "ci95": math.nan, "std": math.nan, "n": 0}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "ci95": math.nan, "std": math.nan, "n": 1}
    std = float(x.std(ddof=1))
    return {"mean": mean, "ci95": float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)), "std": std, "n": n}


def summarize(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, dict[str, dict]]:
    """Per system, per metric: mean, 95% CI half-width, std and number of finite values."""
    systems: dict[str, list[dict]] = {}
    for row in rows:
        systems.setdefault(row["system"], []).append(row)
    return {s: {m: mean_ci95(r.get(m, math.nan) for r in rs) for m in metrics} for s, rs in systems.items()}


# --------------------------------------------------------------------------------------------
# the whole evaluation
# --------------------------------------------------------------------------------------------
@dataclass
class EvaluationReport:
    """What :func:`evaluate_folders` measured and where it wrote it."""

    rows: list[dict[str, Any]]
    summary: dict[str, dict[str, dict]]
    metrics: list[str]
    pairing: Pairing
    failures: list[dict[str, Any]]
    outputs: dict[str, Path]

    def table(self) -> list[dict[str, str]]:
        """One formatted row per system: ``"mean ± ci95"`` per metric."""
        return [{"system": s, "files": str(max(v["n"] for v in stats.values())),
                 **{m: _fmt_mean_ci(stats[m], m) for m in self.metrics}} for s, stats in self.summary.items()]


def evaluate_folders(
    reference_dir: str | os.PathLike,
    systems: dict[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    align: bool = False,
    workers: int = 1,
    speaker_encoder: SpeakerEncoder | None = None,
    file_plots: int = 20,
    pitch_tracker: str = "dio",
    command: str | None = None,
    progress: bool = True,
    dnsmos: bool = False,
    plcmos: bool = False,
    common_only: bool = False,
) -> EvaluationReport:
    """Pair, score, summarise and write the report of every system against the references.

    Args:
        reference_dir: folder of reference recordings.
        systems: ``{system name: folder of its estimates}``.
        out_dir: report folder (created; existing report files in it are replaced).
        align: remove each estimate's constant delay first (see ``quality.align_estimate``).
        workers: processes scoring in parallel (1 = in this process). Workers are spawned (fork
            after torch has run can deadlock its thread pools), so a script calling this with
            ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard.
        speaker_encoder: adds a ``speaker_similarity`` column (must pickle when ``workers > 1``).
        file_plots: per-file figures for the first N files (by name) of each system; < 0 = all.
        pitch_tracker: ``"dio"`` (fast) or ``"harvest"`` (robust to noise, full set ~10x slower); see
            ``quality.pitch_contour``.
        command: the command line to record in ``report.json`` / ``report.md``.
        progress: show a progress bar (stderr).
        dnsmos: add DNSMOS P.835 SIG/BAK/OVRL and P.808 of each estimate (``metrics.dnsmos``;
            reference-free; a 4 s clip takes about 1 s of CPU).
        plcmos: add PLCMOS v2, the rating of packet-loss concealment (``metrics.plcmos``;
            reference-free).
        common_only: score only the references every system has an estimate of, so the systems'
            means are over the same files (the others are listed as unmatched either way).
    """
    from tqdm.auto import tqdm

    if pitch_tracker not in PITCH_TRACKERS:
        raise EvaluationInputError(f"--pitch-tracker {pitch_tracker}: choose one of {', '.join(PITCH_TRACKERS)}")
    pairing = pair_files(reference_dir, systems)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EvaluationInputError(f"--out {out}: is a file, not a folder")
    try:  # now, not after every pair is scored: under a file, on a read-only file system
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvaluationInputError(f"--out {out}: cannot be written ({exc.strerror or exc})") from None
    plots_dir = out / "plots"

    tasks: list[_Task] = []
    drawn = {s: 0 for s in systems}
    for key in sorted(pairing.references):
        if common_only and any(key not in pairing.estimates[system] for system in systems):
            continue
        ests = []
        for system in systems:
            if key in pairing.estimates[system]:
                plot = None
                if file_plots < 0 or drawn[system] < file_plots:
                    plot = plots_dir / "files" / system / f"{key}.png"
                    drawn[system] += 1
                ests.append((system, pairing.estimates[system][key], plot))
        if ests:
            tasks.append(_Task(key, pairing.references[key], ests, align, pitch_tracker, dnsmos, plcmos))

    results: list[dict[str, Any]] = []
    bar = tqdm(total=sum(len(t.estimates) for t in tasks), desc="msar evaluate", unit="pair", disable=not progress)
    try:
        workers = min(workers, len(tasks))
        if workers <= 1:
            for task in tasks:
                results.extend(_score_reference(task, speaker_encoder))
                bar.update(len(task.estimates))
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")  # fork + torch threads can deadlock
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(speaker_encoder,)) as pool:
                for task, rows in zip(tasks, pool.map(_score_reference, tasks)):
                    results.extend(rows)
                    bar.update(len(task.estimates))
    finally:
        bar.close()

    order = {s: i for i, s in enumerate(systems)}
    results.sort(key=lambda r: (order[r["system"]], r["file"]))
    rows = [r for r in results if "error" not in r]
    failures = [r for r in results if "error" in r]
    metrics = [m for m in (*ALL_METRICS, *DNSMOS_METRICS, "plcmos", "speaker_similarity", "shift_ms") if any(m in r for r in rows)]
    summary = summarize(rows, metrics)
    # systems with no scorable file still appear, empty
    summary = {s: summary.get(s, {m: mean_ci95([]) for m in metrics}) for s in systems}
    report = EvaluationReport(rows, summary, metrics, pairing, failures, {})
    report.outputs = _write_outputs(report, Path(reference_dir), systems, out, align, pitch_tracker, command)
    return report


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _write_bytes_atomic(path: Path, data: bytes) -> Path:
    """``data`` to ``path`` through a temporary file beside it; what the system refuses (a full
    disk, a file-size limit) is an AudioError naming the file (one line), not a traceback."""
    from ..audio import usual_mode, writing_errors

    with writing_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            usual_mode(Path(tmp))  # mkstemp's 0600 would stay after the rename
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def _write_text_atomic(path: Path, text: str) -> Path:
    return _write_bytes_atomic(path, text.encode("utf-8"))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _fmt(value: float, metric: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if metric == "mse":
        return f"{value:.2e}" if value and abs(value) < 1e-3 else f"{value:.4f}"
    if metric in ("si_sdr", "lsd", "shift_ms"):
        return f"{value:.2f}"
    return f"{value:.4f}" if metric in ("q", "cossim_pitch", "cossim_loudness") else f"{value:.3f}"


def _fmt_mean_ci(stats: dict, metric: str) -> str:
    mean = _fmt(stats["mean"], metric)
    ci = stats["ci95"]
    return mean if ci is None or not math.isfinite(ci) else f"{mean} ± {_fmt(ci, metric)}"


def git_revision() -> str:
    """Short git revision of the msar checkout, or "unknown" outside a git checkout."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10, check=False)
        return rev.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_description() -> str:
    return f"{platform.node()} {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, {platform.platform()}".replace("  ", " ")


def _write_outputs(report: EvaluationReport, reference_dir: Path, systems: dict, out: Path,
                   align: bool, pitch_tracker: str, command: str | None) -> dict[str, Path]:
    metrics = report.metrics
    outputs: dict[str, Path] = {}

    # per-file CSV
    columns = ["system", "file", "duration_s", "length_diff_s", *metrics, "notes"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
    outputs["per_file_csv"] = _write_text_atomic(out / "per_file.csv", buf.getvalue())

    # summary CSV
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["system", "files", *[f"{m}_{s}" for m in metrics for s in ("mean", "ci95", "n")]])
    for system, stats in report.summary.items():
        n_files = sum(1 for r in report.rows if r["system"] == system)
        writer.writerow([system, n_files, *[("" if not math.isfinite(stats[m][s]) else stats[m][s])
                                           if s != "n" else stats[m][s]
                                           for m in metrics for s in ("mean", "ci95", "n")]])
    outputs["summary_csv"] = _write_text_atomic(out / "summary.csv", buf.getvalue())

    # plots
    plots = {
        "systems_png": _write_bytes_atomic(out / "plots" / "systems.png", _systems_figure_png(report)),
        "q_components_png": _write_bytes_atomic(out / "plots" / "q_components.png", _pies_figure_png(report)),
    }
    outputs.update(plots)
    file_plots = [r["plot"] for r in report.rows if "plot" in r]

    info = {
        "command": command or "msar_hf.metrics.report.evaluate_folders",
        "git_rev": git_revision(),
        "machine": machine_description(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference_dir": str(reference_dir),
        "systems": {k: str(v) for k, v in systems.items()},
        "align": align,
        "pitch_tracker": pitch_tracker,
        "formula": "Q = 0.5*MSE + 0.3*(1 - CosSim_pitch) + 0.2*(1 - CosSim_loudness) (lower is better)",
        "metrics": metrics,
        "summary": report.summary,
        "unmatched": {
            "references_without_estimate": report.pairing.missing,
            "estimates_without_reference": report.pairing.unexpected,
        },
        "failed": report.failures,
        "per_file": report.rows,
        "plots": {**{k: str(v) for k, v in plots.items()}, "files": file_plots},
    }
    outputs["json"] = _write_text_atomic(out / "report.json", json.dumps(_json_safe(info), indent=2) + "\n")
    outputs["markdown"] = _write_text_atomic(out / "report.md", _markdown(report, info, out))
    return outputs


LENGTH_NOTE_SECONDS = 0.01  # an estimate longer or shorter than its reference by more is listed

# One line per column of the report: what it measures and how (the metric card has the details).
METRIC_NOTES = {
    "q": "Q: 0.5 MSE + 0.3 (1 - CosSim pitch) + 0.2 (1 - CosSim loudness), 0 = identical",
    "mse": "MSE: mean squared sample error (full scale = 1)",
    "cossim_pitch": "CosSim pitch: cosine of the F0 contours over the reference's voiced 10 ms frames",
    "cossim_loudness": "CosSim loudness: cosine of the A-weighted loudness contours (10 ms frames)",
    "pesq_wb": "PESQ-WB: ITU-T P.862.2 wide-band MOS-LQO, 1.04-4.64 (narrow-band material is scored wide-band)",
    "stoi": "STOI: short-time objective intelligibility, 0-1 (NaN under about 0.4 s)",
    "estoi": "ESTOI: extended STOI, robust to modulated noise, 0-1",
    "si_sdr": "SI-SDR: scale-invariant SDR of the zero-mean signals, dB (-200 for a silent estimate)",
    "lsd": "LSD: log-spectral distance, dB (RMS over bins, mean over frames)",
    "speaker_similarity": "Speaker similarity: cosine of ECAPA speaker embeddings",
    "dnsmos_sig": "DNSMOS SIG/BAK/OVRL/P.808: Microsoft's reference-free predicted ratings, 1-5",
    "plcmos": "PLCMOS: Microsoft's reference-free rating of concealed packet loss, 1-5",
}


def _legend(metrics: list[str]) -> list[str]:
    """The report's column notes: every row 16 kHz mono as loaded (other rates resampled, channels
    averaged); ± is the 95 % Student-t interval of the mean over the files scored."""
    notes = [METRIC_NOTES[m] for m in metrics if m in METRIC_NOTES]
    head = ("Columns (each pair scored at 16 kHz mono: other rates resampled, channels averaged; "
            "± = 95 % Student-t interval of the mean; `files` = pairs scored, NaNs listed below):")
    return [head, "", *[f"- {n}" for n in notes]]


def _markdown(report: EvaluationReport, info: dict, out: Path) -> str:
    metrics = report.metrics
    head = ["system", "files", *[column_label(m) for m in metrics]]
    lines = [
        "# msar evaluate",
        "",
        f"- command: `{info['command']}`",
        f"- git rev: `{info['git_rev']}`, machine: {info['machine']}",
        f"- reference: `{info['reference_dir']}`; systems: "
        + ", ".join(f"**{k}** `{v}`" for k, v in info["systems"].items()),
        f"- {info['formula']}; values are mean ± 95% confidence interval over files; "
        f"pitch tracker: {info['pitch_tracker']}"
        + ("; estimates aligned by cross-correlation" if info["align"] else ""),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" + "---:|" * (len(head) - 1),
    ]
    for row in report.table():
        lines.append("| " + " | ".join([row["system"], row["files"], *[row[m] for m in metrics]]) + " |")
    lines += ["", *_legend(metrics), "", "![systems compared](plots/systems.png)", "",
              "![Q components](plots/q_components.png)", ""]
    mismatched = [r for r in report.rows if abs(r.get("length_diff_s") or 0.0) > LENGTH_NOTE_SECONDS]
    if mismatched:  # scored anyway: the estimate is trimmed or zero-padded to the reference
        lines += ["## Estimates of another length (trimmed or zero-padded to the reference)", ""]
        lines += [f"- {r['system']}: `{r['file']}`: {r['length_diff_s']:+.3f} s" for r in mismatched] + [""]
    unmatched = [(s, "no estimate for reference", k) for s, ks in report.pairing.missing.items() for k in ks]
    unmatched += [(s, "no reference for estimate", k) for s, ks in report.pairing.unexpected.items() for k in ks]
    if unmatched:
        lines += ["## Unmatched files", ""] + [f"- {s}: {why} `{k}`" for s, why, k in unmatched] + [""]
    noted = [r for r in report.rows if r.get("notes")]
    if noted:  # a mean over fewer files than the table's count: say which and why
        lines += ["## Scores left out of the means (NaN)", ""]
        lines += [f"- {r['system']}: `{r['file']}`: {r['notes']}" for r in noted] + [""]
    if report.failures:
        lines += ["## Files that could not be scored", ""]
        lines += [f"- {f['system']}: `{f['file']}`: {f['error']}" for f in report.failures] + [""]
    drawn = [r for r in report.rows if "plot" in r]
    if drawn:
        lines += ["## Per-file plots", ""]
        lines += [f"- {r['system']} / `{r['file']}`: [{Path(r['plot']).relative_to(out).as_posix()}]"
                  f"({Path(r['plot']).relative_to(out).as_posix()}) (Q {_fmt(r.get('q', math.nan), 'q')})"
                  for r in drawn] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# figures (matplotlib, Agg: no display needed)
# --------------------------------------------------------------------------------------------
def _figure_png(draw: Callable[[Any], None], figsize: tuple[float, float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize)
    try:
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _systems_figure_png(report: EvaluationReport) -> bytes:
    """One panel per metric, one bar per system, 95% CI as error bars."""
    metrics = report.metrics
    systems = list(report.summary)
    ncols = min(4, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)

    def draw(fig):
        import matplotlib.pyplot as plt

        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, metric in enumerate(metrics):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            means = [report.summary[s][metric]["mean"] for s in systems]
            cis = [report.summary[s][metric]["ci95"] for s in systems]
            ax.bar(range(len(systems)), np.nan_to_num(means), yerr=np.nan_to_num(cis), capsize=3,
                   color=[colors[j % len(colors)] for j in range(len(systems))])
            ax.set_xticks(range(len(systems)), systems, rotation=30, ha="right", fontsize=8)
            for j, mean in enumerate(means):  # the bar above is 0 for a NaN mean: say it was not scored
                if not math.isfinite(mean):
                    ax.text(j, 0, "n/a", ha="center", va="bottom", fontsize=8)
            ax.set_title(column_label(metric, words=True), fontsize=9)
            ax.tick_params(axis="y", labelsize=8)
        fig.suptitle("Systems compared (mean, 95% CI)")
        fig.tight_layout()

    return _figure_png(draw, (3.2 * ncols, 2.8 * nrows))


def _pies_figure_png(report: EvaluationReport) -> bytes:
    """A pie of each system's three weighted Q terms (their sum is the system's mean Q)."""
    systems = list(report.summary)
    ncols = min(4, len(systems))
    nrows = math.ceil(len(systems) / ncols)
    labels = ["0.5·MSE", "0.3·(1−CosSim pitch)", "0.2·(1−CosSim loudness)"]

    def draw(fig):
        for i, system in enumerate(systems):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            stats = report.summary[system]
            if not all(k in stats for k in ("mse", "cossim_pitch", "cossim_loudness")):
                ax.axis("off")
                continue
            parts = [Q_WEIGHTS["mse"] * stats["mse"]["mean"],
                     Q_WEIGHTS["pitch"] * (1 - stats["cossim_pitch"]["mean"]),
                     Q_WEIGHTS["loudness"] * (1 - stats["cossim_loudness"]["mean"])]
            parts = [max(p, 0.0) if math.isfinite(p) else 0.0 for p in parts]
            total = sum(parts)
            if total <= 0:
                ax.text(0.5, 0.5, "Q = 0\n(identical)", ha="center", va="center")
                ax.axis("off")
            else:
                ax.pie(parts, labels=None, autopct=lambda p: f"{p:.0f}%" if p >= 3 else "",
                       startangle=90, counterclock=False)
                ax.axis("equal")
            ax.set_title(f"{system}\nQ = {total:.4f}", fontsize=9)
        fig.legend(labels, loc="lower center", ncol=3, fontsize=8)
        fig.suptitle("Share of each term in Q")
        fig.tight_layout(rect=(0, 0.08, 1, 1))

    return _figure_png(draw, (3.0 * ncols, 3.0 * nrows + 0.6))


def _file_figure_png(result, system: str, key: str) -> bytes:
    """Spectrograms of reference and estimate, F0 and loudness contours overlaid."""
    from .quality import HOP_SECONDS, _stft_power

    def draw(fig):
        axes = fig.subplots(4, 1, sharex=True)
        duration = len(result.reference) / result.rate
        for ax, wave, title in ((axes[0], result.reference, "reference"), (axes[1], result.estimate, system)):
            db = 10 * np.log10(_stft_power(wave, result.rate).T + 1e-10)
            ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
                      extent=(0, duration, 0, result.rate / 2000))
            ax.set_ylabel("kHz")
            ax.set_title(title, fontsize=9, loc="left")
        for ax, ref, est, label in ((axes[2], result.reference_f0, result.estimate_f0, "F0 (Hz)"),
                                    (axes[3], result.reference_loudness, result.estimate_loudness,
                                     "A-weighted\nloudness (dB+80)")):
            t = np.arange(len(ref)) * HOP_SECONDS
            if label.startswith("F0"):  # unvoiced frames are gaps, not drops to 0 Hz
                ref, est = np.where(ref > 0, ref, np.nan), np.where(est > 0, est, np.nan)
            ax.plot(t, ref, lw=1.2, label="reference")
            ax.plot(np.arange(len(est)) * HOP_SECONDS, est, lw=1.0, label=system, alpha=0.8)
            ax.set_ylabel(label, fontsize=8)
            ax.legend(fontsize=7, loc="upper right")
        axes[-1].set_xlabel("time (s)")
        s = result.scores
        fig.suptitle(f"{key} — {system}: Q {_fmt(s.get('q', math.nan), 'q')}, MSE {_fmt(s.get('mse', math.nan), 'mse')}, "
                     f"CosSim pitch {_fmt(s.get('cossim_pitch', math.nan), 'q')}, "
                     f"loudness {_fmt(s.get('cossim_loudness', math.nan), 'q')}", fontsize=9)
        fig.tight_layout()

    return _figure_png(draw, (9, 8))
