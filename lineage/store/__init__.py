"""The object store: bytes addressed by their BLAKE3 digest.

Only this package knows the on-disk layout. Remote transfer lives in
``lineage.store.remote`` and packs in ``lineage.store.packs``.
"""

from lineage.store.objects import LinkMode, ObjectStore

__all__ = ["LinkMode", "ObjectStore"]
