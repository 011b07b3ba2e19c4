"""Converted files run in the QuantX runtime exactly like the HF checkpoint runs in transformers:
logits agree (F32 tightly, F16 within its rounding), and the runtime's tokenizer, reading
only the converted file, reproduces the HF tokenizer's ids on all of WikiText-2 test."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

quantx = pytest.importorskip("quantx")
if not hasattr(quantx, "Model"):
    pytest.skip("quantx.Model (the runtime) is not in this build yet", allow_module_level=True)
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WINDOW = 512


def hf_logits(hf_dir: Path, ids: list[int]) -> np.ndarray:
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def runtime_logits(gguf_path: Path, ids: list[int]) -> np.ndarray:
    # A float32 KV cache: these tests measure the converted weights, which the default float16
    # cache's rounding would blur (tests/test_runtime_real.py measures that cache).
    m = quantx.Model(gguf_path, n_ctx=max(len(ids), 64), kv_type="f32")
    return np.asarray(m.eval(ids), dtype=np.float32)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def assert_close_logits(got: np.ndarray, want: np.ndarray, rel: float) -> None:
    """|got - want| <= rel * (largest |logit|), row by row: relative to the logit scale, since
    individual logits near zero have no meaningful relative error."""
    assert got.shape == want.shape
    scale = np.abs(want).max(axis=-1, keepdims=True)
    err = np.abs(got - want) / scale
    assert err.max() <= rel, f"max relative error {err.max():.2e} > {rel:.0e}"


@pytest.fixture(scope="session")
def wikitext_text(wikitext_path: Path) -> str:
    return wikitext_path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def smollm2_window(smollm2_hf_dir: Path, wikitext_text: str) -> list[int]:
    """The first 512-token window of WikiText-2 test, tokenized by the HF tokenizer."""
    tok = transformers.AutoTokenizer.from_pretrained(smollm2_hf_dir)
    ids = tok.encode(wikitext_text[:20000])
    assert len(ids) >= WINDOW
    return ids[:WINDOW]


@pytest.fixture(scope="session")
def smollm2_hf_logits(smollm2_hf_dir: Path, smollm2_window: list[int]) -> np.ndarray:
    return hf_logits(smollm2_hf_dir, smollm2_window)


@pytest.mark.slow
def test_f32_logits_match_transformers(smollm2_hf_dir: Path, smollm2_window, smollm2_hf_logits, converted) -> None:
    got = runtime_logits(converted(smollm2_hf_dir, "f32"), smollm2_window)
    assert_close_logits(got, smollm2_hf_logits, 1e-4)


@pytest.mark.slow
def test_f16_logits_close_to_transformers(smollm2_hf_dir: Path, smollm2_window, smollm2_hf_logits, converted) -> None:
    got = runtime_logits(converted(smollm2_hf_dir, "f16"), smollm2_window)
    top1 = np.mean(got.argmax(-1) == smollm2_hf_logits.argmax(-1))
    p_ref = log_softmax(smollm2_hf_logits)
    kl = np.mean(np.sum(np.exp(p_ref) * (p_ref - log_softmax(got)), axis=-1))
    print(f"\nF16 vs transformers F32: top-1 agreement {top1:.4f}, mean KL {kl:.2e}")
    assert top1 >= 0.995
    assert kl <= 1e-4


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_qwen2_dir", "tiny_llama_sharded_dir",
                                     "tiny_llama_bf16_dir", "tiny_llama_spm_dir"])
def test_tiny_models_match_transformers(fixture: str, request, converted) -> None:
    d = request.getfixturevalue(fixture)
    vocab = __import__("json").loads((d / "config.json").read_text())["vocab_size"]
    ids = np.random.default_rng(7).integers(0, vocab, 96).tolist()  # random weights: any ids will do
    want = hf_logits(d, ids)
    got = runtime_logits(converted(d, "f32"), ids)
    assert_close_logits(got, want, 1e-4)


@pytest.mark.slow
def test_runtime_tokenizer_reproduces_hf_ids_on_wikitext(smollm2_hf_dir: Path, converted, wikitext_text: str) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(smollm2_hf_dir)
    want = tok.encode(wikitext_text)
    m = quantx.Model(converted(smollm2_hf_dir, "f16"), n_ctx=64)
    got = m.tokenize(wikitext_text, add_special=True, parse_special=True)
    assert len(want) > 250_000
    if got != want:
        i = next(k for k, (a, b) in enumerate(zip(got, want)) if a != b) if len(got) == len(want) or \
            any(a != b for a, b in zip(got, want)) else min(len(got), len(want))
        pytest.fail(f"first difference at token {i}: runtime {got[i:i + 8]} vs HF {want[i:i + 8]} "
                    f"({tok.decode(want[max(0, i - 4):i + 8])!r})")
    assert m.detokenize(got) == wikitext_text


def test_runtime_sentencepiece_tokenizer_matches(tiny_llama_spm_dir: Path, converted, wikitext_text: str) -> None:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tiny_llama_spm_dir / "tokenizer.model"))
    text = wikitext_text[:5000]
    m = quantx.Model(converted(tiny_llama_spm_dir, "f16"), n_ctx=64)
    assert m.tokenize(text, add_special=True, parse_special=False) == [sp.bos_id()] + sp.encode(text)


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_qwen2_dir"])
def test_tiny_models_generate_through_kv_cache_like_transformers(fixture: str, request, converted) -> None:
    """A prompt, then 20 greedy tokens fed one at a time through the KV cache: every step's
    logits equal transformers' full forward over the same sequence."""
    d = request.getfixturevalue(fixture)
    vocab = __import__("json").loads((d / "config.json").read_text())["vocab_size"]
    prompt = np.random.default_rng(11).integers(0, vocab, 24).tolist()
    m = quantx.Model(converted(d, "f32"), n_ctx=64, kv_type="f32")
    rows = [m.eval(prompt)]
    seq = list(prompt)
    for _ in range(20):
        t = int(np.argmax(rows[-1][-1]))
        seq.append(t)
        rows.append(m.eval([t]))
    got = np.concatenate(rows)[: len(seq)]
    want = hf_logits(d, seq)
    assert m.n_past == len(seq)
    assert_close_logits(got, want, 1e-4)
