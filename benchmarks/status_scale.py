"""Status and re-snapshot cost as the tree grows, and what one change costs, next to DVC.

For each size of the growth series (default 30,000, 100,000 and 300,000 files of 1 KB,
1,000 to a folder) both tools track the same bytes in their own git repository, one
after the other, and each command runs as a fresh process. Reported per size:

- snapshot / ``dvc add``: time and the peak RSS of the process
- status with nothing changed, and with ONE file changed (its bytes appended), side by
  side with ``dvc status`` on the same change, each the best of three runs; lineage's
  one-change / no-change ratio (target: at most 1.5) and the peak RSS of status
- re-snapshot after that change / ``dvc add``

``--scale`` runs the ImageNet-sized case instead: 1,000,000 files of 1-100 KB (random
sizes), snapshot, status (no change, one change) and checkout into an empty folder, as
files/s next to two published figures for the same kind of data: Oxen's ``oxen add`` of
ImageNet (about 450 files/s on 4 vCPUs) and DVC's (about 140 files/s). DVC itself is
skipped at that size unless ``--scale-dvc`` (hours). It needs about three times the data's
size free on disk (the data, the store, the checkout). Before each writing step (snapshot,
re-snapshot, checkout) dirty pages are flushed and, as root, the page cache dropped.

    .venv/bin/python benchmarks/status_scale.py                      # the growth series
    .venv/bin/python benchmarks/status_scale.py --files 20000 --no-dvc   # a quick run
    .venv/bin/python benchmarks/status_scale.py --scale               # 1M files (tens of minutes)
    .venv/bin/python benchmarks/status_scale.py --scale --scale-files 200000 --max-kb 20
    .venv/bin/python benchmarks/status_scale.py --scale --max-kb 8    # 1M files in ~15 GB of disk
    .venv/bin/python benchmarks/status_scale.py --scale --scale-files 250000,1000000 --max-kb 8
                                                                      # growth per file, 4x the files
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import git_init, settle, tool

OXEN_FILES_PER_S = 450   # `oxen add`, ImageNet (>1M images), 4 vCPUs: Oxen's published figure
DVC_FILES_PER_S = 140    # `dvc add` of the same data: as published next to it


def measured(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0, 1)) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one run of ``cmd``
    as its own process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if code not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def best(n: int, cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    runs = [measured(cmd, cwd) for _ in range(n)]
    return min(r[0] for r in runs), max(r[1] for r in runs), min(r[2] for r in runs)


def make_files(root: Path, count: int, sizes: tuple[int, int], seed: int = 0, per_folder: int = 1000) -> int:
    """``count`` files of random bytes, sizes drawn in ``sizes`` (bytes), ``per_folder`` to
    a folder; returns the total size."""
    rng = random.Random(seed)
    block = os.urandom(1 << 20)
    total = 0
    for i in range(count):
        folder = root / f"d{i // per_folder:04d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        n = rng.randint(*sizes)
        start = rng.randrange(0, len(block) - n)
        # a distinct prefix per file, so no two files are the same object
        (folder / f"f{i:07d}.bin").write_bytes(i.to_bytes(8, "little") + block[start:start + n - 8])
        total += n
    return total


def change_one(data: Path) -> None:
    folders = sorted(p for p in data.iterdir() if p.is_dir())
    target = sorted(folders[len(folders) // 2].iterdir())[0]
    with open(target, "ab") as fh:
        fh.write(b"one more line\n")


def fmt(label: str, ours: tuple[float, float], theirs: tuple[float, float] | None) -> str:
    line = f"{label:40} {ours[0]:8.2f}s {ours[1]:7.0f} MB"
    if theirs is not None:
        line += f"   {theirs[0]:8.2f}s {theirs[1]:7.0f} MB   {theirs[0] / ours[0]:6.1f}x"
    return line


def series(base: Path, count: int, size: int, with_dvc: bool) -> None:
    lin, dvc = tool("lineage"), tool("dvc") if with_dvc else ""
    a, b = base / f"lin{count}", base / f"dvc{count}"
    git_init(a)
    make_files(a / "data", count, (size, size))
    if with_dvc:  # the same bytes for both tools
        git_init(b)
        subprocess.run(["cp", "-a", str(a / "data"), str(b / "data")], check=True)
    run_lin = lambda *args: measured([lin, *args], a)  # noqa: E731
    measured([lin, "init"], a)
    rows: list[tuple[str, tuple[float, float], tuple[float, float] | None]] = []
    snap = run_lin("snapshot", "data")
    clean = best(3, [lin, "status"], a)
    change_one(a / "data")
    # the change stays until the re-snapshot: each run is a status with one file changed
    one = best(3, [lin, "status"], a)
    resnap = run_lin("snapshot", "data")
    d_snap = d_clean = d_one = d_resnap = None
    if with_dvc:
        measured([dvc, "init", "-q"], b)
        measured([dvc, "config", "core.autostage", "false"], b)
        d_snap = measured([dvc, "add", "-q", "data"], b)
        d_clean = best(3, [dvc, "status", "-q"], b)
        change_one(b / "data")
        d_one = best(3, [dvc, "status", "-q"], b)
        d_resnap = measured([dvc, "add", "-q", "data"], b)
    rows += [("snapshot / dvc add", snap, d_snap),
             ("status, nothing changed", clean, d_clean),
             ("status, one file changed", one, d_one),
             ("re-snapshot after it / dvc add", resnap, d_resnap)]
    print(f"\n{count:,} files x {size} B, 1,000 to a folder")
    print(f"{'':40} {'lineage':>9} {'peak':>10}   {'dvc':>9} {'peak':>10}   {'ratio':>6}")
    for label, ours, theirs in rows:
        print(fmt(label, ours, theirs))
    print(f"lineage: one change / no change = {one[0] / clean[0]:.2f} (target <= 1.5); "
          f"snapshot {count / snap[0]:,.0f} files/s; peak RSS snapshot {snap[1]:.0f} MB "
          f"(target < 300 at 300k), status {max(clean[1], one[1]):.0f} MB (target < 150)")
    shutil.rmtree(a)
    if with_dvc:
        shutil.rmtree(b)


def scale(base: Path, count: int, max_kb: int, with_dvc: bool, no_checkout: bool = False) -> dict:
    """The ImageNet-sized run at ``count`` files; returns each step's (wall, peak MB, CPU s)."""
    lin = tool("lineage")
    a = base / f"scale{count}"
    git_init(a)
    free = shutil.disk_usage(base).free
    need = 3 * count * (max_kb * 1024 + 1024) // 2
    if free < need:
        raise SystemExit(f"--scale needs about {need / 2**30:.0f} GiB free in {base} "
                         f"({free / 2**30:.0f} GiB free); lower --scale-files or --max-kb")
    t0 = time.perf_counter()
    total = make_files(a / "data", count, (1024, max_kb * 1024))
    print(f"\n{count:,} files of 1-{max_kb} KB ({total / 2**30:.1f} GiB), generated in "
          f"{time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}")
    measured([lin, "init"], a)
    print(f"{'':36} {'time':>9} {'peak':>8} {'files/s':>10} {'CPU':>9} {'CPU/file':>9}", flush=True)
    steps: dict[str, tuple[float, float, float]] = {}

    def row(label: str, result: tuple[float, float, float]) -> tuple[float, float, float]:
        # printed as it is measured: a long run stopped half-way keeps what it measured
        print(f"{label:36} {result[0]:8.1f}s {result[1]:6.0f} MB {count / result[0]:10,.0f} "
              f"{result[2]:8.1f}s {result[2] / count * 1e6:7.0f}µs", flush=True)
        steps[label] = result
        return result

    # the writing steps start from the same state at every size: nothing left to write
    # back, the page cache dropped (as root), so none pays for reclaiming what the steps
    # before it left (a checkout of 1M files after 13 GB of cache: about 2x the time)
    settle()
    snap = row("snapshot", measured([lin, "snapshot", "data"], a))
    row("status, nothing changed", best(2, [lin, "status"], a))
    change_one(a / "data")
    row("status, one file changed", best(2, [lin, "status"], a))
    settle()
    row("re-snapshot after it", measured([lin, "snapshot", "data"], a))
    if not no_checkout:
        os.rename(a / "data", a / "data.old")  # removed after the timings, not between them
        settle()
        row("checkout into an empty folder", measured([lin, "checkout", "data"], a))
        row("status after the checkout", measured([lin, "status"], a))
    print(f"published, same kind of data: oxen add ~{OXEN_FILES_PER_S} files/s (4 vCPUs), "
          f"dvc add ~{DVC_FILES_PER_S} files/s; lineage snapshot here {count / snap[0]:,.0f} files/s "
          f"({os.cpu_count()} CPUs)")
    if with_dvc:
        dvc = tool("dvc")
        measured([dvc, "init", "-q"], a)
        shutil.rmtree(a / "data")
        make_files(a / "data", count, (1024, max_kb * 1024))
        d = measured([dvc, "add", "-q", "data"], a)
        print(f"dvc add here: {d[0]:.0f} s, {count / d[0]:,.0f} files/s, peak {d[1]:.0f} MB")
    shutil.rmtree(a)
    return steps


def growth(runs: dict[int, dict]) -> None:
    """How each step's cost per file moves from the smallest size to the largest: CPU
    seconds say it better than wall time on a shared machine (waiting is not work)."""
    sizes = sorted(runs)
    lo, hi = sizes[0], sizes[-1]
    print(f"\ngrowth from {lo:,} to {hi:,} files ({hi / lo:.0f}x the files): cost per file "
          "at the largest size / at the smallest (1.0 = linear)")
    print(f"{'':36} {'CPU/file':>18} {'wall/file':>18} {'peak':>16}")
    for label, small in runs[lo].items():
        big = runs[hi].get(label)
        if big is None:
            continue
        cpu = (big[2] / hi) / (small[2] / lo) if small[2] else float("nan")
        wall = (big[0] / hi) / (small[0] / lo)
        print(f"{label:36} {cpu:17.2f}x {wall:17.2f}x {small[1]:6.0f} -> {big[1]:5.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", default="30000,100000,300000", help="the growth series (comma-separated)")
    ap.add_argument("--size", type=int, default=1024, help="bytes per file in the series")
    ap.add_argument("--no-dvc", action="store_true", help="lineage only")
    ap.add_argument("--scale", action="store_true", help="the 1M-file run instead of the series")
    ap.add_argument("--scale-files", default="1000000",
                    help="files of the scale run; several (comma-separated) print how the cost "
                         "per file grows from the smallest to the largest")
    ap.add_argument("--max-kb", type=int, default=100, help="largest file of the scale run (KB)")
    ap.add_argument("--scale-dvc", action="store_true", help="also dvc add at scale (hours)")
    ap.add_argument("--no-checkout", action="store_true", help="scale run: snapshot and status only")
    ap.add_argument("--tmp", default=None, help="where to build the trees (default: the system's)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lineage-status-scale-", dir=args.tmp))
    cache = ("--scale: page cache dropped before each writing step" if args.scale and os.access(
        "/proc/sys/vm/drop_caches", os.W_OK) else "page cache warm (files just written), same for both tools")
    print(f"{os.cpu_count()} CPUs; {cache}; each command a fresh process; peak RSS from wait4")
    try:
        if args.scale:
            counts = sorted(int(x) for x in args.scale_files.split(","))
            runs = {n: scale(base, n, args.max_kb, args.scale_dvc, args.no_checkout) for n in counts}
            if len(runs) > 1:
                growth(runs)
        else:
            for count in (int(x) for x in args.files.split(",")):
                series(base, count, args.size, not args.no_dvc)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
