"""Start-up time: ``lineage --help`` and ``lineage status`` side by side with ``dvc --help``.

    python benchmarks/startup.py            # median of 21 runs each
    python benchmarks/startup.py -n 51
    python -X importtime -m lineage.cli --help 2> imports.txt   # where the time goes

Each command runs ``-n`` times, interleaved (lineage --help, lineage status, dvc --help,
then again), so a busy moment of the machine hits all three alike. Reported: the median
wall time and the median CPU time (user + system of the child, which a busy machine
disturbs less). ``lineage status`` runs in a small repository (one snapshot of 20 files)
made in a temporary folder, its output not a terminal (as a script reads it), and again as
on a terminal (``TTY_COMPATIBLE=1``: rich renders the colours). The commands run
with bytecode caches written (``PYTHONDONTWRITEBYTECODE`` is dropped from their
environment), as an installed package has them. Target: both lineage commands no slower
than ``dvc --help``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import git_init, tool


#: the commands' environment: bytecode caches are written (the warm-up runs write them)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or ENV)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=21, help="runs of each command")
    args = ap.parse_args()
    lin, dvc = tool("lineage"), tool("dvc")
    with tempfile.TemporaryDirectory(prefix="lineage-bench-startup-") as tmp:
        work = Path(tmp)
        git_init(work)
        data = work / "data"
        data.mkdir()
        for i in range(20):
            (data / f"f{i:02d}.txt").write_text(f"row {i}\n")
        subprocess.run([lin, "init"], cwd=work, check=True, capture_output=True)
        subprocess.run([lin, "snapshot", "data", "--name", "data"], cwd=work, check=True, capture_output=True)
        commands = {"lineage --help": [lin, "--help"], "lineage status": [lin, "status"],
                    "status (terminal)": [lin, "status"], "dvc --help": [dvc, "--help"]}
        envs = {"status (terminal)": {**ENV, "TTY_COMPATIBLE": "1"}}
        for name, cmd in commands.items():  # warm the page cache and the bytecode caches
            timed(cmd, work, envs.get(name))
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for _ in range(args.n):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, work, envs.get(name)))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in samples.items()}
    base_wall, base_cpu = med["dvc --help"]
    print(f"{'command':<18} {'wall (median)':>14} {'cpu (median)':>13} {'vs dvc --help (wall, cpu)':>28}")
    for name, (wall, cpu) in med.items():
        print(f"{name:<18} {wall * 1000:>11.0f} ms {cpu * 1000:>10.0f} ms "
              f"{base_wall / wall:>14.2f}x {base_cpu / cpu:>10.2f}x")
    print(f"\n{args.n} runs each, interleaved; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
