"""QuantX recipe building blocks, independent of the file format.

calibration: calibration text / data-free samples and layer-streamed activation statistics.
calibration_cache: the model-written calibration text kept on disk for the next conversion.
uniform:     per-group asymmetric quantization with an activation-weighted clipping search.
gptq:        GPTQ error feedback (group mode, optional act-order with static groups).
codebook:    weighted k-means tables (per row / per group / per tensor).
awq:         activation-aware scale search and exact folding, AWQ clip search.
criteria:    output error, attention-map distortion, critical-outlier score.
baselines:   RTN / AWQ / GPTQ fake-quantization of a whole HF model.
"""
from __future__ import annotations

from .calibration import (CalibrationSet, InputStats, LayerCalibration, calibration_from_model,
                          calibration_from_text, full_forward_stats, stream_layers)
from .codebook import CodebookQuant, KMeansResult, quantize_codebook, weighted_kmeans
from .criteria import (attention_map_distortion, critical_outlier_score, output_error,
                       output_error_from_hessian, rope_tables)
from .gptq import gptq_quantize
from .uniform import UniformGroups, quantize_uniform, weighted_error

__all__ = [
    "CalibrationSet", "InputStats", "LayerCalibration", "calibration_from_model", "calibration_from_text",
    "full_forward_stats", "stream_layers", "CodebookQuant", "KMeansResult", "quantize_codebook",
    "weighted_kmeans", "attention_map_distortion", "critical_outlier_score", "output_error",
    "output_error_from_hessian", "rope_tables", "gptq_quantize", "UniformGroups", "quantize_uniform",
    "weighted_error",
]
