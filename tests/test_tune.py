"""End-to-end tuning of the chosen encodings (convert/recipes/tune.py): the student it trains
computes what the file will, tuning lowers the KL to the float model on the calibration data,
and it changes only the scales and norms (codes and tables stay, scales stay fp16)."""
from __future__ import annotations

import copy
from dataclasses import replace

import gguf
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from quantx.convert.recipes.calibration import CalibrationSet  # noqa: E402
from quantx.convert.recipes.recipe import apply_to_model, choose, encode_candidates, recipe_by_name, tune_chosen  # noqa: E402
from quantx.convert.recipes.tune import TuneSettings, build_student, kl_to_teacher, tune_model  # noqa: E402


def _tiny(seed: int = 0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=256, hidden_size=128, intermediate_size=320, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                   attn_implementation="eager")
    model = transformers.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight.uniform_(0.5, 1.5)
            layer.post_attention_layernorm.weight.uniform_(0.5, 1.5)
    return model.eval()


def _calib(n: int = 8, seq: int = 64) -> CalibrationSet:
    ids = torch.randint(0, 256, (n, seq), generator=torch.Generator().manual_seed(7))
    return CalibrationSet(ids, "random", "0" * 64, 0)


@pytest.fixture(scope="module")
def encoded():
    model, calib = _tiny(), _calib()
    recipe = recipe_by_name("default", tune_epochs=0)
    result = choose(encode_candidates(model, calib, recipe), recipe)
    return model, calib, result


def _fake_quantized(model, result):
    fq = copy.deepcopy(model)
    with torch.no_grad():
        apply_to_model(fq, result)
        for name, arr in result.float_overrides.items():
            fq.get_parameter(name).copy_(torch.from_numpy(arr))
        emb = fq.model.embed_tokens.weight
        q8 = gguf.quants.quantize(emb.numpy(), gguf.GGMLQuantizationType.Q8_0)
        emb.copy_(torch.from_numpy(gguf.quants.dequantize(q8, gguf.GGMLQuantizationType.Q8_0)))
        if fq.lm_head.weight.data_ptr() != emb.data_ptr():
            head = fq.lm_head.weight
            q8 = gguf.quants.quantize(head.numpy(), gguf.GGMLQuantizationType.Q8_0)
            head.copy_(torch.from_numpy(gguf.quants.dequantize(q8, gguf.GGMLQuantizationType.Q8_0)))
    return fq


def _mean_kl(teacher, student, ids: torch.Tensor) -> float:
    with torch.no_grad():
        return float(np.mean([float(kl_to_teacher(teacher(s[None]).logits[0, :-1], student(s[None]).logits[0, :-1]))
                              for s in ids]))


def test_student_computes_the_fake_quantized_model(encoded) -> None:
    model, calib, result = encoded
    student, linears = build_student(model, result.chosen)
    assert linears and set(linears) <= set(result.chosen)
    for hf, ql in linears.items():  # every QuantX weight exactly as the candidate dequantizes
        torch.testing.assert_close(ql.weight_now(), result.chosen[hf].dequantize(), rtol=0, atol=0)
    fq = _fake_quantized(model, result)
    ids = calib.input_ids[:2]
    with torch.no_grad():
        torch.testing.assert_close(student(ids).logits, fq(ids).logits, rtol=1e-5, atol=1e-5)


def test_student_shares_only_what_it_replaces_and_leaves_the_model_as_it_was(encoded) -> None:
    """The student takes the float weights it swaps for QuantizedLinears from the model instead
    of copying them; the model must come out of building and tuning a student unchanged."""
    model, calib, result = encoded
    before = {n: (p.detach().clone(), p.requires_grad) for n, p in model.named_parameters()}
    student, linears = build_student(model, result.chosen)
    model_ptrs = {p.data_ptr() for p in model.parameters()}
    for n, p in student.named_parameters():  # nothing of the student's aliases the model
        assert p.data_ptr() not in model_ptrs, n
    tune_model(model, result.chosen, calib, TuneSettings(epochs=1, lr=3e-3, seqs=2, seq_len=64))
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), before[n][0]) and p.requires_grad == before[n][1], n


def test_releasing_the_float_weights_tunes_the_same_and_frees_only_the_replaced_ones(encoded) -> None:
    """release_float (quantize()'s path) frees the float weights the student replaced, and the
    tuning, which never reads them, comes out the same to the bit."""
    model, calib, result = encoded
    settings = TuneSettings(epochs=1, lr=3e-3, seqs=4, seq_len=64)
    kept = tune_model(model, result.chosen, calib, settings)
    released_model = copy.deepcopy(model)
    released = tune_model(released_model, result.chosen, calib, settings, release_float=True)
    assert kept[0].keys() == released[0].keys() and kept[0]
    for hf, q in kept[0].items():
        r = released[0][hf]
        assert torch.equal(q.codes, r.codes) and torch.equal(q.scales, r.scales) and torch.equal(q.tables, r.tables)
    for hf, v in kept[1].items():
        np.testing.assert_array_equal(v, released[1][hf])
    for n, p in released_model.named_parameters():
        if n in kept[0]:
            assert p.numel() == 0, n
        else:  # embedding, head, norms, any Q8_0 weight
            assert torch.equal(p, model.get_parameter(n)), n


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_tuning_lowers_the_kl_and_changes_only_scales_and_norms(encoded, precision: str) -> None:
    """In either precision of the steps' products: bf16 (emulated where the CPU lacks it) must
    tune as well, measured in fp32 afterwards."""
    model, calib, result = encoded
    settings = TuneSettings(epochs=4, lr=3e-3, seqs=8, seq_len=64, precision=precision, tables=False)
    tuned, norms, report = tune_model(model, result.chosen, calib, settings)
    assert report.steps == 32 and report.kl_end < report.kl_start and report.precision == precision
    assert report.norms_tuned == len(norms) == 2 * 2 + 1
    changed = sum(int((q.scales != result.chosen[hf].quantx().scales).sum()) for hf, q in tuned.items())
    assert report.scales_tuned == changed > 0
    for hf, q in tuned.items():
        before = result.chosen[hf].quantx()
        assert torch.equal(q.codes, before.codes) and torch.equal(q.tables, before.tables)
        assert torch.equal(q.scales, q.scales.to(torch.float16).to(torch.float32))  # what the file stores
    # Measured afresh on the calibration data: the tuned model is closer to the float one.
    after = copy.copy(result)
    after.chosen = dict(result.chosen)
    for hf, q in tuned.items():
        after.chosen[hf] = replace(after.chosen[hf], qx=q, spilled=None)
    after.float_overrides = {**result.float_overrides, **norms}
    assert "model.norm.weight" in after.float_overrides
    kl_before = _mean_kl(model, _fake_quantized(model, result), calib.input_ids)
    kl_after = _mean_kl(model, _fake_quantized(model, after), calib.input_ids)
    assert kl_after < 0.9 * kl_before, (kl_before, kl_after)


def test_table_tuning_moves_only_the_free_codebook_entries_and_keeps_tensor_codebooks_shared(encoded) -> None:
    """With tables=True the codebooks' entries are tuned too: only the free ones (not -127 and 0,
    which fit_codebook pins), to int8 values, one table per tensor codebook still shared by every
    row (the file stores it once), the U grid untouched; and the KL falls further than with the
    scales alone on the same steps."""
    model, calib, result = encoded
    base = TuneSettings(epochs=4, lr=3e-3, seqs=8, seq_len=64, tables=False)
    _, _, scales_only = tune_model(model, result.chosen, calib, base)
    tuned, _, report = tune_model(model, result.chosen, calib, replace(base, tables=True))
    codebook_types = [hf for hf, c in result.chosen.items() if c.fmt.endswith(("_T", "_C"))]
    assert codebook_types, "the default recipe chose no codebook format on the tiny model"
    assert report.tables_tuned > 0 and scales_only.tables_tuned == 0
    for hf, q in tuned.items():
        before = result.chosen[hf].quantx()
        assert torch.equal(q.codes, before.codes)
        assert torch.equal(q.tables, q.tables.round()) and float(q.tables.abs().max()) <= 127
        pinned = (before.tables == 0) | (before.tables == -127)
        assert torch.equal(q.tables[pinned], before.tables[pinned])
        if result.chosen[hf].fmt.endswith("_U"):
            assert torch.equal(q.tables, before.tables)
        if result.chosen[hf].fmt.endswith("_T"):
            assert bool((q.tables == q.tables[:1]).all())
            cand = replace(result.chosen[hf], qx=q, spilled=None, codebook=None)
            assert np.array_equal(cand.tensor_codebook().view(np.int8), q.tables[0].numpy().astype(np.int8))
    # the count is of the entries the file stores differently, a tensor codebook's table once
    stored_changes = sum(int((q.tables != result.chosen[hf].quantx().tables)[: 1 if result.chosen[hf].fmt.endswith("_T")
                                                                           else None].sum())
                         for hf, q in tuned.items() if result.chosen[hf].fmt.endswith(("_T", "_C")))
    assert report.tables_tuned == stored_changes
    assert report.kl_end < scales_only.kl_end, (report.kl_end, scales_only.kl_end)


def test_tune_chosen_replaces_the_result_and_keeps_the_candidate_set(encoded) -> None:
    model, calib, result = encoded
    res = copy.copy(result)
    res.chosen = dict(result.chosen)
    res.recipe = recipe_by_name("default", tune_epochs=1)
    originals = {hf: c.quantx().scales.clone() for hf, c in result.chosen.items() if c.quantx() is not None}
    res.teacher_hidden = torch.zeros(1, 2, 128)  # kept states too short to use: computed anew, then let go
    tune_chosen(model, res, calib)
    assert res.teacher_hidden is None
    assert res.tuning is not None and res.tuning.steps == calib.input_ids.shape[0]  # one pass over every sequence
    changed = [hf for hf in originals if not torch.equal(res.chosen[hf].quantx().scales, originals[hf])]
    assert changed
    for hf, scales in originals.items():  # the candidate set's own encodings are untouched
        assert torch.equal(result.chosen[hf].quantx().scales, scales)
    # no tuning: nothing changes
    res0 = copy.copy(result)
    res0.chosen = dict(result.chosen)
    tune_chosen(model, res0, calib)
    assert res0.tuning is None and all(res0.chosen[k] is result.chosen[k] for k in result.chosen)


def test_chunked_kl_step_equals_the_whole_sequence(encoded) -> None:
    """kl_step builds the logits a few positions at a time: the loss and every gradient must be
    those of the KL over the whole sequence at once."""
    from quantx.convert.recipes.tune import _install_norms, kl_step

    model, calib, result = encoded
    seq = calib.input_ids[:1]
    grads = []
    for chunk in (None, 5):
        student, linears = build_student(model, result.chosen)
        norms = _install_norms(student)
        params = [ql.scale.theta for ql in linears.values()] + [tn.weight.theta for tn in norms.values()]
        with torch.no_grad():  # away from theta = 0, where the first-order terms might hide errors
            for p in params:
                p.uniform_(-0.05, 0.05, generator=torch.Generator().manual_seed(3))
        if chunk is None:
            with torch.enable_grad():
                loss = kl_to_teacher(model(seq).logits[0, :-1].detach(), student(seq).logits[0, :-1])
                loss.backward()
            value = float(loss.detach())
        else:
            with torch.no_grad():
                t_hidden = model.model(seq).last_hidden_state
            value = kl_step(model.lm_head, student, seq, t_hidden, chunk=chunk)
        grads.append((value, [p.grad.clone() for p in params]))
    (v_full, g_full), (v_chunk, g_chunk) = grads
    assert v_chunk == pytest.approx(v_full, rel=1e-4) and v_full > 0  # float32 sums in another order
    for a, b in zip(g_full, g_chunk):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-7)


def test_tuning_on_the_kept_hidden_states_equals_running_the_float_model(encoded) -> None:
    """The sensitivity pass keeps the float model's last hidden states for the tuning, which then
    skips the float model's forward pass: the states are the model's, and the tuning the same."""
    from quantx.convert.recipes.sensitivity import fisher_pass, output_fisher

    model, calib, result = encoded
    ids = calib.input_ids
    fp = fisher_pass(model, ids, keep_hidden=True)
    with torch.no_grad():
        torch.testing.assert_close(fp.hidden, model.model(ids).last_hidden_state, rtol=1e-5, atol=1e-6)
    plain = output_fisher(model, ids)
    assert fp.fisher.keys() == plain.keys() and all(torch.equal(fp.fisher[k], plain[k]) for k in plain)
    settings = TuneSettings(epochs=2, lr=3e-3, seqs=6, seq_len=48, precision="fp32")  # a prefix of the kept states
    runs = [tune_model(model, result.chosen, calib, settings, teacher_hidden=h) for h in (None, fp.hidden)]
    (tuned_a, norms_a, rep_a), (tuned_b, norms_b, rep_b) = runs
    assert rep_a.kl_end == pytest.approx(rep_b.kl_end, rel=1e-4)
    for hf in tuned_a:  # fp16 scales: at most an ulp apart where float32 sums round differently
        torch.testing.assert_close(tuned_b[hf].scales, tuned_a[hf].scales, rtol=2e-3, atol=1e-6)
    for hf in norms_a:
        np.testing.assert_allclose(norms_b[hf], norms_a[hf], rtol=1e-4, atol=1e-6)


def test_the_candidate_set_keeps_the_hidden_states_when_the_recipe_tunes() -> None:
    model, calib = _tiny(1), _calib(n=4, seq=32)
    scaled = copy.deepcopy(model)
    tuned = encode_candidates(scaled, calib, recipe_by_name("default", tune_epochs=1))
    assert tuned.teacher_hidden is not None and tuned.teacher_hidden.shape == (4, 32, 128)
    # taken from the calibration stream's last layer: what the (scaled) float model computes
    with torch.no_grad():
        expected = scaled.model(calib.input_ids).last_hidden_state
    torch.testing.assert_close(tuned.teacher_hidden, expected, rtol=1e-5, atol=1e-5)
    capped = encode_candidates(copy.deepcopy(model), calib, recipe_by_name("default", tune_epochs=1, tune_seqs=3,
                                                                           sensitivity_len=16))
    assert capped.teacher_hidden.shape == (3, 16, 128)
    torch.testing.assert_close(capped.teacher_hidden, expected[:3, :16], rtol=1e-5, atol=1e-5)
    kept = encode_candidates(copy.deepcopy(model), calib, recipe_by_name("default", tune_epochs=1, propagate="quantized",
                                                                         sensitivity_seqs=2))
    assert kept.teacher_hidden.shape == (2, 32, 128)  # the sensitivity pass's, the stream's being quantized
    assert choose(tuned, recipe_by_name("default")).teacher_hidden is tuned.teacher_hidden
    untuned = encode_candidates(copy.deepcopy(model), calib, recipe_by_name("default", tune_epochs=0))
    assert untuned.teacher_hidden is None


def test_tuning_passes_over_every_calibration_sequence_or_the_given_number(encoded) -> None:
    """The tuning fits its own sequences far better than unseen text, so it takes every
    calibration sequence (more calibration, a better model); Recipe.tune_seqs caps that."""
    model, calib, result = encoded
    for tune_seqs, steps in ((None, calib.input_ids.shape[0]), (3, 3)):
        res = copy.copy(result)
        res.chosen = dict(result.chosen)
        res.recipe = recipe_by_name("default", tune_epochs=2, tune_seqs=tune_seqs)
        tune_chosen(model, res, calib)
        assert res.tuning.steps == 2 * steps


def test_teacher_states_reuse_the_kept_ones_and_compute_the_rest(encoded) -> None:
    from quantx.convert.recipes.tune import _teacher_states, last_hidden_states

    model, calib, _ = encoded
    ids = calib.input_ids[:, :40]
    full = last_hidden_states(model, ids)
    with torch.no_grad():
        torch.testing.assert_close(full, model.model(ids).last_hidden_state, rtol=1e-5, atol=1e-6)
    marked = full[:3].clone()
    marked[..., 0] = 123.0  # kept states are taken as they are, not recomputed
    got = _teacher_states(model, ids, marked)
    assert got.shape == full.shape and bool((got[:3, :, 0] == 123.0).all())
    torch.testing.assert_close(got[3:], full[3:], rtol=0, atol=0)
    torch.testing.assert_close(_teacher_states(model, ids, None), full, rtol=0, atol=0)
    # kept for shorter sequences than these: all computed
    torch.testing.assert_close(_teacher_states(model, ids, marked[:, :20]), full, rtol=0, atol=0)
    # kept for longer sequences: cut to length
    longer = last_hidden_states(model, calib.input_ids[:2, :48])
    torch.testing.assert_close(_teacher_states(model, ids, longer)[:2], longer[:, :40], rtol=0, atol=0)


def test_bf16_step_gives_the_fp32_loss_and_gradients_to_bf16_precision(encoded) -> None:
    """A bf16 step (autocast on the decoder, the logits and KL in fp32) approximates the fp32
    step: the loss within 2 %, every parameter's gradient pointing the same way."""
    from quantx.convert.recipes.tune import _install_norms, kl_step

    model, calib, result = encoded
    seq = calib.input_ids[:1]
    with torch.no_grad():
        t_hidden = model.model(seq).last_hidden_state
    grads, losses = [], []
    for dtype in (torch.float32, torch.bfloat16):
        student, linears = build_student(model, result.chosen)
        norms = _install_norms(student)
        params = [ql.scale.theta for ql in linears.values()] + [tn.weight.theta for tn in norms.values()]
        # a tuned-looking point, not theta = 0, where some gradients vanish by symmetry
        with torch.no_grad():
            for i, p in enumerate(params):
                p.copy_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(i)))
        losses.append(kl_step(model.lm_head, student, seq, t_hidden, dtype=dtype))
        grads.append(torch.cat([p.grad.flatten() for p in params]))
    assert losses[1] == pytest.approx(losses[0], rel=0.02)
    cos = float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0))
    assert cos > 0.99, cos


def test_tuning_precision_follows_the_cpu_flags() -> None:
    from quantx.convert.recipes.tune import bf16_native, step_dtype

    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {}\n"
    assert bf16_native(x86.format("avx512_bf16")) and bf16_native(x86.format("amx_bf16 amx_tile"))
    assert not bf16_native(x86.format("avx512_vnni")) and not bf16_native("")
    assert bf16_native("Features\t: fp asimd bf16 i8mm\n") and not bf16_native("Features\t: fp asimd asimddp\n")
    assert step_dtype("fp32") == torch.float32 and step_dtype("bf16") == torch.bfloat16
    assert step_dtype("auto") == (torch.bfloat16 if bf16_native() else torch.float32)
    with pytest.raises(ValueError, match="tuning precision 'fp16'"):
        step_dtype("fp16")


def test_progress_shows_each_stage_from_its_start_to_its_end() -> None:
    """Each stage's bar opens when the stage starts (a bar opened at its first finished item
    would have its elapsed time include the stage before), and closes at its total."""
    from quantx.convert.recipes.recipe import quantize_model

    calls: list[tuple[str, int, int]] = []
    recipe = recipe_by_name("default", tune_epochs=1, sensitivity_seqs=3)
    quantize_model(_tiny(2), _calib(n=4, seq=32), recipe, lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["quantizing layers", "sensitivity (Fisher)", "tuning scales"]
    for stage in stages:
        seen = [(done, total) for s, done, total in calls if s == stage]
        assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1]
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert [t for s, _, t in calls if s == "sensitivity (Fisher)"][0] == 3
    assert [t for s, _, t in calls if s == "tuning scales"][0] == 4


@pytest.mark.parametrize("n,shared", [(256, True), (192, True), (320, False), (64, False)])
def test_group_scaled_lookup_equals_autograd_of_the_plain_formula(n: int, shared: bool) -> None:
    """The weight's own backward gives the gradients autograd gives the plain formula: scales
    and tables, rows of whole groups and a short last group, tensor and row codebooks."""
    from quantx.convert.recipes.tune import GROUP, GroupScaledLookup

    g = torch.Generator().manual_seed(n)
    rows, k = 6, 8
    codes = torch.randint(0, k, (rows, n), generator=g, dtype=torch.uint8)
    scale0 = torch.rand(rows, -(-n // GROUP), generator=g) + 0.5
    table0 = torch.randn(1 if shared else rows, k, generator=g, dtype=torch.float64).float()
    upstream = torch.randn(rows, n, generator=g)

    def grads(weight_of):
        scale = scale0.clone().requires_grad_(True)
        table = table0.clone().requires_grad_(True)
        w = weight_of(scale, table.expand(rows, -1))
        w.backward(upstream)
        return w.detach(), scale.grad, table.grad

    def plain(scale, table):
        return scale.repeat_interleave(GROUP, dim=1)[:, :n] * torch.gather(table, 1, codes.long())

    ref, ours = grads(plain), grads(lambda s, t: GroupScaledLookup.apply(s, t, codes))
    assert torch.equal(ours[0], ref[0])
    for a, b in zip(ours[1:], ref[1:]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        assert a.abs().max() > 0
