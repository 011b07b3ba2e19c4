"""QuantX 3/4-bit block formats: numpy reference (spec: native/kernels/FORMATS.md).

quantize (round-to-nearest with optional given codebooks/scales), pack, unpack
and dequantize. The packed bytes ARE the file format: they must equal the
native packer's output (quantx._native.qx_quantize) byte for byte, so every
float operation here is float32 in the same order as native/kernels/qx_quantize.cpp.

GGUF mapping: a QuantX tensor is stored as an opaque I8 tensor of shape
[row_bytes, rows] (ggml order) whose real format lives in `quantx.*` metadata;
generic GGUF readers see a valid byte tensor. See write_quantx_tensor.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

FORMAT_VERSION = 1
GROUP_SIZE = 128   # elements per fp16 scale; the last group of a row may be shorter
SUB_BLOCK = 32     # row granularity; one A8 activation block
QX_ID_BASE = 0x51580000  # internal traits-table ids; never written to a file

KEY_FORMAT_VERSION = "quantx.format_version"
KEY_ACTIVATION = "quantx.activation"  # 8 (A8, int8 activations) or 16 (A16, float); read at load


def tensor_key(name: str, field: str) -> str:
    return f"quantx.tensor.{name}.{field}"


@dataclass(frozen=True)
class QxType:
    name: str
    type_id: int
    bits: int
    table_size: int
    row_codebook: bool
    sub_bytes: int
    uniform_table: tuple[int, ...]     # U types: the fixed grid; empty for C types
    default_codebook: tuple[int, ...]  # C types: codebook when none is given; empty for U types

    def table(self) -> np.ndarray:
        return np.array(self.uniform_table, dtype=np.int8)


QX_TYPES: dict[str, QxType] = {
    "QX3_U": QxType("QX3_U", QX_ID_BASE + 0, 3, 8, False, 12, tuple(range(-4, 4)), ()),
    "QX3_C": QxType("QX3_C", QX_ID_BASE + 1, 3, 8, True, 12, (), (-127, -95, -64, -32, 0, 32, 64, 95)),
    "QX4_U": QxType("QX4_U", QX_ID_BASE + 2, 4, 16, False, 16, tuple(range(-8, 8)), ()),
    "QX4_C": QxType("QX4_C", QX_ID_BASE + 3, 4, 16, True, 16, (),
                    (-127, -111, -95, -79, -64, -48, -32, -16, 0, 16, 32, 48, 64, 79, 95, 111)),
}


# File types with ONE codebook per tensor (kept in the tensor's quantx.tensor.<name>.codebook
# metadata) instead of one per row: rows are stored without a codebook and compute as the C
# type's rows with that codebook in front (the runtime rebuilds them so at load). Same bits as
# the U types; on SmolLM2-135M as accurate as per-row codebooks (FORMATS.md).
TENSOR_CODEBOOK_TYPES: dict[str, str] = {"QX3_T": "QX3_C", "QX4_T": "QX4_C"}


def compute_type(file_type: str) -> QxType:
    """The runtime format of a file type name (QX3_T -> QX3_C, others themselves)."""
    return qx_type(TENSOR_CODEBOOK_TYPES.get(file_type.upper(), file_type))


def file_row_size(file_type: str, n: int) -> int:
    """Bytes of one stored row of a file type (tensor-codebook types omit the codebook)."""
    t = compute_type(file_type)
    return row_size(t, n) - (t.table_size if file_type.upper() in TENSOR_CODEBOOK_TYPES else 0)


def split_tensor_codebook(packed_c_rows: np.ndarray, file_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Packed C rows that all carry the same codebook -> (stored rows without it, the codebook)."""
    t = compute_type(file_type)
    k = t.table_size
    rows = np.asarray(packed_c_rows, dtype=np.uint8)
    cb = rows[:, :k]
    if not (cb == cb[:1]).all():
        raise ValueError(f"{file_type}: rows do not share one codebook")
    return np.ascontiguousarray(rows[:, k:]), cb[0].view(np.int8).copy()


def qx_type(qtype: str | QxType) -> QxType:
    if isinstance(qtype, QxType):
        return qtype
    try:
        return QX_TYPES[qtype.upper()]
    except KeyError:
        raise ValueError(f"unknown QuantX type {qtype!r}; known: {sorted(QX_TYPES)}") from None


def n_groups(n: int) -> int:
    return (n + GROUP_SIZE - 1) // GROUP_SIZE


def row_size(qtype: str | QxType, n: int) -> int:
    t = qx_type(qtype)
    _check_row_length(n)
    return (t.table_size if t.row_codebook else 0) + 2 * n_groups(n) + (n // SUB_BLOCK) * t.sub_bytes


def bits_per_weight(qtype: str | QxType, n: int) -> float:
    """Every byte of a row (codebook, scales, codes) per weight."""
    return 8.0 * row_size(qtype, n) / n


def _check_row_length(n: int) -> None:
    if n <= 0 or n % SUB_BLOCK:
        raise ValueError(f"row length {n} is not a positive multiple of {SUB_BLOCK}")


@dataclass
class QuantizedRows:
    """Unpacked form of rows of one QuantX type."""

    qtype: QxType
    codes: np.ndarray   # uint8 [rows, n], values < table_size
    scales: np.ndarray  # float16 [rows, n_groups(n)]
    tables: np.ndarray  # int8 [rows, table_size] (the fixed grid repeated for U types)


def _group_view(w: np.ndarray) -> np.ndarray:
    """[rows, n] -> [rows, groups, GROUP_SIZE], zero padded (zeros change neither absmax nor the signed max)."""
    rows, n = w.shape
    ng = n_groups(n)
    pad = np.zeros((rows, ng * GROUP_SIZE), dtype=np.float32)
    pad[:, :n] = w
    return pad.reshape(rows, ng, GROUP_SIZE)


def _group_signed_max(g: np.ndarray) -> np.ndarray:
    """[rows, groups, G] -> [rows, groups]: the largest-magnitude value, sign kept (first on ties)."""
    i = np.abs(g).argmax(axis=2)[..., None]
    return np.take_along_axis(g, i, axis=2)[..., 0]


def _normalised_by_group(w: np.ndarray) -> np.ndarray:
    """Weights in the units of the RTN scale with T[k*] = -1: y = -w / xm, so each
    group's largest-magnitude weight is at -1 and the rest in [-1, 1]."""
    g = _group_view(w)
    xm = -_group_signed_max(g)[..., None]
    y = np.zeros_like(g)
    np.divide(g, xm, out=y, where=xm != 0)
    return y.reshape(w.shape[0], -1)[:, : w.shape[1]]


def _centroids_to_int8(c: np.ndarray) -> np.ndarray:
    """Centroids in units of the group absmax ([-1, 1]) -> int8 units of 1/127."""
    return np.clip(np.rint(c.astype(np.float32) * np.float32(127)), -127, 127).astype(np.int8)


def default_codebook(qtype: str | QxType, rows: int) -> np.ndarray:
    """The codebook used when none is given (int8 [rows, K]): the U grid
    scaled to -127 (exact zero; -127 takes each group's largest weight);
    the same constant as the native side."""
    t = qx_type(qtype)
    if not t.row_codebook:
        raise ValueError(f"{t.name} has no codebook")
    return np.tile(np.array(t.default_codebook, dtype=np.int8), (rows, 1))


def _count_below(bounds: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each row r: how many of bounds[r] ([rows, m], m < 256) lie below each of values[r]
    ([rows, n]); intp [rows, n]. One comparison pass per boundary into a uint8 count: a tensor
    codebook's single row is the whole tensor, where the [rows, n, m] comparison (or a binary
    search per value) was the fit's largest cost."""
    count = np.zeros(values.shape, dtype=np.uint8)
    for k in range(bounds.shape[1]):
        np.add(count, values > bounds[:, k:k + 1], out=count, casting="unsafe")
    return count.astype(np.intp)


def fit_codebook(w: np.ndarray, qtype: str | QxType, iters: int = 8,
                 importance: np.ndarray | None = None, rows_per_codebook: int = 1) -> np.ndarray:
    """Per-row codebook by weighted Lloyd (k-means) on group-normalised values,
    started from the default codebook. Each value is weighted by its group's
    absmax^2 (so the weight MSE is minimised) times the optional importance
    ([rows, n] or [n], e.g. activation second moments).

    Two entries stay pinned: -127, where the RTN scale puts each group's
    largest weight (kept exact), and 0. Without an exact zero, small weights
    at the model's few huge-activation input channels become large errors:
    SmolLM2-135M wikitext perplexity was in the thousands with zero-free
    codebooks that had LOWER weight MSE than the uniform grid."""
    t = qx_type(qtype)
    w = np.ascontiguousarray(w, dtype=np.float32)
    y = _normalised_by_group(w).astype(np.float64)
    # Error in y costs absmax^2 times as much in w: weight by it so Lloyd minimises the weight MSE.
    am = np.abs(_group_view(w)).max(axis=2).astype(np.float64)
    imp = np.repeat(am**2, GROUP_SIZE, axis=1)[:, : w.shape[1]]
    if importance is not None:
        imp = imp * np.broadcast_to(np.asarray(importance, np.float64), y.shape)
    if rows_per_codebook > 1:  # one codebook for each block of rows: fit on the block's values together
        r = rows_per_codebook
        if y.shape[0] % r:
            raise ValueError(f"{y.shape[0]} rows are not a multiple of rows_per_codebook {r}")
        y, imp = y.reshape(-1, r * y.shape[1]), np.ascontiguousarray(imp).reshape(-1, r * imp.shape[1])
    rows, k = y.shape[0], t.table_size
    c = default_codebook(t, rows).astype(np.float64) / 127.0
    flat_row = np.repeat(np.arange(rows) * k, y.shape[1])
    wy = (imp * y).ravel()
    for _ in range(iters):
        # Nearest centroid through the midpoints of the sorted centroids (1-D Voronoi cells).
        order = np.argsort(c, axis=1, kind="stable")
        cs = np.take_along_axis(c, order, axis=1)
        mids = (cs[:, 1:] + cs[:, :-1]) / 2
        slot = _count_below(mids, y)
        assign = np.take_along_axis(order, slot, axis=1)
        bins = flat_row + assign.ravel()
        wsum = np.bincount(bins, imp.ravel(), rows * k).reshape(rows, k)
        ysum = np.bincount(bins, wy, rows * k).reshape(rows, k)
        c = np.where(wsum > 0, ysum / np.where(wsum > 0, wsum, 1), c)
        c[:, 0], c[:, k // 2] = -1.0, 0.0
    return _centroids_to_int8(np.sort(c, axis=1).astype(np.float32))


def rtn_scales(w: np.ndarray, qtype: str | QxType, tables: np.ndarray) -> np.ndarray:
    """Group scales (float16 [rows, groups]) of the spec's RTN rule: the
    group's largest-magnitude weight xm (sign kept) maps exactly onto the
    table's largest-magnitude entry T[k*] (first on ties): d = xm / T[k*]."""
    g = _group_view(np.ascontiguousarray(w, dtype=np.float32))
    tab = np.asarray(tables).astype(np.int32)
    kmax = np.abs(tab).argmax(axis=1)
    tk = tab[np.arange(tab.shape[0]), kmax].astype(np.float32)[:, None]
    d = np.zeros(g.shape[:2], dtype=np.float32)
    np.divide(_group_signed_max(g), tk, out=d, where=tk != 0)
    return np.clip(d, -65504, 65504).astype(np.float16)


def _nearest_codes(w: np.ndarray, dq: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """argmin_k |w - dq * table[k]| in float32, first k on ties. w [r, n], dq [r, n], tables [r, K]."""
    vals = dq[:, :, None] * tables.astype(np.float32)[:, None, :]
    return np.abs(w[:, :, None] - vals).argmin(axis=2).astype(np.uint8)


def quantize(w: np.ndarray, qtype: str | QxType, codebook: np.ndarray | None = None,
             scales: np.ndarray | None = None) -> QuantizedRows:
    """Round-to-nearest quantization of rows w [rows, n] (n % 32 == 0).
    codebook: int8 [rows, K] for C types (default: default_codebook; fit_codebook
    is better); ignored for U.
    scales: float [rows, n_groups(n)] to use instead of the RTN rule (rounded to fp16)."""
    t = qx_type(qtype)
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"expected a 2-D [rows, n] array, got shape {w.shape}")
    rows, n = w.shape
    _check_row_length(n)
    if not np.isfinite(w).all():
        raise ValueError(f"{t.name}: non-finite weights")
    if t.row_codebook:
        tables = default_codebook(t, rows) if codebook is None else np.asarray(codebook)
        if tables.shape != (rows, t.table_size):
            raise ValueError(f"{t.name}: codebook shape {tables.shape}, expected {(rows, t.table_size)}")
        if tables.dtype != np.int8 or (tables == -128).any():
            raise ValueError(f"{t.name}: codebook must be int8 in -127..127")
    else:
        tables = np.broadcast_to(t.table(), (rows, t.table_size))
    if scales is None:
        s16 = rtn_scales(w, t, tables)
    else:
        s = np.asarray(scales, dtype=np.float32)
        if s.shape != (rows, n_groups(n)) or not np.isfinite(s).all():
            raise ValueError(f"{t.name}: scales must be finite with shape {(rows, n_groups(n))}")
        s16 = np.clip(s, -65504, 65504).astype(np.float16)
    dq = np.repeat(s16.astype(np.float32), GROUP_SIZE, axis=1)[:, :n]
    codes = np.empty((rows, n), dtype=np.uint8)
    chunk = max(1, (1 << 22) // (n * t.table_size))
    for r0 in range(0, rows, chunk):
        codes[r0:r0 + chunk] = _nearest_codes(w[r0:r0 + chunk], dq[r0:r0 + chunk], tables[r0:r0 + chunk])
    return QuantizedRows(t, codes, s16, np.ascontiguousarray(tables, dtype=np.int8))


def _pack_codes(t: QxType, codes: np.ndarray) -> np.ndarray:
    rows, n = codes.shape
    c = codes.reshape(rows, n // SUB_BLOCK, SUB_BLOCK)
    if t.bits == 3:
        low = (c & 3).reshape(rows, -1, 4, 8)  # [.., i, j] = code[j + 8i]
        lo_bytes = (low[:, :, 0] | low[:, :, 1] << 2 | low[:, :, 2] << 4 | low[:, :, 3] << 6).astype(np.uint8)
        hi = ((c >> 2) & 1).reshape(rows, -1, 8, 4).transpose(0, 1, 3, 2)  # [.., k, i] = code[k + 4i]
        hi_bytes = np.packbits(np.ascontiguousarray(hi), axis=3, bitorder="little")[..., 0]
        sub = np.concatenate([lo_bytes, hi_bytes], axis=2)
    else:
        sub = (c[:, :, :16] & 0x0F) | ((c[:, :, 16:] & 0x0F) << 4)
    return sub.astype(np.uint8).reshape(rows, -1)


def _unpack_codes(t: QxType, data: np.ndarray, n: int) -> np.ndarray:
    rows = data.shape[0]
    sub = data.reshape(rows, n // SUB_BLOCK, t.sub_bytes)
    if t.bits == 3:
        lo = sub[:, :, :8]
        low = np.stack([(lo >> (2 * i)) & 3 for i in range(4)], axis=2).reshape(rows, -1, 32)
        bits = np.unpackbits(sub[:, :, 8:12, None], axis=3, bitorder="little")  # [.., k, i]
        high = bits.transpose(0, 1, 3, 2).reshape(rows, -1, 32)
        c = low | (high << 2)
    else:
        c = np.concatenate([sub & 0x0F, sub >> 4], axis=2)
    return c.astype(np.uint8).reshape(rows, n)


def pack(q: QuantizedRows) -> np.ndarray:
    """Rows in the file layout: uint8 [rows, row_size]."""
    t = q.qtype
    rows, n = q.codes.shape
    parts = []
    if t.row_codebook:
        parts.append(q.tables.astype(np.int8).view(np.uint8))
    parts.append(np.ascontiguousarray(q.scales, dtype="<f2").view(np.uint8))
    parts.append(_pack_codes(t, q.codes))
    out = np.concatenate(parts, axis=1)
    assert out.shape == (rows, row_size(t, n))
    return out


def unpack(data: bytes | np.ndarray, qtype: str | QxType, n: int, rows: int) -> QuantizedRows:
    t = qx_type(qtype)
    rb = row_size(t, n)
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else np.asarray(data, np.uint8)
    if buf.size != rb * rows:
        raise ValueError(f"{t.name}: {buf.size} bytes, expected {rows} rows x {rb} bytes")
    buf = buf.reshape(rows, rb)
    off = 0
    if t.row_codebook:
        tables = buf[:, : t.table_size].view(np.int8).copy()
        off = t.table_size
    else:
        tables = np.broadcast_to(t.table(), (rows, t.table_size)).copy()
    ng = n_groups(n)
    scales = buf[:, off:off + 2 * ng].copy().view("<f2").astype(np.float16)
    codes = _unpack_codes(t, np.ascontiguousarray(buf[:, off + 2 * ng:]), n)
    return QuantizedRows(t, codes, scales, tables)


def dequantize(q: QuantizedRows) -> np.ndarray:
    """w[i] = float(scale[group(i)]) * table[code[i]] (exact in float32)."""
    rows, n = q.codes.shape
    vals = np.take_along_axis(q.tables.astype(np.float32), q.codes.astype(np.int64), axis=1)
    return np.repeat(q.scales.astype(np.float32), GROUP_SIZE, axis=1)[:, :n] * vals


def dequantize_bytes(data: bytes | np.ndarray, qtype: str | QxType, n: int, rows: int) -> np.ndarray:
    return dequantize(unpack(data, qtype, n, rows))


# --- GGUF container mapping -------------------------------------------------

def quantize_tensor(w: np.ndarray, qtype: str | QxType, codebook: np.ndarray | None = None,
                    scales: np.ndarray | None = None, lloyd_iters: int = 8,
                    importance: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Quantize a weight [..., n] (numpy order, last axis = row) to packed rows.
    C types without a given codebook get fit_codebook(lloyd_iters, importance),
    importance being None or [n] (per input feature). Returns
    (uint8 [rows, row_bytes], metadata for write_quantx_tensor)."""
    t = qx_type(qtype)
    w = np.asarray(w, dtype=np.float32)
    if w.ndim < 1 or w.ndim > 4:
        raise ValueError(f"tensor rank {w.ndim} is not 1..4")
    n = w.shape[-1]
    rows2d = w.reshape(-1, n)
    if t.row_codebook and codebook is None and lloyd_iters > 0:
        chunk = 256  # bounds fit_codebook's [rows, n, K] temporaries
        codebook = np.concatenate([fit_codebook(rows2d[r:r + chunk], t, lloyd_iters, importance)
                                   for r in range(0, rows2d.shape[0], chunk)])
    packed = pack(quantize(rows2d, t, codebook, scales))
    meta = {"type": t.name, "shape": [int(s) for s in reversed(w.shape)], "group_size": GROUP_SIZE}
    return packed, meta


def write_quantx_tensor(writer: Any, name: str, packed: np.ndarray, qtype: str | QxType,
                        shape: Sequence[int], codebook: np.ndarray | None = None) -> None:
    """Add a packed QuantX tensor to a gguf.GGUFWriter as an I8 byte tensor
    [rows, row_bytes] plus its quantx.* metadata. shape: the logical shape in
    numpy order (last axis = row length)."""
    import gguf

    fname = qtype.name if isinstance(qtype, QxType) else qtype.upper()
    n = int(shape[-1])
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    rb = file_row_size(fname, n)
    if packed.shape != (rows, rb) or packed.dtype != np.uint8:
        raise ValueError(f"{name}: packed shape {packed.shape} {packed.dtype}, expected uint8 {(rows, rb)}")
    if (codebook is not None) != (fname in TENSOR_CODEBOOK_TYPES):
        raise ValueError(f"{name}: a codebook goes with exactly the tensor-codebook types {list(TENSOR_CODEBOOK_TYPES)}")
    if not any(KEY_FORMAT_VERSION in kv for kv in writer.kv_data):
        writer.add_uint32(KEY_FORMAT_VERSION, FORMAT_VERSION)
    writer.add_string(tensor_key(name, "type"), fname)
    if codebook is not None:
        writer.add_array(tensor_key(name, "codebook"), [int(v) for v in np.asarray(codebook, np.int8)])
    writer.add_array(tensor_key(name, "shape"), [int(s) for s in reversed(shape)])
    writer.add_uint32(tensor_key(name, "group_size"), GROUP_SIZE)
    writer.add_tensor(name, packed.view(np.int8), raw_dtype=gguf.GGMLQuantizationType.I8)


@dataclass
class QuantxTensorInfo:
    name: str
    qtype: QxType           # the runtime format (QX3_T tensors: QX3_C)
    shape: tuple[int, ...]  # numpy order, last axis = row length
    data: np.ndarray        # uint8 [rows, row_bytes] of qtype (tensor-codebook rows with the codebook put back)
    file_type: str = ""     # the type name in the file


def read_quantx_tensors(reader: Any) -> dict[str, QuantxTensorInfo]:
    """The QuantX tensors of a gguf.GGUFReader, validated against their metadata."""
    import gguf

    fields = reader.fields

    def val(key: str) -> Any:
        return fields[key].contents() if key in fields else None

    out: dict[str, QuantxTensorInfo] = {}
    version = val(KEY_FORMAT_VERSION)
    for ti in reader.tensors:
        tname = val(tensor_key(ti.name, "type"))
        if tname is None:
            continue
        if version != FORMAT_VERSION:
            raise ValueError(f"{KEY_FORMAT_VERSION} is {version!r}, expected {FORMAT_VERSION}")
        t = compute_type(tname)
        ne = [int(v) for v in val(tensor_key(ti.name, "shape"))]
        if val(tensor_key(ti.name, "group_size")) != GROUP_SIZE:
            raise ValueError(f"{ti.name}: unsupported group size")
        if ti.tensor_type != gguf.GGMLQuantizationType.I8:
            raise ValueError(f"{ti.name}: QuantX tensor stored as {ti.tensor_type.name}, expected I8")
        rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
        rb = file_row_size(tname, ne[0])
        data = np.asarray(ti.data).view(np.uint8).reshape(-1)
        if data.size != rows * rb:
            raise ValueError(f"{ti.name}: {data.size} bytes, expected {rows} x {rb}")
        data = data.reshape(rows, rb)
        if tname.upper() in TENSOR_CODEBOOK_TYPES:
            cb = np.asarray(val(tensor_key(ti.name, "codebook")), dtype=np.int64)
            if cb.shape != (t.table_size,) or np.abs(cb).max() > 127:
                raise ValueError(f"{ti.name}: bad tensor codebook {cb.tolist()}")
            data = np.concatenate([np.tile(cb.astype(np.int8).view(np.uint8), (rows, 1)), data], axis=1)
        out[ti.name] = QuantxTensorInfo(ti.name, t, tuple(reversed(ne)), data, tname.upper())
    return out


# --- converter plug-in (convert/outtypes.py looks up `outtypes()`) ----------

@functools.cache
def _outtype_classes() -> Any:
    """Defined lazily (outtypes.py imports gguf and the converter package), once, so that
    isinstance checks against QxStorage agree everywhere."""
    import gguf

    from .outtypes import Storage, encode_standard

    @dataclass(frozen=True)
    class QxStorage(Storage):
        qx_name: str = ""

    @dataclass(frozen=True)
    class QuantxOuttype:
        """Every 2-D+ weight whose rows are a multiple of 32 becomes `qtype`
        (an I8 byte tensor + quantx.* metadata); 1-D tensors stay F32; the
        token embedding is stored as Q8_0 (it is read by row lookup, and the
        runtime's embedding path takes ggml types)."""
        name: str
        qtype: str
        file_type: Any = gguf.LlamaFileType.GUESSED
        lloyd_iters: int = 8
        activation: int = 8  # the file's activation path: 8 (A8) or 16 (A16)

        def plan(self, spec: Any) -> Storage:
            Qt = gguf.GGMLQuantizationType
            shape = tuple(int(s) for s in spec.shape)
            if len(shape) <= 1:
                return Storage.standard(shape, Qt.F32)
            n = shape[-1]
            if n % SUB_BLOCK:
                return Storage.standard(shape, Qt.F16)
            if spec.role == "token_embd":
                return Storage.standard(shape, Qt.Q8_0)
            rows = int(np.prod(shape[:-1]))
            rb = row_size(self.qtype, n)
            return QxStorage(Qt.I8, (rows, rb), rows * rb, self.qtype)

        def add_metadata(self, writer: Any, plans: list[tuple[Any, Storage]]) -> None:
            qx_plans = [(s, st) for s, st in plans if isinstance(st, QxStorage)]
            if qx_plans and not any(KEY_FORMAT_VERSION in kv for kv in writer.kv_data):
                writer.add_uint32(KEY_FORMAT_VERSION, FORMAT_VERSION)
            if qx_plans:
                if self.activation not in (8, 16):
                    raise ValueError(f"activation must be 8 or 16, not {self.activation}")
                writer.add_uint32(KEY_ACTIVATION, self.activation)
            for spec, st in qx_plans:
                writer.add_string(tensor_key(spec.gguf_name, "type"), st.qx_name)
                writer.add_array(tensor_key(spec.gguf_name, "shape"), [int(s) for s in reversed(spec.shape)])
                writer.add_uint32(tensor_key(spec.gguf_name, "group_size"), GROUP_SIZE)

        def encode(self, spec: Any, data: np.ndarray, storage: Storage) -> np.ndarray:
            if not isinstance(storage, QxStorage):
                return encode_standard(data, storage.ggml_type)
            packed, _ = quantize_tensor(data, storage.qx_name, lloyd_iters=self.lloyd_iters)
            return packed.view(np.int8)

    return QxStorage, QuantxOuttype


def quantx_storage(file_type: str, shape: Sequence[int]) -> Any:
    """The converter's Storage of a weight of logical numpy shape [..., n] in a QuantX file type."""
    qx_storage_cls, _ = _outtype_classes()
    import gguf

    compute_type(file_type)  # validates the name
    n = int(shape[-1])
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    rb = file_row_size(file_type, n)
    return qx_storage_cls(gguf.GGMLQuantizationType.I8, (rows, rb), rows * rb, file_type.upper())


def outtypes() -> dict[str, Any]:
    """Converter outtypes `qx3_u`, `qx3_c`, `qx4_u`, `qx4_c` (one format for all weights;
    per-layer recipes are the recipes work)."""
    _, QuantxOuttype = _outtype_classes()
    return {name.lower(): (lambda name=name: QuantxOuttype(name.lower(), name)) for name in QX_TYPES}
