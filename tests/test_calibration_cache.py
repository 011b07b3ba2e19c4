"""The cache of model-written calibration text (convert/recipes/calibration_cache.py): a hit
gives exactly the tokens generation would, a miss or a bad entry generates, and the key
changes with the weights and with every generation setting."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from quantx.convert.recipes import calibration_cache as cc

SETTINGS = cc.GenerationSettings(n_samples=3, seq_len=20, seed=1, batch_size=2)


def _model(seed: int = 0) -> transformers.LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(cfg).eval()


def _no_generation(*_args, **_kwargs):
    raise AssertionError("generated although the cache holds this model's text")


def test_hit_returns_exactly_the_generated_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    first = cc.cached_calibration_from_model(model, tmp_path, SETTINGS)
    assert not first.reused and first.store_error is None and first.path.is_file()
    monkeypatch.setattr(cc, "calibration_from_model", _no_generation)
    again = cc.cached_calibration_from_model(model, tmp_path, SETTINGS)
    assert again.reused and again.path == first.path
    a, b = first.calibration, again.calibration
    assert torch.equal(a.input_ids, b.input_ids) and a.input_ids.dtype == b.input_ids.dtype == torch.int64
    assert a.metadata() == b.metadata()  # the same provenance keys, so the same output file


def test_key_follows_the_weights_and_every_setting() -> None:
    model = _model()
    fp = cc.model_fingerprint(model)
    keys = {cc.cache_key(fp, SETTINGS)}
    for change in ({"n_samples": 4}, {"seq_len": 21}, {"seed": 2}, {"greedy_prefix": 4}, {"batch_size": 3}):
        keys.add(cc.cache_key(fp, cc.GenerationSettings(**{**SETTINGS.__dict__, **change})))
    assert len(keys) == 6
    assert cc.model_fingerprint(_model()) == fp  # same weights, same key
    with torch.no_grad():
        model.model.norm.weight[5] += 2 ** -20  # one value, one ulp-scale step
    assert cc.model_fingerprint(model) != fp


@pytest.mark.parametrize("damage", ["garbage", "truncated", "shape", "dtype", "out_of_vocab"])
def test_bad_entry_is_regenerated_and_replaced(tmp_path: Path, damage: str) -> None:
    model = _model()
    good = cc.cached_calibration_from_model(model, tmp_path, SETTINGS)
    ids = good.calibration.input_ids.numpy()
    path = good.path
    if damage == "garbage":
        path.write_bytes(b"\x93NUMPY not really")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:60])
    elif damage == "shape":
        np.save(path, ids[:2])
    elif damage == "dtype":
        np.save(path, ids.astype(np.int32))
    else:
        bad = ids.copy()
        bad[1, 7] = 96
        np.save(path, bad)
    again = cc.cached_calibration_from_model(model, tmp_path, SETTINGS)
    assert not again.reused and torch.equal(again.calibration.input_ids, good.calibration.input_ids)
    assert np.array_equal(np.load(path), ids)  # the entry was rewritten whole
    assert not list(tmp_path.glob("*.tmp"))


def test_unwritable_cache_costs_only_the_reuse(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    got = cc.cached_calibration_from_model(_model(), blocker, SETTINGS)
    assert not got.reused and got.store_error and got.calibration.input_ids.shape == (3, 20)


def test_default_cache_dir_order(tmp_path: Path) -> None:
    assert cc.default_cache_dir({"QUANTX_CACHE_DIR": "/q", "XDG_CACHE_HOME": "/x"}) == Path("/q")
    assert cc.default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/quantx")
    assert cc.default_cache_dir({}) == Path.home() / ".cache" / "quantx"


def _convert(hf: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(hf), str(out), "--calib-samples", "2",
                           "--calib-seq", "48", "--tune-epochs", "0", *extra],
                          capture_output=True, text=True, timeout=600)


def test_cli_second_conversion_reuses_the_text_and_writes_the_same_file(tmp_path: Path,
                                                                       tiny_llama_dir: Path) -> None:
    cache = tmp_path / "cache"
    first = _convert(tiny_llama_dir, tmp_path / "a.gguf", "--calib-cache", str(cache))
    assert first.returncode == 0, first.stderr[-2000:]
    assert "cached in" in first.stderr and len(list(cache.glob("calib-*.npy"))) == 1
    second = _convert(tiny_llama_dir, tmp_path / "b.gguf", "--calib-cache", str(cache))
    assert second.returncode == 0, second.stderr[-2000:]
    assert "reused from" in second.stderr and "generating text" not in second.stderr
    fresh = _convert(tiny_llama_dir, tmp_path / "c.gguf", "--no-calib-cache", "--quiet")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.gguf", "b.gguf", "c.gguf"))
    assert a == b == c
    both = _convert(tiny_llama_dir, tmp_path / "d.gguf", "--no-calib-cache", "--calib-cache", str(cache))
    assert both.returncode == 1 and "contradict" in both.stderr and not (tmp_path / "d.gguf").exists()
