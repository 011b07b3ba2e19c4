"""The QuantX recipe: format-exact candidates, the budget allocation, the sensitivity pass,
and the converter's recipe path end to end (file == fake-quantized model, report, CLI)."""
from __future__ import annotations

import copy
import gc
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from quantx.convert import qxformats as qxf  # noqa: E402
from quantx.convert.recipes.allocate import Option, allocate  # noqa: E402
from quantx.convert.recipes.awq import search_scale  # noqa: E402
from quantx.convert.recipes.calibration import CalibrationSet  # noqa: E402
from quantx.convert.recipes.qx_quant import gptq_qx, rtn_qx, search_group_scales  # noqa: E402
from quantx.convert.recipes.recipe import (  # noqa: E402
    Recipe, _eligible, apply_to_model, choose, encode_candidates, recipe_by_name)
from quantx.convert.recipes.sensitivity import fisher_damage, output_fisher, row_output_error  # noqa: E402
from quantx.convert.recipes.tune import bf16_native  # noqa: E402

FORMATS = ["QX3_U", "QX3_C", "QX4_U", "QX4_C", "QX3_T", "QX4_T"]


def _weights(rows: int, cols: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g) * 0.02 / (0.3 + torch.rand(rows, cols, generator=g))  # heavy tails
    w[:, 3] = 0.0  # an all-zero column
    w[0, :] = 0.0  # an all-zero row (zero scales)
    w[1, 7] = 1.5  # one huge outlier
    return w


def _activations(tokens: int, cols: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(cols, cols, generator=g) / cols**0.5 + torch.eye(cols)
    x = torch.randn(tokens, cols, generator=g) @ mix
    x[:, 5] *= 30.0  # a huge-activation channel, as SmolLM2 has
    return x


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cols", [576, 160, 96])
def test_candidates_are_exactly_the_file_format(fmt: str, cols: int) -> None:
    """RTN and GPTQ candidates pack into bytes that the format's reference decodes to the same
    values, and the native dequantizer agrees bit for bit."""
    native = pytest.importorskip("quantx._native")
    torch.manual_seed(0)
    w = _weights(24, cols, 1)
    x = _activations(512, cols, 2)
    h = x.T @ x / x.shape[0]
    ct = qxf.compute_type(fmt).name
    for cand in (rtn_qx(w, fmt, torch.diag(h)), gptq_qx(w, h, fmt)):
        packed = cand.packed()
        assert packed.shape == (24, qxf.row_size(ct, cols))
        ref = qxf.dequantize_bytes(packed, ct, cols, 24)
        np.testing.assert_array_equal(ref, cand.dequantize().numpy())
        nat = np.asarray(native.qx_dequantize(ct, packed.tobytes(), cols, 24))
        np.testing.assert_array_equal(nat.reshape(24, cols), ref)
        if fmt in qxf.TENSOR_CODEBOOK_TYPES:  # one codebook for all rows: stored rows are U-sized
            rows, cb = qxf.split_tensor_codebook(packed, fmt)
            assert rows.shape == (24, qxf.file_row_size(fmt, cols)) == (24, qxf.row_size(fmt[:4] + "U", cols))
            assert cb.shape == (qxf.compute_type(fmt).table_size,)


@pytest.mark.parametrize("fmt", FORMATS + ["Q8_0"])
def test_spilled_candidate_reads_back_identically(fmt: str, tmp_path: Path) -> None:
    """A candidate moved to disk gives back the same file rows, codebook, values and levels."""
    from quantx.convert.recipes.candidates import encode_candidate

    w = _weights(24, 576, 5)
    x = _activations(256, 576, 6)
    h = x.T @ x / x.shape[0]
    mem = encode_candidate(w, h, fmt, use_gptq=True, damp=0.01)
    disk = copy.deepcopy(mem)
    disk.spill(tmp_path / "c.npy")
    assert disk.qx is None and disk.q8 is None and (tmp_path / "c.npy").exists()
    (rows_m, cb_m), (rows_d, cb_d) = mem.file_rows(), disk.file_rows()
    np.testing.assert_array_equal(rows_m, rows_d)
    assert (cb_m is None) == (cb_d is None) and (cb_m is None or np.array_equal(cb_m, cb_d))
    for c in (mem, disk):  # the codebook the metadata gets, without reading the rows again
        t = c.tensor_codebook()
        assert (t is None) == (cb_m is None) and (t is None or np.array_equal(t, cb_m))
    assert torch.equal(mem.dequantize(), disk.dequantize())
    assert torch.equal(mem.group_levels(), disk.group_levels())


def test_scored_output_error_is_the_hessian_form_and_the_rows_sum_to_it() -> None:
    """out_err (taken from the per-row errors) equals tr(D H D^T) / tr(W H W^T) computed directly,
    and both equal the error of the outputs on the activations themselves."""
    from quantx.convert.recipes.candidates import encode_candidate, score_candidates
    from quantx.convert.recipes.criteria import output_error_from_hessian

    w = _weights(24, 576, 8)
    x = _activations(512, 576, 9).double()
    h = (x.T @ x / x.shape[0]).float()
    cands = [encode_candidate(w, h, f, use_gptq=True, damp=0.01) for f in ("QX3_U", "QX3_T", "Q8_0")]
    score_candidates("mlp.down_proj", w, h, cands)
    for c in cands:
        deq = c.dequantize()
        assert c.criteria["out_err"] == pytest.approx(output_error_from_hessian(h, w, deq), rel=1e-5)
        y, yq = x @ w.double().T, x @ deq.double().T
        assert c.criteria["out_err"] == pytest.approx(float(((y - yq) ** 2).sum() / (y ** 2).sum()), rel=1e-4)
    assert cands[2].criteria["out_err"] < cands[0].criteria["out_err"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_rtn_with_searched_scales_equals_reference_rounding(fmt: str) -> None:
    """Given the searched scales (and fitted codebook), the codes are the format's own RTN."""
    w = _weights(16, 576, 3)
    q = rtn_qx(w, fmt)
    ct = qxf.compute_type(fmt)
    cb = q.tables.numpy().astype(np.int8) if ct.row_codebook else None
    ref = qxf.quantize(w.numpy(), ct, codebook=cb, scales=q.scales.numpy())
    np.testing.assert_array_equal(qxf.pack(ref), q.packed())


def _codes_by_comparison(y: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """The definition: how many midpoints of the row's sorted table lie below y."""
    mids = (tables[:, 1:] + tables[:, :-1]) / 2
    return (y.unsqueeze(-1) > mids.unsqueeze(1)).sum(-1)


@pytest.mark.parametrize("kind", ["grid", "tensor", "rows", "fractional"])
def test_table_rounder_codes_equal_the_midpoint_comparison(kind: str) -> None:
    """The rounder's shortcuts (a lookup over ceil(2y) for int8 tables, a binary search
    otherwise) give exactly the codes of comparing with every midpoint, ties and extremes too."""
    from quantx.convert.recipes.qx_quant import TableRounder
    g = torch.Generator().manual_seed(11)
    rows, k = 24, 8
    if kind == "grid":
        tables = torch.arange(-4.0, 4.0).expand(rows, -1).contiguous()
    elif kind == "tensor":
        tables = torch.tensor([-127.0, -60, -25, -7, 0, 9, 40, 101]).expand(rows, -1).contiguous()
    elif kind == "rows":
        t = torch.randint(-126, 127, (rows, k), generator=g).float()
        t[:, 0], t[:, 3] = -127, 0
        tables = t.sort(1).values
        tables[5] = torch.tensor([-127.0, -127, -3, 0, 0, 0, 1, 127])  # repeated entries: ties
    else:
        tables = (torch.randn(rows, k, generator=g) * 50).sort(1).values
    rounder = TableRounder(tables)
    assert (rounder.lut is not None) == (kind in ("tensor", "rows"))
    y = torch.randn(rows, 300, generator=g) * 80
    mids = (tables[:, 1:] + tables[:, :-1]) / 2
    y[:, :k - 1] = mids  # exactly on a midpoint
    y[:, k - 1:2 * k - 2] = mids + 1e-4
    y[:, 2 * k - 2:3 * k - 3] = torch.nextafter(mids, torch.full_like(mids, -1e9))
    y[:, 30], y[:, 31], y[:, 32], y[:, 33] = 3e38, -3e38, 255.5, -254.5
    y[:, 34], y[:, 35] = float("inf"), float("-inf")
    assert torch.equal(rounder.codes(y), _codes_by_comparison(y, tables))
    assert torch.equal(rounder.codes(y.view(rows, 3, 100)), _codes_by_comparison(y, tables).view(rows, 3, 100))


@pytest.mark.parametrize("rows", [1, 40])
def test_codebook_fit_slot_counts_equal_comparing_every_boundary(rows: int) -> None:
    """fit_codebook's assignment counts equal the comparison with every boundary."""
    rng = np.random.default_rng(rows)
    values = rng.standard_normal((rows, 2000))
    bounds = np.sort(rng.standard_normal((rows, 15)), axis=1)
    bounds[:, 2] = bounds[:, 3]  # a repeated boundary
    bounds[:, 4] = values[:, 10]  # a boundary equal to a value
    np.testing.assert_array_equal(qxf._count_below(bounds, values),
                                  (values[:, :, None] > bounds[:, None, :]).sum(axis=2))


def test_scale_search_never_worse_than_rtn_scale() -> None:
    w = _weights(32, 576, 4)
    imp = _activations(256, 576, 5).pow(2).mean(0)
    for fmt in ("QX3_U", "QX3_C"):
        tables = rtn_qx(w, fmt).tables
        plain = search_group_scales(w, tables, imp, ratios=torch.ones(1))
        searched = search_group_scales(w, tables, imp)

        def err(scales: torch.Tensor) -> float:
            from quantx.convert.recipes.qx_quant import round_to_table
            d = round_to_table(w, fmt, tables, scales).dequantize()
            return float(((w - d) ** 2 * imp).sum())
        assert err(searched) <= err(plain) * (1 + 1e-6)
        assert err(searched) < 0.9 * err(plain)


@pytest.mark.parametrize("fmt", ["QX3_U", "QX3_C"])
def test_gptq_lowers_output_error_vs_rtn(fmt: str) -> None:
    w = _weights(64, 576, 6)
    x = _activations(2048, 576, 7)
    h = x.T @ x / x.shape[0]
    tables = rtn_qx(w, fmt, torch.diag(h)).tables
    e_rtn = float(row_output_error(w, rtn_qx(w, fmt, torch.diag(h), tables=tables).dequantize(), h).sum())
    e_gptq = float(row_output_error(w, gptq_qx(w, h, fmt, tables=tables).dequantize(), h).sum())
    assert e_gptq < 0.8 * e_rtn, (e_gptq, e_rtn)


def test_awq_hessian_loss_equals_sample_loss() -> None:
    """The Hessian form of AWQ's scale search scores every alpha like the sample form."""
    x = _activations(256, 64, 8)
    w = [_weights(48, 64, 9), _weights(32, 64, 10)]
    quant = lambda t: rtn_qx(t, "QX3_U", search=False).dequantize()  # noqa: E731
    s1, a1, l1 = search_scale(x, x.abs().mean(0), w, quant, grid=10)
    s2, a2, l2 = search_scale(None, x.abs().mean(0), w, quant, grid=10, hessian=x.T @ x / x.shape[0])
    np.testing.assert_allclose(l2, l1, rtol=1e-4)
    assert a1 == a2 and torch.equal(s1, s2)


def test_a8_activation_term_migrates_outliers() -> None:
    """With the int8 activation term (W3A8), the scale search moves an activation outlier into
    the weights even when the weight rounding is exact; without it there is nothing to gain."""
    from quantx.convert.recipes.awq import int8_block_error_sq

    x = _activations(512, 64, 11)
    x[:, 3] *= 300.0  # one outlier channel: its 32-block's int8 step crushes the other 31
    w = [_weights(48, 64, 12)]
    exact = lambda t: t  # noqa: E731
    _, a_plain, l_plain = search_scale(x, x.abs().mean(0), w, exact, grid=10)
    _, a_act, l_act = search_scale(x, x.abs().mean(0), w, exact, grid=10, act_block=32)
    assert a_plain == 0.0 and max(l_plain) < 1e-6
    assert a_act > 0.0 and min(l_act) < 0.5 * l_act[0]
    # the term is the output error of rounding the activations (uncorrelated channels)
    xs = x / x.abs().mean(0).pow(0.5)
    q = xs.reshape(512, -1, 32)
    d = q.abs().amax(-1, keepdim=True) / 127
    e = (torch.round(q / d) * d - q).reshape(512, 64)
    direct = float(((e @ w[0].T) ** 2).mean())
    approx = float(((w[0] ** 2) @ int8_block_error_sq(xs)).mean())
    assert approx == pytest.approx(direct, rel=0.15)


def _brute_force(options: dict[str, list[Option]], budget: float) -> float:
    best = float("inf")
    for combo in itertools.product(*options.values()):
        if sum(o.bits for o in combo) <= budget:
            best = min(best, sum(o.damage for o in combo))
    return best


def test_allocation_within_budget_and_near_optimal() -> None:
    rng = np.random.default_rng(0)
    for trial in range(40):
        options = {}
        for t in range(5):
            size = float(rng.integers(1, 5)) * 100
            dmg = sorted(rng.uniform(0, 10, 4), reverse=True)
            options[f"t{t}"] = [Option(f, size * b, d) for f, b, d in zip(["a", "b", "c", "d"], [3.1, 3.2, 4.1, 8.5], dmg)]
        cheapest = sum(o[0].bits for o in options.values())
        budget = cheapest * float(rng.uniform(1.0, 1.6))
        alloc = allocate(options, budget)
        assert alloc.bits <= budget
        chosen = sum(next(o for o in options[t] if o.name == n).damage for t, n in alloc.choice.items())
        assert chosen == pytest.approx(alloc.damage)
        # the greedy on the convex hulls is within one upgrade of the optimum
        max_step = max(max(o.damage for o in v) - min(o.damage for o in v) for v in options.values())
        assert alloc.damage <= _brute_force(options, budget) + max_step
    with pytest.raises(ValueError, match="cheapest"):
        allocate(options, cheapest * 0.99)
    rich = allocate(options, 1e12)
    assert all(rich.choice[t] == min(v, key=lambda o: o.damage).name for t, v in options.items())


def _tiny(kind: str = "llama", hidden: int = 128, seed: int = 0, vocab: int = 256):
    torch.manual_seed(seed)
    common = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden + 64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    cls = {"llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
           "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM)}[kind]
    model = cls[1](cls[0](**common, attn_implementation="eager"))
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight.uniform_(0.5, 1.5)
            layer.post_attention_layernorm.weight.uniform_(0.5, 1.5)
    return model.eval()


def _calib(n: int, seq: int, vocab: int, seed: int) -> CalibrationSet:
    ids = torch.randint(0, vocab, (n, seq), generator=torch.Generator().manual_seed(seed))
    return CalibrationSet(ids, "random", "0" * 64, seed)


def test_output_fisher_equals_autograd_output_gradients() -> None:
    """output_fisher runs one sequence per backward pass, with checkpointed layers and the logits
    built a few positions at a time; the result equals one plain pass over the batch with
    transformers' own loss: the mean over predicted tokens of the squared per-token gradients."""
    model = _tiny()
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    chunked = output_fisher(model, ids, loss_chunk=4)  # 15 predicted positions: chunks 4+4+4+3
    whole = output_fisher(model, ids)
    assert all(p.requires_grad for p in model.parameters())  # restored
    grads = {}

    def keep(key):
        def fn(_m, _i, o) -> None:
            o.retain_grad()
            grads[key] = o
        return fn
    handles = [model.model.layers[i].get_submodule(n).register_forward_hook(keep((i, n)))
               for i in range(2) for n in ("self_attn.q_proj", "mlp.down_proj")]
    try:
        out = model(ids, labels=ids)
        out.loss.backward()
    finally:
        for h in handles:
            h.remove()
    predicted = 2 * 15
    for key, o in grads.items():
        g = o.grad.reshape(-1, o.shape[-1]) * predicted  # the gradient of the summed loss
        expected = ((g * g).sum(0) / predicted).numpy()
        np.testing.assert_allclose(chunked[key].numpy(), expected, rtol=1e-4, atol=1e-12)
        np.testing.assert_allclose(whole[key].numpy(), expected, rtol=1e-4, atol=1e-12)
    assert fisher_damage(chunked[(1, "mlp.down_proj")], torch.zeros(expected.shape[-1])) == 0.0


def test_recipe_budget_choices_and_no_budget_recipes() -> None:
    model = _tiny()
    calib = _calib(6, 64, 256, 2)
    cset = encode_candidates(copy.deepcopy(model), calib, recipe_by_name("default", bpw=4.3),
                             formats=("QX3_U", "QX3_T", "QX3_C", "QX4_U", "QX4_T", "Q8_0"))
    assert len(cset.candidates) == 14
    # Once scored, every candidate's payload waits on disk, not in memory.
    assert all(c.qx is None and c.q8 is None and c.spilled is not None and c.spilled.is_file()
               for cs in cset.candidates.values() for c in cs)
    weights = sum(cs[0].shape[0] * cs[0].shape[1] for cs in cset.candidates.values())
    for bpw in (3.25, 3.6, 4.3):
        res = choose(cset, recipe_by_name("default", bpw=bpw))
        assert res.bpw_linear <= bpw
        assert res.bpw_linear * weights == pytest.approx(sum(c.bits for c in res.chosen.values()))
    low, high = choose(cset, recipe_by_name("default", bpw=3.25)), choose(cset, recipe_by_name("default", bpw=4.3))
    dmg = lambda r: sum(t.candidates[t.chosen]["damage"] for t in r.tensors)  # noqa: E731
    assert dmg(high) < dmg(low)
    assert set(choose(cset, recipe_by_name("uniform")).format_counts()) == {"QX3_U"}
    assert set(choose(cset, recipe_by_name("codebook")).format_counts()) == {"QX3_T"}
    assert set(choose(cset, recipe_by_name("row-codebook")).format_counts()) == {"QX3_C"}
    with pytest.raises(ValueError, match="not encoded"):
        choose(encode_candidates(copy.deepcopy(model), calib, Recipe("u", formats=("QX3_U",), bpw=None)),
               recipe_by_name("codebook"))
    store = Path(cset.store.name)
    del cset, res, low, high
    gc.collect()
    assert not store.exists()  # the spilled candidates go with the last result that needs them


def test_quantized_propagation_calibrates_on_the_provisionally_quantized_layers() -> None:
    """propagate="quantized": layer 1 is calibrated on the outputs of layer 0 holding its least-error
    eligible 3-bit candidates, exactly as if that layer were quantized in the model; the model
    itself is left float."""
    model, calib = _tiny(seed=4), _calib(4, 48, 256, 6)
    seq_model, float_model = copy.deepcopy(model), copy.deepcopy(model)
    seq = encode_candidates(seq_model, calib, recipe_by_name("default", propagate="quantized"))
    flt = encode_candidates(float_model, calib, recipe_by_name("default"))
    layer0 = [k for k in seq.candidates if k[0] == 0]
    for k in layer0:  # same inputs for layer 0: the same candidates
        for a, b in zip(seq.candidates[k], flt.candidates[k]):
            torch.testing.assert_close(a.dequantize(), b.dequantize())
    # The model keeps its (scaled) float weights: layer 0 equals the float-propagated run's.
    for name, p in seq_model.model.layers[0].named_parameters():
        torch.testing.assert_close(p, float_model.model.layers[0].get_parameter(name))

    reference = copy.deepcopy(model)
    reference.model.layers[0].load_state_dict(seq_model.model.layers[0].state_dict())
    for (_, name) in layer0:
        cs = seq.candidates[(0, name)]
        pool = [c for c in cs if c.fmt in ("QX3_U", "QX3_T") and _eligible(name, c, cs)]
        pick = min(pool, key=lambda c: c.criteria["out_err"])
        reference.model.layers[0].get_submodule(name).weight.data.copy_(pick.dequantize())
    ref = encode_candidates(reference, calib, recipe_by_name("default"))
    for k in seq.candidates:
        if k[0] != 1:
            continue
        for a, b, f in zip(seq.candidates[k], ref.candidates[k], flt.candidates[k]):
            assert a.fmt == b.fmt
            torch.testing.assert_close(a.dequantize(), b.dequantize(), rtol=1e-4, atol=1e-5)
            assert a.criteria["out_err"] == pytest.approx(b.criteria["out_err"], rel=1e-3)
        assert not torch.equal(seq.candidates[k][0].dequantize(), flt.candidates[k][0].dequantize())
    with pytest.raises(ValueError, match="propagate"):
        encode_candidates(copy.deepcopy(model), calib, recipe_by_name("default", propagate="both"))


@pytest.mark.parametrize("field, value", [("propagate", "both"), ("tune_precision", "fp16"), ("act", 4),
                                          ("bpw", 0.0), ("tune_epochs", -1)])
def test_a_recipe_with_a_bad_value_is_refused_when_made(field: str, value) -> None:
    """Before any work: a library caller's bad value fails at once, naming the field."""
    with pytest.raises(ValueError, match=field):
        recipe_by_name("default", **{field: value})
    recipe_by_name("default", tune_precision="auto", act=16, bpw=4.0, tune_epochs=0)  # valid values pass


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_recipe_file_equals_fake_quantized_model(kind: str, tmp_path: Path, tiny_llama_dir: Path) -> None:
    """The GGUF the recipe writes computes what the fake-quantized (scaled, dequantized) PyTorch
    model computes: runtime logits in A16 match transformers' on the same weights."""
    quantx = pytest.importorskip("quantx")
    from quantx.convert.quantize import CalibrationOptions, quantize
    import gguf

    vocab = json.loads((tiny_llama_dir / "config.json").read_text())["vocab_size"]
    model = _tiny(kind, hidden=128, seed=3, vocab=vocab)
    hf = tmp_path / "hf"
    model.save_pretrained(hf)
    for f in ("tokenizer.json", "tokenizer_config.json"):  # the tiny fixture's tokenizer (its vocab size)
        (hf / f).write_bytes((tiny_llama_dir / f).read_bytes())
    text = tmp_path / "calib.txt"
    text.write_text(" ".join(f"word{i % 97} and more{i % 13}." for i in range(3000)))
    out = tmp_path / "q.gguf"
    rep = quantize(hf, out, recipe_by_name("default", bpw=3.6, act=16), CalibrationOptions(text, 4, 64), quiet=True,
                   report_path=tmp_path / "r.json")
    # the same model, scaled and fake-quantized, with the file's Q8_0 embedding and head
    fq = transformers.AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()
    with torch.no_grad():
        for hf_name, arr in rep.recipe.float_overrides.items():
            fq.get_parameter(hf_name).copy_(torch.from_numpy(arr))
        apply_to_model(fq, rep.recipe)
        for p in (fq.model.embed_tokens.weight, fq.lm_head.weight):
            q8 = gguf.quants.quantize(p.numpy(), gguf.GGMLQuantizationType.Q8_0)
            p.copy_(torch.from_numpy(gguf.quants.dequantize(q8, gguf.GGMLQuantizationType.Q8_0)))
    ids = [int(i) for i in torch.randint(0, vocab, (40,), generator=torch.Generator().manual_seed(5))]
    want = fq(torch.tensor([ids])).logits[0].detach().numpy()
    m = quantx.Model(out, act=16, kv_type="f32")  # the file's weights exactly: no float16 cache rounding
    got = np.asarray(m.eval(ids), dtype=np.float32)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 2e-4 * scale, np.abs(got - want).max() / scale
    types = m.tensor_types()
    assert {types[f"blk.{i}.{t}.weight"] for i in range(2) for t in ("attn_q", "ffn_down")} <= set(FORMATS + ["Q8_0"])
    # gguf-py reads every tensor; the QuantX ones decode to the fake-quantized weights
    infos = qxf.read_quantx_tensors(gguf.GGUFReader(out))
    assert infos and {i.file_type for i in infos.values()} <= set(FORMATS)
    for i in range(2):
        name = f"blk.{i}.ffn_down.weight"
        if name in infos:
            info = infos[name]
            got_w = qxf.dequantize_bytes(info.data, info.qtype, info.shape[-1], info.shape[0])
            np.testing.assert_array_equal(got_w, fq.model.layers[i].mlp.down_proj.weight.detach().numpy())
    # report and provenance
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["bpw_linear"] == pytest.approx(rep.bpw_linear) and report["bpw_linear"] <= 3.6
    assert report["bpw_file"] == pytest.approx(8 * out.stat().st_size / rep.convert.n_params)
    assert len(report["tensors"]) == 14
    meta = m.metadata
    assert meta["quantx.calibration.source"] == str(text)
    assert meta["quantx.calibration.tokens"] == 4 * 64
    assert meta["quantx.activation"] == 16


def test_cli_recipe_refuses_bad_input_cleanly(tmp_path: Path, tiny_llama_dir: Path) -> None:
    out = tmp_path / "o.gguf"
    base = [sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--quiet"]
    res = subprocess.run(base + ["--calib", str(tmp_path / "missing.txt")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "calibration file" in res.stderr and "Traceback" not in res.stderr
    res = subprocess.run(base + ["--bpw", "2.0", "--calib-samples", "2", "--calib-seq", "32"], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 1 and "cheapest formats" in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = subprocess.run(base + ["--outtype", "f16", "--bpw", "3.1"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "--outtype" in res.stderr
    for flag, value, says in (("--calib-samples", "0", "at least 1 sequence"), ("--calib-seq", "4", "at least 16")):
        res = subprocess.run(base + [flag, value], capture_output=True, text=True, timeout=300)
        assert res.returncode == 1 and says in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["QX3_U", "QX4_U"])
def test_fast_uniform_rtn_is_the_format_rtn(fmt: str) -> None:
    from quantx.convert.recipes.qx_quant import rtn_uniform_dequantized
    w = _weights(20, 640, 11)
    np.testing.assert_array_equal(rtn_uniform_dequantized(w, fmt).numpy(), qxf.dequantize(qxf.quantize(w.numpy(), fmt)))


def test_cli_report_plot_and_inspect(tmp_path: Path, tiny_llama_dir: Path, shakespeare_path: Path) -> None:
    """The CLI's readable table, JSON report and per-layer figures; quantx-inspect reads the file back."""
    pytest.importorskip("matplotlib")
    out, rep, plots = tmp_path / "o.gguf", tmp_path / "r.json", tmp_path / "plots"
    res = subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--bpw", "3.5",
                          "--calib", str(shakespeare_path), "--calib-samples", "2", "--calib-seq", "64",
                          "--report", str(rep), "--plot", str(plots)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(rep.read_text())
    assert "bits/weight over the quantized linear weights" in res.stderr and "layer" in res.stderr
    assert report["bpw_linear"] <= 3.5 and report["bpw_file"] > 0
    first = report["tensors"][0]
    assert {"chosen", "sensitivity", "candidates"} <= set(first) and "out_err" in first["candidates"]["QX3_U"]
    assert sorted(p.name for p in plots.iterdir()) == ["layer000.png", "layer001.png"]
    ins = subprocess.run([sys.executable, "-m", "quantx.cli.inspect", str(out), "--plot", str(tmp_path / "ins")],
                         capture_output=True, text=True, timeout=300)
    assert ins.returncode == 0, ins.stderr
    chosen = {t["hf_name"]: t["chosen"] for t in report["tensors"]}
    assert f"{report['bpw_linear']:.4f} bits/weight" in ins.stdout
    assert ins.stdout.count(chosen["model.layers.0.mlp.down_proj.weight"]) >= 1
    assert (tmp_path / "ins" / "layer001.png").is_file()
    bad = subprocess.run([sys.executable, "-m", "quantx.cli.inspect", str(tmp_path / "nope.gguf")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "does not exist" in bad.stderr


def test_cli_low_memory_writes_the_same_file(tmp_path: Path, tiny_llama_dir: Path, shakespeare_path: Path) -> None:
    """--low-memory changes only where freed buffers go (recipes/memory.py), never the numbers."""
    outs = []
    for extra in ([], ["--low-memory"]):
        out = tmp_path / f"o{len(outs)}.gguf"
        res = subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--quiet",
                              "--calib", str(shakespeare_path), "--calib-samples", "2", "--calib-seq", "64", *extra],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_cli_data_free_calibration_records_provenance(tmp_path: Path, tiny_llama_dir: Path) -> None:
    quantx = pytest.importorskip("quantx")
    out = tmp_path / "o.gguf"
    res = subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--quiet",
                          "--calib-samples", "2", "--calib-seq", "48"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    meta = quantx.Model(out).metadata
    assert meta["quantx.calibration.source"] == "self-generated"
    assert meta["quantx.calibration.tokens"] == 96 and len(meta["quantx.calibration.sha256"]) == 64
    assert meta["quantx.recipe.name"] == "default" and meta["quantx.activation"] == 8


def test_choice_per_layer_by_all_criteria() -> None:
    """The codebook wins on damage everywhere below, but per layer the other criteria can give
    the weight to the uniform grid: a Q/K codebook that bends the attention maps more than the
    grid, or one whose levels miss heavy outliers, is not eligible."""
    from quantx.convert.recipes.candidates import Candidate
    from quantx.convert.recipes.recipe import _choose

    def cands(attn_u: float, attn_t: float, out_u: float, out_t: float) -> list[Candidate]:
        u = Candidate("QX3_U", 3.0 * 64 * 64, shape=(64, 64), criteria={"out_err": 0.02, "attn_kl": attn_u, "outliers": out_u})
        t = Candidate("QX3_T", 3.0 * 64 * 64, shape=(64, 64), criteria={"out_err": 0.01, "attn_kl": attn_t, "outliers": out_t})
        return [u, t]

    cases = {
        (0, "self_attn.q_proj"): (cands(0.010, 0.020, 0.01, 0.01), "QX3_U"),   # attention maps bent more
        (0, "self_attn.k_proj"): (cands(0.020, 0.010, 0.01, 0.01), "QX3_T"),   # bent less
        (0, "mlp.down_proj"): (cands(0.0, 0.0, 0.010, 0.030), "QX3_U"),        # outliers missed: 3x the grid's
        (0, "mlp.up_proj"): (cands(0.0, 0.0, 0.010, 0.012), "QX3_T"),          # within 1.5x
        (1, "mlp.up_proj"): (cands(0.0, 0.0, 1e-4, 5e-4), "QX3_T"),            # below the floor: noise
        (1, "self_attn.v_proj"): (cands(0.010, 0.020, 0.01, 0.01), "QX3_T"),   # no attention criterion for V
    }
    candidates = {k: v[0] for k, v in cases.items()}
    damage = {k: {"QX3_U": 2.0, "QX3_T": 1.0} for k in cases}
    for recipe in (Recipe("no budget", bpw=None), recipe_by_name("default", bpw=3.0)):
        choice = _choose(candidates, damage, recipe)
        assert choice == {k: v[1] for k, v in cases.items()}, recipe.bpw


def test_cli_tune_precision_reaches_the_tuning_and_the_report(tmp_path: Path, tiny_llama_dir: Path,
                                                              shakespeare_path: Path) -> None:
    """bf16 by default where the CPU multiplies bf16 natively, else fp32; --tune-precision bf16 or fp32
    tunes in that precision and says so;
    the codebooks' entries are tuned unless --no-tune-tables; the plain outtypes refuse both."""
    base = [sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir)]
    calib = ["--calib", str(shakespeare_path), "--calib-samples", "2", "--calib-seq", "48"]
    seen, tables = {}, {}
    for extra in ([], ["--tune-precision", "bf16"], ["--tune-precision", "fp32"], ["--no-tune-tables"]):
        out, rep = tmp_path / f"o{len(seen)}.gguf", tmp_path / f"r{len(seen)}.json"
        res = subprocess.run(base + [str(out), *calib, "--report", str(rep), *extra], capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        report = json.loads(rep.read_text())
        precision = report["tuning"]["precision"]
        assert f"{precision} products" in res.stderr
        seen[tuple(extra)] = precision
        tables[tuple(extra)] = report["tuning"]["tables_tuned"]
        assert any(t["chosen"].endswith("_T") for t in report["tensors"])  # codebooks to tune
    native = "bf16" if bf16_native() else "fp32"
    assert seen == {(): native, ("--tune-precision", "bf16"): "bf16", ("--tune-precision", "fp32"): "fp32",
                    ("--no-tune-tables",): native}
    assert tables[()] > 0 and tables[("--tune-precision", "bf16")] > 0 and tables[("--no-tune-tables",)] == 0
    for flag in (["--tune-precision", "bf16"], ["--no-tune-tables"]):
        res = subprocess.run(base + [str(tmp_path / "p.gguf"), "--outtype", "f16", *flag],
                             capture_output=True, text=True, timeout=300)
        named = flag[0].replace("--no-", "--")  # the message names the option, not its negation
        assert res.returncode == 1 and named in res.stderr and not (tmp_path / "p.gguf").exists()
