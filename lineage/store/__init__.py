"""The object store: bytes addressed by their BLAKE3 digest.

Only this package knows the on-disk layout: ``objects`` (the local store),
``packs`` (the one reader and writer of the pack format), ``remote`` (a remote's
objects, packs and events) and ``backends`` (opening a remote's fsspec filesystem).
"""

from lineage.store.objects import LinkMode, ObjectStore

__all__ = ["LinkMode", "ObjectStore"]
