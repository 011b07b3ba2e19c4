"""The native GGUF reader against gguf-py's GGUFReader, and against malformed files.

Valid files are written by gguf-py's GGUFWriter and must read back exactly as
GGUFReader sees them (every key, value, value type, tensor name, shape, type,
offset and byte). Malformed files must raise QuantxError naming the problem,
never crash, hang or allocate without bound.
"""
from __future__ import annotations

import math
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFEndian, GGUFReader, GGUFValueType, GGUFWriter

from quantx import QuantxError, _native

import gguf_corrupt as gc

GgufFile = _native.GgufFile


# --------------------------------------------------------------------------- comparison with gguf-py


def _spelling(types: list[GGUFValueType]) -> str:
    """GGUFReader's field.types ([ARRAY, ARRAY, INT32]) in GgufFile.metadata_types' spelling."""
    head = types[0].name.lower()
    if types[0] == GGUFValueType.ARRAY:
        return f"array[{_spelling(types[1:])}]"
    return head


def _flatten(v: Any) -> list[Any]:
    return [x for e in v for x in _flatten(e)] if isinstance(v, list) else [v]


def assert_same_as_reader(g: Any, path: Path) -> GGUFReader:
    r = GGUFReader(path)
    assert g.version == int(r.fields["GGUF.version"].parts[0][0])
    fields = {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}
    assert list(g.metadata) == list(fields), "keys or their order differ"
    for key, f in fields.items():
        got = g.metadata[key]
        assert g.metadata_types[key] == _spelling(f.types), key
        # GGUFReader flattens arrays of arrays (it has no nested representation).
        if f.types[0] == GGUFValueType.ARRAY and GGUFValueType.ARRAY in f.types[1:]:
            got = _flatten(got)
        assert got == f.contents(), key

    assert g.alignment == r.alignment
    assert g.data_offset == r.data_offset
    assert len(g.tensors) == len(r.tensors)
    for t, rt in zip(g.tensors, r.tensors):
        assert t["name"] == rt.name
        assert t["type_id"] == int(rt.tensor_type)
        assert t["shape"] == [int(x) for x in rt.shape]
        assert g.data_offset + t["offset"] == rt.data_offset
        assert t["ggml_type_name"] == rt.tensor_type.name
        # type_name is None for ggml types the runtime does not compute with;
        # their size is still known and bounds-checked.
        assert t["type_name"] in (None, rt.tensor_type.name)
        assert t["nbytes"] == rt.n_bytes
        assert bytes(g.tensor_bytes(t["name"])) == rt.data.tobytes()
    return r


@pytest.fixture
def all_kinds(tmp_path: Path) -> Path:
    return gc.write_all_kinds(tmp_path / "all.gguf")


def test_all_value_types_and_tensors_match_gguf_reader(all_kinds: Path) -> None:
    g = GgufFile(all_kinds)
    r = assert_same_as_reader(g, all_kinds)
    assert g.version == 3
    # Spot checks that do not depend on gguf-py: widened values keep their range and nesting.
    assert g.metadata["s.u64"] == 2**64 - 1 and g.metadata["s.i64"] == -(2**63)
    assert g.metadata["s.true"] is True and g.metadata["s.false"] is False
    assert g.metadata["a.nested"] == [[1, 2, 3], [4], [5, 6]]
    assert g.metadata["a.nested3"] == [[["a", "b"], ["c"]], [["d"]]]
    assert g.metadata_types["a.nested3"] == "array[array[array[string]]]"
    assert g.metadata["s.f32"] == float(np.float32(0.1))
    by_name = {t["name"]: t for t in g.tensors}
    assert by_name["t.f32"]["shape"] == [5, 3]  # ggml order: row length first
    assert by_name["t.f32_4d"]["shape"] == [2, 3, 1, 2]
    assert by_name["t.q4_1"]["shape"] == [64, 4] and by_name["t.q4_1"]["nbytes"] == 4 * 2 * 20
    assert by_name["t.f32"]["type_name"] == "F32"
    assert by_name["t.i32"]["ggml_type_name"] == "I32" and by_name["t.i32"]["nbytes"] == 28
    assert len(r.tensors) == 8


def test_tensor_bytes_is_a_readonly_view_that_outlives_the_file_object(all_kinds: Path) -> None:
    g = GgufFile(all_kinds)
    expected = GGUFReader(all_kinds).tensors[0].data.tobytes()
    mv = g.tensor_bytes("t.f32")
    assert isinstance(mv, memoryview) and mv.readonly
    del g
    assert bytes(mv) == expected  # the view keeps the mapping alive
    with pytest.raises(TypeError):
        mv[0] = 1
    with pytest.raises(KeyError, match="nope"):
        GgufFile(all_kinds).tensor_bytes("nope")


def test_version_2_file_reads_like_version_3(all_kinds: Path, tmp_path: Path) -> None:
    # v2 and v3 differ only in v3 permitting big-endian files: same layout, 64-bit counts.
    v2 = tmp_path / "v2.gguf"
    shutil.copy(all_kinds, v2)
    gc.patch(v2, 4, "I", 2)
    g2, g3 = GgufFile(v2), GgufFile(all_kinds)
    assert (g2.version, g3.version) == (2, 3)
    assert_same_as_reader(g2, v2)
    assert g2.metadata == g3.metadata and g2.tensors == g3.tensors


def test_custom_alignment_matches_gguf_reader(tmp_path: Path) -> None:
    p = tmp_path / "a.gguf"
    w = GGUFWriter(str(p), "llama")
    w.add_custom_alignment(64)
    w.add_tensor("x", np.ones(3, dtype=np.float32))
    w.add_tensor("y", np.ones(5, dtype=np.float32))
    gc.finish(w)
    g = GgufFile(p)
    assert_same_as_reader(g, p)
    assert g.alignment == 64 and g.data_offset % 64 == 0 and [t["offset"] for t in g.tensors] == [0, 64]


def test_invalid_utf8_string_comes_back_as_bytes(tmp_path: Path) -> None:
    p = gc.RawGguf(kvs=[gc.enc_kv("bad", GGUFValueType.STRING, gc.enc_str(b"\xff\xfeok")),
                        gc.enc_kv(b"k\xff", GGUFValueType.UINT8, b"\x07")]).write(tmp_path / "u.gguf")
    g = GgufFile(p)
    assert g.metadata == {"bad": b"\xff\xfeok", b"k\xff": 7}


def test_smollm2_q41_matches_gguf_reader(smollm2_q41: Path) -> None:
    g = GgufFile(smollm2_q41)
    assert_same_as_reader(g, smollm2_q41)
    assert g.metadata["general.architecture"] == "llama"
    assert len(g.metadata["tokenizer.ggml.tokens"]) == g.metadata["llama.vocab_size"]
    assert {t["type_name"] for t in g.tensors} <= {"F32", "Q4_1", "Q8_0"}


# --------------------------------------------------------------------------- typed getters


def test_typed_getters(all_kinds: Path) -> None:
    g = GgufFile(all_kinds)
    assert g.get_int("s.u32") == 2**32 - 1 and g.get_int("s.i64") == -(2**63)
    assert g.get_float("s.f64") == math.pi and g.get_float("s.i8") == -128.0
    assert g.get_string("general.architecture") == "llama"
    assert g.get_int_or("llama.block_count", 7) == 7
    assert g.get_float_or("absent", 1.5) == 1.5 and g.get_bool_or("s.true", False) is True
    assert g.get_string_or("absent", "dflt") == "dflt"
    assert g.get_array("a.i16") == [-32768, 32767]
    with pytest.raises(QuantxError, match="missing required key 'llama.block_count'"):
        g.get_int("llama.block_count")
    with pytest.raises(QuantxError, match="key 'general.architecture' has type string, expected integer"):
        g.get_int("general.architecture")
    with pytest.raises(QuantxError, match="key 's.u64' value 18446744073709551615 does not fit in int64"):
        g.get_int("s.u64")
    with pytest.raises(QuantxError, match="key 'a.str' has type array of string, expected number"):
        g.get_float("a.str")
    with pytest.raises(QuantxError, match="key 's.u8' has type uint8, expected bool"):
        g.get_bool_or("s.u8", True)  # present with the wrong type: an error, not the default
    with pytest.raises(QuantxError, match="key 's.str' has type string, expected array"):
        g.get_array("s.str")


# --------------------------------------------------------------------------- malformed files

ERR_TRUNCATED = r"truncated GGUF: .* at offset \d+|truncated or corrupt file"


def test_every_truncation_raises(tmp_path: Path) -> None:
    src = gc.write_small_valid(tmp_path / "src.gguf")
    raw = src.read_bytes()
    r = GGUFReader(src)
    last = r.tensors[-1]
    infos_end = last.field.offset + sum(int(p.nbytes) for p in last.field.parts)
    data_end = max(t.data_offset + t.n_bytes for t in r.tensors)
    assert data_end <= len(raw)
    cuts = sorted(set(np.linspace(0, data_end - 1, 200).astype(int).tolist()) | set(range(0, 40)))
    assert len(cuts) >= 150
    cut_file = tmp_path / "cut.gguf"
    for cut in cuts:
        cut_file.write_bytes(raw[:cut])
        with pytest.raises(QuantxError) as e:
            GgufFile(cut_file)
        msg = str(e.value)
        if cut < infos_end:
            assert __import__("re").search(ERR_TRUNCATED, msg), (cut, msg)
        else:
            assert "data extends past end of file" in msg, (cut, msg)
    GgufFile(src)  # and the uncut file is fine


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.gguf").write_bytes(b"")
    with pytest.raises(QuantxError, match=r"truncated GGUF: magic at offset 0"):
        GgufFile(tmp_path / "e.gguf")


def test_bad_magic(tmp_path: Path) -> None:
    p = gc.RawGguf(magic=b"GGML").write(tmp_path / "m.gguf")
    with pytest.raises(QuantxError, match="not a GGUF file: bad magic 47 47 4d 4c"):
        GgufFile(p)


@pytest.mark.parametrize("version", [0, 1, 4, 0xFFFFFFFF])
def test_unsupported_version(tmp_path: Path, version: int) -> None:
    p = gc.RawGguf(version=version).write(tmp_path / "v.gguf")
    with pytest.raises(QuantxError, match=f"unsupported GGUF version {version} "):
        GgufFile(p)


def test_big_endian_file_is_refused_by_name(tmp_path: Path) -> None:
    p = gc.write_all_kinds(tmp_path / "be.gguf", GGUFEndian.BIG)
    with pytest.raises(QuantxError, match="big-endian GGUF v3 files are not supported"):
        GgufFile(p)


def test_tensor_data_past_eof(tmp_path: Path) -> None:
    p = gc.minimal_tensor_file([20], data=b"\0" * 64).write(tmp_path / "d.gguf")  # needs 80 bytes
    with pytest.raises(QuantxError, match="tensor 'w' data extends past end of file"):
        GgufFile(p)
    p = gc.minimal_tensor_file([16], data=b"\0" * 64).write(tmp_path / "ok.gguf")  # exactly fits
    assert GgufFile(p).tensors[0]["nbytes"] == 64


@pytest.mark.parametrize("offset", [2**63, 2**64 - 32, 32 * 3])
def test_tensor_offset_past_eof_without_overflow(tmp_path: Path, offset: int) -> None:
    p = gc.minimal_tensor_file([4], offset=offset).write(tmp_path / "o.gguf")
    with pytest.raises(QuantxError, match="tensor 'w' data extends past end of file"):
        GgufFile(p)


@pytest.mark.parametrize("ne,msg", [
    ([2**40, 2**40], "tensor 'w' has too many elements: its shape overflows 64 bits"),
    ([2**63, 1], "tensor 'w' has too many elements"),
    ([2**64 - 1], "tensor 'w' has too many elements"),
    ([2**31, 2**31], "tensor 'w' data extends past end of file"),   # 2^62 elements: no overflow, no room
    ([4, 0], "tensor 'w' has dimension 1 of size 0"),
    ([1, 1, 1, 1, 1], "tensor 'w' has 5 dimensions \\(at most 4"),
])
def test_absurd_shapes(tmp_path: Path, ne: list[int], msg: str) -> None:
    p = gc.minimal_tensor_file(ne).write(tmp_path / "s.gguf")
    with pytest.raises(QuantxError, match=msg):
        GgufFile(p)


def test_row_length_not_a_multiple_of_the_block(tmp_path: Path) -> None:
    p = gc.minimal_tensor_file([33, 1], type_id=GGMLQuantizationType.Q8_0, data=b"\0" * 128).write(tmp_path / "b.gguf")
    with pytest.raises(QuantxError, match="tensor 'w' row length 33 is not a multiple of the Q8_0 block size 32"):
        GgufFile(p)


@pytest.mark.parametrize("field,value,msg", [
    ("tensor_count", 2**62, "tensor count 4611686018427387904 cannot fit"),
    ("kv_count", 2**62, "metadata key/value count 4611686018427387904 cannot fit"),
    ("kv_count", 2**64 - 1, "metadata key/value count 18446744073709551615 cannot fit"),
])
def test_absurd_counts(tmp_path: Path, field: str, value: int, msg: str) -> None:
    raw = gc.minimal_tensor_file([4])
    setattr(raw, field, value)
    with pytest.raises(QuantxError, match=msg):
        GgufFile(raw.write(tmp_path / "c.gguf"))


def test_counts_that_fit_alone_but_not_together(tmp_path: Path) -> None:
    raw = gc.RawGguf(kvs=[b"\0" * 40], kv_count=3, tensor_count=1)  # 3*13 fits, 1*24 fits, 63 does not
    with pytest.raises(QuantxError, match="cannot both fit"):
        GgufFile(raw.write(tmp_path / "c.gguf"))


def test_absurd_string_lengths(tmp_path: Path) -> None:
    key = struct.pack("<Q", 2**63) + b"abcdefgh"
    with pytest.raises(QuantxError, match=r"truncated GGUF: key of metadata entry 0 at offset 24 is a string of "
                                          r"9223372036854775808 bytes"):
        GgufFile(gc.RawGguf(kvs=[key]).write(tmp_path / "k.gguf"))
    value = gc.enc_str("k") + struct.pack("<IQ", GGUFValueType.STRING, 2**64 - 1)
    with pytest.raises(QuantxError, match="truncated GGUF: key 'k' at offset 37 is a string of 18446744073709551615"):
        GgufFile(gc.RawGguf(kvs=[value]).write(tmp_path / "v.gguf"))
    name = struct.pack("<Q", 2**62)
    with pytest.raises(QuantxError, match="name of tensor info 0 .* is a string of 4611686018427387904 bytes"):
        GgufFile(gc.RawGguf(infos=[name + b"\0" * 30]).write(tmp_path / "n.gguf"))


@pytest.mark.parametrize("elem_type", [GGUFValueType.UINT8, GGUFValueType.STRING, GGUFValueType.ARRAY])
def test_absurd_array_counts(tmp_path: Path, elem_type: int) -> None:
    kv = gc.enc_kv("arr", GGUFValueType.ARRAY, gc.enc_array_header(elem_type, 2**62) + b"\0" * 64)
    with pytest.raises(QuantxError, match="key 'arr': array count 4611686018427387904 at offset 43 cannot fit"):
        GgufFile(gc.RawGguf(kvs=[kv]).write(tmp_path / "a.gguf"))


def test_array_elements_are_capped_in_total(tmp_path: Path) -> None:
    # Each element would cost ~88 bytes of memory per byte of file: a cap, not the file size, bounds it.
    n = 2**22 + 1
    kv = gc.enc_kv("big", GGUFValueType.ARRAY, gc.enc_array_header(GGUFValueType.UINT8, n) + b"\1" * n)
    with pytest.raises(QuantxError, match="metadata arrays hold more than 4194304 elements in total"):
        GgufFile(gc.RawGguf(kvs=[kv]).write(tmp_path / "big.gguf"))


def test_nested_arrays_a_million_deep(tmp_path: Path) -> None:
    depth = 10**6
    level = gc.enc_array_header(GGUFValueType.ARRAY, 1)
    kv = gc.enc_kv("deep", GGUFValueType.ARRAY, level * depth + gc.enc_array_header(GGUFValueType.UINT8, 0))
    with pytest.raises(QuantxError, match="key 'deep': arrays nested more than 16 levels deep"):
        GgufFile(gc.RawGguf(kvs=[kv]).write(tmp_path / "deep.gguf"))


def test_nesting_up_to_the_limit_parses(tmp_path: Path) -> None:
    level = gc.enc_array_header(GGUFValueType.ARRAY, 1)
    kv = gc.enc_kv("deep", GGUFValueType.ARRAY, level * 15 + gc.enc_array_header(GGUFValueType.INT8, 1) + b"\xff")
    value: Any = [-1]
    for _ in range(15):
        value = [value]
    assert GgufFile(gc.RawGguf(kvs=[kv]).write(tmp_path / "d.gguf")).metadata["deep"] == value


def test_unknown_value_types(tmp_path: Path) -> None:
    with pytest.raises(QuantxError, match="key 'x' has unknown value type 13"):
        GgufFile(gc.RawGguf(kvs=[gc.enc_kv("x", 13, b"\0" * 8)]).write(tmp_path / "t.gguf"))
    kv = gc.enc_kv("x", GGUFValueType.ARRAY, gc.enc_array_header(0xFFFFFFFF, 1) + b"\0" * 8)
    with pytest.raises(QuantxError, match="key 'x': array has unknown element type 4294967295"):
        GgufFile(gc.RawGguf(kvs=[kv]).write(tmp_path / "a.gguf"))


def test_bool_must_be_0_or_1(tmp_path: Path) -> None:
    with pytest.raises(QuantxError, match="key 'b': bool value 2 is neither 0 nor 1"):
        GgufFile(gc.RawGguf(kvs=[gc.enc_kv("b", GGUFValueType.BOOL, b"\2")]).write(tmp_path / "b.gguf"))


def test_unknown_tensor_type_is_listed_without_a_type(tmp_path: Path) -> None:
    p = gc.minimal_tensor_file([4, 4], type_id=99).write(tmp_path / "u.gguf")
    g = GgufFile(p)
    (t,) = g.tensors
    assert (t["name"], t["type_id"], t["type_name"], t["ggml_type_name"], t["shape"], t["nbytes"]) == (
        "w", 99, None, None, [4, 4], None)
    with pytest.raises(QuantxError, match="tensor 'w' has type id 99, unknown to ggml and the runtime"):
        g.tensor_bytes("w")
    # Its size is unknown, but where it starts is still checked.
    p = gc.minimal_tensor_file([4], type_id=99, offset=2**40).write(tmp_path / "u2.gguf")
    with pytest.raises(QuantxError, match="tensor 'w' data extends past end of file"):
        GgufFile(p)


@pytest.mark.parametrize("type_id,ne,nbytes", [
    (GGMLQuantizationType.I8, [7, 3], 21),          # QuantX tensors are stored as I8
    (GGMLQuantizationType.I64, [2, 2], 32),
    (GGMLQuantizationType.IQ4_XS, [256, 1], 136),
    (GGMLQuantizationType.MXFP4, [64], 34),
])
def test_ggml_types_outside_the_runtime_are_sized_and_bounds_checked(
        tmp_path: Path, type_id: int, ne: list[int], nbytes: int) -> None:
    fits = gc.minimal_tensor_file(ne, type_id=type_id, data=bytes(range(nbytes))).write(tmp_path / "ok.gguf")
    t = GgufFile(fits).tensors[0]
    assert (t["ggml_type_name"], t["nbytes"]) == (GGMLQuantizationType(type_id).name, nbytes)
    assert bytes(GgufFile(fits).tensor_bytes("w")) == bytes(range(nbytes))
    short = gc.minimal_tensor_file(ne, type_id=type_id, data=bytes(nbytes - 1)).write(tmp_path / "short.gguf")
    with pytest.raises(QuantxError, match="tensor 'w' data extends past end of file"):
        GgufFile(short)


def test_block_size_of_a_ggml_type_outside_the_runtime(tmp_path: Path) -> None:
    p = gc.minimal_tensor_file([100, 2], type_id=GGMLQuantizationType.IQ2_XS, data=bytes(200)).write(tmp_path / "b.gguf")
    with pytest.raises(QuantxError, match="tensor 'w' row length 100 is not a multiple of the IQ2_XS block size 256"):
        GgufFile(p)


@pytest.mark.parametrize("alignment,msg", [
    (0, "bad general.alignment 0: must be a power of two"),
    (3, "bad general.alignment 3: must be a power of two"),
    (2**31, "bad general.alignment 2147483648: must be a power of two from 1 to 16777216"),
])
def test_bad_alignment(tmp_path: Path, alignment: int, msg: str) -> None:
    p = gc.minimal_tensor_file([4], extra_kvs=[gc.enc_u32_kv("general.alignment", alignment)]).write(tmp_path / "a.gguf")
    with pytest.raises(QuantxError, match=msg):
        GgufFile(p)


def test_alignment_of_the_wrong_type(tmp_path: Path) -> None:
    kv = gc.enc_kv("general.alignment", GGUFValueType.STRING, gc.enc_str("32"))
    with pytest.raises(QuantxError, match="key 'general.alignment' has type string, expected an unsigned integer"):
        GgufFile(gc.minimal_tensor_file([4], extra_kvs=[kv]).write(tmp_path / "a.gguf"))


def test_alignment_one_is_honoured(tmp_path: Path) -> None:
    raw = gc.minimal_tensor_file([4], offset=4, extra_kvs=[gc.enc_u32_kv("general.alignment", 1)], data=b"\0" * 20)
    raw.alignment = 1
    g = GgufFile(raw.write(tmp_path / "a1.gguf"))
    assert g.alignment == 1 and g.data_offset == len(raw.to_bytes()) - 20 and g.tensors[0]["offset"] == 4


def test_duplicate_key(tmp_path: Path) -> None:
    p = gc.RawGguf(kvs=[gc.enc_u32_kv("a", 1), gc.enc_u32_kv("b", 2), gc.enc_u32_kv("a", 3)]).write(tmp_path / "k.gguf")
    with pytest.raises(QuantxError, match="duplicate metadata key 'a'"):
        GgufFile(p)


def test_duplicate_tensor_name(tmp_path: Path) -> None:
    info, data = gc.f32_tensor("w", 8)
    info2, _ = gc.f32_tensor("w", 8, offset=32)
    with pytest.raises(QuantxError, match="duplicate tensor name 'w'"):
        GgufFile(gc.RawGguf(infos=[info, info2], data=data * 2).write(tmp_path / "t.gguf"))


def test_offset_not_aligned(tmp_path: Path) -> None:
    p = gc.minimal_tensor_file([4], offset=4).write(tmp_path / "o.gguf")
    with pytest.raises(QuantxError, match="tensor 'w' data offset 4 is not a multiple of the alignment 32"):
        GgufFile(p)


def test_hostile_names_are_escaped_and_shortened_in_errors(tmp_path: Path) -> None:
    name = b"\x1b[31m" + b"n" * 500
    with pytest.raises(QuantxError) as e:
        GgufFile(gc.RawGguf(kvs=[gc.enc_kv(name, 13, b"")]).write(tmp_path / "h.gguf"))
    msg = str(e.value)
    assert "\x1b" not in msg and "'\\x1b[31mnnn" in msg and "n..." in msg and len(msg) < 300


def test_path_forms(tmp_path: Path) -> None:
    src = gc.write_small_valid(tmp_path / "s.gguf")
    odd = tmp_path / os.fsdecode(b"na\xefve-\xff.gguf")  # not valid UTF-8
    shutil.copy(src, odd)
    expected = GgufFile(src).metadata
    for form in (str(src), os.fsencode(src), odd, os.fsencode(odd)):
        assert GgufFile(form).metadata == expected


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(QuantxError, match=f"cannot open '{tmp_path}': Is a directory"):
        GgufFile(tmp_path)
    with pytest.raises(QuantxError, match="cannot open '.*nope.gguf': No such file or directory"):
        GgufFile(tmp_path / "nope.gguf")
    with pytest.raises(QuantxError, match=r"cannot open '.*/no\\xffpe\.gguf': No such file"):
        GgufFile(os.fsencode(tmp_path) + b"/no\xffpe.gguf")  # the message stays valid UTF-8


def test_non_ascii_names_stay_readable_in_errors(tmp_path: Path) -> None:
    info, data = gc.f32_tensor("вес.🚀", 8)
    p = gc.RawGguf(infos=[info, info], data=data).write(tmp_path / "n.gguf")
    with pytest.raises(QuantxError, match="duplicate tensor name 'вес.🚀'"):
        GgufFile(p)

