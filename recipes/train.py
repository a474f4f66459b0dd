#!/usr/bin/env python
"""One Accelerate training loop for every msar model; the config selects the model.

    accelerate launch recipes/train.py --config recipes/configs/autoencoder.yaml
    accelerate launch --multi_gpu --num_processes 2 recipes/train.py --config ... # cpu: true -> gloo
    accelerate launch recipes/train.py --config ... --resume            # continue exactly

Checkpoints (``accelerator.save_state``: model, optimizer, scheduler, RNG states) land in
``<output_dir>/checkpoints/checkpoint-<step>``; the data stream is a pure function of the step
(recipes/data.py), so a resumed run reproduces the uninterrupted one. The final model is written
with ``save_pretrained`` (plus its feature extractor and remote-code files) to ``<output_dir>/final``.

Model-specific parts live behind :data:`MODEL_REGISTRY`: a new model adds one :class:`ModelSpec`.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # repo root: `recipes` and `msar_hf`

import torch

from recipes.args import RecipeArguments, parse_cli


# ----------------------------------------------------------------------------------------------
# model registry
# ----------------------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    """How the loop builds, feeds, validates and saves one kind of model."""

    build: Callable[[RecipeArguments], torch.nn.Module]
    batches: Callable[[RecipeArguments, int, int, int], torch.utils.data.Dataset]  # (args, seed, rank, world)
    validate: Callable[[torch.nn.Module, RecipeArguments, dict], dict] | None
    save: Callable[[torch.nn.Module, RecipeArguments, Path], None]


def _build_autoencoder(args: RecipeArguments):
    import inspect

    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    known = set(inspect.signature(MsarAutoencoderConfig.__init__).parameters) - {"self", "kwargs"}
    unknown = sorted(set(args.model.config) - known)
    if unknown:  # a typo would otherwise train the default and write the stray key into config.json
        raise SystemExit(f"model.config: unknown key {unknown[0]!r} (MsarAutoencoderConfig takes: {', '.join(sorted(known))})")

    if args.model.init_from:
        return MsarAutoencoderModel.from_pretrained(args.model.init_from, ignore_mismatched_sizes=args.model.init_partial,
                                                    **args.model.config)
    return MsarAutoencoderModel(MsarAutoencoderConfig(**args.model.config))


def _autoencoder_batches(args: RecipeArguments, seed: int, rank: int, world: int):
    from recipes.data import PairBatches, SpeakerTable, SpeechPool

    table = None
    if args.data.speaker_conditioning:
        table = SpeakerTable(SpeechPool(args.data.speech), args.data.speaker_encoder, args.data.cache_dir,
                             progress=rank == 0)
    return PairBatches(args.data, seed, rank, world, speaker_table=table)


def _autoencoder_validate(model, args: RecipeArguments, state: dict) -> dict:
    from recipes.eval import build_dev_set, dev_reference_embeddings, evaluate_model

    if "dev_items" not in state:
        state["dev_items"] = build_dev_set(args.eval)
        if args.data.speaker_conditioning:
            state["dev_speakers"] = dev_reference_embeddings(args)
    result = evaluate_model(model, state["dev_items"], args.eval.metrics, state.get("dev_speakers"))
    return result["overall"]


def training_sets(args: RecipeArguments) -> list:
    """The corpora this run trained on (speech entries, noise, rooms, babble talkers), for the card.

    A folder under ``$MSAR_DATA_ROOT`` that msar ships is named with its known licence; any other
    folder with the licences its ``metadata.csv`` lists (``license`` column), else "not stated"."""
    import csv

    from msar_hf.hub import MSAR_TRAINING_SETS, TrainingSet
    from recipes.args import DATA_ROOT_ENV, DEFAULT_DATA_ROOT, expand_path
    from recipes.data import degradation_config

    known = {t.name: t for t in MSAR_TRAINING_SETS}
    root = Path(os.environ.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)).resolve()
    damage = degradation_config(args.data)
    folders = [(e.get("dir") or e.get("dataset"), "speech") for e in args.data.speech]
    dataset_split = {e["dataset"]: str(e.get("split", "train")) for e in args.data.speech if "dataset" in e}
    folders += [(getattr(damage, key), use) for key, use in
                (("noise_dir", "noise"), ("rir_dir", "rooms"), ("speech_dir", "babble talkers"))]
    out = []
    for value, use in folders:
        if not value:
            continue
        folder = expand_path(value).resolve()
        name = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
        if name in known:
            out.append(known[name])
            continue
        licences: set[str] = set()
        meta = folder / "metadata.csv"
        if value in dataset_split:  # a saved dataset (dataset_scripts/ writes a license column)
            from recipes.data import _saved_split

            data = _saved_split(str(folder), dataset_split[value])
            licences = set(data.unique("license")) - {None, ""} if "license" in data.column_names else set()
        elif meta.is_file():
            with meta.open(newline="") as fh:
                licences = {row["license"] for row in csv.DictReader(fh) if row.get("license")}
        out.append(TrainingSet(name, ", ".join(sorted(licences)) or "not stated (check before publishing)",
                               "your data", use))
    return out


def _autoencoder_save(model, args: RecipeArguments, folder: Path) -> None:
    from msar_hf.hub import write_model_card
    from msar_hf.models.autoencoder import MsarAutoencoderFeatureExtractor

    model.save_pretrained(folder)
    MsarAutoencoderFeatureExtractor(sampling_rate=model.config.sampling_rate).save_pretrained(folder)
    # The card names this run's data and their licences: without one, `msar push` generated a card
    # listing msar's own shared corpora, whatever the model was trained on.
    write_model_card(folder, str(folder), training_sets=training_sets(args),
                     description=(f"Trained with `recipes/train.py` ({args.training.max_steps} steps); "
                                  f"the run's settings are in `{folder.parent / 'recipe_args.json'}`."))


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "autoencoder": ModelSpec(_build_autoencoder, _autoencoder_batches, _autoencoder_validate, _autoencoder_save),
}


# ----------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------
def _checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    folder = output_dir / "checkpoints"
    found = []
    for p in folder.glob("checkpoint-*") if folder.is_dir() else []:
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and (p / "done").exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def _resume_point(resume: str | None, output_dir: Path) -> tuple[int, Path | None]:
    if resume is None:
        return 0, None
    if resume == "latest":
        found = _checkpoints(output_dir)
        if not found:
            return 0, None  # nothing to resume yet: start from scratch (first launch of a resumable job)
        return found[-1]
    path = Path(resume)
    m = re.fullmatch(r"checkpoint-(\d+)", path.name)
    if not (m and path.is_dir()):
        raise SystemExit(f"{path}: not a checkpoint folder (checkpoint-<step>)")
    return int(m.group(1)), path


def _save_checkpoint(accelerator, output_dir: Path, step: int, keep: int, train_seconds: float) -> None:
    path = output_dir / "checkpoints" / f"checkpoint-{step}"
    # Writing over an existing checkpoint (a finished run relaunched with --resume, or a resume from
    # an older checkpoint): its "done" goes first, or a crash mid-write would leave a half-written
    # folder that --resume takes as complete.
    if accelerator.is_main_process:
        (path / "done").unlink(missing_ok=True)
    accelerator.wait_for_everyone()
    # torch.save, not safetensors: on a GPU cuDNN packs LSTM weights into one shared buffer, and
    # accelerate's safetensors path drops shared tensors (each GPU checkpoint lost every LSTM weight).
    accelerator.save_state(str(path), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (path / "progress.json").write_text(json.dumps({"step": step, "train_seconds": round(train_seconds, 1)}))
        (path / "done").write_text(str(step))  # a crash mid-save never leaves a "latest" checkpoint
        for _, old in _checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _lr_lambda(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    def fn(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return fn


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------
def train(args: RecipeArguments, resume: str | None = None) -> dict:
    """Train per ``args``; returns ``{"step", "loss", "final_dir" (when finished), "losses"}``."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed

    t = args.training
    if t.num_threads:
        torch.set_num_threads(int(t.num_threads))
    output_dir = Path(t.output_dir)
    spec = MODEL_REGISTRY.get(args.model.type)
    if spec is None:
        raise SystemExit(f"model.type {args.model.type!r} unknown (known: {sorted(MODEL_REGISTRY)})")

    if t.eval_every and spec.validate is not None and args.model.type == "autoencoder":
        from msar_hf.data.degradations.degrader import DAMAGE_ORDER
        from recipes.data import read_corpus

        for entry in args.eval.speech:  # a bad dev set fails now, before anything of the run is written
            read_corpus(entry, "eval.speech")
        unknown = sorted(set(args.eval.types) - {"clean", "mixed", *DAMAGE_ORDER})
        if unknown:
            raise SystemExit(f"eval.types: unknown type {unknown[0]!r} (known: clean, mixed, {', '.join(DAMAGE_ORDER)})")
    if t.mixed_precision not in (None, "no", "fp16", "bf16", "fp8"):  # accelerate's own error is a traceback
        raise SystemExit(f"training.mixed_precision: {t.mixed_precision!r} is not one of no, bf16, fp16, fp8")
    # No CUDA but several processes (`--multi_gpu` on a CPU host): gloo ranks, as `cpu: true` asks;
    # otherwise each process would run alone, all writing the same output_dir.
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator = Accelerator(
        cpu=t.cpu or (several and not torch.cuda.is_available()),
        mixed_precision=t.mixed_precision,
        # Each rank draws its own pairs (the loader is not sharded through accelerate), so one
        # optimizer step is one step of the schedule; accelerate's default would step it once per
        # process (warm-up and decay N times too fast on N ranks).
        step_scheduler_with_optimizer=False,
        log_with=t.report_to if t.report_to else None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    set_seed(t.seed)
    model = spec.build(args)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, betas=tuple(t.adam_betas),
                                  weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(t.warmup_steps, t.max_steps, t.min_lr_ratio))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    start_step, checkpoint = _resume_point(resume, output_dir)
    earlier_seconds = 0.0  # wall time of earlier launches, so a resumed run reports its total
    if checkpoint is not None:
        try:
            accelerator.load_state(str(checkpoint))
        except RuntimeError as err:  # e.g. a checkpoint of another model size than this config's
            first = str(err).strip().splitlines()[0]
            raise SystemExit(f"{checkpoint}: does not fit the model this config builds ({first})") from None
        accelerator.print(f"resumed from {checkpoint} (step {start_step})")
        progress_file = checkpoint / "progress.json"
        if progress_file.exists():
            earlier_seconds = float(json.loads(progress_file.read_text()).get("train_seconds", 0.0))
    if start_step >= t.max_steps and (output_dir / "final").is_dir():
        # a finished run relaunched with --resume: nothing to train; re-saving would rewrite its
        # summary with no loss and its final folder for nothing
        accelerator.print(f"{output_dir}: already trained to step {start_step} of {t.max_steps}; "
                          f"the model is in {output_dir / 'final'} (raise training.max_steps to go on)")
        return {"step": start_step, "loss": None, "losses": [], "final_dir": str(output_dir / "final")}
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "recipe_args.json").write_text(json.dumps(args.to_dict(), indent=2))
    if t.report_to:
        flat = {f"{s}.{k}": (v if isinstance(v, (int, float, str, bool)) else json.dumps(v))
                for s, d in args.to_dict().items() for k, v in d.items()}
        accelerator.init_trackers("msar", config=flat)

    dataset = spec.batches(args, t.seed, accelerator.process_index, accelerator.num_processes)
    from recipes.data import batch_loader

    loader = batch_loader(dataset, start_step, t.max_steps, args.data.num_workers)
    progress = None
    if t.progress and accelerator.is_local_main_process:
        from tqdm.auto import tqdm

        progress = tqdm(total=t.max_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)

    began = time.time()
    val_state: dict = {}
    losses: list[float] = []
    step = start_step
    stopped_early = False
    model.train()
    for batch in loader:
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        out = model(**batch)
        accelerator.backward(out.loss)
        grad_norm = None
        if t.max_grad_norm:  # the norm before clipping, logged: how often (and how hard) clipping bites
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), t.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss = accelerator.reduce(out.loss.detach(), reduction="mean").item()
        losses.append(loss)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4f}")
        if step % t.log_every == 0 or step == t.max_steps:
            logs = {"train/loss": loss, "train/lr": scheduler.get_last_lr()[0]}
            logs.update({f"train/{k}": float(v.detach()) for k, v in (out.loss_terms or {}).items()})
            if grad_norm is not None:
                logs["train/grad_norm"] = float(grad_norm)
            accelerator.log(logs, step=step)
            if progress is None:
                accelerator.print(f"step {step} loss {loss:.4f} lr {logs['train/lr']:.2e} "
                                  f"({time.time() - began:.0f}s)", flush=True)
        if t.checkpoint_every and step % t.checkpoint_every == 0 and step < t.max_steps:
            _save_checkpoint(accelerator, output_dir, step, t.keep_checkpoints, earlier_seconds + time.time() - began)
        if t.eval_every and step % t.eval_every == 0 and spec.validate is not None:
            if accelerator.is_main_process:
                scores = spec.validate(accelerator.unwrap_model(model), args, val_state)
                accelerator.log({f"val/{k}": v for k, v in scores.items()}, step=step)
                accelerator.print(f"step {step} validation: " + ", ".join(f"{k}={v:.3f}" for k, v in scores.items()), flush=True)
            accelerator.wait_for_everyone()
        out_of_time = bool(t.max_minutes) and (time.time() - began) / 60 > t.max_minutes
        out_of_steps = bool(t.stop_after_steps) and step - start_step >= t.stop_after_steps
        if (out_of_time or out_of_steps) and step < t.max_steps:
            _save_checkpoint(accelerator, output_dir, step, t.keep_checkpoints, earlier_seconds + time.time() - began)
            accelerator.print(f"stopping at step {step} ({'time' if out_of_time else 'step'} budget of this "
                              "launch); continue with --resume")
            stopped_early = True
            break
    if progress is not None:
        progress.close()

    result = {"step": step, "loss": losses[-1] if losses else None, "losses": losses}
    if not stopped_early and step >= t.max_steps:
        _save_checkpoint(accelerator, output_dir, step, t.keep_checkpoints, earlier_seconds + time.time() - began)
        if accelerator.is_main_process:
            final = output_dir / "final"
            spec.save(accelerator.unwrap_model(model), args, final)
            result["final_dir"] = str(final)
            summary = {"steps": step, "train_seconds": round(earlier_seconds + time.time() - began, 1),
                       "processes": accelerator.num_processes, "final_loss": result["loss"]}
            (output_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
            accelerator.print(f"saved {final}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


# Recipes with their own config format, chosen by a top-level ``recipe:`` key in the YAML, so that
# ``accelerate launch recipes/train.py --config recipes/configs/<any>.yaml`` trains every msar model.
OTHER_RECIPES = {"multispeaker": "recipes.train_multispeaker", "speaker_encoder": "recipes.train_speaker_encoder"}


def _other_recipe(argv: list[str]) -> str | None:
    import argparse

    import yaml

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config")
    config = parser.parse_known_args(argv)[0].config
    if not config or not Path(config).is_file():
        return None
    recipe = (yaml.safe_load(Path(config).read_text()) or {}).get("recipe")
    if recipe is not None and recipe not in OTHER_RECIPES:
        raise SystemExit(f"{config}: unknown recipe {recipe!r} (known: {sorted(OTHER_RECIPES)})")
    return recipe


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    recipe = _other_recipe(argv)
    if recipe is not None:  # e.g. --config recipes/configs/multispeaker.yaml [--stage acoustic]
        import importlib

        sys.exit(importlib.import_module(OTHER_RECIPES[recipe]).main(argv))
    args, ns = parse_cli(argv)
    from msar_hf.errors import MsarError

    try:
        result = train(args, ns.resume)
    except MsarError as err:  # a bad config value (degradations, data): one line, not a traceback
        raise SystemExit(f"train.py: {err}") from None
    # One write of one line: every rank prints its result to the same pipe, and print() may split
    # text and newline into two writes that interleave with the other rank's.
    sys.stdout.write(json.dumps({k: v for k, v in result.items() if k != "losses"}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
