"""QuantX: 3-bit LLM weights and a CPU runtime for GGUF models."""
from __future__ import annotations

from ._native import QuantxError
from .model import Model
from .perplexity import PerplexityReport, perplexity

__all__ = ["Model", "PerplexityReport", "QuantxError", "perplexity"]
__version__ = "0.1.0"
