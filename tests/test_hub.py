"""Hub round trips, offline: cards, cache snapshots loaded by repo id (with and without msar
installed), datasets, the metric Space, and pushes that fail with a clear message.

Nothing here talks to the real Hub. Models are small and randomly initialised (perturbed away
from the repair model's identity start) so that "the outputs are equal" means something.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import site
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import tiny_multispeaker

from msar_hf.audio import load_audio, save_audio
from msar_hf.hub import (
    HubError,
    build_cache_snapshot,
    dataset_card,
    metric_space_files,
    model_card,
    push_model,
    save_pretrained_for_hub,
    write_upload,
)

REPO = Path(__file__).parents[1]
REPAIR_ID = "msar-test/repair-tiny"
TTS_ID = "msar-test/tts-tiny"
DATA_ID = "msar-test/kathleen-mini"
TTS_TEXT = "Good morning, how are you?"
# A loaded model's output matches the original's to 1e-6 (1/30 of a 16-bit step), not bit for bit:
# transformers >= 5.24 leaves the weights in the memory-mapped safetensors file, where they are not
# 64-byte aligned, and the CPU kernels then sum in another order (cloned weights match exactly).
SAME_AUDIO_ATOL = 1e-6


def same_audio(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=SAME_AUDIO_ATOL)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _noisy(speech: Path, noise: Path, snr_db: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    clean, _ = load_audio(speech)
    n, _ = load_audio(noise)
    n = n.repeat(int(np.ceil(clean.numel() / n.numel())))[: clean.numel()]
    return clean, clean + n * clean.pow(2).mean().sqrt() / n.pow(2).mean().sqrt() / 10 ** (snr_db / 20)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hub")


@pytest.fixture(scope="module")
def repair(work, speech_file, noise_files):
    """(model, folder, measured metrics, damaged input) of a tiny repair model saved for the Hub."""
    from msar_hf.metrics.quality import compute_all
    from msar_hf.models.autoencoder import (
        MsarAutoencoderConfig,
        MsarAutoencoderFeatureExtractor,
        MsarAutoencoderModel,
    )

    torch.manual_seed(0)
    config = MsarAutoencoderConfig(hidden_size=32, encoder_layers=1, lstm_layers=1, lstm_hidden_size=16)
    model = MsarAutoencoderModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    clean, damaged = _noisy(speech_file, noise_files[0])
    scores = compute_all(clean.numpy(), model.repair(damaged).numpy(), 16000, metrics=["pesq_wb", "stoi", "si_sdr"])
    results = [{"dataset": "msar fixtures (kathleen + noise, 5 dB SNR)", "split": "test", "metric": k,
                "name": k.upper(), "value": v, "command": "pytest tests/test_hub.py"} for k, v in scores.items()]
    folder = save_pretrained_for_hub(model, work / "repair", REPAIR_ID, processor=MsarAutoencoderFeatureExtractor(),
                                     datasets=[DATA_ID], eval_results=results)
    return model, folder, scores, damaged


@pytest.fixture(scope="module")
def tts(work):
    """(model, processor, folder) of a tiny synthesis model saved for the Hub."""
    model, processor = tiny_multispeaker(seed=1)
    folder = save_pretrained_for_hub(model, work / "tts", TTS_ID, processor=processor)
    return model, processor, folder


@pytest.fixture(scope="module")
def cache(work, repair, tts) -> Path:
    """A Hugging Face cache holding both models, installed by ``msar push cache``."""
    from typer.testing import CliRunner

    from msar_hf.cli import app

    root = work / "hf-cache"
    for folder, repo_id in ((repair[1], REPAIR_ID), (tts[2], TTS_ID)):
        result = CliRunner().invoke(app, ["push", "cache", str(folder), "--repo", repo_id, "--cache-dir", str(root)])
        assert result.exit_code == 0, result.output
        assert f"cached {folder} as {repo_id}" in result.output
    return root


@pytest.fixture(scope="module")
def expected(work, repair, tts) -> Path:
    """The original models' outputs, saved for the processes that load the published copies."""
    model, _, _, damaged = repair
    tts_model, processor, _ = tts
    inputs = processor(TTS_TEXT, return_tensors="pt")
    with torch.no_grad():
        repaired = model(damaged).waveform
        speech = tts_model(**inputs, speaker_ids=torch.tensor([1])).waveform
    path = work / "expected.pt"
    torch.save({"damaged": damaged, "repaired": repaired, "input_ids": inputs["input_ids"], "speech": speech}, path)
    return path


def _tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under folder with its content hash and modification time."""
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------
# cards
# --------------------------------------------------------------------------------------------
def test_repair_card_front_matter_metrics_and_snippets(repair):
    from huggingface_hub import ModelCard

    _, folder, scores, _ = repair
    card = ModelCard.load(folder / "README.md")
    data = card.data
    assert (data.license, data.library_name, data.pipeline_tag) == ("apache-2.0", "transformers", "audio-to-audio")
    assert {"msar", "speech-enhancement", "audio-to-audio"} <= set(data.tags)
    assert data.datasets == [DATA_ID]
    measured = {r.metric_type: r.metric_value for r in data.eval_results}
    assert measured == pytest.approx(scores)
    assert all(r.task_type == "audio-to-audio" and r.dataset_split == "test" for r in data.eval_results)
    text = card.text
    assert f'AutoModel.from_pretrained("{REPAIR_ID}", trust_remote_code=True)' in text
    assert f'pipeline("speech-repair", model="{REPAIR_ID}"' in text
    assert f"msar repair damaged.wav -o repaired.wav --model {REPAIR_ID}" in text
    assert "| speech/fsdd | CC-BY-SA-4.0 |" in text  # training sets with their licences
    assert f"{scores['pesq_wb']:.3f}" in text and "pytest tests/test_hub.py" in text


def test_repair_cards_transformers_snippet_runs_on_a_stereo_44k_file(repair, cache, tmp_path, monkeypatch, speech_file):
    """The card's first snippet, as a user pastes it, on what users have: a 44.1 kHz stereo WAV.
    soundfile reads it as (samples, channels), which the feature extractor refuses as ambiguous:
    the snippet makes it mono first and gets the model's 16 kHz repair of the whole recording."""
    import huggingface_hub
    import soundfile as sf

    from msar_hf.audio import resample

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    text = (repair[1] / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    assert 'sf.read("damaged.wav"' in snippet and 'sf.write("repaired.wav"' in snippet
    damaged = repair[3]
    stereo = torch.stack([damaged, 0.5 * damaged])
    sf.write(tmp_path / "damaged.wav", resample(stereo, 16000, 44100).T.numpy(), 44100, subtype="FLOAT")
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "model card", "exec"), {})  # noqa: S102  (the card's own code, as a user runs it)
    repaired, rate = sf.read(tmp_path / "repaired.wav", dtype="float32")
    assert rate == 16000 and repaired.ndim == 1 and abs(repaired.shape[0] - damaged.shape[0]) <= 1
    mono = resample(resample(0.75 * damaged, 16000, 44100), 44100, 16000)
    with torch.no_grad():
        expected = repair[0](mono[None]).waveform[0]
    error = repaired - expected[: repaired.shape[0]].numpy()
    assert np.abs(error).max() < 1e-4  # the snippet's 16-bit output: half a step is 1.5e-5


def test_a_live_repair_model_saved_without_a_processor_gets_its_feature_extractor(repair, tmp_path):
    """save_pretrained_for_hub / push_model(model) without processor= wrote no preprocessor_config.json,
    so the card's own first snippet (AutoFeatureExtractor.from_pretrained(repo)) failed on the upload
    with "Can't load feature extractor". The repair model's extractor has nothing learnt: it is saved."""
    from transformers import AutoFeatureExtractor

    model, _, _, damaged = repair
    folder = save_pretrained_for_hub(model, tmp_path / "live", REPAIR_ID)
    assert (folder / "preprocessor_config.json").is_file() and (folder / "feature_extraction_msar_autoencoder.py").is_file()
    from msar_hf.audio import resample

    extractor = AutoFeatureExtractor.from_pretrained(folder)
    at_44k = resample(damaged, 16000, 44100)
    inputs = extractor(torch.stack([at_44k, 0.5 * at_44k]).numpy(), sampling_rate=44100)  # a channel per row
    with torch.no_grad():
        out = model(**inputs).waveform
        expected = model(resample(at_44k, 44100, 16000)[None]).waveform[0]
    assert out.shape[0] == 2 and abs(out.shape[1] - damaged.numel()) <= 1
    assert torch.allclose(out[0], expected, atol=1e-5) and torch.allclose(out[1], 0.5 * expected, atol=1e-5)
    assert "preprocessor_config.json" in push_model(model, "org/name", dry_run=True)


def test_a_live_synthesis_model_saved_without_a_processor_gets_the_built_in_tokenizer(tts, tmp_path):
    """As the repair model's extractor: without processor= the upload had no tokenizer, and
    pipeline("text-to-speech", model=repo) failed there. A model trained on another vocabulary is
    refused (with nothing written), since only its own tokenizer can read its ids."""
    from transformers import pipeline

    model, _, _ = tts
    folder = save_pretrained_for_hub(model, tmp_path / "live", TTS_ID)
    assert (folder / "vocab.json").is_file() and (folder / "tokenization_msar_multispeaker.py").is_file()
    speech = pipeline("text-to-speech", model=str(folder), trust_remote_code=True)("Twenty one.")
    assert speech["audio"].size > 0 and np.isfinite(speech["audio"]).all()
    model.config.vocab_size += 1
    try:
        with pytest.raises(HubError, match="107-token vocabulary, not the built-in 106"):
            save_pretrained_for_hub(model, tmp_path / "other", TTS_ID)
    finally:
        model.config.vocab_size -= 1
    assert not (tmp_path / "other").exists()


def test_saved_folders_carry_remote_code_and_auto_map(repair, tts):
    _, folder, _, _ = repair
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_msar_autoencoder.MsarAutoencoderModel"
    for name in ("modeling_msar_autoencoder.py", "configuration_msar_autoencoder.py", "postprocessing_msar_autoencoder.py",
                 "comb_msar_autoencoder.py",
                 "feature_extraction_msar_autoencoder.py", "model.safetensors", "preprocessor_config.json"):
        assert (folder / name).is_file(), name
    tts_folder = tts[2]
    tts_config = json.loads((tts_folder / "config.json").read_text())
    assert tts_config["auto_map"]["AutoModel"] == tts_config["auto_map"]["AutoModelForTextToWaveform"]
    for name in ("modeling_msar_multispeaker.py", "tokenization_msar_multispeaker.py", "model.safetensors"):
        assert (tts_folder / name).is_file(), name
    card = (tts_folder / "README.md").read_text()
    assert "pipeline_tag: text-to-speech" in card and "model-index" not in card  # nothing measured, nothing claimed
    assert f'AutoModelForTextToWaveform.from_pretrained("{TTS_ID}", trust_remote_code=True)' in card


def test_card_reads_recipe_eval_output_and_completes_an_authors_card(tmp_path):
    """eval_results.json as recipes/eval.py writes it; an existing card keeps its text and licence."""
    from huggingface_hub import ModelCard

    from msar_hf.hub import completed_card

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "msar_autoencoder"}))
    scores = {"overall": {"pesq_wb": 2.2, "si_sdr": 8.5, "q": 0.21, "stoi": float("nan")},
              "per_type": {"noise": {"pesq_wb": 1.9, "si_sdr": 7.0}, "clean": {"pesq_wb": 4.5, "si_sdr": 31.0}}}
    inputs = {"overall": {"pesq_wb": 1.7, "si_sdr": 6.0, "q": 0.3}, "per_type": {"noise": {"pesq_wb": 1.3}}}
    (tmp_path / "eval_results.json").write_text(json.dumps(
        {"model": "msar_hf/pretrained/repair", "strength": 1.0, "items": 48, "input": inputs, "model_scores": scores}))
    (tmp_path / "README.md").write_text("---\nlicense: cc-by-4.0\ntags: [mine]\n---\n\n# My card\n\nMy words.\n")
    before = (tmp_path / "README.md").read_text()
    card = ModelCard(completed_card(tmp_path, "org/repair"))
    assert card.text.strip() == "# My card\n\nMy words."
    assert card.data.license == "cc-by-4.0" and card.data.pipeline_tag == "audio-to-audio"
    assert card.data.tags[0] == "mine" and "msar" in card.data.tags
    got = {(r.dataset_config, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert got == {("all damage types", "pesq_wb"): 2.2, ("all damage types", "si_sdr"): 8.5,
                   ("all damage types", "q"): 0.21, ("noise", "pesq_wb"): 1.9, ("noise", "si_sdr"): 7.0,
                   ("clean", "pesq_wb"): 4.5, ("clean", "si_sdr"): 31.0}  # NaN STOI left out
    assert (tmp_path / "README.md").read_text() == before
    table = model_card(tmp_path, "org/repair").text
    assert "| msar repair dev set (48 items, held-out noises and rooms) | noise dev | PESQ-WB | 1.300 | 1.900 |" in table


def test_card_refuses_a_folder_that_is_not_an_msar_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(HubError, match="not an msar model"):
        model_card(tmp_path, "org/name")
    with pytest.raises(HubError, match="no config.json"):
        model_card(tmp_path / "missing", "org/name")


# --------------------------------------------------------------------------------------------
# offline cache
# --------------------------------------------------------------------------------------------
def test_cache_snapshot_layout_is_what_huggingface_hub_writes(repair, tmp_path):
    from huggingface_hub import scan_cache_dir

    folder = repair[1]
    snapshot = build_cache_snapshot(folder, REPAIR_ID, cache_dir=tmp_path)
    storage = tmp_path / "models--msar-test--repair-tiny"
    assert snapshot.parent == storage / "snapshots"
    assert (storage / "refs" / "main").read_text() == snapshot.name
    weights = snapshot / "model.safetensors"
    assert weights.is_symlink() and weights.resolve().parent == storage / "blobs"
    assert weights.read_bytes() == (folder / "model.safetensors").read_bytes()
    assert build_cache_snapshot(folder, REPAIR_ID, cache_dir=tmp_path) == snapshot  # same content, same commit
    info = scan_cache_dir(tmp_path)
    (repo,) = info.repos
    assert repo.repo_id == REPAIR_ID and repo.nb_files == len(list(folder.iterdir()))
    assert {r.commit_hash for r in repo.revisions} == {snapshot.name}


def test_loads_by_repo_id_offline_with_msar_installed(monkeypatch, cache, repair, tts):
    """(a) msar_hf importable: the Auto classes resolve to msar's own, from the cache."""
    import huggingface_hub.constants
    from transformers import (
        AutoFeatureExtractor,
        AutoModel,
        AutoModelForTextToWaveform,
        AutoProcessor,
        pipeline,
    )

    from msar_hf.models.autoencoder import MsarAutoencoderModel
    from msar_hf.models.multispeaker import MsarMultiSpeakerModel
    from msar_hf.repair import load_repair_model

    assert huggingface_hub.constants.HF_HUB_OFFLINE
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    model, _, _, damaged = repair
    with torch.no_grad():
        reference = model(damaged).waveform
        loaded = AutoModel.from_pretrained(REPAIR_ID).eval()
        assert type(loaded) is MsarAutoencoderModel
        assert same_audio(loaded(damaged).waveform, reference)
        assert same_audio(load_repair_model(REPAIR_ID)(damaged).waveform, reference)
        extractor = AutoFeatureExtractor.from_pretrained(REPAIR_ID)
        assert same_audio(loaded(**extractor(damaged.numpy(), sampling_rate=16000)).waveform, reference)
    out = pipeline("speech-repair", model=REPAIR_ID)(damaged.numpy(), sampling_rate=16000)
    assert same_audio(torch.from_numpy(out["audio"]), model.repair(damaged))

    tts_model, processor, _ = tts
    inputs = AutoProcessor.from_pretrained(TTS_ID)(TTS_TEXT, return_tensors="pt")
    assert torch.equal(inputs["input_ids"], processor(TTS_TEXT, return_tensors="pt")["input_ids"])
    tts_loaded = AutoModelForTextToWaveform.from_pretrained(TTS_ID).eval()
    assert type(tts_loaded) is MsarMultiSpeakerModel
    with torch.no_grad():
        assert same_audio(tts_loaded(**inputs, speaker_ids=torch.tensor([1])).waveform,
                           tts_model(**inputs, speaker_ids=torch.tensor([1])).waveform)



def test_a_repo_id_without_a_network_loads_from_the_cache_at_once(monkeypatch, cache, repair):
    """Offline but HF_HUB_OFFLINE unset (the usual laptop on a train): huggingface_hub retried every
    request five times (~23 s) before it fell back to the cache. msar sees that the Hub's host name
    does not resolve and loads the cached model at once; a model not in the cache is one line that
    says so (it spoke of a connection that was never tried)."""
    import socket
    import time

    import huggingface_hub.constants

    from msar_hf.errors import MsarError
    from msar_hf.hub.cache import hub_host_resolves
    from msar_hf.repair import load_repair_model

    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(socket, "getaddrinfo", no_network)  # also keeps any real request off the network
    assert not hub_host_resolves()
    model, _, _, damaged = repair
    start = time.monotonic()
    loaded = load_repair_model(REPAIR_ID)
    assert time.monotonic() - start < 8.0  # the retries alone took 23 s
    with torch.no_grad():
        assert same_audio(loaded(damaged).waveform, model(damaged).waveform)
    start = time.monotonic()
    with pytest.raises(MsarError, match="not in the local Hugging Face cache.*no network") as err:
        load_repair_model("msar-test/not-cached")
    assert time.monotonic() - start < 8.0 and "\n" not in str(err.value)

_ISOLATED = textwrap.dedent('''
    import importlib.util, json, sys
    sys.path.append(sys.argv[1])  # site-packages, without running its .pth files (no editable msar_hf)
    assert importlib.util.find_spec("msar_hf") is None
    try:
        import msar_hf  # noqa: F401
        raise SystemExit("msar_hf is importable")
    except ModuleNotFoundError:
        pass
    import torch
    torch.set_num_threads(1)
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForTextToWaveform, AutoProcessor

    expected = torch.load(sys.argv[2])
    report = {}
    with torch.no_grad():
        model = AutoModel.from_pretrained("%(repair)s", trust_remote_code=True).eval()
        report["repair_module"] = type(model).__module__
        report["repair_equal"] = torch.allclose(model(expected["damaged"]).waveform, expected["repaired"], rtol=0, atol=1e-6)
        extractor = AutoFeatureExtractor.from_pretrained("%(repair)s", trust_remote_code=True)
        inputs = extractor(expected["damaged"].numpy(), sampling_rate=16000, return_tensors="pt")
        report["extractor_equal"] = torch.allclose(model(**inputs).waveform, expected["repaired"], rtol=0, atol=1e-6)
        for auto in (AutoModelForTextToWaveform, AutoModel):
            tts = auto.from_pretrained("%(tts)s", trust_remote_code=True).eval()
            processor = AutoProcessor.from_pretrained("%(tts)s", trust_remote_code=True)
            tts_inputs = processor("%(text)s", return_tensors="pt")
            report["tts_ids_equal"] = torch.equal(tts_inputs["input_ids"], expected["input_ids"])
            speech = tts(**tts_inputs, speaker_ids=torch.tensor([1])).waveform
            report[auto.__name__ + "_equal"] = torch.allclose(speech, expected["speech"], rtol=0, atol=1e-6)
        report["tts_module"] = type(tts).__module__

    # the metric Space, run from its upload folder: evaluate.load of the module and app.score
    import os
    os.chdir(sys.argv[3])
    sys.path.insert(0, sys.argv[3])
    import app
    report["space_scores"] = app.score(sys.argv[4], sys.argv[5])
    print("REPORT " + json.dumps(report))
''')


@pytest.mark.slow  # a fresh interpreter importing transformers, evaluate and gradio: ~12 s of CPU
def test_loads_by_repo_id_offline_without_msar(work, cache, expected, speech_file, repair):
    """(b) a Python where msar_hf cannot be imported: trust_remote_code from the cache, same
    outputs; the metric Space's app scores a pair there too."""
    from msar_hf.metrics.quality import compute_all

    space = write_upload(metric_space_files(), work / "metric-space")
    estimate = save_audio(work / "estimate.wav", repair[0].repair(repair[3]), 16000)
    script = work / "isolated.py"
    script.write_text(_ISOLATED % {"repair": REPAIR_ID, "tts": TTS_ID, "text": TTS_TEXT})
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_CACHE": str(cache),
           "HF_MODULES_CACHE": str(work / "modules"), "HF_HOME": str(home / "hf"), "OMP_NUM_THREADS": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-I", "-S", str(script), site.getsitepackages()[0], str(expected), str(space),
         str(speech_file), str(estimate)],
        cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("REPORT ")]
    assert run.returncode == 0 and lines, run.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT "):])
    assert report["repair_module"].startswith("transformers_modules.")  # the copied remote code
    assert report["tts_module"].startswith("transformers_modules.")
    for key in ("repair_equal", "extractor_equal", "tts_ids_equal", "AutoModelForTextToWaveform_equal", "AutoModel_equal"):
        assert report[key] is True, key
    clean, _ = load_audio(speech_file)
    estimate_audio, _ = load_audio(estimate)
    direct = compute_all(clean.numpy(), estimate_audio.numpy(), 16000)
    for name in ("q", "pesq_wb", "stoi", "si_sdr"):
        assert report["space_scores"][name] == pytest.approx(direct[name], rel=1e-6, abs=1e-9), name


def test_dataset_snapshot_download_offline(tmp_path, fixtures_dir):
    import csv

    from datasets import load_dataset
    from huggingface_hub import snapshot_download

    source = tmp_path / "kathleen-mini"
    shutil.copytree(fixtures_dir / "speech" / "kathleen", source)
    build_cache_snapshot(source, DATA_ID, cache_dir=tmp_path / "cache", repo_type="dataset")
    path = Path(snapshot_download(DATA_ID, repo_type="dataset", local_files_only=True, cache_dir=tmp_path / "cache"))
    assert path != source and (path / "metadata.csv").is_file()
    ds = load_dataset("audiofolder", data_dir=str(path), split="train")
    with open(source / "metadata.csv", newline="") as fh:
        rows = {r["file_name"]: r for r in csv.DictReader(fh)}
    assert len(ds) == len(rows) > 0
    for item in ds:
        name = "audio/" + Path(item["audio"].metadata.path).name
        assert item["text"] == rows[name]["text"]
        samples = item["audio"].get_all_samples()
        original, _ = load_audio(source / name, sampling_rate=None)
        assert torch.allclose(samples.data.reshape(-1), original, atol=1e-6)


def test_dataset_card_lists_licences(fixtures_dir):
    card = dataset_card(fixtures_dir / "noise", "org/noise")
    assert "load_dataset(\"org/noise\")" in card
    licences = re.findall(r"^\| (.+?) \| (\d+) \|$", card, re.MULTILINE)
    import csv

    with open(fixtures_dir / "noise" / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(int(n) for _, n in licences) == len(rows)
    assert {lic for lic, _ in licences} == {r["license"] for r in rows}


def test_metric_space_upload_has_what_a_gradio_space_needs():
    upload = metric_space_files()
    names = set(upload.files) | set(upload.texts)
    assert {"msar_quality.py", "README.md", "app.py", "requirements.txt", "msar_hf/metrics/quality.py"} <= names
    assert "sdk: gradio" in upload.texts["README.md"] and "app_file: app.py" in upload.texts["README.md"]
    assert "gradio" in upload.texts["requirements.txt"] and "evaluate" in upload.texts["requirements.txt"]


# --------------------------------------------------------------------------------------------
# failed pushes
# --------------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def _push(args: list[str], tmp_path: Path, token: str | None, port: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update({"HF_HOME": str(tmp_path / "hf-home"), "HF_ENDPOINT": f"http://127.0.0.1:{port}",
                "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"})
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "msar_hf", "push", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


def test_push_without_token_fails_clearly_and_touches_nothing(repair, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(repair[1], folder)
    (folder / "README.md").unlink()  # so a card would be generated for the upload
    before = _tree(folder)
    run = _push(["model", str(folder), "--repo", "someone/msar-repair"], tmp_path, None, _closed_port())
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        ("msar: error: cannot push: no Hugging Face token found; run `hf auth login` or set HF_TOKEN "
         "(a token with write access)")]
    assert _tree(folder) == before  # no card written, nothing changed


def test_app_space_upload_is_the_package_and_the_entry_point():
    from msar_hf.hub import app_space_files

    upload = app_space_files()
    assert upload.files["app.py"] == REPO / "msar_hf" / "space" / "app.py"
    assert {"requirements.txt", "packages.txt", "msar_hf/app.py", "msar_hf/audio.py", "msar_hf/__init__.py"} <= set(upload.files)
    assert not [f for f in upload.files if "__pycache__" in f or f.endswith(".pyc")]
    assert "sdk: gradio" in upload.texts["README.md"]


@pytest.mark.parametrize("kind", ["model", "dataset", "metric", "app"])
def test_push_without_network_fails_clearly_and_touches_nothing(kind, repair, fixtures_dir, tmp_path):
    port = _closed_port()
    if kind == "model":
        target = tmp_path / "model"
        shutil.copytree(repair[1], target)
        (target / "README.md").unlink()
        args = ["model", str(target)]
    elif kind == "dataset":
        target = tmp_path / "noise"
        shutil.copytree(fixtures_dir / "noise", target)
        args = ["dataset", str(target)]
    elif kind == "metric":
        target = REPO / "msar_hf" / "metrics" / "msar_quality"
        args = ["metric"]
    else:
        target = REPO / "msar_hf" / "space"
        args = ["app"]
    before = _tree(target)
    run = _push([*args, "--repo", f"someone/msar-{kind}", "--private"], tmp_path, "hf_not_a_real_token", port)
    assert run.returncode == 2, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"msar: error: cannot reach the Hugging Face Hub at http://127.0.0.1:{port} ")
    assert "Nothing was uploaded" in line and "Traceback" not in run.stderr
    assert _tree(target) == before


def test_push_refuses_bad_input_before_any_network(repair, tmp_path):
    with pytest.raises(HubError, match="ORG/NAME"):
        push_model(repair[1], "no-namespace")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "msar_autoencoder"}))
    with pytest.raises(HubError, match="no weights"):
        push_model(tmp_path, "org/name")
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):  # tests run offline (conftest)
        push_model(repair[1], "org/name")


def test_dry_run_checks_everything_and_sends_nothing(repair, fixtures_dir, tmp_path):
    """`msar push model|dataset --dry-run`: the same checks, then the file list; offline, no token."""
    from msar_hf.hub import push_dataset

    before = _tree(repair[1])
    listing = push_model(repair[1], "org/name", dry_run=True)  # offline (conftest), no token: fine
    assert listing.startswith("would upload ") and "to the model org/name (nothing sent)" in listing
    assert "model.safetensors" in listing and "README.md" in listing and "config.json" in listing
    assert _tree(repair[1]) == before
    with pytest.raises(HubError, match="ORG/NAME"):
        push_model(repair[1], "no-namespace", dry_run=True)
    with pytest.raises(HubError, match="no weights"):
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "msar_autoencoder"}))
        push_model(tmp_path, "org/name", dry_run=True)
    listing = push_dataset(fixtures_dir / "noise", "org/noises", dry_run=True)
    assert "to the dataset org/noises" in listing and "metadata.csv" in listing and "README.md" in listing
    # the two Spaces: the metric (module + the msar code it imports) and the app (the package + weights)
    from msar_hf.hub import push_app, push_metric

    listing = push_metric("org/msar_quality", dry_run=True)
    assert "to the space org/msar_quality" in listing
    for name in ("msar_quality.py", "app.py", "requirements.txt", "msar_hf/metrics/quality.py"):
        assert f"  {name}  " in listing, name
    listing = push_app("org/msar-app", dry_run=True)
    for name in ("app.py", "packages.txt", "msar_hf/pretrained/repair/model.safetensors"):
        assert f"  {name}  " in listing, name
    with pytest.raises(HubError, match="no msar_quality.py"):
        push_metric("org/m", metric_dir=tmp_path, dry_run=True)


@pytest.mark.parametrize("shipped,package", [("repair", "autoencoder"), ("multispeaker", "multispeaker")])
def test_shipped_remote_code_is_the_packages_own(shipped, package):
    """trust_remote_code users run the flat .py files in the shipped folders: each must be the very
    file the package runs, so a fix to the package reaches them too (copy it on every change)."""
    folder = REPO / "msar_hf" / "pretrained" / shipped
    files = sorted(folder.glob("*.py"))
    assert files, folder
    for path in files:
        source = REPO / "msar_hf" / "models" / package / path.name
        assert path.read_bytes() == source.read_bytes(), f"{path} differs from {source}: copy it over"


def test_push_refuses_a_folder_whose_auto_map_names_missing_code(repair, tmp_path):
    """A folder whose auto_map names .py files it does not carry (a plain save_pretrained of a class
    never registered for the Auto API) would upload a repo that trust_remote_code cannot load."""
    folder = tmp_path / "model"
    shutil.copytree(repair[1], folder)
    (folder / "modeling_msar_autoencoder.py").unlink()
    with pytest.raises(HubError, match=r"modeling_msar_autoencoder\.py"):
        push_model(folder, "org/name", dry_run=True)
    shutil.copytree(repair[1], folder, dirs_exist_ok=True)
    (folder / "feature_extraction_msar_autoencoder.py").unlink()  # named by preprocessor_config.json
    with pytest.raises(HubError, match=r"feature_extraction_msar_autoencoder\.py"):
        push_model(folder, "org/name", dry_run=True)
