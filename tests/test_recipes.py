"""Recipe building blocks: clipping search, weighted k-means, GPTQ, AWQ folding, streamed calibration,
attention-map criterion, and the quality bench's scoring. Tiny random models and matrices only."""
from __future__ import annotations

import copy
import hashlib
import math

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from quantx.convert.recipes import (  # noqa: E402
    attention_map_distortion,
    calibration_from_text,
    critical_outlier_score,
    full_forward_stats,
    gptq_quantize,
    output_error,
    output_error_from_hessian,
    quantize_codebook,
    quantize_uniform,
    stream_layers,
    weighted_error,
    weighted_kmeans,
)
from quantx.convert.recipes import baselines  # noqa: E402
from quantx.convert.recipes.awq import AttentionShape, fold_into_norm, fold_into_previous_linear  # noqa: E402
from quantx.convert.recipes.calibration import CalibrationSet, LINEAR_NAMES  # noqa: E402


def _heavy_tailed(rows: int, cols: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * 0.02
    outliers = torch.rand(rows, cols, generator=g) < 0.01
    return torch.where(outliers, w * 8, w)


def _importance(cols: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.exp(torch.randn(cols, generator=g) * 1.5)


def _correlated_activations(tokens: int, cols: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(cols, cols, generator=g) / math.sqrt(cols) + 0.3 * torch.eye(cols)
    chan = torch.exp(torch.randn(cols, generator=g))
    return (torch.randn(tokens, cols, generator=g) @ mix) * chan


def _tiny_llama(seed: int = 0, kind: str = "llama"):
    torch.manual_seed(seed)
    common = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    if kind == "llama":
        cfg = transformers.LlamaConfig(**common, attn_implementation="eager")
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(**common, attn_implementation="eager")
        model = transformers.Qwen2ForCausalLM(cfg)
    with torch.no_grad():  # non-trivial norms so folding is really exercised
        for layer in model.model.layers:
            layer.input_layernorm.weight.uniform_(0.5, 1.5)
            layer.post_attention_layernorm.weight.uniform_(0.5, 1.5)
            for name in LINEAR_NAMES:
                lin = layer.get_submodule(name)
                if lin.bias is not None:
                    lin.bias.normal_(0, 0.1)
    return model.eval()


def _random_calibration(n: int, seq: int, vocab: int, seed: int) -> CalibrationSet:
    ids = torch.randint(0, vocab, (n, seq), generator=torch.Generator().manual_seed(seed))
    return CalibrationSet(input_ids=ids, source="random", sha256="-", seed=seed)


# ---- uniform ---------------------------------------------------------------------------------

def test_clip_search_never_worse_than_minmax_per_group():
    w = _heavy_tailed(48, 256, 1)
    imp = _importance(256, 2)
    minmax = quantize_uniform(w, 3, 64, imp, grid=1, refine_steps=0).dequantize()
    searched = quantize_uniform(w, 3, 64, imp).dequantize()
    per_group = lambda d: (((d - w) ** 2) * imp).view(48, 4, 64).sum(-1)  # noqa: E731
    assert torch.all(per_group(searched) <= per_group(minmax) * (1 + 1e-6))
    assert weighted_error(w, searched, imp) < 0.8 * weighted_error(w, minmax, imp)


def test_uniform_codes_and_params_are_format_shaped():
    w = _heavy_tailed(8, 128, 3)
    q = quantize_uniform(w, 3, 64, _importance(128, 4))
    assert q.codes.max() <= 7 and q.scale.shape == (8, 2)
    assert torch.equal(q.scale, q.scale.half().float()) and torch.equal(q.minimum, q.minimum.half().float())
    assert q.bits_per_weight == 3.5
    deq = q.dequantize().view(8, 2, 64)
    assert all(len(torch.unique(deq[r, g])) <= 8 for r in range(8) for g in range(2))


def test_minmax_rtn_agrees_with_gguf_q4_1():
    gguf_quants = pytest.importorskip("gguf.quants")
    import gguf
    w = _heavy_tailed(64, 256, 33)
    qt = gguf.GGMLQuantizationType.Q4_1
    ref = torch.from_numpy(gguf_quants.dequantize(gguf_quants.quantize(w.numpy(), qt), qt)).reshape(64, 256)
    mine = quantize_uniform(w, 4, 32, grid=1, refine_steps=0).dequantize()
    # llama.cpp rounds with the unrounded min/scale and stores them as fp16 afterwards; the rare
    # differing codes are rounding ties, so the error budget is the same.
    assert (ref == mine).float().mean() > 0.99
    assert float(((mine - w) ** 2).mean()) == pytest.approx(float(((ref - w) ** 2).mean()), rel=1e-2)


def test_short_last_group_576_columns_g128():
    w = _heavy_tailed(6, 576, 30)
    imp = _importance(576, 31)
    minmax = quantize_uniform(w, 3, 128, imp, grid=1, refine_steps=0)
    searched = quantize_uniform(w, 3, 128, imp)
    assert searched.scale.shape == (6, 5) and searched.codes.shape == (6, 576)
    assert searched.bits_per_weight == pytest.approx(3 + 32 * 5 / 576)
    tail = slice(512, 576)
    for q in (minmax, searched):
        deq = q.dequantize()
        assert all(len(torch.unique(deq[r, tail])) <= 8 for r in range(6))
    # The short group's min/max come from its own 64 weights only.
    torch.testing.assert_close(minmax.dequantize()[:, tail].amin(1), w[:, tail].amin(1).half().float())
    err = lambda d: ((d - w)[:, tail] ** 2 * imp[tail]).sum()  # noqa: E731
    assert err(searched.dequantize()) <= err(minmax.dequantize())
    x = _correlated_activations(1024, 576, 32)
    g = gptq_quantize(w, x.T @ x, 3, 128)
    assert output_error(x, w, g.dequantize()) < output_error(x, w, minmax.dequantize())


# ---- codebook --------------------------------------------------------------------------------

def test_weighted_kmeans_monotone_and_beats_unweighted():
    x = _heavy_tailed(32, 512, 5)
    w = _importance(512, 6).expand(32, -1)
    res = weighted_kmeans(x, w, k=8, iters=50)
    hist = res.objective_history
    assert len(hist) > 2
    assert all(b <= a * (1 + 1e-12) for a, b in zip(hist, hist[1:]))
    assert hist[-1] < hist[0]
    plain = weighted_kmeans(x, torch.ones_like(x), k=8, iters=50)
    err = lambda r: float((w * (x - torch.gather(r.centroids.float(), 1, r.assignment)) ** 2).sum())  # noqa: E731
    assert err(res) < 0.9 * err(plain)


@pytest.mark.parametrize("granularity,group", [("row", 0), ("group", 64), ("tensor", 0)])
def test_codebook_granularity(granularity, group):
    w = _heavy_tailed(16, 256, 7)
    q = quantize_codebook(w, _importance(256, 8), k=8, granularity=granularity, group_size=group or 128)
    deq = q.dequantize()
    n_seg = {"row": 16, "group": 16 * 4, "tensor": 1}[granularity]
    assert q.tables.shape == (n_seg, 8)
    for s, seg in enumerate(deq.reshape(n_seg, -1)):
        assert set(seg.tolist()) <= set(q.tables[s].tolist())
    # Each weight maps to its nearest stored level.
    seg_w = w.reshape(n_seg, -1)
    nearest = (seg_w.unsqueeze(-1) - q.tables.unsqueeze(1)).abs().amin(-1)
    assert torch.allclose((seg_w - deq.reshape(n_seg, -1)).abs(), nearest)


# ---- GPTQ ------------------------------------------------------------------------------------

@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_beats_rtn_on_correlated_activations(act_order):
    x = _correlated_activations(2048, 256, 9)
    w = _heavy_tailed(64, 256, 10)
    h = x.T @ x / x.shape[0]
    rtn = quantize_uniform(w, 3, 64, grid=1, refine_steps=0).dequantize()
    g = gptq_quantize(w, h, 3, 64, act_order=act_order)
    assert g.codes.max() <= 7 and g.scale.shape == (64, 4)
    e_rtn, e_gptq = output_error(x, w, rtn), output_error(x, w, g.dequantize())
    assert e_gptq < (0.5 if act_order else 0.8) * e_rtn
    assert output_error_from_hessian(h, w, g.dequantize()) == pytest.approx(e_gptq, rel=1e-3)


# ---- AWQ folding -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_awq_folding_is_exact_in_float(kind):
    model = _tiny_llama(11, kind)
    ids = torch.randint(0, 96, (2, 24), generator=torch.Generator().manual_seed(12))
    ref = model(ids).logits
    folded = copy.deepcopy(model)
    shape = AttentionShape.of(model.config)
    g = torch.Generator().manual_seed(13)
    rand_s = lambda n: torch.exp(torch.randn(n, generator=g) * 0.5)  # noqa: E731
    with torch.no_grad():
        for layer in folded.model.layers:
            a, m = layer.self_attn, layer.mlp
            fold_into_norm(layer.input_layernorm, [a.q_proj, a.k_proj, a.v_proj], rand_s(64))
            s_kv = rand_s(shape.n_kv_heads * shape.head_dim)
            fold_into_previous_linear(a.v_proj, a.o_proj, s_kv, shape.expand_kv(s_kv))
            fold_into_norm(layer.post_attention_layernorm, [m.gate_proj, m.up_proj], rand_s(64))
            s = rand_s(128)
            fold_into_previous_linear(m.up_proj, m.down_proj, s, s)
    changed = folded.model.layers[0].self_attn.o_proj.weight
    assert not torch.allclose(changed, model.model.layers[0].self_attn.o_proj.weight)
    torch.testing.assert_close(folded(ids).logits, ref, atol=1e-5, rtol=1e-5)


def test_awq_baseline_quantizes_every_group_to_eight_levels():
    model = _tiny_llama(14)
    calib = _random_calibration(4, 32, 96, 15)
    rep = baselines.awq(model, calib, bits=3, group_size=32, keep_samples=4, batch_size=2)
    assert rep.bits_per_weight == 4.0 and len(rep.details["alphas"]) == 2
    for layer in model.model.layers:
        for name in LINEAR_NAMES:
            w = layer.get_submodule(name).weight.view(-1, 32)
            assert max(len(torch.unique(r)) for r in w) <= 8


def test_gptq_baseline_lowers_layer_output_error_vs_rtn():
    model = _tiny_llama(16)
    calib = _random_calibration(4, 32, 96, 17)
    ref_stats = full_forward_stats(model, calib)
    h = ref_stats[0]["mlp.down_proj"].hessian
    w = model.model.layers[0].mlp.down_proj.weight.detach().clone()
    q_rtn, q_gptq = copy.deepcopy(model), copy.deepcopy(model)
    baselines.rtn(q_rtn, 3, 32)
    baselines.gptq(q_gptq, calib, 3, 32, batch_size=2)
    e = lambda m: output_error_from_hessian(h, w, m.model.layers[0].mlp.down_proj.weight)  # noqa: E731
    assert e(q_gptq) < e(q_rtn)


# ---- calibration -----------------------------------------------------------------------------

def test_streamed_statistics_equal_full_forward_hooks():
    model = _tiny_llama(18)
    calib = _random_calibration(5, 40, 96, 19)
    reference = full_forward_stats(model, calib)
    streamed = list(stream_layers(model, calib, batch_size=2, keep_samples=2, propagate="float"))
    assert len(streamed) == len(reference) == 2
    for lc, ref in zip(streamed, reference):
        for name in LINEAR_NAMES:
            s, r = lc.stats[name], ref[name]
            assert s.n == r.n == 5 * 40
            torch.testing.assert_close(s.sq_mean, r.sq_mean, rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(s.abs_mean, r.abs_mean, rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(s.hessian, r.hessian, rtol=1e-4, atol=1e-6)
        assert len(lc.stats["mlp.down_proj"].samples) == 2


def test_streaming_propagates_quantized_layer_outputs():
    model = _tiny_llama(20)
    calib = _random_calibration(2, 16, 96, 21)
    quantized = copy.deepcopy(model)
    baselines.rtn(quantized, 3, 32)
    seen = []
    for lc in stream_layers(model, calib, propagate="quantized"):
        seen.append(lc.stats["self_attn.q_proj"].sq_mean.clone())
        lc.layer.load_state_dict(quantized.model.layers[lc.index].state_dict())
    # Layer 1's inputs must be those of the model whose layer 0 is quantized.
    expected = full_forward_stats(quantized, calib)[1]["self_attn.q_proj"].sq_mean
    torch.testing.assert_close(seen[1], expected, rtol=1e-5, atol=1e-7)


def test_calibration_from_text_provenance(shakespeare_path):
    class CharTokenizer:  # a stand-in tokenizer: one id per character
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) % 256 for c in text]}
    cal = calibration_from_text(CharTokenizer(), shakespeare_path, n_samples=3, seq_len=64, seed=5)
    assert cal.input_ids.shape == (3, 64)
    meta = cal.metadata()
    assert meta["quantx.calibration.tokens"] == 192
    assert meta["quantx.calibration.sha256"] == hashlib.sha256(shakespeare_path.read_bytes()).hexdigest()
    text = shakespeare_path.read_text()
    joined = "".join(chr(i) for i in cal.input_ids[0].tolist())
    assert joined in "".join(chr(ord(c) % 256) for c in text)


def test_data_free_calibration_is_model_text_and_reproducible():
    from quantx.convert.recipes import calibration_from_model
    model = _tiny_llama(27)
    seen: list[tuple[int, int]] = []
    a = calibration_from_model(model, n_samples=3, seq_len=20, seed=1, batch_size=2,
                               progress=lambda done, total: seen.append((done, total)))
    # per token of every batch (2 sequences, then 1), to the whole 3 x 20
    assert seen[0] == (4, 60) and seen[-1] == (60, 60) and len(seen) == 2 * 19
    assert all(a_[0] < b_[0] for a_, b_ in zip(seen, seen[1:]))
    b = calibration_from_model(model, n_samples=3, seq_len=20, seed=1, batch_size=2)
    c = calibration_from_model(model, n_samples=3, seq_len=20, seed=2, batch_size=2)
    assert a.input_ids.shape == (3, 20) and torch.equal(a.input_ids, b.input_ids)
    assert not torch.equal(a.input_ids, c.input_ids)
    assert a.source == "self-generated" and a.sha256 == hashlib.sha256(a.input_ids.numpy().tobytes()).hexdigest()
    # The greedy prefix: token 2 is the model's argmax after token 1.
    logits = model(a.input_ids[:, :2]).logits[:, -1]
    assert torch.equal(logits.argmax(-1), a.input_ids[:, 2])


# ---- criteria --------------------------------------------------------------------------------

def test_attention_map_matches_transformers_and_grows_with_noise():
    model = _tiny_llama(22)
    ids = torch.randint(0, 96, (1, 20), generator=torch.Generator().manual_seed(23))
    out = model(ids, output_attentions=True)
    layer = model.model.layers[0]
    x = layer.input_layernorm(model.model.embed_tokens(ids))[0].detach()
    pos = torch.arange(20).unsqueeze(0)
    cos, sin = model.model.rotary_emb(x.unsqueeze(0), pos)
    rope = (cos[0], sin[0])
    shape = AttentionShape.of(model.config)
    wq, wk = layer.self_attn.q_proj.weight.detach(), layer.self_attn.k_proj.weight.detach()
    from quantx.convert.recipes.criteria import _attention_logprobs
    lp, _ = _attention_logprobs(x, wq, wk, None, None, shape, *rope)
    torch.testing.assert_close(lp.exp(), out.attentions[0][0], atol=1e-5, rtol=1e-4)

    assert attention_map_distortion(x, wq, wk, wq, wk, shape, rope) == 0.0
    g = torch.Generator().manual_seed(24)
    nq, nk = torch.randn(wq.shape, generator=g), torch.randn(wk.shape, generator=g)
    d = [attention_map_distortion(x, wq, wk, wq + s * nq, wk + s * nk, shape, rope) for s in (0.01, 0.05, 0.2)]
    assert 0 < d[0] < d[1] < d[2]


def test_critical_outlier_score():
    w = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 10.0]])
    levels = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    imp = torch.ones(4)
    assert critical_outlier_score(w[:1], levels[:1], imp) == 0.0
    # 10 is 7 away from the nearest level (spacing 1): the only critical weight.
    assert critical_outlier_score(w, levels, imp) == pytest.approx(49.0 / (14 + 105))
    # Weighted by the activation of its column.
    assert critical_outlier_score(w, levels, torch.tensor([1.0, 1, 1, 0])) == 0.0


# ---- quality bench scoring -------------------------------------------------------------------

@torch.no_grad()
def test_quality_evaluate_against_cross_entropy():
    from quantx.bench.quality import evaluate, window_logprobs
    model = _tiny_llama(25)
    other = copy.deepcopy(model)
    baselines.rtn(other, 3, 32)
    windows = torch.randint(0, 96, (3, 16), generator=torch.Generator().manual_seed(26))
    reference = [window_logprobs(model, w) for w in windows]
    same = evaluate(model, windows, reference)
    assert same["kld"] == pytest.approx(0.0, abs=1e-7) and same["top1_pct"] == 100.0
    logits = model(windows).logits[:, 8:15]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 96), windows[:, 9:].reshape(-1))
    assert same["ppl"] == pytest.approx(math.exp(float(ce)), rel=1e-5)
    res = evaluate(other, windows, reference)
    lp_f = torch.log_softmax(logits, -1)
    lp_q = torch.log_softmax(other(windows).logits[:, 8:15], -1)
    kld = float((lp_f.exp() * (lp_f - lp_q)).sum(-1).mean())
    top1 = 100.0 * float((lp_f.argmax(-1) == lp_q.argmax(-1)).float().mean())
    assert res["kld"] == pytest.approx(kld, rel=1e-4) and res["kld"] > 0
    assert res["top1_pct"] == pytest.approx(top1)


def test_quality_cli_on_tiny_qwen2(tiny_qwen2_dir, wikitext_path, shakespeare_path, tmp_path):
    import json
    import subprocess
    import sys
    out = tmp_path / "q.json"
    text = tmp_path / "wiki-head.txt"  # enough for two windows; tokenizing the whole file is slow
    text.write_text(wikitext_path.read_text(encoding="utf-8")[:20000], encoding="utf-8")
    cmd = [sys.executable, "-m", "quantx.bench.quality", "--model", str(tiny_qwen2_dir), "--methods",
           "rtn-g32,awq-g32,gptq-g32,qx-rtn-u,qx-uniform,qx-default-bpw4.5-a16", "--windows", "2", "--eval", str(text), "--calib",
           str(shakespeare_path), "--calib-samples", "2", "--calib-seq", "64", "--threads", "1", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    assert list(res) == ["float", "rtn-g32", "awq-g32", "gptq-g32", "qx-rtn-u", "qx-uniform", "qx-default-bpw4.5-a16"]
    assert res["float"]["kld"] == pytest.approx(0.0, abs=1e-7) and res["float"]["top1_pct"] == 100.0
    for m in ("rtn-g32", "awq-g32", "gptq-g32"):
        assert res[m]["bits_per_weight"] == 4.0 and res[m]["kld"] > 0 and math.isfinite(res[m]["ppl"])
    assert "rtn-g32" in proc.stdout and "PPL" in proc.stdout
    # QuantX files, written by the converter and scored in the runtime
    from quantx.convert import qxformats as qxf
    hidden = json.loads((tiny_qwen2_dir / "config.json").read_text())["hidden_size"]
    for m in ("qx-rtn-u", "qx-uniform", "qx-default-bpw4.5-a16"):
        assert res[m]["kld"] > 0 and math.isfinite(res[m]["ppl"]) and res[m]["bpw_file"] > res[m]["bits_per_weight"]
    assert res["qx-uniform"]["bits_per_weight"] >= qxf.bits_per_weight("QX3_U", hidden) - 0.1
    assert res["qx-default-bpw4.5-a16"]["bits_per_weight"] <= 4.5


def test_quality_method_specs_parse_recipe_options():
    from quantx.bench.quality import QxMethod
    m = QxMethod.parse("qx-default-bpw4.14-a16-e2-bf16")
    assert (m.recipe, m.bpw, m.act, m.tune, m.tune_epochs, m.tune_precision) == ("default", 4.14, 16, True, 2, "bf16")
    m = QxMethod.parse("qx-codebook-notune-fp32")
    assert (m.recipe, m.bpw, m.act, m.tune, m.tune_epochs, m.tune_precision) == ("codebook", None, 8, False, None, "fp32")
    assert (m.tune_tables, QxMethod.parse("qx-default-tables").tune_tables,
            QxMethod.parse("qx-default-notables").tune_tables) == (None, True, False)
    assert QxMethod.parse("qx-rtn-c").recipe == "rtn-c"
    for bad in ("qx-default-e0", "qx-default-fp16", "qx-rtn-x", "qx"):
        with pytest.raises(SystemExit):
            QxMethod.parse(bad)


def test_integer_zero_point_rtn_matches_awq_formula_and_keeps_zero_exact():
    """The baselines' RTN: scale (max-min)/qmax, integer zero z = round(-min/scale), w^ = (q - z) * scale
    (AWQ's pseudo_quantize_tensor), here in float64 numpy with fp16-rounded scales."""
    w = _heavy_tailed(16, 256, 41)
    w[3, 10:20] = 0.0
    q = quantize_uniform(w, 3, 64, grid=1, refine_steps=0, integer_zero=True).dequantize().numpy()
    g = w.numpy().astype(np.float64).reshape(16, 4, 64)
    lo, hi = g.min(-1, keepdims=True), g.max(-1, keepdims=True)
    s = ((hi - lo) / 7).astype(np.float16).astype(np.float64)
    z = np.clip(np.round(-lo / s), 0, 7)
    ref = ((np.clip(np.round(g / s) + z, 0, 7) - z) * s).reshape(16, 256)
    assert np.mean(np.isclose(q, ref, rtol=0, atol=1e-6)) > 0.995  # rare rounding ties differ
    assert np.all(q[3, 10:20] == 0.0)
    free_min = quantize_uniform(w, 3, 64, grid=1, refine_steps=0).dequantize().numpy()
    assert np.any(free_min[3, 10:20] != 0.0)  # the free-minimum grid generally misses zero


def test_integer_zero_refuses_least_squares_refits():
    with pytest.raises(ValueError, match="refine_steps=0"):
        quantize_uniform(_heavy_tailed(4, 64, 5), 3, 64, integer_zero=True)


def test_quality_scores_llama_cpp_files_in_the_same_harness(tiny_llama_dir, tmp_path):
    """linear_bpw_gguf counts the decoder's linear weights as llama.cpp stores them (Q8_0: 8.5
    bits, F16: 16), and evaluate_llama_cpp scores a file on the same windows and float
    log-probabilities as the QuantX runtime does: the same F16 file gives the same perplexity,
    KLD and top-1 in both engines."""
    from transformers import AutoModelForCausalLM

    from quantx.bench.quality import evaluate_llama_cpp, evaluate_native, linear_bpw_gguf, window_logprobs
    from quantx.convert import convert

    files = {t: tmp_path / f"{t}.gguf" for t in ("q8_0", "f16")}
    for t, path in files.items():
        convert(tiny_llama_dir, path, t, force=True, quiet=True)
    assert linear_bpw_gguf(files["q8_0"]) == 8.5 and linear_bpw_gguf(files["f16"]) == 16.0
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install .[bench])")
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    windows = torch.randint(0, model.config.vocab_size, (3, 64), generator=torch.Generator().manual_seed(5))
    reference = [window_logprobs(model, w) for w in windows]
    ours = evaluate_native(files["f16"], windows, reference, threads=1)
    theirs = evaluate_llama_cpp(files["f16"], windows, reference, threads=1)
    assert theirs["ppl"] == pytest.approx(ours["ppl"], rel=2e-3), (ours, theirs)
    assert theirs["kld"] == pytest.approx(ours["kld"], abs=2e-4) and theirs["kld"] < 1e-3
    assert abs(theirs["top1_pct"] - ours["top1_pct"]) <= 2.0
