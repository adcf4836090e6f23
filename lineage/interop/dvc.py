"""Import a DVC repository: tracked outputs become snapshots, dvc.lock stages become runs.

DVC names content by md5 (``<md5>`` for a file, ``<md5>.dir`` for a folder). For every
output of a ``.dvc`` file or a ``dvc.lock`` stage whose bytes are in the workspace, the
import recomputes DVC's md5 to be sure the workspace still holds what DVC recorded,
snapshots the path with lineage's own hashing, and records an ``alias`` event
(scheme ``dvc-md5``) so ``lineage show md5:<hash>`` finds the snapshot. Each stage of
``dvc.lock`` becomes a run whose inputs are the stage's data deps and whose outputs are
its outs; the run ID is derived from the stage's recorded content, so importing the same
lock file twice records nothing new.

Only DVC outputs are data. A dependency that git tracks (or, outside git, that is code by
name) is code: it is recorded with the run's code state (the repository's commit, and the
path and md5 under ``env.code``), never snapshotted. Outputs that ``dvc.yaml`` declares as
``metrics`` become the run's metrics; ``plots`` are left out.

Paths that DVC tracks but that are absent (or changed) in the workspace are reported,
never guessed: no snapshot can be made of bytes that are not there.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lineage import runs, snapshots
from lineage.core import git as gitinfo
from lineage.core.progress import Progress
from lineage.core.redact import looks_secret
from lineage.errors import AmbiguousRefError, PathError, UnknownRefError, UsageError
from lineage.repo import Repo
from lineage.runs.model import PARAM_NAME
from lineage.snapshots import aliases, queries

ALIAS_SCHEME = "dvc-md5"
#: Namespace of the UUIDs given to imported dvc.lock stages (uuid5 of their content).
STAGE_NAMESPACE = uuid.UUID("6f1c3f2e-5b7d-5c1a-9a57-3d0c2b1e8a44")
_SKIP = frozenset({".dvc", ".git", ".lineage", ".hg", ".svn", "__pycache__", ".venv", "node_modules"})
_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
#: Dependencies with these suffixes are code or configuration, never a data split.
_CODE_SUFFIXES = frozenset({".py", ".ipynb", ".sh", ".r", ".jl", ".scala", ".java", ".sql", ".js",
                            ".ts", ".rb", ".go", ".rs", ".c", ".cpp", ".yaml", ".yml", ".toml",
                            ".cfg", ".ini"})


# -- results ----------------------------------------------------------------------

@dataclass(frozen=True)
class ImportedOutput:
    """One path DVC tracks, and what the import made of it."""

    path: str                 # relative to the lineage workspace (absolute when outside it)
    source: str               # the .dvc file, or dvc.lock:STAGE, relative to the DVC root
    md5: str | None           # as DVC recorded it (``.dir`` suffix for folders)
    # imported | unchanged | missing | modified | no-hash | external (data);
    # code (a code dependency, no snapshot) | metrics (read into the run) | plots (left out)
    status: str
    snapshot_id: str | None = None
    dataset: str | None = None
    version: int | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImportedOutput:
        return cls(**d)


@dataclass(frozen=True)
class ImportedStage:
    """One dvc.lock stage recorded as a run."""

    name: str
    lock_file: str
    run_id: str | None
    kind: str
    command: str | None
    inputs: list[dict[str, Any]] = field(default_factory=list)    # {path, role, snapshot_id}
    outputs: list[dict[str, Any]] = field(default_factory=list)   # {path, snapshot_id}
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "imported"  # imported | updated | unchanged | incomplete
    missing: list[str] = field(default_factory=list)
    recorded: bool = False    # this import wrote events for the run (new, or completed)
    code: list[dict[str, Any]] = field(default_factory=list)      # {path, md5, changed}
    metrics: list[dict[str, Any]] = field(default_factory=list)   # {name, value, split, path}
    git: dict[str, Any] = field(default_factory=dict)             # {commit, branch, dirty, diff_digest}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImportedStage:
        return cls(**d)


@dataclass(frozen=True)
class DvcImport:
    """What ``lineage import dvc`` did."""

    dvc_root: str
    dvc_files: list[str]
    lock_files: list[str]
    outputs: list[ImportedOutput]
    stages: list[ImportedStage]

    @property
    def problems(self) -> list[ImportedOutput]:
        return [o for o in self.outputs if o.status in ("missing", "modified", "no-hash")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dvc_root": self.dvc_root,
            "dvc_files": list(self.dvc_files),
            "lock_files": list(self.lock_files),
            "outputs": [o.to_dict() for o in self.outputs],
            "stages": [s.to_dict() for s in self.stages],
            "summary": {
                "outputs": len(self.outputs),
                "imported": sum(o.status == "imported" for o in self.outputs),
                "unchanged": sum(o.status == "unchanged" for o in self.outputs),
                "missing": sum(o.status == "missing" for o in self.outputs),
                "modified": sum(o.status == "modified" for o in self.outputs),
                "no_hash": sum(o.status == "no-hash" for o in self.outputs),
                "external": sum(o.status == "external" for o in self.outputs),
                "code": sum(o.status == "code" for o in self.outputs),
                "metrics": sum(o.status == "metrics" for o in self.outputs),
                "plots": sum(o.status == "plots" for o in self.outputs),
                "stages": len(self.stages),
                "runs_recorded": sum(s.recorded for s in self.stages),
                "runs_incomplete": sum(s.status == "incomplete" for s in self.stages),
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DvcImport:
        return cls(d["dvc_root"], list(d["dvc_files"]), list(d["lock_files"]),
                   [ImportedOutput.from_dict(o) for o in d["outputs"]],
                   [ImportedStage.from_dict(s) for s in d["stages"]])


# -- naming conventions -----------------------------------------------------------

def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def role_for_path(path: str) -> str:
    """The input role a dependency's path suggests (documented in docs/interop.md).

    Code and configuration files are ``other``. Otherwise the last path component
    naming a split decides: test/testing/holdout -> test; val/valid/validation/dev
    -> validation; train/training -> train; model/models/checkpoint -> model.
    """
    p = path.rstrip("/")
    if posixpath.splitext(p)[1].lower() in _CODE_SUFFIXES:
        return "other"
    found = "other"
    for part in p.split("/"):
        for tok in _tokens(part):
            if tok in ("test", "testing", "holdout"):
                found = "test"
            elif tok in ("val", "valid", "validation", "dev"):
                found = "validation"
            elif tok in ("train", "training"):
                found = "train"
            elif tok in ("model", "models", "checkpoint", "checkpoints"):
                found = "model"
    return found


_KIND_WORDS = [
    ("split", ("split", "splits", "partition")),
    ("tune", ("tune", "tuning", "hyperopt", "hpo", "sweep", "search")),
    ("evaluate", ("evaluate", "eval", "evaluation", "score", "scoring", "metrics", "test")),
    ("train", ("train", "training")),
    ("fit", ("fit", "scale", "scaler", "normalize", "vocab", "vocabulary", "select", "oversample")),
    ("transform", ("transform", "featurize", "features", "preprocess", "prepare", "clean", "encode")),
]


def kind_for_stage(name: str) -> str:
    """The run kind a stage name suggests; ``other`` when it suggests none."""
    tokens = set(_tokens(name.split("@")[0]))
    for kind, words in _KIND_WORDS:
        if tokens & set(words):
            return kind
    return "other"


# -- DVC's md5 --------------------------------------------------------------------

def _md5_file(path: str, dos2unix: bool = False) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        if dos2unix:
            h.update(fh.read().replace(b"\r\n", b"\n"))
        else:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def dvc_md5(path: Path, *, legacy: bool = False) -> str:
    """DVC's md5 of a file, or ``<md5>.dir`` of a folder (its sorted {md5, relpath} list).

    ``legacy`` (DVC 2 files without ``hash: md5``) accepts the CRLF-normalised md5
    DVC 2 gave text files; the caller compares both.
    """
    if path.is_file():
        return _md5_file(str(path))
    found: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in (".git", ".dvc")]
        for name in files:
            full = os.path.join(folder, name)
            if os.path.isfile(full):
                found.append((os.path.relpath(full, path).replace(os.sep, "/"), full))
    # hashlib releases the GIL on large buffers: threads overlap reading and hashing
    workers = max(1, min(8, (os.cpu_count() or 1) * 2, len(found)))
    # one task per worker (a future per file costs more than hashing a small file)
    shares = [found[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda share: [(rel, _md5_file(full)) for rel, full in share], shares)
        entries = sorted(({"md5": d, "relpath": rel} for share in results for rel, d in share),
                         key=lambda e: e["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing, usedforsecurity=False).hexdigest() + ".dir"


# -- reading the DVC repository ---------------------------------------------------

def find_root(path: str | os.PathLike[str] | None) -> Path:
    """The DVC repository holding ``path``: the nearest folder with a ``.dvc/`` inside."""
    start = Path(os.path.abspath(path or os.getcwd()))
    if not start.exists():
        raise PathError(f"no such folder: {start}")
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        if (folder / ".dvc").is_dir():
            return folder
    raise UsageError(f"not a DVC repository: {start} (no .dvc/ folder here or above; run 'dvc init')")


def _load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise UsageError("reading DVC files needs PyYAML: install lineage[interop]") from None
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise PathError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{path} is not valid YAML{where}") from None


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    dvc_files, locks = [], []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        for name in sorted(files):
            if name.endswith(".dvc") and name != ".dvc":
                dvc_files.append(Path(folder) / name)
            elif name == "dvc.lock":
                locks.append(Path(folder) / name)
    return dvc_files, locks


@dataclass(frozen=True)
class _Out:
    path: Path          # absolute
    md5: str | None
    legacy: bool
    source: str
    url: str | None = None   # a remote dependency (s3://..., https://...), not a workspace path


def _entries(items: Any, base: Path, source: str, where: Path) -> list[_Out]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise UsageError(f"{where}: expected a list of outputs/deps, found {type(items).__name__}")
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise UsageError(f"{where}: an entry has no 'path'")
        md5 = item.get("md5")
        if not isinstance(md5, str):
            md5 = None
        legacy = item.get("hash") != "md5"
        if _URL.match(item["path"]):
            found.append(_Out(Path(item["path"]), md5, legacy, source, url=item["path"]))
            continue
        found.append(_Out(Path(os.path.normpath(base / item["path"])), md5, legacy, source))
    return found


def _declared_paths(items: Any, base: Path) -> set[Path]:
    """Paths of a dvc.yaml ``metrics:``/``plots:`` list (strings, or mappings keyed by path);
    templated paths (``${...}``) are skipped."""
    found: set[Path] = set()
    if not isinstance(items, list):
        return found
    for item in items:
        names = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
        for name in names:
            if isinstance(name, str) and "${" not in name and not _URL.match(name):
                found.add(Path(os.path.normpath(base / name)))
    return found


def _metrics_and_plots(lock: Path) -> tuple[set[Path], set[Path]]:
    """The metrics and plots paths the ``dvc.yaml`` next to ``lock`` declares (stage and
    top-level lists); none when there is no dvc.yaml."""
    spec = lock.parent / "dvc.yaml"
    if not spec.is_file():
        return set(), set()
    doc = _load_yaml(spec)
    if not isinstance(doc, dict):
        return set(), set()
    base = spec.parent
    metrics = _declared_paths(doc.get("metrics"), base)
    plots = _declared_paths(doc.get("plots"), base)
    stages = doc.get("stages")
    for stage in (stages.values() if isinstance(stages, dict) else ()):
        if not isinstance(stage, dict):
            continue
        for body in (stage, stage.get("do")):
            if isinstance(body, dict):
                metrics |= _declared_paths(body.get("metrics"), base)
                plots |= _declared_paths(body.get("plots"), base)
    return metrics, plots - metrics


_SPLIT_WORDS = (("test", ("test", "testing", "holdout")),
                ("validation", ("val", "valid", "validation", "dev")),
                ("train", ("train", "training")))


def split_for_metric(name: str) -> str | None:
    """The split a metric's key names (test, validation, train), or None when it names none."""
    tokens = set(_tokens(name))
    for split, words in _SPLIT_WORDS:
        if tokens & set(words):
            return split
    return None


def _flatten(value: Any, prefix: str, out: dict[str, float]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if value == value and value not in (float("inf"), float("-inf")):
            out[prefix] = float(value)


def read_metrics(path: Path) -> dict[str, float]:
    """The numbers of a DVC metrics file (JSON, YAML or TOML), nested keys joined with ``.``.

    Lists and non-numbers are skipped, and so are keys that cannot be a metric name."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PathError(f"cannot read {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib
            doc: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            doc = _load_yaml(path)
        else:
            doc = json.loads(text)
    except ValueError:
        raise UsageError(f"{path} is not a valid metrics file (JSON, YAML or TOML)") from None
    flat: dict[str, float] = {}
    _flatten(doc, "", flat)
    out = {}
    for name, value in flat.items():
        name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)
        if PARAM_NAME.match(name) and not looks_secret(name):
            out[name] = value
    return out


def _git_tracked(root: Path, path: Path) -> bool | None:
    """Whether git tracks ``path`` (a folder: any file under it); None outside a git work tree."""
    out = gitinfo.run(root, "ls-files", "-z", "--", str(path))
    if out is None or out.returncode != 0:
        return None
    return bool(out.stdout.strip(b"\0"))


def _inside(path: Path, others: set[Path]) -> bool:
    """``path`` is one of ``others``, inside one, or holds one."""
    return any(path == o or o in path.parents or path in o.parents for o in others)


# -- the import -------------------------------------------------------------------

class _Importer:
    def __init__(self, repo: Repo, root: Path, progress: Progress | None):
        self.repo = repo
        self.root = root
        self.progress = progress
        self.results: dict[Path, ImportedOutput] = {}

    def rel_to_dvc(self, p: Path) -> str:
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return p.as_posix()

    def mark(self, out: _Out, status: str, message: str) -> ImportedOutput:
        """A path that is not snapshotted: code, metrics or plots."""
        rel = out.url if out.url is not None else self.repo.relpath(out.path)
        result = ImportedOutput(rel, out.source, out.md5, status, message=message)
        self.results.setdefault(out.path, result)
        return result

    def output(self, out: _Out) -> ImportedOutput:
        """Snapshot one tracked path (once per import, however many files name it)."""
        done = self.results.get(out.path)
        if done is not None and done.md5 == out.md5:
            return done
        result = self._output(out)
        self.results[out.path] = result
        return result

    def _verified_before(self, rel: str, out: _Out) -> ImportedOutput | None:
        """The unchanged result when an earlier import already tied this md5 to the path's
        latest snapshot and the path is clean since (the stat cache vouches): no rehash."""
        g = self.repo.graph
        ds = queries.dataset_by_path(g, rel)
        if ds is None or not ds.latest_snapshot or not aliases.has_alias(g, ALIAS_SCHEME, out.md5 or "",
                                                                         ds.latest_snapshot):
            return None
        state = [st for st in snapshots.status(self.repo, rel) if st.dataset == ds.name]
        if not state or state[0].state != "clean":
            return None
        return ImportedOutput(rel, out.source, out.md5, "unchanged", ds.latest_snapshot, ds.name,
                              ds.latest_version)

    def _output(self, out: _Out) -> ImportedOutput:
        if out.url is not None:
            return ImportedOutput(out.url, out.source, out.md5, "external",
                                  message="a remote dependency; only workspace paths are snapshotted")
        rel = self.repo.relpath(out.path)
        if out.md5 is None or not _MD5.match(out.md5):
            return ImportedOutput(rel, out.source, out.md5, "no-hash",
                                  message="DVC recorded no md5 for it (not committed, or not an md5 remote)")
        if not out.path.exists():
            return ImportedOutput(rel, out.source, out.md5, "missing",
                                  message="not in the workspace; run 'dvc pull' or 'dvc checkout' first")
        known = self._verified_before(rel, out)
        if known is not None:
            return known
        try:
            actual = dvc_md5(out.path)
            if actual != out.md5 and out.legacy and out.path.is_file():
                actual = _md5_file(str(out.path), dos2unix=True)
        except OSError as exc:
            raise PathError(f"cannot read {out.path}: {exc.strerror}") from None
        if actual != out.md5:
            return ImportedOutput(rel, out.source, out.md5, "modified", message=(
                f"workspace md5 {actual[:12]} differs from DVC's {out.md5[:12]}; "
                "run 'dvc checkout' or 'dvc commit' first"))
        snap = snapshots.create(self.repo, out.path)
        graph = self.repo.graph
        new_alias = not aliases.has_alias(graph, ALIAS_SCHEME, out.md5, snap.id)
        if new_alias:
            graph.append(aliases.EVENT_TYPE,
                         {"snapshot_id": snap.id, "scheme": ALIAS_SCHEME, "value": out.md5},
                         actor=self.repo.user)
        status = "unchanged" if snap.unchanged and not new_alias else "imported"
        return ImportedOutput(rel, out.source, out.md5, status, snap.id, snap.dataset, snap.version)


def _params(raw: Any) -> dict[str, Any]:
    """Flatten dvc.lock params: keys of params.yaml as they are, others as FILE:KEY."""
    out: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return out
    for file, values in sorted(raw.items()):
        if not isinstance(values, dict):
            continue
        for key, value in sorted(values.items()):
            out[key if file == "params.yaml" else f"{file}:{key}"] = value
    return out


def _command(cmd: Any) -> str | None:
    if cmd is None:
        return None
    if isinstance(cmd, list):
        return " && ".join(str(c) for c in cmd)
    return str(cmd)


def stage_run_id(lock_rel: str, name: str, cmd: str | None, deps: list[_Out], outs: list[_Out]) -> str:
    """A UUID that names this stage's recorded execution: same lock content, same ID."""
    key = json.dumps({"lock": lock_rel, "stage": name, "cmd": cmd,
                      "deps": sorted((str(d.path), d.md5 or "") for d in deps),
                      "outs": sorted((str(o.path), o.md5 or "") for o in outs)}, sort_keys=True)
    return str(uuid.uuid5(STAGE_NAMESPACE, key))


def import_repo(repo: Repo, path: str | os.PathLike[str] | None = None, *,
                progress: Progress | None = None) -> DvcImport:
    """Register a DVC repository's tracked outputs as snapshots and its stages as runs.

    >>> lineage.interop.dvc.import_repo(repo, ".")          # doctest: +SKIP
    """
    root = find_root(path)
    dvc_files, locks = _walk(root)
    imp = _Importer(repo, root, progress)

    plain: list[_Out] = []
    for f in dvc_files:
        doc = _load_yaml(f)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise UsageError(f"{f} is not a DVC file (expected a mapping with 'outs')")
        plain += _entries(doc.get("outs"), f.parent, imp.rel_to_dvc(f), f)

    stages: list[tuple[str, str, Path, dict[str, Any], list[_Out], list[_Out]]] = []
    metric_paths: set[Path] = set()
    plot_paths: set[Path] = set()
    for lock in locks:
        doc = _load_yaml(lock) or {}
        raw_stages = doc.get("stages") if isinstance(doc, dict) else None
        if raw_stages is None and isinstance(doc, dict) and "schema" not in doc:
            raw_stages = doc  # DVC 1 lock files: stages at the top level
        if not isinstance(raw_stages, dict):
            raise UsageError(f"{lock} is not a dvc.lock file (no 'stages' mapping)")
        lock_rel = imp.rel_to_dvc(lock)
        metrics, plots = _metrics_and_plots(lock)
        metric_paths |= metrics
        plot_paths |= plots
        for name, stage in raw_stages.items():
            if not isinstance(stage, dict):
                raise UsageError(f"{lock}: stage {name!r} is not a mapping")
            source = f"{lock_rel}:{name}"
            deps = _entries(stage.get("deps"), lock.parent, source, lock)
            outs = _entries(stage.get("outs"), lock.parent, source, lock)
            stages.append((str(name), lock_rel, lock, stage, deps, outs))

    not_data = metric_paths | plot_paths
    # only DVC outputs are data: .dvc files' outs and the stages' outs
    data_paths = {o.path for o in plain if o.url is None} | {
        o.path for *_, outs in stages for o in outs if o.url is None and o.path not in not_data}
    # the code state of the repository, taken before the import writes anything
    state = gitinfo.state(root, with_diff=True, untracked=True,
                          data_paths=[*data_paths, *not_data, repo.dir])

    total = len(plain) + sum(len(s[4]) + len(s[5]) for s in stages)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    def is_code(d: _Out) -> bool:
        if d.url is not None or _inside(d.path, data_paths):
            return False
        tracked = _git_tracked(root, d.path)
        # what git tracks is versioned by its commit; outside git, code is known by its name
        return True if tracked else gitinfo.is_code_file(d.path.as_posix())

    for out in plain:
        imp.output(out)
        tick()

    imported_stages: list[ImportedStage] = []
    for name, lock_rel, _lock, stage, deps, outs in stages:
        dep_results, code, metrics, absent = [], [], [], []
        for d in deps:
            if d.url is None and d.path in not_data:
                pass  # a metrics or plots file read by a later stage: not an input
            elif is_code(d):
                imp.mark(d, "code", "a code dependency: recorded with the run's code state, not snapshotted")
                code.append(_code_entry(imp, d))
            else:
                dep_results.append((d, imp.output(d)))
            tick()
        out_results = []
        for o in outs:
            if o.url is None and o.path in metric_paths:
                if o.path.is_file():
                    values = read_metrics(o.path)
                    r = imp.mark(o, "metrics", f"{len(values)} metric(s) of stage {name}")
                    metrics += [{"name": k, "value": v, "split": split_for_metric(k), "path": r.path}
                                for k, v in values.items()]
                else:
                    r = ImportedOutput(repo.relpath(o.path), o.source, o.md5, "missing",
                                       message="metrics file not in the workspace; run 'dvc pull' or "
                                               "'dvc checkout' first")
                    imp.results.setdefault(o.path, r)
                    absent.append(r.path)
            elif o.url is None and o.path in plot_paths:
                imp.mark(o, "plots", "a DVC plot: not imported")
            else:
                out_results.append((o, imp.output(o)))
            tick()
        git = state.to_dict()
        if git.get("commit") and any(c["changed"] for c in code):
            git["dirty"] = True  # the stage ran with code other than the commit's
        imported_stages.append(_record_stage(repo, name, lock_rel, stage, deps, outs, dep_results,
                                             out_results, code, metrics, git, absent))

    return DvcImport(str(root), [imp.rel_to_dvc(f) for f in dvc_files], [imp.rel_to_dvc(x) for x in locks],
                     list(imp.results.values()), imported_stages)


def _code_entry(imp: _Importer, d: _Out) -> dict[str, Any]:
    """{path, md5 as dvc.lock recorded it, changed: the workspace holds other code now}."""
    rel = imp.repo.relpath(d.path)
    if not d.path.exists():
        return {"path": rel, "md5": d.md5, "changed": True}
    if d.md5 is None:
        return {"path": rel, "md5": None, "changed": False}
    try:
        actual = dvc_md5(d.path)
        if actual != d.md5 and d.legacy and d.path.is_file():
            actual = _md5_file(str(d.path), dos2unix=True)
    except OSError as exc:
        raise PathError(f"cannot read {d.path}: {exc.strerror}") from None
    return {"path": rel, "md5": d.md5, "changed": actual != d.md5}


def _record_stage(repo: Repo, name: str, lock_rel: str, stage: dict[str, Any],
                  all_deps: list[_Out], all_outs: list[_Out],
                  deps: list[tuple[_Out, ImportedOutput]],
                  outs: list[tuple[_Out, ImportedOutput]],
                  code: list[dict[str, Any]], metrics: list[dict[str, Any]],
                  git: dict[str, Any], absent: list[str]) -> ImportedStage:
    cmd = _command(stage.get("cmd"))
    kind = kind_for_stage(name)
    params = _params(stage.get("params"))
    inputs = [{"path": r.path, "role": role_for_path(r.path), "snapshot_id": r.snapshot_id,
               "dataset": r.dataset} for _, r in deps]
    outputs = [{"path": r.path, "snapshot_id": r.snapshot_id, "dataset": r.dataset} for _, r in outs]
    missing = [r.path for _, r in deps + outs if r.snapshot_id is None and r.status != "external"] + absent
    # the ID covers every dep and out, code and metrics included, as dvc.lock lists them
    run_id = stage_run_id(lock_rel, name, cmd, all_deps, all_outs)
    present_in = [runs.RunInput(i["snapshot_id"], i["role"], i["path"], i["dataset"])
                  for i in inputs if i["snapshot_id"]]
    present_out = [runs.RunOutput(o["snapshot_id"], o["path"], o["dataset"])
                   for o in outputs if o["snapshot_id"]]
    if runs.exists(repo, run_id):
        # an earlier import may have lacked paths that are in the workspace now
        added = runs.add_missing_io(repo, run_id, present_in, present_out)
        status = "updated" if added else "unchanged"
        recorded = bool(added)
    else:
        runs.record_imported(repo, run_id, kind=kind, command=cmd, params=params,
                             inputs=present_in, outputs=present_out,
                             note=f"imported from {lock_rel} stage {name}", git=git,
                             code={c["path"]: c["md5"] and f"md5:{c['md5']}" for c in code},
                             metrics=[(m["name"], m["value"], m["split"]) for m in metrics])
        status, recorded = "imported", True
    if missing:
        status = "incomplete"
    return ImportedStage(name, lock_rel, run_id, kind, cmd, inputs, outputs, params, status, missing,
                         recorded, code, metrics, git)


# -- md5: references --------------------------------------------------------------

@snapshots.register_scheme("md5")  # ``md5:<hash>`` in any snapshot reference
def resolve_md5(repo: Repo, value: str) -> str:
    """The snapshot whose DVC md5 is ``value`` (full, with or without ``.dir``, or a prefix)."""
    value = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{4,32}(\.dir)?", value):
        raise UsageError(f"not an md5: {value!r} (expected hex digits, optionally ending in .dir)")
    g = repo.graph
    if len(value.split(".")[0]) == 32:
        candidates = [value] if value.endswith(".dir") else [value, value + ".dir"]
    else:
        candidates = aliases.values_with_prefix(g, ALIAS_SCHEME, value)
        if len(candidates) > 1:
            raise AmbiguousRefError(f"md5 prefix {value!r} matches several DVC md5s; give more characters")
    for v in candidates:
        found = aliases.snapshots_with_alias(g, ALIAS_SCHEME, v)
        if found:
            return found[-1]  # the latest import of that content
    raise UnknownRefError(f"no snapshot has DVC md5 {value}; run 'lineage import dvc' first")
