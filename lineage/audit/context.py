"""``AuditContext``: the repository's answers to rules (``RuleContext``), cached per audit.

Several rules ask the same things (run records, upstream runs, fingerprint arrays,
graph walks); the context pays for each once.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from lineage import runs as _runs
from lineage import config as _config
from lineage import tabular
from lineage.audit import outofcore as _ooc
from lineage.audit import queries as gaudit
from lineage.audit.order import Order
from lineage.audit.protocol import Keys
from lineage.core.vocab import HELDOUT_ROLES
from lineage.repo import Repo
from lineage.runs import queries as gruns
from lineage.tabular.keys import as_pairs as _as_pairs
from lineage.tabular.keys import members, overlay
from lineage.tabular.rowskey import rows_key as rows_key_of
from lineage.tabular.keys import key_counts as _key_counts
from lineage.tabular.keys import lookup as _lookup
from lineage.tabular.neardup import find_near_duplicates

#: example rows a finding carries as evidence
EXAMPLES = 5

#: Runs that only move data (cut it, transform it) make no claim about held-out data:
#: the data rules judge the runs that learn, select or score.
NOT_JUDGED = ("split", "transform")

#: Whose ``train`` inputs are the training rows of a model: the model-training runs. The rows
#: a ``fit`` run (scaler, encoder) or a ``tune`` run (model selection) learned from are
#: judged by ``fit-on-heldout`` and ``tune-read-test`` instead (one cause, one finding).
TRAINING_KINDS = ("train",)

#: ``keys(sid, DATA_KEYS)``: the data keys, ``fp_data`` where a file has it, else ``fp``
DATA_KEYS = "data"
_FP_DATA = "fp_data"

#: the near-key columns a pass over the training rows can probe besides the data keys
_SCAN_KINDS = ("fp_near", "fp_near_shift")

#: the rules whose training-side joins run out of core when an audit is over its memory budget
OUT_OF_CORE_RULES = ("exact-overlap", "label-conflict", "group-overlap", "temporal-order", "no-test-set")


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
        self._splits: dict[tuple[str, str | None], list[tuple[str, set[str]]]] = {}
        self._downstream: dict[str, set[str]] = {}
        self._sources: dict[tuple[str, str | None], set[str]] = {}
        self._minhash: dict[str, Any] = {}
        self._rows_keys: dict[str, str | None] = {}
        self._natural: dict[tuple[str, str, str], int] = {}
        self._row_uses: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._masks: dict[tuple[tuple[str, ...], str, str], Any] = {}
        self._overlaps: dict[tuple[tuple[str, ...], str, str, str | None], dict[str, Any]] = {}
        self._outofcore: _ooc.OutOfCore | None = None
        self._plan: dict[str, Any] = {}
        self._pending: dict[tuple[str, str], Any] = {}
        self._pool: Any = None
        self._train_sids: set[str] = set()
        self._scan_kinds: set[str] = set()
        self._scans: dict[tuple[tuple[str, ...], str], Any] = {}

    # -- where the overlap joins run -------------------------------------------------
    def plan(self, run_ids: list[str], rules: list[str]) -> None:
        """Decide, once per audit, whether the exact-overlap family joins in memory or out of
        core: the keys it would load (``outofcore.estimate`` of the recorded rows of every
        training and held-out snapshot of the runs) against ``[audit] memory_budget``."""
        if not set(rules) & set(OUT_OF_CORE_RULES):
            return
        budget = _config.audit_memory_budget(self.repo.config)
        train: set[str] = set()
        heldout: set[str] = set()
        for run_id in run_ids:
            run = self.run(run_id)
            train |= set(self.train_snapshots(run)[0])
            heldout |= {i.snapshot_id for i in self.heldout_inputs(run)}
        self._train_sids = train
        rows = gaudit.snapshot_rows(self.graph, sorted(train | heldout))
        need = _ooc.estimate(sum(rows.get(s, 0) for s in train | heldout))
        self._plan = {"memory_budget": budget, "estimated_bytes": need}
        if need <= budget:
            return
        self._outofcore = _ooc.OutOfCore(self.repo, budget)
        held = _ooc.estimate(sum(rows.get(s, 0) for s in heldout))
        if held > budget:
            self._plan["note"] = (f"the held-out keys ({held} bytes) are over the memory budget too: they were "
                                  "held in memory and the training keys joined against them out of core")

    @property
    def meta(self) -> dict[str, Any]:
        """Which path the overlap joins took (``engine``), the budget and the estimate."""
        ooc = self._outofcore
        engine = _ooc.DUCKDB if ooc is not None and ooc.queries else _ooc.IN_MEMORY
        out = {"engine": engine, **self._plan}
        if ooc is not None:
            out["queries"] = ooc.queries
        return out

    def close(self) -> None:
        """Release the out-of-core engine and its temporary files, if any, and the threads
        that read key columns ahead (``read_ahead``)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._pending = None, {}
        if self._outofcore is not None:
            self._outofcore.close()

    def _can_scan(self) -> bool:
        from lineage.tabular import kernels

        k = kernels.get()
        return k is not None and hasattr(k, "key_table")

    def train_scan(self, train_ids: list[str], heldout_id: str):
        """The overlap of the training snapshots' rows with a held-out snapshot's, from one
        pass over the training rows (``lineage.audit.scan``): per key kind, the mask over
        the held-out keys (``keys(heldout_id, "data")``, the near keys of ``near_keys``)
        of those some training row has, and for the near kinds the training rows whose
        near key a held-out row has. Near kinds are those a rule said it would read
        (``read_ahead``). Out of core, the data keys are DuckDB's (``members_of``) and the
        pass probes the near kinds only: it holds nothing of the training side either.
        None where the pass does not apply (no compiled kernels, training keys loaded
        already, rows without ``fp``, out of core with no near kind to probe)."""
        ids = tuple(dict.fromkeys(train_ids))
        key = (ids, heldout_id)
        if key not in self._scans:
            result = None
            loaded = any((t, "fp") in self._keys or (t, "fp") in self._pending for t in ids)
            kinds = [c for c in _SCAN_KINDS if c in self._scan_kinds]
            data = self._outofcore is None
            if ids and not loaded and (data or kinds) and self._can_scan():
                from lineage.audit import scan as _scan

                held = {**({DATA_KEYS: self.keys(heldout_id, DATA_KEYS)[1]} if data else {}),
                        **{c: self.near_keys(heldout_id, c)[1] for c in kinds}}
                result = _scan.scan(self.repo, [self.fingerprints(t) for t in ids], held, kinds)
            self._scans[key] = result
        return self._scans[key]

    def near_keys(self, snapshot_id: str, column: str) -> Keys:
        """(positions, keys) of every row: the near key ``column`` where recorded, else the
        data key (which is the near key of a row without float values)."""
        base = self.keys(snapshot_id, DATA_KEYS)
        if column not in self.fingerprints(snapshot_id).column_names:
            return base
        return overlay(base, self.keys(snapshot_id, column))

    def read_ahead(self, wanted: list[tuple[str, str]]) -> None:
        """Start reading the key columns ``(snapshot, column)`` that the rules will ask
        ``keys`` for, in that order, on two threads (Parquet decoding lets go of the GIL):
        the reads run side by side, and beside the rules that need none of them; ``keys``
        waits for a column still being read. ``"data"`` reads ``fp`` and, where the
        snapshot has it, ``fp_data``; a column the snapshot lacks is not read. Nothing is
        read ahead when the overlap joins run out of core (the keys are over the budget)."""
        jobs = []
        for sid, column in dict.fromkeys(wanted):
            if sid in self._train_sids and self._can_scan():
                # the training rows are read by one pass (``train_scan``), not whole columns
                if column in _SCAN_KINDS:
                    self._scan_kinds.add(column)
                continue
            if self._outofcore is not None:
                continue
            try:
                table = self.fingerprints(sid)
                names = table.column_names  # the footers, read here, before any thread reads columns
            except Exception:  # noqa: BLE001 - not read ahead: the rule that reads it raises it
                continue
            for c in (("fp", _FP_DATA) if column == DATA_KEYS else (column,)):
                if c in names and (sid, c) not in self._keys and (sid, c) not in self._pending:
                    jobs.append((sid, c))
        if not jobs:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(2, thread_name_prefix="lineage-keys")
        for sid, c in jobs:
            self._pending[(sid, c)] = self._pool.submit(self.fingerprints(sid).keys, c)

    @property
    def graph(self):
        return self.repo.graph

    # -- runs and their inputs ------------------------------------------------------
    def run(self, run_id: str) -> _runs.RunRecord:
        if run_id not in self._runs:
            self._runs[run_id] = _runs.get(self.repo, run_id)
        return self._runs[run_id]

    @cached_property
    def order(self) -> Order:
        """Happens-before links of every read (``lineage.audit.order``)."""
        return Order(self.graph, rows_key=self.rows_key, row_counts=lambda: self._snapshot_rows)

    def upstream(self, run_id: str) -> list[_runs.RunRecord]:
        """Runs upstream of ``run_id`` (through the snapshots it read, in happens-before
        order), oldest first."""
        if run_id not in self._upstream:
            runs = [self.run(r) for r in self.order.upstream(run_id)]
            self._upstream[run_id] = sorted(runs, key=lambda r: (r.started, r.run_id))
        return self._upstream[run_id]

    def runs_downstream_of(self, run_id: str) -> set[str]:
        """Runs downstream of ``run_id`` (happens-before) and the snapshots they and it wrote."""
        if run_id not in self._downstream:
            runs = set(self.order.downstream(run_id))
            nodes = set(runs)
            for r in runs | {run_id}:
                nodes |= self.order.writes.get(r, set())
            self._downstream[run_id] = nodes
        return self._downstream[run_id]

    @cached_property
    def final_scorings(self) -> list[dict[str, Any]]:
        return gaudit.final_scorings(self.graph)

    def heldout_inputs(self, run: _runs.RunRecord, roles: tuple[str, ...] = HELDOUT_ROLES):
        return [i for i in run.inputs if i.role in roles]

    def training_inputs(self, run: _runs.RunRecord) -> list[tuple[_runs.RunInput, _runs.RunRecord]]:
        """(input, run) for every ``train``-role input of this run and of the ``train`` runs
        upstream of it: the rows a model behind this run was trained on (not the rows a
        scaler was fitted on or a tuning run selected with)."""
        out = []
        for r in [*self.upstream(run.run_id), run]:
            if r is run or r.kind in TRAINING_KINDS:
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
        uses = []
        for sid, records in self._heldout_records(roles).items():
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
                             roles: tuple[str, ...], *, containment: float = 0.9) -> list[dict[str, Any]]:
        """Runs other than ``run`` that use the input's content with one of ``roles``: the
        same files (``match: content``) or, in any file, some of its rows (``match: rows``,
        with the overlap; rows a split cut apart from duplicates in its input do not count).

        Order and lineage decide which uses count (docs/audit.md, "Order: happens-before"):
        on a ``validation`` read, every use but the final scorings used up before the read
        (once used, the test set becomes validation data); on any other read, only uses by
        runs downstream of ``run`` (its own model's validation or test data), so rows that
        are held out for another model (another fold, another outer loop) do not count, and
        a row match only when at least ``containment`` of the input's rows are held-out rows
        (the held-out set, or part of it, re-exported and trained on).
        """
        same = self.copies(i.snapshot_id)
        uses = [{**u, "match": "content"} for u in self.heldout_uses(i.snapshot_id, roles)
                if u["run_id"] != run.run_id]
        for sid, records in self._heldout_records(roles).items():
            if sid in same:
                continue
            for rec in records:
                if rec["run_id"] == run.run_id:
                    continue
                o = self._row_use(i.snapshot_id, sid, rec["run_id"])
                if o is not None:
                    uses.append({"snapshot": sid, **rec, "match": "rows", **o})
        if not uses:
            return uses
        if i.role == "validation":
            used_up = self.used_up_before_read(run.run_id, i.snapshot_id)
            return [u for u in uses if u["run_id"] not in used_up]
        if i.role not in HELDOUT_ROLES:
            downstream = self.order.downstream(run.run_id)
            uses = [u for u in uses if u["run_id"] in downstream]
            # held-out rows inside a training file of other rows are exact-overlap's (and
            # no-test-set's) business at the evaluation; here only a training file that *is*
            # held-out data: at least ``containment`` of its rows are the held-out set's
            return [u for u in uses if u["match"] == "content" or u["share_of_input"] >= containment]
        return uses

    def _heldout_records(self, roles: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
        if roles not in self._heldout_index:
            self._heldout_index[roles] = gaudit.heldout_snapshots(self.graph, roles)
        return self._heldout_index[roles]

    def _row_use(self, read_sid: str, heldout_sid: str, reader: str) -> dict[str, Any] | None:
        """Rows of ``heldout_sid`` (as ``reader`` read it) found in ``read_sid``, or None."""
        key = (read_sid, heldout_sid, reader)
        if key not in self._row_uses:
            o = self.overlap([read_sid], heldout_sid, reader=reader)
            read_rows = len(self.keys(read_sid, "data")[1]) or 1
            self._row_uses[key] = ({"overlap": o["overlap"], "rows": o["rows"], "fraction": o["fraction"],
                                    "share_of_input": round(min(1.0, o["overlap"] / read_rows), 6)}
                                   if o["overlap"] else None)
        return self._row_uses[key]

    def _content(self, snapshot_id: str) -> str:
        return gruns.content_key(self.graph, snapshot_id) or snapshot_id

    def copies(self, snapshot_id: str) -> set[str]:
        """The snapshot and every snapshot with the same files under other names."""
        return {snapshot_id, *gruns.same_content(self.graph, snapshot_id)}

    def lineage_sources(self, snapshot_id: str, reader: str | None = None) -> set[str]:
        """The snapshot, its copies, and every snapshot read by the run that wrote it (before
        ``reader`` read it) and by the runs upstream of that one."""
        key = (snapshot_id, reader)
        if key not in self._sources:
            nodes = self.copies(snapshot_id)
            for sid in self.order.snapshots_read(self._history(snapshot_id, reader)):
                nodes |= self.copies(sid)
            self._sources[key] = nodes
        return self._sources[key]

    def _history(self, snapshot_id: str, reader: str | None) -> frozenset[str]:
        """The runs behind a snapshot as ``reader`` read it (its writer before the read and
        everything upstream of that); without a reader, behind its latest writer."""
        if reader is not None and any(s == snapshot_id for s, _r, _t in self.order.reads.get(reader, ())):
            return self.order.chain(reader, snapshot_id)
        writers = [w for w in gruns.writers(self.graph, [snapshot_id])]
        if not writers:
            return frozenset()
        last = max(writers, key=lambda r: (self.run(r).started, r))
        return frozenset({last, *self.order.upstream(last)})

    def splits_upstream(self, snapshot_id: str, reader: str | None = None) -> list[tuple[str, set[str]]]:
        """(split run, every snapshot at or upstream of its inputs) for each split run in the
        history of the snapshot as ``reader`` read it."""
        key = (snapshot_id, reader)
        if key not in self._splits:
            out = []
            for rid in sorted(self._history(snapshot_id, reader)):
                if self.run(rid).kind != "split":
                    continue
                pre: set[str] = set()
                for i in self.run(rid).inputs:
                    pre |= self.lineage_sources(i.snapshot_id, rid)
                out.append((rid, pre))
            self._splits[key] = out
        return self._splits[key]

    def row_ancestors(self, snapshot_id: str, reader: str) -> set[str]:
        """The snapshot and what it was derived from row by row (through transformations,
        back to a split's output), as ``reader`` read it."""
        return self.order.row_ancestors(reader, snapshot_id, lambda r: self.run(r).kind == "split")

    def same_rows(self, snapshot_id: str, candidates: set[str]) -> bool:
        """Whether the snapshot is one of ``candidates`` or holds exactly the rows of one
        (re-serialised: another format, columns re-ordered, rows shuffled)."""
        if snapshot_id in candidates:
            return True
        mine = self.rows_key(snapshot_id)
        return mine is not None and any(self.rows_key(c) == mine for c in candidates)

    def rows_key(self, snapshot_id: str) -> str | None:
        """An order-free digest of the snapshot's rows (its ``fp`` keys); None without rows."""
        if snapshot_id not in self._rows_keys:
            pos, keys = self.keys(snapshot_id, "fp")
            table = self.fingerprints(snapshot_id)
            self._rows_keys[snapshot_id] = rows_key_of(keys) if len(keys) and len(keys) == table.num_rows else None
        return self._rows_keys[snapshot_id]

    @cached_property
    def _snapshot_rows(self) -> dict[str, int]:
        """{snapshot: rows} for every snapshot: tabular files by their rows, others as one."""
        rows = self.graph.conn.execute(
            "SELECT f.snapshot_id, sum(coalesce((SELECT max(t.rows) FROM tabular_files t "
            "WHERE t.digest = f.digest AND t.status = 'ok'), 1)) FROM files f GROUP BY f.snapshot_id")
        return {r[0]: int(r[1]) for r in rows}

    def snapshots_stored(self, snapshot_ids: list[str]) -> dict[str, bool]:
        return gaudit.snapshots_stored(self.graph, snapshot_ids)

    # -- rows, from stored fingerprints ----------------------------------------------
    def fingerprints(self, snapshot_id: str):
        """The snapshot's fingerprint table, read column by column as rules ask for them
        (``FingerprintColumns``: ``column_names``, ``num_rows``, ``column(name)``): a rule
        that compares ``fp`` keys never reads the near keys, labels or file names."""
        if snapshot_id not in self._tables:
            from lineage.tabular.load import FingerprintColumns

            self._tables[snapshot_id] = FingerprintColumns(self.repo, snapshot_id)
        return self._tables[snapshot_id]

    def keys(self, snapshot_id: str, column: str = "fp") -> Keys:
        """(row positions, 16-byte keys as a numpy void array) of non-null ``column`` values.

        ``column="data"`` gives the *data keys*: every row's ``fp_data`` where its file has
        one (the row without its index-like columns), else its ``fp``.
        """
        if (snapshot_id, column) not in self._keys:
            pending = self._pending.pop((snapshot_id, column), None)
            if pending is not None:
                self._keys[(snapshot_id, column)] = pending.result()
            elif column == DATA_KEYS:
                self._keys[(snapshot_id, column)] = self._data_keys(snapshot_id)
            else:
                self._keys[(snapshot_id, column)] = self.fingerprints(snapshot_id).keys(column)
        return self._keys[(snapshot_id, column)]

    def _data_keys(self, snapshot_id: str) -> Keys:
        base = self.keys(snapshot_id, "fp")
        if _FP_DATA not in self.fingerprints(snapshot_id).column_names:
            return base
        return overlay(base, self.keys(snapshot_id, _FP_DATA))

    def index_columns_left_out(self, snapshot_ids: list[str]) -> list[dict[str, Any]]:
        """``[{snapshot, files}]``: files whose data keys leave index-like columns out."""
        out = []
        for sid in dict.fromkeys(snapshot_ids):
            table = self.fingerprints(sid)
            if _FP_DATA not in table.column_names:
                files = []
            elif self._outofcore is not None:
                files = self._outofcore.files_with(table, _FP_DATA)
            else:
                files = table.files_with(_FP_DATA)
            if files:
                out.append({"snapshot": sid, "files": files})
        return out

    def members(self, keys_a, keys_b):
        return members(keys_a, keys_b)

    def members_of(self, snapshot_ids: list[str], keys_b, column: str = "data"):
        """Boolean mask over ``keys_b``: which keys occur among the snapshots' ``column`` keys."""
        import numpy as np

        ids = list(dict.fromkeys(snapshot_ids))
        if not ids or len(keys_b) == 0:
            return np.zeros(len(keys_b), dtype=bool)
        if self._outofcore is not None:
            return self._outofcore.members([self.fingerprints(s) for s in ids], column, keys_b)
        parts = [self.keys(s, column)[1] for s in ids]
        return members(np.concatenate(parts) if len(parts) != 1 else parts[0], keys_b)

    def overlap_mask(self, train_ids: list[str], heldout_id: str, column: str = "data"):
        """Boolean mask over ``keys(heldout_id, column)``: which rows have a ``column`` key
        among the train snapshots' (read only: shared by every rule that asks)."""
        mask = self._overlap_mask(train_ids, heldout_id, column)
        mask.flags.writeable = False
        return mask

    def _overlap_mask(self, train_ids: list[str], heldout_id: str, column: str):
        """Which rows of ``heldout_id`` have a ``column`` key among the train snapshots':
        computed once per audit for each (train snapshots, held-out snapshot, column)."""
        key = (tuple(dict.fromkeys(train_ids)), heldout_id, column)
        if key not in self._masks:
            scan = self.train_scan(list(key[0]), heldout_id) if column == DATA_KEYS else None
            self._masks[key] = (scan.masks[DATA_KEYS] if scan is not None and DATA_KEYS in scan.masks else
                                self.members_of(list(key[0]), self.keys(heldout_id, column)[1], column))
        return self._masks[key]

    def overlap(self, train_ids: list[str], heldout_id: str, column: str = "data", *,
                reader: str | None = None) -> dict[str, Any]:
        """How many rows of snapshot ``heldout_id`` have a ``column`` key found in the train
        snapshots: counts, the fraction, and example rows of the held-out side. By default
        the data keys (``keys``): rows compared without index-like columns, and
        ``index_columns_left_out`` lists the files where that was done (when rows overlap).

        With ``reader`` (the run that read ``heldout_id``), rows the data held more than once
        before a split cut it apart are told apart (``source_duplicates``): a row that the
        split's input already held twice lands on both sides of a clean split by chance.
        They are not counted in ``overlap``.
        """
        import copy

        key = (tuple(dict.fromkeys(train_ids)), heldout_id, column, reader)
        if key not in self._overlaps:
            self._overlaps[key] = self._overlap(list(key[0]), heldout_id, column, reader)
        return copy.deepcopy(self._overlaps[key])

    def _overlap(self, train_ids: list[str], heldout_id: str, column: str, reader: str | None) -> dict[str, Any]:
        import numpy as np

        h_pos, h_keys = self.keys(heldout_id, column)
        if not train_ids or len(h_keys) == 0:
            return {"rows": len(h_keys), "overlap": 0, "fraction": 0.0, "examples": []}
        mask = self._overlap_mask(train_ids, heldout_id, column).copy()
        out: dict[str, Any] = {}
        if reader is not None and mask.any():
            natural = self.split_duplicates(heldout_id, reader, column)
            if natural and mask.sum() <= natural:
                out = {"source_duplicates": int(mask.sum()), "sources": self._split_inputs(heldout_id, reader)}
                mask = np.zeros(len(h_keys), dtype=bool)
            elif not natural and not self.splits_upstream(heldout_id, reader):
                # no recorded split (cut in a notebook, then snapshotted): the recorded data
                # that holds the held-out rows tells duplicates apart
                explained, sources = self._recorded_source_duplicates(heldout_id, h_keys, mask, column,
                                                                      exclude=set(train_ids))
                if explained.any() and not (mask & ~explained).any():
                    out = {"source_duplicates": int(mask.sum()), "sources": sources}
                    mask = np.zeros(len(h_keys), dtype=bool)
        if column == DATA_KEYS and mask.any():
            left_out = self.index_columns_left_out([*train_ids, heldout_id])
            if left_out:
                out["index_columns_left_out"] = left_out
        return {"rows": int(len(h_keys)), "overlap": int(mask.sum()),
                "fraction": round(float(mask.sum()) / len(h_keys), 6),
                "examples": self.row_examples(heldout_id, h_pos[mask]), **out}

    def _natural_counts(self, split_run: str, inputs: list[str], column: str):
        """(distinct keys, counts) of the rows a split's inputs hold more than once *as the data
        came*: a key counts as often as the split's inputs hold it, but no more often than the
        recorded origins of those inputs (snapshots no run wrote) hold it. Copies a recorded
        run made (oversampling) are the pipeline's, not the data's."""
        import numpy as np

        s_uniq, s_counts = _key_counts(np.concatenate([self.keys(x, column)[1] for x in inputs]))
        roots: set[str] = set()
        for x in inputs:
            chain = self.order.data_chain(split_run, x)
            if not chain:
                roots.add(x)
                continue
            for run_id in chain:
                for sid, role, stamp in self.order.reads.get(run_id, ()):
                    if role != "model" and self.order.writer_at(run_id, sid, stamp) is None:
                        roots.add(sid)
        if not roots:
            return s_uniq[:0], s_counts[:0]
        if roots == set(inputs):
            return s_uniq, s_counts
        r_uniq, r_counts = _key_counts(np.concatenate([self.keys(x, column)[1] for x in sorted(roots)]))
        at = _lookup(r_uniq, s_uniq)
        return s_uniq, np.minimum(s_counts, np.where(at >= 0, r_counts[np.maximum(at, 0)], 0))

    def _recorded_source_duplicates(self, heldout_id: str, h_keys, mask, column: str, *,
                                    exclude: set[str] = frozenset()):
        """(mask over ``h_keys`` of overlapping rows that a recorded source holds more often
        than the held-out set does, those sources). A source is a snapshot no run wrote that
        holds at least 90 % of the held-out rows (the data the split was cut from); the
        training snapshots compared (``exclude``) are not."""
        import numpy as np

        want = self._snapshot_rows.get(heldout_id, 0)
        written = {sid for sids in self.order.writes.values() for sid in sids}
        candidates = [sid for sid, n in self._snapshot_rows.items()
                      if n > want and sid not in written and sid != heldout_id and sid not in exclude]
        explained = np.zeros(len(h_keys), dtype=bool)
        sources = []
        if not candidates or len(candidates) > 50:
            return explained, sources  # too many to compare: no explanation, the overlap stands
        h_uniq, h_counts = _key_counts(h_keys)
        pairs = _as_pairs(h_keys)
        held_n = h_counts[np.maximum(_lookup(h_uniq, pairs), 0)]
        for sid in sorted(candidates):
            keys = self.keys(sid, column)[1]
            if len(keys) == 0 or members(keys, h_keys).mean() < 0.9:
                continue
            s_uniq, s_counts = _key_counts(keys)
            at = _lookup(s_uniq, pairs)
            src_n = np.where(at >= 0, s_counts[np.maximum(at, 0)], 0)
            hit = mask & (src_n >= 2) & (held_n < src_n)
            if hit.any():
                explained |= hit
                sources.append(sid)
        return explained, sources

    def _split_inputs(self, heldout_id: str, reader: str) -> list[str]:
        """Snapshots the split runs in the held-out set's history read directly."""
        return sorted({i.snapshot_id for rid, _pre in self.splits_upstream(heldout_id, reader)
                       for i in self.run(rid).inputs if i.role not in ("model",)})

    def split_duplicates(self, heldout_id: str, reader: str, column: str = "data") -> int:
        """Rows a split in the held-out set's history put on the held-out side while another of
        its outputs holds the same row, because its input held that row more than once:
        duplicates in the data, cut apart by chance. Counted at the split, so the count
        still explains an overlap after row-wise transformations (scaling) of both sides."""
        import numpy as np

        key = (heldout_id, reader, column)
        if key in self._natural:
            return self._natural[key]
        history = (self.order.data_chain(reader, heldout_id)
                   if any(s == heldout_id for s, _r, _t in self.order.reads.get(reader, ())) else frozenset())
        upstream_reads = self.order.data_reads(history) | {heldout_id}
        contents = {self.order.content(x) for x in upstream_reads}
        total = 0
        for rid in history:
            if self.run(rid).kind != "split":
                continue
            outs = self.order.writes.get(rid, set())
            held = [o for o in outs if o in upstream_reads or self.order.content(o) in contents]
            others = [o for o in outs if o not in held]
            inputs = [i.snapshot_id for i in self.run(rid).inputs if i.role != "model"]
            if not held or not others or not inputs:
                continue
            s_uniq, s_counts = self._natural_counts(rid, inputs, column)
            other_keys = np.concatenate([self.keys(x, column)[1] for x in others])
            for h in held:
                h_keys = self.keys(h, column)[1]
                shared = members(other_keys, h_keys)
                if not shared.any():
                    continue
                h_uniq, h_counts = _key_counts(h_keys)
                pairs = _as_pairs(h_keys)
                s_at, h_at = _lookup(s_uniq, pairs), _lookup(h_uniq, pairs)
                src_n = np.where(s_at >= 0, s_counts[np.maximum(s_at, 0)], 0)
                held_n = h_counts[np.maximum(h_at, 0)]
                total += int((shared & (src_n >= 2) & (held_n < src_n)).sum())
        self._natural[key] = total
        return total

    def row_examples(self, snapshot_id: str, positions) -> list[dict[str, Any]]:
        """A few (file, row) pairs of the snapshot at ``positions`` for the evidence."""
        pairs = self.fingerprints(snapshot_id).file_rows(list(positions[:EXAMPLES]))
        return [{"file": f, "row": r} for f, r in pairs]

    def newest_time(self, snapshot_id: str) -> tuple[Any, bool]:
        """(the newest value of the snapshot's ``time`` column, whether it is a time stamp)."""
        if self._outofcore is not None:
            return self._outofcore.newest_time(self.fingerprints(snapshot_id))
        import pyarrow as pa
        import pyarrow.compute as pc

        col = self.fingerprints(snapshot_id).column("time")
        return pc.max(col).as_py(), pa.types.is_timestamp(col.type)

    def unfingerprinted(self, snapshot_id: str) -> list[dict[str, str]]:
        return self.fingerprints(snapshot_id).not_fingerprinted()

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
