import os

import blake3

from lineage.core.hashing import HashCounter, hash_bytes, hash_file, hash_many


def test_hash_file_streams_large_files_like_hash_bytes(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # spans several blocks
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert hash_file(p, len(data)) == hash_bytes(data) == blake3.blake3(data).hexdigest()
    assert hash_file(p) == hash_bytes(data)  # without a size hint: streamed


def test_hash_many_parallel_matches_serial_and_counts(tmp_path):
    items = []
    for i in range(50):
        p = tmp_path / f"f{i}"
        p.write_bytes(bytes([i]) * (i * 100))
        items.append((str(p), i * 100))
    counter = HashCounter()
    out = hash_many(items, counter=counter)
    assert counter.files == 50
    assert all(out[p] == hash_file(p) for p, _ in items)
