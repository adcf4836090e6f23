"""What a rule may ask during an audit: the ``RuleContext`` protocol.

A leaf module: it imports nothing of lineage, so a rule (built-in or plug-in) depends
on this contract only, never on how the audit is built. ``AuditContext``
(``lineage.audit.context``) implements it and answers from the lineage graph and the
stored fingerprints and profiles: data is never reread.

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        train_ids, who = ctx.train_snapshots(run)
        for h in ctx.heldout_inputs(run):
            o = ctx.overlap(train_ids, h.snapshot_id)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

#: (row positions, 16-byte keys as a numpy ``V16`` array) of a fingerprint column
Keys = tuple[Any, Any]


class InputView(Protocol):
    """One input of a run: a snapshot read with a role."""

    snapshot_id: str
    role: str
    dataset: str | None
    path: str | None


class MetricView(Protocol):
    name: str
    value: float
    split: str | None


class RunView(Protocol):
    """A recorded run, as rules see it."""

    run_id: str
    kind: str
    status: str
    started: str
    user: str | None
    git: dict[str, Any]
    inputs: Sequence[InputView]
    metrics: Sequence[MetricView]


class RuleContext(Protocol):
    """Everything a rule may ask. Answers are cached for the length of one audit."""

    #: the audit's settings: ``fail_on``, ``disabled``, ``rules`` (per-rule options)
    config: Any

    # -- runs and their inputs ------------------------------------------------------
    def run(self, run_id: str) -> RunView:
        """The run record."""

    def upstream(self, run_id: str) -> list[RunView]:
        """Runs upstream of ``run_id`` through the snapshots it read (happens-before links,
        following renamed and re-serialised copies), oldest first."""

    def runs_downstream_of(self, run_id: str) -> set[str]:
        """Runs downstream of a run (happens-before) and the snapshots they and it wrote."""

    @property
    def final_scorings(self) -> list[dict[str, Any]]:
        """Every ``evaluate`` run with a ``test`` input that counts as a use of the test
        set (a failed or aborted one only when it logged a test score), oldest first:
        run_id, snapshot_id, content_key, dataset, started, status."""

    def heldout_inputs(self, run: RunView, roles: tuple[str, ...] = ...) -> list[InputView]:
        """The run's inputs with a held-out role (validation, test; or ``roles``)."""

    def training_inputs(self, run: RunView) -> list[tuple[InputView, RunView]]:
        """(input, run) of every ``train`` input of the run and of the learning runs upstream."""

    def train_snapshots(self, run: RunView) -> tuple[list[str], list[dict[str, Any]]]:
        """Snapshots a model behind ``run`` trained on, with who read them; empty for runs
        that only move data (split, transform)."""

    def judges(self, run: RunView) -> bool:
        """Whether the data rules judge the run: not for runs that only move data (split,
        transform), which make no claim about held-out data."""

    def describe_input(self, i: InputView) -> dict[str, Any]:
        """The input as evidence: snapshot, role, dataset, path."""

    # -- snapshots in the lineage graph ---------------------------------------------
    def content_key(self, snapshot_id: str) -> str | None:
        """A key equal for snapshots with the same files (copies under other names)."""

    def heldout_uses(self, snapshot_id: str, roles: tuple[str, ...]) -> list[dict[str, Any]]:
        """Runs that read this snapshot, or a copy of it, with one of ``roles``."""

    def used_up_before_read(self, run_id: str, snapshot_id: str) -> set[str]:
        """Final scorings that finished before ``run_id`` read ``snapshot_id`` (happens-before:
        time, then event order), of models trained on content other than ``run_id``'s
        training inputs. A test set they scored has become validation data."""

    def heldout_uses_against(self, run: RunView, i: InputView, roles: tuple[str, ...], *,
                             containment: float = 0.9) -> list[dict[str, Any]]:
        """Uses with ``roles`` by other runs of the input's content (``match: content``) or of
        its rows in any file (``match: rows``, with the overlap); on a ``validation`` read
        minus the ``used_up_before_read`` scorings; on any other read only uses downstream of
        ``run``, and row matches where at least ``containment`` of the input's rows are held out."""

    def copies(self, snapshot_id: str) -> set[str]:
        """The snapshot and every snapshot with the same files under other names."""

    def lineage_sources(self, snapshot_id: str, reader: str | None = None) -> set[str]:
        """The snapshot, its copies, and every snapshot in its history as ``reader`` read it."""

    def splits_upstream(self, snapshot_id: str, reader: str | None = None) -> list[tuple[str, set[str]]]:
        """(split run, every snapshot at or upstream of its inputs) for each split run in the
        history of the snapshot as ``reader`` read it."""

    def same_rows(self, snapshot_id: str, candidates: set[str]) -> bool:
        """Whether the snapshot is one of ``candidates`` or holds exactly the rows of one."""

    def rows_key(self, snapshot_id: str) -> str | None:
        """An order-free digest of the snapshot's rows; None without rows."""

    def split_duplicates(self, heldout_id: str, reader: str, column: str = "data") -> int:
        """Rows of the held-out set that a split cut apart from duplicates its input held."""

    def snapshots_stored(self, snapshot_ids: list[str]) -> dict[str, bool]:
        """Whether each snapshot was recorded with its bytes kept."""

    # -- rows, from stored fingerprints ----------------------------------------------
    def fingerprints(self, snapshot_id: str) -> Any:
        """The snapshot's fingerprint table (pyarrow): file, row, fp, fp_features,
        group, time, label; fp_near, fp_near_shift when a file has near keys; fp_data
        when a file has index-like columns."""

    def keys(self, snapshot_id: str, column: str = "fp") -> Keys:
        """(row positions, keys) of the non-null values of a fingerprint column; ``"data"``:
        every row's data key (``fp_data`` where its file has one, else ``fp``)."""

    def members(self, keys_a: Any, keys_b: Any) -> Any:
        """Boolean mask over ``keys_b``: which keys also occur in ``keys_a``."""

    def members_of(self, snapshot_ids: list[str], keys_b: Any, column: str = "data") -> Any:
        """Boolean mask over ``keys_b``: which keys occur among the snapshots' ``column`` keys."""

    def overlap_mask(self, train_ids: list[str], heldout_id: str, column: str = "data") -> Any:
        """Boolean mask (read only) over ``keys(heldout_id, column)``: which rows have a key
        among the train snapshots' (computed once per audit, shared by every rule that asks)."""

    def overlap(self, train_ids: list[str], heldout_id: str, column: str = "data", *,
                reader: str | None = None) -> dict[str, Any]:
        """How many rows of ``heldout_id`` have a key found in ``train_ids``: rows,
        overlap, fraction and example rows. With ``reader``, an overlap made only of
        duplicates a split cut apart is ``source_duplicates``, not ``overlap``. Compared by
        data keys unless ``column`` says otherwise."""

    def train_scan(self, train_ids: list[str], heldout_id: str) -> Any:
        """The overlap of the training rows with a held-out snapshot's from one pass over the
        training rows (``lineage.audit.scan.Scan``: per key kind, the mask over the held-out
        keys found, and for near keys the training rows they hit), or None where that
        pass does not apply (then join whole key columns)."""

    def row_examples(self, snapshot_id: str, positions: Any) -> list[dict[str, Any]]:
        """A few (file, row) pairs of the snapshot at ``positions``, for evidence."""

    def newest_time(self, snapshot_id: str) -> tuple[Any, bool]:
        """(the newest value of the snapshot's ``time`` column, whether it is a time stamp)."""

    def unfingerprinted(self, snapshot_id: str) -> list[dict[str, str]]:
        """``[{file, reason}]`` of the snapshot's tabular files whose rows were not
        fingerprinted (each counts as one row)."""

    def near_duplicates(self, train_ids: list[str], heldout_id: str, threshold: float) -> Any:
        """(pairs, held-out row count) of near-duplicate text rows (MinHash, verified),
        or None when either side has no signatures."""

    # -- columns, from stored profiles -----------------------------------------------
    def profiles(self, snapshot_id: str) -> dict[str, dict[str, Any]]:
        """Merged column profiles of the snapshot's readable tabular files."""

    def declarations(self, snapshot_id: str) -> dict[str, str]:
        """The snapshot's declared columns: label, group, time, text."""

    def ks_distance(self, a: dict[str, Any], b: dict[str, Any]) -> float | None:
        """Kolmogorov-Smirnov statistic of two numeric profiles; None without values."""

    def js_distance(self, a: dict[str, Any], b: dict[str, Any]) -> float | None:
        """Jensen-Shannon distance of two categorical profiles; None without values."""
