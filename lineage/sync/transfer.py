"""Push, fetch and pull under their earlier module name: ``lineage.sync.push``,
``lineage.sync.fetch`` and ``lineage.sync.verify`` hold them now."""

from lineage.core.progress import TransferProgress
from lineage.sync.fetch import RANGE_GAP, FetchResult, fetch, fetch_events, pull
from lineage.sync.push import PACK_SIZE, SMALL_OBJECT, PushResult, push, push_events
from lineage.sync.remotes import open_remote
from lineage.sync.verify import verify_remote

__all__ = ["PACK_SIZE", "RANGE_GAP", "SMALL_OBJECT", "FetchResult", "PushResult", "TransferProgress",
           "fetch", "fetch_events", "open_remote", "pull", "push", "push_events", "verify_remote"]
