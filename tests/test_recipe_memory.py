"""The recipe's between-layer memory release: freed heap memory that glibc would keep (holes
between live blocks, in a worker thread's arena, as the recipe's encoding threads leave) goes
back to the OS."""
from __future__ import annotations

import os
import threading

import pytest

from quantx.convert.recipes.memory import release_freed_memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read the resident size")
def test_freed_heap_holes_go_back_to_the_os() -> None:
    kept: list[bytearray] = []

    def fragment() -> None:
        # 3000 x 64 KiB (below glibc's mmap threshold: heap memory), touched, then every block but
        # one in ten freed: ~170 MiB of holes the allocator keeps for reuse.
        blocks = [bytearray(b"\x01" * (64 << 10)) for _ in range(3000)]
        kept.extend(blocks[::10])
        blocks.clear()

    t = threading.Thread(target=fragment)
    t.start()
    t.join()
    before = _rss_bytes()
    if not release_freed_memory():
        pytest.skip("the C library has no malloc_trim (not glibc)")
    after = _rss_bytes()
    assert before - after > 100 << 20, f"resident size {before >> 20} MiB -> {after >> 20} MiB"
    assert all(b[0] == 1 and b[-1] == 1 for b in kept)  # live blocks untouched
