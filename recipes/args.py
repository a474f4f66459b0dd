"""Arguments of the msar training recipe (parler-tts ``training/arguments.py`` style).

One YAML file holds four sections, each a dataclass below::

    model:    {type: autoencoder, config: {...MsarAutoencoderConfig keys...}}
    data:     {speech: [...], degradations: ..., crop_seconds: ..., batch_size: ...}
    training: {output_dir: ..., max_steps: ..., learning_rate: ...}
    eval:     {speech: [...], noise_include: [...], types: [...], items_per_type: ...}

Folders may use ``${MSAR_DATA_ROOT}`` (default ``shared/data`` beside the checkout) so a user's clone points the
recipe at its own data with one environment variable. ``--set section.key=value`` overrides any
key from the command line (YAML syntax for the value).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DATA_ROOT_ENV = "MSAR_DATA_ROOT"
REPO = Path(__file__).resolve().parent.parent
# ../shared/data beside the checkout, wherever the recipe is launched from
DEFAULT_DATA_ROOT = str(REPO.parent / "shared" / "data")


def repo_path(value: str | os.PathLike) -> Path:
    """A relative path that names no file from here is taken from the repository root (the
    recipes' own ``recipes/configs/...`` defaults work from any working directory)."""
    path = Path(value)
    return REPO / path if not path.is_absolute() and not path.exists() and (REPO / path).exists() else path


def cache_root() -> Path:
    """Where recipes keep rendered/derived data: ``$MSAR_CACHE_DIR``, else ``<repo>/../data_cache``."""
    return Path(os.environ.get("MSAR_CACHE_DIR") or REPO.parent / "data_cache")


def load_plain_config(path: str | os.PathLike, cache_subdir: str) -> dict:
    """A plain-dict YAML config (the speaker-encoder and TTS recipes) with its null paths resolved.

    ``data_root`` falls back to ``$MSAR_DATA_ROOT``, then ``<repo>/../shared/data``; ``cache_dir``
    to ``cache_root()/<cache_subdir>``; relative ``output_dir``/``export_dir`` are taken from the repo.
    """
    cfg = _yaml(Path(path).read_text())
    cfg["data_root"] = Path(cfg.get("data_root") or os.environ.get(DATA_ROOT_ENV) or REPO.parent / "shared" / "data")
    cfg["cache_dir"] = Path(cfg.get("cache_dir") or cache_root() / cache_subdir)
    for key in ("output_dir", "export_dir"):
        p = Path(cfg[key])
        cfg[key] = p if p.is_absolute() else REPO / p
    return cfg


def read_metadata(folder: Path) -> list[dict]:
    """Rows of an audiofolder's ``metadata.csv``, each with its absolute ``path``."""
    import csv

    with open(folder / "metadata.csv", newline="") as f:
        return [dict(row, path=str(folder / row["file_name"])) for row in csv.DictReader(f)]


def expand_path(value: str | os.PathLike | None) -> Path | None:
    """``${MSAR_DATA_ROOT}``, ``${MSAR_CACHE_DIR}`` (see :func:`cache_root`), ``~`` and other
    environment variables expanded."""
    if value is None:
        return None
    env_root = os.environ.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)
    text = str(value).replace("${" + DATA_ROOT_ENV + "}", env_root).replace("${MSAR_CACHE_DIR}", str(cache_root()))
    return Path(os.path.expanduser(os.path.expandvars(text)))


@dataclass
class ModelArguments:
    """Which model to train (a key of ``recipes.train.MODEL_REGISTRY``) and its config keys."""

    type: str = "autoencoder"
    config: dict = field(default_factory=dict)
    init_from: str | None = None  # a save_pretrained folder to start from (fine-tuning)
    # start from init_from's weights where their shapes fit the new config and initialise the rest
    # (a causal model from the bidirectional one: its LSTM is new, the frame layers are not)
    init_partial: bool = False


@dataclass
class DataArguments:
    """Training pairs: clean speech corpora, damaged on the fly by the degradation engine.

    ``speech`` entries: ``{dir: audiofolder with metadata.csv (file_name, speaker_id),
    include_speakers: [...], exclude_speakers: [...], weight: sampling weight,
    bandwidth_hz: highest frequency the recordings hold (default: Nyquist)}``.
    Short clips (FSDD digits) are concatenated per speaker to fill ``crop_seconds``.
    """

    speech: list = field(default_factory=lambda: [{"dir": "${MSAR_DATA_ROOT}/speech/kathleen"}])
    degradations: str = "recipes/configs/degradations.yaml"
    degradation_overrides: dict = field(default_factory=dict)  # merged over the YAML's keys
    crop_seconds: float = 3.0
    batch_size: int = 12
    num_workers: int = 0
    augment: bool = False  # speed/tempo/pitch pseudo-speakers (Degrader.augment)
    # The loss ignores each target above its real bandwidth (a speech entry's bandwidth_hz, e.g.
    # 4000 for 8 kHz FSDD; lowered by slow speed perturbation), so narrow-band recordings do
    # not teach the model to empty the top band of every voice.
    band_aware_loss: bool = False
    # Low-pass the damaged input of narrow-band corpora (bandwidth_hz < Nyquist) to that band, as
    # if the damage had happened in the original recording.
    band_limit_narrowband_input: bool = False
    # Targets of band-limited items keep the channel's band (the same filter), so the model cleans
    # the band it gets instead of inventing the rest. Measured: bandwidth extension learnt from one
    # full-band voice overshoots on unseen voices (dev band_limit PESQ-WB 2.89 for autoencoder_gpu.yaml
    # alone; 3.34 after autoencoder_gpu_finetune.yaml, which sets this).
    band_limited_targets: bool = False
    # With band_limited_targets: a telephone channel's target keeps the band under its low edge
    # (300 Hz): only the top of the band is replayed. The voice's fundamental lives there (80-300 Hz);
    # it is predictable from the harmonics the channel passes (their spacing and phase differences),
    # unlike the band above 3.4 kHz. Measured: adding the clean band under 300 Hz back to telephone
    # items takes them from PESQ-WB 2.71 / Q 0.089 to 3.73 / 0.001 (the pitch tracker needs it).
    restore_low_band: bool = False
    speaker_conditioning: bool = False  # feed reference-utterance embeddings to the model
    speaker_dropout: float = 0.2  # share of items trained with the zero ("none") embedding
    speaker_encoder: str | None = None  # SpeechBrain folder/Hub id; None = msar's shipped default
    cache_dir: str = "runs/cache"  # speaker embedding cache


@dataclass
class TrainingArguments:
    output_dir: str = "runs/autoencoder"
    max_steps: int = 1000
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    adam_betas: list = field(default_factory=lambda: [0.9, 0.99])
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05  # cosine decay ends at learning_rate * min_lr_ratio
    max_grad_norm: float = 5.0
    # "no", "bf16", "fp16" (GPU); None: what `accelerate launch --mixed_precision` / `accelerate config`
    # say. A default of "no" was passed to Accelerator explicitly and silently overrode the launcher.
    mixed_precision: str | None = None
    seed: int = 0
    cpu: bool = False  # Accelerator(cpu=True): also gloo ranks for --multi_gpu on CPU
    num_threads: int | None = 1  # torch threads per process (None: leave torch's default)
    log_every: int = 20
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    eval_every: int = 500  # 0 disables in-training validation
    max_minutes: float | None = None  # stop (with a checkpoint) after this much wall time
    stop_after_steps: int | None = None  # stop (with a checkpoint) after this many steps of this launch
    report_to: str | None = "tensorboard"
    progress: bool = True


@dataclass
class EvalArguments:
    """The fixed dev set: unseen speakers, held-out noises and rooms, one set per damage type."""

    speech: list = field(default_factory=lambda: [
        {"dir": "${MSAR_DATA_ROOT}/speech/arctic_samples"},
        {"dir": "${MSAR_DATA_ROOT}/speech/ljspeech_samples"},
        {"dir": "${MSAR_DATA_ROOT}/speech/fsdd", "include_speakers": ["theo"]},
    ])
    noise_dir: str = "${MSAR_DATA_ROOT}/noise"
    rir_dir: str = "${MSAR_DATA_ROOT}/rir"
    noise_include: list = field(default_factory=lambda: list(HELD_OUT_NOISES))
    rir_include: list = field(default_factory=lambda: list(HELD_OUT_RIRS))
    types: list = field(default_factory=lambda: ["clean", "noise", "reverb", "clipping", "dropouts",
                                                 "band_limit", "codec", "mixed"])
    items_per_type: int = 6
    seconds: float = 4.0
    severity: float | None = None  # None: random severity per item
    seed: int = 1234
    metrics: list | None = None  # None: every msar_quality metric


# Noises and rooms kept out of training (by name) so the dev set measures generalisation.
HELD_OUT_NOISES = ("blanket_city", "max_audio_crowd_cheering", "doing_the_dishes",
                   "modern_alarm_clock_waves", "max_audio_snoring", "noise5")
HELD_OUT_RIRS = ("medium_hall", "basement_clap_peter1955", "st_margaret_s_church")


@dataclass
class RecipeArguments:
    model: ModelArguments = field(default_factory=ModelArguments)
    data: DataArguments = field(default_factory=DataArguments)
    training: TrainingArguments = field(default_factory=TrainingArguments)
    eval: EvalArguments = field(default_factory=EvalArguments)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SECTIONS = {"model": ModelArguments, "data": DataArguments, "training": TrainingArguments, "eval": EvalArguments}


_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "list": (list,), "dict": (dict,)}


def _checked(value: Any, annotation: str, where: str) -> Any:
    """``value`` as the field's annotation (one of :data:`_TYPES`, optionally ``| None``) wants it:
    a typo such as ``max_steps=abc`` stops the recipe with one line instead of a traceback later."""
    options = [o.strip() for o in str(annotation).split("|")]
    if value is None and "None" in options:
        return value
    wanted = tuple(t for o in options if o != "None" for t in _TYPES[o])
    if int in wanted and float not in wanted and isinstance(value, float) and value.is_integer():
        return int(value)  # max_steps: 1e4
    if isinstance(value, wanted) and (bool in wanted or not isinstance(value, bool)):
        return value
    raise SystemExit(f"{where}: expected {annotation}, got {value!r}")


def _build(cls, values: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SystemExit(f"{where}: unknown key(s) {unknown} (known: {sorted(fields)})")
    return cls(**{key: _checked(value, fields[key].type, f"{where}.{key}") for key, value in values.items()})


class _RecipeLoader(yaml.SafeLoader):
    """PyYAML follows YAML 1.1, which reads ``4e-4`` (an exponent without a dot) as a string;
    nobody typing a learning rate means that, so recipe files and ``--set`` values read it as a
    float, as YAML 1.2 does."""


_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_RecipeLoader)  # a SafeLoader subclass: no arbitrary objects


def _set(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def _deep_merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _read_config(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A recipe YAML; ``base: other.yaml`` (relative to this file) is read first and deep-merged
    under it, so a fine-tuning stage states only what it changes."""
    if not path.is_file():
        raise SystemExit(f"{path}: recipe config not found")
    if path.resolve() in seen:
        raise SystemExit(f"{path}: 'base' chain loops back to itself")
    raw = _yaml(path.read_text()) or {}
    base = raw.pop("base", None)
    if base is None:
        return raw
    return _deep_merge(_read_config(path.parent / base, seen + (path.resolve(),)), raw)


def load_arguments(config_path: str | os.PathLike | None, overrides: list[str] | None = None) -> RecipeArguments:
    """Read a recipe YAML (with its ``base`` chain) and apply ``section.key=value`` overrides."""
    raw: dict = {}
    if config_path is not None:
        raw = _read_config(Path(config_path))
    for item in overrides or []:
        if "=" not in item:
            raise SystemExit(f"--set {item!r}: expected section.key=value")
        key, value = item.split("=", 1)
        _set(raw, key, _yaml(value))
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise SystemExit(f"{config_path}: unknown section(s) {unknown} (known: {sorted(_SECTIONS)})")
    return RecipeArguments(**{name: _build(cls, raw.get(name) or {}, f"{config_path}: {name}")
                              for name, cls in _SECTIONS.items()})


def parse_cli(argv: list[str] | None = None) -> tuple[RecipeArguments, argparse.Namespace]:
    parser = argparse.ArgumentParser(description="Train an msar model with Accelerate.")
    parser.add_argument("--config", required=True, help="recipe YAML (recipes/configs/*.yaml)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None,
                        help="continue from a checkpoint folder, or the latest one in output_dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config key (repeatable), e.g. --set training.max_steps=10")
    ns = parser.parse_args(argv)
    return load_arguments(repo_path(ns.config), ns.overrides), ns
