"""The bottom layer: canonical JSON, hashing, git, redaction, paths, processes and the
kill points of the reliability suite. Knows nothing of repositories, logs or features."""
