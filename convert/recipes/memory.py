"""Giving freed memory back to the operating system between layers.

Each decoder layer's work (Hessians, AWQ search, GPTQ on two threads, candidate scoring) frees
hundreds of MB of buffers, but glibc keeps freed heap memory in its per-thread arenas, so the
process's resident size grew by ~55 MB per layer on SmolLM2-135M (1.08 -> 1.58 GB over 10
layers) with nothing leaked. malloc_trim(0) after each layer kept it flat (0.70 -> 0.82 GB).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # glibc only; musl and macOS have no such call
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Return the allocator's free memory to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
