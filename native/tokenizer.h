// Native tokenizer built from a GGUF file's tokenizer.ggml.* keys:
//  - "gpt2": byte-level BPE with the pre-tokenizer named by tokenizer.ggml.pre
//    (default/gpt2, llama-bpe, smollm, qwen2, ...);
//  - "llama": SentencePiece-style (score-driven merges, '▁' for spaces,
//    <0xNN> byte fallback).
// Special/control tokens in the text are matched as whole tokens when
// parse_special is set.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qx {

class GgufFile;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
    Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

// Everything a tokenizer is built from: the tokenizer.ggml.* keys of a GGUF,
// or a hand-made vocabulary in tests. Ids are -1 when absent.
struct TokenizerSpec {
    std::string model;                 // "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    std::string pre = "default";       // BPE pre-tokenizer name (tokenizer.ggml.pre)
    std::vector<std::string> tokens;
    std::vector<float> scores;         // SPM merge priorities; may be empty for BPE
    std::vector<int32_t> token_types;  // TokenType values; empty = all Normal
    std::vector<std::string> merges;   // BPE merges "left right", highest priority first
    int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1, eom_id = -1;
    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = true;      // SPM only: prepend the dummy '▁'
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    // Throws qx::Error if the file's tokenizer keys are missing or invalid.
    static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& f);
    // Reads the tokenizer.ggml.* keys (defaults as llama.cpp applies them).
    static TokenizerSpec spec_from_gguf(const GgufFile& f);
    // Throws qx::Error if the spec is inconsistent (unknown model or
    // pre-tokenizer, ids out of range, merges naming unknown tokens, ...).
    static std::unique_ptr<Tokenizer> create(const TokenizerSpec& spec);

    // add_special: prepend BOS / append EOS as tokenizer.ggml.add_bos_token /
    // add_eos_token say. parse_special: recognise special tokens in text.
    virtual std::vector<int32_t> encode(const std::string& text, bool add_special,
                                        bool parse_special) const = 0;
    // Concatenated bytes of the tokens (byte-level decoding; control tokens
    // such as BOS/EOS render as nothing unless render_special is set).
    virtual std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const = 0;
    // Bytes of one token, for streaming (may be an incomplete UTF-8 sequence).
    virtual std::string token_bytes(int32_t id, bool render_special = false) const = 0;

    virtual int32_t n_vocab() const = 0;
    virtual int32_t bos_id() const = 0;   // -1 if none
    virtual int32_t eos_id() const = 0;   // -1 if none
    // End-of-generation tokens: eos, eot, eom and similar.
    virtual bool is_eog(int32_t id) const = 0;
    virtual const std::string& token_text(int32_t id) const = 0;
    virtual TokenType token_type(int32_t id) const = 0;
};

}  // namespace qx
