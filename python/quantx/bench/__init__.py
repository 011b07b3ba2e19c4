"""Benchmarks: speed against llama.cpp (python -m quantx.bench) and quality
(python -m quantx.bench.quality). They print numbers; they assert nothing."""
