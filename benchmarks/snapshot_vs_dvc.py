"""Snapshot and status, lineage side by side with DVC, in one run.

    python benchmarks/snapshot_vs_dvc.py                 # 20,000 x 4 KB and 4 x 512 MB
    python benchmarks/snapshot_vs_dvc.py --small 2000 --large-mb 64   # a quick run
    python benchmarks/snapshot_vs_dvc.py --small 0 --large 0 --checkout 100000  # checkout only

Each tool works on its own copy of the same bytes, in its own git repository, one
after the other. Ratios are DVC time / lineage time (higher is better for lineage); the
`cp -r` rows divide the time of copying the same files (and of copying then flushing
them to disk) by the snapshot's: by default (``core.durability = immediate``) a snapshot
flushes its objects before recording them, as `cp -r && sync` does; with ``deferred``
(rows of their own) it names them in a flushed journal and, like `cp`, leaves them to the
kernel's write-back. Large files
are also snapshotted with `core.link = hardlink` against `dvc add` with `cache.type
hardlink` (no copy of the bytes on either side). Before each timed step dirty pages are
flushed and, run as root, the page cache is dropped (``_common.settle``): each tool reads
the files from disk and fills free memory alike.
Targets (DESIGN.md): snapshot of many small files >= 5x faster than `dvc add`;
status with nothing changed >= 5x faster than `dvc status`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path

from _common import git_init, make_large_files, make_small_files, run, settle, table, tool


def scenario(label: str, make, base: Path, rows: list) -> None:
    lin, dvc = tool("lineage"), tool("dvc")
    a, b = _repos(label, "copy", make, base, {})
    ours = _snapshot_vs_add(f"{label}: snapshot", a, b, rows)
    # the physical reference: copying the same bytes once (the store's copy); by default a
    # snapshot flushes its objects to disk before recording them (cp and dvc add do not)
    _against_copies(f"{label}: snapshot", ours, a, base, rows, sync=True)
    rows.append((f"{label}: status, nothing changed", min(run([lin, "status"], a) for _ in range(3)),
                 min(run([dvc, "status", "-q"], b) for _ in range(3))))
    # re-snapshot with nothing changed vs dvc add of unchanged data
    rows.append((f"{label}: re-snapshot, nothing changed", run([lin, "snapshot", "data"], a),
                 run([dvc, "add", "-q", "data"], b)))
    shutil.rmtree(a)
    shutil.rmtree(b)


def _snapshot_vs_add(name: str, a: Path, b: Path, rows: list) -> float:
    """``lineage snapshot`` in ``a``, then ``dvc add`` in ``b``, each from a settled page
    cache (neither pays for the other's write-back nor gets its freed memory); returns
    the snapshot's time."""
    settle()
    ours = run([tool("lineage"), "snapshot", "data"], a)
    settle()
    rows.append((f"{name} / dvc add", ours, run([tool("dvc"), "add", "-q", "data"], b)))
    return ours


def _against_copies(name: str, ours: float, a: Path, base: Path, rows: list, *, sync: bool) -> None:
    """`cp -r` of the same files (and with ``sync``, `cp -r` then `sync`) against ``ours``."""
    copies = [("cp -r", ["cp", "-r", str(a / "data"), str(base / "cp-copy")])]
    if sync:
        copies.append(("cp -r, then sync", ["sh", "-c", f"cp -r '{a / 'data'}' '{base / 'cp-copy'}' && sync"]))
    for what, cmd in copies:
        settle()
        rows.append((f"{name} / {what}", ours, run(cmd, base)))
        shutil.rmtree(base / "cp-copy")


def _repos(label: str, tag: str, make, base: Path, core: dict[str, str],
           dvc_config: tuple[tuple[str, str], ...] = ()) -> tuple[Path, Path]:
    """A lineage and a DVC repository holding the same files, each set up: ``core``
    settings in lineage's config.toml, ``dvc config`` pairs for DVC."""
    lin, dvc = tool("lineage"), tool("dvc")
    a, b = base / f"{label}-{tag}-lineage", base / f"{label}-{tag}-dvc"
    for repo in (a, b):
        git_init(repo)
        make(repo / "data")
    run([lin, "init"], a)
    cfg = a / ".lineage" / "config.toml"
    text = cfg.read_text()
    for key, value in core.items():  # replace the line init wrote, or add one under [core]
        line = f'{key} = "{value}"'
        text = re.sub(rf"^{key} = .*$", line, text, flags=re.M) if re.search(rf"^{key} = ", text, re.M) \
            else text.replace("[core]\n", f"[core]\n{line}\n")
    cfg.write_text(text)
    run([dvc, "init", "-q"], b)
    for key, value in (("core.autostage", "false"), *dvc_config):
        run([dvc, "config", key, value], b)
    return a, b


def linked_scenario(label: str, make, base: Path, rows: list) -> None:
    """Snapshot with ``core.link = hardlink`` against ``dvc add`` with ``cache.type
    hardlink``: the store links the files instead of copying their bytes."""
    a, b = _repos(label, "ln", make, base, {"link": "hardlink"}, (("cache.type", "hardlink"),))
    _snapshot_vs_add(f"{label}: snapshot, hardlink", a, b, rows)
    shutil.rmtree(a)
    shutil.rmtree(b)


def deferred_scenario(label: str, make, base: Path, rows: list) -> None:
    """Snapshot with ``core.durability = deferred`` (objects named in a flushed journal and
    left to the kernel's write-back, as `cp` leaves its copy) against `cp -r` and `dvc add`
    of the same files."""
    a, b = _repos(label, "def", make, base, {"durability": "deferred"})
    ours = _snapshot_vs_add(f"{label}: snapshot, deferred", a, b, rows)
    _against_copies(f"{label}: snapshot, deferred", ours, a, base, rows, sync=False)
    shutil.rmtree(a)
    shutil.rmtree(b)


def checkout_scenario(label: str, make, base: Path, rows: list) -> None:
    """Checkout of a snapshot into an empty folder (the workspace copy deleted), against
    `dvc checkout` of the same files (DVC links by copy on a filesystem without reflink)."""
    lin, dvc = tool("lineage"), tool("dvc")
    a, b = base / f"{label}-co-lineage", base / f"{label}-co-dvc"
    for repo in (a, b):
        git_init(repo)
        make(repo / "data")
    run([lin, "init"], a)
    run([dvc, "init", "-q"], b)
    run([dvc, "config", "core.autostage", "false"], b)
    run([lin, "snapshot", "data", "--name", "data"], a)
    run([dvc, "add", "-q", "data"], b)
    for repo in (a, b):
        shutil.rmtree(repo / "data")
    settle()  # neither tool pays for the writeback of the other's files, nor gets its freed memory
    ours = run([lin, "checkout", "data"], a)
    settle()
    theirs = run([dvc, "checkout", "-q", "data.dvc"], b)
    rows.append((f"{label}: checkout into an empty folder", ours, theirs))
    # the stat cache knows every file written: status hashes nothing
    rows.append((f"{label}: status after checkout", run([lin, "status"], a), run([dvc, "status", "-q"], b)))
    shutil.rmtree(a)
    shutil.rmtree(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=20_000, help="number of small files (0 to skip)")
    ap.add_argument("--small-kb", type=int, default=4)
    ap.add_argument("--large", type=int, default=4, help="number of large files")
    ap.add_argument("--large-mb", type=int, default=512)
    ap.add_argument("--checkout", type=int, default=0, metavar="N",
                    help="also check out N small files into an empty folder (e.g. 100000; minutes)")
    ap.add_argument("--dir", help="where to make the work folder (a new folder inside it, removed "
                    "at the end; default: the system's temp folder)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lineage-bench-", dir=args.dir))
    print("page cache dropped before each step" if settle() else
          "page cache kept (not root): each step after a sync only", flush=True)
    rows: list = []
    if args.small:
        scenario(f"{args.small} x {args.small_kb} KB",
                 lambda d: make_small_files(d, args.small, args.small_kb * 1024), base, rows)
    if args.large:
        scenario(f"{args.large} x {args.large_mb} MB",
                 lambda d: make_large_files(d, args.large, args.large_mb << 20), base, rows)
        linked_scenario(f"{args.large} x {args.large_mb} MB",
                        lambda d: make_large_files(d, args.large, args.large_mb << 20), base, rows)
        deferred_scenario(f"{args.large} x {args.large_mb} MB",
                          lambda d: make_large_files(d, args.large, args.large_mb << 20), base, rows)
    if args.checkout:
        checkout_scenario(f"{args.checkout} x {args.small_kb} KB",
                          lambda d: make_small_files(d, args.checkout, args.small_kb * 1024), base, rows)
    print(table(rows))
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
