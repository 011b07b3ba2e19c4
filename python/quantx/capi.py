"""Where the C API lives in an installed quantx: libquantx.so and quantx.h."""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def library_path() -> Path:
    """Path of libquantx (the plain C API of native/include/quantx.h)."""
    for name in ("libquantx.so", "libquantx.dylib", "quantx.dll"):
        p = _HERE / name
        if p.exists():
            return p
    raise FileNotFoundError(f"libquantx not found next to {_HERE}")


def include_dir() -> Path:
    """Directory holding quantx.h (installed copy, or the source tree's)."""
    for p in (_HERE / "include", _HERE.parent.parent / "native" / "include"):
        if (p / "quantx.h").exists():
            return p
    raise FileNotFoundError("quantx.h not found")
