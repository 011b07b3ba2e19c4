"""quantx-inspect: what a GGUF file holds: per decoder layer the format of each linear weight,
bits per weight (over the quantized linear weights, and over the whole file), the activation
mode and the calibration provenance; --plot draws per layer how each weight's codes use the
levels of its table (uniform grid or fitted codebooks)."""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BLOCK_LINEARS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@dataclass
class FileSummary:
    path: Path
    arch: str
    activation: int | None
    recipe: str | None
    calibration: dict[str, object]
    layers: dict[int, dict[str, str]] = field(default_factory=dict)  # layer -> linear -> type
    bpw_linear: float = 0.0
    bpw_file: float = 0.0
    n_params: int = 0


def summarize(path: Path) -> FileSummary:
    import gguf

    from quantx.convert import qxformats as qxf

    reader = gguf.GGUFReader(path)
    fields = reader.fields

    def val(key: str):
        return fields[key].contents() if key in fields else None

    qx = qxf.read_quantx_tensors(reader)
    s = FileSummary(path, str(val("general.architecture")), val(qxf.KEY_ACTIVATION), val("quantx.recipe.name"),
                    {k[len("quantx.calibration."):]: val(k) for k in fields if k.startswith("quantx.calibration.")})
    bits = weights = 0
    for t in reader.tensors:
        n = int(np.prod(qx[t.name].shape)) if t.name in qx else int(t.n_elements)
        s.n_params += n
        m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", t.name)
        if m and m.group(2) in BLOCK_LINEARS:
            kind = qx[t.name].qtype.name if t.name in qx else t.tensor_type.name
            s.layers.setdefault(int(m.group(1)), {})[m.group(2)] = kind
            bits += 8 * int(t.n_bytes)
            weights += n
    s.bpw_linear = bits / weights if weights else 0.0
    s.bpw_file = 8.0 * path.stat().st_size / max(s.n_params, 1)
    return s


def format_summary(s: FileSummary) -> str:
    lines = [f"{s.path}: {s.arch}, {s.n_params / 1e6:.1f}M parameters, recipe {s.recipe or '-'}, "
             f"activations {('A' + str(s.activation)) if s.activation else '-'}"]
    if s.calibration:
        lines.append("calibration: " + ", ".join(f"{k} {v}" for k, v in s.calibration.items()))
    lines.append("layer " + " ".join(f"{c:>11}" for c in BLOCK_LINEARS))
    for i in sorted(s.layers):
        lines.append(f"{i:>5} " + " ".join(f"{s.layers[i].get(c, '-'):>11}" for c in BLOCK_LINEARS))
    counts: dict[str, int] = {}
    for row in s.layers.values():
        for v in row.values():
            counts[v] = counts.get(v, 0) + 1
    lines.append(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) +
                 f"; {s.bpw_linear:.4f} bits/weight over the linear weights of the blocks, {s.bpw_file:.3f} over the file")
    return "\n".join(lines)


def plot_level_usage(path: Path, out_dir: Path) -> list[Path]:
    """Per layer: for each QuantX linear weight, the histogram of its quantized values in units of
    the table's largest magnitude (how the codes use the grid or the fitted codebooks)."""
    import gguf
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from quantx.convert import qxformats as qxf

    qx = qxf.read_quantx_tensors(gguf.GGUFReader(path))
    out_dir.mkdir(parents=True, exist_ok=True)
    layers: dict[int, dict[str, qxf.QuantxTensorInfo]] = {}
    for name, info in qx.items():
        m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", name)
        if m:
            layers.setdefault(int(m.group(1)), {})[m.group(2)] = info
    paths = []
    for i in sorted(layers):
        fig, axes = plt.subplots(1, len(BLOCK_LINEARS), figsize=(3.0 * len(BLOCK_LINEARS), 2.8))
        for ax, lin in zip(axes, BLOCK_LINEARS):
            info = layers[i].get(lin)
            if info is None:
                ax.set_axis_off()
                continue
            n = info.shape[-1]
            rows = info.data.shape[0]
            q = qxf.unpack(info.data, info.qtype, n, rows)
            vals = np.take_along_axis(q.tables.astype(np.float32), q.codes.astype(np.int64), axis=1)
            vals /= np.abs(q.tables).max(axis=1, keepdims=True).clip(min=1)
            ax.hist(vals.ravel(), bins=255, range=(-1, 1), log=True, color="tab:orange" if info.qtype.row_codebook
                    else "tab:blue")
            ax.set_title(f"{lin}: {info.qtype.name}", fontsize=8)
            ax.tick_params(labelsize=7)
        fig.suptitle(f"{path.name} layer {i}: quantized values / table max (blue: uniform grid, orange: codebooks)",
                     fontsize=9)
        fig.tight_layout()
        p = out_dir / f"layer{i:03d}.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quantx-inspect", description=__doc__)
    ap.add_argument("gguf", type=Path, help="a GGUF file (QuantX or plain llama.cpp)")
    ap.add_argument("--plot", type=Path, metavar="DIR", help="write one PNG per layer here")
    args = ap.parse_args(argv)
    if not args.gguf.is_file():
        print(f"quantx-inspect: error: {args.gguf} does not exist", file=sys.stderr)
        return 1
    try:
        s = summarize(args.gguf)
        print(format_summary(s))
        if args.plot:
            paths = plot_level_usage(args.gguf, args.plot)
            print(f"wrote {len(paths)} figures to {args.plot}", file=sys.stderr)
    except (ValueError, KeyError, OSError) as e:
        print(f"quantx-inspect: error: {args.gguf}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
