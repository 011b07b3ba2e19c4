"""Bad model files and bad requests give a clear QuantxError (and a non-zero
CLI exit with the message), never a crash or a hang."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

import quantx
from tiny_gguf import write_tiny_llama


def _raises(path: Path, match: str, **kw) -> None:
    with pytest.raises(quantx.QuantxError, match=match):
        quantx.Model(path, threads=1, **kw)


def test_tiny_model_loads_and_runs(tmp_path: Path) -> None:
    m = quantx.Model(write_tiny_llama(tmp_path / "ok.gguf"), threads=1)
    logits = m.eval(m.tokenize("hello"))
    assert logits.shape == (5, m.n_vocab)
    assert np.isfinite(logits).all()


def test_missing_file(tmp_path: Path) -> None:
    _raises(tmp_path / "nope.gguf", "nope.gguf")


def test_missing_required_key(tmp_path: Path) -> None:
    p = write_tiny_llama(tmp_path / "m.gguf", skip_keys=("llama.block_count",))
    _raises(p, "llama.block_count")


def test_unknown_architecture(tmp_path: Path) -> None:
    p = write_tiny_llama(tmp_path / "m.gguf", arch="mamba")
    _raises(p, "unsupported architecture 'mamba'")


def test_missing_tensor(tmp_path: Path) -> None:
    p = write_tiny_llama(tmp_path / "m.gguf", skip_tensors=("blk.1.ffn_up.weight",))
    _raises(p, "blk.1.ffn_up.weight")


def test_wrong_tensor_shape(tmp_path: Path) -> None:
    bad = np.zeros((100, 64), dtype=np.float32)
    p = write_tiny_llama(tmp_path / "m.gguf", tensor_override={"blk.0.attn_q.weight": (bad, None)})
    _raises(p, "blk.0.attn_q.weight.*shape")


def test_unsupported_tensor_type(tmp_path: Path) -> None:
    # IQ2_XXS is a real ggml type the runtime does not compute with: 66 bytes per 256 values.
    p = write_tiny_llama(tmp_path / "m.gguf",
                         tensor_override={"blk.0.ffn_gate.weight": (np.zeros((128, 66), dtype=np.uint8),
                                                                     gguf.GGMLQuantizationType.IQ2_XXS)},
                         n_ff=128, n_embd=256, n_head=4, n_head_kv=2)
    _raises(p, "blk.0.ffn_gate.weight.*type")


def test_head_count_mismatch(tmp_path: Path) -> None:
    p = write_tiny_llama(tmp_path / "m.gguf", n_head=4, n_head_kv=3)
    _raises(p, "head_count")


def test_prompt_longer_than_context(tmp_path: Path) -> None:
    m = quantx.Model(write_tiny_llama(tmp_path / "m.gguf", ctx=32), threads=1)
    ids = m.tokenize("x" * 40)
    with pytest.raises(quantx.QuantxError, match="context"):
        m.eval(ids)
    with pytest.raises(quantx.QuantxError, match="context"):
        list(m.generate("y" * 40, max_tokens=4))
    # The model stays usable after the refusal.
    m.reset()
    assert m.eval(ids[:8]).shape[0] == 8


def test_token_id_out_of_range(tmp_path: Path) -> None:
    m = quantx.Model(write_tiny_llama(tmp_path / "m.gguf"), threads=1)
    with pytest.raises(quantx.QuantxError, match="out of range"):
        m.eval([1, 2, 100000])


def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    p = write_tiny_llama(tmp_path / "m.gguf", arch="mamba")
    r = subprocess.run([sys.executable, "-m", "quantx.cli.run", str(p), "-p", "hi"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "unsupported architecture 'mamba'" in r.stderr
    assert "Traceback" not in r.stderr
    text = tmp_path / "t.txt"
    text.write_text("some text " * 100)
    r = subprocess.run([sys.executable, "-m", "quantx.cli.perplexity", str(tmp_path / "missing.gguf"), "-f",
                        str(text)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "missing.gguf" in r.stderr and "Traceback" not in r.stderr
    ok = write_tiny_llama(tmp_path / "ok.gguf")
    r = subprocess.run([sys.executable, "-m", "quantx.cli.perplexity", str(ok), "-f", str(p)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "not UTF-8" in r.stderr and "Traceback" not in r.stderr
