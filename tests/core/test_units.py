"""One unit system (KiB, MiB, GiB, TiB; ``N B`` below 1 KiB) and rates over a window."""

from __future__ import annotations

import pytest

from lineage.core.progress import RateWindow
from lineage.core.units import PENDING, format_rate, format_size, rate

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"),
    (1, "1 B"),
    (1023, "1023 B"),
    (1024, "1 KiB"),
    (1536, "1.5 KiB"),
    (int(1.5 * MiB), "1.5 MiB"),
    (int(3.2 * GiB), "3.2 GiB"),
    (2 * TiB, "2 TiB"),
    (MiB - 1, "1 MiB"),           # rounds up into the next unit, never "1024 KiB"
    (int(1023.9 * KiB), "1023.9 KiB"),
    (500 * MiB, "500 MiB"),
    (1.5, "2 B"),
])
def test_format_size_exact_strings(n, text):
    assert format_size(n) == text


def test_format_size_never_uses_decimal_labels():
    for n in (999, 1000, 10 ** 6, 10 ** 9, 10 ** 12, 5 * 10 ** 15):
        label = format_size(n).split()[1]
        assert label in {"B", "KiB", "MiB", "GiB", "TiB", "PiB"}, (n, label)


def test_format_rate():
    assert format_rate(int(2.5 * MiB)) == "2.5 MiB/s"
    assert format_rate(100) == "100 B/s"
    assert format_rate(None) == PENDING == "…"


@pytest.mark.parametrize("elapsed", [0.0, -1.0, 1e-9, 0.01, 0.999])
def test_rate_is_none_below_the_window(elapsed):
    # 27 GB in 10 ms of cached files is not a transfer rate
    assert rate(27 * GiB, elapsed) is None


def test_rate_over_enough_time():
    assert rate(10 * MiB, 2.0) == 5 * MiB
    assert rate(10 * MiB, 0.5, min_elapsed=0.5) == 20 * MiB


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_rate_window_reports_nothing_before_min_elapsed():
    clock = Clock()
    w = RateWindow(window=5.0, min_elapsed=1.0, clock=clock)
    clock.t += 0.01
    w.add(27 * GiB)  # a burst of cached files
    assert w.rate() is None and w.remaining(27 * GiB, 30 * GiB) is None
    clock.t += 0.98
    assert w.rate() is None
    clock.t += 0.01  # one second after the start
    assert w.rate() == pytest.approx(27 * GiB)


def test_rate_window_slides_past_an_early_burst():
    clock = Clock()
    w = RateWindow(window=5.0, min_elapsed=1.0, clock=clock)
    clock.t += 0.01
    w.add(10 * GiB)  # burst at the start
    done = 10 * GiB
    for _ in range(100):  # then 1 MiB every 0.1 s: 10 MiB/s
        clock.t += 0.1
        done += MiB
        w.add(done)
    assert w.rate() == pytest.approx(10 * MiB, rel=0.05)
    assert format_rate(w.rate()).endswith(" MiB/s")
    assert w.remaining(done, done + 100 * MiB) == pytest.approx(10.0, rel=0.05)


def test_rate_window_falls_when_the_transfer_stalls():
    clock = Clock()
    w = RateWindow(window=2.0, min_elapsed=1.0, clock=clock)
    clock.t += 1.0
    w.add(10 * MiB)
    assert w.rate() == pytest.approx(10 * MiB)
    clock.t += 10.0  # nothing moves
    assert w.rate() < 2 * MiB


def test_rate_window_must_cover_min_elapsed():
    with pytest.raises(ValueError):
        RateWindow(window=0.5, min_elapsed=1.0)
