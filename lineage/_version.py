"""The package version, in a leaf module so that any module can name it without importing
the public API (``lineage/__init__``), which imports the features."""

__version__ = "0.1.0"
