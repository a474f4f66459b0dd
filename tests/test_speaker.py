"""Speaker encoder: shipped default, SpeechBrain Hub path (offline cache snapshot), bad input,
`msar embed` and the dataset script, all on the real fixture recordings."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from msar_hf.audio import load_audio, save_audio
from msar_hf.speaker import (
    DEFAULT_MODEL_DIR,
    SpeakerEncoder,
    SpeakerInputError,
    SpeakerModelError,
    all_pair_trials,
    equal_error_rate,
)

REPO = Path(__file__).resolve().parent.parent
HUB_ID = "speechbrain/spkrec-ecapa-voxceleb"


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    torch.set_num_threads(1)
    return SpeakerEncoder.from_pretrained()


def _digit_string(fixtures_dir: Path, speaker: str) -> torch.Tensor:
    """An FSDD speaker's fixture digits joined into one utterance (a lone digit is < 0.5 s)."""
    files = sorted((fixtures_dir / "speech" / "fsdd" / "audio").glob(f"*_{speaker}_*.flac"))
    pause = torch.zeros(1600)
    return torch.cat([t for f in files for t in (load_audio(f)[0], pause)])


# ------------------------------------------------------------------------------------------------
# the shipped default
# ------------------------------------------------------------------------------------------------
def test_shipped_default_embeds_real_speech(encoder, speech_file):
    assert encoder.embedding_dim == 192
    emb = encoder.embed_file(speech_file)
    assert emb.shape == (192,) and torch.isfinite(emb).all()
    assert float(emb.norm()) == pytest.approx(1.0, abs=1e-5)
    # The same clip at another rate/format is still the same voice.
    wave, _ = load_audio(speech_file)
    assert float(encoder.similarity(emb, encoder.embed(wave)[0])) > 0.999


def test_embed_takes_a_datasets_audio_column(encoder, speech_file, fsdd_file):
    """datasets 5 hands an Audio column over as torchcodec decoders: embed() refused them ("can't
    convert np.ndarray of type numpy.object_"). Now each item is made 16 kHz mono and embedded as
    its file is, one item or a column, at any rate the column asks for."""
    from datasets import Audio, Dataset

    ds = Dataset.from_dict({"audio": [str(speech_file), str(fsdd_file)]}).cast_column("audio", Audio())
    clips = [load_audio(speech_file)[0], load_audio(fsdd_file, sampling_rate=16000)[0]]  # 16 kHz, 8 kHz
    assert torch.allclose(encoder.embed(ds["audio"]), encoder.embed(clips), atol=1e-5)
    by_file = torch.stack([encoder.embed_file(speech_file), encoder.embed_file(fsdd_file)])
    assert torch.allclose(encoder.embed(ds[1]["audio"])[0], by_file[1], atol=1e-5)
    with pytest.raises(TypeError, match="embed_file"):  # a path is not a waveform (it was split into characters)
        encoder.embed(str(speech_file))
    at_48k = ds.cast_column("audio", Audio(sampling_rate=48000))
    assert float(encoder.similarity(encoder.embed(at_48k[0]["audio"])[0], by_file[0])) > 0.999


def test_shipped_folder_is_plain_speechbrain_and_small(encoder, speech_file):
    from speechbrain.inference.classifiers import EncoderClassifier

    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir() if p.is_file())
    assert size <= 10 * 1024 * 1024
    sb = EncoderClassifier.from_hparams(source=str(DEFAULT_MODEL_DIR))  # no overrides, no network
    wave, _ = load_audio(speech_file)
    raw = sb.encode_batch(wave[None]).reshape(-1)
    assert float(encoder.similarity(raw, encoder.embed_file(speech_file))) > 0.9999


def test_same_speaker_scores_higher_than_different_speakers(encoder, fixtures_dir):
    """kathleen vs kathleen beats kathleen vs the ARCTIC, LJ and FSDD speakers (the last four
    are held out of training)."""
    speech = fixtures_dir / "speech"
    kathleen = [load_audio(f)[0] for f in sorted((speech / "kathleen" / "audio").glob("*.flac"))]
    others = [load_audio(f)[0] for f in sorted((speech / "arctic_samples" / "audio").glob("*.flac"))]
    others += [load_audio(f)[0] for f in sorted((speech / "ljspeech_samples" / "audio").glob("*.flac"))]
    others += [_digit_string(fixtures_dir, s) for s in ("george", "theo")]
    k = torch.stack([encoder.embed(w)[0] for w in kathleen])
    o = torch.stack([encoder.embed(w)[0] for w in others])
    same = [float(encoder.similarity(a, b)) for a, b in itertools.combinations(k, 2)]
    diff = (k @ o.T).flatten().tolist()
    assert np.mean(same) > np.mean(diff) + 0.2
    # Ranking: nearly every same-speaker pair outscores nearly every different-speaker pair.
    auc = np.mean([s > d for s in same for d in diff])
    assert auc > 0.93, auc
    # The held-out ARCTIC speakers are closer to themselves than to each other.
    arctic = o[:6]
    scores, labels, _ = all_pair_trials(arctic, ["aew"] * 3 + ["axb"] * 3)
    assert equal_error_rate(scores, labels)[0] < 0.25


def test_padded_batch_matches_single_clips(encoder, speech_files):
    a, b = (load_audio(f)[0] for f in speech_files[:2])
    batch = torch.zeros(2, max(len(a), len(b)))
    batch[0, : len(a)], batch[1, : len(b)] = a, b
    emb = encoder.embed(batch, torch.tensor([len(a), len(b)]))
    assert emb.shape == (2, 192)
    assert float(encoder.similarity(emb[0], encoder.embed(a)[0])) > 0.999
    assert float(encoder.similarity(emb[1], encoder.embed(b)[0])) > 0.999


def test_long_input_is_chunked(encoder, speech_files):
    """A 40 s recording (longer than one 30 s chunk) still gives one unit vector of that voice."""
    long = torch.cat([load_audio(f)[0] for f in speech_files] * 3)[: 40 * 16000]
    assert len(long) == 40 * 16000
    emb = encoder.embed(long)[0]
    assert float(emb.norm()) == pytest.approx(1.0, abs=1e-5)
    assert float(encoder.similarity(emb, encoder.embed_file(speech_files[0]))) > 0.6


def test_speaker_similarity_survives_mild_noise(encoder, speech_file):
    clean, _ = load_audio(speech_file)
    noisy = clean + 0.003 * torch.randn(len(clean), generator=torch.Generator().manual_seed(0))
    assert encoder.speaker_similarity(clean, noisy) > 0.8


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
def test_short_silent_and_nonfinite_input(encoder, speech_file, fixtures_dir, tmp_path):
    speech, _ = load_audio(speech_file)
    with pytest.raises(SpeakerInputError, match="too short"):
        encoder.embed(speech[:4000])
    with pytest.raises(SpeakerInputError, match="silent"):
        encoder.embed(torch.zeros(16000))
    short_file = save_audio(tmp_path / "short.wav", speech[:6000], 16000)
    with pytest.raises(SpeakerInputError, match=r"short\.wav.*too short"):
        encoder.embed_file(short_file)
    with pytest.raises(SpeakerInputError, match="too short"):
        encoder.embed_file(fixtures_dir / "speech" / "fsdd" / "audio" / "0_george_0.flac")  # a real 0.3 s digit

    bad = speech[:16000].clone()
    bad[100] = float("nan")
    batch = torch.stack([speech[:16000], torch.zeros(16000), bad, speech[16000:32000]])
    result = encoder.embed_batch(batch, torch.tensor([16000, 16000, 16000, 4000]))
    assert result.valid.tolist() == [True, False, False, False]
    assert torch.isfinite(result.embeddings).all()
    assert torch.equal(result.embeddings[1:], torch.zeros(3, 192))
    assert "silent" in result.problems[1] and "NaN" in result.problems[2] and "short" in result.problems[3]
    assert torch.equal(encoder.embed(batch, torch.tensor([16000, 16000, 16000, 4000]), strict=False),
                       result.embeddings)


def test_embed_files_flags_unusable_files(encoder, speech_file, tmp_path):
    (tmp_path / "notes.wav").write_text("not audio")
    missing = tmp_path / "missing.flac"
    result = encoder.embed_files([speech_file, tmp_path / "notes.wav", missing])
    assert result.valid.tolist() == [True, False, False]
    assert "not an audio file" in result.problems[1] and "no such file" in result.problems[2]
    assert torch.equal(result.embeddings[1:], torch.zeros(2, 192))


def test_model_errors_are_typed(tmp_path):
    with pytest.raises(SpeakerModelError, match="no hyperparams.yaml"):
        SpeakerEncoder.from_pretrained(tmp_path)
    with pytest.raises(SpeakerModelError, match="no such model folder"):
        SpeakerEncoder.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(SpeakerModelError, match="not found"):
        SpeakerEncoder.from_pretrained("nobody/no-such-model", cache_dir=tmp_path)


# ------------------------------------------------------------------------------------------------
# the SpeechBrain Hub code path, offline
# ------------------------------------------------------------------------------------------------
def _hub_snapshot(cache: Path) -> Path:
    """An HF cache entry for the Hub id holding a SpeechBrain folder laid out like the real
    repository: ``pretrained_path`` naming the Hub repo and explicit Pretrainer paths."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{HUB_ID.replace('/', '--')}"
    snap = repo / "snapshots" / sha
    snap.mkdir(parents=True)
    for name in ("embedding_model.ckpt", "classifier.ckpt"):
        shutil.copy(DEFAULT_MODEL_DIR / name, snap / name)
    shutil.copy(DEFAULT_MODEL_DIR / "label_encoder.ckpt", snap / "label_encoder.txt")
    hparams = (DEFAULT_MODEL_DIR / "hyperparams.yaml").read_text()
    hparams = f"pretrained_path: {HUB_ID}\n" + hparams + (
        "    paths:\n"
        "        embedding_model: !ref <pretrained_path>/embedding_model.ckpt\n"
        "        classifier: !ref <pretrained_path>/classifier.ckpt\n"
        "        label_encoder: !ref <pretrained_path>/label_encoder.txt\n")
    (snap / "hyperparams.yaml").write_text(hparams)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    return snap


def test_hub_id_loads_from_offline_cache_snapshot(encoder, speech_file, tmp_path, monkeypatch):
    snap = _hub_snapshot(tmp_path / "hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = SpeakerEncoder.from_pretrained(HUB_ID)
    assert hub.source == HUB_ID and hub.embedding_dim == 192
    expected = encoder.embed_file(speech_file)
    assert float(hub.similarity(hub.embed_file(speech_file), expected)) > 0.9999
    # A local copy of a Hub folder names the Hub in pretrained_path: it must still load offline.
    local = tmp_path / "copy"
    shutil.copytree(snap, local)
    assert float(hub.similarity(SpeakerEncoder.from_pretrained(local).embed_file(speech_file), expected)) > 0.9999


# ------------------------------------------------------------------------------------------------
# msar embed and the dataset script
# ------------------------------------------------------------------------------------------------
def test_msar_embed_writes_parquet(encoder, fixtures_dir, speech_file, tmp_path, capsys):
    import pyarrow.parquet as pq

    from msar_hf.cli import main

    out = tmp_path / "emb.parquet"
    inputs = [str(fixtures_dir / "speech" / "arctic_samples"), str(fixtures_dir / "speech" / "fsdd" / "audio" /
                                                                     "0_george_0.flac"), str(speech_file)]
    with pytest.raises(SystemExit) as exit_:
        main(["embed", *inputs, "--out", str(out), "--batch-size", "4"])
    assert exit_.value.code == 0
    table = pq.read_table(out).to_pydict()
    assert len(table["file"]) == 8
    assert table["valid"] == [True] * 6 + [False, True]
    assert "too short" in table["problem"][6] and table["problem"][7] is None
    emb = torch.tensor(table["embedding"])
    assert emb.shape == (8, 192) and torch.isfinite(emb).all() and emb[6].abs().sum() == 0
    assert float(encoder.similarity(emb[7], encoder.embed_file(speech_file))) > 0.999
    assert "0_george_0.flac" in capsys.readouterr().err
    # a file also inside a folder given (or given twice) is one row, not two
    with pytest.raises(SystemExit) as exit_:
        main(["embed", str(speech_file.parent), str(speech_file), "--out", str(tmp_path / "once.parquet")])
    assert exit_.value.code == 0
    files = pq.read_table(tmp_path / "once.parquet").to_pydict()["file"]
    assert len(files) == len(set(files)) == len(list(speech_file.parent.glob("*.flac")))
    assert encoder.embed_batch([]).valid.dtype == torch.bool  # ~valid works on an empty batch too
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_:
        main(["embed", str(tmp_path / "nothing.wav"), "--out", str(tmp_path / "x.parquet")])
    assert exit_.value.code == 2
    assert "nothing.wav: no such file" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def test_msar_embed_reads_a_videos_sound_and_writes_a_readable_file(encoder, speech_file, tmp_path, capsys):
    """msar embed skipped video files (a folder of interview videos gave 'no audio files found'),
    though msar repair reads their sound; and its parquet kept mkstemp's 0600 after the rename."""
    import subprocess

    import pyarrow.parquet as pq

    from msar_hf.cli import main

    folder = tmp_path / "interviews"
    folder.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=64x48:r=5", "-i", str(speech_file),
                    "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(folder / "take.mp4")], check=True)
    umask = os.umask(0o022)
    try:
        with pytest.raises(SystemExit) as exit_:
            main(["embed", str(folder), "--out", str(tmp_path / "emb.parquet")])
    finally:
        os.umask(umask)
    assert exit_.value.code == 0, capsys.readouterr().err
    table = pq.read_table(tmp_path / "emb.parquet").to_pydict()
    assert [Path(f).name for f in table["file"]] == ["take.mp4"] and table["valid"] == [True]
    assert float(encoder.similarity(torch.tensor(table["embedding"][0]), encoder.embed_file(speech_file))) > 0.95
    assert oct((tmp_path / "emb.parquet").stat().st_mode & 0o777) == "0o644"


def test_msar_embed_refuses_an_unwritable_out_before_embedding(speech_file, tmp_path, capsys, monkeypatch):
    """--out naming a folder (even one called x.parquet) or a path below a file embedded every input,
    then os.replace / mkdir stopped with an IsADirectoryError / FileExistsError traceback."""
    from msar_hf.cli import main

    monkeypatch.setattr(SpeakerEncoder, "from_pretrained", lambda *a, **k: pytest.fail("embedded before the --out check"))
    (tmp_path / "dir.parquet").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    for out, problem in [(tmp_path / "dir.parquet", "is a folder"), (tmp_path / "notes.txt" / "e.parquet", "is a file")]:
        with pytest.raises(SystemExit) as exit_:
            main(["embed", str(speech_file), "--out", str(out)])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and problem in err, err
    assert list((tmp_path / "dir.parquet").iterdir()) == [] and (tmp_path / "notes.txt").read_text() == "mine"


def test_dataset_script_adds_speaker_embedding_column(encoder, fixtures_dir, tmp_path):
    from datasets import Audio, Dataset, DatasetDict, load_from_disk

    sys.path.insert(0, str(REPO / "dataset_scripts"))
    import add_speaker_embeddings as script

    speech = fixtures_dir / "speech"
    files = sorted((speech / "kathleen" / "audio").glob("*.flac"))[:3] + [speech / "fsdd" / "audio" / "0_theo_0.flac"]

    def split(paths):
        ds = Dataset.from_dict({"id": [p.stem for p in paths], "audio": [str(p) for p in paths]})
        return ds.cast_column("audio", Audio(sampling_rate=16000))

    DatasetDict({"train": split(files[:2]), "test": split(files[2:])}).save_to_disk(str(tmp_path / "in"))
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"), "--num-proc", "2",
                        "--batch-size", "2"]) == 0
    out = load_from_disk(str(tmp_path / "out"))
    assert out["train"].column_names == ["id", "audio", "speaker_embedding", "speaker_embedding_valid"]
    assert out["test"]["speaker_embedding_valid"] == [True, False]  # a lone 0.3 s digit is flagged
    emb = torch.tensor(out["test"]["speaker_embedding"])
    assert emb[1].abs().sum() == 0
    assert float(encoder.similarity(emb[0], encoder.embed_file(files[2]))) > 0.999
    assert isinstance(out["train"].features["audio"], Audio)  # the audio column is left as it was
    # Refuses to overwrite its input; a second run needs --overwrite.
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "in")]) == 2
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]) == 2
    # a folder that is not a dataset is never replaced, --overwrite or not; a text column is not audio
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "mine"), "--overwrite"]) == 2
    assert (tmp_path / "mine" / "keep.txt").read_text() == "mine"
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "o2"), "--audio-column", "id"]) == 2
    assert not (tmp_path / "o2").exists()
    # the folder is readable as mkdir would make it (not mkdtemp's 0700)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask


def test_dataset_script_keeps_the_old_output_when_a_save_fails(fixtures_dir, tmp_path, monkeypatch):
    """--overwrite deleted the old output before the new one was in place, and a failed or
    interrupted save left its hidden .NAME.saving folder behind. Now the old output stays whole
    until the new one replaces it, and nothing hidden is left."""
    from datasets import Audio, Dataset, DatasetDict, load_from_disk

    sys.path.insert(0, str(REPO / "dataset_scripts"))
    import add_speaker_embeddings as script

    clips = sorted((fixtures_dir / "speech" / "kathleen" / "audio").glob("*.flac"))[:2]
    ds = Dataset.from_dict({"id": [p.stem for p in clips], "audio": [str(p) for p in clips]})
    DatasetDict({"train": ds.cast_column("audio", Audio(sampling_rate=16000))}).save_to_disk(str(tmp_path / "in"))
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]) == 0
    before = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "out").rglob("*"))

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DatasetDict, "save_to_disk", full_disk)
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"), "--overwrite"]) != 0
    monkeypatch.undo()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "out").rglob("*")) == before
    assert load_from_disk(str(tmp_path / "out"))["train"].num_rows == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no .out.saving / .out.old
    assert script.main([str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def test_dataset_script_refuses_an_output_that_is_or_is_below_a_file(fixtures_dir, tmp_path, capsys, monkeypatch):
    """--output-dir naming a file was a NotADirectoryError traceback (out.iterdir()); one below a file
    embedded every row first, then failed in save_to_disk with a traceback."""
    from datasets import Audio, Dataset

    sys.path.insert(0, str(REPO / "dataset_scripts"))
    import add_speaker_embeddings as script

    files = sorted((fixtures_dir / "speech" / "kathleen" / "audio").glob("*.flac"))[:2]
    ds = Dataset.from_dict({"audio": [str(p) for p in files]}).cast_column("audio", Audio(sampling_rate=16000))
    ds.save_to_disk(str(tmp_path / "in"))
    capsys.readouterr()
    monkeypatch.setattr(script, "_encoder", lambda *a, **k: pytest.fail("embedded before the output check"))
    (tmp_path / "notes.txt").write_text("mine")
    for out in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "out"):
        for extra in ([], ["--overwrite"]):
            assert script.main([str(tmp_path / "in"), "--output-dir", str(out), *extra]) == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and "notes.txt" in err and "file" in err, err
    assert (tmp_path / "notes.txt").read_text() == "mine"
