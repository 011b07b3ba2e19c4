"""Reading a Hugging Face model folder: config.json and safetensors weights.

Weights are streamed one tensor at a time from memory-mapped safetensors
files (single or sharded); pickle checkpoints (.bin/.pt) are refused, never
unpickled.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConvertError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
INDEX_NAME = "model.safetensors.index.json"


@dataclass(frozen=True)
class TensorSource:
    name: str            # HF name
    file: Path
    shape: tuple[int, ...]
    dtype: str           # safetensors dtype: F32, F16, BF16, ...


@dataclass
class Checkpoint:
    directory: Path
    config: dict[str, Any]
    tensors: dict[str, TensorSource]
    files: list[Path] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def load_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path} is not valid JSON: {e}") from None
    except OSError as e:
        raise ConvertError(f"cannot read {path}: {e.strerror}") from None
    if not isinstance(data, dict):
        raise ConvertError(f"{path} does not hold a JSON object")
    return data


def _weight_files(d: Path) -> list[Path]:
    index = d / INDEX_NAME
    if index.is_file():
        weight_map = load_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ConvertError(f"{index} has no weight_map")
        files = sorted({d / str(v) for v in weight_map.values()})
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ConvertError(f"shard(s) listed in {INDEX_NAME} are missing from {d}: {', '.join(missing)}")
        return files
    files = sorted(d.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in d.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ConvertError(
            f"{d} holds only pickle checkpoint(s) ({', '.join(pickles)}); refusing to unpickle them "
            "(loading a pickle can run arbitrary code). Re-save the model with safetensors "
            "(model.save_pretrained(dir, safe_serialization=True)) and convert that.")
    raise ConvertError(f"no *.safetensors weights in {d}")


def _dtype_of(handle: Any, name: str) -> str:
    return str(handle.get_slice(name).get_dtype())


def open_checkpoint(hf_dir: Path | str) -> Checkpoint:
    """Read config.json and the tensor directory (names, shapes, dtypes) without loading data."""
    from safetensors import safe_open

    d = Path(hf_dir)
    if not d.exists():
        raise ConvertError(f"model folder {d} does not exist")
    if not d.is_dir():
        raise ConvertError(f"{d} is not a folder (expected a Hugging Face model folder)")
    if not (d / "config.json").is_file():
        raise ConvertError(f"{d} has no config.json (expected a Hugging Face model folder)")
    config = load_json(d / "config.json")
    files = _weight_files(d)
    tensors: dict[str, TensorSource] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as h:
                for name in h.keys():
                    if name in tensors:
                        raise ConvertError(f"tensor {name} appears in both {tensors[name].file.name} and {f.name}")
                    sl = h.get_slice(name)
                    tensors[name] = TensorSource(name, f, tuple(int(x) for x in sl.get_shape()), _dtype_of(h, name))
        except ConvertError:
            raise
        except Exception as e:  # safetensors raises its own error types for corrupt headers
            raise ConvertError(f"cannot read safetensors file {f}: {e}") from None
    return Checkpoint(d, config, tensors, files)


FLOAT_DTYPES = {"F32", "F16", "BF16"}


class TensorReader:
    """Reads one tensor at a time as float32.

    Each read maps its file only for the duration of the read: a long-lived
    mapping would keep every page touched so far resident, so peak RSS would
    grow to the checkpoint size instead of staying near one tensor."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self._ckpt = ckpt

    def __enter__(self) -> TensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read_f32(self, name: str) -> np.ndarray:
        import torch
        from safetensors import safe_open

        src = self._ckpt.tensors[name]
        if src.dtype not in FLOAT_DTYPES:
            raise ConvertError(f"tensor {name} has dtype {src.dtype}; only F32, F16 and BF16 weights are supported")
        with safe_open(str(src.file), framework="pt") as h:
            t = h.get_tensor(name)
        return t.to(torch.float32).numpy()
