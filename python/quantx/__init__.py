"""QuantX: 3-bit LLM weights and a CPU runtime for GGUF models."""
from __future__ import annotations

from ._native import QuantxError

__all__ = ["QuantxError"]
__version__ = "0.1.0"
