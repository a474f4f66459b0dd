"""The ``msar`` command line (typer).

The CLI only parses arguments and calls the same public functions a Python user calls. Each
command lives in its own module with a ``register(app)`` function; heavy imports (torch models,
datasets) happen inside the command so ``msar --help`` stays fast.

Errors a user can cause (:class:`msar_hf.errors.MsarError`) become one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import signal
import sys

import typer

from ..errors import MsarError

app = typer.Typer(
    name="msar",
    help="MultiSpeaker Audio Repair: repair damaged speech, synthesize speech in many voices, measure quality.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"msar {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """msar: repair damaged speech, synthesize speech in many voices, measure quality."""


# One module per command family; each defines register(app).
_COMMAND_MODULES = [
    "info",
    "push",
    "serve",
    "repair",  # repair + export
    "evaluate",
    "synthesize",  # synthesize + voices
    "embed",
]

for _name in _COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(app)


def _terminated(signum, frame) -> None:
    # SIGTERM's default action ends the process without unwinding, which would leave a streamed
    # output's temporary file behind (kill, a scheduler's time limit, torchrun stopping its ranks);
    # as an exception it unwinds like Ctrl-C, and every sink removes its temporary file.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point with the user-error boundary."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        app(args=argv, standalone_mode=True)
    except MsarError as exc:
        typer.echo(f"msar: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("msar: interrupted", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
