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


_FRAGMENT = r"""
import os, sys
from quantx.convert.recipes.memory import fix_mmap_threshold

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

if sys.argv[1] == "fixed" and not fix_mmap_threshold():
    print("unsupported")
    sys.exit(0)
big = bytearray(b"\x01" * (32 << 20))  # freeing a large mmapped block raises glibc's dynamic threshold
del big
before = rss()
blocks = [bytearray(b"\x01" * (1 << 20)) for _ in range(200)]  # 200 MiB of 1 MiB blocks, touched
kept = blocks[::10]  # one in ten stays alive: the others leave holes the heap would keep
del blocks
print((rss() - before) >> 20)
"""


def _retained_mib(mode: str) -> int | None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _FRAGMENT, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.strip()
    return None if out == "unsupported" else int(out)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read the resident size")
def test_a_fixed_mmap_threshold_gives_freed_blocks_back_at_once() -> None:
    # In fresh processes: the setting is the whole process's, and the allocator's history matters.
    fixed = _retained_mib("fixed")
    if fixed is None:
        pytest.skip("the C library has no mallopt(M_MMAP_THRESHOLD) (not glibc)")
    default = _retained_mib("default")
    assert fixed < 40, f"{fixed} MiB still resident with 20 MiB of blocks alive"
    assert default > 150, f"glibc's dynamic threshold kept only {default} MiB: the test no longer shows the problem"


def _anonymous_kib(path: str) -> int:
    """Anonymous (copied-on-write) memory of this process's mappings of `path`, from smaps."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                inside = line.rstrip().endswith(path)
            elif inside and first == "Anonymous:":
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc to read a mapping's pages")
def test_dropping_a_tensor_in_a_file_mapping_gives_its_copied_pages_back(tmp_path) -> None:
    """Weights mapped from a file and then written (the AWQ scales folded in) are private page
    copies that outlive the tensor; drop_tensor_pages gives back the pages wholly inside it and
    leaves the bytes around it alone."""
    import numpy as np
    import torch

    from quantx.convert.recipes.memory import drop_tensor_pages

    path = str(tmp_path / "weights.bin")
    n = 4 << 20  # float32s: 16 MiB
    np.full(n, 7.0, dtype=np.float32).tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="c")  # a private mapping, as safetensors' mmap
    whole = torch.from_numpy(mapped)
    whole.mul_(2.0)  # every page copied: 14.0 in memory, 7.0 in the file
    assert _anonymous_kib(path) >= (16 << 10) - 4
    start, end = 1001, n - 999  # not page-aligned
    dropped = drop_tensor_pages(whole[start:end])
    assert dropped > (16 << 20) - 3 * 4096 and dropped % 4096 == 0
    assert _anonymous_kib(path) <= 8 + 4  # at most the two boundary pages
    data = whole.numpy()
    assert (data[:start] == 14.0).all() and (data[end:] == 14.0).all()  # neighbours keep their bytes
    inner_first = -(-(start * 4) // 4096) * 4096 // 4
    inner_last = (end * 4) // 4096 * 4096 // 4
    assert (data[inner_first:inner_last] == 7.0).all()  # the dropped pages read the file again
    assert (data[start:inner_first] == 14.0).all() and (data[inner_last:end] == 14.0).all()
    del whole, data, mapped
