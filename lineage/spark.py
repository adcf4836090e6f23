"""``lineage.spark``: row fingerprints and snapshots of Spark tables (``lineage.interop.spark``)."""

from lineage.interop.spark import DATAFRAME_FOLDER, check_executors, fingerprint, snapshot

__all__ = ["DATAFRAME_FOLDER", "check_executors", "fingerprint", "snapshot"]
