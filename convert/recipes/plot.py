"""Per-layer figures of a recipe run (as the QuantX paper's figures 1-2): for every linear weight
of a decoder layer, the histogram of its (scaled) float weights in units of their group's
largest magnitude, with the uniform grid's levels and the fitted codebooks' levels on top, and
the chosen format and its criteria in the title; one PNG per layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .calibration import LINEAR_NAMES, decoder_layers
from .qx_quant import GROUP
from .recipe import RecipeResult
from .report import SHORT


def _normalised(w: torch.Tensor) -> np.ndarray:
    rows, n = w.shape
    pad = -n % GROUP
    wp = torch.cat([w, torch.zeros(rows, pad)], 1) if pad else w
    g = wp.view(rows, -1, GROUP)
    am = g.abs().amax(-1, keepdim=True).clamp_min(1e-30)
    return (g / am).view(rows, -1)[:, :n].flatten().numpy()


def plot_layers(model, result: RecipeResult, out_dir: Path) -> list[Path]:
    try:
        import matplotlib
    except ImportError:
        from ..errors import ConvertError

        raise ConvertError("--plot needs matplotlib (pip install 'quantx[plot]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    by_name = {t.hf_name: t for t in result.tensors}
    paths = []
    for i, layer in enumerate(decoder_layers(model)):
        fig, axes = plt.subplots(1, len(LINEAR_NAMES), figsize=(3.2 * len(LINEAR_NAMES), 3.0))
        for ax, name in zip(axes, LINEAR_NAMES):
            t = by_name[f"model.layers.{i}.{name}.weight"]
            y = _normalised(layer.get_submodule(name).weight.data.float())
            ax.hist(y, bins=161, range=(-1, 1), color="0.6", log=True)
            for lv in np.arange(-4, 4) / 4:
                ax.axvline(lv, color="tab:blue", lw=0.8, alpha=0.8)
            cb = result.chosen[t.hf_name]
            c3 = t.candidates.get("QX3_T") or t.candidates.get("QX3_C")
            qx = cb.quantx() if cb.fmt.endswith(("_C", "_T")) else None
            if qx is not None:
                levels = -qx.tables.flatten().numpy() / 127.0  # -127 is each group's extreme
                ax.hist(levels, bins=161, range=(-1, 1), color="tab:orange", alpha=0.7, log=True)
            crit = t.candidates[t.chosen]
            extra = f"\nU {t.candidates['QX3_U']['out_err']:.2e} C {c3['out_err']:.2e}" if c3 and "QX3_U" in t.candidates else ""
            ax.set_title(f"{SHORT[name]}: {t.chosen} err {crit['out_err']:.2e}{extra}", fontsize=8)
            ax.tick_params(labelsize=7)
        fig.suptitle(f"layer {i}: weights / group max (grey), uniform levels (blue), chosen codebook levels "
                     f"(orange)", fontsize=9)
        fig.tight_layout()
        path = out_dir / f"layer{i:03d}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths
