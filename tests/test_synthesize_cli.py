"""``msar synthesize`` / ``msar voices``: a tiny model in tmp_path, real fixture audio for voices."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_multispeaker

from msar_hf.audio import load_audio, save_audio
from msar_hf.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    import msar_hf.models  # noqa: F401

    sys.path.insert(0, str(REPO / "recipes"))
    from train_multispeaker import register_auto_classes

    model, processor = tiny_multispeaker(seed=0)
    path = tmp_path_factory.mktemp("tts")
    register_auto_classes()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_synthesize_known_speaker(model_dir, tmp_path, capsys):
    out = tmp_path / "hello.flac"
    assert run(["synthesize", "Hello, this is msar. It costs $5.", "--speaker", "awb", "-o", str(out),
                "--model", str(model_dir), "--quiet"]) == 0
    wav, rate = load_audio(out, sampling_rate=None)
    assert rate == 16000 and wav.shape[-1] > 8000 and wav.abs().max() > 0
    msg = capsys.readouterr().out
    assert "2 sentences" in msg and "speaker awb" in msg and "neural vocoder" in msg


def test_griffin_lim_fallback_is_labelled(model_dir, tmp_path, capsys):
    out = tmp_path / "gl.wav"
    assert run(["synthesize", "Hello there.", "--speaker", "kathleen", "-o", str(out), "--model", str(model_dir),
                "--waveform", "griffin-lim", "--quiet"]) == 0
    assert "Griffin-Lim (fallback" in capsys.readouterr().out
    assert out.exists()
    assert run(["synthesize", "Hello there.", "--speaker", "kathleen", "-o", str(tmp_path / "v.wav"),
                "--model", str(model_dir), "--waveform", "vocoder", "--quiet"]) == 0
    assert "neural vocoder" in capsys.readouterr().out
    assert run(["synthesize", "Hello.", "--speaker", "kathleen", "--model", str(model_dir), "--waveform", "wavenet"]) == 2
    assert "--waveform must be one of" in capsys.readouterr().err


def test_voices_lists_speakers(model_dir, capsys):
    assert run(["voices", "--model", str(model_dir)]) == 0
    assert capsys.readouterr().out.split() == ["kathleen", "awb"]


def test_long_text_file_streams(model_dir, tmp_path, capsys):
    sentence = "Numbers like 42 and words like Dr. are read out, sentence by sentence. "
    text_file = tmp_path / "long.txt"
    text_file.write_text((sentence * 80)[:5000])
    out = tmp_path / "long.wav"
    assert run(["synthesize", "--text-file", str(text_file), "--speaker", "kathleen", "-o", str(out),
                "--model", str(model_dir)]) == 0
    captured = capsys.readouterr()
    assert "synthesizing" in captured.err  # the progress bar
    n_sentences = int(captured.out.split(" sentences")[0].split()[-1])
    assert n_sentences >= 60
    wav, _ = load_audio(out)
    assert wav.shape[-1] > n_sentences * 0.2 * 16000  # at least the pauses between sentences


def test_long_text_is_written_while_it_is_synthesized(model_dir, tmp_path, capsys, monkeypatch):
    # every sentence's waveform was kept in a list until the end (~0.2 MB per second of speech,
    # ~20 GB for a 1 MB text); now only the sentence being written is held
    import gc
    import weakref

    from msar_hf import synthesis

    real, refs, alive = synthesis.stream_speech, [], []

    def watched(*args, **kwargs):
        for chunk in real(*args, **kwargs):
            gc.collect()
            alive.append(sum(ref() is not None for ref in refs))
            refs.append(weakref.ref(chunk))
            yield chunk

    monkeypatch.setattr(synthesis, "stream_speech", watched)
    text = " ".join(f"Sentence number {i} is here." for i in range(12))
    out = tmp_path / "long.flac"
    assert run(["synthesize", text, "--speaker", "kathleen", "-o", str(out), "--model", str(model_dir), "--quiet"]) == 0
    assert "12 sentences" in capsys.readouterr().out
    assert len(alive) == 12 and max(alive) <= 1, alive
    # the same audio as synthesize() (scaled to a 0.9 peak when louder) written by save_audio
    tts = synthesis.load_tts(model_dir)
    expected = synthesis.synthesize(tts, text, synthesis.resolve_voice(tts, speaker="kathleen"))
    got, rate = load_audio(out, sampling_rate=None)
    assert rate == 16000 and got.shape[-1] == expected.shape[-1]
    assert (got.reshape(-1) - expected.clamp(-1, 1)).abs().max() < 1.5 / 32768
    assert [p.name for p in tmp_path.iterdir()] == ["long.flac"]  # no scratch file left


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ("  ", "empty"), ("?!?! ... ---", "only punctuation"), ("Привет мир", "non-Latin"),
])
def test_bad_text_exits_2(model_dir, tmp_path, capsys, text, why):
    out = tmp_path / "x.wav"
    assert run(["synthesize", text, "--speaker", "awb", "-o", str(out), "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert why in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_bad_voice_and_arguments_exit_2(model_dir, tmp_path, speech_file, capsys):
    wav, rate = load_audio(speech_file)
    short = save_audio(tmp_path / "short.wav", wav[: int(0.6 * rate)], rate)
    silent = save_audio(tmp_path / "silent.wav", torch.zeros(3 * rate), rate)
    notaudio = tmp_path / "notes.wav"
    notaudio.write_text("not audio at all")
    cases = [
        (["--voice", str(short)], "at least 1 s"),
        (["--voice", str(silent)], "silent"),
        (["--voice", str(notaudio)], "notes.wav"),
        (["--voice", str(tmp_path / "missing.wav")], "missing.wav"),
        (["--speaker", "nobody"], "unknown speaker 'nobody'"),
        ([], "exactly one of --voice"),
        (["--speaker", "awb", "--voice", str(speech_file)], "exactly one of --voice"),
    ]
    for extra, why in cases:
        out = tmp_path / "x.wav"
        code = run(["synthesize", "Hello there.", "-o", str(out), "--model", str(model_dir), *extra])
        err = capsys.readouterr().err
        assert code == 2 and why in err and "Traceback" not in err, (extra, err)
        assert not out.exists()
    # text file problems, and a model folder that is not one
    assert run(["synthesize", "--text-file", str(tmp_path / "nope.txt"), "--speaker", "awb", "--model", str(model_dir)]) == 2
    assert "nope.txt: text file not found" in capsys.readouterr().err
    assert run(["synthesize", "Hi.", "--speaker", "awb", "--model", str(tmp_path)]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert run(["synthesize", "Hi.", "--speaker", "awb", "--model", str(model_dir), "-o", str(tmp_path)]) == 2
    assert "is a folder; -o takes a file name" in capsys.readouterr().err
    assert run(["synthesize", "--text-file", str(tmp_path), "--speaker", "awb", "--model", str(model_dir)]) == 2
    assert "is a folder; --text-file takes" in capsys.readouterr().err
    # a model of another kind (the repair model) is named as such, not a transformers traceback
    from msar_hf.models.autoencoder import MsarAutoencoderConfig

    MsarAutoencoderConfig().save_pretrained(tmp_path / "repair_cfg")
    assert run(["synthesize", "Hi.", "--speaker", "awb", "--model", str(tmp_path / "repair_cfg")]) == 2
    err = capsys.readouterr().err
    assert "a msar_autoencoder model, not a text-to-speech one" in err and "Traceback" not in err


def test_bad_output_path_fails_before_synthesis(model_dir, tmp_path, capsys, monkeypatch):
    # "-o book.xyz" (or a file where a folder should be) failed in save_audio, after the whole text
    # had been synthesized
    import msar_hf.synthesis

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output path was checked")

    monkeypatch.setattr(msar_hf.synthesis, "load_tts", no_model)
    (tmp_path / "file").write_text("x")
    for out, why in ((tmp_path / "out.xyz", "cannot write '.xyz' files"), (tmp_path / "noext", "no extension"),
                     (tmp_path / "file" / "x.wav", "is a file, not a folder")):
        code = run(["synthesize", "Hello there.", "--speaker", "awb", "-o", str(out), "--model", str(model_dir)])
        err = capsys.readouterr().err
        assert code == 2 and why in err and "Traceback" not in err, err
        assert not out.exists()


def test_output_never_overwrites_the_reference(model_dir, speech_file, tmp_path, capsys):
    ref = tmp_path / "ref.flac"
    ref.write_bytes(speech_file.read_bytes())
    before = ref.read_bytes()
    code = run(["synthesize", "Hello there.", "--voice", str(ref), "-o", str(ref), "--model", str(model_dir)])
    assert code == 2 and ref.read_bytes() == before
    assert "overwrite" in capsys.readouterr().err
