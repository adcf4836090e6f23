"""DVC import, and OpenLineage / PROV export, timed in one run.

    python benchmarks/interop.py                       # 20,000 x 4 KB files, 200 runs
    python benchmarks/interop.py --small 2000 --runs 50   # a quick run

DVC import: a DVC repository with the files under `dvc add`, then `lineage import dvc`
(which rehashes every file with md5 to check the workspace against DVC's record, and
snapshots it with BLAKE3) against DVC's own `dvc add` of the same files; a second import
(nothing changed) against `dvc status`. Ratios are DVC time / lineage time.

Export: a graph of RUNS runs (each reading two snapshots with roles and writing one),
exported with `lineage export openlineage --all` and `lineage export prov --all`;
printed as time per run (no peer does both exports).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import git_init, make_small_files, run, table, tool


def dvc_import(base: Path, count: int, size: int, rows: list) -> None:
    lin, dvc = tool("lineage"), tool("dvc")
    repo = base / "dvc-repo"
    git_init(repo)
    make_small_files(repo / "data", count, size)
    run([dvc, "init", "-q"], repo)
    run([dvc, "config", "core.autostage", "false"], repo)
    t_add = run([dvc, "add", "-q", "data"], repo)
    run([lin, "init"], repo)
    t_import = run([lin, "import", "dvc"], repo)
    rows.append((f"{count} x {size // 1024} KB: import dvc / dvc add", t_import, t_add))
    t_status = min(run([dvc, "status", "-q"], repo) for _ in range(3))
    t_again = min(run([lin, "import", "dvc"], repo) for _ in range(3))
    rows.append((f"{count} x {size // 1024} KB: re-import / dvc status", t_again, t_status))


def exports(base: Path, runs: int) -> list[str]:
    from lineage import runs as lruns
    from lineage.repo import Repo

    work = base / "export-repo"
    git_init(work)
    repo, _ = Repo.init(work)
    data = work / "data"
    data.mkdir()
    for i in range(runs):
        (data / f"train{i}.csv").write_text(f"x,y\n{i},0\n")
        (data / f"test{i}.csv").write_text(f"x,y\n{i + 1},1\n")
        rid = lruns.start(repo, "train", command=["python", "train.py"],
                          inputs=[("train", str(data / f"train{i}.csv")), ("test", str(data / f"test{i}.csv"))])
        (work / f"model{i}.bin").write_bytes(i.to_bytes(4, "little"))
        lruns.add_output(repo, rid, str(work / f"model{i}.bin"))
        lruns.finish(repo, rid, exit_code=0)
    repo.close()
    lin = tool("lineage")
    lines = []
    for what in ("openlineage", "prov"):
        t0 = time.perf_counter()
        run([lin, "export", what, "--all", "-o", str(base / f"out.{what}")], work)
        elapsed = time.perf_counter() - t0
        size = (base / f"out.{what}").stat().st_size
        lines.append(f"export {what:12} {runs} runs: {elapsed:6.2f} s "
                     f"({elapsed / runs * 1000:.1f} ms/run, {size / 1e6:.1f} MB)")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=20_000, help="number of small files under DVC")
    ap.add_argument("--small-kb", type=int, default=4)
    ap.add_argument("--runs", type=int, default=200, help="runs in the export graph")
    ap.add_argument("--dir", help="where to make the work folder (a new folder inside it, removed "
                    "at the end; default: the system's temp folder)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lineage-bench-interop-", dir=args.dir))
    rows: list = []
    dvc_import(base, args.small, args.small_kb * 1024, rows)
    print(table(rows))
    for line in exports(base, args.runs):
        print(line)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
