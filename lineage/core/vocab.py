"""The words of the lineage graph: run kinds and input roles (docs/runs.md)."""

from __future__ import annotations

#: what a run does; ``fit`` learns state from data (scaler, vocabulary, oversampling)
KINDS = ("split", "fit", "transform", "train", "tune", "evaluate", "other")
#: what a run's input is to it
ROLES = ("train", "validation", "test", "model", "reference", "other")
#: roles the training algorithm must never see
HELDOUT_ROLES = ("validation", "test")
#: kinds that learn from their inputs
LEARNING_KINDS = ("fit", "train", "tune")
#: roles whose rows the data rules compare
DATA_ROLES = ("train", "validation", "test")
