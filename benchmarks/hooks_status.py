"""How fast the lineage-status hook answers "nothing changed", next to ``dvc status``.

One folder of N small files (default 20,000 × 4 KB) is tracked by both tools in
the same git repository, then each check runs as a fresh process (as a hook does)
with nothing changed. Reported: the median of several runs per command, and the
ratio dvc / lineage from this one run. Also the import time of the hook entry
point (python -X importtime) so start-up regressions show.

    .venv/bin/python benchmarks/hooks_status.py [--files 20000] [--size 4096] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def sh(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def timed(cmd: list[str], cwd: Path, repeat: int, ok_codes: tuple[int, ...] = (0,)) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if r.returncode not in ok_codes:
            raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return times


def make_files(folder: Path, n: int, size: int) -> None:
    for i in range(n):
        sub = folder / f"part{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.bin").write_bytes(os.urandom(size))


def import_ms(cwd: Path) -> tuple[float, list[tuple[int, str]]]:
    """Total import time of the status hook's modules, and the five slowest packages."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c",
                        "import lineage.hooks.main, lineage.hooks.checks, lineage.snapshots"],
                       cwd=cwd, capture_output=True, text=True)
    rows = []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)", line)
        if m and len(m.group(3)) == 1:  # top-level imports only
            rows.append((int(m.group(2)), m.group(4)))
    return sum(us for us, _ in rows) / 1000, sorted(rows, reverse=True)[:5]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lineage-bench-hooks-"))
    try:
        work = tmp / "work"
        work.mkdir()
        sh(["git", "init", "-q", "-b", "main"], work)
        sh(["git", "config", "user.name", "Bench"], work)
        sh(["git", "config", "user.email", "bench@example.com"], work)
        print(f"creating {args.files:,} files of {args.size:,} bytes ...", flush=True)
        make_files(work / "data", args.files, args.size)
        (work / ".gitignore").write_text("/data\n")

        lineage = str(BIN / "lineage")
        sh([lineage, "init"], work)
        t = time.perf_counter()
        sh([lineage, "snapshot", "data", "--name", "data"], work)
        print(f"lineage snapshot: {time.perf_counter() - t:.2f} s")
        dvc = str(BIN / "dvc")
        sh([dvc, "init", "-q"], work)
        sh([dvc, "config", "core.analytics", "false"], work)
        t = time.perf_counter()
        sh([dvc, "add", "-q", "data"], work)
        print(f"dvc add:          {time.perf_counter() - t:.2f} s")
        sh(["git", "add", "-A"], work)
        sh(["git", "commit", "-q", "-m", "bench"], work)

        # warm both (first status after add may fill caches), then measure
        sh([str(BIN / "lineage-hook"), "status"], work)
        sh([dvc, "status"], work)
        commands = {
            "lineage-hook status": [str(BIN / "lineage-hook"), "status"],
            "lineage status --exit-code": [lineage, "status", "--exit-code"],
            "dvc status": [dvc, "status"],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        # round robin, so a burst of load on a shared machine hits every command alike
        results: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                results[name] += timed(cmd, work, 1)
        print(f"\nnothing changed, {args.files:,} tracked files, median of {args.repeat} runs:")
        for name, times in results.items():
            print(f"  {name:28s} {statistics.median(times) * 1000:8.0f} ms   "
                  f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")
        hook = statistics.median(results["lineage-hook status"])
        dvc_t = statistics.median(results["dvc status"])
        print(f"\nratio dvc status / lineage-hook status: {dvc_t / hook:.1f}x")
        total, top = import_ms(work)
        print(f"imports of the status hook (python -X importtime, cumulative): {total:.0f} ms")
        for us, name in top:
            print(f"  {us / 1000:6.1f} ms  {name}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
