"""``msar push model|dataset|metric|app|cache``: publish to the Hub, or install into the offline cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

push_app = typer.Typer(
    name="push",
    help="Publish a model, a dataset, the msar_quality metric or the app to the Hugging Face Hub.",
    no_args_is_help=True,
)

_REPO = typer.Option("--repo", help="Hub repository id, ORG/NAME.")
_PRIVATE = typer.Option("--private", help="Create the repository as private.")
_TOKEN = typer.Option("--token", help="Hub token (default: HF_TOKEN or the one saved by `hf auth login`).")
_DRY_RUN = typer.Option("--dry-run", help="Check everything and list what would be uploaded; send nothing.")


def register(app: typer.Typer) -> None:
    app.add_typer(push_app, name="push")


@push_app.command("model")
def push_model_cmd(
    path: Annotated[Path, typer.Argument(help="A folder written by save_pretrained (msar_hf/pretrained/repair, ...).")],
    repo: Annotated[str, _REPO],
    private: Annotated[bool, _PRIVATE] = False,
    token: Annotated[str | None, _TOKEN] = None,
    license: Annotated[str, typer.Option("--license", help="Licence id written in a generated card.")] = "apache-2.0",
    dataset: Annotated[list[str] | None, typer.Option("--dataset", help="Hub dataset id it was trained on (repeatable).")] = None,
    dry_run: Annotated[bool, _DRY_RUN] = False,
) -> None:
    """Upload a save_pretrained folder (config with auto_map, remote code, weights, processor).

    The upload's model card is the folder's README.md completed with what the Hub needs and it
    lacks (library, pipeline tag, tags, datasets, the measured results), or a new card when it has
    none; the folder itself is never changed.
    """
    from ..hub import push_model

    result = push_model(path, repo, private, token=token, license=license, datasets=dataset or (), dry_run=dry_run)
    typer.echo(result if dry_run else f"pushed {path} -> {result}")


@push_app.command("dataset")
def push_dataset_cmd(
    path: Annotated[Path, typer.Argument(help="A dataset folder (audiofolder with metadata.csv, or parquet files).")],
    repo: Annotated[str, _REPO],
    private: Annotated[bool, _PRIVATE] = False,
    token: Annotated[str | None, _TOKEN] = None,
    dry_run: Annotated[bool, _DRY_RUN] = False,
) -> None:
    """Upload a dataset folder with a card listing its licences."""
    from ..hub import push_dataset

    result = push_dataset(path, repo, private, token=token, dry_run=dry_run)
    typer.echo(result if dry_run else f"pushed {path} -> {result}")


@push_app.command("metric")
def push_metric_cmd(
    repo: Annotated[str, _REPO],
    path: Annotated[Path | None, typer.Argument(help="The metric module folder (default: the shipped msar_quality).")] = None,
    private: Annotated[bool, _PRIVATE] = False,
    token: Annotated[str | None, _TOKEN] = None,
    dry_run: Annotated[bool, _DRY_RUN] = False,
) -> None:
    """Publish the msar_quality metric as a Gradio Space (module, card, app.py, requirements.txt)."""
    from ..hub import push_metric

    result = push_metric(repo, private, token=token, metric_dir=path, dry_run=dry_run)
    typer.echo(result if dry_run else f"pushed msar_quality -> {result}")


@push_app.command("app")
def push_app_cmd(
    repo: Annotated[str, _REPO],
    private: Annotated[bool, _PRIVATE] = False,
    token: Annotated[str | None, _TOKEN] = None,
    dry_run: Annotated[bool, _DRY_RUN] = False,
) -> None:
    """Publish the msar web app (msar serve) as a Gradio Space, with the msar package and its weights."""
    from ..hub import push_app

    result = push_app(repo, private, token=token, dry_run=dry_run)
    typer.echo(result if dry_run else f"pushed the msar app -> {result}")


@push_app.command("cache")
def push_cache_cmd(
    path: Annotated[Path, typer.Argument(help="A save_pretrained folder or a dataset folder.")],
    repo: Annotated[str, _REPO],
    repo_type: Annotated[str, typer.Option("--type", help="model, dataset or space.")] = "model",
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Default: HF_HUB_CACHE / HF_HOME.")] = None,
) -> None:
    """Install a folder into the local Hugging Face cache as ORG/NAME (for offline machines).

    Afterwards from_pretrained("ORG/NAME") and snapshot_download work with HF_HUB_OFFLINE=1.
    """
    from ..hub import build_cache_snapshot

    snapshot = build_cache_snapshot(path, repo, cache_dir=cache_dir, repo_type=repo_type)
    typer.echo(f"cached {path} as {repo} -> {snapshot}")
