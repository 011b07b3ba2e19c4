"""Small GGUF files for the reader's tests: valid ones written by gguf-py's
GGUFWriter, and malformed ones assembled field by field (GGUFWriter refuses
to write most of the defects the reader must catch).

All multi-byte fields are little-endian, as the GGUF spec lays them out:
header = magic "GGUF", uint32 version, uint64 tensor count, uint64 kv count;
kv = string key, uint32 value type, value; string = uint64 length + bytes;
array = uint32 element type, uint64 count, elements; tensor info = string
name, uint32 n_dims, uint64 ne[n_dims], uint32 ggml type, uint64 offset
(relative to the data section, which starts at the next multiple of the
alignment after the tensor infos).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter


def enc_str(s: str | bytes) -> bytes:
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def enc_kv(key: str | bytes, vtype: int, payload: bytes) -> bytes:
    """One metadata entry; `payload` is the already-encoded value."""
    return enc_str(key) + struct.pack("<I", vtype) + payload


def enc_u32_kv(key: str, value: int) -> bytes:
    return enc_kv(key, GGUFValueType.UINT32, struct.pack("<I", value))


def enc_array_header(elem_type: int, count: int) -> bytes:
    return struct.pack("<IQ", elem_type, count)


def enc_tensor_info(name: str | bytes, ne: list[int], type_id: int, offset: int) -> bytes:
    """`ne` in ggml order (row length first), as stored in the file."""
    out = enc_str(name) + struct.pack("<I", len(ne))
    for d in ne:
        out += struct.pack("<Q", d)
    return out + struct.pack("<IQ", type_id, offset)


@dataclass
class RawGguf:
    """A GGUF file assembled from encoded pieces. The counts default to the
    number of pieces; set them to lie about it."""

    kvs: list[bytes] = field(default_factory=list)
    infos: list[bytes] = field(default_factory=list)
    data: bytes = b""
    version: int = 3
    magic: bytes = b"GGUF"
    alignment: int = 32
    tensor_count: int | None = None
    kv_count: int | None = None

    def to_bytes(self) -> bytes:
        n_t = len(self.infos) if self.tensor_count is None else self.tensor_count
        n_kv = len(self.kvs) if self.kv_count is None else self.kv_count
        head = self.magic + struct.pack("<IQQ", self.version, n_t, n_kv)
        head += b"".join(self.kvs) + b"".join(self.infos)
        if self.data:
            head += b"\0" * (-len(head) % self.alignment)
        return head + self.data

    def write(self, path: Path) -> Path:
        path.write_bytes(self.to_bytes())
        return path


def f32_tensor(name: str, n: int, offset: int = 0) -> tuple[bytes, bytes]:
    """Tensor info and data of an F32 vector 0, 1, ..., n-1."""
    return enc_tensor_info(name, [n], GGMLQuantizationType.F32, offset), np.arange(n, dtype="<f4").tobytes()


def minimal_tensor_file(ne: list[int], type_id: int = GGMLQuantizationType.F32, offset: int = 0,
                        data: bytes = b"\0" * 64, extra_kvs: list[bytes] | None = None) -> RawGguf:
    """One tensor 'w' with the given shape/type/offset and `data` as the data section."""
    return RawGguf(kvs=[enc_kv("general.architecture", GGUFValueType.STRING, enc_str("llama"))] + (extra_kvs or []),
                   infos=[enc_tensor_info("w", ne, type_id, offset)], data=data)


def write_small_valid(path: Path) -> Path:
    """A few metadata kinds and two tensors: the file the truncation sweep cuts."""
    w = GGUFWriter(str(path), "llama")
    w.add_uint32("llama.block_count", 2)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_array("tokenizer.ggml.tokens", ["a", "bc", "def"])
    w.add_array("nested", [[1, 2], [3]])
    w.add_tensor("a", np.arange(8, dtype=np.float32))
    w.add_tensor("b", np.arange(6, dtype=np.float16).reshape(2, 3))
    _finish(w)
    return path


def _finish(w: GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def patch(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite one little-endian field of an existing file in place."""
    raw = bytearray(path.read_bytes())
    struct.pack_into("<" + fmt, raw, offset, value)
    path.write_bytes(bytes(raw))
