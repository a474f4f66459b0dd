"""Average the weights of fine-tuned runs that share a starting point (a "model soup").

    python recipes/average_weights.py runs/A/final runs/B/final [--weights 0.5 0.5] --out runs/soup

Wortsman et al. (ICML 2022, "Model soups") showed that runs fine-tuned from one set of weights
land in one basin, where their average often scores better than either run. Here it joins two
fine-tunes of the shipped stage 6 that moved along the PESQ / Q trade-off in opposite directions
(autoencoder_cpu_pesq2.yaml and autoencoder_cpu_pesq_sisdr_s6.yaml; numbers in the README). The
output folder is a complete ``save_pretrained`` folder: the first model's config and remote code,
with the averaged weights. Every floating-point tensor is averaged; integer buffers (counters) are
taken from the first model. Written by hand because it is a few lines of arithmetic over
``state_dict`` that no library we use exposes for transformers folders.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `msar_hf` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch


def average_state_dicts(state_dicts: list[dict[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """The weighted average of same-shaped state dicts (weights are normalised to sum to 1)."""
    if len(state_dicts) != len(weights) or not state_dicts:
        raise ValueError(f"need one weight per model, got {len(weights)} weights for {len(state_dicts)} models")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be >= 0 and not all 0, got {weights}")
    total = float(sum(weights))
    first = state_dicts[0]
    for i, other in enumerate(state_dicts[1:], start=2):
        if other.keys() != first.keys():
            missing = sorted(set(first) ^ set(other))[:5]
            raise ValueError(f"model {i} has different parameters from model 1 (e.g. {missing}): not one architecture")
        for name, tensor in first.items():
            if other[name].shape != tensor.shape:
                raise ValueError(f"model {i}: {name} has shape {tuple(other[name].shape)}, model 1 {tuple(tensor.shape)}")
    averaged = {}
    for name, tensor in first.items():
        if tensor.is_floating_point():
            averaged[name] = sum((w / total) * sd[name].float() for w, sd in zip(weights, state_dicts)).to(tensor.dtype)
        else:
            averaged[name] = tensor.clone()
    return averaged


def average_models(model_dirs: list[str], out: str, weights: list[float] | None = None):
    """Load each ``save_pretrained`` folder, average the weights, save to ``out``; returns the model."""
    from transformers import AutoModel

    import msar_hf  # noqa: F401  (registers msar's models with the Auto classes)

    out_dir = Path(out).resolve()
    for folder in model_dirs:
        if not (Path(folder) / "config.json").is_file():
            raise FileNotFoundError(f"{folder}: not a save_pretrained folder (no config.json)")
        if Path(folder).resolve() == out_dir:
            raise ValueError(f"{out}: the output folder is one of the models to average; write it elsewhere")
    weights = list(weights) if weights is not None else [1.0] * len(model_dirs)
    models = [AutoModel.from_pretrained(folder) for folder in model_dirs]
    averaged = average_state_dicts([m.state_dict() for m in models], weights)
    soup = models[0]
    soup.load_state_dict(averaged)
    # Written beside the destination and swapped in, so an interrupted run leaves no half-written model.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        soup.save_pretrained(staging)
        previous = out_dir.with_name(f"{staging.name}.previous")
        if out_dir.exists():
            out_dir.rename(previous)
        staging.rename(out_dir)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return soup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="save_pretrained folders of runs from one starting point")
    parser.add_argument("--weights", type=float, nargs="*", default=None, help="one per model (default: equal)")
    parser.add_argument("--out", required=True, help="folder to write the averaged model to")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("give two or more models to average")
    try:
        average_models(args.models, args.out, args.weights)
    except (ValueError, FileNotFoundError) as error:
        print(f"average_weights: {error}", file=sys.stderr)
        return 2
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
