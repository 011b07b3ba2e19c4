"""The readable summary of a recipe run (stderr): one line per decoder layer with the format
chosen for each linear weight, then the totals."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .calibration import LINEAR_NAMES

if TYPE_CHECKING:
    from ..quantize import QuantizeReport

SHORT = {"self_attn.q_proj": "q", "self_attn.k_proj": "k", "self_attn.v_proj": "v", "self_attn.o_proj": "o",
         "mlp.gate_proj": "gate", "mlp.up_proj": "up", "mlp.down_proj": "down"}


def format_table(rep: "QuantizeReport") -> str:
    r = rep.recipe
    by_layer: dict[int, dict[str, str]] = {}
    for t in r.tensors:
        by_layer.setdefault(t.layer, {})[t.linear] = t.chosen
    cols = [SHORT[n] for n in LINEAR_NAMES]
    lines = ["layer " + " ".join(f"{c:>6}" for c in cols)]
    for layer in sorted(by_layer):
        row = by_layer[layer]
        lines.append(f"{layer:>5} " + " ".join(f"{row.get(n, '-'):>6}" for n in LINEAR_NAMES))
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(r.format_counts().items()))
    cal = r.calibration
    if r.tuning is not None:
        lines.append(f"tuning: {r.tuning.steps} steps, {r.tuning.scales_tuned} group scales and {r.tuning.norms_tuned} "
                     f"norms; KL to the float model {r.tuning.kl_start:.4f} (first quarter of the steps) -> "
                     f"{r.tuning.kl_end:.4f} (last quarter) in {r.tuning.seconds:.0f} s, {r.tuning.precision} products")
    lines.append(f"recipe {r.recipe.name}: {counts}; W{'3'}A{r.recipe.act}; "
                 f"{rep.bpw_linear:.4f} bits/weight over the quantized linear weights, "
                 f"{rep.bpw_file:.3f} over the whole file")
    lines.append(f"calibration: {cal.get('quantx.calibration.source')} ({cal.get('quantx.calibration.tokens')} tokens, "
                 f"sha256 {str(cal.get('quantx.calibration.sha256', ''))[:12]}); "
                 f"wrote {rep.convert.out_path} ({rep.convert.output_bytes / 1e6:.1f} MB) in {rep.seconds:.0f} s")
    return "\n".join(lines + rep.notes)
