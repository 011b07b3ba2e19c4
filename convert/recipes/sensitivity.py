"""End-to-end sensitivity of each linear weight: a Fisher-weighted output error.

One forward and backward pass of the float model over a few calibration sequences gives,
for every linear layer, the mean squared gradient of the loss with respect to each of its
output channels, F[r] = E[(dL/dy_r)^2] (the diagonal empirical Fisher of its outputs).
A quantized weight W^ = W - D changes the outputs by D x, so to second order the loss grows
by about 1/2 sum_r F[r] E[(D x)_r^2] = 1/2 sum_r F[r] (D H D^T)_rr, H = E[x x^T]. That
estimates each candidate's effect on the model's output from its layer-local error alone,
without running the model once per weight and format.
"""
from __future__ import annotations

import torch

from .calibration import LINEAR_NAMES, decoder_layers


def output_fisher(model, ids: torch.Tensor) -> dict[tuple[int, str], torch.Tensor]:
    """{(layer, linear name): F [out]} from the next-token loss on ids [batch, seq].

    One sequence per backward pass: the activations a backward pass keeps grow with the tokens
    in it (SmolLM2-135M: 5.2 GB for 8 x 256 tokens at once), and the squared per-token
    gradients simply add up over passes."""
    sums: dict[tuple[int, str], torch.Tensor] = {}
    hooks = []
    tokens = 0  # of the current pass: the loss is their mean, so scaling by it undoes the 1/n

    def hook(key):
        def fn(_module, _grad_in, grad_out):
            g = grad_out[0].detach().float().reshape(-1, grad_out[0].shape[-1]) * tokens  # per-token gradients
            acc = (g * g).sum(0)
            sums[key] = acc if key not in sums else sums[key] + acc
        return fn

    for i, layer in enumerate(decoder_layers(model)):
        for name in LINEAR_NAMES:
            hooks.append(layer.get_submodule(name).register_full_backward_hook(hook((i, name))))
    saved = [p.requires_grad for p in model.parameters()]
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.enable_grad():
            for seq in ids.split(1):
                tokens = seq.numel()
                emb = model.model.embed_tokens(seq).detach().float().requires_grad_(True)
                out = model(inputs_embeds=emb, labels=seq)
                out.loss.backward()
                del out, emb
    finally:
        for hk in hooks:
            hk.remove()
        for p, r in zip(model.parameters(), saved):
            p.requires_grad_(r)
    return {k: v / ids.numel() for k, v in sums.items()}


def row_output_error(weight: torch.Tensor, dequantized: torch.Tensor, hessian: torch.Tensor) -> torch.Tensor:
    """(D H D^T)_rr per output row r, D = W - W^: the row's mean squared output error."""
    d = weight.float() - dequantized.float()
    return ((d @ hessian.float()) * d).sum(1)


def fisher_damage(fisher: torch.Tensor, row_error: torch.Tensor) -> float:
    """Estimated loss increase 1/2 sum_r F[r] (D H D^T)_rr."""
    return 0.5 * float((fisher.double() * row_error.double()).sum())
