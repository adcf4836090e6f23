"""The typer application, the entry point of ``lineage``.

Exit codes: 0 success, 1 findings or failed checks (audit, verify), 2 bad usage or
bad input (one red line on stderr, never a traceback), 130 interrupted. Errors become
exit codes through ``lineage.errors.guarded``, the mapping ``lineage-hook`` shares;
only click's own exceptions (usage, abort) are turned into codes here.
Each command group lives in its own module with a ``register(app)`` function.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import TYPE_CHECKING

import typer

from lineage._version import __version__
from lineage.cli import output
from lineage.errors import EXIT_ERROR, EXIT_INTERRUPTED, LineageError, guarded, warnings_through

if TYPE_CHECKING:
    from lineage.repo import Repo


def _plain_help() -> None:
    """Help without rich: typer escapes ``[required]`` and ``[default: ...]`` for rich (and
    imports its rich renderer to do it) whenever rich is installed, even when its help is
    rendered by click. Lineage prints its own output with rich and never typer's."""
    import typer.core

    if getattr(typer.core, "HAS_RICH", False):
        typer.core.HAS_RICH = False


_plain_help()

app = typer.Typer(
    name="lineage",
    help="Content-addressed data snapshots, run lineage, and leakage audits for ML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's own help formatter: typer's rich renderer costs more to import than the
    # rest of a start-up (help text here uses no markup); see _plain_help
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Modules whose ``register(app)`` adds commands (in help order), with the names of the
#: commands and groups each one adds. A command line naming one of them imports only
#: that module: every start of ``lineage status`` or a hook pays for one module, not
#: all of them. (tests/cli/test_app.py checks the names against the modules.)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "lineage.cli.core": ("init", "snapshot", "forget", "status", "log", "show", "diff", "checkout", "verify",
                         "rebuild"),
    "lineage.cli.lock": ("lock",),
    "lineage.cli.runs": ("run", "provenance", "used-by", "query"),
    "lineage.cli.hooks": ("install-hooks",),
    "lineage.cli.remotes": ("remote", "push", "fetch", "pull", "gc"),
    "lineage.cli.interop": ("export", "import"),
    "lineage.cli.audit": ("audit", "rules", "waive", "waivers"),
    "lineage.cli.completion": ("completion",),
    "lineage.cli.compare": ("runs",),
    "lineage.cli.browse": ("browse",),
    "lineage.cli.graph": ("graph",),
    "lineage.cli.report": ("report",),
}

def _print_version(value: bool) -> None:
    if value:
        print(f"lineage {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    repo: str = typer.Option(None, "-C", "--repo", help="Run as if started in this folder.",
                             metavar="PATH"),
    version: bool = typer.Option(False, "-V", "--version", help="Print the version and exit.",
                                 is_eager=True, callback=_print_version),
) -> None:
    if repo is not None:
        if not os.path.isdir(repo):
            raise LineageError(f"not a folder: {repo}")
        os.chdir(repo)


def open_repo() -> Repo:
    """The repository for the current folder (commands call this, never Repo directly)."""
    from lineage.repo import Repo  # on first use: ``--help`` never opens a repository

    return Repo.find()


def _command_name(argv: list[str]) -> str | None:
    """The command a command line names (after the global options), if any."""
    args = iter(argv)
    for arg in args:
        if arg in ("-C", "--repo"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


_registered: set[str] = set()


def _register(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    name = _command_name(args)
    if name is None and ("--version" in args or "-V" in args):
        return  # nothing to import: the root prints the version
    owners = [m for m, names in COMMAND_MODULES.items() if name in names]
    for module in owners or COMMAND_MODULES:  # help, or an unknown command: everything
        if module not in _registered:
            importlib.import_module(module).register(app)
            _registered.add(module)


#: rich modules typer's help renderer imports but never uses here (help is not Markdown,
#: pretty tracebacks are off): (module, the names typer takes from it)
_UNUSED_RICH = (("rich.markdown", ("Markdown",)), ("rich.traceback", ("Traceback",)))


class _StandIn(types.ModuleType):
    """A module that imports the real one on first use of a name it does not hold."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(_real(self.__name__), attr)


def _defer_unused_rich() -> None:
    """Let help print without importing ``rich.markdown`` (and markdown-it) or
    ``rich.traceback``: each stands in as a module whose names import the real module on
    first use. Otherwise nearly half of what ``--help`` costs to start is spent there."""
    for name, names in _UNUSED_RICH:
        if name in sys.modules:
            continue
        stand_in = _StandIn(name, "imported on first use (lineage.cli.app)")
        for attr in names:
            setattr(stand_in, attr, _on_first_use(name, attr))
        sys.modules[name] = stand_in


def _real(name: str):
    """The real module ``name``, replacing its stand-in."""
    if isinstance(sys.modules.get(name), _StandIn):
        del sys.modules[name]
    return importlib.import_module(name)


def _on_first_use(module: str, attr: str):
    class Deferred:
        """Stands for ``module.attr`` until it is called."""

        def __new__(cls, *args, **kwargs):
            return getattr(_real(module), attr)(*args, **kwargs)

    Deferred.__name__ = Deferred.__qualname__ = attr
    return Deferred


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lineage`` console script."""
    warnings_through(output.warning)
    _defer_unused_rich()
    _register(argv)
    if os.environ.get("_LINEAGE_COMPLETE"):  # a shell asks for candidates (cli/completion.py)
        from lineage.cli import completion
        completion.attach(app)
    code = guarded(lambda: _invoke(argv), output.error)
    sys.stdout.flush()
    return code


def _invoke(argv: list[str] | None) -> int:
    """Run the command line; click's own exceptions become exit codes here, the rest
    reach ``guarded``."""
    ce = _click_exceptions()
    try:
        rv = app(args=argv, prog_name="lineage", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except ce.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None:
            sys.stderr.write(exc.ctx.get_help() + "\n")  # a group without a command: its help
            return EXIT_ERROR
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) and exc.ctx.parent else ""
        # click (8.4+) suggests a command on its own; typer adds the same suggestion to the
        # message: say it once
        said = exc.message if getattr(exc, "possibilities", None) and "Did you mean" in exc.message else None
        lines = (said or exc.format_message()).strip().splitlines()
        if lines:  # a group called without a command has printed its help already
            output.error(lines[-1] + hint)
        return EXIT_ERROR
    except (typer.Abort, getattr(ce, "Abort", typer.Abort)):
        output.error("interrupted")
        return EXIT_INTERRUPTED
    except ce.ClickException as exc:
        output.error(exc.format_message())
        return EXIT_ERROR


def _click_exceptions():
    """typer vendors click from 0.25 on; older versions use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover
        from click import exceptions
    return exceptions


def run() -> None:
    sys.exit(main())
