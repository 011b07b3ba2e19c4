"""Benchmarks: quality (perplexity/KLD of quantization methods)."""
