"""One meaning per short flag, in every command (docs/cli.md, the flag table).

``SHORT_FLAGS`` is the table: a short flag stands for the same long option wherever it
appears (tests/cli/test_short_flags.py walks every command and checks it). A short flag
that used to mean something else in one command keeps working there for one release,
as a hidden option that warns on stderr (``deprecated``); ``DEPRECATED`` lists them.
"""

from __future__ import annotations

from typing import Any

import typer

#: short flag -> the long option it stands for, in every command that takes it
SHORT_FLAGS: dict[str, str] = {
    "-C": "--repo",
    "-V": "--version",
    "-F": "--format",
    "-f": "--force",
    "-h": "--help",
    "-i": "--input",
    "-k": "--kind",
    "-m": "--message",
    "-n": "--max-count",
    "-o": "--output",
    "-p": "--param",
    "-r": "--remote",
    "-s": "--split",
    "-q": "--quiet",
    "-v": "--verbose",
    "-c": "--check",
    "-d": "--default",
}

#: (command path, old short flag) -> the long option it meant there, until the next release
DEPRECATED: dict[tuple[str, str], str] = {
    ("lineage audit", "-f"): "--format",
    ("lineage export prov", "-f"): "--format",
    ("lineage provenance", "-f"): "--format",
    ("lineage waivers", "-f"): "--format",
    ("lineage checkout", "-p"): "--path",
    ("lineage fetch", "-p"): "--path",
    ("lineage pull", "-p"): "--path",
    ("lineage snapshot", "-n"): "--name",
    ("lineage gc", "-n"): "--dry-run",
    ("lineage audit", "-r"): "--rule",
}


def deprecated(short: str, long: str, *, flag: bool = False, multiple: bool = False) -> Any:
    """A hidden option for ``short``, which meant ``long`` in this command before the
    short flags were made consistent; it still works, with a warning on stderr."""

    def warn(value: Any) -> Any:
        if value:
            from lineage.cli import output

            now = SHORT_FLAGS.get(short)
            output.warning(f"{short} for {long} is deprecated and will be removed; use {long}"
                           + (f" ({short} means {now} in every command)" if now else ""))
        return value

    default: Any = False if flag else ([] if multiple else None)
    return typer.Option(default, short, hidden=True, callback=warn, show_default=False)
