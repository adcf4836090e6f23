"""Moving data between the local store and remotes: named remotes, push, fetch and pull,
verification (local and remote) and garbage collection."""
