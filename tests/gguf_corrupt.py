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

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFEndian, GGUFValueType, GGUFWriter
from gguf.quants import quantize


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
    finish(w)
    return path


def finish(w: GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def patch(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite one little-endian field of an existing file in place."""
    raw = bytearray(path.read_bytes())
    struct.pack_into("<" + fmt, raw, offset, value)
    path.write_bytes(bytes(raw))


def write_all_kinds(path: Path, endianess: GGUFEndian = GGUFEndian.LITTLE) -> Path:
    """Every value type as scalar and array, strings, nested arrays, and tensors of several types."""
    V = GGUFValueType
    w = GGUFWriter(str(path), "llama", endianess=endianess)
    w.add_uint8("s.u8", 255)
    w.add_int8("s.i8", -128)
    w.add_uint16("s.u16", 65535)
    w.add_int16("s.i16", -32768)
    w.add_uint32("s.u32", 2**32 - 1)
    w.add_int32("s.i32", -(2**31))
    w.add_uint64("s.u64", 2**64 - 1)
    w.add_int64("s.i64", -(2**63))
    w.add_float32("s.f32", 0.1)
    w.add_float32("s.f32_inf", -math.inf)
    w.add_float32("s.f32_denormal", 1e-45)
    w.add_float64("s.f64", math.pi)
    w.add_bool("s.true", True)
    w.add_bool("s.false", False)
    w.add_string("s.str", "héllo ✓ 🚀 \n\t\"quoted\"")
    w.add_key_value("a.u8", [0, 1, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("a.i8", [-128, 0, 127], V.ARRAY, sub_type=V.INT8)
    w.add_key_value("a.u16", [0, 65535], V.ARRAY, sub_type=V.UINT16)
    w.add_key_value("a.i16", [-32768, 32767], V.ARRAY, sub_type=V.INT16)
    w.add_key_value("a.u32", [0, 2**32 - 1], V.ARRAY, sub_type=V.UINT32)
    w.add_key_value("a.i32", [-(2**31), 2**31 - 1], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("a.u64", [0, 2**64 - 1], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("a.i64", [-(2**63), 2**63 - 1], V.ARRAY, sub_type=V.INT64)
    w.add_key_value("a.f32", [0.5, -1.25, 3.0e38], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("a.f64", [1e-300, -2.5], V.ARRAY, sub_type=V.FLOAT64)
    w.add_key_value("a.bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    w.add_array("a.str", ["", "a", "ünïcode", "x" * 1000])
    w.add_array("a.nested", [[1, 2, 3], [4], [5, 6]])
    w.add_array("a.nested3", [[["a", "b"], ["c"]], [["d"]]])
    rng = np.random.default_rng(0)
    w.add_tensor("t.f32", rng.standard_normal((3, 5)).astype(np.float32))
    w.add_tensor("t.f16", rng.standard_normal((2, 3, 4)).astype(np.float16))
    w.add_tensor("t.f32_4d", rng.standard_normal((2, 1, 3, 2)).astype(np.float32))
    x = rng.standard_normal((4, 64)).astype(np.float32)
    w.add_tensor("t.q8_0", quantize(x, GGMLQuantizationType.Q8_0), raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("t.q4_1", quantize(x, GGMLQuantizationType.Q4_1), raw_dtype=GGMLQuantizationType.Q4_1)
    # K-quant bytes need not be meaningful for the reader: random blocks.
    w.add_tensor("t.q4_k", rng.integers(0, 256, (2, 144), dtype=np.uint8), raw_dtype=GGMLQuantizationType.Q4_K)
    w.add_tensor("t.q6_k", rng.integers(0, 256, (2, 210), dtype=np.uint8), raw_dtype=GGMLQuantizationType.Q6_K)
    w.add_tensor("t.i32", np.arange(7, dtype=np.int32))  # a ggml type the runtime does not compute with
    finish(w)
    return path


def write_seed_corpus(directory: Path) -> list[Path]:
    """Small valid files for the fuzzer to mutate (tests/fuzz_corpus/gguf)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = [write_small_valid(directory / "small.bin"), write_all_kinds(directory / "all_kinds.bin")]
    v2 = directory / "small_v2.bin"
    v2.write_bytes((directory / "small.bin").read_bytes())
    patch(v2, 4, "I", 2)
    out.append(v2)
    raw = minimal_tensor_file([32, 2], type_id=GGMLQuantizationType.Q8_0, data=bytes(range(68)),
                              extra_kvs=[enc_u32_kv("general.alignment", 16)])
    raw.alignment = 16
    out.append(raw.write(directory / "q8_align16.bin"))
    out.append(write_quantx_tensor_file(directory / "quantx_qx3u.bin"))
    return out


def write_quantx_tensor_file(path: Path) -> Path:
    """One QX3_U tensor stored as I8 with its quantx.* metadata (the converter's layout)."""
    from quantx.convert import qxformats

    w = GGUFWriter(str(path), "llama")
    rng = np.random.default_rng(1)
    packed, _ = qxformats.quantize_tensor(rng.standard_normal((2, 128)).astype(np.float32), "QX3_U")
    qxformats.write_quantx_tensor(w, "blk.0.attn_q.weight", packed, "QX3_U", (2, 128))
    finish(w)
    return path


if __name__ == "__main__":
    import sys

    for p in write_seed_corpus(Path(sys.argv[1])):
        print(p, p.stat().st_size)
