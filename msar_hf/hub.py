"""Sharing msar artefacts on the Hugging Face Hub, and using them offline.

* :func:`model_card` / :func:`write_model_card` write the ``README.md`` of a model folder: YAML
  front matter (license, library_name, tags, datasets, pipeline_tag, a ``model-index`` holding
  the metrics that were *measured* and recorded next to the weights) and usage snippets for
  ``AutoModel``, ``pipeline`` and the ``msar`` command line. The card is built with
  ``huggingface_hub.ModelCard`` so the metadata is exactly what the Hub parses.
* :func:`push_model`, :func:`push_dataset` and :func:`push_metric` publish a ``save_pretrained``
  folder (or a live model), a dataset folder and the ``msar_quality`` metric (as a Gradio Space:
  ``evaluate-cli`` does not work with huggingface-hub 2.x). A failed push (no token, no network,
  refused token) raises :class:`HubError` with a one-line reason; local files are never written.
* :func:`build_cache_snapshot` installs a folder into the Hugging Face cache
  (``models--org--name/snapshots/<sha>/`` + ``refs/main``) exactly as a download would, so
  ``from_pretrained("org/name")`` and ``snapshot_download(..., local_files_only=True)`` work with
  ``HF_HUB_OFFLINE=1``. Offline users copy a model folder to the machine and run
  ``msar push cache FOLDER --repo org/name`` (or call the function) instead of downloading.

This module knows no model class: it reads ``config.json`` to tell a repair model from a
synthesis model, so it can describe a folder written by any version of the models.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MsarError

#: File (inside a model folder) where training or benchmark scripts record measured metrics.
EVAL_RESULTS_FILE = "eval_results.json"
_METRIC_MODULE_DIR = Path(__file__).parent / "metrics" / "msar_quality"


class HubError(MsarError):
    """Publishing to or reading from the Hub failed for a reason the user can fix."""


# --------------------------------------------------------------------------------------------
# model cards
# --------------------------------------------------------------------------------------------
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


#: Auto classes each model answers to; the first is the one its class registers for.
_AUTO_CLASSES = {
    "msar_autoencoder": ("AutoModel",),
    "msar_multispeaker": ("AutoModelForTextToWaveform", "AutoModel"),
}


def _default_processor(model: Any, repo_id: str) -> Any:
    """The processor a live model gets when none is passed. Without one the upload had no
    preprocessor/tokenizer files and the card's own first snippet failed there ("Can't load feature
    extractor"). The repair model's feature extractor learns nothing (it pads and resamples to the
    model's rate); a synthesis model's tokenizer is the built-in phone inventory unless it was trained
    with another vocabulary, which only its own tokenizer holds."""
    model_type = getattr(model.config, "model_type", "")
    if model_type == "msar_autoencoder":
        from .models.autoencoder import MsarAutoencoderFeatureExtractor

        return MsarAutoencoderFeatureExtractor(sampling_rate=model.config.sampling_rate)
    if model_type == "msar_multispeaker":
        from .models.multispeaker import MsarMultiSpeakerProcessor, MsarMultiSpeakerTokenizer
        from .models.multispeaker.tokenization_msar_multispeaker import DEFAULT_VOCAB

        if model.config.vocab_size != len(DEFAULT_VOCAB):
            raise HubError(f"{repo_id}: this synthesis model has a {model.config.vocab_size}-token vocabulary, not the "
                           f"built-in {len(DEFAULT_VOCAB)}: pass its own processor (processor=...) so the upload "
                           "carries the tokenizer it was trained with")
        return MsarMultiSpeakerProcessor(MsarMultiSpeakerTokenizer())
    return None


def save_pretrained_for_hub(model: Any, folder: str | os.PathLike, repo_id: str,
                            *, processor: Any = None, **card_kwargs: Any) -> Path:
    """``save_pretrained`` with everything a Hub user needs: remote code, weights, card.

    Registers the model's classes (and the processor's, and its tokenizer's) for the Auto API
    when their authors did not, so transformers copies the defining modules (and their relative
    imports) into the folder and writes ``auto_map``; adds the other Auto classes the model
    answers to (a synthesis model loads with ``AutoModel`` and ``AutoModelForTextToWaveform``);
    saves the feature extractor / processor (when none is given, the one a model of its kind has
    with nothing learnt: see ``_default_processor``); writes the model card.
    """
    folder = Path(folder)
    autos = _AUTO_CLASSES.get(getattr(model.config, "model_type", ""), ("AutoModel",))
    if getattr(type(model), "_auto_class", None) is None:
        type(model.config).register_for_auto_class()
        type(model).register_for_auto_class(autos[0])
    processor = processor if processor is not None else _default_processor(model, repo_id)
    model.save_pretrained(folder)
    if processor is not None:
        for part in (processor, getattr(processor, "tokenizer", None), getattr(processor, "feature_extractor", None)):
            if part is not None and getattr(type(part), "_auto_class", None) is None:
                type(part).register_for_auto_class()
        processor.save_pretrained(folder)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    auto_map = config.setdefault("auto_map", {})
    source = next((auto_map[a] for a in autos if a in auto_map), None)
    if source is not None and any(a not in auto_map for a in autos):
        auto_map.update({a: source for a in autos if a not in auto_map})
        _atomic_write_text(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_model_card(folder, repo_id, **card_kwargs)
    return folder


# --------------------------------------------------------------------------------------------
# pushing
# --------------------------------------------------------------------------------------------
def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise HubError(f"repository id {repo_id!r} must look like ORG/NAME")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(f"repository id {repo_id!r} is not valid: {str(exc).splitlines()[0]}") from exc


def _require_token(token: str | None) -> str:
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise HubError("cannot push: HF_HUB_OFFLINE=1 is set (unset it to publish)")
    token = token or get_token()
    if not token:
        raise HubError("cannot push: no Hugging Face token found; run `hf auth login` or set HF_TOKEN "
                       "(a token with write access)")
    return token


def _explain(exc: BaseException, repo_id: str) -> HubError:
    """Turn a huggingface_hub / transport exception into a one-line, actionable HubError."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, HTTPError

    if isinstance(exc, HfHubHTTPError) and getattr(exc, "response", None) is not None:
        status = exc.response.status_code
        reason = str(exc).splitlines()[0]
        if status == 401:
            return HubError(f"the Hub at {constants.ENDPOINT} refused the token (401); run `hf auth login` "
                            f"again or set a valid HF_TOKEN ({reason})")
        if status == 403:
            return HubError(f"the token cannot write to {repo_id} (403): use a write token and a namespace "
                            f"you belong to ({reason})")
        return HubError(f"the Hub at {constants.ENDPOINT} answered {status} for {repo_id}: {reason}")
    if isinstance(exc, (HTTPError, OSError)):
        return HubError(f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}); "
                        "check the network, proxy or HF_ENDPOINT. Nothing was uploaded")
    return HubError(f"push to {repo_id} failed: {type(exc).__name__}: {exc}")


@dataclass
class _Upload:
    """What goes into one commit: files from disk and generated texts, by path in the repo."""

    files: dict[str, Path] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def add_folder(self, folder: Path, ignore: Iterable[str] = ()) -> None:
        skip = set(ignore)
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                       for part in Path(rel).parts) and rel not in skip:
                self.files[rel] = p

    def operations(self) -> list:
        from huggingface_hub import CommitOperationAdd

        ops = [CommitOperationAdd(path_in_repo=k, path_or_fileobj=str(v))
               for k, v in self.files.items() if k not in self.texts]
        ops += [CommitOperationAdd(path_in_repo=k, path_or_fileobj=v.encode()) for k, v in self.texts.items()]
        return ops


def _describe(upload: _Upload, repo_id: str, repo_type: str) -> str:
    """What a push would upload (``--dry-run``): one line per file with its size, no network."""
    _check_repo_id(repo_id)
    sizes = {k: (len(upload.texts[k].encode()) if k in upload.texts else v.stat().st_size)
             for k, v in {**upload.files, **dict.fromkeys(upload.texts)}.items()}
    head = f"would upload {len(sizes)} files ({sum(sizes.values()) / 1e6:.1f} MB) to the {repo_type} {repo_id} (nothing sent):"
    lines = [head] + [f"  {name}  {size / 1e6:.2f} MB" + ("  (written for the upload)" if name in upload.texts else "")
                      for name, size in sorted(sizes.items())]
    return "\n".join(lines)


def _publish(upload: _Upload, repo_id: str, repo_type: str, private: bool, token: str | None,
             message: str, space_sdk: str | None = None) -> str:
    """create_repo (idempotent) + one commit; returns the repo URL. Never writes local files."""
    from huggingface_hub import HfApi

    _check_repo_id(repo_id)
    token = _require_token(token)
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True,
                              space_sdk=space_sdk)
        api.create_commit(repo_id, operations=upload.operations(), commit_message=message,
                          repo_type=repo_type)
    except MsarError:
        raise
    except Exception as exc:  # every hub/transport failure becomes one clear line
        raise _explain(exc, repo_id) from exc
    return str(url)


def _auto_map_modules(folder: Path) -> list[tuple[Path, str]]:
    """(config file, module name) for each local module the folder's ``auto_map`` entries name
    (``"module.Class"``, or a tokenizer's ``[slow, fast]`` pair; ``"repo--module.Class"`` lives elsewhere)."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        for ref in (auto_map.values() if isinstance(auto_map, dict) else ()):
            for name in (ref if isinstance(ref, list) else [ref]):
                if isinstance(name, str) and "--" not in name and "." in name:
                    found.append((path, name.rsplit(".", 1)[0]))
    return found


def push_model(dir_or_model: Any, repo_id: str, private: bool = False, *, token: str | None = None,
               processor: Any = None, commit_message: str = "Upload msar model", dry_run: bool = False,
               **card_kwargs: Any) -> str:
    """Publish a model: a ``save_pretrained`` folder or a live msar model.

    The folder is uploaded as it is (config with ``auto_map``, remote-code files, safetensors,
    feature extractor / tokenizer / processor files) with its card completed by
    :func:`completed_card` (or generated when it has none), for the upload only: the local
    folder is never modified. A live model is first
    saved (with :func:`save_pretrained_for_hub`) into a temporary folder.

    Returns the repository URL (``dry_run``: what would be uploaded, with every check made and
    nothing sent). Raises :class:`HubError` on any failure.
    """
    import tempfile

    if not isinstance(dir_or_model, (str, os.PathLike)):
        with tempfile.TemporaryDirectory(prefix="msar-push-") as tmp:
            save_pretrained_for_hub(dir_or_model, tmp, repo_id, processor=processor, **card_kwargs)
            return push_model(tmp, repo_id, private, token=token, commit_message=commit_message, dry_run=dry_run)
    folder = Path(dir_or_model)
    if not folder.is_dir():
        raise HubError(f"{folder}: not a folder; pass a folder written by save_pretrained")
    config = _read_config(folder)
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise HubError(f"{folder}: no weights (*.safetensors) in the folder")
    if "auto_map" not in config:
        raise HubError(f"{folder}: config.json has no auto_map, so users could not load it with "
                       "trust_remote_code; save it with msar_hf.hub.save_pretrained_for_hub")
    # Every module an auto_map names (config, tokenizer, processor, feature extractor) must travel
    # with the folder: a plain save_pretrained of a class never registered for the Auto API writes
    # the auto_map but not the .py files, and trust_remote_code users could not load the upload.
    missing = sorted(f"{module}.py ({path.name})" for path, module in _auto_map_modules(folder)
                     if not (folder / f"{module}.py").is_file())
    if missing:
        raise HubError(f"{folder}: auto_map names code the folder lacks: {', '.join(missing)}; save it with "
                       "msar_hf.hub.save_pretrained_for_hub (or copy the model's .py files in)")
    upload = _Upload()
    upload.add_folder(folder)
    # the folder's own card, completed with what the Hub needs (never written back locally)
    upload.texts["README.md"] = completed_card(folder, repo_id, **card_kwargs)
    if dry_run:
        return _describe(upload, repo_id, "model")
    return _publish(upload, repo_id, "model", private, token, commit_message)


def dataset_card(folder: str | os.PathLike, repo_id: str) -> str:
    """A dataset card for an audiofolder-style folder: licences and origins from metadata.csv."""
    import csv

    folder = Path(folder)
    metas = sorted(folder.rglob("metadata.csv"))
    licences: dict[str, int] = {}
    origins: set[str] = set()
    rows = 0
    for meta in metas:
        with meta.open(newline="") as fh:
            for row in csv.DictReader(fh):
                rows += 1
                if row.get("license"):
                    licences[row["license"]] = licences.get(row["license"], 0) + 1
                if row.get("origin"):
                    origins.add(row["origin"])
    licence = next(iter(licences)).lower() if len(licences) == 1 else "other"
    audio = [p for p in folder.rglob("*") if p.suffix.lower() in (".flac", ".wav", ".mp3", ".ogg")]
    lines = ["---", f"license: {licence}", "tags:", "- msar", "- audio", "- speech",
             "task_categories:", "- audio-to-audio", "- text-to-speech", "---", "",
             f"# {repo_id.split('/')[-1]}", "",
             (f"{len(audio)} audio files, {len(list(folder.rglob('*.parquet')))} parquet files, "
              f"{rows} metadata rows. Published with `msar push dataset`."), "",
             "```python", "from datasets import load_dataset", "",
             f'ds = load_dataset("{repo_id}")', "```", ""]
    if licences:
        lines += ["## Licences", "", "| licence | files |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(licences.items())]
        lines += ["", ("Each file's licence and origin are in `metadata.csv`; keep those rows with "
                       "anything derived from a CC-BY file."), ""]
    if origins:
        lines += ["## Origins", ""] + [f"- {o}" for o in sorted(origins)] + [""]
    return "\n".join(lines)


def push_dataset(path: Any, repo_id: str, private: bool = False, *, token: str | None = None,
                 commit_message: str = "Upload msar dataset", dry_run: bool = False) -> str:
    """Publish a dataset: a folder (audiofolder with metadata.csv, or parquet files) or a
    ``datasets.Dataset`` / ``DatasetDict`` (which uses its own ``push_to_hub``).

    A dataset card (licences from metadata.csv) is generated for the upload when the folder has
    none; local files are never modified. Returns the repository URL.
    """
    if not isinstance(path, (str, os.PathLike)):
        _check_repo_id(repo_id)
        if dry_run:
            return f"would push the {type(path).__name__} with its own push_to_hub to {repo_id} (nothing sent)"
        token = _require_token(token)
        try:
            info = path.push_to_hub(repo_id, private=private, token=token, commit_message=commit_message)
        except MsarError:
            raise
        except Exception as exc:
            raise _explain(exc, repo_id) from exc
        return str(getattr(info, "repo_url", repo_id))
    folder = Path(path)
    if not folder.is_dir():
        raise HubError(f"{folder}: not a folder; pass a dataset folder (audiofolder or parquet)")
    upload = _Upload()
    upload.add_folder(folder)
    if not upload.files:
        raise HubError(f"{folder}: the folder is empty")
    if "README.md" not in upload.files:
        upload.texts["README.md"] = dataset_card(folder, repo_id)
    if dry_run:
        return _describe(upload, repo_id, "dataset")
    return _publish(upload, repo_id, "dataset", private, token, commit_message)


_METRIC_SPACE_FRONT_MATTER = """\
---
title: msar_quality
emoji: 🎙️
colorFrom: blue
colorTo: green
sdk: gradio
app_file: app.py
pinned: false
tags:
- evaluate
- metric
- audio
- speech
- msar
---

"""

_METRIC_SPACE_APP = '''\
"""Gradio Space for the msar_quality metric: upload a clean reference and an estimate, get scores.

Generated by `msar push metric`; the metric module sits next to this file.
"""

import json

import evaluate
import gradio as gr
import soundfile as sf

metric = evaluate.load("msar_quality.py")


def score(reference_path, estimate_path):
    if not reference_path or not estimate_path:
        raise gr.Error("upload both a clean reference and an estimate")
    ref, ref_rate = sf.read(reference_path, dtype="float32", always_2d=True)
    est, est_rate = sf.read(estimate_path, dtype="float32", always_2d=True)
    if ref_rate != est_rate:
        raise gr.Error(f"the two files have different rates ({ref_rate} vs {est_rate} Hz)")
    result = metric.compute(predictions=[est.mean(1)], references=[ref.mean(1)], sampling_rate=ref_rate)
    return json.loads(json.dumps(result, default=float))


demo = gr.Interface(
    fn=score,
    inputs=[gr.Audio(type="filepath", label="clean reference"), gr.Audio(type="filepath", label="estimate")],
    outputs=gr.JSON(label="msar_quality"),
    title="msar_quality",
    description="Speech quality of an estimate against its clean reference (see the card below).",
)

if __name__ == "__main__":
    demo.launch()
'''


#: msar modules the metric module needs, uploaded with it so the Space runs without msar
#: installed (``msar_quality.py`` imports ``msar_hf.metrics.quality``, which uses these).
_METRIC_VENDORED = ("errors.py", "audio.py", "metrics/quality.py")
_VENDORED_INIT = '"""The part of msar (MultiSpeaker Audio Repair) that the msar_quality metric Space needs."""\n'
_METRIC_SPACE_REQUIREMENTS = (
    "torch", "torchaudio", "numpy>=1.26,<3", "scipy>=1.11,<2", "soundfile>=0.12,<1", "pyworld>=0.3.4,<0.4",
    "setuptools>=69,<81", "pesq>=0.0.4,<0.1", "pystoi>=0.4,<0.5", "librosa>=0.10,<1", "evaluate>=0.4.6,<0.5",
    "datasets>=5.0,<6.0", "gradio>=5,<7",
)


def metric_space_files(metric_dir: str | os.PathLike | None = None) -> _Upload:
    """The files of the metric Space: the module, the msar code it imports, its card (with Space
    front matter), ``app.py`` and ``requirements.txt``."""
    metric_dir = Path(metric_dir) if metric_dir is not None else _METRIC_MODULE_DIR
    module = metric_dir / "msar_quality.py"
    if not module.is_file():
        raise HubError(f"{metric_dir}: no msar_quality.py metric module there")
    upload = _Upload()
    upload.add_folder(metric_dir)
    package = Path(__file__).parent
    for rel in _METRIC_VENDORED:
        upload.files[f"msar_hf/{rel}"] = package / rel
    upload.texts["msar_hf/__init__.py"] = _VENDORED_INIT
    upload.texts["msar_hf/metrics/__init__.py"] = _VENDORED_INIT
    card = (metric_dir / "README.md").read_text() if (metric_dir / "README.md").is_file() else "# msar_quality\n"
    if card.startswith("---"):
        # The module's own front matter is for evaluate; the Space needs its own keys.
        end = card.find("\n---", 3)
        card = card[end + 4:].lstrip("\n") if end != -1 else card
    upload.texts["README.md"] = _METRIC_SPACE_FRONT_MATTER + card
    upload.texts["app.py"] = _METRIC_SPACE_APP
    upload.texts["requirements.txt"] = "\n".join(_METRIC_SPACE_REQUIREMENTS) + "\n"
    return upload


def write_upload(upload: _Upload, folder: str | os.PathLike) -> Path:
    """Write what a push would upload into ``folder`` (to inspect it, or to run a Space locally)."""
    folder = Path(folder)
    for rel, src in upload.files.items():
        if rel not in upload.texts:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, folder / rel)
    for rel, text in upload.texts.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def push_metric(repo_id: str, private: bool = False, *, token: str | None = None,
                metric_dir: str | os.PathLike | None = None,
                commit_message: str = "Upload msar_quality metric", dry_run: bool = False) -> str:
    """Publish the ``msar_quality`` metric as a Gradio Space (how evaluate shares metrics).

    ``evaluate-cli`` is broken with huggingface-hub 2.x, so this does what it did: create a Space
    (``space_sdk="gradio"``) and upload the module, its card, ``app.py`` and ``requirements.txt``.
    Users then ``evaluate.load("ORG/NAME")``. Returns the Space URL (``dry_run``: the file list).
    """
    upload = metric_space_files(metric_dir)
    if dry_run:
        return _describe(upload, repo_id, "space")
    return _publish(upload, repo_id, "space", private, token, commit_message, space_sdk="gradio")


_APP_SPACE_FRONT_MATTER = """\
---
title: msar
emoji: 🎙️
colorFrom: indigo
colorTo: green
sdk: gradio
app_file: app.py
pinned: false
tags:
- msar
- audio
- speech-enhancement
- text-to-speech
---

# msar: repair and synthesize speech

Upload or record a damaged recording to repair it (noise, reverberation, clipping, dropouts,
band-limiting, codec artefacts), or type text and pick a voice to synthesize it. Runs msar's
models on this Space's CPU. Limits and models are set with the Space variables MSAR_APP_*
(see `app.py`).
"""


def app_space_files() -> _Upload:
    """The files of the app Space: ``app.py``, ``requirements.txt``, ``packages.txt`` (Debian
    packages) from ``msar_hf/space/``, a card, and the ``msar_hf`` package itself (with its shipped
    weights), so the Space runs msar without a package index that has it."""
    package = Path(__file__).parent
    space = package / "space"
    upload = _Upload()
    for p in sorted(package.rglob("*")):
        rel = p.relative_to(package)
        if (p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
                and p.suffix not in (".pyc", ".pyo")):
            upload.files[f"msar_hf/{rel.as_posix()}"] = p
    for name in ("app.py", "requirements.txt", "packages.txt"):
        upload.files[name] = space / name
    upload.texts["README.md"] = _APP_SPACE_FRONT_MATTER
    return upload


def push_app(repo_id: str, private: bool = False, *, token: str | None = None,
             commit_message: str = "Upload the msar app", dry_run: bool = False) -> str:
    """Publish the msar web app as a Gradio Space (see :func:`app_space_files`). Returns its URL
    (``dry_run``: the file list, nothing sent)."""
    upload = app_space_files()
    if dry_run:
        return _describe(upload, repo_id, "space")
    return _publish(upload, repo_id, "space", private, token, commit_message, space_sdk="gradio")


# --------------------------------------------------------------------------------------------
# offline cache
# --------------------------------------------------------------------------------------------
def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_cache_snapshot(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    repo_type: str = "model",
    revision: str = "main",
) -> Path:
    """Install ``folder`` into the Hugging Face cache as if ``repo_id`` had been downloaded.

    Lays out ``<cache>/<type>s--org--name/`` like ``huggingface_hub`` does: file contents in
    ``blobs/<sha256>``, ``snapshots/<commit>/<path>`` as relative links to them (copies where the
    file system has no symlinks), and ``refs/<revision>`` holding the commit. The commit id is a
    hash of the folder's paths and contents, so installing the same folder twice is a no-op.
    Afterwards, with ``HF_HUB_OFFLINE=1``::

        AutoModel.from_pretrained("org/name", trust_remote_code=True)
        snapshot_download("org/name", repo_type="dataset", local_files_only=True)

    find it. ``cache_dir`` defaults to ``huggingface_hub.constants.HF_HUB_CACHE`` (``HF_HUB_CACHE``
    / ``HF_HOME``). Returns the snapshot folder.
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder}: not a folder")
    _check_repo_id(repo_id)
    if repo_type not in ("model", "dataset", "space"):
        raise HubError(f"repo_type must be model, dataset or space, not {repo_type!r}")
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
             if p.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                        for part in p.relative_to(folder).parts)}
    if not files:
        raise HubError(f"{folder}: the folder is empty")
    digests = {rel: _file_sha256(p) for rel, p in files.items()}
    commit = hashlib.sha1("".join(f"{rel}\0{d}\n" for rel, d in sorted(digests.items())).encode()).hexdigest()

    cache = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
    storage = cache / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    blobs, snapshot = storage / "blobs", storage / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    tmp_snapshot = snapshot.with_name(f".{commit}.tmp")
    shutil.rmtree(tmp_snapshot, ignore_errors=True)
    for rel, src in files.items():
        blob = blobs / digests[rel]
        if not blob.exists():
            tmp_blob = blob.with_name(blob.name + ".incomplete")
            shutil.copyfile(src, tmp_blob)
            os.replace(tmp_blob, blob)
        dst = tmp_snapshot / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            dst.symlink_to(os.path.relpath(blob, (snapshot / rel).parent))
        except OSError:  # no symlinks (some Windows setups): huggingface_hub copies too
            shutil.copyfile(blob, dst)
    if snapshot.exists():
        shutil.rmtree(tmp_snapshot)
    else:
        os.replace(tmp_snapshot, snapshot)
    refs = storage / "refs"
    refs.mkdir(exist_ok=True)
    _atomic_write_text(refs / revision, commit)  # no newline: huggingface_hub reads it verbatim
    return snapshot


__all__ = [
    "EVAL_RESULTS_FILE",
    "MSAR_TRAINING_SETS",
    "HubError",
    "TrainingSet",
    "app_space_files",
    "build_cache_snapshot",
    "completed_card",
    "dataset_card",
    "metric_space_files",
    "model_card",
    "push_app",
    "push_dataset",
    "push_metric",
    "push_model",
    "read_eval_results",
    "save_pretrained_for_hub",
    "write_model_card",
    "write_upload",
]
