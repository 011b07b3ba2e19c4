// Shared part of the BPE and SentencePiece tokenizers: the vocabulary, the
// special-token splitter, id bookkeeping and the decode loop.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer.h"

namespace qx {

class VocabTokenizer : public Tokenizer {
public:
    VocabTokenizer(const VocabTokenizer&) = delete;  // tokens_ refers into spec_
    VocabTokenizer& operator=(const VocabTokenizer&) = delete;

    std::vector<int32_t> encode(const std::string& text, bool add_special,
                                bool parse_special) const override;
    std::string decode(const std::vector<int32_t>& ids, bool render_special) const override;
    std::string token_bytes(int32_t id, bool render_special) const override;

    int32_t n_vocab() const override { return static_cast<int32_t>(tokens_.size()); }
    int32_t bos_id() const override { return spec_.bos_id; }
    int32_t eos_id() const override { return spec_.eos_id; }
    bool is_eog(int32_t id) const override;
    const std::string& token_text(int32_t id) const override;
    TokenType token_type(int32_t id) const override;

protected:
    // Validates the spec's ids and arrays; throws qx::Error naming the problem.
    explicit VocabTokenizer(const TokenizerSpec& spec);

    // Appends the tokens of a run of plain text (no special tokens inside).
    // `after_special` is true at the start of the text and right after a
    // special token (SentencePiece adds its dummy space prefix there).
    virtual void encode_text(std::string_view text, bool after_special,
                             std::vector<int32_t>& out) const = 0;
    // Bytes a normal (or unused/undefined) token stands for.
    virtual std::string normal_token_bytes(int32_t id) const = 0;
    // SentencePiece drops the space its encoder put after a special token.
    virtual bool strips_leading_space() const { return false; }

    void check_id(int32_t id) const;
    // Byte value of a "<0xNN>" token, or -1.
    static int parse_byte_token(const std::string& text);

    TokenizerSpec spec_;
    const std::vector<std::string>& tokens_;
    std::vector<TokenType> types_;
    std::vector<bool> eog_;

private:
    struct Special {
        std::string_view text;
        int32_t id;
        bool always;  // user-defined tokens are recognised even without parse_special
    };
    // Special tokens by first byte, longest first (leftmost-longest matching).
    std::vector<std::vector<Special>> specials_by_byte_;
};

}  // namespace qx
