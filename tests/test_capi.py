"""The plain C API (libquantx + quantx.h), driven through cffi: same results
as the Python API, errors as return codes with a message."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import quantx
from quantx import capi
from tiny_gguf import write_tiny_llama

cffi = pytest.importorskip("cffi")


@pytest.fixture(scope="module")
def lib():
    ffi = cffi.FFI()
    header = (capi.include_dir() / "quantx.h").read_text()
    # Keep only the declarations: cffi's parser takes no preprocessor lines.
    body = header.split('extern "C" {', 1)[1].rsplit("#ifdef __cplusplus", 1)[0]
    body = re.sub(r"^\s*#.*$", "", body, flags=re.M).replace("QX_API ", "")
    ffi.cdef(body)
    return ffi, ffi.dlopen(str(capi.library_path()))


def test_load_error_is_reported(lib, tmp_path: Path) -> None:
    ffi, L = lib
    m = L.qx_model_load(str(tmp_path / "missing.gguf").encode(), 1, 0, 0)
    assert m == ffi.NULL
    assert b"missing.gguf" in ffi.string(L.qx_last_error())


def test_c_api_matches_python(lib, tmp_path: Path) -> None:
    ffi, L = lib
    path = write_tiny_llama(tmp_path / "m.gguf")
    m = L.qx_model_load(str(path).encode(), 1, 0, 0)
    assert m != ffi.NULL, ffi.string(L.qx_last_error())
    try:
        text = "hello world".encode()
        n = L.qx_tokenize(m, text, len(text), 1, ffi.NULL, 0)
        ids = ffi.new("int32_t[]", n)
        assert L.qx_tokenize(m, text, len(text), 1, ids, n) == n
        py = quantx.Model(path, threads=1)
        assert list(ids) == py.tokenize("hello world")

        nv = L.qx_n_vocab(m)
        logits = ffi.new("float[]", nv)
        assert L.qx_eval(m, ids, n, logits) == 0
        expect = py.eval(list(ids))[-1]
        np.testing.assert_allclose(np.frombuffer(ffi.buffer(logits), dtype=np.float32), expect, rtol=1e-5, atol=1e-5)
        assert L.qx_n_past(m) == n

        buf = ffi.new("char[]", 64)
        k = L.qx_detokenize(m, ids, n, buf, 64)
        assert ffi.buffer(buf, k)[:] == b"hello world"

        # Overflowing the context is an error code, not a crash.
        big = ffi.new("int32_t[]", [65] * 100)
        assert L.qx_eval(m, big, 100, ffi.NULL) == -1
        assert b"context" in ffi.string(L.qx_last_error())

        L.qx_reset(m)
        s = ffi.new("qx_sampling*", {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0,
                                     "repeat_penalty": 1.0, "seed": 1})
        out = ffi.new("int32_t[]", 8)
        got = L.qx_generate(m, text, len(text), s, out, 8)
        assert 0 <= got <= 8
        py_ids = py.tokenize("hello world")
        py.reset()
        want = []
        logits_py = py.eval(py_ids)[-1]
        for _ in range(got):
            t = int(np.argmax(logits_py))
            want.append(t)
            logits_py = py.eval([t])[-1]
        assert list(out)[:got] == want
    finally:
        L.qx_model_free(m)
