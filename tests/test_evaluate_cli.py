"""``msar evaluate`` and msar_hf.metrics.report on folders of real audio made in tmp_path."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from msar_hf.audio import load_audio, save_audio
from msar_hf.cli import main
from msar_hf.metrics.report import EvaluationInputError, evaluate_folders, pair_files

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(argv: list[str]) -> int:
    """Run the CLI in this process (as the console script does) and return its exit code."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


def _noisy_copy(src: Path, dst: Path, noise: Path, snr_db: float) -> None:
    """``src`` with a real noise recording mixed in at ``snr_db``, written to ``dst``."""
    speech, _ = load_audio(src)
    background, _ = load_audio(noise)
    background = np.resize(background.numpy(), len(speech))
    s = speech.numpy()
    gain = np.sqrt(np.mean(s**2) / (np.mean(background**2) * 10 ** (snr_db / 10)))
    save_audio(dst, s + gain * background, 16000)


@pytest.fixture
def folders(tmp_path, speech_files, noise_files) -> dict[str, Path]:
    """ref: 3 real recordings; degraded: noisy copies (+1 stray file); clean: copies of 2."""
    ref, degraded, clean = tmp_path / "ref", tmp_path / "degraded", tmp_path / "clean"
    for d in (ref, degraded, clean):
        d.mkdir()
    for i, src in enumerate(speech_files[:3]):
        shutil.copy(src, ref / src.name)
        _noisy_copy(src, degraded / f"{src.stem}.wav", noise_files[i], snr_db=5.0)
        if i < 2:
            shutil.copy(src, clean / src.name)
    _noisy_copy(speech_files[4], degraded / "stray.wav", noise_files[0], snr_db=5.0)
    return {"ref": ref, "degraded": degraded, "clean": clean, "out": tmp_path / "report"}


def test_evaluate_writes_tables_and_plots(folders, capsys):
    out = folders["out"]
    code = _run(["evaluate", "--ref", str(folders["ref"]), "--est", f"degraded={folders['degraded']}",
                 "--est", f"clean={folders['clean']}", "--out", str(out), "--file-plots", "2",
                 "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    # the table of systems is printed, and both kinds of unmatched file are reported
    assert "degraded" in printed.out and "clean" in printed.out and "Q" in printed.out
    assert "unmatched: degraded file 'stray' has no reference" in printed.out
    assert "unmatched: clean has no estimate for reference 'arctic_a0003'" in printed.out
    assert "warning: clean lack estimates of some references" in printed.out and "not comparable" in printed.out

    rows = list(csv.DictReader((out / "per_file.csv").open()))
    assert [(r["system"], r["file"]) for r in rows] == [
        ("degraded", "arctic_a0001"), ("degraded", "arctic_a0002"), ("degraded", "arctic_a0003"),
        ("clean", "arctic_a0001"), ("clean", "arctic_a0002")]
    for r in rows:
        if r["system"] == "clean":  # identical audio
            assert float(r["q"]) == pytest.approx(0.0, abs=1e-9) and float(r["mse"]) == 0.0
        else:  # 5 dB of real noise
            assert float(r["q"]) > 0.005 and float(r["pesq_wb"]) < 2.5 and float(r["si_sdr"]) < 8

    report = json.loads((out / "report.json").read_text())
    assert report["command"].startswith("msar evaluate --ref")
    assert report["git_rev"] and report["machine"]
    summary = report["summary"]
    assert summary["degraded"]["q"]["n"] == 3 and summary["clean"]["q"]["n"] == 2
    assert summary["degraded"]["q"]["mean"] > summary["clean"]["q"]["mean"]
    assert summary["degraded"]["q"]["ci95"] > 0
    qs = [float(r["q"]) for r in rows if r["system"] == "degraded"]
    assert summary["degraded"]["q"]["mean"] == pytest.approx(np.mean(qs))
    assert report["unmatched"]["estimates_without_reference"]["degraded"] == ["stray"]
    assert report["unmatched"]["references_without_estimate"]["clean"] == ["arctic_a0003"]

    summary_rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["system"] for r in summary_rows] == ["degraded", "clean"]
    markdown = (out / "report.md").read_text()
    assert "| degraded | 3 |" in markdown and "| clean | 2 |" in markdown
    assert "no reference for estimate `stray`" in markdown
    # the report says what its columns are; Q of identical audio is 0, not float residue below it
    assert "- Q: 0.5 MSE" in markdown and "- PESQ-WB: ITU-T P.862.2" in markdown and "95 % Student-t" in markdown
    assert all(float(r["q"]) >= 0.0 for r in rows)

    pngs = [out / "plots" / "systems.png", out / "plots" / "q_components.png",
            *sorted((out / "plots" / "files").rglob("*.png"))]
    assert len(pngs) == 2 + 2 + 2  # --file-plots 2 per system
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000, png
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left behind


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (lambda f: ["--ref", str(f["ref"].parent / "nowhere"), "--est", f"a={f['clean']}"], "nowhere: no such folder"),
        (lambda f: ["--ref", str(next(f["ref"].iterdir())), "--est", f"a={f['clean']}"], "is a file, not a folder"),
        (lambda f: ["--ref", str(f["ref"]), "--est", f"a={f['ref'].parent / 'empty'}"], "no audio files"),
        (lambda f: ["--ref", str(f["ref"]), "--est", f"bad name={f['clean']}"], "must be letters"),
        (lambda f: ["--ref", str(f["ref"]), "--est", f"a={f['clean']}", "--est", f"a={f['degraded']}"], "given twice"),
        (lambda f: ["--ref", str(f["clean"] / "sub"), "--est", f"a={f['clean']}"], "no file matches a reference"),
        (lambda f: ["--ref", str(f["ref"]), "--est", f"a={f['clean']}", "--pitch-tracker", "yin"], "choose one of dio"),
    ],
    ids=["missing-ref", "ref-is-file", "empty-est", "bad-name", "duplicate-name", "nothing-matches",
         "bad-tracker"],
)
def test_bad_folders_give_one_line_and_exit_2(folders, capsys, make_args, expected):
    (folders["ref"].parent / "empty").mkdir()
    sub = folders["clean"] / "sub"
    sub.mkdir()
    shutil.copy(next(folders["ref"].iterdir()), sub / "other_name.flac")
    code = _run(["evaluate", *make_args(folders), "--out", str(folders["out"]), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("msar: error:") and expected in err
    assert not folders["out"].exists()


def test_console_script_bad_folder_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "msar_hf", "evaluate", "--ref", str(tmp_path / "missing"),
                           "--est", f"x={tmp_path}", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"msar: error: --ref {tmp_path / 'missing'}: no such folder"


def test_unreadable_estimate_is_reported_and_the_rest_scored(tmp_path, speech_files, capsys):
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir(), est.mkdir()
    for src in speech_files[:2]:
        shutil.copy(src, ref / src.name)
    shutil.copy(speech_files[0], est / speech_files[0].name)
    (est / f"{speech_files[1].stem}.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    code = _run(["evaluate", "--ref", str(ref), "--est", f"sys={est}", "--out", str(tmp_path / "out"),
                 "--file-plots", "0", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and f"{speech_files[1].stem}.wav" in err[0]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["file"] for r in report["per_file"]] == [speech_files[0].stem]
    assert report["failed"][0]["file"] == speech_files[1].stem


def test_pairing_ignores_extensions_and_keeps_subfolders(tmp_path, speech_files):
    ref, est = tmp_path / "ref", tmp_path / "est"
    (ref / "a").mkdir(parents=True), (est / "a").mkdir(parents=True)
    shutil.copy(speech_files[0], ref / "a" / "one.flac")
    shutil.copy(speech_files[1], ref / "two.flac")
    save_audio(est / "a" / "one.wav", load_audio(speech_files[0])[0], 16000)
    save_audio(est / "one.wav", load_audio(speech_files[0])[0], 16000)  # not a/one: unmatched
    (est / "a" / "._one.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS fork: ignored
    pairing = pair_files(ref, {"s": est})
    assert pairing.keys("s") == ["a/one"]
    assert pairing.missing["s"] == ["two"] and pairing.unexpected["s"] == ["one"]
    shutil.copy(speech_files[0], est / "a" / "one.flac")
    with pytest.raises(EvaluationInputError, match="same name"):
        pair_files(ref, {"s": est})


def test_speaker_sim_without_speaker_module_says_so(folders, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "msar_hf.speaker", None)  # import fails
    code = _run(["evaluate", "--ref", str(folders["ref"]), "--est", f"clean={folders['clean']}", "--out",
                 str(folders["out"]), "--speaker-sim", "--file-plots", "0", "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0
    notes = [line for line in printed.err.splitlines() if "speaker similarity unavailable" in line]
    assert len(notes) == 1
    assert "speaker_similarity" not in (folders["out"] / "per_file.csv").read_text()


def test_alignment_column(folders):
    aligned = evaluate_folders(folders["ref"], {"d": folders["degraded"]}, folders["out"], align=True,
                               file_plots=0, progress=False)
    assert "shift_ms" in aligned.metrics
    assert all(abs(r["shift_ms"]) < 1.0 for r in aligned.rows)  # the noisy copies are not delayed
    # a delay is not a quality: the header gave it "↑" (higher is better), the plot "(higher better)"
    header = next(line for line in aligned.outputs["markdown"].read_text().splitlines() if line.startswith("| system"))
    assert header.endswith("| shift (ms) |")


def test_worker_tasks_survive_pickling(folders, monkeypatch):
    # --workers N ships each task to a spawned process by pickle and scores it there; spawning
    # N interpreters that each import torch costs more than this whole file, so the round trip
    # is tested in-process (the pool itself is the standard library's).
    import pickle

    from msar_hf.metrics import report as report_module

    seen = []

    class InlinePool:
        def __init__(self, workers, mp_context, initializer, initargs):
            seen.append(workers)
            initializer(*initargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, tasks):
            return [pickle.loads(pickle.dumps(fn))(pickle.loads(pickle.dumps(t))) for t in tasks]

    kwargs = {"file_plots": 1, "progress": False}
    one = evaluate_folders(folders["ref"], {"d": folders["degraded"]}, folders["out"] / "1", **kwargs)
    monkeypatch.setattr(report_module, "ProcessPoolExecutor", InlinePool)
    many = evaluate_folders(folders["ref"], {"d": folders["degraded"]}, folders["out"] / "2", workers=8, **kwargs)
    assert seen == [3]  # never more workers than references
    assert [(r["file"], r["q"], r["pesq_wb"]) for r in one.rows] == [(r["file"], r["q"], r["pesq_wb"]) for r in many.rows]
    assert (folders["out"] / "2" / "plots" / "files" / "d" / "arctic_a0001.png").exists()


def test_common_scores_every_system_on_the_same_files(folders, capsys):
    out = folders["out"]
    code = _run(["evaluate", "--ref", str(folders["ref"]), "--est", f"degraded={folders['degraded']}",
                 "--est", f"clean={folders['clean']}", "--out", str(out), "--file-plots", "0", "--no-progress",
                 "--common"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["degraded"]["q"]["n"] == summary["clean"]["q"]["n"] == 2  # arctic_a0003: clean has none
    assert "with --common every system was scored on the references all of them have" in printed.out
    assert "--common" in json.loads((out / "report.json").read_text())["command"]


def test_unscorable_metric_is_a_note_not_a_crash(tmp_path, fixtures_dir, capsys):
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir(), est.mkdir()
    digit = fixtures_dir / "speech" / "fsdd" / "audio" / "0_george_0.flac"  # 0.3 s, 8 kHz
    shutil.copy(digit, ref / "digit.flac")
    save_audio(est / "digit.wav", 0.5 * load_audio(digit)[0], 16000)
    code = _run(["evaluate", "--ref", str(ref), "--est", f"half={est}", "--out", str(tmp_path / "out"),
                 "--file-plots", "0", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "1 pair(s) have a metric that could not be scored" in printed and "STOI" in printed
    row = next(csv.DictReader((tmp_path / "out" / "per_file.csv").open()))
    assert row["stoi"] == "" and float(row["q"]) > 0 and "STOI" in row["notes"]
    assert "## Scores left out of the means (NaN)" in (tmp_path / "out" / "report.md").read_text()
    # an estimate too short for PLCMOS's network (0.05 s) is a note as well, not a lost run
    blip = tmp_path / "blip"
    blip.mkdir()
    save_audio(blip / "digit.wav", load_audio(digit)[0][:800], 16000)
    code = _run(["evaluate", "--ref", str(ref), "--est", f"blip={blip}", "--out", str(tmp_path / "out2"),
                 "--file-plots", "0", "--no-progress", "--plcmos"])
    assert code == 0, capsys.readouterr().err
    row = next(csv.DictReader((tmp_path / "out2" / "per_file.csv").open()))
    assert row["plcmos"] == "" and "PLCMOS" in row["notes"] and "too short" in row["notes"]
    markdown = (tmp_path / "out2" / "report.md").read_text()
    assert "PLCMOS: NaN" in markdown
    assert "## Estimates of another length" in markdown and "`digit`: -0.2" in markdown  # zero-padded, said so


def test_reference_free_columns_rate_the_noisy_copies_lower(folders, capsys):
    out = folders["out"]
    code = _run(["evaluate", "--ref", str(folders["ref"]), "--est", f"degraded={folders['degraded']}",
                 "--est", f"clean={folders['clean']}", "--out", str(out), "--file-plots", "0",
                 "--no-progress", "--dnsmos", "--plcmos"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808", "plcmos"} <= set(report["metrics"])
    summary = report["summary"]
    # real noise at 5 dB: the background is what DNSMOS BAK rates, and it needs no reference
    assert summary["degraded"]["dnsmos_bak"]["mean"] < summary["clean"]["dnsmos_bak"]["mean"] - 0.5
    assert summary["degraded"]["dnsmos_ovrl"]["mean"] < summary["clean"]["dnsmos_ovrl"]["mean"]
    assert "--dnsmos --plcmos" in report["command"] and "DNSMOS BAK" in (out / "report.md").read_text()
    with (out / "per_file.csv").open() as f:
        assert all(1.0 <= float(r["dnsmos_ovrl"]) <= 5.0 and 1.0 <= float(r["plcmos"]) <= 5.0
                   for r in csv.DictReader(f))


def test_systems_plot_marks_a_mean_that_could_not_be_scored(tmp_path, speech_files, monkeypatch):
    """A system whose every PESQ is NaN (silent estimates) is "n/a" in report.md and null in the
    json; systems.png drew it as a bar of height 0 (nan_to_num), a score it never got (for a
    lower-is-better column, the best one). The panel now says n/a where the bar would be."""
    import matplotlib.pyplot as plt

    from msar_hf.metrics import report as report_module

    ref, silent = tmp_path / "ref", tmp_path / "silent"
    ref.mkdir(), silent.mkdir()
    for src in speech_files[:2]:
        shutil.copy(src, ref / src.name)
        save_audio(silent / f"{src.stem}.wav", np.zeros(len(load_audio(src)[0]), dtype=np.float32), 16000)
    panels: dict[str, list[str]] = {}
    real_figure_png = report_module._figure_png

    def recording_figure_png(draw, figsize):
        def draw_and_record(fig):
            draw(fig)
            for ax in fig.axes:
                panels[ax.get_title()] = [t.get_text() for t in ax.texts]
        return real_figure_png(draw_and_record, figsize)

    monkeypatch.setattr(report_module, "_figure_png", recording_figure_png)
    result = evaluate_folders(ref, {"silent": silent}, tmp_path / "report", file_plots=0, progress=False)
    assert np.isnan(result.summary["silent"]["pesq_wb"]["mean"])
    assert "| n/a |" in result.outputs["markdown"].read_text()
    assert panels["PESQ-WB (higher better)"] == ["n/a"]
    assert panels["LSD (dB) (lower better)"] == []  # scored columns carry no mark
    plt.close("all")


def test_report_files_get_the_usual_permissions(tmp_path, speech_files):
    """The report's files were mkstemp's 0600 after their rename (other users, a web server or a
    container could not read report.md or the plots); now a plain open()'s mode under the umask."""
    import os

    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir(), est.mkdir()
    shutil.copy(speech_files[0], ref / speech_files[0].name)
    _noisy_copy(speech_files[0], est / f"{speech_files[0].stem}.wav", speech_files[1], snr_db=10.0)
    umask = os.umask(0o022)
    try:
        evaluate_folders(ref, {"sys": est}, tmp_path / "out", file_plots=1, progress=False)
    finally:
        os.umask(umask)
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(written) == 7  # per_file.csv, summary.csv, report.json, report.md and three plots
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: "0o644" for p in written}


def test_an_out_folder_that_cannot_be_made_is_one_line_before_scoring(folders, capsys, monkeypatch):
    """--out under a file (or on a read-only file system) was found only when the report was
    written, after every pair had been scored: a NotADirectoryError traceback. Now it is one line
    naming --out, exit 2, and nothing is scored."""
    from msar_hf.metrics import report

    scored = []
    monkeypatch.setattr(report, "_score_reference", lambda task, encoder=None: scored.append(task) or [])
    blocker = folders["ref"].parent / "a_file"
    blocker.write_text("not a folder")
    code = _run(["evaluate", "--ref", str(folders["ref"]), "--est", f"clean={folders['clean']}",
                 "--out", str(blocker / "report"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"msar: error: --out {blocker / 'report'}: cannot be written") and not scored


def test_a_report_file_the_system_refuses_is_one_line(folders):
    """A full disk (here a file-size limit) while the report or a per-file plot was written stopped
    msar evaluate with a traceback; now one line naming the file, exit 2, no temporary file left."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))  # the tables fit, a plot does not

    done = subprocess.run([sys.executable, "-m", "msar_hf.cli", "evaluate", "--ref", str(folders["ref"]), "--est",
                           f"clean={folders['clean']}", "--out", str(folders["out"]), "--file-plots", "1",
                           "--no-progress"], env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, preexec_fn=limit_file_size, timeout=300, check=False)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(err) == 1 and "cannot be written" in err[0] and ".png" in err[0], err
    assert not [p for p in folders["out"].rglob("*") if p.name.startswith(".")]
