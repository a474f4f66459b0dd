"""``msar serve``: the web app (repair and synthesis) on this machine."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    share: Annotated[bool, typer.Option("--share/--no-share", help="Also open a public gradio.live link (needs network).")] = False,
    repair_model: Annotated[str | None, typer.Option("--repair-model", help="Repair model folder or Hub id (default: shipped).")] = None,
    synthesis_model: Annotated[str | None, typer.Option("--synthesis-model", help="Synthesis model folder (default: shipped).")] = None,
    max_file_size: Annotated[str | None, typer.Option("--max-file-size", help="Largest upload, e.g. 20mb.")] = None,
    max_duration: Annotated[float | None, typer.Option("--max-duration", help="Longest recording in seconds.")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Requests computed at once.")] = None,
    queue_size: Annotated[int | None, typer.Option("--queue-size", help="Requests allowed to wait.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Per-request time limit in seconds.")] = None,
    repair: Annotated[bool, typer.Option("--repair/--no-repair", help="Serve the Repair tab.")] = True,
    synthesis: Annotated[bool, typer.Option("--synthesis/--no-synthesis", help="Serve the Synthesize tab.")] = True,
) -> None:
    """Serve the msar page: upload or record audio to repair it, or type text to synthesize it.

    Limits default to the MSAR_APP_* environment variables, then to msar_hf.app.AppConfig.
    """
    from ..app import AppConfig, build_app, launch_app

    config = AppConfig.from_env(
        repair_model=repair_model, synthesis_model=synthesis_model, max_file_size=max_file_size,
        max_duration_s=max_duration, concurrency_limit=concurrency, queue_size=queue_size,
        request_timeout_s=timeout,
    )
    typer.echo(f"msar serve: loading models, then serving on http://{host}:{port} (Ctrl+C stops)")
    app = build_app(config, repair=repair, synthesis=synthesis)
    for note in app.notes:
        typer.echo(f"msar serve: {note}", err=True)
    launch_app(app=app, host=host, port=port, share=share, block=True)
