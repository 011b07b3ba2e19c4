"""The converter's error type: a QuantxError whose message says what is wrong with the input."""
from __future__ import annotations

from .._native import QuantxError


class ConvertError(QuantxError):
    """Bad input or a refused conversion (missing files, unsupported model, bad tensors...)."""


class ConvertInterrupted(ConvertError):
    """SIGINT/SIGTERM arrived during a conversion; the partial output was removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"conversion interrupted by signal {signum}; no output was written")
        self.signum = signum
