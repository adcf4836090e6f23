"""Push and pull to S3, lineage side by side with DVC and a plain s3fs batch, in one run.

    python benchmarks/remote_vs_dvc.py                          # 20,000 x 4 KB and 4 x 512 MB
    python benchmarks/remote_vs_dvc.py --small 2000 --large 0   # a quick run

Starts one SeaweedFS server on 127.0.0.1 (tests/s3_server.py) and gives every tool
its own bucket on it. lineage: `lineage push` from the snapshotting clone, then
`lineage pull` in a fresh clone (events, objects, checkout). DVC: `dvc push`, then
`dvc pull` after emptying its cache and workspace copy. The physical reference is a
plain s3fs batch upload (`fs.put`) and download (`fs.get`) of the same files. Ratios
are DVC time / lineage time (higher is better for lineage). Target (DESIGN.md):
pushing and pulling many small files >= 5x faster than DVC.

Before each timed step dirty pages are flushed and, run as root, the page cache is
dropped (``_common.settle``): every tool starts from the same free memory, and the
server reads what it sends from disk for each alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import git_init, make_large_files, make_small_files, run, settle, tool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import s3_server  # noqa: E402


def _s3fs_batch(server, src: Path, bucket: str, scratch: Path) -> tuple[float, float]:
    fs = server.filesystem()
    fs.mkdir(bucket)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    keys = [f"{bucket}/{p.relative_to(src).as_posix()}" for p in files]
    settle()
    t0 = time.perf_counter()
    fs.put([str(p) for p in files], keys)
    up = time.perf_counter() - t0
    dest = scratch / "s3fs-down"
    outs = [str(dest / p.relative_to(src)) for p in files]
    for d in {os.path.dirname(o) for o in outs}:
        os.makedirs(d, exist_ok=True)
    settle()
    t0 = time.perf_counter()
    fs.get(keys, outs)
    down = time.perf_counter() - t0
    shutil.rmtree(dest)
    return up, down


def scenario(label: str, make, base: Path, server, rows: list) -> None:
    lin, dvc = tool("lineage"), tool("dvc")
    env = server.env()
    tag = label.replace(" ", "").replace(",", "").lower()
    a, c, b = base / f"{tag}-lineage", base / f"{tag}-lineage-clone", base / f"{tag}-dvc"
    for repo in (a, b, c):
        git_init(repo)
    make(a / "data")
    shutil.copytree(a / "data", b / "data")
    remote = ["--endpoint-url", server.endpoint]
    for repo in (a, c):
        run([lin, "init"], repo)
        run([lin, "remote", "add", "origin", f"s3://lin-{tag}/store", *remote, "--default"], repo)
    run([lin, "snapshot", "data", "--name", "data"], a)
    run([dvc, "init", "-q"], b)
    run([dvc, "add", "-q", "data"], b)
    run([dvc, "remote", "add", "-d", "s3", f"s3://dvc-{tag}/store"], b)
    run([dvc, "remote", "modify", "s3", "endpointurl", server.endpoint], b)
    server.filesystem().mkdir(f"dvc-{tag}")
    server.filesystem().mkdir(f"lin-{tag}")  # lineage never creates a bucket itself

    # flush dirty pages first, so no tool pays for the writeback of the one before
    lin_push = _settled(lambda: run([lin, "push"], a, env))
    dvc_push = _settled(lambda: run([dvc, "push", "-q"], b, env))
    lin_pull = _settled(lambda: run([lin, "pull"], c, env))
    shutil.rmtree(b / ".dvc" / "cache")
    shutil.rmtree(b / "data")
    dvc_pull = _settled(lambda: run([dvc, "pull", "-q"], b, env))
    same = _same_tree(a / "data", c / "data") and _same_tree(a / "data", b / "data")
    s3_up, s3_down = _s3fs_batch(server, a / "data", f"s3fs-{tag}", base)
    rows.append((f"{label}: push", lin_push, dvc_push, s3_up))
    rows.append((f"{label}: pull (fresh clone)", lin_pull, dvc_pull, s3_down))
    for row in rows[-2:]:
        _print_row(*row)
    if not same:
        raise SystemExit(f"{label}: pulled data differs from the original")
    for p in (a, b, c):
        shutil.rmtree(p)


def _settled(fn) -> float:
    settle()
    return fn()


def _print_row(name: str, ours: float, dvc: float, s3: float) -> None:
    print(f"{name:34} {ours:8.2f}s {dvc:8.2f}s {s3:8.2f}s {dvc / ours:11.1f}x {s3 / ours:12.1f}x",
          flush=True)


def _same_tree(x: Path, y: Path) -> bool:
    fx = sorted(p.relative_to(x) for p in x.rglob("*") if p.is_file())
    fy = sorted(p.relative_to(y) for p in y.rglob("*") if p.is_file())
    return fx == fy and all((x / p).read_bytes() == (y / p).read_bytes() for p in fx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=20_000, help="number of small files (0 to skip)")
    ap.add_argument("--small-kb", type=int, default=4)
    ap.add_argument("--large", type=int, default=4, help="number of large files (0 to skip)")
    ap.add_argument("--large-mb", type=int, default=512)
    ap.add_argument("--dir", help="where to make the work folder (a new folder inside it, removed "
                    "at the end; default: the system's temp folder)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lineage-bench-remote-", dir=args.dir))
    server = s3_server.start()
    print("page cache dropped before each step" if settle() else
          "page cache kept (not root): each step after a sync only", flush=True)
    print(f"{'operation':34} {'lineage':>9} {'dvc':>9} {'s3fs':>9} {'dvc/lineage':>12} {'s3fs/lineage':>13}",
          flush=True)
    rows: list = []
    try:
        if args.small:
            scenario(f"{args.small} x {args.small_kb} KB",
                     lambda d: make_small_files(d, args.small, args.small_kb * 1024), base, server, rows)
        if args.large:
            scenario(f"{args.large} x {args.large_mb} MB",
                     lambda d: make_large_files(d, args.large, args.large_mb << 20), base, server, rows)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
