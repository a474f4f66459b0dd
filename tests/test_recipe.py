"""The Accelerate recipe: arguments, deterministic pair batches, exact resume, 2 CPU ranks.

Everything runs on the small real recordings in tests/fixtures (laid out like the shared data, so
``MSAR_DATA_ROOT`` points the default configs at them) with a tiny model.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recipes.args import load_arguments

TINY = {
    "model": {"type": "autoencoder", "config": {
        "hidden_size": 16, "encoder_layers": 1, "lstm_layers": 1, "lstm_hidden_size": 16,
        "use_speaker_conditioning": False, "mrstft_resolutions": [[256, 64, 256]]}},
    "data": {
        "speech": [{"dir": "${MSAR_DATA_ROOT}/speech/kathleen"},
                   {"dir": "${MSAR_DATA_ROOT}/speech/fsdd", "exclude_speakers": ["theo"]}],
        # measured rooms only and no codec: keeps each batch a few milliseconds
        "degradation_overrides": {"reverb": {"simulated_fraction": 0.0}, "codec": {"p": 0.0}},
        "crop_seconds": 0.5, "batch_size": 2},
    "training": {"max_steps": 8, "report_to": None, "progress": False, "eval_every": 0,
                 "checkpoint_every": 100, "log_every": 1, "warmup_steps": 2, "cpu": True},
}


@pytest.fixture(autouse=True)
def _fixture_data(monkeypatch, fixtures_dir):
    monkeypatch.setenv("MSAR_DATA_ROOT", str(fixtures_dir))
    monkeypatch.chdir(REPO)
    torch.set_num_threads(1)


def _write_config(tmp_path: Path, **training) -> Path:
    cfg = json.loads(json.dumps(TINY))
    cfg["training"].update(output_dir=str(tmp_path / "out"), **training)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_arguments_overrides_and_unknown_keys(tmp_path):
    path = _write_config(tmp_path)
    args = load_arguments(path, ["training.max_steps=3", "data.batch_size=5", "model.config.causal=true"])
    assert (args.training.max_steps, args.data.batch_size, args.model.config["causal"]) == (3, 5, True)
    # YAML 1.1 reads "4e-4" as a string; a learning rate typed that way is still a number,
    # on the command line and in a recipe file
    args = load_arguments(path, ["training.learning_rate=4e-4", "training.output_dir=runs/1e5"])
    assert args.training.learning_rate == pytest.approx(4e-4) and args.training.output_dir == "runs/1e5"
    (tmp_path / "lr.yaml").write_text("base: tiny.yaml\ntraining:\n  learning_rate: 3e-4\n")
    assert load_arguments(tmp_path / "lr.yaml").training.learning_rate == pytest.approx(3e-4)
    with pytest.raises(SystemExit, match="unknown key"):
        load_arguments(path, ["training.max_stepz=3"])
    # values are checked against their field's type: one line, not a traceback steps later
    with pytest.raises(SystemExit, match=r"training\.max_steps: expected int, got 'abc'"):
        load_arguments(path, ["training.max_steps=abc"])
    with pytest.raises(SystemExit, match=r"training\.cpu: expected bool"):
        load_arguments(path, ["training.cpu=1"])
    assert load_arguments(path, ["training.max_steps=1e3"]).training.max_steps == 1000
    with pytest.raises(SystemExit, match="not found"):
        load_arguments(tmp_path / "missing.yaml")


def test_base_config_is_deep_merged_under_a_stage_config(tmp_path, monkeypatch):
    _write_config(tmp_path)
    stage = tmp_path / "stage2.yaml"
    stage.write_text(yaml.safe_dump({
        "base": "tiny.yaml",
        "model": {"init_from": "runs/x/final"},
        "data": {"degradation_overrides": {"p_mild": 0.5}, "speech": [{"dir": "${MSAR_CACHE_DIR}/voices/clips"}]},
        "training": {"max_steps": 3}}))
    monkeypatch.setenv("MSAR_CACHE_DIR", str(tmp_path / "cache"))
    args = load_arguments(stage)
    assert args.model.init_from == "runs/x/final"
    assert args.model.config["hidden_size"] == 16  # inherited
    assert args.data.degradation_overrides == {"reverb": {"simulated_fraction": 0.0}, "codec": {"p": 0.0}, "p_mild": 0.5}
    assert args.data.batch_size == 2 and args.training.max_steps == 3 and args.training.warmup_steps == 2
    from recipes.args import expand_path

    assert expand_path(args.data.speech[0]["dir"]) == tmp_path / "cache" / "voices" / "clips"
    loop = tmp_path / "loop.yaml"
    loop.write_text(yaml.safe_dump({"base": "loop.yaml"}))
    with pytest.raises(SystemExit, match="loops"):
        load_arguments(loop)
    # the shipped fine-tuning stage resolves against the shipped stage-1 config
    shipped = load_arguments(REPO / "recipes" / "configs" / "autoencoder_finetune.yaml")
    assert shipped.model.config["bottleneck"] == "lstm" and shipped.data.degradation_overrides["p_mild"] == 0.45


def test_pair_batches_are_a_function_of_seed_and_step(tmp_path):
    from recipes.data import PairBatches

    args = load_arguments(_write_config(tmp_path)).data
    a, b = PairBatches(args, seed=3), PairBatches(args, seed=3)
    first = a[5]
    assert first["input_values"].shape == first["labels"].shape == (2, 8000)
    assert torch.equal(first["input_values"], b[5]["input_values"])  # reproducible
    assert torch.equal(first["labels"], b[5]["labels"])
    assert not torch.equal(first["labels"], a[6]["labels"])  # another step, other speech
    # rank 1 of 2 sees other items than rank 0 at the same step
    assert not torch.equal(PairBatches(args, 3, rank=1, world_size=2)[5]["labels"], PairBatches(args, 3, 0, 2)[5]["labels"])
    # targets are real speech, inputs really damaged on most items
    assert float(first["labels"].abs().max()) > 0.01
    damaged = [not torch.allclose(a[s]["input_values"], a[s]["labels"], atol=1e-4) for s in range(4)]
    assert sum(damaged) >= 2


def test_band_aware_batches_carry_each_targets_bandwidth(tmp_path):
    """bandwidth_hz of a speech entry reaches the batch (and slow speed perturbation lowers it),
    only when band_aware_loss is on."""
    from recipes.data import PairBatches

    cfg = yaml.safe_load(_write_config(tmp_path).read_text())
    cfg["data"]["speech"][1]["bandwidth_hz"] = 3800
    cfg["data"].update(band_aware_loss=True, augment=True)
    cfg["data"]["degradation_overrides"]["augment"] = {"speed_p": 1.0, "speed": [0.8, 0.9], "tempo_p": 0.0, "pitch_p": 0.0}
    (tmp_path / "band.yaml").write_text(yaml.safe_dump(cfg))
    data = PairBatches(load_arguments(tmp_path / "band.yaml").data, seed=3)
    widths = torch.cat([data[s]["labels_bandwidth"] for s in range(6)])
    assert widths.shape == (12,)
    # every target was slowed by 0.8-0.9: kathleen keeps 6.4-7.2 kHz of band, FSDD 3.0-3.4 kHz
    assert all(6400 <= w <= 7200 or 3040 <= w <= 3420 for w in widths.tolist())
    assert (widths < 4000).any() and (widths > 6000).any()
    assert "labels_bandwidth" not in PairBatches(load_arguments(_write_config(tmp_path)).data, seed=3)[0]
    # a lower voice (Praat formant ratio < 1) or pitch shift down lowers the band as well
    cfg["data"]["degradation_overrides"]["augment"] = {"speed_p": 0.0, "tempo_p": 0.0, "pitch_p": 0.0, "voice_p": 1.0,
                                                      "formant_ratio": [0.85, 0.9], "pitch_median_hz": [100.0, 120.0]}
    (tmp_path / "voice.yaml").write_text(yaml.safe_dump(cfg))
    widths = torch.cat([PairBatches(load_arguments(tmp_path / "voice.yaml").data, seed=3)[s]["labels_bandwidth"] for s in range(3)])
    assert all(6800 <= w <= 7200 or 3230 <= w <= 3420 for w in widths.tolist()), widths
    # band_limit_narrowband_input: the damage of an 8 kHz recording stays inside its band too
    cfg["data"]["band_limit_narrowband_input"] = True
    (tmp_path / "band_lp.yaml").write_text(yaml.safe_dump(cfg))
    data = PairBatches(load_arguments(tmp_path / "band_lp.yaml").data, seed=3)
    narrow = wide = 0
    for s in range(6):
        batch = data[s]
        for x, width in zip(batch["input_values"], batch["labels_bandwidth"].tolist()):
            power = torch.fft.rfft(x).abs().pow(2)
            above = float(power[torch.fft.rfftfreq(x.numel(), 1 / 16000) > width + 50].sum() / power.sum())
            if width < 4000:
                narrow += 1
                assert above < 1e-6
            elif above > 1e-6:  # kathleen: whatever the damage put above the band is kept
                wide += 1
    assert narrow and wide


def test_target_follows_deliberate_gain():
    from recipes.data import target_gain

    assert target_gain({"steps": [{"type": "noise"}]}) == 1.0
    record = {"steps": [{"type": "gain", "gain_db": -20.0}, {"type": "peak_normalise", "gain_db": 6.0}]}
    assert target_gain(record) == pytest.approx(10 ** (-14 / 20))


def test_resume_continues_exactly(tmp_path):
    """Steps 0..4, then --resume to 8, equals 0..8 straight: same losses and same weights."""
    from recipes.train import train

    straight_cfg = load_arguments(_write_config(tmp_path / "a"))
    straight = train(straight_cfg)

    split_cfg = load_arguments(_write_config(tmp_path / "b", stop_after_steps=4))
    first = train(split_cfg)
    assert first["step"] == 4 and "final_dir" not in first
    assert (tmp_path / "b" / "out" / "checkpoints" / "checkpoint-4" / "done").exists()
    split_cfg.training.stop_after_steps = None
    second = train(split_cfg, resume="latest")
    assert second["step"] == 8
    assert first["losses"] + second["losses"] == pytest.approx(straight["losses"], rel=1e-5, abs=1e-6)

    from msar_hf.models.autoencoder import MsarAutoencoderModel

    wa = MsarAutoencoderModel.from_pretrained(straight["final_dir"]).state_dict()
    wb = MsarAutoencoderModel.from_pretrained(second["final_dir"]).state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    # relaunched once more with --resume, a finished run trains nothing and rewrites nothing
    summary = (tmp_path / "b" / "out" / "train_summary.json").read_text()
    final_mtime = (tmp_path / "b" / "out" / "final" / "model.safetensors").stat().st_mtime_ns
    again = train(split_cfg, resume="latest")
    assert again["step"] == 8 and again["losses"] == [] and again["final_dir"] == second["final_dir"]
    assert (tmp_path / "b" / "out" / "train_summary.json").read_text() == summary
    assert (tmp_path / "b" / "out" / "final" / "model.safetensors").stat().st_mtime_ns == final_mtime
    # a training checkpoint (accelerate's state, no config.json) is a model to recipes/eval.py: rebuilt
    # from the run's recipe_args.json, it holds the final weights at the last step
    from recipes.eval import load_model
    from recipes.eval import main as eval_main

    checkpoint = tmp_path / "b" / "out" / "checkpoints" / "checkpoint-8"
    assert not (checkpoint / "config.json").exists()
    wc = load_model(checkpoint).state_dict()
    assert sorted(wc) == sorted(wb) and all(torch.equal(wc[k], wb[k]) for k in wb)
    scores = tmp_path / "scores.json"
    assert eval_main(["--model", str(checkpoint), "--config", str(tmp_path / "b" / "tiny.yaml"), "--json", str(scores),
                      "--set", "eval.types=[clipping]", "--set", "eval.items_per_type=1",
                      "--set", "eval.metrics=[si_sdr]"]) == 0  # one metric: the table shows that one
    assert set(json.loads(scores.read_text())["model_scores"]["overall"]) >= {"si_sdr"}
    with pytest.raises(SystemExit, match="no such model folder"):
        eval_main(["--model", str(tmp_path / "nowhere" / "model"), "--config", str(tmp_path / "b" / "tiny.yaml")])
    # the tiny model learnt something from its 8 steps: it is no longer the identity start
    assert any(not torch.equal(v, MsarAutoencoderModel(MsarAutoencoderModel.config_class(**TINY["model"]["config"])).state_dict()[k])
               for k, v in wa.items() if k.startswith("head"))


def test_band_limited_targets_keep_the_channels_band(tmp_path):
    """band_limited_targets: the target of a band-limited pair is the clean speech through the
    same channel filter, so nothing above the cut-off is asked of the model; off, it is full band."""
    from recipes.data import PairBatches

    cfg = yaml.safe_load(_write_config(tmp_path).read_text())
    cfg["data"]["speech"] = cfg["data"]["speech"][:1]  # kathleen: a full-band voice
    cfg["data"]["degradation_overrides"].update(band_limit={"p": 1.0}, p_clean=0.0, p_mild=0.0)
    for limited in (True, False):
        cfg["data"]["band_limited_targets"] = limited
        (tmp_path / "bl.yaml").write_text(yaml.safe_dump(cfg))
        data = PairBatches(load_arguments(tmp_path / "bl.yaml").data, seed=5)
        for index in range(4):
            item = data.item(index)
            step = next(st for st in data.degrader(np.zeros(8000, np.float32), 5, index)[1]["steps"]
                        if st["type"] == "band_limit")
            freqs = torch.fft.rfftfreq(item["labels"].numel(), 1 / 16000)
            power = torch.fft.rfft(item["labels"]).abs().pow(2)
            above = float(power[freqs > step["high_hz"] + 100].sum() / power.sum())
            assert (above < 1e-4) if limited else (above > 1e-3), (limited, step, above)


def test_restore_low_band_keeps_the_band_under_a_telephone_channel(tmp_path):
    """restore_low_band: a telephone item's target keeps the clean band under 300 Hz (the voice's
    fundamental) and still loses the band above 3.4 kHz; the input has neither."""
    from recipes.data import PairBatches

    cfg = yaml.safe_load(_write_config(tmp_path).read_text())
    cfg["data"]["speech"] = cfg["data"]["speech"][:1]  # kathleen: a full-band voice
    cfg["data"]["degradation_overrides"].update(band_limit={"p": 1.0, "telephone_fraction": 1.0},
                                                p_clean=0.0, p_mild=0.0)
    cfg["data"]["band_limited_targets"] = True

    def band_share(x, low, high):
        freqs = torch.fft.rfftfreq(x.numel(), 1 / 16000)
        power = torch.fft.rfft(x).abs().pow(2)
        return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())

    shares = {}
    for keep in (True, False):
        cfg["data"]["restore_low_band"] = keep
        (tmp_path / "lb.yaml").write_text(yaml.safe_dump(cfg))
        data = PairBatches(load_arguments(tmp_path / "lb.yaml").data, seed=5)
        items = [data.item(index) for index in range(3)]
        shares[keep] = [(band_share(it["labels"], 60, 200), band_share(it["input_values"], 60, 200),
                         band_share(it["labels"], 3600, 8000)) for it in items]
    for (target_low, input_low, target_high), (old_low, _, _) in zip(shares[True], shares[False]):
        assert target_low > 100 * max(input_low, 1e-9) and target_low > 100 * max(old_low, 1e-9)
        assert target_high < 1e-4


def test_checkpoint_keeps_weights_that_share_storage(tmp_path):
    """On a GPU, cuDNN packs an LSTM's weights into one buffer (flatten_parameters). safetensors
    refuses shared storage, and accelerate's default save_state then silently dropped those 15
    LSTM tensors from each checkpoint (seen on an H200). Simulate the packing on the CPU: a
    checkpoint must still restore every weight."""
    from accelerate import Accelerator

    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel
    from recipes.train import _save_checkpoint

    def build():
        return MsarAutoencoderModel(MsarAutoencoderConfig(**TINY["model"]["config"]))

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(build())
    lstm = next(m for m in model.modules() if isinstance(m, torch.nn.LSTM))
    flat = torch.cat([p.detach().flatten() for p in lstm.parameters()])
    offset = 0
    for p in lstm.parameters():  # every weight a view of one buffer, as cuDNN leaves them
        p.data = flat[offset: offset + p.numel()].view_as(p)
        offset += p.numel()
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    _save_checkpoint(accelerator, tmp_path, step=1, keep=1, train_seconds=0.0)

    fresh = Accelerator(cpu=True)  # a new launch: its first model is checkpoint's model 0
    restored = fresh.prepare(build())
    fresh.load_state(str(tmp_path / "checkpoints" / "checkpoint-1"))
    state = restored.state_dict()
    assert sorted(state) == sorted(saved)
    lstm_keys = [k for k in saved if ".lstm." in k]
    assert lstm_keys and all(torch.equal(state[k], saved[k]) for k in saved)


@pytest.mark.slow
def test_two_cpu_ranks_with_accelerate_launch(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on a CPU host -> 2 gloo ranks (no `cpu: true`
    needed: without CUDA each process would otherwise train alone), one schedule step per step."""
    path = _write_config(tmp_path, max_steps=2, checkpoint_every=1, cpu=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MSAR_DATA_ROOT": os.environ["MSAR_DATA_ROOT"]}
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "recipes/train.py", "--config", str(path)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 2  # one line per rank, same reduced loss
    assert results[0]["loss"] == pytest.approx(results[1]["loss"])
    final = tmp_path / "out" / "final"
    assert (final / "model.safetensors").exists() and (final / "preprocessor_config.json").exists()
    assert (tmp_path / "out" / "checkpoints" / "checkpoint-2" / "done").exists()
    assert np.isfinite(results[0]["loss"])
    # the LR schedule advanced once per optimizer step, not once per rank (accelerate's default)
    scheduler = torch.load(tmp_path / "out" / "checkpoints" / "checkpoint-2" / "scheduler.bin", weights_only=False)
    assert scheduler["last_epoch"] == 2
    assert json.loads((tmp_path / "out" / "train_summary.json").read_text())["processes"] == 2


def test_train_py_hands_other_recipe_configs_to_their_scripts(capsys, tmp_path):
    from recipes.train import main

    for config, flag in (("multispeaker.yaml", "--stage"), ("speaker_encoder.yaml", "--prepare-only")):
        with pytest.raises(SystemExit) as exc:
            main(["--config", str(REPO / "recipes" / "configs" / config), "--help"])
        assert exc.value.code == 0 and flag in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: nope\n")
    with pytest.raises(SystemExit, match="unknown recipe 'nope'"):
        main(["--config", str(bad)])


def test_multispeaker_all_stages_run_in_order_and_reuse_cached_data(tmp_path, monkeypatch):
    import argparse

    import recipes.train_multispeaker as recipe

    calls = []
    monkeypatch.setattr(recipe, "prepare", lambda cfg: calls.append("prepare"))
    monkeypatch.setattr(recipe, "embed", lambda cfg, model=None: calls.append("embed"))
    monkeypatch.setattr(recipe, "train", lambda cfg, stage: calls.append(stage))
    monkeypatch.setattr(recipe, "export", lambda cfg, target, stage: calls.append(f"export:{stage}"))
    cfg = {"cache_dir": tmp_path}
    args = argparse.Namespace(speaker_model=None, export_dir=None, waveform_stage="vocoder")
    recipe.run_all_stages(cfg, args)
    assert calls == ["prepare", "embed", "vocoder", "acoustic", "vocoder_gta", "export:vocoder"]
    calls.clear()
    (tmp_path / "features.pt").write_bytes(b"x")
    (tmp_path / "embeddings.pt").write_bytes(b"x")
    recipe.run_all_stages(cfg, args)  # a re-run: cached data reused, training stages resume
    assert calls == ["vocoder", "acoustic", "vocoder_gta", "export:vocoder"]


def test_multispeaker_stage_before_its_data_names_the_stage_to_run(tmp_path):
    """`--stage vocoder` (or acoustic, embed) on a fresh cache: one line naming the stage to run
    first, not a FileNotFoundError traceback from torch.load."""
    import recipes.train_multispeaker as recipe

    config = yaml.safe_load((REPO / "recipes" / "configs" / "multispeaker.yaml").read_text())
    config.update(cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path / "out"))
    path = tmp_path / "multispeaker.yaml"
    path.write_text(yaml.safe_dump(config))
    for stage, first in (("embed", "prepare"), ("vocoder", "prepare"), ("acoustic", "prepare")):
        with pytest.raises(SystemExit, match=f"features.pt is missing: run --stage {first} first"):
            recipe.main(["--config", str(path), "--stage", stage])
    recipe.torch.save([], tmp_path / "cache" / "features.pt")
    with pytest.raises(SystemExit, match="embeddings.pt is missing: run --stage embed first"):
        recipe.main(["--config", str(path), "--stage", "acoustic"])


def test_pack_shared_data_keeps_targets_lossless(tmp_path):
    """The copy the GPU run read: 2 of 3 kathleen prompts, bit-exact inside the trimmed edges;
    FSDD joined per training speaker (theo, the dev speaker, left out); noises decodable."""
    import csv

    import soundfile as sf

    from recipes.pack_shared_data import main as pack

    src, dst = REPO / "tests" / "fixtures", tmp_path / "packed"
    pack(["--src", str(src), "--dst", str(dst)])
    with (src / "speech/kathleen/metadata.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    with (dst / "speech/kathleen/metadata.csv").open() as fh:
        kept = list(csv.DictReader(fh))
    assert [r["file_name"] for r in kept] == [r["file_name"] for i, r in enumerate(rows) if i % 3 != 2]
    for r in kept:
        original, _ = sf.read(src / "speech/kathleen" / r["file_name"], dtype="int16")
        packed, _ = sf.read(dst / "speech/kathleen" / r["file_name"], dtype="int16")
        start = int(np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(original, packed.size) == packed, axis=1))[0])
        assert packed.size <= original.size and np.array_equal(original[start: start + packed.size], packed)
    with (dst / "speech/fsdd/metadata.csv").open() as fh:
        speakers = sorted(r["speaker_id"] for r in csv.DictReader(fh))
    assert speakers == ["george", "jackson", "lucas", "nicolas", "yweweler"]
    george, rate = sf.read(dst / "speech/fsdd/audio/george.flac", dtype="int16")
    assert rate == 8000 and george.size > 4 * 0.1 * rate
    noises = sorted(p.name for p in (dst / "noise/audio").iterdir())
    assert noises and all(n.endswith(".ogg") and sf.info(dst / "noise/audio" / n).frames > 0 for n in noises)
    with pytest.raises(SystemExit) as bad:
        pack(["--src", str(tmp_path / "missing"), "--dst", str(tmp_path / "x")])
    assert bad.value.code == 2
    # --kathleen-limit keeps the first N of those prompts (the warm-started stage 3's copy)
    pack(["--src", str(src), "--dst", str(tmp_path / "limited"), "--kathleen-limit", "2"])
    with (tmp_path / "limited/speech/kathleen/metadata.csv").open() as fh:
        assert [r["file_name"] for r in csv.DictReader(fh)] == [r["file_name"] for r in kept[:2]]
    with pytest.raises(SystemExit) as bad:
        pack(["--src", str(src), "--dst", str(tmp_path / "y"), "--kathleen-limit", "0"])
    assert bad.value.code == 2


def test_gpu_box_script_refuses_bad_input_in_one_line(tmp_path):
    """recipes/gpu_box.sh: usage, a missing config and a data root without speech/noise each exit 2
    with one line, and nothing under .gpu/ is touched."""
    script = REPO / "recipes" / "gpu_box.sh"
    before = sorted((REPO / ".gpu").rglob("*")) if (REPO / ".gpu").exists() else []
    cases = [([], "usage: bash recipes/gpu_box.sh"),
             (["train", str(tmp_path / "missing.yaml")], "no config file"),
             (["prepare"], "no speech/ and noise/ under")]
    for args, message in cases:
        run = subprocess.run(["bash", str(script), *args], check=False, capture_output=True, text=True,
                             env={**os.environ, "MSAR_DATA_ROOT": str(tmp_path / "nothing")}, timeout=60)
        assert run.returncode == 2, (args, run.stderr)
        assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    # a start folder (INIT_FROM) without weights, checked before the data copy
    (tmp_path / "data" / "speech").mkdir(parents=True)
    (tmp_path / "data" / "noise").mkdir()
    run = subprocess.run(["bash", str(script), "prepare"], check=False, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "MSAR_DATA_ROOT": str(tmp_path / "data"), "INIT_FROM": str(tmp_path)})
    assert run.returncode == 2 and "has no model.safetensors" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    after = sorted((REPO / ".gpu").rglob("*")) if (REPO / ".gpu").exists() else []
    assert after == before


def test_average_weights_makes_the_mean_model_and_refuses_other_architectures(tmp_path, capsys):
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel
    from recipes.average_weights import main

    small = {"hidden_size": 16, "encoder_layers": 1, "lstm_layers": 1, "lstm_hidden_size": 16}
    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        folder = tmp_path / f"run{seed}"
        MsarAutoencoderModel(MsarAutoencoderConfig(**small)).save_pretrained(folder)
        folders.append(folder)
    assert main([str(folders[0]), str(folders[1]), "--weights", "1", "3", "--out", str(tmp_path / "soup")]) == 0
    a, b, soup = (MsarAutoencoderModel.from_pretrained(f).state_dict() for f in (*folders, tmp_path / "soup"))
    floats = [name for name, tensor in a.items() if tensor.is_floating_point()]
    assert floats and any(not torch.equal(a[name], b[name]) for name in floats)
    for name in floats:
        torch.testing.assert_close(soup[name], 0.25 * a[name] + 0.75 * b[name])

    torch.manual_seed(2)
    MsarAutoencoderModel(MsarAutoencoderConfig(**{**small, "hidden_size": 24})).save_pretrained(tmp_path / "wider")
    assert main([str(folders[0]), str(tmp_path / "wider"), "--out", str(tmp_path / "bad")]) == 2
    assert "shape" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    # the output may not be one of the inputs (it would be overwritten), and a re-run replaces it whole
    before = (folders[0] / "model.safetensors").read_bytes()
    assert main([str(folders[0]), str(folders[1]), "--out", str(folders[0])]) == 2
    assert "one of the models" in capsys.readouterr().err and (folders[0] / "model.safetensors").read_bytes() == before
    assert main([str(folders[1]), str(folders[0]), "--out", str(tmp_path / "soup")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_speech_entries_take_saved_datasets_and_refuse_bad_entries(tmp_path, fixtures_dir):
    """A `dataset:` entry reads what dataset_scripts/ saves; a bad entry fails at once, by name."""
    from datasets import Audio, ClassLabel, Dataset, DatasetDict, Features

    from msar_hf.audio import load_audio
    from recipes.data import SpeechPool, load_clean, read_corpus
    from recipes.train import _build_autoencoder

    kathleen = fixtures_dir / "speech" / "kathleen"
    files = sorted((kathleen / "audio").glob("*.flac"))[:3]
    features = Features({"audio": Audio(sampling_rate=16000), "speaker_id": ClassLabel(names=["kathleen", "other"])})
    rows = {"audio": [{"bytes": f.read_bytes(), "path": f.name} for f in files], "speaker_id": [0, 0, 1]}
    DatasetDict({"train": Dataset.from_dict(rows, features=features)}).save_to_disk(str(tmp_path / "ds"))
    utterances = read_corpus({"dataset": str(tmp_path / "ds"), "exclude_speakers": ["other"]})
    assert [u.speaker for u in utterances] == ["kathleen", "kathleen"]
    for utt, f in zip(utterances, files):
        assert np.allclose(load_clean(utt.path), load_audio(f)[0].numpy(), atol=1e-6)
    pool = SpeechPool([{"dataset": str(tmp_path / "ds")}, {"dir": str(kathleen)}])
    clean, speaker, _ = pool.draw(np.random.default_rng(0), 8000)
    assert clean.shape == (8000,) and speaker in pool.speakers
    # bad entries and corpora: one line that names the problem, before any training
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metadata.csv").write_text("path,speaker_id\na.wav,x\n")
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "metadata.csv").write_text("file_name,speaker_id\nnot_here.wav,x\n")
    for entry, message in (({"dir": str(kathleen), "wieght": 2}, "unknown key 'wieght'"),
                           ({"dir": str(kathleen), "dataset": str(tmp_path / "ds")}, "give one of 'dir'"),
                           ({"dir": str(tmp_path / "bad")}, "needs a 'file_name' column"),
                           ({"dir": str(tmp_path / "gone")}, "1 listed file(s) missing"),
                           ({"dataset": str(tmp_path / "ds"), "split": "dev"}, "no split 'dev'"),
                           ({"dataset": str(kathleen)}, "not a saved dataset")):
        with pytest.raises(SystemExit, match=re.escape(message)):
            read_corpus(entry)
    args = load_arguments(_write_config(tmp_path / "cfg"), ["model.config.hiden_size=8"])
    with pytest.raises(SystemExit, match="model.config: unknown key 'hiden_size'"):
        _build_autoencoder(args)
    # a dev corpus that is not there stops the run before its first step, not at its first validation
    from recipes.train import train

    args = load_arguments(_write_config(tmp_path / "ev", eval_every=1, checkpoint_every=1),
                          [f"eval.speech=[{{dir: {tmp_path / 'nowhere'}}}]"])
    with pytest.raises(SystemExit, match=r"eval\.speech"):
        train(args)
    assert not (tmp_path / "ev" / "out" / "checkpoints").exists()
    assert not (tmp_path / "ev" / "out" / "recipe_args.json").exists()  # a resumed run's record stays intact
    args = load_arguments(_write_config(tmp_path / "ty", eval_every=1), ["eval.types=[reverbb]"])
    with pytest.raises(SystemExit, match="eval.types: unknown type 'reverbb'"):
        train(args)
    from recipes.train import main as train_main

    with pytest.raises(SystemExit, match=r"train\.py: degradation config: unknown key\(s\) \['nosie'\]"):
        train_main(["--config", str(_write_config(tmp_path / "dg")), "--set", "data.degradation_overrides.nosie={p: 0.5}"])


def test_a_few_unreadable_files_in_a_speech_folder_are_skipped(tmp_path, fixtures_dir):
    """A user's corpus with an empty and a not-audio file among good ones trains (each bad file
    reported once); it used to stop the run at whichever step first drew one. A speaker with no
    readable file at all is still an error that names it."""
    import shutil
    import warnings

    from msar_hf.errors import MsarError
    from recipes.data import SpeechPool

    good = sorted((fixtures_dir / "speech" / "kathleen" / "audio").glob("*.flac"))[:2]
    for f in good:
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_text("not audio")
    rows = [f"{f.name},k" for f in good] + ["empty.wav,k", "junk.wav,k"]
    (tmp_path / "metadata.csv").write_text("file_name,speaker_id\n" + "\n".join(rows) + "\n")
    pool = SpeechPool([{"dir": str(tmp_path)}])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draws = [pool.draw(np.random.default_rng([0, i]), 8000) for i in range(12)]
    assert all(clean.shape == (8000,) and np.abs(clean).max() > 0.01 for clean, _, _ in draws)
    assert all(pool.utterances[i].path.endswith(".flac") for _, _, used in draws for i in used)
    skipped = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(skipped) == 2 and any("empty.wav" in m for m in skipped) and any("junk.wav" in m for m in skipped)
    # the same rng gives the same crop, whether or not the bad files are already known
    again = SpeechPool([{"dir": str(tmp_path)}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert all(np.array_equal(again.draw(np.random.default_rng([0, i]), 8000)[0], draws[i][0]) for i in (11, 3))
    (tmp_path / "metadata.csv").write_text("file_name,speaker_id\nempty.wav,e\njunk.wav,e\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MsarError, match="speaker 'e': none of its 2 file"):
            SpeechPool([{"dir": str(tmp_path)}]).draw(np.random.default_rng(0), 8000)


def test_mixed_precision_follows_the_launcher_unless_the_config_sets_it(tmp_path, monkeypatch):
    """`accelerate launch --mixed_precision bf16` (ACCELERATE_MIXED_PRECISION) reaches the
    Accelerator when the config leaves the key unset; it used to be overridden by the config's
    default "no". A typo is one line, not accelerate's traceback."""
    import accelerate

    from recipes.train import train

    seen = {}

    class Stop(Exception):
        pass

    def fake(**kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(accelerate, "Accelerator", fake)
    for overrides, wanted in (([], None), (["training.mixed_precision=bf16"], "bf16")):
        with pytest.raises(Stop):
            train(load_arguments(_write_config(tmp_path), overrides))
        assert seen["mixed_precision"] == wanted
    with pytest.raises(SystemExit, match="training.mixed_precision: 'bf61' is not one of"):
        train(load_arguments(_write_config(tmp_path), ["training.mixed_precision=bf61"]))


def test_final_folder_has_a_card_naming_this_runs_data(tmp_path, fixtures_dir):
    """The final save_pretrained folder carries a README.md whose training-data table lists the
    corpora of this run with their licences (a user's folder: from its metadata.csv). Without it,
    `msar push` generated a card listing msar's shared corpora whatever the model learnt from."""
    import shutil

    from transformers import AutoModel

    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel
    from recipes.train import _autoencoder_save

    corpus = tmp_path / "my_corpus"
    corpus.mkdir()
    shutil.copy(fixtures_dir / "speech" / "kathleen" / "audio" / "arctic_a0001.flac", corpus / "a.flac")
    (corpus / "metadata.csv").write_text("file_name,speaker_id,license\na.flac,me,CC-BY-4.0\n")
    args = load_arguments(_write_config(tmp_path),
                          [f"data.speech=[{{dir: {corpus}}}, {{dir: '${{MSAR_DATA_ROOT}}/speech/fsdd'}}]"])
    _autoencoder_save(MsarAutoencoderModel(MsarAutoencoderConfig(**TINY["model"]["config"])), args, tmp_path / "final")
    card = (tmp_path / "final" / "README.md").read_text()
    table = card.split("## Training data")[1].split("##")[0]
    assert f"| {corpus} | CC-BY-4.0 |" in table and "| speech/fsdd | CC-BY-SA-4.0 |" in table
    assert "| noise |" in table and "| rir |" in table and "kathleen" not in table
    assert AutoModel.from_pretrained(tmp_path / "final", trust_remote_code=True) is not None


def test_a_checkpoint_written_over_is_not_complete_until_rewritten(tmp_path, monkeypatch):
    """Re-saving checkpoint-N (a finished run relaunched with --resume re-saves its last step) and
    dying mid-write must not leave checkpoint-N marked complete: --resume would load a torn state."""
    from accelerate import Accelerator

    from recipes.train import _checkpoints, _save_checkpoint

    accelerator = Accelerator(cpu=True)
    accelerator.prepare(torch.nn.Linear(2, 2))
    _save_checkpoint(accelerator, tmp_path, step=4, keep=2, train_seconds=0.0)
    _save_checkpoint(accelerator, tmp_path, step=8, keep=2, train_seconds=0.0)
    assert [s for s, _ in _checkpoints(tmp_path)] == [4, 8]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies inside save_state

    monkeypatch.setattr(accelerator, "save_state", killed)
    with pytest.raises(KeyboardInterrupt):
        _save_checkpoint(accelerator, tmp_path, step=8, keep=2, train_seconds=0.0)
    assert [s for s, _ in _checkpoints(tmp_path)] == [4]


def test_tensorboard_logs_loss_lr_and_the_gradient_norm(tmp_path):
    """TensorBoard gets one point per logged step of loss, lr and the gradient norm before
    clipping (training.max_grad_norm was applied but its effect was invisible)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from recipes.train import train

    train(load_arguments(_write_config(tmp_path, max_steps=2, report_to="tensorboard")))
    events = sorted((tmp_path / "out" / "logs").rglob("events.out.tfevents.*"))
    scalars = {}
    for path in events:
        acc = EventAccumulator(str(path))
        acc.Reload()
        scalars.update({tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]})
    assert scalars["train/loss"] == scalars["train/lr"] == scalars["train/grad_norm"] == [1, 2]


def test_causal_config_starts_from_the_shipped_bidirectional_weights_where_they_fit(monkeypatch):
    """recipes/configs/autoencoder_causal.yaml warm-starts a causal model from the shipped one
    (model.init_partial): the frame layers and the LSTM's first forward layer come from it, the
    layers whose shapes changed start anew, and the result streams."""
    from msar_hf.repair import load_repair_model
    from msar_hf.streaming import StreamingRepairer
    from recipes.args import load_arguments
    from recipes.train import _build_autoencoder

    args = load_arguments(REPO / "recipes" / "configs" / "autoencoder_causal.yaml")
    assert args.model.init_partial and args.model.config["causal"] is True
    monkeypatch.chdir(REPO)  # init_from is relative to the repository, as the recipe runs
    model = _build_autoencoder(args)
    shipped = load_repair_model(None)
    assert model.config.causal and not model.config.normalize_input
    assert torch.equal(model.head.weight, shipped.head.weight) and torch.equal(model.encoder[0][0].weight, shipped.encoder[0][0].weight)
    assert torch.equal(model.bottleneck.lstm.weight_hh_l0, shipped.bottleneck.lstm.weight_hh_l0)
    assert model.bottleneck.proj.weight.shape == (256, 256) and not bool(model.bottleneck.proj.weight.any())
    StreamingRepairer(model)


@pytest.mark.parametrize("config", sorted(p.name for p in (REPO / "recipes" / "configs").glob("autoencoder*.yaml")))
def test_every_repair_config_resolves_to_keys_the_model_takes(config):
    """Each repair recipe config (the shipped chains' stages and the documented experiments) loads
    through its `base:` chain, and every model.config key is an MsarAutoencoderConfig argument: a
    typo would stop the run only when it reached that stage (train.py checks at build time), an
    hour into `make train-repair-gpu` or `make train-repair-causal`."""
    import inspect

    from msar_hf.models.autoencoder import MsarAutoencoderConfig

    args = load_arguments(REPO / "recipes" / "configs" / config)
    assert args.model.type == "autoencoder"
    known = set(inspect.signature(MsarAutoencoderConfig.__init__).parameters) - {"self", "kwargs"}
    assert not set(args.model.config) - known, sorted(set(args.model.config) - known)
    if config.startswith("autoencoder_causal"):  # the live model's stages all stay causal
        assert args.model.config["causal"] is True and args.model.config["normalize_input"] is False
