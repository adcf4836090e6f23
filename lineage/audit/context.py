"""``AuditContext``: the repository's answers to rules (``RuleContext``), cached per audit.

Several rules ask the same things (run records, upstream runs, fingerprint arrays,
graph walks); the context pays for each once.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from lineage import runs as _runs
from lineage import tabular
from lineage.audit import queries as gaudit
from lineage.audit.protocol import Keys
from lineage.core.vocab import HELDOUT_ROLES, LEARNING_KINDS
from lineage.repo import Repo
from lineage.runs import queries as gruns
from lineage.tabular.neardup import find_near_duplicates

#: example rows a finding carries as evidence
EXAMPLES = 5

#: Runs that only move data (cut it, transform it) make no claim about held-out data:
#: the data rules judge the runs that learn, select or score.
NOT_JUDGED = ("split", "transform")


class AuditContext:
    """What rules ask the repository, cached for the length of one audit (a ``RuleContext``)."""

    def __init__(self, repo: Repo, config: Any = None) -> None:
        self.repo = repo
        self.config = config
        self._runs: dict[str, _runs.RunRecord] = {}
        self._upstream: dict[str, list[_runs.RunRecord]] = {}
        self._keys: dict[tuple[str, str], Keys] = {}
        self._tables: dict[str, Any] = {}
        self._profiles: dict[str, Any] = {}
        self._heldout_index: dict[tuple[str, ...], dict[str, list[dict[str, Any]]]] = {}
        self._splits: dict[str, list[tuple[str, set[str]]]] = {}
        self._downstream: dict[str, set[str]] = {}
        self._sources: dict[str, set[str]] = {}
        self._minhash: dict[str, Any] = {}

    @property
    def graph(self):
        return self.repo.graph

    # -- runs and their inputs ------------------------------------------------------
    def run(self, run_id: str) -> _runs.RunRecord:
        if run_id not in self._runs:
            self._runs[run_id] = _runs.get(self.repo, run_id)
        return self._runs[run_id]

    def upstream(self, run_id: str) -> list[_runs.RunRecord]:
        """Runs upstream of ``run_id`` (through the snapshots it read), oldest first."""
        if run_id not in self._upstream:
            self._upstream[run_id] = [self.run(r) for r in gaudit.upstream_run_ids(self.graph, run_id)]
        return self._upstream[run_id]

    def runs_downstream_of(self, run_id: str) -> set[str]:
        if run_id not in self._downstream:
            self._downstream[run_id] = {n for edge in gruns.descendants(self.graph, [run_id]) for n in edge[:2]}
        return self._downstream[run_id]

    @cached_property
    def final_scorings(self) -> list[dict[str, Any]]:
        return gaudit.final_scorings(self.graph)

    def heldout_inputs(self, run: _runs.RunRecord, roles: tuple[str, ...] = HELDOUT_ROLES):
        return [i for i in run.inputs if i.role in roles]

    def training_inputs(self, run: _runs.RunRecord) -> list[tuple[_runs.RunInput, _runs.RunRecord]]:
        """(input, run) for every ``train``-role input of this run and of the learning runs
        upstream of it: the rows a model behind this run was trained on."""
        out = []
        for r in [*self.upstream(run.run_id), run]:
            if r is run or r.kind in LEARNING_KINDS:
                out += [(i, r) for i in r.inputs if i.role == "train"]
        return out

    def train_snapshots(self, run: _runs.RunRecord) -> tuple[list[str], list[dict[str, Any]]]:
        """Snapshot IDs a model behind ``run`` was trained on, with who read them.

        Empty for runs that only move data (``split``, ``transform``).
        """
        if not self.judges(run):
            return [], []
        pairs = self.training_inputs(run)
        ids = list(dict.fromkeys(i.snapshot_id for i, _ in pairs))
        who = [{"snapshot": i.snapshot_id, "dataset": i.dataset, "path": i.path, "run_id": r.run_id,
                "kind": r.kind} for i, r in pairs]
        return ids, who

    def judges(self, run: _runs.RunRecord) -> bool:
        return run.kind not in NOT_JUDGED

    def describe_input(self, i: _runs.RunInput) -> dict[str, Any]:
        return {"snapshot": i.snapshot_id, "role": i.role, "dataset": i.dataset, "path": i.path}

    # -- snapshots in the lineage graph ---------------------------------------------
    def content_key(self, snapshot_id: str) -> str | None:
        return gruns.content_key(self.graph, snapshot_id)

    def heldout_uses(self, snapshot_id: str, roles: tuple[str, ...]) -> list[dict[str, Any]]:
        """Runs that read this snapshot (or a copy with the same content) with a held-out role."""
        key = gruns.content_key(self.graph, snapshot_id)
        same = {snapshot_id, *gruns.same_content(self.graph, snapshot_id)} if key else {snapshot_id}
        if roles not in self._heldout_index:
            self._heldout_index[roles] = gaudit.heldout_snapshots(self.graph, roles)
        uses = []
        for sid, records in self._heldout_index[roles].items():
            if sid in same:
                uses += [{"snapshot": sid, **r} for r in records]
        return uses

    def used_up_before_read(self, run_id: str, snapshot_id: str) -> set[str]:
        """Final scorings (``final_scorings``) that finished before ``run_id`` read ``snapshot_id``,
        of another model lineage: a scoring of a model trained on content that ``run_id`` also
        reads as training data has not made its test set validation data for that lineage."""
        scorings = {s["run_id"] for s in self.final_scorings}
        done = scorings & gaudit.evaluations_finished_before_read(self.graph, run_id, snapshot_id)
        own = {self._content(i.snapshot_id) for i in self.run(run_id).inputs if i.role == "train"}
        return {s for s in done
                if not own & {self._content(i.snapshot_id) for i, _ in self.training_inputs(self.run(s))}}

    def heldout_uses_against(self, run: _runs.RunRecord, i: _runs.RunInput,
                             roles: tuple[str, ...]) -> list[dict[str, Any]]:
        """``heldout_uses`` of the input's content by other runs; on a ``validation`` read,
        minus the ``used_up_before_read`` scorings (once used, the test set becomes
        validation data)."""
        uses = [u for u in self.heldout_uses(i.snapshot_id, roles) if u["run_id"] != run.run_id]
        if i.role == "validation" and uses:
            used_up = self.used_up_before_read(run.run_id, i.snapshot_id)
            uses = [u for u in uses if u["run_id"] not in used_up]
        return uses

    def _content(self, snapshot_id: str) -> str:
        return gruns.content_key(self.graph, snapshot_id) or snapshot_id

    def lineage_sources(self, snapshot_id: str) -> set[str]:
        """The snapshot, its copies, and every snapshot upstream of it in the lineage graph."""
        if snapshot_id not in self._sources:
            nodes = {snapshot_id, *gruns.same_content(self.graph, snapshot_id)}
            for node in list(nodes):
                for child, parent, _kind in gruns.ancestors(self.graph, node):
                    nodes.update((child, parent))
            copies = set()
            for node in nodes:
                copies.update(gruns.same_content(self.graph, node))
            self._sources[snapshot_id] = nodes | copies
        return self._sources[snapshot_id]

    def splits_upstream(self, snapshot_id: str) -> list[tuple[str, set[str]]]:
        """(split run, every snapshot at or upstream of its inputs) for split runs upstream of a snapshot."""
        if snapshot_id not in self._splits:
            nodes = {n for edge in gruns.ancestors(self.graph, snapshot_id) for n in edge[:2]}
            out = []
            for rid in sorted(nodes):
                if not gruns.run_exists(self.graph, rid) or self.run(rid).kind != "split":
                    continue
                pre: set[str] = set()
                for i in self.run(rid).inputs:
                    pre |= self.lineage_sources(i.snapshot_id)
                out.append((rid, pre))
            self._splits[snapshot_id] = out
        return self._splits[snapshot_id]

    def snapshots_stored(self, snapshot_ids: list[str]) -> dict[str, bool]:
        return gaudit.snapshots_stored(self.graph, snapshot_ids)

    # -- rows, from stored fingerprints ----------------------------------------------
    def fingerprints(self, snapshot_id: str):
        """The snapshot's fingerprint table (pyarrow), computed once per audit."""
        if snapshot_id not in self._tables:
            self._tables[snapshot_id] = tabular.load_fingerprints(self.repo, snapshot_id)
        return self._tables[snapshot_id]

    def keys(self, snapshot_id: str, column: str = "fp") -> Keys:
        """(row positions, 16-byte keys as a numpy void array) of non-null ``column`` values."""
        if (snapshot_id, column) not in self._keys:
            self._keys[(snapshot_id, column)] = fingerprint_keys(self.fingerprints(snapshot_id), column)
        return self._keys[(snapshot_id, column)]

    def members(self, keys_a, keys_b):
        return members(keys_a, keys_b)

    def overlap(self, train_ids: list[str], heldout_id: str, column: str = "fp") -> dict[str, Any]:
        """How many rows of snapshot ``heldout_id`` have a ``column`` key found in the train
        snapshots: counts, the fraction, and example rows of the held-out side."""
        import numpy as np

        h_pos, h_keys = self.keys(heldout_id, column)
        train_keys = [self.keys(t, column)[1] for t in train_ids]
        if not train_keys or len(h_keys) == 0:
            return {"rows": len(h_keys), "overlap": 0, "fraction": 0.0, "examples": []}
        a = np.concatenate(train_keys) if len(train_keys) > 1 else train_keys[0]
        mask = members(a, h_keys)
        return {"rows": int(len(h_keys)), "overlap": int(mask.sum()),
                "fraction": round(float(mask.sum()) / len(h_keys), 6),
                "examples": self.row_examples(heldout_id, h_pos[mask])}

    def row_examples(self, snapshot_id: str, positions) -> list[dict[str, Any]]:
        """A few (file, row) pairs of the snapshot at ``positions`` for the evidence."""
        table = self.fingerprints(snapshot_id)
        return [{"file": table.column("file")[int(p)].as_py(), "row": table.column("row")[int(p)].as_py()}
                for p in list(positions[:EXAMPLES])]

    def unfingerprinted(self, snapshot_id: str) -> list[dict[str, str]]:
        return tabular.not_fingerprinted(self.fingerprints(snapshot_id))

    def near_duplicates(self, train_ids: list[str], heldout_id: str, threshold: float):
        """(near-duplicate pairs, held-out rows) from the stored MinHash signatures, or
        None when the training or the held-out side has none."""
        train_sigs = [s for s in (self._signatures(t) for t in train_ids) if s is not None]
        sigs = self._signatures(heldout_id)
        if not train_sigs or sigs is None or sigs.num_rows == 0:
            return None
        import pyarrow as pa

        train_table = pa.concat_tables(train_sigs) if len(train_sigs) > 1 else train_sigs[0]
        return find_near_duplicates(train_table, sigs, threshold), sigs.num_rows

    def _signatures(self, snapshot_id: str):
        if snapshot_id not in self._minhash:
            self._minhash[snapshot_id] = tabular.load_minhash(self.repo, snapshot_id)
        return self._minhash[snapshot_id]

    # -- columns, from stored profiles -----------------------------------------------
    def profiles(self, snapshot_id: str) -> dict[str, dict[str, Any]]:
        """Merged column profiles of every readable tabular file of the snapshot."""
        if snapshot_id not in self._profiles:
            per_file = tabular.load_profiles(self.repo, snapshot_id)
            self._profiles[snapshot_id] = tabular.merge_profiles(list(per_file.values())) if per_file else {}
        return self._profiles[snapshot_id]

    def declarations(self, snapshot_id: str) -> dict[str, str]:
        return tabular.snapshot_declarations(self.repo, snapshot_id)

    def ks_distance(self, a: dict[str, Any], b: dict[str, Any]) -> float | None:
        if not (a.get("quantiles") and b.get("quantiles")):
            return None  # no values on one side: nothing to compare
        return tabular.ks_from_profiles(a, b)

    def js_distance(self, a: dict[str, Any], b: dict[str, Any]) -> float | None:
        if not (_counted(a) and _counted(b)):
            return None  # no values on one side: nothing to compare
        return tabular.jensen_shannon(a, b)


def _counted(profile: dict[str, Any]) -> int:
    """Values a categorical profile counts: its top-k, the rest, and the nulls."""
    return sum(v for _, v in profile.get("top", [])) + profile.get("other", 0) + profile.get("nulls", 0)


def fingerprint_keys(table, column: str = "fp") -> Keys:
    """Positions and 16-byte keys (numpy ``V16``) of the non-null values of ``column``."""
    import numpy as np

    col = table.column(column).combine_chunks()
    n = len(col)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype="V16")
    values = np.frombuffer(col.buffers()[1], dtype="V16", count=n + col.offset)[col.offset:]
    if col.null_count:
        valid = np.asarray(col.is_valid())
        positions = np.nonzero(valid)[0]
        return positions, values[positions]
    return np.arange(n), values


def members(keys_a, keys_b):
    """Boolean mask over ``keys_b``: which 16-byte keys also occur in ``keys_a``.

    Vectorised: the first 8 bytes select candidates with ``np.isin`` on uint64, then
    the full 16 bytes of each candidate are compared exactly.
    """
    import numpy as np

    if len(keys_a) == 0 or len(keys_b) == 0:
        return np.zeros(len(keys_b), dtype=bool)
    a = np.ascontiguousarray(keys_a).view(np.uint64).reshape(-1, 2)
    b = np.ascontiguousarray(keys_b).view(np.uint64).reshape(-1, 2)
    cand = np.isin(b[:, 0], a[:, 0])
    if not cand.any():
        return cand
    idx = np.nonzero(cand)[0]
    a_full = np.unique(a[np.isin(a[:, 0], b[idx, 0])].view([("h", np.uint64), ("l", np.uint64)]).ravel())
    b_full = b[idx].view([("h", np.uint64), ("l", np.uint64)]).ravel()
    cand[idx] = np.isin(b_full, a_full)
    return cand
