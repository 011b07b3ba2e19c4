"""Hugging Face llama/qwen2 checkpoints to GGUF (llama.cpp conventions)."""
from __future__ import annotations

from .architectures import permute_qk, unpermute_qk
from .errors import ConvertError, ConvertInterrupted
from .outtypes import Outtype, Storage, available_outtypes
from .pipeline import ConvertOptions, ConvertReport, convert, convert_with

__all__ = ["convert", "convert_with", "ConvertOptions", "ConvertReport", "ConvertError", "ConvertInterrupted",
           "Outtype", "Storage", "available_outtypes", "permute_qk", "unpermute_qk"]
