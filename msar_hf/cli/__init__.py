"""The ``msar`` command line (typer).

The CLI only parses arguments and calls the same public functions a Python user calls. Each
command lives in its own module with a ``register(app)`` function; heavy imports (torch models,
datasets) happen inside the command so ``msar --help`` stays fast.

Errors a user can cause (:class:`msar_hf.errors.MsarError`) become one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import atexit
import importlib
import os
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
    "stream",
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


def run() -> None:
    """The ``msar`` command and ``python -m msar_hf.cli``: :func:`main`, then an immediate exit.

    When main returns, every output is written, closed and renamed, so the interpreter's teardown
    has nothing of ours to do; but unloading torch's libraries touches ~130 MB more of their pages
    (peak RSS of ``python -c "import torch"``: 649 MB, 521 MB ending in ``os._exit``), which put a
    one-hour repair past its 1 GB budget when measured from outside (``/usr/bin/time -v``). An
    unexpected exception (an msar bug) still ends the normal way, with its traceback.
    """
    from . import lean_imports

    lean_imports.OWN_PROCESS = True  # the process ends with this command: it may leave GPU-only modules out
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):  # sys.exit("message"), as Python does it
        print(code, file=sys.stderr)
        code = 1
    # the atexit handlers still run (logging.shutdown among them): os._exit would skip them with
    # the teardown, yet they free no libraries and cost no memory (peak RSS unchanged), and some
    # matter: gradio kills a `serve --share` tunnel's process there, tempfile and weakref.finalize
    # remove what they hold, tqdm stops its monitor thread
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            pass
    os._exit(code or 0)

