"""The converter's output, checked against the HF checkpoint, the HF tokenizer, and the
llama.cpp-written SmolLM2 GGUF the float fixture was made from."""
from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from gguf import GGUFReader
from gguf.quants import dequantize

pytest.importorskip("quantx._native")
from quantx.convert import unpermute_qk  # noqa: E402
from quantx.convert.pretokenizer import KNOWN_HASHES, token_hash  # noqa: E402

Q = gguf.GGMLQuantizationType


@functools.lru_cache(maxsize=None)
def reader(path: Path) -> GGUFReader:
    """Parsing a 49k-token vocabulary takes seconds: each file is parsed once per session."""
    return GGUFReader(path)


class Meta(Mapping):
    """A file's metadata values, decoded on first access (token lists are large)."""

    def __init__(self, r: GGUFReader) -> None:
        self._fields = {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            self._values[key] = self._fields[key].contents()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@functools.lru_cache(maxsize=None)
def fields(path: Path) -> Meta:
    return Meta(reader(path))


def tensors(path: Path) -> dict[str, gguf.ReaderTensor]:
    return {t.name: t for t in reader(path).tensors}


def as_f32(t: gguf.ReaderTensor) -> np.ndarray:
    """Tensor data as float32 in numpy (rows, cols) order."""
    shape = tuple(int(x) for x in reversed(t.shape))
    return dequantize(np.asarray(t.data), t.tensor_type).reshape(shape).astype(np.float32)


def hf_weights(hf_dir: Path) -> dict[str, np.ndarray]:
    import torch
    from safetensors.torch import load_file

    out = {}
    for f in sorted(hf_dir.glob("*.safetensors")):
        out.update({k: v.to(torch.float32).numpy() for k, v in load_file(f).items()})
    return out


def hf_config(hf_dir: Path) -> dict:
    return json.loads((hf_dir / "config.json").read_text())


def gguf_to_hf_name(name: str) -> str:
    fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    if name in fixed:
        return fixed[name]
    _, i, role, kind = name.split(".")
    hf = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
          "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
          "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}[role]
    return f"model.layers.{i}.{hf}.{kind}"


def to_hf_layout(name: str, w: np.ndarray, cfg: dict, arch: str) -> np.ndarray:
    """Undo the llama Q/K permutation (qwen2 is stored unpermuted)."""
    if arch == "llama" and ".attn_q." in name:
        return unpermute_qk(w, cfg["num_attention_heads"])
    if arch == "llama" and ".attn_k." in name:
        return unpermute_qk(w, cfg["num_key_value_heads"])
    return w


def expected_names(cfg: dict, arch: str) -> set[str]:
    names = {"token_embd.weight", "output_norm.weight"}
    if not cfg.get("tie_word_embeddings"):
        names.add("output.weight")
    for i in range(cfg["num_hidden_layers"]):
        for r in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                  "ffn_down"):
            names.add(f"blk.{i}.{r}.weight")
        if arch == "qwen2":
            names |= {f"blk.{i}.attn_{x}.bias" for x in "qkv"}
    return names


# ------------------------------------------------------------------ metadata

def test_smollm2_fixture_tokenizer_behaves_like_original(smollm2_hf_dir: Path) -> None:
    """The rebuilt tokenizer.json produces llama.cpp's recorded SmolLM token hash, i.e. the
    same ids as the original SmolLM tokenizer on llama.cpp's probe text."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tok = Tokenizer.from_file(str(smollm2_hf_dir / "tokenizer.json"))
    assert KNOWN_HASHES[token_hash(tok)] == "smollm"
    hf = AutoTokenizer.from_pretrained(smollm2_hf_dir)
    text = "Digits 2024 and  spaces, 4 ½ months\n<|im_start|>user"
    assert hf.encode(text) == tok.encode(text).ids
    assert hf.encode("hi")[0] != hf.bos_token_id  # SmolLM2 adds no BOS


def test_metadata_matches_llamacpp_file(smollm2_hf_dir: Path, smollm2_q41: Path, converted) -> None:
    """Architecture and tokenizer keys equal those llama.cpp wrote for the same model."""
    ours, ref = fields(converted(smollm2_hf_dir, "f32")), fields(smollm2_q41)
    same = [k for k in ref if k.startswith(("llama.", "tokenizer.")) and k != "tokenizer.ggml.add_space_prefix"]
    same += ["general.architecture", "general.type", "general.size_label", "general.license"]
    assert len(same) > 20
    for k in same:
        assert k in ours, k
        a, b = ours[k], ref[k]
        if isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-7), k
        else:
            assert a == b, k
    assert ours["general.file_type"] == gguf.LlamaFileType.ALL_F32
    assert ours["general.name"] == "SmolLM2 135M Instruct"
    assert ours["general.basename"].lower() == ref["general.basename"]  # theirs came from a training-run id


def test_metadata_from_config(tiny_qwen2_dir: Path, converted) -> None:
    cfg = hf_config(tiny_qwen2_dir)
    f = fields(converted(tiny_qwen2_dir, "f16"))
    a = "qwen2"
    assert f["general.architecture"] == a
    assert f[f"{a}.block_count"] == cfg["num_hidden_layers"]
    assert f[f"{a}.context_length"] == cfg["max_position_embeddings"]
    assert f[f"{a}.embedding_length"] == cfg["hidden_size"]
    assert f[f"{a}.feed_forward_length"] == cfg["intermediate_size"]
    assert f[f"{a}.attention.head_count"] == cfg["num_attention_heads"]
    assert f[f"{a}.attention.head_count_kv"] == cfg["num_key_value_heads"]
    assert f[f"{a}.attention.layer_norm_rms_epsilon"] == pytest.approx(cfg["rms_norm_eps"])
    assert f[f"{a}.rope.freq_base"] == cfg["rope_parameters"]["rope_theta"]
    assert f[f"{a}.rope.dimension_count"] == cfg["hidden_size"] // cfg["num_attention_heads"]
    assert f[f"{a}.vocab_size"] == cfg["vocab_size"]
    assert f["general.file_type"] == gguf.LlamaFileType.MOSTLY_F16
    assert f["tokenizer.ggml.pre"] == "qwen2"       # found by split behaviour: the vocabulary is SmolLM2's
    assert f["tokenizer.ggml.eos_token_id"] == 2
    assert "tokenizer.ggml.bos_token_id" not in f
    assert f["tokenizer.ggml.add_bos_token"] is False


def test_tokenizer_metadata_equals_hf_tokenizer(smollm2_hf_dir: Path, converted) -> None:
    from transformers import AutoTokenizer

    f = fields(converted(smollm2_hf_dir, "f16"))
    hf = AutoTokenizer.from_pretrained(smollm2_hf_dir)
    vocab = hf.get_vocab()
    assert f["tokenizer.ggml.model"] == "gpt2"
    assert f["tokenizer.ggml.tokens"] == [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    tj = json.loads((smollm2_hf_dir / "tokenizer.json").read_text())
    assert f["tokenizer.ggml.merges"] == [" ".join(m) for m in tj["model"]["merges"]]
    special = {hf.convert_tokens_to_ids(t) for t in hf.all_special_tokens}
    types = f["tokenizer.ggml.token_type"]
    assert {i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL} == {a["id"] for a in tj["added_tokens"]}
    assert special <= {i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL}
    assert f["tokenizer.ggml.bos_token_id"] == hf.bos_token_id
    assert f["tokenizer.ggml.eos_token_id"] == hf.eos_token_id
    assert f["tokenizer.ggml.unknown_token_id"] == hf.unk_token_id
    assert f["tokenizer.ggml.padding_token_id"] == hf.pad_token_id


def test_chat_template_byte_for_byte(smollm2_hf_dir: Path, converted) -> None:
    path = converted(smollm2_hf_dir, "f16")
    field = reader(path).fields["tokenizer.chat_template"]
    stored = bytes(field.parts[field.data[0]])
    want = json.loads((smollm2_hf_dir / "tokenizer_config.json").read_text(encoding="utf-8"))["chat_template"]
    assert stored == want.encode("utf-8")


def test_chat_template_from_jinja_file(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from quantx.convert import convert
    import shutil

    d = tmp_path / "m"
    shutil.copytree(tiny_llama_dir, d)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg.pop("chat_template")
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    template = "{% for m in messages %}<<{{ m['role'] }}>> {{ m['content'] }}\n{% endfor %}é"
    (d / "chat_template.jinja").write_text(template, encoding="utf-8")
    convert(d, tmp_path / "o.gguf", "f32", quiet=True)
    assert fields(tmp_path / "o.gguf")["tokenizer.chat_template"] == template


def test_sentencepiece_vocabulary(tiny_llama_spm_dir: Path, converted) -> None:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tiny_llama_spm_dir / "tokenizer.model"))
    f = fields(converted(tiny_llama_spm_dir, "f16"))
    n = sp.vocab_size()
    assert f["tokenizer.ggml.model"] == "llama"
    assert f["tokenizer.ggml.tokens"] == [sp.IdToPiece(i) for i in range(n)]
    np.testing.assert_array_equal(np.float32(f["tokenizer.ggml.scores"]), np.float32([sp.GetScore(i) for i in range(n)]))
    types = f["tokenizer.ggml.token_type"]
    assert types[0] == gguf.TokenType.UNKNOWN and types[1] == types[2] == gguf.TokenType.CONTROL
    assert [i for i, t in enumerate(types) if t == gguf.TokenType.BYTE] == [i for i in range(n) if sp.IsByte(i)]
    assert sum(t == gguf.TokenType.BYTE for t in types) == 256
    assert f["tokenizer.ggml.add_bos_token"] is True
    assert f["tokenizer.ggml.bos_token_id"] == 1 and f["tokenizer.ggml.eos_token_id"] == 2


# ------------------------------------------------------------------ tensors

@pytest.mark.parametrize("outtype,weight_type", [("f32", Q.F32), ("f16", Q.F16)])
def test_tensor_names_shapes_types_real(smollm2_hf_dir: Path, converted, outtype: str, weight_type: Q) -> None:
    cfg = hf_config(smollm2_hf_dir)
    ts = tensors(converted(smollm2_hf_dir, outtype))
    assert set(ts) == expected_names(cfg, "llama")
    assert "output.weight" not in ts  # tied embeddings stay tied
    hf = {k: v.shape for k, v in hf_weights(smollm2_hf_dir).items()}
    for name, t in ts.items():
        assert tuple(int(x) for x in reversed(t.shape)) == hf[gguf_to_hf_name(name)], name
        assert t.tensor_type == (Q.F32 if len(hf[gguf_to_hf_name(name)]) == 1 else weight_type), name


def test_f32_round_trip_exact(smollm2_hf_dir: Path, converted) -> None:
    cfg = hf_config(smollm2_hf_dir)
    ts = tensors(converted(smollm2_hf_dir, "f32"))
    hf = hf_weights(smollm2_hf_dir)
    for name, t in ts.items():
        np.testing.assert_array_equal(to_hf_layout(name, as_f32(t), cfg, "llama"), hf[gguf_to_hf_name(name)],
                                      err_msg=name)


def test_f16_round_trip_is_f16_rounding(smollm2_hf_dir: Path, converted) -> None:
    cfg = hf_config(smollm2_hf_dir)
    ts = tensors(converted(smollm2_hf_dir, "f16"))
    hf = hf_weights(smollm2_hf_dir)
    for name, t in ts.items():
        want = hf[gguf_to_hf_name(name)]
        if t.tensor_type == Q.F16:
            want = want.astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(to_hf_layout(name, as_f32(t), cfg, "llama"), want, err_msg=name)


def test_qk_permutation_matches_llamacpp(smollm2_hf_dir: Path, smollm2_q41: Path, converted) -> None:
    """Our permuted F32 Q/K equal the tensors llama.cpp wrote (dequantized): the fixture was
    made by transformers undoing llama.cpp's permutation, and the converter redoes it."""
    ours = tensors(converted(smollm2_hf_dir, "f32"))
    ref = tensors(smollm2_q41)
    for name in ("blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.29.attn_q.weight", "blk.29.attn_k.weight",
                 "blk.3.ffn_down.weight"):
        np.testing.assert_allclose(as_f32(ours[name]), as_f32(ref[name]), rtol=0, atol=1e-6, err_msg=name)


def test_qk_permutation_turns_rotate_half_into_pairwise_rope() -> None:
    """Why the permutation exists: HF RoPE rotates (x[j], x[j+d/2]); GGML's normal RoPE rotates
    (x[2j], x[2j+1]). Projecting with permuted rows then rotating pairwise must equal rotating
    half-split and then permuting the result."""
    from quantx.convert import permute_qk

    rng = np.random.default_rng(0)
    n_head, hd, n_embd, pos, theta = 3, 8, 12, 5, 10000.0
    w = rng.standard_normal((n_head * hd, n_embd))
    x = rng.standard_normal(n_embd)
    freqs = pos / theta ** (np.arange(0, hd, 2) / hd)
    cos, sin = np.cos(freqs), np.sin(freqs)

    q = (w @ x).reshape(n_head, hd)
    a, b = q[:, : hd // 2], q[:, hd // 2:]
    hf = np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=1).reshape(-1)

    g = (permute_qk(w, n_head) @ x).reshape(n_head, hd // 2, 2)
    ggml = np.stack([g[..., 0] * cos - g[..., 1] * sin, g[..., 1] * cos + g[..., 0] * sin], axis=-1).reshape(-1)
    np.testing.assert_allclose(permute_qk(hf.reshape(-1, 1), n_head).reshape(-1), ggml, atol=1e-12)
    # and attention scores (q.k) are unchanged by permuting both
    assert np.dot(hf, hf) == pytest.approx(np.dot(ggml, ggml))


def test_qwen2_biases_and_no_permutation(tiny_qwen2_dir: Path, converted) -> None:
    cfg = hf_config(tiny_qwen2_dir)
    ts = tensors(converted(tiny_qwen2_dir, "f32"))
    assert set(ts) == expected_names(cfg, "qwen2")
    hf = hf_weights(tiny_qwen2_dir)
    for name, t in ts.items():
        np.testing.assert_array_equal(as_f32(t), hf[gguf_to_hf_name(name)], err_msg=name)  # stored as-is
    bias = ts["blk.1.attn_q.bias"]
    assert bias.tensor_type == Q.F32 and np.abs(as_f32(bias)).max() > 0


def test_untied_output_written(tiny_llama_dir: Path, converted) -> None:
    ts = tensors(converted(tiny_llama_dir, "f16"))
    hf = hf_weights(tiny_llama_dir)
    np.testing.assert_array_equal(as_f32(ts["output.weight"]), hf["lm_head.weight"].astype(np.float16))
    assert not np.array_equal(hf["lm_head.weight"], hf["model.embed_tokens.weight"])


@pytest.mark.parametrize("variant", ["tiny_llama_sharded_dir", "tiny_llama_bf16_dir"])
def test_sharded_and_bf16_convert_like_single_file(variant: str, request, tiny_llama_dir: Path, converted) -> None:
    d = request.getfixturevalue(variant)
    single, other = tensors(converted(tiny_llama_dir, "f32")), tensors(converted(d, "f32"))
    assert set(single) == set(other)
    assert fields(converted(tiny_llama_dir, "f32"))["tokenizer.ggml.tokens"] == \
        fields(converted(d, "f32"))["tokenizer.ggml.tokens"]
    for name in single:
        want = as_f32(single[name])
        if variant == "tiny_llama_bf16_dir":  # same weights, rounded to bf16 by torch
            import torch
            want = torch.from_numpy(want).to(torch.bfloat16).float().numpy()
        np.testing.assert_array_equal(as_f32(other[name]), want, err_msg=name)


def test_bf16_outtype_keeps_bf16_bits(tiny_llama_bf16_dir: Path, converted) -> None:
    ts = tensors(converted(tiny_llama_bf16_dir, "bf16"))
    hf = hf_weights(tiny_llama_bf16_dir)
    t = ts["blk.0.ffn_up.weight"]
    assert t.tensor_type == Q.BF16
    np.testing.assert_array_equal(as_f32(t), hf["model.layers.0.mlp.up_proj.weight"])
    assert ts["blk.0.ffn_norm.weight"].tensor_type == Q.F32


def test_q8_0_outtype(tiny_llama_dir: Path, converted) -> None:
    cfg = hf_config(tiny_llama_dir)
    ts = tensors(converted(tiny_llama_dir, "q8_0"))
    hf = hf_weights(tiny_llama_dir)
    for name, t in ts.items():
        want = hf[gguf_to_hf_name(name)]
        if want.ndim == 1:
            assert t.tensor_type == Q.F32
            continue
        assert t.tensor_type == Q.Q8_0, name
        got = to_hf_layout(name, as_f32(t), cfg, "llama")
        # per 32-block: |err| <= half a step (step = absmax/127) plus the scale's f16 rounding
        # (relative 2^-11) times the largest quant (127)
        blocks = want.reshape(-1, 32)
        step = np.abs(blocks).max(axis=1, keepdims=True) / 127
        assert np.all(np.abs(got.reshape(-1, 32) - blocks) <= step * (0.5 + 127 / 2048) + 1e-7), name
    assert fields(converted(tiny_llama_dir, "q8_0"))["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q8_0


def test_llama3_rope_factors_match_transformers(tiny_llama_dir: Path, tmp_path: Path) -> None:
    import shutil

    import torch
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from quantx.convert import convert

    d = tmp_path / "m"
    shutil.copytree(tiny_llama_dir, d)
    cfg = hf_config(d)
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64, "rope_theta": 500000.0}
    cfg["rope_parameters"] = scaling
    (d / "config.json").write_text(json.dumps(cfg))
    convert(d, tmp_path / "o.gguf", "f32", quiet=True)
    got = as_f32(tensors(tmp_path / "o.gguf")["rope_freqs.weight"])

    hc = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version")})
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](hc, torch.device("cpu"))
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    base = 1.0 / (500000.0 ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    np.testing.assert_allclose(got, (base / scaled.double()).numpy(), rtol=1e-5)
    assert got.min() == 1.0 and got.max() == 8.0  # both untouched and fully scaled bands occur


def test_linear_rope_scaling_keys(tiny_llama_dir: Path, tmp_path: Path) -> None:
    import shutil

    from quantx.convert import convert

    d = tmp_path / "m"
    shutil.copytree(tiny_llama_dir, d)
    cfg = hf_config(d)
    cfg["rope_scaling"] = {"type": "linear", "factor": 4.0}
    (d / "config.json").write_text(json.dumps(cfg))
    convert(d, tmp_path / "o.gguf", "f16", quiet=True)
    f = fields(tmp_path / "o.gguf")
    assert f["llama.rope.scaling.type"] == "linear" and f["llama.rope.scaling.factor"] == 4.0
