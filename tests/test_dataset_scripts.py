"""dataset_scripts/ and msar_hf.data.corpora on fixture trees laid out like the real corpora.

Every tree is built in tmp_path from the real clips in tests/fixtures, with the bad cases a real
download contains (a corrupt file, a missing transcript, an 8 kHz file, an empty speaker), which
must be skipped and counted, never dropped silently.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from msar_hf.audio import load_audio, save_audio
from msar_hf.data import corpora
from msar_hf.errors import MsarError

SCRIPTS = Path(__file__).resolve().parent.parent / "dataset_scripts"
SPEECH = Path(__file__).resolve().parent / "fixtures" / "speech"
KATHLEEN = sorted((SPEECH / "kathleen" / "audio").glob("*.flac"))
ARCTIC = sorted((SPEECH / "arctic_samples" / "audio").glob("*.flac"))
FSDD_8K = SPEECH / "fsdd" / "audio" / "7_george_0.flac"
TEXTS = {}  # clip stem -> transcript, from the fixtures' metadata.csv files
for meta in SPEECH.glob("*/metadata.csv"):
    with meta.open() as f:
        for row in csv.DictReader(f):
            TEXTS[Path(row["file_name"]).stem] = row["text"]


def _script(name: str):
    """Import dataset_scripts/<name>.py as a module (scripts are not part of the package)."""
    key = f"dataset_script_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # dataclasses look their module up while the file executes
        spec.loader.exec_module(module)
    return sys.modules[key]


def _run(name: str, argv: list[str], capsys) -> tuple[int, str, str]:
    """Run a script's main() in-process (--quiet: no progress bars); returns rc, stdout, stderr."""
    rc = _script(name).main([*argv, "--quiet"])
    out = capsys.readouterr()
    if rc == 2:  # a user error is exactly one line, naming the script, never a traceback
        assert len(out.err.strip().splitlines()) == 1 and out.err.startswith(f"{name}: error: "), out.err
    return rc, out.out, out.err


def _copy(src: Path, dst: Path) -> None:
    """Copy a fixture clip, converting to the corpus's format when the extension differs."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix == src.suffix:
        shutil.copyfile(src, dst)
    else:
        w, rate = load_audio(src, sampling_rate=None)
        save_audio(dst, w, rate)


def _corrupt(dst: Path, src: Path = KATHLEEN[0]) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 3])  # truncated download


def _load(out: Path):
    from datasets import load_from_disk

    return load_from_disk(str(out))


def _report(out: Path) -> dict:
    return json.loads((out / "build_report.json").read_text())


def _speakers(ds) -> set[str]:
    names = ds.features["speaker_id"].names
    return {names[i] for i in ds["speaker_id"]}


def _check_speaker_split(dsd) -> None:
    assert set(dsd) == {"train", "validation", "test"}
    train = _speakers(dsd["train"])
    assert train and not (train & _speakers(dsd["test"])) and not (train & _speakers(dsd["validation"]))


# ---------------------------------------------------------------------------------------------
# per-corpus layouts
# ---------------------------------------------------------------------------------------------
# Four speakers of three clips each, from four real voices (kathleen twice, aew, axb).
SPEAKER_CLIPS = {"a": KATHLEEN[:3], "b": ARCTIC[:3], "c": ARCTIC[3:6], "d": KATHLEEN[3:6]}


def test_vctk_layout_builds_with_bad_cases(tmp_path, capsys):
    root = tmp_path / "VCTK-Corpus-0.92"
    info = ["ID  AGE  GENDER  ACCENTS  REGION COMMENTS"]
    for n, (key, clips) in enumerate(SPEAKER_CLIPS.items()):
        spk = f"p{225 + n}"
        info.append(f"{spk}  23  F    English    Southern  England")
        for i, clip in enumerate(clips, 1):
            _copy(clip, root / "wav48_silence_trimmed" / spk / f"{spk}_{i:03d}_mic1.flac")
            _copy(clip, root / "wav48_silence_trimmed" / spk / f"{spk}_{i:03d}_mic2.flac")
            (root / "txt" / spk).mkdir(parents=True, exist_ok=True)
            (root / "txt" / spk / f"{spk}_{i:03d}.txt").write_text(TEXTS[clip.stem] + "\n")
    (root / "speaker-info.txt").write_text("\n".join(info) + "\n")
    wav = root / "wav48_silence_trimmed"
    _corrupt(wav / "p225" / "p225_004_mic1.flac")
    (root / "txt" / "p225" / "p225_004.txt").write_text("A corrupt file with a transcript.\n")
    (root / "txt" / "p226" / "p226_002.txt").unlink()  # missing transcript
    _copy(FSDD_8K, wav / "p227" / "p227_004_mic1.flac")  # an 8 kHz file among 16+ kHz
    (root / "txt" / "p227" / "p227_004.txt").write_text("Seven.\n")
    (wav / "p229").mkdir()  # empty speaker

    out = tmp_path / "vctk_ds"
    rc, stdout, _ = _run("prepare_vctk", [str(root), "--output-dir", str(out), "--num-proc", "1"], capsys)
    assert rc == 0
    dsd = _load(out)
    _check_speaker_split(dsd)
    assert sum(d.num_rows for d in dsd.values()) == 12 - 1  # mic1 only; 13 files, 2 rejected
    skipped = _report(out)["skipped"]
    assert skipped == {corpora.UNREADABLE: 1, corpora.MISSING_TEXT: 1, corpora.LOW_RATE: 1,
                       corpora.EMPTY_SPEAKER: 1}
    assert "skipped 4" in stdout and "missing transcript: 1" in stdout
    row = dsd["train"][0]
    assert row["source"] == "VCTK 0.92" and row["license"] == "CC-BY-4.0" and row["text_source"] == "human"
    samples = row["audio"].get_all_samples()
    assert samples.sample_rate == 16000 and abs(samples.data.shape[-1] / 16000 - row["duration"]) < 1e-3
    assert samples.data.abs().max() > 0.05  # real speech, not silence
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "license: cc-by-4.0" in card and "num_speakers" in card
    assert "| missing transcript | 1 |" in card


def test_libritts_layout_and_utterance_split(tmp_path, capsys):
    root = tmp_path / "LibriTTS_R" / "train-clean-100"
    for n, (key, clips) in enumerate(SPEAKER_CLIPS.items()):
        spk, chapter = str(19 + n), "198"
        for i, clip in enumerate(clips):
            stem = f"{spk}_{chapter}_{i:06d}_000000"
            _copy(clip, root / spk / chapter / f"{stem}.wav")
            (root / spk / chapter / f"{stem}.normalized.txt").write_text(TEXTS[clip.stem])
            (root / spk / chapter / f"{stem}.original.txt").write_text(TEXTS[clip.stem].upper())
    (root / "19" / "198" / "19_198_000001_000000.normalized.txt").unlink()
    _corrupt(root / "20" / "198" / "20_198_000009_000000.wav")
    (root / "99").mkdir()

    out = tmp_path / "libritts"
    rc, _, _ = _run("prepare_libritts", [str(root.parent), "--output-dir", str(out), "--split-by", "utterance",
                                         "--validation-fraction", "0.2", "--test-fraction", "0.2"], capsys)
    assert rc == 0
    dsd = _load(out)
    assert sum(d.num_rows for d in dsd.values()) == 11 and dsd["test"].num_rows >= 2
    assert _report(out)["skipped"] == {corpora.MISSING_TEXT: 1, corpora.UNREADABLE: 1, corpora.EMPTY_SPEAKER: 1}
    assert set(dsd["train"]["source"]) == {"LibriTTS-R train-clean-100"}
    # --text original reads the other transcript file
    out2 = tmp_path / "libritts_orig"
    rc, _, _ = _run("prepare_libritts", [str(root), "--output-dir", str(out2), "--text", "original"], capsys)
    assert rc == 0
    assert all(t == t.upper() for t in _load(out2)["train"]["text"])


def test_librispeech_layout(tmp_path, capsys):
    root = tmp_path / "LibriSpeech" / "dev-clean"
    for n, (key, clips) in enumerate(SPEAKER_CLIPS.items()):
        spk, chapter = str(84 + n), "121123"
        lines = []
        for i, clip in enumerate(clips):
            uid = f"{spk}-{chapter}-{i:04d}"
            _copy(clip, root / spk / chapter / f"{uid}.flac")
            if not (n == 1 and i == 0):  # one utterance missing from trans.txt
                lines.append(f"{uid} {TEXTS[clip.stem].upper()}")
        (root / spk / chapter / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    _copy(FSDD_8K, root / "86" / "121123" / "86-121123-0009.flac")
    (root / "86" / "121123" / "86-121123.trans.txt").open("a").write("86-121123-0009 SEVEN\n")

    out = tmp_path / "librispeech"
    rc, _, _ = _run("prepare_librispeech", [str(root.parent), "--output-dir", str(out), "--num-proc", "2"], capsys)
    assert rc == 0
    dsd = _load(out)
    _check_speaker_split(dsd)
    assert sum(d.num_rows for d in dsd.values()) == 11
    assert _report(out)["skipped"] == {corpora.MISSING_TEXT: 1, corpora.LOW_RATE: 1}


def test_cmu_arctic_layout_with_trimming(tmp_path, capsys):
    root = tmp_path / "cmu_arctic"
    for key, clips in SPEAKER_CLIPS.items():
        spk_dir = root / f"cmu_us_{key}x{key}_arctic"
        lines = []
        for i, clip in enumerate(clips, 1):
            # pad with half a second of near-silence each side: --trim-silence must remove it
            w, rate = load_audio(clip)
            pad = torch.randn(rate // 2) * 1e-4
            save_audio(spk_dir / "wav" / f"arctic_a{i:04d}.wav", torch.cat([pad, w, pad]), rate)
            lines.append(f'( arctic_a{i:04d} "{TEXTS[clip.stem]}" )')
        (spk_dir / "etc").mkdir()
        (spk_dir / "etc" / "txt.done.data").write_text("\n".join(lines[:-1] if key == "d" else lines) + "\n")
    (root / "cmu_us_zzz_arctic" / "wav").mkdir(parents=True)  # empty speaker

    out = tmp_path / "arctic"
    rc, _, _ = _run("prepare_cmu_arctic", [str(root), "--output-dir", str(out), "--trim-silence"], capsys)
    assert rc == 0
    dsd = _load(out)
    _check_speaker_split(dsd)
    assert _report(out)["skipped"] == {corpora.MISSING_TEXT: 1, corpora.EMPTY_SPEAKER: 1}
    by_id = {r["id"]: r for split in dsd.values() for r in split.select_columns(["id", "duration"])}
    original = load_audio(SPEAKER_CLIPS["a"][0])[0].numel() / 16000
    # 1 s of padding added; trimming keeps the speech (+ small margins) only
    assert original - 0.3 < by_id["axa_arctic_a0001"]["duration"] < original + 0.2


def test_fsdd_layout_keeps_8k_and_rejects_odd_files(tmp_path, capsys):
    rec = tmp_path / "free-spoken-digit-dataset" / "recordings"
    for clip in sorted((SPEECH / "fsdd" / "audio").glob("*.flac")):
        _copy(clip, rec / f"{clip.stem}.wav")
    _corrupt(rec / "3_theo_5.wav")
    _copy(KATHLEEN[0], rec / "notadigit.wav")
    (rec / "4_lucas_9.wav").write_bytes(b"this is not audio at all\n" * 40)

    out = tmp_path / "fsdd"
    rc, _, _ = _run("prepare_fsdd", [str(rec.parent), "--output-dir", str(out)], capsys)
    assert rc == 0
    dsd = _load(out)
    _check_speaker_split(dsd)
    assert sum(d.num_rows for d in dsd.values()) == 24
    assert _report(out)["skipped"] == {corpora.UNREADABLE: 2, corpora.NO_AUDIO: 1}
    row = dsd["train"][0]
    assert row["text"] in {"zero", "one", "two", "seven"}
    assert row["audio"].get_all_samples().sample_rate == 16000  # upsampled from native 8 kHz
    # the same tree refuses an 8 kHz source when asked for 16 kHz sources
    rc, _, err = _run("prepare_fsdd", [str(rec.parent), "--output-dir", str(tmp_path / "f2"),
                                       "--min-source-rate", "16000"], capsys)
    assert rc == 2 and "every utterance was rejected" in err and len(err.strip().splitlines()) == 1


def test_transcript_files_with_a_byte_order_mark(tmp_path):
    """Windows editors save UTF-8 with a BOM (and CRLF). The BOM stayed glued to the first word: the
    first line of a trans.txt / txt.done.data no longer matched (that utterance read as untranscribed)
    and a VCTK/LibriTTS transcript began with U+FEFF; synthesize_voices refused a prompts CSV."""
    bom = "\ufeff"
    clip, text = KATHLEEN[0], TEXTS[KATHLEEN[0].stem]
    vctk = tmp_path / "VCTK"
    _copy(clip, vctk / "wav48_silence_trimmed" / "p225" / "p225_001_mic1.flac")
    (vctk / "txt" / "p225").mkdir(parents=True)
    (vctk / "txt" / "p225" / "p225_001.txt").write_text(f"{bom}{text}\r\n", encoding="utf-8")
    ls = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121"
    _copy(clip, ls / "84-121-0000.flac")
    (ls / "84-121.trans.txt").write_text(f"{bom}84-121-0000 {text.upper()}\r\n", encoding="utf-8")
    tts = tmp_path / "LibriTTS" / "dev-clean" / "19" / "198"
    _copy(clip, tts / "19_198_000000_000000.wav")
    (tts / "19_198_000000_000000.normalized.txt").write_text(f"{bom}{text}", encoding="utf-8")
    arctic = tmp_path / "cmu_us_slt_arctic"
    _copy(clip, arctic / "wav" / "arctic_a0001.wav")
    (arctic / "etc").mkdir()
    (arctic / "etc" / "txt.done.data").write_text(f'{bom}( arctic_a0001 "{text}" )\r\n', encoding="utf-8")

    assert [u.text for u in _script("prepare_vctk").list_utterances(vctk)[0]] == [text]
    assert [u.text for u in _script("prepare_librispeech").list_utterances(ls.parent.parent.parent)[0]] == [text.upper()]
    assert [u.text for u in _script("prepare_libritts").list_utterances(tts.parent.parent.parent)[0]] == [text]
    assert [u.text for u in _script("prepare_cmu_arctic").list_utterances(arctic)[0]] == [text]
    synth = _script("synthesize_voices")
    assert synth.read_prompts(arctic / "etc" / "txt.done.data") == [("arctic_a0001", text)]
    (tmp_path / "prompts.csv").write_text(f"{bom}file_name,text\r\n{clip.name},\"{text}\"\r\n", encoding="utf-8")
    assert synth.read_prompts(tmp_path / "prompts.csv") == [(clip.stem, text)]


def test_transcript_files_not_in_utf8_are_a_one_line_error(tmp_path, capsys):
    """A Latin-1 transcript was decoded with errors='replace': 'Café' went into the dataset as
    'Caf\ufffd' without a word (synthesize_voices stopped with a UnicodeDecodeError traceback)."""
    root = tmp_path / "LibriSpeech" / "dev-clean"
    for n, (key, clips) in enumerate(SPEAKER_CLIPS.items()):
        chapter = root / str(84 + n) / "121"
        for i, clip in enumerate(clips):
            _copy(clip, chapter / f"{84 + n}-121-{i:04d}.flac")
        lines = "".join(f"{84 + n}-121-{i:04d} {TEXTS[c.stem].upper()}\n" for i, c in enumerate(clips))
        (chapter / f"{84 + n}-121.trans.txt").write_text(lines, encoding="utf-8")
    bad = root / "85" / "121" / "85-121.trans.txt"
    bad.write_bytes(bad.read_bytes() + "85-121-0003 AU CAF\xc9\n".encode("latin-1"))
    rc, _, err = _run("prepare_librispeech", [str(root.parent), "--output-dir", str(tmp_path / "out")], capsys)
    assert rc == 2 and str(bad) in err and "UTF-8" in err and "line 4" in err
    assert not (tmp_path / "out").exists()

    prompts = tmp_path / "txt.done.data"
    prompts.write_bytes('( arctic_a0001 "Caf\xe9 au lait." )\n'.encode("latin-1"))
    with pytest.raises(MsarError, match="UTF-8"):
        _script("synthesize_voices").read_prompts(prompts)


# ---------------------------------------------------------------------------------------------
# audiofolder (covers ../shared/data), transcription, errors, push
# ---------------------------------------------------------------------------------------------
def _audiofolder(root: Path, with_text: bool = True, n: int = 4) -> Path:
    rows = ["file_name,text,speaker_id"]
    for clip in KATHLEEN[:n]:
        _copy(clip, root / "audio" / clip.name)
        rows.append(f'audio/{clip.name},"{TEXTS[clip.stem] if with_text else ""}",kathleen')
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def test_audiofolder_single_speaker_falls_back_to_utterance_split(tmp_path, capsys):
    root = _audiofolder(tmp_path / "kathleen")
    (root / "metadata.csv").open("a").write("audio/gone.flac,Missing file,kathleen\n")
    _copy(KATHLEEN[5], root / "audio" / "unlisted.flac")
    out = tmp_path / "ds"
    rc, stdout, _ = _run("prepare_audiofolder", [str(root), "--output-dir", str(out), "--license", "CC0-1.0"], capsys)
    assert rc == 0 and "split by utterance (fewer than 3 speakers)" in stdout
    dsd = _load(out)
    assert sum(d.num_rows for d in dsd.values()) == 4 and set(dsd) == {"train", "validation", "test"}
    assert _report(out)["skipped"] == {corpora.NO_AUDIO: 1, corpora.MISSING_TEXT: 1}
    assert "license: cc0-1.0" in (out / "README.md").read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # readable by others, as mkdir makes folders
    # an existing output is refused (one line, exit 2) unless --overwrite
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(out)], capsys)
    assert rc == 2 and "not empty" in err and len(err.strip().splitlines()) == 1
    rc, _, _ = _run("prepare_audiofolder", [str(root), "--output-dir", str(out), "--overwrite",
                                            "--sampling-rate", "8000"], capsys)
    assert rc == 0 and _load(out)["train"].features["audio"].sampling_rate == 8000


def test_a_plain_folder_of_recordings_is_a_corpus_with_a_speaker_per_subfolder(tmp_path, capsys):
    """A user's own corpus is often a folder per speaker and no metadata.csv: prepare_audiofolder
    refused it ('no metadata.csv') and so did the repair recipe's {dir: ...} entry, though repair
    training needs no text. Each file's speaker is now its subfolder (the folder's own name for
    files directly in it), the text empty unless --transcribe."""
    from recipes.data import read_corpus

    root = tmp_path / "my corpus"
    clips = ARCTIC[:6]
    for i, clip in enumerate(clips):
        _copy(clip, root / ("alice" if i < 2 else "bob/day 1" if i < 4 else ".") / clip.name)
    _copy(KATHLEEN[0], root / ".trash" / KATHLEEN[0].name)  # hidden: not a recording of the corpus
    utterances, skips = _script("prepare_audiofolder").list_utterances(root)
    assert sorted((u.speaker_id, Path(u.path).name) for u in utterances) == sorted(
        [("alice", c.name) for c in clips[:2]] + [("bob_day 1", c.name) for c in clips[2:4]]
        + [("my corpus", c.name) for c in clips[4:6]])
    assert all(u.text is None for u in utterances) and len(skips) == 0
    out = tmp_path / "ds"
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(out)], capsys)
    assert rc == 0, err
    dsd = _load(out)
    rows = [row for split in dsd.values() for row in split]
    names = dsd["train"].features["speaker_id"].names
    assert len(rows) == 6 and {names[row["speaker_id"]] for row in rows} == {"alice", "bob_day 1", "my corpus"}
    assert {row["text"] for row in rows} == {""}
    corpus = read_corpus({"dir": str(root), "exclude_speakers": ["alice"]})
    assert sorted(u.speaker for u in corpus) == ["bob_day 1"] * 2 + ["my corpus"] * 2
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = _run("prepare_audiofolder", [str(empty), "--output-dir", str(tmp_path / "ds2")], capsys)
    assert rc == 2 and "no metadata.csv and no audio files" in err
    with pytest.raises(SystemExit, match="no metadata.csv and no audio files"):
        read_corpus({"dir": str(empty)})


def test_audiofolder_metadata_with_spaces_after_commas_keeps_text_and_speakers(tmp_path):
    """A header written 'file_name, text, speaker_id' named its columns ' text' and ' speaker_id':
    every transcript and speaker was dropped without a word (all rows 'missing transcript')."""
    root = _audiofolder(tmp_path / "spaced", n=2)
    rows = ["file_name, text, speaker_id "] + [f'audio/{c.name}, "{TEXTS[c.stem]}", kathleen' for c in KATHLEEN[:2]]
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    utterances, skips = _script("prepare_audiofolder").list_utterances(root)
    assert [u.text for u in utterances] == [TEXTS[c.stem] for c in KATHLEEN[:2]]
    assert {u.speaker_id for u in utterances} == {"kathleen"} and len(skips) == 0


def test_audiofolder_metadata_not_in_utf8_is_a_one_line_error(tmp_path, capsys):
    root = _audiofolder(tmp_path / "latin1", n=1)
    (root / "metadata.csv").write_bytes(f"file_name,text\naudio/{KATHLEEN[0].name},caf\xe9 au lait\n".encode("latin-1"))
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(tmp_path / "out")], capsys)
    assert rc == 2 and "metadata.csv" in err and "UTF-8" in err


def test_transcribe_fills_missing_text_with_pocketsphinx(tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    root = _audiofolder(tmp_path / "untranscribed", with_text=False, n=2)
    out = tmp_path / "ds"
    rc, _, _ = _run("prepare_audiofolder", [str(root), "--output-dir", str(out), "--transcribe"], capsys)
    assert rc == 0
    rows = {r["id"]: r for d in _load(out).values() for r in d.select_columns(["id", "text", "text_source"])}
    assert {r["text_source"] for r in rows.values()} == {"pocketsphinx"}
    # a0001: "Author of the danger trail, Philip Steels, etc."
    assert "danger" in rows["audio_arctic_a0001"]["text"]
    # without --transcribe nothing is kept, and the command says why in one line
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(tmp_path / "d2")], capsys)
    assert rc == 2 and "missing transcript: 2" in err


def _tiny_ctc_model(folder: Path) -> Path:
    """A randomly initialised, 0.1M-parameter wav2vec2 CTC checkpoint (no download), standing in
    for a user's Whisper/wav2vec2 folder: it exercises the transformers pipeline path."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder.mkdir(parents=True)
    vocab = {c: i for i, c in enumerate(["<pad>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                     word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0)
    torch.manual_seed(0)
    config = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 320), conv_kernel=(10, 320),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=0)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def test_transcribe_with_a_transformers_asr_model(tmp_path, capsys):
    model = _tiny_ctc_model(tmp_path / "tiny-ctc")
    root = _audiofolder(tmp_path / "untranscribed", with_text=False, n=2)
    out = tmp_path / "ds"
    rc, _, _ = _run("prepare_audiofolder", [str(root), "--output-dir", str(out), "--transcribe",
                                            "--asr-model", str(model)], capsys)
    assert rc == 0
    rows = [r for d in _load(out).values() for r in d.select_columns(["text", "text_source"])]
    assert len(rows) == 2 and {r["text_source"] for r in rows} == {str(model)}
    assert all(r["text"] for r in rows)  # untrained, so gibberish, but the pipeline ran
    # a model that cannot be loaded is one line, before any work
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(tmp_path / "d2"), "--transcribe",
                                              "--asr-model", str(tmp_path / "no-such-model")], capsys)
    assert rc == 2 and "cannot load ASR model" in err and not (tmp_path / "d2").exists()


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for name, arg in [("prepare_vctk", tmp_path / "nope"), ("prepare_fsdd", tmp_path / "empty"),
                      ("prepare_audiofolder", tmp_path / "empty"), ("prepare_cmu_arctic", tmp_path / "empty")]:
        rc, _, err = _run(name, [str(arg), "--output-dir", str(tmp_path / "o")], capsys)
        assert rc == 2 and str(arg) in err and len(err.strip().splitlines()) == 1, (name, err)
        assert not (tmp_path / "o").exists()


def test_output_dir_below_a_file_is_refused_before_the_build(tmp_path, capsys, monkeypatch):
    """--output-dir notes.txt/ds (a file where a folder should be) passed the output check, the whole
    corpus was built, then save_dataset's mkdir stopped with a FileExistsError traceback."""
    root = _audiofolder(tmp_path / "k", n=2)
    (tmp_path / "notes.txt").write_text("not a folder\n")
    monkeypatch.setattr(corpora, "build_dataset_dict", lambda *a, **k: pytest.fail("built before the output check"))
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(tmp_path / "notes.txt" / "ds")], capsys)
    assert rc == 2 and f"{tmp_path / 'notes.txt'} is a file" in err
    assert (tmp_path / "notes.txt").read_text() == "not a folder\n"


def test_bad_max_shard_size_is_refused_before_the_build(tmp_path, capsys, monkeypatch):
    """--max-shard-size 500M (or any typo) was first parsed by save_to_disk: after the whole build,
    as a ValueError traceback."""
    root = _audiofolder(tmp_path / "k", n=2)
    monkeypatch.setattr(corpora, "build_dataset_dict", lambda *a, **k: pytest.fail("built before the option check"))
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(tmp_path / "ds"),
                                              "--max-shard-size", "500M"], capsys)
    assert rc == 2 and "--max-shard-size" in err and "500M" in err and not (tmp_path / "ds").exists()


def test_interrupted_save_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the dataset was being written removed the half-written folder but left the build's
    temporary arrow files (the whole processed corpus) in /tmp for good."""
    import tempfile

    from datasets import DatasetDict

    root = _audiofolder(tmp_path / "k", n=2)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))

    def interrupted(self, path, **kwargs):
        Path(path, "train").mkdir(parents=True)  # part of it written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(DatasetDict, "save_to_disk", interrupted)
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(tmp_path / "ds")], capsys)
    assert rc == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "tmp"]  # no output, no staging folder
    assert list((tmp_path / "tmp").glob("msar_build_*")) == []


def test_terminated_build_leaves_nothing_behind(tmp_path):
    """SIGTERM (kill, a batch scheduler's time limit) ended a script without unwinding: the hidden
    staging folder and the build's temporary arrow files (the whole processed corpus) stayed."""
    import signal
    import subprocess

    root = _audiofolder(tmp_path / "k", n=2)
    (tmp_path / "tmp").mkdir()
    code = f"""
import os, signal, sys, time
sys.path.insert(0, {str(SCRIPTS)!r})
from datasets import DatasetDict

def terminated_while_saving(self, path, **kwargs):
    os.makedirs(os.path.join(path, "train"))
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)

DatasetDict.save_to_disk = terminated_while_saving
import prepare_audiofolder
sys.exit(prepare_audiofolder.main([{str(root)!r}, "--output-dir", {str(tmp_path / "ds")!r}, "--quiet"]))
"""
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "tmp"]  # no output, no staging folder
    assert list((tmp_path / "tmp").glob("msar_build_*")) == []


def test_malformed_hub_repo_id_is_refused_before_the_build(tmp_path, capsys, monkeypatch):
    """--push-to-hub 'my dataset' (no ORG/, a space) can never be pushed, yet it was only looked at
    after the whole corpus had been processed and saved."""
    root = _audiofolder(tmp_path / "k", n=2)
    monkeypatch.setattr(corpora, "build_dataset_dict", lambda *a, **k: pytest.fail("built before the repo id check"))
    for repo in ("my dataset", "org/bad name", "a/b/c"):
        rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(tmp_path / "ds"),
                                                  "--push-to-hub", repo], capsys)
        assert rc == 2 and repr(repo) in err and not (tmp_path / "ds").exists(), err


def test_failed_push_keeps_local_output(tmp_path, capsys):
    root = _audiofolder(tmp_path / "k")
    out = tmp_path / "ds"
    rc, _, err = _run("prepare_audiofolder", [str(root), "--output-dir", str(out), "--push-to-hub", "someorg/x"],
                      capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "push" in err
    assert sum(d.num_rows for d in _load(out).values()) == 4  # saved before the push was tried


# ---------------------------------------------------------------------------------------------
# helpers on real audio
# ---------------------------------------------------------------------------------------------
def test_quality_measures_on_real_speech():
    speech, rate = load_audio(KATHLEEN[0])
    assert corpora.clipping_ratio(speech) < 0.001
    clipped = (speech * 8).clamp(-0.5, 0.5)
    assert corpora.clipping_ratio(clipped) > 0.05
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(speech.numel(), generator=gen)
    snr = [corpora.estimate_snr(speech + noise * speech.std() * 10 ** (-db / 20), rate) for db in (0, 10, 30)]
    assert snr[0] < snr[1] < snr[2] and snr[0] < 12 and snr[2] > 30
    trimmed = corpora.trim_silence(torch.cat([torch.zeros(rate), speech, torch.zeros(rate)]), rate)
    assert speech.numel() - 0.3 * rate < trimmed.numel() < speech.numel() + 0.2 * rate


def test_quality_filters_count_rejects(tmp_path):
    speech, rate = load_audio(KATHLEEN[1])
    gen = torch.Generator().manual_seed(1)
    files = {"clean": speech, "clipped": (speech * 10).clamp(-0.3, 0.3),
             "noisy": speech + torch.randn(speech.numel(), generator=gen) * speech.std(),
             "short": speech[: rate // 10]}
    utts = []
    for name, w in files.items():
        save_audio(tmp_path / f"{name}.flac", w, rate)
        utts.append(corpora.Utterance(id=name, path=tmp_path / f"{name}.flac", speaker_id="s", text="x",
                                      source="test", license="CC0-1.0"))
    result = corpora.build_dataset_dict(utts, corpora.BuildConfig(min_snr=15.0, min_duration=0.5))
    try:
        assert result.skips.counts() == {corpora.CLIPPED: 1, corpora.LOW_SNR: 1, corpora.TOO_SHORT: 1}
        assert sum(d.num_rows for d in result.dataset.values()) == 1
    finally:
        shutil.rmtree(result.tmp_dir, ignore_errors=True)


def test_float_wav_above_full_scale_is_scaled_not_clipped(tmp_path):
    """A 32-bit float WAV may hold samples beyond ±1.0 (a mix or an effect's output, not clipped). It
    passed the clipping filter (flat tops measured at its own peak: none), then the 16-bit FLAC
    encoder clamped it: 8% of this clip's samples were stored hard-clipped at full scale."""
    import soundfile as sf

    speech, rate = load_audio(KATHLEEN[0])
    hot = speech * (4.0 / float(speech.abs().max()))
    sf.write(tmp_path / "hot.wav", hot.numpy(), rate, subtype="FLOAT")
    utt = corpora.Utterance(id="hot", path=tmp_path / "hot.wav", speaker_id="s", text="x", source="t", license="l")
    result = corpora.build_dataset_dict([utt], corpora.BuildConfig(test_fraction=0.0, validation_fraction=0.0))
    try:
        stored = torch.as_tensor(result.dataset["train"][0]["audio"].get_all_samples().data).squeeze(0)
    finally:
        shutil.rmtree(result.tmp_dir, ignore_errors=True)
    assert float((stored.abs() >= 0.999).float().mean()) < 0.001  # no flat tops
    assert torch.allclose(stored, hot / 4.0, atol=2e-4)  # the same waveform, 12 dB down


def test_speaker_split_keeps_groups_together():
    groups = [g for g, n in zip("abcdefghij", range(10, 20)) for _ in range(n)]
    person = {"a": "p1", "b": "p1"}  # a and b are one person
    keyed = [person.get(g, g) for g in groups]
    idx = corpora.split_by_speaker(keyed, 0.1, 0.2, seed=3)
    owner = {}
    for split, rows in idx.items():
        for i in rows:
            assert owner.setdefault(keyed[i], split) == split
    assert sorted(i for rows in idx.values() for i in rows) == list(range(len(groups)))
    assert 0.1 * len(groups) <= len(idx["test"]) <= 0.35 * len(groups)
    assert idx == corpora.split_by_speaker(keyed, 0.1, 0.2, seed=3)  # seeded
    assert idx != corpora.split_by_speaker(keyed, 0.1, 0.2, seed=4)


# ---------------------------------------------------------------------------------------------
# synthetic voices
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("flite") is None or shutil.which("festival") is None,
                    reason="needs Debian flite and festival (Makefile sysdeps)")
def test_synthesize_voices_two_prompts_two_voices(tmp_path, capsys):
    prompts = tmp_path / "txt.done.data"
    prompts.write_text('( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n'
                       '( arctic_a0002 "Not at this particular case, Tom, apologized Whittemore." )\n')
    out = tmp_path / "voices"
    rc, _, _ = _run("synthesize_voices", ["--prompts", str(prompts), "--voices", "slt", "kal",
                                               "--output-dir", str(out), "--num-proc", "2"], capsys)
    assert rc == 0
    dsd = _load(out)
    rows = [r for d in dsd.values() for r in d]
    assert len(rows) == 4
    names = dsd["train"].features["speaker_id"].names
    assert sorted(names) == ["festival-kal", "flite-slt"]
    for r in rows:
        w = torch.as_tensor(r["audio"].get_all_samples().data).squeeze(0)
        words = len(r["text"].split())
        assert 0.15 * words < r["duration"] < 0.8 * words + 1.0  # plausible speaking rate
        assert 20 * torch.log10(w.pow(2).mean().sqrt()) > -35  # not silent
        assert r["source"] in {"flite:slt", "festival:voice_kal_diphone"}
    # a second run reuses the rendered clips (resumable) and still builds
    clips = out.with_name("voices-clips")
    assert len(list(clips.rglob("*.flac"))) == 4 and (clips / "metadata.csv").is_file()


def test_synthesize_voices_checks_the_output_before_rendering(tmp_path, capsys, monkeypatch):
    """An existing --output-dir was refused only after every clip had been rendered (an hour for the
    full set), and a --clips-dir inside --output-dir could never build (the clips made the output
    'not empty'); with --overwrite over an older dataset the save deleted the clips it was built from."""
    synth = _script("synthesize_voices")
    monkeypatch.setattr(synth, "check_engines", lambda voices: None)
    monkeypatch.setattr(synth, "render_clips", lambda *a, **k: pytest.fail("rendered before the output check"))
    prompts = tmp_path / "txt.done.data"
    prompts.write_text('( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n')
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "keep.txt").write_text("mine")
    rc, _, err = _run("synthesize_voices", ["--prompts", str(prompts), "--voices", "slt",
                                            "--output-dir", str(tmp_path / "old")], capsys)
    assert rc == 2 and "not empty" in err
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset_dict.json").write_text('{"splits": ["train"]}')  # an older build
    for extra in ([], ["--overwrite"]):
        rc, _, err = _run("synthesize_voices", ["--prompts", str(prompts), "--voices", "slt", "--output-dir",
                                                str(tmp_path / "ds"), "--clips-dir", str(tmp_path / "ds" / "clips"),
                                                *extra], capsys)
        assert rc == 2 and "--clips-dir" in err and "inside" in err, err
    assert (tmp_path / "old" / "keep.txt").read_text() == "mine"
