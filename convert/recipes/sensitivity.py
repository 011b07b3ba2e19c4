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

from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Callable, Iterator
from functools import partial

import torch
from torch.utils.checkpoint import checkpoint

from .calibration import LINEAR_NAMES, decoder_layers


@dataclass
class FisherPass:
    fisher: dict[tuple[int, str], torch.Tensor]  # (layer, linear name) -> F [out]
    hidden: torch.Tensor | None                  # the model's last hidden states [batch, seq, d], when kept


def output_fisher(model, ids: torch.Tensor, loss_chunk: int = 128) -> dict[tuple[int, str], torch.Tensor]:
    """{(layer, linear name): F [out]}: fisher_pass without the hidden states."""
    return fisher_pass(model, ids, loss_chunk).fisher


def fisher_pass(model, ids: torch.Tensor, loss_chunk: int = 128, keep_hidden: bool = False,
                progress: Callable[[int, int], None] | None = None) -> FisherPass:
    """{(layer, linear name): F [out]} from the next-token losses on ids [batch, seq], per
    predicted token (F = E_t[(dl_t/dy)^2] with l the sum of the tokens' losses).

    progress(sequences done, sequences) is called after each sequence.

    keep_hidden: also return the last hidden states the forward passes computed anyway. They
    are the float model's side of the end-to-end tuning's loss on the same sequences (tune.py),
    which then needs no forward pass of the float model of its own.

    Memory: a backward pass keeps activations that grow with the tokens in it (SmolLM2-135M:
    5.2 GB for 8 x 256 tokens at once), so there is one pass per sequence (the squared gradients
    add up over passes); each decoder layer's activations are recomputed in the backward pass
    instead of kept (activation checkpointing); and the vocabulary-wide logits, the largest
    tensors, exist `loss_chunk` positions at a time."""
    sums: dict[tuple[int, str], torch.Tensor] = {}
    hooks = []

    def hook(key):
        def fn(_module, _grad_in, grad_out):
            g = grad_out[0].detach().float().reshape(-1, grad_out[0].shape[-1])
            acc = (g * g).sum(0)
            sums[key] = acc if key not in sums else sums[key] + acc
        return fn

    for i, layer in enumerate(decoder_layers(model)):
        for name in LINEAR_NAMES:
            hooks.append(layer.get_submodule(name).register_full_backward_hook(hook((i, name))))
    saved = [p.requires_grad for p in model.parameters()]
    predicted = 0
    kept: list[torch.Tensor] = []
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.enable_grad(), checkpointed_layers(model):
            for done, seq in enumerate(ids.split(1), 1):
                emb = model.model.embed_tokens(seq).detach().float().requires_grad_(True)
                hidden = model.model(inputs_embeds=emb, use_cache=False).last_hidden_state
                hidden.backward(_next_token_loss_grad(model.lm_head, hidden, seq, loss_chunk))
                if keep_hidden:
                    kept.append(hidden.detach())
                predicted += seq.shape[1] - 1
                del hidden, emb
                if progress:
                    progress(done, ids.shape[0])
    finally:
        for hk in hooks:
            hk.remove()
        for p, r in zip(model.parameters(), saved):
            p.requires_grad_(r)
    return FisherPass({k: v / predicted for k, v in sums.items()}, torch.cat(kept) if kept else None)


def _next_token_loss_grad(head: torch.nn.Module, hidden: torch.Tensor, ids: torch.Tensor, chunk: int) -> torch.Tensor:
    """d(sum over positions of the next-token cross-entropy)/d hidden [1, seq, d], building the
    logits of `chunk` positions at a time."""
    h = hidden.detach().requires_grad_(True)
    last = h.shape[1] - 1  # the last position predicts nothing
    for start in range(0, last, chunk):
        end = min(start + chunk, last)
        logits = head(h[:, start:end]).float()
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[0, start + 1:end + 1],
                                                 reduction="sum")
        loss.backward()
    return h.grad


@contextmanager
def checkpointed_layers(model) -> Iterator[None]:
    """Run every decoder layer under non-reentrant activation checkpointing (transformers' own
    switch for it applies only in training mode, which would also turn dropout on)."""
    layers = list(decoder_layers(model))
    for layer in layers:
        layer.forward = partial(checkpoint, layer.forward, use_reentrant=False)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward  # back to the class's method


def row_output_error(weight: torch.Tensor, dequantized: torch.Tensor, hessian: torch.Tensor) -> torch.Tensor:
    """(D H D^T)_rr per output row r, D = W - W^: the row's mean squared output error."""
    d = weight.float() - dequantized.float()
    return ((d @ hessian.float()) * d).sum(1)


def fisher_damage(fisher: torch.Tensor, row_error: torch.Tensor) -> float:
    """Estimated loss increase 1/2 sum_r F[r] (D H D^T)_rr."""
    return 0.5 * float((fisher.double() * row_error.double()).sum())
