"""Data-free calibration's own decoder: its logits against transformers' forward pass, and the
sampler's distribution. Tiny random models only."""
from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from quantx.convert.recipes.self_generation import (  # noqa: E402
    KVBuffers,
    decode_step,
    sample_from_logits,
    write_sequences,
)


def _tiny(kind: str, seed: int, heads: int = 4, kv_heads: int = 2):
    torch.manual_seed(seed)
    common = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                  num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=128,
                  eos_token_id=5)
    if kind == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common, rope_theta=500.0))
    elif kind == "mistral":
        model = transformers.MistralForCausalLM(transformers.MistralConfig(**common, sliding_window=None))
    else:
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**common))
    with torch.no_grad():  # biases (qwen2's q/k/v) and norms away from their initial values
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


@pytest.mark.parametrize("kind,heads,kv_heads", [("llama", 4, 2), ("llama", 4, 4), ("qwen2", 6, 2),
                                                  ("mistral", 4, 1)])
def test_decode_step_logits_equal_transformers_forward(kind: str, heads: int, kv_heads: int) -> None:
    model = _tiny(kind, 3, heads, kv_heads)
    ids = torch.randint(0, 96, (3, 40), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = model(ids).logits
    kv = KVBuffers.for_model(model, batch=3, length=40)
    got = torch.stack([decode_step(model, ids[:, p:p + 1], p, kv) for p in range(40)], 1)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


def test_sampler_draws_each_token_with_its_probability() -> None:
    probs = torch.tensor([0.5, 0.0, 0.2, 0.25, 0.05], dtype=torch.float64)
    logits = probs.log().float().expand(200_000, -1)
    draws = sample_from_logits(logits, torch.Generator().manual_seed(7))[:, 0]
    counts = torch.bincount(draws, minlength=5).double()
    assert counts[1] == 0  # probability 0 (logit -inf): never
    expected = probs * draws.numel()
    # within 5 standard deviations of the binomial count for every token
    sd = (draws.numel() * probs * (1 - probs)).sqrt()
    assert ((counts - expected).abs() <= 5 * sd + 1e-9).all(), (counts, expected)


def test_sampler_never_draws_a_token_of_zero_probability_at_the_edges() -> None:
    # -inf at both ends and between two tokens: the cumulative distribution has flat steps
    # exactly where an off-by-one inversion would land
    logits = torch.tensor([[float("-inf"), 0.0, float("-inf"), float("-inf"), 3.0, float("-inf")]]).expand(50_000, -1)
    draws = sample_from_logits(logits, torch.Generator().manual_seed(8))
    assert set(draws[:, 0].tolist()) == {1, 4}
    one_hot = torch.full((4, 6), float("-inf"))
    one_hot[torch.arange(4), torch.tensor([0, 2, 5, 3])] = 1.0
    assert sample_from_logits(one_hot, torch.Generator().manual_seed(9))[:, 0].tolist() == [0, 2, 5, 3]


def test_written_sequences_start_greedy_and_never_end() -> None:
    model = _tiny("llama", 5)
    first = torch.tensor([[7], [30], [95]])
    steps: list[int] = []
    out = write_sequences(model, first, seq_len=48, greedy_prefix=3, gen=torch.Generator().manual_seed(1),
                          on_step=steps.append)
    assert out.shape == (3, 48) and torch.equal(out[:, :1], first)
    assert steps == list(range(2, 49))
    with torch.no_grad():
        logits = model(out).logits
    logits[..., 5] = float("-inf")  # the end-of-sequence id is never written
    assert torch.equal(out[:, 1:4], logits[:, :3].argmax(-1))
    assert not (out == 5).any()
    # the same generator state writes the same text
    again = write_sequences(model, first, 48, 3, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


@pytest.mark.parametrize("bad", [dict(n_samples=0), dict(seq_len=1), dict(batch_size=0), dict(greedy_prefix=20),
                                 dict(greedy_prefix=-1)])
def test_data_free_calibration_refuses_settings_that_write_nothing(bad: dict) -> None:
    from quantx.convert.recipes import calibration_from_model
    args = dict(n_samples=2, seq_len=20, seed=0, greedy_prefix=3, batch_size=2) | bad
    with pytest.raises(ValueError, match="self-generated calibration"):
        calibration_from_model(_tiny("llama", 6), **args)


def test_sequences_longer_than_a_sliding_window_are_refused() -> None:
    """The decoder attends over the whole sequence; a model with a shorter window would not."""
    model = _tiny("mistral", 7)
    model.config.sliding_window = 16
    with pytest.raises(ValueError, match="sliding attention window"):
        write_sequences(model, torch.tensor([[3]]), seq_len=20, greedy_prefix=3, gen=torch.Generator())
    assert write_sequences(model, torch.tensor([[3]]), seq_len=16, greedy_prefix=3, gen=torch.Generator()).shape == (1, 16)
