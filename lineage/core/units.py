"""One unit system for sizes and rates shown to people: binary units labelled KiB, MiB,
GiB, TiB (1 KiB = 1024 bytes), and bytes below 1 KiB as ``N B``.

Results and JSON keep raw byte counts; only text for people goes through these helpers.

>>> format_size(0), format_size(1023), format_size(1024), format_size(1536 * 1024)
('0 B', '1023 B', '1 KiB', '1.5 MiB')
>>> format_rate(2.5 * 1024 ** 2), format_rate(None)
('2.5 MiB/s', '…')
"""

from __future__ import annotations

__all__ = ["UNITS", "PENDING", "format_rate", "format_size", "rate"]

#: The labels, smallest first; each is 1024 times the one before.
UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

#: What a rate shows while there is not yet enough elapsed time to measure it.
PENDING = "…"


def format_size(n: int | float) -> str:
    """``n`` bytes as text: ``"0 B"``, ``"1023 B"``, ``"1 KiB"``, ``"1.5 MiB"``, ``"3.2 GiB"``.

    One decimal place above 1 KiB, dropped when it is zero; a value that rounds up to
    1024 of a unit is shown in the next unit (``"1 MiB"``, never ``"1024.0 KiB"``).
    """
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1024:
        return f"{sign}{int(round(n))} B"
    value = float(n)
    for unit in UNITS[1:]:
        value /= 1024
        shown = round(value, 1)
        if shown < 1024 or unit == UNITS[-1]:
            text = f"{shown:.1f}"
            if text.endswith(".0"):
                text = text[:-2]
            return f"{sign}{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_rate(bytes_per_s: float | None) -> str:
    """A transfer rate as ``"2.5 MiB/s"``; ``None`` (not measured yet) as ``"…"``."""
    if bytes_per_s is None:
        return PENDING
    return f"{format_size(max(0.0, bytes_per_s))}/s"


def rate(nbytes: int | float, elapsed: float, *, min_elapsed: float = 1.0) -> float | None:
    """Bytes per second, or ``None`` when ``elapsed`` is shorter than ``min_elapsed``.

    A rate from a few milliseconds (a burst of cached files) says nothing about the
    transfer, so none is reported until at least ``min_elapsed`` seconds have passed.
    """
    if elapsed <= 0 or elapsed < min_elapsed:
        return None
    return nbytes / elapsed
