// libFuzzer harness for the native tokenizers (built by tools/fuzz.sh).
// Vocabularies are loaded once from tokenizer-only GGUF files in
// $QX_FUZZ_VOCAB_DIR (default ./vocab): bpe.gguf (byte-level BPE, tried with
// every supported pre-tokenizer) and spm.gguf (SentencePiece with byte
// fallback, with and without the dummy space prefix).
//
// Input: byte 0 picks the tokenizer and the encode flags, the rest is the text
// (arbitrary bytes: invalid UTF-8, NULs, special-token lookalikes). Besides
// crashes and sanitizer reports, it traps on a broken invariant:
//   - every id lies inside the vocabulary;
//   - without special-token parsing, decoding gives back exactly the input
//     bytes: for SentencePiece (byte fallback) up to '▁', which it
//     reads as a space like SentencePiece does; for byte-level BPE when every
//     byte of the text has a symbol in the vocabulary (a trained vocabulary
//     lacks bytes it never saw, e.g. 0xFF or some control characters, and
//     those are dropped, as Hugging Face and llama.cpp do);
//   - the concatenated token_bytes of the ids equal decode() (except where
//     SentencePiece's decoder drops the dummy prefix space).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gguf.h"
#include "tokenizer.h"

namespace {

struct Case {
    std::unique_ptr<qx::Tokenizer> tok;
    bool decode_is_concat;
    bool spm;
    std::array<bool, 256> byte_known;  // the byte alone encodes to something
};

std::string spaces_for_spm_marks(const std::string& s) {
    static const std::string mark = "\xE2\x96\x81";
    std::string out;
    for (size_t i = 0; i < s.size();) {
        if (s.compare(i, mark.size(), mark) == 0) {
            out += ' ';
            i += mark.size();
        } else {
            out += s[i++];
        }
    }
    return out;
}

Case make_case(const qx::TokenizerSpec& spec, bool decode_is_concat) {
    Case c{qx::Tokenizer::create(spec), decode_is_concat, spec.model == "llama", {}};
    for (int b = 0; b < 256; ++b) c.byte_known[b] = !c.tok->encode(std::string(1, (char)b), false, false).empty();
    return c;
}

bool all_bytes_known(const Case& c, const std::string& s) {
    for (unsigned char b : s)
        if (!c.byte_known[b]) return false;
    return true;
}

std::vector<Case>& tokenizers() {
    static std::vector<Case> t;
    return t;
}

qx::TokenizerSpec load_spec(const std::string& path) {
    std::unique_ptr<qx::GgufFile> f = qx::GgufFile::open(path);
    return qx::Tokenizer::spec_from_gguf(*f);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* env = std::getenv("QX_FUZZ_VOCAB_DIR");
    const std::string dir = env ? env : "vocab";
    try {
        qx::TokenizerSpec bpe = load_spec(dir + "/bpe.gguf");
        for (const char* pre : {"gpt2", "llama-bpe", "qwen2", "smollm"}) {
            bpe.pre = pre;
            tokenizers().push_back(make_case(bpe, true));
        }
        qx::TokenizerSpec spm = load_spec(dir + "/spm.gguf");
        for (bool prefix : {true, false}) {
            spm.add_space_prefix = prefix;
            tokenizers().push_back(make_case(spm, !prefix));
        }
    } catch (const qx::Error& e) {
        std::fprintf(stderr, "fuzz_tokenizer: cannot load the vocabularies in %s: %s\n", dir.c_str(), e.what());
        std::abort();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t sel = data[0];
    const Case& c = tokenizers()[(sel & 7) % tokenizers().size()];
    const qx::Tokenizer& tok = *c.tok;
    const bool add_special = sel & 8;
    const bool parse_special = sel & 16;
    const bool render_special = sel & 32;
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

    const std::vector<int32_t> ids = tok.encode(text, add_special, parse_special);
    std::string joined;
    for (int32_t id : ids) {
        if (id < 0 || id >= tok.n_vocab()) __builtin_trap();
        joined += tok.token_bytes(id, render_special);
    }
    const std::string back = tok.decode(ids, render_special);
    if (c.decode_is_concat && back != joined) __builtin_trap();
    if (!parse_special && !render_special && (c.spm || all_bytes_known(c, text))) {
        // add_special only adds control tokens (BOS/EOS), which decode to nothing.
        if (back != (c.spm ? spaces_for_spm_marks(text) : text)) {
            std::fprintf(stderr, "round trip differs: %zu bytes in, %zu bytes out\n", text.size(), back.size());
            __builtin_trap();
        }
    }
    return 0;
}
