"""Command-line plumbing shared by every dataset script: the common options, the user-error
boundary (one line, exit code 2) and the build -> save -> card -> push sequence.

The work itself lives in :mod:`msar_hf.data.corpora` so Python users can call it directly;
this module only turns options into a :class:`~msar_hf.data.corpora.BuildConfig`.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

# Scripts run as `python dataset_scripts/x.py` from a clone: make the package importable even
# when it is not pip-installed.
_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from msar_hf.errors import MsarError


def data_root() -> Path:
    """``$MSAR_DATA_ROOT`` (the shared data folder), or ``../shared/data`` next to the clone."""
    return Path(os.environ.get("MSAR_DATA_ROOT") or _REPO.parent / "shared" / "data")


def make_parser(doc: str | None, input_arg: bool = True, input_help: str = "corpus root folder",
                defaults: dict | None = None) -> argparse.ArgumentParser:
    """An argparse parser with the options every dataset script shares.

    ``defaults`` overrides per-corpus defaults (e.g. ``min_source_rate`` for FSDD's 8 kHz).
    """
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join((doc or "").split("\n\n")[1:]))
    if input_arg:
        p.add_argument("input", type=Path, help=input_help)
    out = p.add_argument_group("output")
    out.add_argument("--output-dir", type=Path, required=True,
                     help="folder for the DatasetDict (datasets.load_from_disk reads it)")
    out.add_argument("--overwrite", action="store_true", help="replace an existing --output-dir")
    out.add_argument("--push-to-hub", metavar="ORG/NAME", default=None,
                     help="also upload to the Hugging Face Hub (after the local save)")
    out.add_argument("--private", action="store_true", help="make the Hub dataset private")
    out.add_argument("--max-shard-size", default="500MB", help="parquet/arrow shard size")

    audio = p.add_argument_group("audio")
    audio.add_argument("--sampling-rate", type=int, default=16000, help="output rate in Hz")
    audio.add_argument("--min-source-rate", type=int, default=None,
                       help="skip files recorded below this rate (Hz) [default: the corpus's native rate]")
    audio.add_argument("--trim-silence", action="store_true",
                       help="cut leading/trailing silence (energy gate, see --trim-top-db)")
    audio.add_argument("--trim-top-db", type=float, default=40.0,
                       help="silence = frames this many dB below the loudest frame")

    q = p.add_argument_group("quality filters (rejects are counted and listed)")
    q.add_argument("--min-duration", type=float, default=0.2, help="seconds, after trimming")
    q.add_argument("--max-duration", type=float, default=None, help="seconds, after trimming")
    q.add_argument("--max-clip-ratio", type=float, default=0.01,
                   help="reject when more than this fraction of samples sits at full scale")
    q.add_argument("--min-snr", type=float, default=None,
                   help="reject when the estimated SNR (dB) is lower [default: off]")

    t = p.add_argument_group("text")
    t.add_argument("--transcribe", action="store_true",
                   help="transcribe utterances that have no text (offline; pocketsphinx by default)")
    t.add_argument("--asr-model", default=None,
                   help="a transformers ASR model (local folder or cached Hub id) instead of pocketsphinx")
    t.add_argument("--keep-untranscribed", action="store_true",
                   help="keep utterances without text (text '', text_source 'none') instead of skipping them")

    s = p.add_argument_group("splits")
    s.add_argument("--split-by", choices=["speaker", "utterance"], default="speaker",
                   help="speaker: validation/test speakers are unseen in train")
    s.add_argument("--validation-fraction", type=float, default=0.1)
    s.add_argument("--test-fraction", type=float, default=0.1)
    s.add_argument("--seed", type=int, default=0)

    p.add_argument("--num-proc", type=int, default=1, help="worker processes")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    if defaults:
        p.set_defaults(**defaults)
    return p


# Licence identifiers the Hub's dataset-card YAML accepts (a subset; anything else is "other").
_HUB_LICENSES = {"cc0-1.0", "cc-by-4.0", "cc-by-3.0", "cc-by-sa-4.0", "cc-by-sa-3.0", "cc-by-nc-4.0",
                 "mit", "apache-2.0", "bsd-3-clause", "pddl", "odc-by", "unknown"}


def card_license(licences: list[str]) -> str:
    """The card's ``license:`` value: the rows' single licence when the Hub knows it, else "other"."""
    ids = {lic.strip().lower() for lic in licences}
    if len(ids) == 1 and (only := ids.pop()) in _HUB_LICENSES:
        return only
    return "other"


def build_config(args: argparse.Namespace):
    """The :class:`BuildConfig` an argparse namespace describes."""
    from msar_hf.data.corpora import BuildConfig

    return BuildConfig(
        sampling_rate=args.sampling_rate, min_source_rate=args.min_source_rate,
        trim_silence=args.trim_silence, trim_top_db=args.trim_top_db,
        min_duration=args.min_duration, max_duration=args.max_duration,
        max_clip_ratio=args.max_clip_ratio, min_snr=args.min_snr,
        transcribe=args.transcribe, asr_model=args.asr_model, keep_untranscribed=args.keep_untranscribed,
        split_by=args.split_by, validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction, seed=args.seed, num_proc=args.num_proc,
    )


def check_outputs(args: argparse.Namespace) -> None:
    """Fail on an existing output, a bad shard size or Hub id before hours of work, not after."""
    from msar_hf.data import corpora

    corpora.check_output_dir(args.output_dir, overwrite=args.overwrite)
    check_shard_size(args.max_shard_size)
    if args.push_to_hub:  # a malformed id was found after the build (no token / no network still are)
        from msar_hf.hub.push import check_repo_id

        check_repo_id(args.push_to_hub)


def build_and_save(args: argparse.Namespace, utterances, skips, *, pretty_name: str, description: str,
                   license: str, sources: list[str], language: str = "en") -> None:
    """Build the DatasetDict, save it (atomically) with its card, then push when asked."""
    from msar_hf.data import corpora

    config = build_config(args)
    check_outputs(args)
    result = corpora.build_dataset_dict(utterances, config, skips)
    try:
        card = corpora.dataset_card(result, pretty_name=pretty_name, description=description,
                                    license=license, language=language, sources=sources,
                                    command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
        corpora.save_dataset(result, args.output_dir, card=card, overwrite=args.overwrite,
                             max_shard_size=args.max_shard_size)
    finally:  # a failed or interrupted save: the build's arrow files (the whole corpus) go too
        if result.tmp_dir:
            shutil.rmtree(result.tmp_dir, ignore_errors=True)
    print(corpora.summary_text(result, args.output_dir))
    if args.push_to_hub:
        url = corpora.push_to_hub(result.dataset, args.push_to_hub, card=card, private=args.private)
        print(f"pushed to {url}")


def check_shard_size(size: str) -> None:
    """A one-line error for a --max-shard-size save_to_disk would refuse (it said so after the build)."""
    from datasets.utils.py_utils import convert_file_size_to_int

    try:
        convert_file_size_to_int(size)
    except ValueError:
        raise MsarError(f"--max-shard-size {size!r}: not a size such as 500MB or 2GB") from None


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a one-line user error naming it."""
    if not path.exists():
        raise MsarError(f"{path}: no such folder ({what})")
    if not path.is_dir():
        raise MsarError(f"{path}: not a folder ({what})")
    return path


def read_text(path: Path) -> str:
    """A transcript or listing file's text: UTF-8, with or without the byte-order mark Windows
    editors write (read as plain UTF-8 it stayed glued to the first word).

    Anything else is a one-line user error naming the file and line: decoded with
    errors="replace", a Latin-1 'Café' went into the dataset as 'Caf\ufffd' without a word.
    """
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")  # as open() reads it
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MsarError(f"{path}: not UTF-8 text (line {line}, byte {exc.object[exc.start:exc.start + 1]!r}); "
                        "save it as UTF-8") from exc


_SYSTEM_REFUSALS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def run_main(work: Callable[[], None], prog: str, quiet: bool = False) -> int:
    """Run ``work`` behind the user-error boundary: a :class:`MsarError` is one line, exit 2.

    ``quiet`` hides progress bars and info logs; skipped files are still logged (warnings).
    """
    logging.basicConfig(format=f"{prog}: %(levelname)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING if quiet else logging.INFO)
    import datasets

    if quiet:
        datasets.disable_progress_bars()
    else:
        datasets.enable_progress_bars()
    # SIGTERM (kill, a scheduler's time limit) ended the process without unwinding: the staging
    # folder and the build's temporary arrow files stayed. As an exception it unwinds like Ctrl-C.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        work()
    except MsarError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # what the system refuses (a full disk, a quota, a read-only folder) is the user's to mend,
        # in one line; other OSErrors are bugs and keep their traceback
        if exc.errno not in _SYSTEM_REFUSALS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}cannot be written ({exc.strerror or exc})", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _terminated(signum, frame) -> None:
    raise SystemExit(128 + signum)
