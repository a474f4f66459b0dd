"""The fixed dev set and model evaluation used by training (validation) and the ablation.

Dev set: speakers never used in training (arctic aew/axb, LJ, FSDD theo by default), noises and
rooms held out of training by name, and one group of items per damage type (plus ``clean``, the
do-no-harm check, and ``mixed``, the full random chain). Items are a pure function of
``EvalArguments`` (seed included), so every run and every ablation arm is scored on the same audio.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python recipes/eval.py): make `recipes` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from msar_hf.data.degradations import DegradationConfig, Degrader
from recipes.args import EvalArguments, RecipeArguments
from recipes.data import SAMPLING_RATE, SpeechPool, target_gain


@dataclass
class DevItem:
    kind: str
    degraded: np.ndarray
    clean: np.ndarray
    speaker: str
    record: dict


def _dev_degrader(args: EvalArguments) -> Degrader:
    # Held-out noises/rooms only; measured rooms only (simulated ones come from the training pool).
    cfg = DegradationConfig(
        noise_dir=args.noise_dir, rir_dir=args.rir_dir, speech_dir=None,
        noise_include=list(args.noise_include), rir_include=list(args.rir_include),
        p_clean=0.0, p_mild=0.0,
        reverb={"simulated_fraction": 0.0},
        noise={"kinds": {"file": 0.6, "mixture": 0.2, "modulated": 0.2}},
    )
    return Degrader(cfg, SAMPLING_RATE)


def build_dev_set(args: EvalArguments) -> list[DevItem]:
    """``items_per_type`` items of ``seconds`` for every type in ``args.types``."""
    pool = SpeechPool(args.speech, "eval.speech")
    # equal weight per corpus entry, as in SpeechPool, but deterministic from args.seed
    degrader = _dev_degrader(args)
    length = round(args.seconds * SAMPLING_RATE)
    items = []
    for t, kind in enumerate(args.types):
        for i in range(args.items_per_type):
            index = t * 1000 + i
            rng = np.random.default_rng([args.seed, index, 11])
            clean, speaker, _ = pool.draw(rng, length)
            if kind == "clean":
                degraded, record = clean.copy(), {"steps": []}
            elif kind == "mixed":
                degraded, record = degrader(clean, args.seed, index)
                degraded = degraded.numpy()
            else:
                degraded, record = degrader.apply(kind, clean, args.seed, index, args.severity)
                degraded = degraded.numpy()
            items.append(DevItem(kind, degraded.astype(np.float32), (clean * target_gain(record)).astype(np.float32), speaker, record))
    return items


def _metric_fn(metrics: list | None):
    """msar_quality's compute_all when available; SI-SDR alone otherwise."""
    try:
        from msar_hf.metrics.quality import compute_all
    except ImportError:  # pragma: no cover - only before the metrics module existed
        compute_all = None
    if compute_all is not None:
        return lambda ref, est: compute_all(ref, est, SAMPLING_RATE, metrics=metrics)

    def sisdr_only(ref, est):
        from msar_hf.models.autoencoder.modeling_msar_autoencoder import si_sdr

        return {"si_sdr": float(si_sdr(torch.as_tensor(est)[None], torch.as_tensor(ref)[None])[0])}

    return sisdr_only


def _finite_mean(values: list[float]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def score(items: list[DevItem], estimates: list[np.ndarray], metrics: list | None = None) -> dict:
    """``{"per_type": {kind: {metric: mean}}, "overall": {metric: mean over damaged types}}``."""
    fn = _metric_fn(metrics)
    per_item = [(it.kind, fn(it.clean, est)) for it, est in zip(items, estimates)]
    per_type: dict[str, dict[str, float]] = {}
    for kind in dict.fromkeys(k for k, _ in per_item):
        rows = [s for k, s in per_item if k == kind]
        per_type[kind] = {m: _finite_mean([r.get(m) for r in rows]) for m in rows[0]}
    damaged = [s for k, s in per_item if k != "clean"] or [s for _, s in per_item]
    overall = {m: _finite_mean([r.get(m) for r in damaged]) for m in damaged[0]}
    return {"per_type": per_type, "overall": overall}


@torch.no_grad()
def evaluate_model(model, items: list[DevItem], metrics: list | None = None, speaker_embeddings: dict | None = None) -> dict:
    """Repair every dev item with ``model.repair`` and score it (see :func:`score`).

    ``speaker_embeddings``: optional ``{speaker: (D,) tensor}`` reference embeddings.
    """
    was_training = model.training
    model.eval()
    estimates = []
    for it in items:
        emb = None if speaker_embeddings is None else speaker_embeddings.get(it.speaker)
        estimates.append(np.asarray(model.repair(torch.from_numpy(it.degraded), speaker_embedding=emb)))
    model.train(was_training)
    return score(items, estimates, metrics)


def evaluate_input(items: list[DevItem], metrics: list | None = None) -> dict:
    """Scores of the untouched (damaged) input: the bar a model must clear."""
    return score(items, [it.degraded for it in items], metrics)


def dev_reference_embeddings(args: RecipeArguments) -> dict[str, torch.Tensor]:
    """One reference embedding per dev speaker: the mean of the embeddings of that speaker's last
    three utterances (a "reference clip" of the same voice, as ``msar repair --speaker-ref``)."""
    from msar_hf.speaker import SpeakerEncoder
    from recipes.data import load_clean

    pool = SpeechPool(args.eval.speech, "eval.speech")
    encoder = SpeakerEncoder.from_pretrained(args.data.speaker_encoder)
    refs = {}
    for speaker in pool.speakers:
        utts = [u for u in pool.utterances if u.speaker == speaker][-3:]
        emb = encoder.embed_batch([torch.from_numpy(load_clean(u.path)) for u in utts]).embeddings
        refs[speaker] = torch.nn.functional.normalize(emb.mean(0), dim=0)
    return refs


def load_model(path: str | Path):
    """A ``save_pretrained`` folder, a Hub id, or a training checkpoint (``<output_dir>/checkpoints/
    checkpoint-<step>``: accelerate's state, no config.json), which is rebuilt from the run's
    ``recipe_args.json`` with the checkpoint's weights. Raises :class:`MsarError` for anything else."""
    from msar_hf.errors import MsarError
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel
    from msar_hf.repair import load_repair_model

    folder = Path(path)
    weights = folder / "pytorch_model.bin"
    if folder.is_dir() and not (folder / "config.json").is_file() and weights.is_file():
        run_args = folder.parent.parent / "recipe_args.json"
        if not run_args.is_file():
            raise MsarError(f"{folder}: a checkpoint without its run's {run_args.name} (expected in {run_args.parent})")
        import json

        recipe = json.loads(run_args.read_text())["model"]
        if recipe.get("init_from"):
            config = MsarAutoencoderConfig.from_pretrained(recipe["init_from"], **recipe["config"])
        else:
            config = MsarAutoencoderConfig(**recipe["config"])
        model = MsarAutoencoderModel(config)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return model.eval()
    return load_repair_model(str(path), "cpu")


def main(argv: list[str] | None = None) -> int:
    """Score a saved model on the dev set beside the untouched input, per damage type.

        python recipes/eval.py --model msar_hf/pretrained/repair --config recipes/configs/autoencoder.yaml \
            --json msar_hf/pretrained/repair/eval_results.json
    """
    import argparse
    import json
    import time

    from recipes.args import load_arguments

    parser = argparse.ArgumentParser(description="Evaluate a repair model on the fixed dev set.")
    parser.add_argument("--model", required=True,
                        help="save_pretrained folder, Hub id, or a training checkpoint (runs/X/checkpoints/checkpoint-N)")
    parser.add_argument("--config", default="recipes/configs/autoencoder.yaml", help="recipe YAML (its eval section)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="eval.KEY=VALUE")
    parser.add_argument("--strength", default=None, help="0..1 or 'auto' (default: the model's default_strength)")
    parser.add_argument("--json", default=None, help="write the scores here")
    ns = parser.parse_args(argv)
    from msar_hf.errors import MsarError
    from msar_hf.repair import parse_strength

    try:
        ns.strength = parse_strength(ns.strength)
    except MsarError as err:
        parser.error(str(err))
    torch.set_num_threads(1)
    from recipes.args import repo_path

    args = load_arguments(repo_path(ns.config), ns.overrides)
    try:
        model = load_model(ns.model)
        items = build_dev_set(args.eval)
    except MsarError as err:
        raise SystemExit(f"eval.py: {err}") from None
    reference = evaluate_input(items, args.eval.metrics)
    began = time.time()
    if ns.strength is not None:
        original = model.repair
        model.repair = lambda w, **kw: original(w, strength=ns.strength, **kw)  # type: ignore[method-assign]
    scored = evaluate_model(model, items, args.eval.metrics)
    seconds = time.time() - began
    types = list(reference["per_type"])
    shown = [m for m in ("pesq_wb", "q", "stoi", "si_sdr") if m in scored["overall"]] or sorted(scored["overall"])
    lines = ["| type | " + " | ".join(f"{m} in -> out" for m in shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for t in types + ["overall"]:
        a = reference["overall"] if t == "overall" else reference["per_type"][t]
        b = scored["overall"] if t == "overall" else scored["per_type"][t]
        lines.append(f"| {t} | " + " | ".join(f"{a[m]:.3f} -> {b[m]:.3f}" for m in shown) + " |")
    print("\n".join(lines))
    if ns.json:
        strength = ns.strength if ns.strength is not None else getattr(model.config, "default_strength", 1.0)
        payload = {"model": ns.model, "strength": strength, "items": len(items),
                   "dev_set": json.loads(json.dumps(args.eval.__dict__)), "input": reference, "model_scores": scored,
                   "eval_seconds_incl_metrics": round(seconds, 1)}
        Path(ns.json).write_text(json.dumps(payload, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
