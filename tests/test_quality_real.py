"""The recipe's claim on the real model, cheaply enough for CI: on SmolLM2-135M-Instruct, the
default QuantX recipe (<= 3.15 bits per weight) loses far less than plain round-to-nearest
QX3_U at the same bits. Scored in the QuantX runtime with the project's perplexity protocol
(c = 512, second half of each window) on the first windows of WikiText-2 test, KL to the F32
conversion of the same checkpoint. (The full 40-window table: python -m quantx.bench.quality.)

Measured when written (6 windows, calibration 8 x 512 tokens of Tiny Shakespeare): see the
assertion messages; the margin asserted is KLD(default) < 0.6 x KLD(RTN QX3_U).
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
quantx = pytest.importorskip("quantx")

WINDOWS = 6
MARGIN = 0.6


def test_default_recipe_beats_rtn_3bit_on_smollm2(smollm2_hf_dir: Path, wikitext_path: Path, shakespeare_path: Path,
                                                  converted, tmp_path: Path) -> None:
    from quantx.convert.quantize import CalibrationOptions, quantize
    from quantx.convert.recipes.recipe import recipe_by_name

    out = tmp_path / "default.gguf"
    rep = quantize(smollm2_hf_dir, out, recipe_by_name("default"), CalibrationOptions(shakespeare_path, 8, 512),
                   quiet=True)
    assert rep.bpw_linear <= 3.15
    counts = rep.recipe.format_counts()
    assert {"QX3_U", "QX3_T"} & set(counts) and set(counts) <= {"QX3_U", "QX3_T", "QX4_T", "Q8_0"}
    assert sum(counts.values()) == 210

    text = wikitext_path.read_text(encoding="utf-8")[:60000]
    from quantx.perplexity import perplexity

    base = quantx.Model(converted(smollm2_hf_dir, "f32"))
    scores = {}
    for name, path in (("default", out), ("rtn", converted(smollm2_hf_dir, "qx3_u"))):
        m = quantx.Model(path)
        scores[name] = perplexity(m, text, ctx=512, chunks=WINDOWS, kl_base=base)
        assert scores[name].chunks == WINDOWS
    d, r = scores["default"], scores["rtn"]
    msg = f"default: PPL {d.ppl:.2f} KLD {d.mean_kld:.4f}; RTN QX3_U: PPL {r.ppl:.2f} KLD {r.mean_kld:.4f}"
    assert d.mean_kld < MARGIN * r.mean_kld, msg
    assert d.ppl < r.ppl and d.same_top1 > r.same_top1, msg
