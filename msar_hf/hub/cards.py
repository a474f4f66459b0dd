"""Model cards: the ``README.md`` of a model folder, with YAML front matter (license, tags,
datasets, pipeline_tag, a ``model-index`` of the metrics measured and recorded next to the
weights) and usage snippets for ``AutoModel``, ``pipeline`` and the ``msar`` command line."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HubError

#: File (inside a model folder) where training or benchmark scripts record measured metrics.
EVAL_RESULTS_FILE = "eval_results.json"


@dataclass(frozen=True)
class TrainingSet:
    """One corpus a shipped model was trained on, with the licence a card must state."""

    name: str
    license: str
    origin: str
    what: str


#: The shared corpora (data/README.md). A card lists the sets a model was trained on.
MSAR_TRAINING_SETS: tuple[TrainingSet, ...] = (
    TrainingSet("speech/kathleen", "CC0-1.0", "rhasspy/dataset-voice-cathy",
                "CMU ARCTIC prompts, one US-English female speaker, 0.95 h"),
    TrainingSet("speech/fsdd", "CC-BY-SA-4.0", "Jakobovski/free-spoken-digit-dataset",
                "Free Spoken Digit Dataset, 6 speakers, 8 kHz"),
    TrainingSet("speech/arctic_samples", "CMU ARCTIC licence (free)", "CMU ARCTIC via LCAV/pyroomacoustics",
                "CMU ARCTIC a0001-a0006, speakers aew and axb"),
    TrainingSet("speech/ljspeech_samples", "public domain", "LJ Speech via coqui-ai/TTS tests",
                "32 LJ Speech excerpts"),
    TrainingSet("noise", "CC0 / CC-BY / public domain (per file)",
                "freesound, soundbible, rafaelmardojai/blanket, Speech Commands",
                "35 real background noises; per-file licence in metadata.csv"),
    TrainingSet("rir", "CC0-1.0 / CC-BY-4.0 / CC-BY-3.0 / CC-BY-SA-3.0 (per file)", "OpenAIR and clap recordings",
                "11 measured room impulse responses; per-file licence in metadata.csv"),
)


@dataclass(frozen=True)
class _ModelKind:
    title: str
    pipeline_tag: str
    tags: tuple[str, ...]
    summary: str
    usage: str  # markdown, formatted with repo_id


_REPAIR_USAGE = '''\
### With transformers (no msar install needed)

```python
import torch
import soundfile as sf
from transformers import AutoFeatureExtractor, AutoModel

model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True).eval()
extractor = AutoFeatureExtractor.from_pretrained("{repo_id}", trust_remote_code=True)
audio, rate = sf.read("damaged.wav", dtype="float32")  # any rate: the extractor resamples
if audio.ndim == 2:  # soundfile's (samples, channels): one mono clip (or audio.T: a channel per row)
    audio = audio.mean(axis=1)
inputs = extractor(audio, sampling_rate=rate, return_tensors="pt")
with torch.no_grad():
    repaired = model(**inputs).waveform[0]
sf.write("repaired.wav", repaired.numpy(), 16000)
```

### With a pipeline

```python
import msar_hf  # registers the "speech-repair" pipeline
from transformers import pipeline

repair = pipeline("speech-repair", model="{repo_id}", trust_remote_code=True)
result = repair("damaged.wav")  # {{"audio": np.ndarray, "sampling_rate": 16000}}
```

### With msar

```bash
pip install "msar-hf[serve]"
msar repair damaged.wav -o repaired.wav --model {repo_id}
msar serve            # a web page to try it
```
'''

_SYNTHESIS_USAGE = '''\
### With transformers (no msar install needed; the tokenizer uses `phonemizer` + espeak-ng)

```python
import torch
import soundfile as sf
from transformers import AutoModelForTextToWaveform, AutoProcessor

model = AutoModelForTextToWaveform.from_pretrained("{repo_id}", trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained("{repo_id}", trust_remote_code=True)
inputs = processor("Hello from msar.", return_tensors="pt")
speaker = model.config.speaker_names[0]  # the known voices: model.config.speaker_names
with torch.no_grad():
    out = model(**inputs, speaker_ids=torch.tensor([model.config.speaker_names.index(speaker)]))
sf.write("hello.wav", out.waveform[0, : int(out.waveform_lengths[0])].numpy(), 16000)
```

Any voice: pass ``speaker_embeddings`` (a (1, 192) L2-normalised ECAPA embedding of a reference
recording, e.g. from ``msar embed``) instead of ``speaker_ids``.

### With a pipeline

```python
from transformers import pipeline

tts = pipeline("text-to-speech", model="{repo_id}", trust_remote_code=True)
out = tts("Hello from msar.")  # {{"audio": np.ndarray, "sampling_rate": 16000}}
```

### With msar

```bash
pip install "msar-hf[serve]"
hf download {repo_id} --local-dir msar-tts
msar voices --model msar-tts          # the known speakers
msar synthesize "Hello from msar." -o hello.wav --model msar-tts --voice reference.wav
```
'''

_KINDS: dict[str, _ModelKind] = {
    "msar_autoencoder": _ModelKind(
        title="msar speech repair",
        pipeline_tag="audio-to-audio",
        tags=("msar", "audio", "speech", "speech-enhancement", "audio-to-audio", "denoising",
              "dereverberation", "declipping", "packet-loss-concealment", "bandwidth-extension"),
        summary=("Repairs damaged speech (noise, reverberation, clipping, dropouts, band-limiting, "
                 "codec artefacts) with a speaker-aware STFT autoencoder that predicts a complex mask "
                 "and a complex mapping. 16 kHz mono in and out; an untrained or clean-input path "
                 "returns its input."),
        usage=_REPAIR_USAGE,
    ),
    "msar_multispeaker": _ModelKind(
        title="msar multi-speaker speech synthesis",
        pipeline_tag="text-to-speech",
        tags=("msar", "audio", "speech", "text-to-speech", "tts", "multi-speaker", "speaker-embedding"),
        summary=("Synthesizes English speech in many voices: text and a speaker embedding (from a "
                 "reference recording or a known speaker) go in, a 16 kHz waveform comes out."),
        usage=_SYNTHESIS_USAGE,
    ),
}


def _read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise HubError(f"{folder}: no config.json; expected a folder written by save_pretrained")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HubError(f"{path}: cannot be read as JSON ({exc})") from exc


_METRIC_NAMES = {"pesq_wb": "PESQ-WB", "stoi": "STOI", "estoi": "ESTOI", "si_sdr": "SI-SDR (dB)",
                 "q": "Q (lower is better)", "lsd": "log-spectral distance (dB)"}
#: metrics reported per damage type (all of _METRIC_NAMES are reported overall)
_PER_TYPE_METRICS = ("pesq_wb", "si_sdr")


def _entries_from_recipe_eval(data: dict) -> list[dict]:
    """Entries from ``recipes/eval.py --json`` output: the model's mean scores on the fixed dev
    set overall and per damage type, with the untouched input's scores beside them."""
    scores, inputs = data["model_scores"], data.get("input", {})
    dataset = f"msar repair dev set ({data.get('items', '?')} items, held-out noises and rooms)"
    command = (f"python recipes/eval.py --model {data.get('model', 'MODEL')} --json {EVAL_RESULTS_FILE}"
               + (f" --strength {data['strength']}" if data.get("strength", 1.0) != 1.0 else ""))
    entries = []
    groups = [("all damage types", scores.get("overall", {}), inputs.get("overall", {}), tuple(_METRIC_NAMES))]
    groups += [(kind, values, inputs.get("per_type", {}).get(kind, {}), _PER_TYPE_METRICS)
               for kind, values in scores.get("per_type", {}).items()]
    for config, values, before, metrics in groups:
        for metric in metrics:
            value = values.get(metric)
            if value is None or not math.isfinite(value):
                continue
            entry = {"dataset": dataset, "dataset_type": "msar-repair-dev", "config": config, "split": "dev",
                     "metric": metric, "name": _METRIC_NAMES[metric], "value": float(value), "command": command}
            if before.get(metric) is not None and math.isfinite(before[metric]):
                entry["input_value"] = float(before[metric])
            entries.append(entry)
    return entries


def read_eval_results(folder: str | os.PathLike) -> list[dict]:
    """Measured metrics recorded next to the weights (``eval_results.json``), or ``[]``.

    Two layouts are read: what ``recipes/eval.py --json`` writes (dev-set scores of the model
    and of the untouched input, overall and per damage type), or a list (or
    ``{"results": [...]}``) of entries::

        {"task": "audio-to-audio", "dataset": "msar held-out noisy speech", "dataset_type": "msar-eval",
         "config": "noise", "split": "test", "metric": "pesq_wb", "name": "PESQ-WB", "value": 2.41,
         "input_value": 1.80, "command": "python recipes/eval.py ..."}
    """
    path = Path(folder) / EVAL_RESULTS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HubError(f"{path}: cannot be read as JSON ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("model_scores"), dict):
        return _entries_from_recipe_eval(data)
    entries = data.get("results", []) if isinstance(data, dict) else data
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise HubError(f"{path}: expected recipes/eval.py output or a list of metric entries")
    for e in entries:
        missing = {"dataset", "metric", "value"} - set(e)
        if missing:
            raise HubError(f"{path}: metric entry {e} lacks {sorted(missing)}")
    return entries


def model_card(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    license: str = "apache-2.0",
    datasets: Sequence[str] = (),
    eval_results: Sequence[Mapping[str, Any]] | None = None,
    training_sets: Sequence[TrainingSet] = MSAR_TRAINING_SETS,
    extra_tags: Sequence[str] = (),
    description: str | None = None,
):
    """Build the model card (``huggingface_hub.ModelCard``) of a ``save_pretrained`` folder.

    Args:
        folder: the folder; its ``config.json`` says which msar model it is.
        repo_id: the Hub id the snippets load from (``org/name``).
        license: SPDX-style licence id of the weights.
        datasets: Hub dataset ids the model was trained on (front matter ``datasets:``).
        eval_results: measured metrics (see :func:`read_eval_results`); default: the folder's
            ``eval_results.json``. Nothing is invented: without measurements there is no
            ``model-index``.
        training_sets: corpora listed with their licences in the card body.
        extra_tags: more front-matter tags.
        description: a paragraph replacing the default summary.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    folder = Path(folder)
    config = _read_config(folder)
    model_type = config.get("model_type", "")
    kind = _KINDS.get(model_type)
    if kind is None:
        raise HubError(f"{folder}: model_type {model_type!r} is not an msar model "
                       f"(expected one of {sorted(_KINDS)})")
    results = list(eval_results) if eval_results is not None else read_eval_results(folder)
    name = repo_id.split("/")[-1]
    evals = [
        EvalResult(
            task_type=r.get("task", kind.pipeline_tag),
            dataset_type=r.get("dataset_type", r["dataset"]),
            dataset_name=r["dataset"],
            dataset_split=r.get("split"),
            dataset_config=r.get("config"),
            metric_type=r["metric"],
            metric_name=r.get("name", r["metric"]),
            metric_value=float(r["value"]),
            source_name=r.get("source_name"),
        )
        for r in results
    ]
    data = ModelCardData(
        license=license,
        library_name="transformers",
        pipeline_tag=kind.pipeline_tag,
        tags=list(dict.fromkeys([*kind.tags, *extra_tags])),
        datasets=list(datasets) or None,
        model_name=name if evals else None,
        eval_results=evals or None,
    )
    body = _card_body(kind, repo_id, config, results, training_sets, description)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def _card_body(kind: _ModelKind, repo_id: str, config: dict, results: Sequence[Mapping[str, Any]],
               training_sets: Sequence[TrainingSet], description: str | None) -> str:
    lines = [f"# {kind.title}: `{repo_id}`", "", description or kind.summary, ""]
    lines += [("This model is part of **msar** (MultiSpeaker Audio Repair). It is an ordinary "
               "transformers model with remote code (`trust_remote_code=True`): the modelling files "
               "ship next to the weights, so loading it does not need msar installed."), ""]
    lines += ["## Usage", "", kind.usage.format(repo_id=repo_id), ""]
    if results:
        lines += ["## Measured quality", "", "| dataset | subset | metric | untouched input | this model |",
                  "|---|---|---|---|---|"]
        for r in results:
            name = r.get("name", r["metric"])
            before = f"{float(r['input_value']):.3f}" if r.get("input_value") is not None else ""
            subset = " ".join(str(x) for x in (r.get("config"), r.get("split")) if x)
            lines.append(f"| {r['dataset']} | {subset} | {name} | {before} | {float(r['value']):.3f} |")
        commands = sorted({r["command"] for r in results if r.get("command")})
        if commands:
            lines += ["", "Measured with:", ""] + [f"    {c}" for c in commands]
        lines.append("")
    else:
        lines += ["## Measured quality", "",
                  f"No measurements were recorded with these weights (`{EVAL_RESULTS_FILE}` is absent).", ""]
    if training_sets:
        lines += ["## Training data", "", "| set | licence | origin | what |", "|---|---|---|---|"]
        lines += [f"| {t.name} | {t.license} | {t.origin} | {t.what} |" for t in training_sets]
        lines += ["", ("CC-BY material requires attribution: the per-file licence and origin rows "
                       "(`metadata.csv`) travel with the data sets."), ""]
    arch = {k: config[k] for k in ("model_type", "architectures", "sampling_rate", "hidden_size",
                                   "bottleneck", "speaker_embedding_dim") if k in config}
    lines += ["## Configuration", "", "```json", json.dumps(arch, indent=2), "```", ""]
    lines += ["## Limitations", "", ("English speech at 16 kHz. Quality on recording conditions far from "
                                     "the training data (other languages, music, very long reverberation) "
                                     "is not measured."), ""]
    return "\n".join(lines)


def completed_card(folder: str | os.PathLike, repo_id: str, **kwargs: Any) -> str:
    """The card to publish for a folder: its own ``README.md`` completed, or a new one.

    An author's card keeps its text and its metadata; what the Hub needs and the card lacks is
    added from :func:`model_card` (library_name, pipeline_tag, tags, datasets, and the
    ``model-index`` of the measurements in ``eval_results.json`` when the card has none).
    """
    from huggingface_hub import ModelCard

    generated = model_card(folder, repo_id, **kwargs)
    readme = Path(folder) / "README.md"
    if not readme.is_file():
        return str(generated)
    card = ModelCard.load(readme)
    data, new = card.data, generated.data
    for key in ("license", "library_name", "pipeline_tag", "datasets"):
        if getattr(data, key, None) in (None, [], "") and getattr(new, key, None):
            setattr(data, key, getattr(new, key))
    data.tags = list(dict.fromkeys([*(data.tags or []), *(new.tags or [])]))
    if not data.eval_results and new.eval_results:
        data.eval_results, data.model_name = new.eval_results, new.model_name
    return str(card)


def write_model_card(folder: str | os.PathLike, repo_id: str, **kwargs: Any) -> Path:
    """Write ``README.md`` into a ``save_pretrained`` folder (see :func:`model_card` for options)."""
    card = model_card(folder, repo_id, **kwargs)
    path = Path(folder) / "README.md"
    _atomic_write_text(path, str(card))
    return path


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
