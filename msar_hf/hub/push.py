"""Publishing a model folder (or a live model), a dataset folder, and what a push would upload."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HubError, MsarError
from .cards import _atomic_write_text, _read_config, completed_card, write_model_card

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
        from ..models.autoencoder import MsarAutoencoderFeatureExtractor

        return MsarAutoencoderFeatureExtractor(sampling_rate=model.config.sampling_rate)
    if model_type == "msar_multispeaker":
        from ..models.multispeaker import MsarMultiSpeakerProcessor, MsarMultiSpeakerTokenizer
        from ..models.multispeaker.tokenization_msar_multispeaker import DEFAULT_VOCAB

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


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise HubError(f"repository id {repo_id!r} must look like ORG/NAME")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(f"repository id {repo_id!r} is not valid: {str(exc).splitlines()[0]}") from exc


def check_repo_id(repo_id: str) -> None:
    """Raise :class:`HubError` for a repository id no push could use: callers about to do long work
    before a push (building a dataset) check it first."""
    _check_repo_id(repo_id)


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
