"""The typer application and the one place that turns errors into exit codes.

Exit codes: 0 success, 1 findings or failed checks (audit, verify), 2 bad usage or
bad input (one red line on stderr, never a traceback), 130 interrupted.
Each command group lives in its own module with a ``register(app)`` function.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from lineage.errors import LineageError

app = typer.Typer(
    name="lineage",
    help="Content-addressed data snapshots, run lineage, and leakage audits for ML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Modules whose ``register(app)`` adds commands, in help order.
COMMAND_MODULES = [
    "lineage.cli.core",
    "lineage.cli.runs",
    "lineage.cli.hooks",
    "lineage.cli.remotes",
    "lineage.cli.interop",
    "lineage.cli.audit",
]

_state: dict[str, str | None] = {"repo": None}


@app.callback()
def _root(
    repo: str = typer.Option(None, "-C", "--repo", help="Run as if started in this folder.",
                             metavar="PATH"),
) -> None:
    if repo is not None:
        if not os.path.isdir(repo):
            raise LineageError(f"not a folder: {repo}")
        os.chdir(repo)


def open_repo():
    """The repository for the current folder (commands call this, never Repo directly)."""
    from lineage.repo import Repo

    return Repo.find()


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_registered = False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lineage`` console script."""
    from lineage.cli import output

    ce = _click_exceptions()

    global _registered
    if not _registered:
        _register()
        _registered = True
    try:
        rv = app(args=argv, prog_name="lineage", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except ce.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) and exc.ctx.parent else ""
        lines = exc.format_message().strip().splitlines()
        if lines:  # a group called without a command has printed its help already
            output.error(lines[-1] + hint)
        code = 2
    except (typer.Abort, getattr(ce, "Abort", typer.Abort)):
        output.error("interrupted")
        code = 130
    except KeyboardInterrupt:
        output.error("interrupted")
        code = 130
    except LineageError as exc:
        output.error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        code = exc.exit_code
    except BrokenPipeError:
        code = 0
    except ce.ClickException as exc:
        output.error(exc.format_message())
        code = 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks for users
        if os.environ.get("LINEAGE_DEBUG"):
            raise
        output.error(f"unexpected {type(exc).__name__}: {exc} (set LINEAGE_DEBUG=1 for details)")
        code = 2
    sys.stdout.flush()
    return code


def _click_exceptions():
    """typer vendors click from 0.25 on; older versions use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover
        from click import exceptions
    return exceptions


def run() -> None:
    sys.exit(main())
