"""Every refused input: a one-line message naming the problem, exit status 1, no traceback,
and nothing left in the output folder (neither the target nor a temp file)."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("quantx._native")


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quantx.cli.convert", *map(str, args), "--quiet"],
                          capture_output=True, text=True, timeout=300)


def leftovers(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir())


def assert_refused(res: subprocess.CompletedProcess, out_dir: Path, *needles: str) -> None:
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith("quantx-convert: error: "), res.stderr
    for n in needles:
        assert n in res.stderr, res.stderr
    assert leftovers(out_dir) == [], leftovers(out_dir)


@pytest.fixture
def model_copy(tiny_llama_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "model"
    shutil.copytree(tiny_llama_dir, d)
    return d


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def edit_weights(d: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    from safetensors.numpy import load_file, save_file

    w = load_file(d / "model.safetensors")
    change(w)
    save_file(w, d / "model.safetensors", metadata={"format": "pt"})


def edit_config(d: Path, **kv: object) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(kv)
    (d / "config.json").write_text(json.dumps(cfg))


def test_missing_folder(tmp_path: Path, out_dir: Path) -> None:
    assert_refused(run_cli(tmp_path / "nope", out_dir / "o.gguf"), out_dir, "nope", "does not exist")


def test_missing_config(model_copy: Path, out_dir: Path) -> None:
    (model_copy / "config.json").unlink()
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "no config.json")


def test_missing_tokenizer(model_copy: Path, out_dir: Path) -> None:
    (model_copy / "tokenizer.json").unlink()
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "no tokenizer", "tokenizer.json")


def test_missing_weights(model_copy: Path, out_dir: Path) -> None:
    (model_copy / "model.safetensors").unlink()
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "no *.safetensors")


def test_missing_shard(tiny_llama_sharded_dir: Path, tmp_path: Path, out_dir: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(tiny_llama_sharded_dir, d)
    shard = sorted(d.glob("model-*.safetensors"))[-1]
    shard.unlink()
    assert_refused(run_cli(d, out_dir / "o.gguf"), out_dir, shard.name, "missing")


def test_unsupported_architecture(model_copy: Path, out_dir: Path) -> None:
    edit_config(model_copy, architectures=["GPT2LMHeadModel"])
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "unsupported architecture GPT2LMHeadModel",
                   "LlamaForCausalLM", "Qwen2ForCausalLM")


def test_unexpected_tensor(model_copy: Path, out_dir: Path) -> None:
    edit_weights(model_copy, lambda w: w.__setitem__("model.layers.0.mlp.extra_proj.weight", np.zeros((4, 4), np.float32)))
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "unexpected", "model.layers.0.mlp.extra_proj.weight")


def test_missing_tensor(model_copy: Path, out_dir: Path) -> None:
    edit_weights(model_copy, lambda w: w.pop("model.layers.1.mlp.up_proj.weight"))
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "missing", "model.layers.1.mlp.up_proj.weight")


def test_shape_mismatch_with_config(model_copy: Path, out_dir: Path) -> None:
    edit_config(model_copy, intermediate_size=96)
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "model.layers.0.mlp.gate_proj.weight",
                   "[160, 64]", "[96, 64]")


def nan_in_last_layer(w: dict[str, np.ndarray]) -> None:
    # the last tensor written: the temp file already holds everything before it
    t = w["lm_head.weight"].copy()
    t[3, 5] = np.nan
    t[7, 1] = np.inf
    w["lm_head.weight"] = t


def test_nonfinite_weights_refused(model_copy: Path, out_dir: Path) -> None:
    edit_weights(model_copy, nan_in_last_layer)
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "lm_head.weight", "2 NaN/Inf",
                   "--allow-nonfinite")


def test_nonfinite_weights_allowed(model_copy: Path, out_dir: Path) -> None:
    from gguf import GGUFReader

    edit_weights(model_copy, nan_in_last_layer)
    res = run_cli(model_copy, out_dir / "o.gguf", "--allow-nonfinite", "--outtype", "f32")
    assert res.returncode == 0, res.stderr
    out = {t.name: t for t in GGUFReader(out_dir / "o.gguf").tensors}["output.weight"]
    assert np.isnan(out.data[3, 5]) and np.isinf(out.data[7, 1])


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickle_only_checkpoint_refused_never_unpickled(model_copy: Path, out_dir: Path, tmp_path: Path) -> None:
    (model_copy / "model.safetensors").unlink()
    marker = tmp_path / "UNPICKLED"
    (model_copy / "pytorch_model.bin").write_bytes(pickle.dumps(_RunsCodeWhenUnpickled(marker)))
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "pytorch_model.bin", "pickle", "safetensors")
    assert not marker.exists()


def test_unrecognised_pre_tokenizer(model_copy: Path, out_dir: Path) -> None:
    tj = json.loads((model_copy / "tokenizer.json").read_text())
    tj["pre_tokenizer"] = {"type": "Whitespace"}
    (model_copy / "tokenizer.json").write_text(json.dumps(tj))
    assert_refused(run_cli(model_copy, out_dir / "o.gguf"), out_dir, "pre-tokenizer was not recognised",
                   "--pre-tokenizer")
    res = run_cli(model_copy, out_dir / "o.gguf", "--pre-tokenizer", "default", "--outtype", "f16")
    assert res.returncode == 0, res.stderr


def test_existing_output_needs_force(tiny_llama_dir: Path, out_dir: Path) -> None:
    target = out_dir / "o.gguf"
    target.write_bytes(b"precious")
    res = run_cli(tiny_llama_dir, target)
    assert res.returncode == 1 and "already exists" in res.stderr and "--force" in res.stderr
    assert target.read_bytes() == b"precious"
    assert leftovers(out_dir) == ["o.gguf"]
    res = run_cli(tiny_llama_dir, target, "--force", "--outtype", "f16")
    assert res.returncode == 0, res.stderr
    assert target.read_bytes()[:4] == b"GGUF"
    assert leftovers(out_dir) == ["o.gguf"]


def test_api_raises_quantx_error(tmp_path: Path) -> None:
    import quantx
    from quantx.convert import ConvertError, convert

    with pytest.raises(quantx.QuantxError, match="does not exist") as e:
        convert(tmp_path / "nope", tmp_path / "o.gguf")
    assert isinstance(e.value, ConvertError)


def test_unknown_outtype_lists_choices(tiny_llama_dir: Path, out_dir: Path) -> None:
    res = run_cli(tiny_llama_dir, out_dir / "o.gguf", "--outtype", "q3_bogus")
    assert res.returncode == 2 and "f16" in res.stderr and "q8_0" in res.stderr  # argparse's usage error
    assert leftovers(out_dir) == []


def test_help_describes_usage() -> None:
    res = subprocess.run([sys.executable, "-m", "quantx.cli.convert", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for word in ("hf_dir", "--outtype", "--force", "--allow-nonfinite", "--quiet", "Qwen2ForCausalLM", "safetensors"):
        assert word in res.stdout
