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

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    // Throws qx::Error if the file's tokenizer keys are missing or invalid.
    static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& f);

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
};

}  // namespace qx
